//! Service-level targets per channel and a queue's working hours (plain
//! data; callcore-analytics counts them, with the time zone's rules).

use crate::Channel;
use serde::{Deserialize, Serialize};

/// The service-level target of one channel in a queue: answered within
/// `target_secs` counts as met (e.g. voice 20 s, chat 60 s, e-mail 4 hours).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelServiceLevel {
    /// The channel.
    pub channel: Channel,
    /// Answered within this many seconds counts as met.
    pub target_secs: u32,
    /// The share of contacts the center aims to answer in time (0.8 = 80 %),
    /// shown beside the figure; `None`: no goal stated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub goal: Option<f64>,
    /// Count the wait only inside the queue's [`WorkingHours`] (e-mail SLAs
    /// in business hours): a mail received on Friday evening with a 4-hour
    /// target is due on Monday morning.
    #[serde(default)]
    pub business_hours: bool,
}

/// Opening times on some weekdays, local.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkingSpan {
    /// ISO weekdays, 1 = Monday … 7 = Sunday.
    pub days: Vec<u8>,
    /// Opening time "HH:MM".
    pub open: String,
    /// Closing time "HH:MM" (exclusive; "24:00" for midnight).
    pub close: String,
}

/// When a queue is staffed: weekly spans and closed dates in a time zone
/// (the shape of a flow's `hours` in callcore-ivr, without its
/// `after_hours` node).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkingHours {
    /// IANA time zone ("Europe/London"); daylight saving follows it. When
    /// set, `utc_offset_minutes` is ignored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<String>,
    /// A fixed offset from UTC in minutes (+480 for Beijing), for lines
    /// without a named zone.
    #[serde(default)]
    pub utc_offset_minutes: i32,
    /// Weekly opening spans.
    pub weekly: Vec<WorkingSpan>,
    /// Closed dates, "YYYY-MM-DD", local.
    #[serde(default)]
    pub holidays: Vec<String>,
}
