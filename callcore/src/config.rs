//! Center configuration: serde types, TOML loading, validation that names the
//! field at fault.

use crate::{AgentProfile, QueueDefinition, TenantId};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;

/// A configuration error, naming the field at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The text is not valid TOML, or a value has the wrong type (the message
    /// names the key and line).
    #[error("config parse error: {0}")]
    Parse(String),
    /// A value is present but not acceptable.
    #[error("invalid config field `{field}`: {reason}")]
    Invalid {
        /// Path of the field (`queues[1].service_level_secs`).
        field: String,
        /// What is wrong.
        reason: String,
    },
}

/// Where an inbound interaction goes, by the address it called.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InboundRoute {
    /// The dialled number or entry point (`"100"`, `"chat:web"`); `"*"` matches
    /// anything.
    pub to: String,
    /// The flow that handles it.
    pub flow: String,
}

/// The configuration of one center (one tenant's queues and agents, and routes
/// to flows).
///
/// ```
/// let cfg = callcore::CenterConfig::from_toml(r#"
///     [[queues]]
///     id = "support"
///     wrap_up_secs = 10
///
///     [[agents]]
///     id = "alice"
///     skills = { billing = 7 }
///
///     [[routes]]
///     to = "*"
///     flow = "main"
/// "#).unwrap();
/// assert_eq!(cfg.queues[0].wrap_up_secs, 10);
/// ```
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CenterConfig {
    /// The tenant (default `"default"`).
    #[serde(default)]
    pub tenant: TenantId,
    /// Queues.
    #[serde(default)]
    pub queues: Vec<QueueDefinition>,
    /// Agents.
    #[serde(default)]
    pub agents: Vec<AgentProfile>,
    /// Inbound routes to flows, first match wins.
    #[serde(default)]
    pub routes: Vec<InboundRoute>,
    /// Per-subscriber event buffer (default 4096).
    #[serde(default)]
    pub event_buffer: Option<usize>,
    /// Record every conversation the center bridges (customer and agent),
    /// through the transport's media engine (`Leg::bridge_recorded`).
    #[serde(default)]
    pub record_calls: bool,
    /// How kept callbacks (a caller who pressed the callback key) are tried
    /// when the customer does not answer.
    #[serde(default)]
    pub callbacks: CallbackPolicy,
}

/// How often a kept callback is tried: a customer who does not answer (busy,
/// no answer, a failed line) is tried again after `retry_after_secs`,
/// keeping their place in the queue, up to `attempts` calls in all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CallbackPolicy {
    /// Calls to the customer in all, the first included (default 3).
    pub attempts: u32,
    /// Seconds between a failed call and the next (default 300).
    pub retry_after_secs: u32,
}

impl Default for CallbackPolicy {
    fn default() -> Self {
        Self {
            attempts: 3,
            retry_after_secs: 300,
        }
    }
}

fn invalid(field: String, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        field,
        reason: reason.into(),
    }
}

impl CenterConfig {
    /// Parses and validates a TOML document.
    ///
    /// # Errors
    /// [`ConfigError::Parse`] for syntax and type errors (with the key and line),
    /// [`ConfigError::Invalid`] naming the field for values that make no sense.
    pub fn from_toml(text: &str) -> Result<Self, ConfigError> {
        let cfg: Self = toml::from_str(text).map_err(|e| ConfigError::Parse(e.to_string()))?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Checks values that types alone cannot.
    ///
    /// # Errors
    /// [`ConfigError::Invalid`] naming the first field at fault.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let mut queue_ids = HashSet::new();
        for (i, q) in self.queues.iter().enumerate() {
            let f = |name: &str| format!("queues[{i}].{name}");
            if q.id.as_str().trim().is_empty() {
                return Err(invalid(f("id"), "must not be empty"));
            }
            if !queue_ids.insert(q.id.clone()) {
                return Err(invalid(f("id"), format!("duplicate queue id `{}`", q.id)));
            }
            if q.service_level_secs == 0 {
                return Err(invalid(f("service_level_secs"), "must be at least 1"));
            }
            for (j, t) in q.channel_service_levels.iter().enumerate() {
                let g = |name: &str| f(&format!("channel_service_levels[{j}].{name}"));
                if t.target_secs == 0 {
                    return Err(invalid(g("target_secs"), "must be at least 1"));
                }
                if t.goal.is_some_and(|goal| !(goal > 0.0 && goal <= 1.0)) {
                    return Err(invalid(
                        g("goal"),
                        "a share above 0, at most 1 (0.8 = 80 %)",
                    ));
                }
                if t.business_hours && q.hours.is_none() {
                    return Err(invalid(g("business_hours"), "needs the queue's `hours`"));
                }
                if q.channel_service_levels[..j]
                    .iter()
                    .any(|o| o.channel == t.channel)
                {
                    return Err(invalid(
                        g("channel"),
                        format!("`{}` has a target already", t.channel.as_str()),
                    ));
                }
            }
            if q.offer_timeout_secs == 0 {
                return Err(invalid(f("offer_timeout_secs"), "must be at least 1"));
            }
            if q.max_size == Some(0) {
                return Err(invalid(f("max_size"), "must be at least 1 when set"));
            }
            for (j, r) in q.requirements.iter().enumerate() {
                if !(1..=10).contains(&r.min_proficiency) {
                    return Err(invalid(
                        f(&format!("requirements[{j}].min_proficiency")),
                        "must be between 1 and 10",
                    ));
                }
            }
            let mut last = 0;
            for (j, step) in q.escalation.iter().enumerate() {
                if step.after_secs < last {
                    return Err(invalid(
                        f(&format!("escalation[{j}].after_secs")),
                        "steps must be in increasing order of after_secs",
                    ));
                }
                last = step.after_secs;
            }
        }
        if self.callbacks.attempts == 0 {
            return Err(invalid(
                "callbacks.attempts".to_owned(),
                "must be at least 1",
            ));
        }
        let mut agent_ids = HashSet::new();
        for (i, a) in self.agents.iter().enumerate() {
            let f = |name: &str| format!("agents[{i}].{name}");
            if a.id.as_str().trim().is_empty() {
                return Err(invalid(f("id"), "must not be empty"));
            }
            if !agent_ids.insert(a.id.clone()) {
                return Err(invalid(f("id"), format!("duplicate agent id `{}`", a.id)));
            }
            for (skill, p) in &a.skills {
                if !(1..=10).contains(p) {
                    return Err(invalid(
                        f(&format!("skills.{skill}")),
                        "proficiency must be between 1 and 10",
                    ));
                }
            }
            for (j, q) in a.queues.iter().enumerate() {
                if !queue_ids.contains(q) {
                    return Err(invalid(
                        f(&format!("queues[{j}]")),
                        format!("unknown queue `{q}`"),
                    ));
                }
            }
            if let Some(r) = a.rating
                && !(0.0..=5.0).contains(&r)
            {
                return Err(invalid(f("rating"), "must be between 0 and 5"));
            }
        }
        for (i, r) in self.routes.iter().enumerate() {
            if r.flow.trim().is_empty() {
                return Err(invalid(format!("routes[{i}].flow"), "must not be empty"));
            }
        }
        if self.event_buffer == Some(0) {
            return Err(invalid("event_buffer".to_owned(), "must be at least 1"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_the_field() {
        let err = CenterConfig::from_toml(
            "[[queues]]\nid = \"a\"\n[[queues]]\nid = \"b\"\nservice_level_secs = 0\n",
        )
        .unwrap_err();
        assert_eq!(
            err,
            ConfigError::Invalid {
                field: "queues[1].service_level_secs".into(),
                reason: "must be at least 1".into()
            }
        );
        let err =
            CenterConfig::from_toml("[[agents]]\nid = \"alice\"\nskills = { billing = 11 }\n")
                .unwrap_err();
        assert!(
            err.to_string().contains("agents[0].skills.billing"),
            "{err}"
        );
        let err =
            CenterConfig::from_toml("[[agents]]\nid = \"a\"\nqueues = [\"nope\"]\n").unwrap_err();
        assert!(err.to_string().contains("agents[0].queues[0]"), "{err}");
    }

    #[test]
    fn type_errors_name_the_key() {
        let err = CenterConfig::from_toml("[[queues]]\nid = \"a\"\nwrap_up_secs = \"ten\"\n")
            .unwrap_err();
        assert!(err.to_string().contains("wrap_up_secs"), "{err}");
        let err = CenterConfig::from_toml("[[queues]]\nid = \"a\"\nwrapup = 3\n").unwrap_err();
        assert!(err.to_string().contains("wrapup"), "{err}");
    }
}
