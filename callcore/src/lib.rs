//! # callcore
//!
//! The core of the callcore call-center SDK: the model (interactions, agents,
//! queues, customers), the [`Event`] stream, the [`Clock`], the ports that other
//! crates implement (transports, router, flows, speech providers, stores), and
//! the [`Center`] runtime that assembles them.
//!
//! The engine crates plug in here: `callcore-sip` implements [`Transport`],
//! `callcore-acd` implements [`Router`], `callcore-ivr` implements [`Flow`] and
//! [`IntentRecognizer`], `callcore-store` implements the store traits. This crate
//! alone already runs a complete center with in-memory doubles
//! ([`memory::MemoryTransport`], [`BasicRouter`], [`MemoryStore`]).
//!
//! ## Assembling a center
//!
//! ```
//! use async_trait::async_trait;
//! use callcore::memory::{MemoryTransport, PhoneBehavior};
//! use callcore::{
//!     AgentProfile, AgentState, Center, Clock, CoreError, Endpoint, EventKind, Flow,
//!     FlowContext, FlowOutcome, QueueDefinition, Timestamp, VirtualClock,
//! };
//! use std::sync::Arc;
//! use std::time::Duration;
//!
//! #[derive(Debug)]
//! struct Support;
//!
//! #[async_trait]
//! impl Flow for Support {
//!     async fn run(&self, call: &mut FlowContext) -> Result<FlowOutcome, CoreError> {
//!         call.say("Thank you for calling. Please hold.").await?;
//!         let outcome = call.enqueue("support").await?;
//!         Ok(FlowOutcome::Done(outcome.end_reason()))
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // Virtual time: the whole call below takes microseconds.
//! let clock = VirtualClock::new(Timestamp::from_secs(1_700_000_000));
//! let transport = MemoryTransport::new(Arc::new(clock.clone()));
//! transport.add_phone("sip:alice@pbx", PhoneBehavior::AnswerAfter(Duration::from_secs(2)));
//!
//! let center = Center::builder()
//!     .clock(Arc::new(clock.clone()))
//!     .transport(transport.clone())
//!     .flow("support", Arc::new(Support))
//!     .build()?
//!     .start()
//!     .await?;
//! center.add_queue(QueueDefinition::new("support").with_wrap_up_secs(5)).await?;
//! center
//!     .add_agent(AgentProfile::new("alice").with_endpoint(Endpoint::Sip("sip:alice@pbx".into())))
//!     .await?;
//! center.set_agent_state(&"alice".into(), AgentState::Available).await?;
//!
//! let mut events = center.subscribe();
//! let caller = transport.call("+4930123456", "100");
//! let talk = {
//!     let clock = clock.clone();
//!     async move {
//!         // Wait for the agent, talk for a minute, hang up.
//!         loop {
//!             let e = events.recv().await.expect("event");
//!             if matches!(e.kind, EventKind::Connected { .. }) {
//!                 break;
//!             }
//!         }
//!         clock.sleep(Duration::from_secs(60)).await;
//!         caller.hangup();
//!     }
//! };
//! clock.drive(talk, Timestamp::from_secs(1_700_001_000)).await?;
//! center.flush().await;
//! let record = center.stores().interactions.get(&"default".into(), &"mem-1".into()).await?;
//! assert_eq!(record.expect("record").talk_ms, 60_000);
//! # Ok(())
//! # }
//! ```
//!
//! ## Rules this crate keeps
//! - The model and the router are pure: no I/O, no wall clock, no unseeded
//!   randomness (clippy's `disallowed-methods` enforces it); time comes from a
//!   [`Clock`], randomness from a [`SeededRng`].
//! - Personal data ([`Pii`]) is redacted in `Debug` and `Display`.
//! - Publishing an event never blocks; the journal never loses one (see [`bus`]).

pub mod bus;
mod clock;
pub mod config;
mod error;
pub mod event;
mod ids;
pub mod memory;
mod model;
mod pii;
pub mod ports;
mod rng;
mod routing;
pub mod runtime;
pub mod store;
mod time;

pub use bus::{BusError, EventBus, EventSubscriber};
pub use clock::{Clock, Sleep, Stalled, SystemClock, VirtualClock};
pub use config::{CenterConfig, ConfigError, InboundRoute};
pub use error::CoreError;
pub use event::{Event, EventKind, OfferEnd};
pub use ids::{
    AgentId, CampaignId, CustomerId, FlowId, InteractionId, LeadId, LegId, QueueId, RecordingId,
    ReservationId, Skill, TenantId, TrunkId,
};
pub use model::*;
pub use pii::Pii;
pub use ports::*;
pub use rng::SeededRng;
pub use routing::BasicRouter;
pub use runtime::{
    Center, CenterBuilder, CenterHandle, FlowContext, OutboundOptions, OutboundProgress, Providers,
    QueueOptions, QueueOutcome,
};
pub use store::{
    CampaignStore, CustomerStore, EventJournal, InteractionRecord, InteractionStore, MemoryStore,
    RecordingMeta, RecordingStore, Stores,
};
pub use time::Timestamp;
