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
//! Configuration is TOML with embedded defaults ([`PremiseConfig`]); the `premise`
//! example runs it (`cargo run --release --example premise`), and
//! [`demo::run_demo_calls`] places self-driven calls into it.
//!
//! ```no_run
//! # async fn demo() -> Result<(), callcore_premise::PremiseError> {
//! use callcore_premise::{Premise, PremiseConfig};
//! let premise = Premise::start(PremiseConfig::defaults()).await?;
//! println!("{}", premise.banner());
//! premise.shutdown().await;
//! # Ok(()) }
//! ```

pub mod agent_states;
pub mod analytics;
pub mod assembly;
mod browser_agents;
pub mod campaigns;
mod center_ops;
pub mod channels;
pub mod cluster_node;
pub mod config;
pub mod console;
pub mod console_calls;
pub mod demo;
mod error;
pub mod flow;
pub mod ops;
mod ops_config;
pub mod sip_edge;
pub mod speech;
pub mod srtp;
pub mod storage;
pub mod trunk_dns;
pub mod trunk_tls;
pub mod trunks;
pub mod web;

pub use assembly::Premise;
pub use config::{DEFAULT_CONFIG, DEMO_AGENTS_TOML, PremiseConfig, with_demo_agents};
pub use error::PremiseError;
