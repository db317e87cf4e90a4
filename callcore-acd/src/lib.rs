//! # callcore-acd
//!
//! The production ACD (automatic call distributor) of callcore: a sans-IO,
//! skills-based routing engine. Inputs go in with the current time (enqueue,
//! agent state changes, offer accepted / declined / timed out, abandon, tick);
//! decisions come out (offer interaction X to agent Y until T, queued at
//! position P with estimated wait, overflow, time out, agent state changed,
//! wrap-up). No tokio, no clock, no unseeded randomness: the same engine runs
//! in a `Center`, in the simulator (`callcore-sim`) and in benchmarks.
//!
//! What it covers:
//! - queues with skill requirements and minimum proficiency, priority,
//!   service level, maximum wait and size, join/leave-when-empty;
//! - agents with skills, capacity per channel (one call, or several chats),
//!   many queues, rating; states with reason codes and since-when, and
//!   reachability apart from them (an unreachable agent keeps their state and
//!   is offered nothing); after-call work ended early or extended;
//! - reservations (pending → accepted / rejected / timed out / canceled /
//!   rescinded), missed offers → not ready, per-cause delays, wrap-up per
//!   queue that is right when an agent serves several queues;
//! - strategies as [`RoutingStrategy`] implementations (see [`strategies`]),
//!   chosen per queue by name, and your own through [`StrategyRegistry`];
//! - priorities, VIP (`vip` attribute), head start (`head_start_secs`
//!   attribute, as Amazon Connect's queue delay), cross-queue longest-waiting,
//!   sticky agent for a bounded wait, escalation ladders (relax proficiency,
//!   add queues, overflow), position and EWT, callbacks that keep their place;
//! - snapshot and restore of the whole state ([`EngineState`], serde) with a
//!   fencing epoch, so a standby takes over without losing or repeating an
//!   offer and a stale primary can be stopped ([`AcdEngine::fence`]);
//! - pools with lazy removal and an in-order FIFO, so a longest-idle decision
//!   does no tree work and its cost hardly grows with the number of agents
//!   (see `benches/routing.rs` and the crate README).
//!
//! ```
//! use callcore::{AgentProfile, AgentState, QueueDefinition, RoutingDecision, RoutingRequest,
//!     Channel, Timestamp};
//! use callcore_acd::{AcdConfig, AcdEngine};
//!
//! let now = Timestamp::from_secs(0);
//! let mut acd = AcdEngine::new(AcdConfig::default());
//! acd.add_queue(QueueDefinition::new("billing").requiring("billing", 5), now)?;
//! acd.add_agent(AgentProfile::new("alice").with_skill("billing", 7), now)?;
//! acd.set_agent_state(&"alice".into(), AgentState::Available, now)?;
//! acd.enqueue(RoutingRequest {
//!     interaction: "call-1".into(),
//!     tenant: Default::default(),
//!     channel: Channel::Voice,
//!     queue: "billing".into(),
//!     priority: 0,
//!     customer: None,
//!     preferred_agent: None,
//!     attributes: Default::default(),
//!     required_skills: Vec::new(),
//!     enqueued_at: now,
//! }, now)?;
//! let offer = std::iter::from_fn(|| acd.poll_decision())
//!     .find_map(|d| match d {
//!         RoutingDecision::Offer { agent, reservation, .. } => Some((agent, reservation)),
//!         _ => None,
//!     });
//! let (agent, reservation) = offer.expect("alice is offered the call");
//! assert_eq!(agent.as_str(), "alice");
//! acd.offer_accepted(&reservation, now)?;
//! # Ok::<(), callcore_acd::AcdError>(())
//! ```

mod config;
mod engine;
mod error;
pub mod events;
mod router_port;
pub mod strategies;
mod strategy;

pub use config::AcdConfig;
pub use engine::ReservationState;
pub use engine::{
    AcdEngine, AgentStatus, EngineState, MISSED_OFFERS_REASON, QueueStatus, WaitingStatus,
};
pub use error::AcdError;
pub use strategies::{BUILTIN_STRATEGIES, StrategyFactory, StrategyRegistry};
pub use strategy::{AgentPool, AgentView, LaneView, OfferMode, PoolEntry, Rank, RoutingStrategy};
