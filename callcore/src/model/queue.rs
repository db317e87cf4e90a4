use crate::{Channel, ChannelServiceLevel, Proficiency, QueueId, Skill, TenantId, WorkingHours};
use serde::{Deserialize, Serialize};

/// A skill a queue requires, with the minimum proficiency accepted.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SkillRequirement {
    /// The skill.
    pub skill: Skill,
    /// Lowest proficiency (1–10) that qualifies.
    #[serde(default = "one")]
    pub min_proficiency: Proficiency,
}

const fn one() -> Proficiency {
    1
}

/// Where an interaction goes when it leaves a queue without an agent.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "target")]
#[non_exhaustive]
pub enum Destination {
    /// Another queue.
    Queue(QueueId),
    /// Offer a callback that keeps the caller's place.
    Callback,
    /// Leave a voicemail.
    Voicemail,
    /// An external number or SIP URI.
    External(String),
}

/// What an escalation step does.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "action", deny_unknown_fields)]
#[non_exhaustive]
pub enum EscalationAction {
    /// Lower every requirement's minimum proficiency to this value.
    RelaxProficiency {
        /// The new minimum.
        min_proficiency: Proficiency,
    },
    /// Also offer to the agents of these queues.
    AddQueues {
        /// The extra queues.
        queues: Vec<QueueId>,
    },
    /// Leave the queue for another destination.
    Overflow {
        /// Where to.
        destination: Destination,
    },
}

/// One step of a queue's escalation ladder: after the interaction has waited
/// `after_secs` (its age, as TaskRouter's workflow targets measure it), apply
/// `action`.
///
/// Unknown fields are refused by the flattened action (`deny_unknown_fields`
/// cannot sit on a struct with a flattened field: it would refuse the action's
/// own fields and the step could not read back what it wrote).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct EscalationStep {
    /// Age of the interaction in the queue, in seconds.
    pub after_secs: u32,
    /// What to do.
    #[serde(flatten)]
    pub action: EscalationAction,
}

/// A queue as configured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueueDefinition {
    /// Its id.
    pub id: QueueId,
    /// Its tenant.
    #[serde(default)]
    pub tenant: TenantId,
    /// Display name.
    #[serde(default)]
    pub name: String,
    /// Skills an agent needs to be offered this queue's interactions.
    #[serde(default)]
    pub requirements: Vec<SkillRequirement>,
    /// The routing strategy's name (`"longest_idle"`, `"round_robin"` ...).
    #[serde(default = "default_strategy")]
    pub strategy: String,
    /// Queue priority: when an agent could serve several queues, higher first.
    #[serde(default)]
    pub priority: i32,
    /// Service-level threshold: answered within this many seconds counts as met.
    #[serde(default = "default_service_level")]
    pub service_level_secs: u32,
    /// Longest wait before the interaction times out of the queue (`None`: no
    /// limit).
    #[serde(default)]
    pub max_wait_secs: Option<u32>,
    /// Most interactions waiting at once (`None`: no limit).
    #[serde(default)]
    pub max_size: Option<u32>,
    /// Accept new interactions when no agent is logged in.
    #[serde(default = "yes")]
    pub join_when_empty: bool,
    /// Time out waiting interactions when the last agent logs out.
    #[serde(default)]
    pub leave_when_empty: bool,
    /// Seconds of after-call work before the agent is available again.
    #[serde(default)]
    pub wrap_up_secs: u32,
    /// Seconds an offer rings before it times out.
    #[serde(default = "default_offer_timeout")]
    pub offer_timeout_secs: u32,
    /// Escalation ladder, in order of `after_secs`.
    #[serde(default)]
    pub escalation: Vec<EscalationStep>,
    /// Service-level targets per channel (voice 20 s, chat 60 s, e-mail 4 h
    /// in business hours …); a channel without one uses `service_level_secs`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub channel_service_levels: Vec<ChannelServiceLevel>,
    /// When the queue is staffed: the business hours a target with
    /// `business_hours` counts in (`None`: every hour counts).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hours: Option<WorkingHours>,
}

fn default_strategy() -> String {
    "longest_idle".to_owned()
}
const fn default_service_level() -> u32 {
    20
}
const fn default_offer_timeout() -> u32 {
    20
}
const fn yes() -> bool {
    true
}

impl QueueDefinition {
    /// A queue with defaults: no requirements, longest-idle, 20 s service level,
    /// no wrap-up, 20 s offer timeout.
    pub fn new(id: impl Into<QueueId>) -> Self {
        Self {
            id: id.into(),
            tenant: TenantId::default(),
            name: String::new(),
            requirements: Vec::new(),
            strategy: default_strategy(),
            priority: 0,
            service_level_secs: default_service_level(),
            max_wait_secs: None,
            max_size: None,
            join_when_empty: true,
            leave_when_empty: false,
            wrap_up_secs: 0,
            offer_timeout_secs: default_offer_timeout(),
            escalation: Vec::new(),
            channel_service_levels: Vec::new(),
            hours: None,
        }
    }

    /// The service-level target of `channel`: its own, or one made of
    /// `service_level_secs` (wall-clock time).
    #[must_use]
    pub fn service_level_of(&self, channel: Channel) -> ChannelServiceLevel {
        self.channel_service_levels
            .iter()
            .find(|t| t.channel == channel)
            .cloned()
            .unwrap_or(ChannelServiceLevel {
                channel,
                target_secs: self.service_level_secs,
                goal: None,
                business_hours: false,
            })
    }

    /// Adds a skill requirement (builder style).
    #[must_use]
    pub fn requiring(mut self, skill: impl Into<Skill>, min_proficiency: Proficiency) -> Self {
        self.requirements.push(SkillRequirement {
            skill: skill.into(),
            min_proficiency,
        });
        self
    }

    /// Sets the wrap-up time (builder style).
    #[must_use]
    pub const fn with_wrap_up_secs(mut self, secs: u32) -> Self {
        self.wrap_up_secs = secs;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_escalation_step_reads_back_what_it_writes_and_refuses_unknown_fields() {
        let steps = vec![
            EscalationStep {
                after_secs: 30,
                action: EscalationAction::RelaxProficiency { min_proficiency: 3 },
            },
            EscalationStep {
                after_secs: 60,
                action: EscalationAction::AddQueues {
                    queues: vec![QueueId::new("overflow")],
                },
            },
        ];
        let json = serde_json::to_string(&steps).expect("serialize");
        let back: Vec<EscalationStep> = serde_json::from_str(&json).expect("read back");
        assert_eq!(back, steps);

        let typo = r#"{"after_secs": 30, "action": "relax_proficiency", "min_proficency": 3}"#;
        let err = serde_json::from_str::<EscalationStep>(typo).expect_err("typo refused");
        assert!(err.to_string().contains("min_proficency"), "{err}");
    }
}
