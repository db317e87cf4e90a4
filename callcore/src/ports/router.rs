use crate::{
    AgentId, AgentProfile, AgentState, Channel, CoreError, CustomerId, Destination, InteractionId,
    OfferEnd, QueueDefinition, QueueId, ReservationId, SkillRequirement, TenantId, Timestamp,
};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The outcome of an offer, reported back to the router by the runtime.
pub type ReservationOutcome = OfferEnd;

/// An interaction asking to be routed through a queue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoutingRequest {
    /// The interaction.
    pub interaction: InteractionId,
    /// Its tenant.
    pub tenant: TenantId,
    /// Its channel (decides which capacity it uses).
    pub channel: Channel,
    /// The queue to wait in.
    pub queue: QueueId,
    /// Priority within the queue: higher first, then oldest first.
    pub priority: i32,
    /// The customer, when known (sticky routing, VIP).
    pub customer: Option<CustomerId>,
    /// An agent to prefer (the last one who served the customer).
    pub preferred_agent: Option<AgentId>,
    /// Routing attributes.
    pub attributes: BTreeMap<String, String>,
    /// Skills this interaction needs on top of its queue's own requirements
    /// (an IVR choice such as "French"): only agents meeting both are offered
    /// it. Escalation steps that relax the queue's proficiency leave these
    /// alone.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub required_skills: Vec<SkillRequirement>,
    /// When the interaction started waiting; a callback that keeps the caller's
    /// place passes the original time.
    pub enqueued_at: Timestamp,
}

/// Why a queue refused an interaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum RejectReason {
    /// The queue is at its maximum size.
    Full,
    /// No agent is logged in and the queue does not take calls then.
    NoAgents,
    /// No such queue.
    UnknownQueue,
}

impl RejectReason {
    /// The reason as used in events (`"full"`).
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Full => "full",
            Self::NoAgents => "no_agents",
            Self::UnknownQueue => "unknown_queue",
        }
    }
}

/// An input to the router. Time is passed beside it.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum RouterInput {
    /// An agent joins (logged out until a state change says otherwise).
    AddAgent(Box<AgentProfile>),
    /// An agent leaves the center.
    RemoveAgent(AgentId),
    /// The agent or a supervisor asks for a state (`Available`,
    /// `NotReady(reason)`, `Offline`).
    SetAgentState {
        /// The agent.
        agent: AgentId,
        /// The state asked for.
        state: AgentState,
    },
    /// Whether the agent can be reached at all (their phone is registered, their
    /// desktop connected). Independent of the state the agent chose: an agent
    /// who is `Available` but unreachable is never offered anything, and
    /// becoming reachable again brings back the chosen state unchanged.
    /// Agents start reachable.
    SetAgentReachable {
        /// The agent.
        agent: AgentId,
        /// Reachable or not.
        reachable: bool,
    },
    /// The agent ends their after-call work now (before its timeout).
    EndWrapUp {
        /// The agent.
        agent: AgentId,
    },
    /// The agent needs more (or less) after-call work: it now ends `secs` from
    /// now instead of at the queue's wrap-up timeout.
    ExtendWrapUp {
        /// The agent.
        agent: AgentId,
        /// Seconds from now.
        secs: u32,
    },
    /// A queue is created or replaced.
    AddQueue(Box<QueueDefinition>),
    /// A queue is removed; its waiting interactions leave it.
    RemoveQueue(QueueId),
    /// An interaction enters a queue.
    Enqueue(Box<RoutingRequest>),
    /// The customer hung up (while waiting or while an offer rang).
    Abandon {
        /// The interaction.
        interaction: InteractionId,
    },
    /// The customer asked to be called back instead of holding: the
    /// interaction keeps its place in the queue and no longer times out for
    /// patience; the agent it reaches calls the customer.
    RequestCallback {
        /// The interaction.
        interaction: InteractionId,
    },
    /// The agent took the offer (answered the phone, clicked accept).
    OfferAccepted {
        /// The reservation.
        reservation: ReservationId,
    },
    /// The offer failed on the agent's side (declined, busy, unreachable).
    OfferFailed {
        /// The reservation.
        reservation: ReservationId,
        /// What happened.
        outcome: ReservationOutcome,
    },
    /// The conversation between agent and customer is over; after-call work
    /// starts.
    InteractionEnded {
        /// The interaction.
        interaction: InteractionId,
        /// The agent who handled it.
        agent: AgentId,
    },
}

/// A decision of the router, drained by the runtime with
/// [`Router::poll_decision`].
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum RoutingDecision {
    /// The interaction waits in the queue.
    Queued {
        /// The interaction.
        interaction: InteractionId,
        /// The queue.
        queue: QueueId,
        /// 1-based position.
        position: u32,
        /// Estimated wait, when known.
        estimated_wait_secs: Option<u32>,
    },
    /// The queue refused the interaction.
    Rejected {
        /// The interaction.
        interaction: InteractionId,
        /// The queue.
        queue: QueueId,
        /// Why.
        reason: RejectReason,
    },
    /// Offer the interaction to the agent until `expires_at`; the agent is
    /// reserved meanwhile.
    Offer {
        /// The reservation.
        reservation: ReservationId,
        /// The interaction.
        interaction: InteractionId,
        /// The queue.
        queue: QueueId,
        /// The agent.
        agent: AgentId,
        /// When the offer times out.
        expires_at: Timestamp,
    },
    /// The offer is over without the agent taking it; stop ringing.
    OfferEnded {
        /// The reservation.
        reservation: ReservationId,
        /// The interaction.
        interaction: InteractionId,
        /// The agent.
        agent: AgentId,
        /// How it ended.
        outcome: ReservationOutcome,
    },
    /// The offer was accepted: connect customer and agent.
    Assigned {
        /// The reservation.
        reservation: ReservationId,
        /// The interaction.
        interaction: InteractionId,
        /// The queue.
        queue: QueueId,
        /// The agent.
        agent: AgentId,
    },
    /// The interaction leaves the queue for another destination.
    Overflow {
        /// The interaction.
        interaction: InteractionId,
        /// The queue it leaves.
        queue: QueueId,
        /// Where to.
        destination: Destination,
    },
    /// The interaction waited longer than the queue's maximum wait, or its
    /// queue was removed.
    TimedOut {
        /// The interaction.
        interaction: InteractionId,
        /// The queue.
        queue: QueueId,
    },
    /// An agent changed state.
    AgentStateChanged {
        /// The agent.
        agent: AgentId,
        /// Previous state.
        from: AgentState,
        /// New state.
        to: AgentState,
    },
    /// An agent became reachable or unreachable (phone registration); their
    /// chosen state is unchanged.
    AgentReachabilityChanged {
        /// The agent.
        agent: AgentId,
        /// Reachable now or not.
        reachable: bool,
    },
    /// After-call work started.
    WrapUpStarted {
        /// The interaction.
        interaction: InteractionId,
        /// The agent.
        agent: AgentId,
        /// Its planned length.
        duration_secs: u32,
    },
    /// After-call work ended.
    WrapUpEnded {
        /// The interaction.
        interaction: InteractionId,
        /// The agent.
        agent: AgentId,
    },
}

/// A live view of one queue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueueSnapshot {
    /// The queue.
    pub queue: QueueId,
    /// Interactions waiting, in the order they will be served.
    pub waiting: Vec<InteractionId>,
    /// Age of the oldest waiting interaction.
    pub longest_wait_secs: u32,
    /// Agents who serve this queue, counted by state name.
    pub agents_by_state: BTreeMap<String, u32>,
}

/// Where an interaction waits right now, for announcements to the caller
/// ("you are caller 3").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueuePosition {
    /// 1-based position in its queue.
    pub position: u32,
    /// Estimated wait, when the router knows it.
    pub estimated_wait_secs: Option<u32>,
}

/// A live view of one agent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentSnapshot {
    /// The agent.
    pub agent: AgentId,
    /// Current state.
    pub state: AgentState,
    /// Since when.
    pub since: Timestamp,
    /// Whether the agent can be reached (see [`RouterInput::SetAgentReachable`]);
    /// an unreachable agent is offered nothing whatever their state.
    #[serde(default = "reachable_by_default")]
    pub reachable: bool,
}

fn reachable_by_default() -> bool {
    true
}

/// What a router knows right now: the source of truth for wallboards and APIs.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct RouterSnapshot {
    /// Every queue.
    pub queues: Vec<QueueSnapshot>,
    /// Every agent.
    pub agents: Vec<AgentSnapshot>,
}

/// The router port: a sans-IO routing engine (the ACD).
///
/// The runtime owns one router in one task, feeds it inputs with the current
/// time, drains its decisions and calls [`handle_timeout`](Router::handle_timeout)
/// when [`poll_timeout`](Router::poll_timeout)'s deadline passes. A router never
/// reads a clock and never does I/O, so the same engine runs in production, in
/// tests and in the simulator. `callcore-acd` provides the production engine;
/// [`BasicRouter`](crate::BasicRouter) is a small reference one.
pub trait Router: Send + std::fmt::Debug {
    /// Applies one input.
    ///
    /// # Errors
    /// When the input is invalid (unknown agent or queue, a state change the
    /// agent state machine forbids); the router's state is then unchanged.
    fn handle(&mut self, input: RouterInput, now: Timestamp) -> Result<(), CoreError>;

    /// Fires whatever is due at `now` (offer timeouts, wrap-up ends, queue
    /// timeouts, escalations).
    fn handle_timeout(&mut self, now: Timestamp);

    /// The next decision, if any.
    fn poll_decision(&mut self) -> Option<RoutingDecision>;

    /// When [`handle_timeout`](Router::handle_timeout) must next be called.
    fn poll_timeout(&self) -> Option<Timestamp>;

    /// The live state of queues and agents.
    fn snapshot(&self, now: Timestamp) -> RouterSnapshot;

    /// Where `interaction` waits now (`None` when it is not waiting: offered,
    /// with an agent, or unknown). The default reads the
    /// [`snapshot`](Router::snapshot) and knows no estimated wait; routers
    /// that estimate waits answer with their estimate.
    fn queue_position(&self, interaction: &InteractionId, now: Timestamp) -> Option<QueuePosition> {
        self.snapshot(now).queues.iter().find_map(|q| {
            let i = q.waiting.iter().position(|w| w == interaction)?;
            Some(QueuePosition {
                position: u32::try_from(i + 1).unwrap_or(u32::MAX),
                estimated_wait_secs: None,
            })
        })
    }
}
