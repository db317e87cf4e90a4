//! How metrics are counted: service-level formula and thresholds.

use crate::AnalyticsError;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Which service-level formula to report. Centers disagree, so it is a named
/// setting. `T` is the queue's service-level threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ServiceLevelFormula {
    /// answered within T ÷ (offered − abandoned within the short-abandon
    /// threshold). The default: short abandons (misdials, callers who change
    /// their mind) neither help nor hurt.
    #[default]
    OfferedLessShortAbandons,
    /// answered within T ÷ answered (Asterisk's `servicelevelperf`):
    /// abandoned contacts are ignored.
    AnsweredOnly,
    /// (answered within T + abandoned within T) ÷ (answered + abandoned)
    /// (Asterisk's `servicelevelperf2`): a caller who gave up quickly counts as
    /// served in time.
    AnsweredOrAbandonedWithin,
    /// removed from the queue (answered, abandoned, transferred or timed out)
    /// within T ÷ queued, as Amazon Connect counts it.
    RemovedFromQueue,
}

/// Settings of a [`MetricsEngine`](crate::MetricsEngine).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricsConfig {
    /// The service-level formula.
    pub service_level: ServiceLevelFormula,
    /// Threshold T for queues whose definition was not seen (a queue's own
    /// `service_level_secs` wins once its `queue_added` event is seen).
    pub default_service_level: Duration,
    /// Contacts abandoned in less than this are short abandons.
    pub short_abandon: Duration,
    /// Width of the fine buckets sliding windows are summed from (their
    /// granularity). Must be whole seconds dividing 15 minutes.
    pub bucket: Duration,
    /// How long fine buckets are kept: the longest sliding window.
    pub window_history: Duration,
    /// How long the 15-minute buckets behind "since midnight" figures and
    /// reports are kept (`None`: forever, for replaying a journal).
    pub retention: Option<Duration>,
    /// Offset of local midnight from UTC midnight, for "since midnight"
    /// figures (e.g. +8 h for China Standard Time).
    pub utc_offset: Duration,
    /// Whether `utc_offset` is east (`true`) or west of UTC.
    pub utc_offset_east: bool,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        Self {
            service_level: ServiceLevelFormula::default(),
            default_service_level: Duration::from_secs(20),
            short_abandon: Duration::from_secs(5),
            bucket: Duration::from_secs(60),
            window_history: Duration::from_secs(3600),
            retention: Some(Duration::from_secs(2 * 86_400)),
            utc_offset: Duration::ZERO,
            utc_offset_east: true,
        }
    }
}

impl MetricsConfig {
    /// Checks the settings.
    ///
    /// # Errors
    /// [`AnalyticsError::Config`] naming the field: a bucket that is zero or
    /// does not divide 15 minutes, an offset of a day or more.
    pub fn validate(&self) -> Result<(), AnalyticsError> {
        let b = self.bucket.as_millis();
        if b == 0 || !b.is_multiple_of(1000) || !900_000u128.is_multiple_of(b) {
            return Err(AnalyticsError::Config {
                field: "bucket",
                reason: format!("{b} ms must be whole seconds dividing 15 minutes"),
            });
        }
        if self.utc_offset >= Duration::from_secs(86_400)
            || !self.utc_offset.as_secs().is_multiple_of(900)
        {
            return Err(AnalyticsError::Config {
                field: "utc_offset",
                reason: "must be whole quarter hours, less than a day".into(),
            });
        }
        Ok(())
    }

    pub(crate) fn bucket_ms(&self) -> i64 {
        i64::try_from(self.bucket.as_millis()).unwrap_or(60_000)
    }

    pub(crate) fn window_history_ms(&self) -> i64 {
        i64::try_from(self.window_history.as_millis()).unwrap_or(3_600_000)
    }

    pub(crate) fn retention_ms(&self) -> Option<i64> {
        self.retention
            .map(|r| i64::try_from(r.as_millis()).unwrap_or(i64::MAX))
    }

    pub(crate) fn offset_ms(&self) -> i64 {
        let ms = i64::try_from(self.utc_offset.as_millis()).unwrap_or(0);
        if self.utc_offset_east { ms } else { -ms }
    }
}
