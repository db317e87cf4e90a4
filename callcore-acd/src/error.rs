//! The crate's error type.

use callcore::{
    AgentId, AgentStateError, ConfigError, CoreError, InteractionId, QueueId, ReservationId,
};

/// Everything the ACD engine refuses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AcdError {
    /// No agent with this id.
    #[error("unknown agent: {0}")]
    UnknownAgent(AgentId),
    /// No queue with this id.
    #[error("unknown queue: {0}")]
    UnknownQueue(QueueId),
    /// No pending reservation with this id.
    #[error("unknown or resolved reservation: {0}")]
    UnknownReservation(ReservationId),
    /// The interaction is not known to the engine (not waiting, not assigned).
    #[error("unknown interaction: {0}")]
    UnknownInteraction(InteractionId),
    /// The interaction is already waiting or being served.
    #[error("interaction already routed: {0}")]
    DuplicateInteraction(InteractionId),
    /// A queue names a strategy nobody registered.
    #[error("queue {queue}: unknown strategy `{name}`")]
    UnknownStrategy {
        /// The queue.
        queue: QueueId,
        /// The strategy name.
        name: String,
    },
    /// A queue definition is inconsistent.
    #[error("queue {queue}: invalid `{field}`: {reason}")]
    InvalidQueue {
        /// The queue.
        queue: QueueId,
        /// The field.
        field: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// A routing attribute has a value the engine cannot use.
    #[error("interaction {interaction}: attribute `{name}` has invalid value `{value}`")]
    InvalidAttribute {
        /// The interaction.
        interaction: InteractionId,
        /// The attribute.
        name: &'static str,
        /// Its value.
        value: String,
    },
    /// The agent state machine forbids the change.
    #[error(transparent)]
    AgentState(#[from] AgentStateError),
    /// Only `available`, `not_ready(reason)` and `offline` can be asked for.
    #[error("agent {agent}: state {state} cannot be requested")]
    NotRequestable {
        /// The agent.
        agent: AgentId,
        /// The state asked for.
        state: String,
    },
    /// The agent is still handling interactions.
    #[error("agent {0} still has interactions in progress")]
    AgentBusy(AgentId),
    /// The agent is not in after-call work (nothing to end or extend).
    #[error("agent {0} is not in after-call work")]
    NotInWrapUp(AgentId),
    /// The interaction is not handled by that agent.
    #[error("interaction {interaction} is not handled by agent {agent}")]
    WrongAgent {
        /// The interaction.
        interaction: InteractionId,
        /// The agent named.
        agent: AgentId,
    },
    /// A newer engine (restored from a snapshot with a higher fencing epoch)
    /// has taken over; this one no longer routes.
    #[error("engine fenced: epoch {epoch} superseded by epoch {newer}")]
    Fenced {
        /// This engine's epoch.
        epoch: u64,
        /// The epoch that superseded it.
        newer: u64,
    },
    /// A snapshot cannot be taken or restored.
    #[error("engine snapshot: {0}")]
    Snapshot(String),
}

impl From<AcdError> for CoreError {
    fn from(e: AcdError) -> Self {
        match e {
            AcdError::UnknownAgent(id) => Self::NotFound {
                what: "agent",
                id: id.to_string(),
            },
            AcdError::UnknownQueue(id) => Self::NotFound {
                what: "queue",
                id: id.to_string(),
            },
            AcdError::UnknownReservation(id) => Self::NotFound {
                what: "reservation",
                id: id.to_string(),
            },
            AcdError::UnknownInteraction(id) => Self::NotFound {
                what: "interaction",
                id: id.to_string(),
            },
            AcdError::DuplicateInteraction(id) => Self::AlreadyExists {
                what: "interaction",
                id: id.to_string(),
            },
            AcdError::AgentState(e) => Self::AgentState(e),
            AcdError::NotInWrapUp(id) => Self::NotFound {
                what: "after-call work of agent",
                id: id.to_string(),
            },
            other => Self::Config(ConfigError::Invalid {
                field: match &other {
                    AcdError::UnknownStrategy { .. } => "strategy".to_owned(),
                    AcdError::InvalidQueue { field, .. } => (*field).to_owned(),
                    AcdError::InvalidAttribute { name, .. } => format!("attributes.{name}"),
                    AcdError::Fenced { .. } => "epoch".to_owned(),
                    AcdError::Snapshot(_) => "snapshot".to_owned(),
                    _ => "agent".to_owned(),
                },
                reason: other.to_string(),
            }),
        }
    }
}
