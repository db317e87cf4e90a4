//! One owner per call: [`Call`], the sans-IO state machine of one interaction
//! — its legs and their states, its stays in queues, the bridge, hold,
//! recordings, transfers and its one timer — fed with inputs and drained of
//! commands and events, as quinn-proto's `Connection` is.
//!
//! ```text
//!  inputs (handle_*, with now)              outputs (drained until None)
//!  ─ enqueue, router signals, released, ─►  poll_command(): enqueue, leave queue,
//!    callback key while waiting
//!  ─ leg ended / held / resumed /      ─►    release agent, bridge, hang up leg,
//!    transfer requested (resolved)           report transfer, place, announce
//!  ─ bridged (recording), recording     ─►  poll_event(): Connected, Held, Resumed,
//!    stopped, place answered / failed        Transferred, Abandoned, Ended, Usage,
//!  ─ flow step, heard, disposition,          Recording*, DispositionSet, ...
//!    flow finished                      ─►  take_outcome(): how a queue stay ended
//!  ─ handle_timeout(now)                ◄─  poll_timeout(): the connect deadline
//!  ─ call control (hold, mute, transfer, ─►  unbridge, mix (room members and
//!    consult, swap, complete, cancel,         roles), close room, music, place
//!    conference, add, leave, kick,            for, free agent; ConsultStarted,
//!    monitor, hang up, notes, dial)           ConferenceJoined, MonitorStarted...
//!  ─ placed for / place failed for
//! ```
//!
//! Call control (the `handle_*` methods answering `Result`) checks the action
//! against the phase and answers [`CoreError::InvalidState`](callcore::CoreError)
//! naming why it does not fit; the call keeps what the agent asked for and
//! derives the media arrangement from it after every change (customer and
//! agent bridged; apart with music on hold; the agent bridged to a consulted
//! party; or all in a mixing room with roles), commanding only the
//! difference.
//!
//! The runtime's interaction task owns one `Call` and is its only writer:
//! races between tasks (the customer hangs up while the agent's phone is
//! answered) arrive as inputs in some order, and every order leads to a
//! consistent end — each leg hung up or ended once, the agent released once,
//! exactly one `Ended`. The routing task still emits the routing events
//! (`Queued`, `Offered`, `OfferAccepted`, `OfferEnded`, `Overflowed`, queue
//! exits) before it signals the call, so they precede the call's own.
//!
//! ```
//! use callcore::{Channel, Direction, EventKind, Interaction, RoutingRequest, Timestamp};
//! use callcore_runtime::call::{Call, CallCommand, RouterSignal, StayOptions};
//!
//! let t0 = Timestamp::from_secs(1_700_000_000);
//! let interaction = Interaction::new("int-1".into(), "default".into(), Channel::Voice,
//!     Direction::Inbound, "+4930111", "100", t0);
//! let mut call = Call::new(&interaction, "leg-c".into(), false);
//! let request = RoutingRequest {
//!     interaction: "int-1".into(), tenant: "default".into(), channel: Channel::Voice,
//!     queue: "support".into(), priority: 0, customer: None, preferred_agent: None,
//!     attributes: Default::default(), required_skills: Vec::new(), enqueued_at: t0,
//! };
//! call.handle_enqueue(request, StayOptions::default(), t0);
//! assert!(matches!(call.poll_command(), Some(CallCommand::Enqueue(_))));
//! // The agent's phone answered: bridge and say so.
//! call.handle_signal(RouterSignal::Connected {
//!     agent: "alice".into(), queue: "support".into(), leg: Some("leg-a".into()) }, t0);
//! assert!(matches!(call.poll_command(), Some(CallCommand::Bridge { .. })));
//! assert!(matches!(call.poll_event(), Some(EventKind::Connected { .. })));
//! // The customer hangs up: the agent's leg is hung up and the agent released.
//! call.handle_leg_ended(&"leg-c".into(), t0);
//! let commands: Vec<_> = std::iter::from_fn(|| call.poll_command()).collect();
//! assert!(matches!(&commands[..], [CallCommand::HangUp(_), CallCommand::ReleaseAgent(_)]));
//! assert!(matches!(call.poll_event(), Some(EventKind::Ended { .. })));
//! ```

mod conference;
mod consult;
mod control;
#[cfg(test)]
mod control_tests;
mod desk;
mod machine;
mod supervision;
#[cfg(test)]
mod tests;
mod transfer;

pub use control::{CallTarget, Placement};
pub use machine::Call;

use callcore::{
    AgentId, Destination, LegId, MixRole, QueueId, RecordingId, RejectReason, RoutingRequest,
    Timestamp, TransferReport,
};

/// What the routing task tells an interaction waiting in a queue.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RouterSignal {
    /// It waits in the queue at this position.
    Queued {
        /// 1-based position.
        position: u32,
        /// Estimated wait, when the router knows it.
        estimated_wait_secs: Option<u32>,
    },
    /// An agent took it; `leg` is the agent's answered leg (`None` when the
    /// agent accepted on the desktop).
    Connected {
        /// The agent.
        agent: AgentId,
        /// The queue it came from.
        queue: QueueId,
        /// The agent's leg.
        leg: Option<LegId>,
    },
    /// The queue refused it.
    Rejected(RejectReason),
    /// The router sent it elsewhere.
    Overflow(Destination),
    /// It waited longer than the queue allows.
    TimedOut,
}

/// Where a transfer request leads, as the runtime resolved its target.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TransferTarget {
    /// A queue of the center.
    Queue(QueueId),
    /// An agent of the center, taken directly (whatever queues they serve):
    /// the runtime reserved them (`NotReady("transfer")`) before asking, and
    /// a leg is placed to their endpoint.
    Agent(AgentId),
    /// An agent of the center who cannot take the call now (not available,
    /// or no endpoint reachable): refused.
    UnavailableAgent(AgentId),
    /// A number a transport reaches (a trunk).
    Number(String),
    /// An attended transfer (a Refer-To with Replaces): not supported.
    Attended,
    /// Nothing by that name.
    Unknown,
}

/// What the far end of one of the call's legs did, for
/// [`Call::handle_leg_event`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum LegInput {
    /// It put the call on hold.
    Held,
    /// It took the call off hold.
    Resumed,
    /// It asks for a transfer to this (resolved) target.
    TransferRequested(TransferTarget),
}

/// How a stay in a queue is to be run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StayOptions {
    /// Tell the customer their position (and the estimated wait) on entering.
    pub announce_position: bool,
    /// Leave the queue at this time when no agent was connected (an outbound
    /// hand-off's connect deadline).
    pub give_up_at: Option<Timestamp>,
}

/// What the call asks its glue to do.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum CallCommand {
    /// Enter a queue (the router answers with [`RouterSignal`]s, then lets go).
    Enqueue(Box<RoutingRequest>),
    /// Leave the queue (the router lets go; signals sent before may follow).
    LeaveQueue,
    /// The customer asked to be called back: ask the router to keep their
    /// place ([`Call::handle_callback_kept`] when it does; it lets go of the
    /// call then); when it cannot, leave the queue as [`LeaveQueue`](Self::LeaveQueue).
    RequestCallback,
    /// The agent's conversation is over: tell the router (after-call work).
    ReleaseAgent(AgentId),
    /// Connect `leg`'s media to `to`'s, recording the conversation when asked.
    Bridge {
        /// The customer's leg.
        leg: LegId,
        /// The agent's (or the transfer target's) leg.
        to: LegId,
        /// Record the conversation.
        record: bool,
    },
    /// Hang this leg up (the call never asks twice, nor after it ended).
    HangUp(LegId),
    /// Answer a transfer request on `leg`.
    ReportTransfer {
        /// The leg that asked.
        leg: LegId,
        /// The answer.
        report: TransferReport,
    },
    /// Place a leg to `number` (a blind transfer out through a trunk); report
    /// with [`Call::handle_placed`] or [`Call::handle_place_failed`].
    Place {
        /// The number.
        number: String,
    },
    /// Place a leg to `agent`'s endpoint (a blind transfer to an agent the
    /// runtime reserved); report with [`Call::handle_placed`] or
    /// [`Call::handle_place_failed`].
    PlaceAgent {
        /// The agent.
        agent: AgentId,
    },
    /// Say this to the customer (the queue position).
    Announce(String),
    /// Take `leg` out of the bridge it is in (both legs return to their own
    /// media: the customer put on hold hears music, the agent silence).
    Unbridge(LegId),
    /// The call's mixing room holds exactly these legs with these roles:
    /// open it on the customer's media engine when there is none, join the
    /// legs listed (or change their role), take out the members not listed.
    Mix(Vec<(LegId, MixRole)>),
    /// Close the call's mixing room (every member leaves it).
    CloseRoom,
    /// Play music on hold to the customer (`true`) until told to stop
    /// (`false`), while the call goes on.
    Music(bool),
    /// Place a leg for a call-control action (a consultation, a conference
    /// party, a supervisor); report with [`Call::handle_placed_for`] or
    /// [`Call::handle_place_failed_for`] with the same `placement`.
    PlaceFor {
        /// What the leg is for (hand it back with the result).
        placement: Placement,
        /// Whom to reach: an agent's endpoint, or a number.
        to: CallTarget,
    },
    /// An agent the call took directly (consulted, added to a conference,
    /// transferred to, the agent of a click-to-dial), not through the router's offer: they
    /// are free again (make them available).
    FreeAgent(AgentId),
}

/// A recording the call knows has started, by id.
pub(crate) type OpenRecordings = std::collections::BTreeSet<RecordingId>;
