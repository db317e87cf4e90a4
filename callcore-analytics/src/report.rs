//! Historical reports per 15 minutes, hour or day, built by replaying the
//! journal through the same [`MetricsEngine`] the live figures come from.
//!
//! ```
//! use callcore::Timestamp;
//! use callcore_analytics::report::{build_report, IntervalLength, ReportKind};
//! use callcore_analytics::MetricsConfig;
//! let events = []; // e.g. `EventJournal::between(..)` from callcore-store
//! let day = Timestamp::from_secs(1_700_006_400);
//! let report = build_report(&events, MetricsConfig::default(), ReportKind::QueueService,
//!     IntervalLength::Hour, day, Timestamp::from_secs(1_700_006_400 + 86_400))?;
//! assert!(report.rows.is_empty());
//! println!("{}", report.to_csv());
//! # Ok::<(), callcore_analytics::AnalyticsError>(())
//! ```

use crate::channel_levels::ChannelServiceFigures;
use crate::counters::MetricsSummary;
use crate::dims::Dimension;
use crate::engine::{MetricsEngine, QUARTER_MS};
use crate::{AnalyticsError, MetricsConfig, ServiceLevelFormula};
use callcore::{Event, QueueDefinition, TenantId, Timestamp};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The length of a report's intervals.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IntervalLength {
    /// 15 minutes.
    QuarterHour,
    /// One hour.
    Hour,
    /// One day, from local midnight.
    Day,
}

impl IntervalLength {
    /// Milliseconds.
    #[must_use]
    pub const fn millis(self) -> i64 {
        match self {
            Self::QuarterHour => QUARTER_MS,
            Self::Hour => 3_600_000,
            Self::Day => 86_400_000,
        }
    }
}

/// Which report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ReportKind {
    /// Per agent: handled contacts, talk/hold/after-call work, AHT, occupancy,
    /// state times, missed offers, transfers, CSAT.
    AgentPerformance,
    /// Per queue: offered, answered, abandoned, service level, ASA, AHT.
    QueueService,
    /// Per tenant and channel: arrivals, offered, answered, abandoned.
    CallVolume,
    /// Per dialer campaign: attempts by outcome, contact and abandonment rates.
    Campaigns,
}

impl ReportKind {
    fn includes(self, dim: &Dimension) -> bool {
        matches!(
            (self, dim),
            (Self::AgentPerformance, Dimension::Agent { .. })
                | (Self::QueueService, Dimension::Queue { .. })
                | (
                    Self::CallVolume,
                    Dimension::Tenant { .. } | Dimension::Channel { .. }
                )
                | (Self::Campaigns, Dimension::Campaign { .. })
        )
    }
}

/// One row: one dimension in one interval.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReportRow {
    /// Start of the interval.
    pub interval_start: Timestamp,
    /// End of the interval (exclusive).
    pub interval_end: Timestamp,
    /// What the row is about.
    pub dimension: Dimension,
    /// The figures.
    pub figures: MetricsSummary,
    /// Queue rows of `queue_service`: each channel's figures against its own
    /// target (e-mail's wait in the queue's business hours), keyed by the
    /// channel's name (`voice`, `chat`, `email` …); absent elsewhere.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub channels: BTreeMap<String, ChannelServiceFigures>,
}

/// A report: rows ordered by interval, then dimension. Intervals and
/// dimensions without any activity have no row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// Which report.
    pub kind: ReportKind,
    /// Interval length.
    pub interval: IntervalLength,
    /// Start of the first interval.
    pub from: Timestamp,
    /// End of the last interval.
    pub to: Timestamp,
    /// The service-level formula used.
    pub service_level_formula: ServiceLevelFormula,
    /// The rows.
    pub rows: Vec<ReportRow>,
}

impl MetricsEngine {
    /// Start of the interval of `length` holding `t` (local days and hours per
    /// the configured UTC offset).
    #[must_use]
    pub fn interval_start(&self, length: IntervalLength, t: Timestamp) -> Timestamp {
        let off = self.config.offset_ms();
        let len = length.millis();
        Timestamp::from_millis((t.as_millis() + off).div_euclid(len) * len - off)
    }

    /// The report of `kind` over the intervals of `length` that cover
    /// `from <= t < to`, from the engine's 15-minute buckets. Call
    /// [`advance`](Self::advance) to the end of the period first so that agent
    /// state times are complete.
    #[must_use]
    pub fn report(
        &self,
        kind: ReportKind,
        length: IntervalLength,
        from: Timestamp,
        to: Timestamp,
    ) -> Report {
        let formula = self.config.service_level;
        let start = self.interval_start(length, from);
        let mut end = self.interval_start(length, to);
        if end < to {
            end = Timestamp::from_millis(end.as_millis() + length.millis());
        }
        let mut rows = Vec::new();
        let mut t = start.as_millis();
        while t < end.as_millis() {
            let next = t + length.millis();
            let mut interval: Vec<ReportRow> = self
                .quarters
                .sum_all(t, next)
                .into_iter()
                .filter_map(|(id, counters)| {
                    let dim = self.dims.get(id)?;
                    (kind.includes(dim) && counters != crate::Counters::default()).then(|| {
                        let channels = match dim {
                            Dimension::Queue { tenant, queue } => {
                                self.channel_figures(tenant, queue, t, next)
                            }
                            _ => BTreeMap::new(),
                        };
                        ReportRow {
                            interval_start: Timestamp::from_millis(t),
                            interval_end: Timestamp::from_millis(next),
                            dimension: dim.clone(),
                            figures: counters.summary(formula),
                            channels,
                        }
                    })
                })
                .collect();
            interval.sort_by(|a, b| a.dimension.cmp(&b.dimension));
            rows.extend(interval);
            t = next;
        }
        Report {
            kind,
            interval: length,
            from: start,
            to: end,
            service_level_formula: formula,
            rows,
        }
    }
}

/// Replays `events` (in journal order) and builds the report of `kind` for
/// `from <= t < to`. The engine is brought to `to`, so agents still in a
/// state at the end have their time counted up to it.
///
/// # Errors
/// [`AnalyticsError::Config`] when `config` is invalid.
pub fn build_report(
    events: &[Event],
    config: MetricsConfig,
    kind: ReportKind,
    length: IntervalLength,
    from: Timestamp,
    to: Timestamp,
) -> Result<Report, AnalyticsError> {
    build_report_of_queues(events, &[], config, kind, length, from, to)
}

/// [`build_report`] for a journal that may begin after the queues were
/// added: `queues` (tenant, definition as configured now) are defined first
/// ([`MetricsEngine::define_queue`]), so their thresholds, per-channel
/// targets and business hours count; a `queue_added` event in `events`
/// still wins from its instant.
///
/// # Errors
/// [`AnalyticsError::Config`] when `config` is invalid.
pub fn build_report_of_queues(
    events: &[Event],
    queues: &[(TenantId, QueueDefinition)],
    config: MetricsConfig,
    kind: ReportKind,
    length: IntervalLength,
    from: Timestamp,
    to: Timestamp,
) -> Result<Report, AnalyticsError> {
    let mut engine = MetricsEngine::for_reports(config)?;
    for (tenant, definition) in queues {
        engine.define_queue(tenant, definition);
    }
    engine.apply_all(events);
    engine.advance(to);
    Ok(engine.report(kind, length, from, to))
}
