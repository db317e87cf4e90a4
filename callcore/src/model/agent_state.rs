use serde::{Deserialize, Serialize};
use std::fmt;

/// Why an agent is not ready (`"lunch"`, `"training"`, `"missed_offers"`).
pub type ReasonCode = String;

/// An agent's presence state.
///
/// ```text
///             ┌──────────── login ────────────┐
///             ▼                               │
///   Offline ──► Available ──► Reserved ──► Busy ──► WrapUp ──► Available
///      ▲  │        ▲  │  ▲        │ declined/    │  ▲            │
///      │  │        │  │  └────────┘ timed out    │  │ outbound    ▼
///      │  └──► NotReady(reason) ◄────────────────┘  └──────── NotReady
///      └──────────── logout (not while Reserved or Busy) ────────┘
/// ```
///
/// The allowed moves are exactly those of [`AgentState::can_become`]; anything
/// else is an [`AgentStateError`]. Capacity for several chats at once is the
/// router's business: this is the state a wallboard shows.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "state", content = "reason")]
#[non_exhaustive]
pub enum AgentState {
    /// Logged out.
    Offline,
    /// Logged in and waiting for work.
    Available,
    /// An offer is ringing (the agent is held until it resolves).
    Reserved,
    /// Handling an interaction.
    Busy,
    /// After-call work.
    WrapUp,
    /// Logged in but not taking work, with a reason code.
    NotReady(ReasonCode),
}

/// A move between agent states that the state machine does not allow.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("agent cannot go from {from} to {to}")]
pub struct AgentStateError {
    /// The state the agent was in.
    pub from: AgentState,
    /// The state that was asked for.
    pub to: AgentState,
}

impl AgentState {
    /// The state's name without its reason (`"not_ready"`).
    #[must_use]
    pub const fn name(&self) -> &'static str {
        match self {
            Self::Offline => "offline",
            Self::Available => "available",
            Self::Reserved => "reserved",
            Self::Busy => "busy",
            Self::WrapUp => "wrap_up",
            Self::NotReady(_) => "not_ready",
        }
    }

    /// Whether the agent is logged in.
    #[must_use]
    pub const fn is_logged_in(&self) -> bool {
        !matches!(self, Self::Offline)
    }

    /// Whether the state machine allows going from `self` to `to`.
    #[must_use]
    pub fn can_become(&self, to: &Self) -> bool {
        use AgentState::{Available, Busy, NotReady, Offline, Reserved, WrapUp};
        match (self, to) {
            // Changing the reason code while not ready is allowed; any other
            // self-transition is not a transition.
            (NotReady(a), NotReady(b)) => a != b,
            (Offline, Available | NotReady(_))
            | (Available, Reserved | Busy | NotReady(_) | Offline)
            // Accepted; declined/timed out/rescinded; missed too many offers.
            | (Reserved, Busy | Available | NotReady(_))
            // Call ended: wrap-up, or straight back when the queue has none.
            | (Busy, WrapUp | Available | NotReady(_))
            | (WrapUp, Available | NotReady(_) | Offline | Busy)
            // Not ready agents may still place outbound calls (Busy).
            | (NotReady(_), Available | Offline | Busy) => true,
            _ => false,
        }
    }

    /// Moves to `to` if the state machine allows it.
    ///
    /// ```
    /// use callcore::AgentState;
    /// let s = AgentState::Offline.transition(AgentState::Available).unwrap();
    /// assert!(s.transition(AgentState::WrapUp).is_err());
    /// ```
    ///
    /// # Errors
    /// [`AgentStateError`] naming both states when the move is not allowed.
    pub fn transition(&self, to: Self) -> Result<Self, AgentStateError> {
        if self.can_become(&to) {
            Ok(to)
        } else {
            Err(AgentStateError {
                from: self.clone(),
                to,
            })
        }
    }
}

impl fmt::Display for AgentState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotReady(reason) => write!(f, "not_ready({reason})"),
            other => f.write_str(other.name()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::AgentState::{self, *};

    fn all() -> Vec<AgentState> {
        vec![
            Offline,
            Available,
            Reserved,
            Busy,
            WrapUp,
            NotReady("lunch".into()),
            NotReady("training".into()),
        ]
    }

    #[test]
    fn the_allowed_transitions_are_exactly_these() {
        let allowed: &[(&str, &str)] = &[
            ("offline", "available"),
            ("offline", "not_ready(lunch)"),
            ("offline", "not_ready(training)"),
            ("available", "reserved"),
            ("available", "busy"),
            ("available", "not_ready(lunch)"),
            ("available", "not_ready(training)"),
            ("available", "offline"),
            ("reserved", "busy"),
            ("reserved", "available"),
            ("reserved", "not_ready(lunch)"),
            ("reserved", "not_ready(training)"),
            ("busy", "wrap_up"),
            ("busy", "available"),
            ("busy", "not_ready(lunch)"),
            ("busy", "not_ready(training)"),
            ("wrap_up", "available"),
            ("wrap_up", "not_ready(lunch)"),
            ("wrap_up", "not_ready(training)"),
            ("wrap_up", "offline"),
            ("wrap_up", "busy"),
            ("not_ready(lunch)", "available"),
            ("not_ready(lunch)", "offline"),
            ("not_ready(lunch)", "busy"),
            ("not_ready(lunch)", "not_ready(training)"),
            ("not_ready(training)", "available"),
            ("not_ready(training)", "offline"),
            ("not_ready(training)", "busy"),
            ("not_ready(training)", "not_ready(lunch)"),
        ];
        for from in all() {
            for to in all() {
                let expected = allowed.contains(&(&*from.to_string(), &*to.to_string()));
                assert_eq!(from.can_become(&to), expected, "{from} -> {to}");
                assert_eq!(from.transition(to.clone()).is_ok(), expected);
            }
        }
    }

    #[test]
    fn error_names_both_states() {
        let err = Busy.transition(Offline).unwrap_err();
        assert_eq!(err.to_string(), "agent cannot go from busy to offline");
    }

    #[test]
    fn serde_shape() {
        assert_eq!(
            serde_json::to_string(&NotReady("lunch".into())).unwrap(),
            r#"{"state":"not_ready","reason":"lunch"}"#
        );
        assert_eq!(
            serde_json::to_string(&Available).unwrap(),
            r#"{"state":"available"}"#
        );
    }
}
