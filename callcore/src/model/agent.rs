use crate::{AgentId, Channel, QueueId, Skill, SkillRequirement, TenantId};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// How well an agent masters a skill: 1 (novice) to 10 (expert).
pub type Proficiency = u8;

/// Where an agent is reached when an interaction is offered.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "address")]
#[non_exhaustive]
pub enum Endpoint {
    /// A SIP address of record (a desk phone or softphone that registers).
    Sip(String),
    /// A browser session over WebRTC.
    WebRtc(String),
    /// An external phone number (remote agent on the PSTN).
    Phone(String),
    /// The agent desktop/API only: offers are accepted through
    /// [`CenterHandle::accept_offer`](crate::CenterHandle::accept_offer)
    /// (chat, e-mail, or a desktop that places the audio itself).
    Desktop,
}

/// An agent as configured: who they are and what they can take.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentProfile {
    /// Its id.
    pub id: AgentId,
    /// Its tenant.
    #[serde(default)]
    pub tenant: TenantId,
    /// Display name.
    #[serde(default)]
    pub name: String,
    /// Skills with proficiency 1–10.
    #[serde(default)]
    pub skills: BTreeMap<Skill, Proficiency>,
    /// How many interactions of each channel the agent handles at once
    /// (default: one voice call). A channel missing here cannot be offered.
    #[serde(default = "default_capacity")]
    pub capacity: BTreeMap<Channel, u32>,
    /// Channels the agent works beside a voice call (and a call beside
    /// them), each within its own capacity. Empty, the default: a voice call
    /// is the agent's only work (nothing else is offered during it, and no
    /// call while other work is open).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub beside_voice: Vec<Channel>,
    /// Where offers ring, in order of preference.
    #[serde(default)]
    pub endpoints: Vec<Endpoint>,
    /// Queues the agent serves. Empty: every queue whose requirements the agent
    /// meets.
    #[serde(default)]
    pub queues: Vec<QueueId>,
    /// Historical customer-satisfaction rating (1.0–5.0), used by rating-weighted
    /// routing.
    #[serde(default)]
    pub rating: Option<f32>,
    /// A supervisor: may monitor (listen to, whisper to, barge into) other
    /// agents' calls.
    #[serde(default)]
    pub supervisor: bool,
}

fn default_capacity() -> BTreeMap<Channel, u32> {
    BTreeMap::from([(Channel::Voice, 1)])
}

impl AgentProfile {
    /// A voice agent with no skills yet.
    pub fn new(id: impl Into<AgentId>) -> Self {
        Self {
            id: id.into(),
            tenant: TenantId::default(),
            name: String::new(),
            skills: BTreeMap::new(),
            capacity: default_capacity(),
            beside_voice: Vec::new(),
            endpoints: Vec::new(),
            queues: Vec::new(),
            rating: None,
            supervisor: false,
        }
    }

    /// Marks the agent as a supervisor (builder style): they may monitor
    /// calls.
    #[must_use]
    pub const fn as_supervisor(mut self) -> Self {
        self.supervisor = true;
        self
    }

    /// Adds a skill (builder style).
    #[must_use]
    pub fn with_skill(mut self, skill: impl Into<Skill>, proficiency: Proficiency) -> Self {
        self.skills.insert(skill.into(), proficiency);
        self
    }

    /// Adds an endpoint (builder style).
    #[must_use]
    pub fn with_endpoint(mut self, endpoint: Endpoint) -> Self {
        self.endpoints.push(endpoint);
        self
    }

    /// Lets `channel` be worked beside a voice call (builder style).
    #[must_use]
    pub fn with_beside_voice(mut self, channel: Channel) -> Self {
        if !self.beside_voice.contains(&channel) {
            self.beside_voice.push(channel);
        }
        self
    }

    /// Sets the capacity of one channel (builder style).
    #[must_use]
    pub fn with_capacity(mut self, channel: Channel, slots: u32) -> Self {
        self.capacity.insert(channel, slots);
        self
    }

    /// The agent's proficiency in `skill`, if it has it.
    #[must_use]
    pub fn proficiency(&self, skill: &Skill) -> Option<Proficiency> {
        self.skills.get(skill).copied()
    }

    /// Whether the agent has every skill of `requirements` at (at least) its
    /// minimum proficiency.
    #[must_use]
    pub fn meets(&self, requirements: &[SkillRequirement]) -> bool {
        requirements.iter().all(|r| {
            self.proficiency(&r.skill)
                .is_some_and(|p| p >= r.min_proficiency)
        })
    }

    /// How many interactions of `channel` the agent can hold at once.
    #[must_use]
    pub fn capacity_for(&self, channel: Channel) -> u32 {
        self.capacity.get(&channel).copied().unwrap_or(0)
    }
}
