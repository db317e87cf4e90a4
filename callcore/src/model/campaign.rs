use crate::{CampaignId, InteractionId, LeadId, Pii, QueueId, TenantId, Timestamp};
use serde::{Deserialize, Serialize};

/// How a campaign paces its calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum DialMode {
    /// The agent sees the lead first and accepts or skips.
    Preview,
    /// One call per agent about to be free.
    Progressive,
    /// A fixed number of lines per agent.
    Power,
    /// Dial ahead from measured answer rates under an abandonment cap.
    Predictive,
    /// No agent: a message is played or sent.
    Notification,
}

/// An outbound campaign.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Campaign {
    /// Its id.
    pub id: CampaignId,
    /// Its tenant.
    pub tenant: TenantId,
    /// Display name.
    pub name: String,
    /// Queue whose agents take the answered calls.
    pub queue: Option<QueueId>,
    /// Pacing mode.
    pub mode: DialMode,
    /// Caller id presented.
    pub caller_id: String,
    /// Most attempts per lead.
    pub max_attempts: u32,
    /// Abandonment cap as a fraction (0.03 = 3%).
    pub abandon_cap: f64,
}

/// Where a lead stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum LeadStatus {
    /// Not called yet, or due for a retry.
    Pending,
    /// A call is in progress.
    Dialing,
    /// Reached; nothing more to do.
    Done,
    /// Not to be called again (invalid number, DNC, attempts exhausted).
    Closed,
}

/// A contact to call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Lead {
    /// Its id.
    pub id: LeadId,
    /// Its campaign.
    pub campaign: CampaignId,
    /// Its tenant.
    pub tenant: TenantId,
    /// The number, E.164.
    pub phone: Pii<String>,
    /// IANA time-zone name, for calling windows.
    pub time_zone: Option<String>,
    /// Attempts made so far.
    pub attempts: u32,
    /// Status.
    pub status: LeadStatus,
    /// Do not call before this time (retry rules).
    pub next_attempt_at: Option<Timestamp>,
}

/// How a dial attempt ended.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Disposition {
    /// A person answered and was connected.
    AnsweredPerson,
    /// An answering machine answered.
    AnsweringMachine,
    /// Busy.
    Busy,
    /// Rang without answer.
    NoAnswer,
    /// The number does not exist (404/484/604, SIT).
    InvalidNumber,
    /// Network or trunk failure (503, timeout).
    Congestion,
    /// A person answered but no agent was free in time.
    Abandoned,
    /// An agent-set wrap-up code.
    Agent(String),
}

/// One dial attempt, as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DialAttempt {
    /// The lead called.
    pub lead: LeadId,
    /// Its campaign.
    pub campaign: CampaignId,
    /// Its tenant.
    pub tenant: TenantId,
    /// The interaction the attempt created.
    pub interaction: InteractionId,
    /// When dialing started.
    pub started_at: Timestamp,
    /// How it ended.
    pub disposition: Disposition,
}
