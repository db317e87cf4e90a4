//! # callcore
//!
//! The core of the callcore call-center SDK: the model (interactions, agents,
//! queues, customers), the [`Event`] stream, the [`Clock`], and the ports that
//! other crates implement (transports, router, leg media, speech providers,
//! stores). The `callcore-runtime` crate's `Center` assembles them.
//!
//! The engine crates plug in here: `callcore-sip` implements [`Transport`],
//! `callcore-acd` implements [`Router`], `callcore-ivr` implements `callcore_runtime::Flow` and
//! [`IntentRecognizer`], `callcore-store` implements the store traits. With
//! `callcore-runtime`'s in-memory transport, [`BasicRouter`] and [`MemoryStore`]
//! a complete center runs without any other crate.
//!
//! ## The vocabulary and the ports
//!
//! ```
//! use callcore::{
//!     AgentProfile, AgentState, BasicRouter, Endpoint, QueueDefinition, Router, RouterInput,
//!     RoutingDecision, Timestamp,
//! };
//!
//! // The reference router is a sans-IO state machine: inputs in, decisions out,
//! // time passed in.
//! let mut router = BasicRouter::new();
//! let now = Timestamp::from_secs(1_700_000_000);
//! let alice = AgentProfile::new("alice").with_endpoint(Endpoint::Sip("sip:alice@pbx".into()));
//! router.handle(RouterInput::AddQueue(Box::new(QueueDefinition::new("support"))), now)?;
//! router.handle(RouterInput::AddAgent(Box::new(alice)), now)?;
//! router.handle(
//!     RouterInput::SetAgentState { agent: "alice".into(), state: AgentState::Available },
//!     now,
//! )?;
//! assert!(matches!(router.poll_decision(), Some(RoutingDecision::AgentStateChanged { .. })));
//! # Ok::<(), callcore::CoreError>(())
//! ```
//!
//! The running center (tasks, event bus, recorder, wall clock) is the
//! `callcore-runtime` crate; this crate has no async runtime.
//!
//! ## Rules this crate keeps
//! - The model and the router are pure: no I/O, no wall clock, no unseeded
//!   randomness (clippy's `disallowed-methods` enforces it); time comes from a
//!   [`Clock`], randomness from a [`SeededRng`].
//! - Personal data ([`Pii`]) is redacted in `Debug` and `Display`.
//! - Publishing an event never blocks; the journal never loses one (see [`bus`]).

mod clock;
pub mod config;
mod error;
pub mod event;
mod ids;
mod model;
mod pii;
pub mod ports;
pub mod quality;
mod rng;
mod routing;
pub mod sender_clock;
pub mod store;
mod time;

pub use clock::{Clock, Sleep, Stalled, VirtualClock};
pub use config::{CallbackPolicy, CenterConfig, ConfigError, InboundRoute};
pub use error::CoreError;
pub use event::{ConversationAudio, Event, EventKind, MonitorMode, OfferEnd};
pub use ids::{
    AgentId, CampaignId, CustomerId, FlowId, InteractionId, LeadId, LegId, QueueId, RecordingId,
    ReservationId, Skill, TenantId, TrunkId,
};
pub use model::*;
pub use pii::{Masked, Pii, VariantOf};
pub use ports::*;
pub use quality::{
    AssistKind, AssistSuggestion, CallReview, QualityEvaluation, QualityFinding, ReviewFlag,
};
pub use rng::SeededRng;
pub use routing::BasicRouter;
pub use store::{
    CampaignStore, CustomerStore, EventJournal, InteractionRecord, InteractionStore, MemoryStore,
    RecordingMeta, RecordingStore, Stores, unended_in,
};
pub use time::Timestamp;
