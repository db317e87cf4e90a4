//! The core crate's error type.

use crate::{AgentStateError, ConfigError};

/// Everything that can go wrong in callcore's runtime and ports.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CoreError {
    /// A transport failed (socket, signalling).
    #[error("transport error: {0}")]
    Transport(String),
    /// The call leg is over; nothing more can be done with it.
    #[error("the call leg has ended")]
    LegEnded,
    /// No transport can reach this endpoint, or it did not answer.
    #[error("endpoint unreachable: {0}")]
    Unreachable(String),
    /// An outbound leg was not answered: busy, no answer, declined, invalid
    /// number or network failure.
    #[error("not answered: {0:?}")]
    NotAnswered(crate::HangupCause),
    /// The operation is not supported by this transport or channel.
    #[error("not supported: {0}")]
    Unsupported(&'static str),
    /// Media failed (prompt file, codec, recording).
    #[error("media error: {0}")]
    Media(String),
    /// A store failed.
    #[error("store error: {0}")]
    Store(String),
    /// An ASR/NLU/TTS provider failed.
    #[error("provider error: {0}")]
    Provider(String),
    /// A flow failed.
    #[error("flow error: {0}")]
    Flow(String),
    /// Something was looked up by id and is not there.
    #[error("{what} not found: {id}")]
    NotFound {
        /// What kind of thing (`"agent"`, `"queue"`).
        what: &'static str,
        /// Its id.
        id: String,
    },
    /// Something with this id already exists.
    #[error("{what} already exists: {id}")]
    AlreadyExists {
        /// What kind of thing.
        what: &'static str,
        /// Its id.
        id: String,
    },
    /// An agent state change the state machine forbids.
    #[error(transparent)]
    AgentState(#[from] AgentStateError),
    /// Invalid configuration.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A call-control action that does not fit the call's state (hold a call
    /// that is not with an agent, complete a transfer with no consultation).
    #[error("cannot {action}: {state}")]
    InvalidState {
        /// The action asked for (`"hold"`, `"complete_transfer"`).
        action: &'static str,
        /// Why it does not fit: the call's state as it is.
        state: String,
    },
    /// The one asking may not do this (a supervisor action by an agent who
    /// is not a supervisor).
    #[error("not permitted: {0}")]
    Forbidden(String),
    /// The center is shutting down.
    #[error("the center is shut down")]
    Shutdown,
    /// An argument the caller gave was out of range or inconsistent (a
    /// store refused it): the caller's fault, naming the field.
    #[error("invalid {field}: {reason}")]
    Invalid {
        /// The argument at fault.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
}
