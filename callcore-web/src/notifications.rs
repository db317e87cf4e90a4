//! The seam between the web API and proactive notification runs (SMS and
//! e-mail campaigns): their delivery results, reported beside the voice
//! campaigns' (`GET /api/v1/reports/notifications`). An assembly that runs
//! notifications gives the API a [`NotificationReports`]
//! ([`WebApiBuilder::notifications`](crate::WebApiBuilder::notifications)).

use std::collections::BTreeMap;

use callcore::TenantId;
use serde::Serialize;
use utoipa::ToSchema;

/// What became of a run's messages (of one channel, or all of them).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct NotificationFigures {
    /// Leads of the run (of this channel).
    pub leads: u64,
    /// Messages handed to the channel (SMS: accepted by the message centre;
    /// e-mail: by the mail server), delivered or not since.
    pub sent: u64,
    /// … of which confirmed delivered (SMS delivery receipts).
    pub delivered: u64,
    /// … of which reported undelivered by a receipt.
    pub undelivered: u64,
    /// Not sent: the channel refused or failed.
    pub failed: u64,
    /// Not sent: the customer opted out (STOP) earlier.
    pub opted_out: u64,
    /// Not sent: the lead has no address for the channel.
    pub no_address: u64,
    /// Not yet tried (the run waits for its start or its allowed hours, or
    /// is still going).
    pub pending: u64,
}

/// One notification run's report.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct NotificationRunReport {
    /// The run's name.
    pub name: String,
    /// `scheduled` (before its start), `waiting` (outside its allowed
    /// hours), `running` or `done`.
    pub state: String,
    /// When its next message may go out while it waits (milliseconds since
    /// the epoch).
    pub waiting_until_ms: Option<i64>,
    /// The run's time zone (IANA), for its start and allowed hours.
    pub time_zone: Option<String>,
    /// Every lead.
    pub totals: NotificationFigures,
    /// Per channel (`sms`, `email`), from each lead's channel.
    pub channels: BTreeMap<String, NotificationFigures>,
}

/// Notification runs as the reports read them.
pub trait NotificationReports: Send + Sync + std::fmt::Debug {
    /// The runs of `tenant`, oldest first, with their figures so far.
    fn runs(&self, tenant: &TenantId) -> Vec<NotificationRunReport>;
}
