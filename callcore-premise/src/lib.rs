//! # callcore-premise
//!
//! The on-premise callcore center in one process: data never leaves the site.
//!
//! - SIP over UDP and TCP (callcore-sip): a registrar where agents' phones register
//!   with digest auth, callers reach the IVR;
//! - RTP media on every leg (callcore-media): spoken prompts (espeak-ng when
//!   installed), DTMF (RFC 4733 and in-band), two-party bridges recorded as stereo
//!   WAV files in a local folder;
//! - an IVR DTMF menu (callcore-ivr) that queues to callcore-acd's `AcdEngine`
//!   (menu choices may require skills); waiting callers hear music on hold,
//!   periodic position announcements and a callback offer, and overflow after a
//!   maximum wait to another queue or to voicemail delivered to an agent;
//! - SQLite (callcore-store) for the event journal, interaction records and the
//!   recordings index;
//! - carriers' trunks ([`trunks`]): registration or IP authentication, an
//!   outbound dial plan with failover, inbound numbers (DIDs) mapped to flows;
//! - operations ([`ops`]): an HTTP listener with `/metrics` (Prometheus),
//!   `/healthz` and `/readyz` that other crates mount routes on
//!   ([`Premise::mount_http`]), and draining ([`Premise::drain`]).
//!
//! Configuration is TOML with embedded defaults ([`PremiseConfig`]); the
//! `callcore-premise` program (`cargo install callcore-premise`, feature `program`)
//! and the `premise` example (`cargo run --release --example premise`) run it
//! (`program`), and [`demo::run_demo_calls`] places self-driven calls into it.
//! [`Premise::builder`] runs it with your own routing strategy, router or flows.
//!
//! Features: `sqlite` (default) and `postgres` choose the storage drivers compiled
//! in (a config naming a missing one is refused naming `storage.database`);
//! `cluster` (with `postgres`) makes the center a node of the cloud assembly;
//! `program` (default) is the `callcore-premise` binary's command line and logs.
//!
//! ```no_run
//! # async fn demo() -> Result<(), callcore_premise::PremiseError> {
//! use callcore_premise::{Premise, PremiseConfig};
//! let premise = Premise::start(PremiseConfig::defaults()).await?;
//! println!("{}", premise.banner());
//! premise.shutdown().await;
//! # Ok(()) }
//! ```

#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod agent_states;
pub mod analytics;
pub mod assembly;
mod browser_agents;
pub mod builder;
pub mod campaigns;
mod center_ops;
pub mod channels;
mod chat_transcript;
pub mod cluster_node;
#[cfg(feature = "cluster")]
#[cfg_attr(docsrs, doc(cfg(feature = "cluster")))]
pub mod cluster_offers;
#[cfg(feature = "cluster")]
#[cfg_attr(docsrs, doc(cfg(feature = "cluster")))]
pub mod cluster_routing;
pub mod coaching;
pub mod config;
pub mod console;
pub mod console_calls;
pub mod demo;
mod error;
pub mod flow;
mod listening;
mod live_qa;
mod notification_reports;
mod notification_schedule;
pub mod notifications;
pub mod ops;
mod ops_config;
#[cfg(feature = "program")]
#[cfg_attr(docsrs, doc(cfg(feature = "program")))]
pub mod program;
pub mod quality;
mod quality_config;
mod service_levels;
pub mod sip_edge;
pub mod speech;
pub mod srtp;
pub mod storage;
pub mod transcription_queue;
pub mod trunk_dns;
pub mod trunk_tls;
pub mod trunks;
pub mod web;
pub mod web_tls;
pub mod wechat;

pub use assembly::Premise;
pub use builder::PremiseBuilder;
pub use config::{DEFAULT_CONFIG, DEMO_AGENTS_TOML, PremiseConfig, with_demo_agents};
pub use error::PremiseError;
