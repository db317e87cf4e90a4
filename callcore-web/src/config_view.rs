//! The configuration the API shows (read-only), per tenant: an assembly
//! fills it from its own configuration, with secrets left out.

use serde::Serialize;
use utoipa::ToSchema;

/// What the configuration routes show for one tenant.
#[derive(Debug, Clone, Default, Serialize, ToSchema)]
pub struct Configuration {
    /// Queues.
    pub queues: Vec<QueueConfig>,
    /// Skills agents have and queues require.
    pub skills: Vec<String>,
    /// Reason codes of the not-ready state.
    pub reason_codes: Vec<String>,
    /// Outbound campaigns.
    pub campaigns: Vec<CampaignConfig>,
    /// Carriers' trunks, without their passwords.
    pub trunks: Vec<TrunkConfig>,
}

/// A queue's settings.
#[derive(Debug, Clone, Default, Serialize, ToSchema)]
pub struct QueueConfig {
    /// Its id.
    pub id: String,
    /// The skill its agents need.
    pub skill: Option<String>,
    /// After-call work, seconds.
    pub wrap_up_secs: u32,
    /// Longest wait before overflow, seconds.
    pub max_wait_secs: Option<u32>,
    /// Where callers go after it (a queue, `voicemail`).
    pub overflow: Option<String>,
}

/// A campaign's settings.
#[derive(Debug, Clone, Default, Serialize, ToSchema)]
pub struct CampaignConfig {
    /// Its name.
    pub name: String,
    /// The queue whose agents take the answered calls.
    pub queue: String,
    /// Dialing mode (`progressive`, `predictive`, …).
    pub mode: String,
    /// Starts with the center.
    pub autostart: bool,
}

/// A trunk's settings; its password is never shown.
#[derive(Debug, Clone, Default, Serialize, ToSchema)]
pub struct TrunkConfig {
    /// Its name.
    pub name: String,
    /// The carrier's address.
    pub host: String,
    /// `udp`, `tcp` or `tls`.
    pub transport: String,
    /// The registration user name, if it registers.
    pub username: Option<String>,
    /// Whether a password is configured (never the password).
    pub has_password: bool,
}
