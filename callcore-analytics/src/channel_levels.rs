//! Service levels per channel of a queue: each channel's own target (voice
//! 20 s, chat 60 s, e-mail 4 hours…), e-mail's counted in the queue's
//! business hours, folded into a (queue, channel) [`Dimension`] and reported
//! beside the queue's own figures.

use std::collections::BTreeMap;
use std::sync::Arc;

use callcore::{Channel, ChannelServiceLevel, QueueDefinition, QueueId, TenantId, Timestamp};
use serde::{Deserialize, Serialize};

use crate::ServiceLevelFormula;
use crate::business_time::BusinessCalendar;
use crate::counters::Counters;
use crate::dims::Dimension;
use crate::engine::{MetricsEngine, key, ms};

/// The target an interaction waiting in a queue on a channel is measured
/// against.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    threshold_ms: u64,
    /// Business hours the wait is counted in (`None`: wall-clock time).
    calendar: Option<Arc<BusinessCalendar>>,
}

impl Target {
    /// The wait from `since` to `at` counts as met.
    pub(crate) fn met(&self, since: Timestamp, at: Timestamp) -> bool {
        let waited = self
            .calendar
            .as_ref()
            .map_or_else(|| ms(at, since), |c| c.open_millis(since, at));
        waited <= self.threshold_ms
    }
}

/// A queue's per-channel targets, from its definition.
#[derive(Debug, Clone)]
pub(crate) struct QueueTargets {
    definition: QueueDefinition,
    calendar: Option<Arc<BusinessCalendar>>,
}

/// One channel's figures in a queue report row, against its target.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChannelServiceFigures {
    /// The target in seconds (answered within it counts as met).
    pub target_secs: u32,
    /// Counted in the queue's business hours (e-mail SLAs).
    pub business_hours: bool,
    /// The share aimed for, when configured.
    pub goal: Option<f64>,
    /// The channel's counters in the queue (`answered_within_sl` against the
    /// channel's target), to sum rows with.
    pub counters: Counters,
    /// Contacts of the channel that entered the queue.
    pub offered: u64,
    /// … answered by an agent.
    pub answered: u64,
    /// … answered within the target.
    pub answered_within_target: u64,
    /// … abandoned while waiting.
    pub abandoned: u64,
    /// The service level against the target, by the report's formula.
    pub service_level: Option<f64>,
    /// Average wall-clock wait of the answered, seconds.
    pub asa_secs: Option<f64>,
    /// The service level reached the goal (`None` without a goal or a figure).
    pub goal_met: Option<bool>,
}

impl ChannelServiceFigures {
    /// The figures of `counters` against `target`.
    #[must_use]
    pub fn new(
        target: &ChannelServiceLevel,
        counters: &Counters,
        formula: ServiceLevelFormula,
    ) -> Self {
        let summary = counters.summary(formula);
        Self {
            target_secs: target.target_secs,
            business_hours: target.business_hours,
            goal: target.goal,
            counters: *counters,
            offered: counters.offered,
            answered: counters.answered,
            answered_within_target: counters.answered_within_sl,
            abandoned: counters.abandoned,
            service_level: summary.service_level,
            asa_secs: summary.asa_secs,
            goal_met: target
                .goal
                .zip(summary.service_level)
                .map(|(g, sl)| sl >= g),
        }
    }
}

impl MetricsEngine {
    /// Tells the engine a queue's definition: its service-level threshold,
    /// its per-channel targets and business hours (what a `queue_added`
    /// event does; reports replaying a journal that starts after the queue
    /// was added call it first with the queue as configured). Business
    /// hours that cannot be read are logged and the wait counted in
    /// wall-clock time.
    pub fn define_queue(&mut self, tenant: &TenantId, definition: &QueueDefinition) {
        let (dim, _) = self.queue(tenant, &definition.id);
        let k = key(&mut self.scratch, tenant, definition.id.as_str()).to_owned();
        let threshold = u64::from(definition.service_level_secs) * 1000;
        self.queues.insert(k.clone(), (dim, Some(threshold)));
        let calendar = definition
            .hours
            .as_ref()
            .and_then(|h| match BusinessCalendar::new(h) {
                Ok(c) => Some(Arc::new(c)),
                Err(e) => {
                    tracing::warn!(queue = %definition.id, error = %e, "business hours ignored");
                    None
                }
            });
        self.targets.insert(
            k,
            QueueTargets {
                definition: definition.clone(),
                calendar,
            },
        );
    }

    /// The target of `channel` in `queue` (the engine's default threshold
    /// for a queue it has not seen defined).
    fn channel_target(
        &self,
        tenant: &TenantId,
        queue: &QueueId,
        channel: Channel,
    ) -> ChannelServiceLevel {
        let mut k = String::new();
        key(&mut k, tenant, queue.as_str());
        self.targets.get(&k).map_or_else(
            || ChannelServiceLevel {
                channel,
                target_secs: u32::try_from(self.config.default_service_level.as_secs())
                    .unwrap_or(u32::MAX),
                goal: None,
                business_hours: false,
            },
            |t| t.definition.service_level_of(channel),
        )
    }

    /// The (queue, channel) dimension and the target a contact entering the
    /// queue on `channel` is measured against.
    pub(crate) fn queue_channel(
        &mut self,
        tenant: &TenantId,
        queue: &QueueId,
        channel: Channel,
    ) -> (u32, Target) {
        let dim = self.dims.id(Dimension::queue_channel(
            tenant.clone(),
            queue.clone(),
            channel,
        ));
        let level = self.channel_target(tenant, queue, channel);
        let mut k = String::new();
        key(&mut k, tenant, queue.as_str());
        let calendar = level
            .business_hours
            .then(|| self.targets.get(&k).and_then(|t| t.calendar.clone()))
            .flatten();
        (
            dim,
            Target {
                threshold_ms: u64::from(level.target_secs) * 1000,
                calendar,
            },
        )
    }

    /// Counts an answer in the contact's (queue, channel) dimension
    /// against its target.
    pub(crate) fn answer_queue_channel(
        &mut self,
        per_channel: Option<(u32, Target)>,
        since: Timestamp,
        at: Timestamp,
    ) {
        let Some((dim, target)) = per_channel else {
            return;
        };
        let (wait, within) = (ms(at, since), target.met(since, at));
        self.bump(at, &[Some(dim)], &|k| {
            k.answered += 1;
            k.answered_wait_ms += wait;
            k.answered_within_sl += u64::from(within);
            k.removed_within_sl += u64::from(within);
        });
    }

    /// Counts a contact leaving the queue without an agent (abandoned, or
    /// exited) in its (queue, channel) dimension against its target.
    pub(crate) fn leave_queue_channel(
        &mut self,
        per_channel: Option<(u32, Target)>,
        since: Timestamp,
        at: Timestamp,
        abandoned: bool,
    ) {
        let Some((dim, target)) = per_channel else {
            return;
        };
        let short = u64::try_from(self.config.short_abandon.as_millis()).unwrap_or(u64::MAX);
        let (wait, within) = (ms(at, since), target.met(since, at));
        self.bump(at, &[Some(dim)], &|k| {
            if abandoned {
                k.abandoned += 1;
                k.abandoned_wait_ms += wait;
                k.short_abandoned += u64::from(wait < short);
                k.abandoned_within_sl += u64::from(within);
            } else {
                k.exited += 1;
            }
            k.removed_within_sl += u64::from(within);
        });
    }

    /// The per-channel figures of `queue` over `from <= t < to` (15-minute
    /// buckets), one entry per channel seen, keyed by the channel's name.
    pub(crate) fn channel_figures(
        &self,
        tenant: &TenantId,
        queue: &QueueId,
        from: i64,
        to: i64,
    ) -> BTreeMap<String, ChannelServiceFigures> {
        let formula = self.config.service_level;
        let mut out = BTreeMap::new();
        for channel in Channel::ALL {
            let dim = Dimension::queue_channel(tenant.clone(), queue.clone(), channel);
            let Some(id) = self.dims.lookup(&dim) else {
                continue;
            };
            let counters = self.quarters.sum(id, from, to);
            if counters == Counters::default() {
                continue;
            }
            let target = self.channel_target(tenant, queue, channel);
            out.insert(
                channel.as_str().to_owned(),
                ChannelServiceFigures::new(&target, &counters, formula),
            );
        }
        out
    }
}
