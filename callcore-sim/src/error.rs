//! The crate's error type.

/// What the simulator and the Erlang calculators refuse.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum SimError {
    /// An input is out of range (named, with the reason).
    #[error("invalid `{field}`: {reason}")]
    Invalid {
        /// The input.
        field: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// The ACD engine refused the scenario (unknown strategy, bad queue).
    #[error("acd: {0}")]
    Acd(#[from] callcore_acd::AcdError),
    /// No agent count up to the search limit meets the target.
    #[error("no agent count up to {limit} meets the target")]
    Unreachable {
        /// The largest count tried.
        limit: u32,
    },
}

pub(crate) fn invalid(field: &'static str, reason: impl Into<String>) -> SimError {
    SimError::Invalid {
        field,
        reason: reason.into(),
    }
}
