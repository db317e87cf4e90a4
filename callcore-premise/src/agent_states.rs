//! Agents' states in the premise center: the state an agent chooses (logged in
//! ready, not ready with a reason code from the config, after-call work, logged
//! out) and, apart from it, whether their phone can be reached — its
//! registration. A lapsed registration makes the agent unreachable (never
//! offered a call) without changing the state they chose; a new registration
//! makes them reachable again.
//!
//! ```toml
//! [agent_states]
//! reasons = ["break", "lunch", "training", "meeting"]
//!
//! [[agents]]
//! id = "1001"
//! login = "not_ready:training"   # or "available" (default), "offline"
//! ```

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use callcore::{AgentId, AgentState, Clock};
use callcore_runtime::CenterHandle;
use callcore_sip::center::SipTransport;
use serde::Deserialize;

use crate::PremiseError;

/// `[agent_states]`: the reason codes agents may give for not being ready.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AgentStatesSection {
    /// Reason codes of `not_ready` (letters, digits, `_` and `-`).
    pub reasons: Vec<String>,
}

impl Default for AgentStatesSection {
    fn default() -> Self {
        AgentStatesSection {
            reasons: ["break", "lunch", "training", "meeting"]
                .map(String::from)
                .to_vec(),
        }
    }
}

impl AgentStatesSection {
    /// Checks the reason codes.
    ///
    /// # Errors
    /// [`PremiseError::Config`] naming `agent_states.reasons[i]`.
    pub fn validate(&self) -> Result<(), PremiseError> {
        for (i, r) in self.reasons.iter().enumerate() {
            let ok = !r.is_empty()
                && r.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
            if !ok {
                return Err(config_error(
                    format!("agent_states.reasons[{i}]"),
                    "letters, digits, `_` and `-`",
                ));
            }
            if self.reasons[..i].contains(r) {
                return Err(config_error(
                    format!("agent_states.reasons[{i}]"),
                    format!("`{r}` is listed twice"),
                ));
            }
        }
        Ok(())
    }

    /// Parses a state as the config and the operator write it: `available`,
    /// `offline`, or `not_ready:<reason>` with a reason from
    /// [`reasons`](Self::reasons) (`not_ready` alone uses the first).
    ///
    /// # Errors
    /// A message saying what is accepted.
    pub fn parse_state(&self, text: &str) -> Result<AgentState, String> {
        let text = text.trim();
        match text {
            "available" | "ready" => return Ok(AgentState::Available),
            "offline" | "logged_out" => return Ok(AgentState::Offline),
            _ => {}
        }
        let reason = match text.split_once(':') {
            Some(("not_ready", reason)) => reason.trim(),
            None if text == "not_ready" => self.reasons.first().map_or("", String::as_str),
            _ => {
                return Err(format!(
                    "`{text}`: say \"available\", \"offline\" or \"not_ready:<reason>\""
                ));
            }
        };
        if self.reasons.iter().any(|r| r == reason) {
            Ok(AgentState::NotReady(reason.to_owned()))
        } else {
            Err(format!(
                "`{reason}` is not a reason code of agent_states.reasons ({})",
                self.reasons.join(", ")
            ))
        }
    }
}

fn config_error(field: String, detail: impl Into<String>) -> PremiseError {
    PremiseError::Config {
        field,
        detail: detail.into(),
    }
}

/// Follows the agents' phones' registrations: reachable while registered.
/// Their chosen state is never touched.
pub(crate) async fn follow_registrations(
    center: CenterHandle,
    sip: Arc<SipTransport>,
    clock: Arc<dyn Clock>,
    agents: Vec<(AgentId, String)>,
) {
    let mut registered: HashMap<AgentId, bool> = HashMap::new();
    loop {
        for (agent, aor) in &agents {
            let now = !sip.sip().lookup(aor).await.is_empty();
            if registered.get(agent).copied() == Some(now) {
                continue;
            }
            match center.set_agent_reachable(agent, now).await {
                Ok(()) => {
                    // the first look at a phone that is not registered changes nothing
                    if registered.insert(agent.clone(), now).is_some() || now {
                        tracing::info!(agent = %agent, registered = now, "phone registration changed");
                    }
                }
                Err(e) => tracing::warn!(agent = %agent, error = %e, "reachability not set"),
            }
        }
        clock.sleep(Duration::from_millis(250)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_parse_with_the_configured_reasons() {
        let s = AgentStatesSection::default();
        assert_eq!(s.parse_state("available"), Ok(AgentState::Available));
        assert_eq!(s.parse_state("offline"), Ok(AgentState::Offline));
        assert_eq!(
            s.parse_state("not_ready:lunch"),
            Ok(AgentState::NotReady("lunch".into()))
        );
        assert_eq!(
            s.parse_state("not_ready"),
            Ok(AgentState::NotReady("break".into()))
        );
        let e = s.parse_state("not_ready:nap").unwrap_err();
        assert!(e.contains("`nap` is not a reason code"), "{e}");
        assert!(s.parse_state("busy").is_err());
    }

    #[test]
    fn reason_codes_are_checked() {
        let mut s = AgentStatesSection::default();
        s.reasons.push("lunch".into());
        let e = s.validate().unwrap_err().to_string();
        assert_eq!(
            e,
            "config field `agent_states.reasons[4]`: `lunch` is listed twice"
        );
        s.reasons = vec!["coffee break".into()];
        assert!(s.validate().is_err());
    }
}
