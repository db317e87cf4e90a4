//! Additive counters and the metrics derived from them.
//!
//! Every figure the engine keeps is a sum, so counters of several buckets (a
//! sliding window, an interval, a day) add up, and every ratio or average is
//! derived from the sums at the end — never averaged from averages.

use crate::ServiceLevelFormula;
use serde::{Deserialize, Serialize};
use std::ops::AddAssign;

/// Sums kept per bucket and dimension. Times are in milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[allow(missing_docs)] // each field is documented in the README's metric table
pub struct Counters {
    /// Interactions that arrived (`interaction_created`).
    pub arrived: u64,
    /// Contacts that entered a queue (once per interaction and queue).
    pub offered: u64,
    /// Contacts connected to an agent from a queue.
    pub answered: u64,
    /// … of which within the queue's service-level threshold T.
    pub answered_within_sl: u64,
    /// Total wait of the answered contacts (for ASA).
    pub answered_wait_ms: u64,
    /// Contacts whose caller hung up while waiting.
    pub abandoned: u64,
    /// … of which before the short-abandon threshold.
    pub short_abandoned: u64,
    /// … of which within T.
    pub abandoned_within_sl: u64,
    /// Total wait of the abandoned contacts.
    pub abandoned_wait_ms: u64,
    /// Contacts that left the queue without agent or abandon (overflow,
    /// timeout, queue full, transfer out).
    pub exited: u64,
    /// Contacts removed from the queue (answered, abandoned, exited) within T.
    pub removed_within_sl: u64,
    /// Answered contacts whose conversation ended (the handled count).
    pub handled: u64,
    /// Talk time of handled contacts, without hold.
    pub talk_ms: u64,
    /// Hold time of handled contacts.
    pub hold_ms: u64,
    /// Handled contacts that were put on hold at least once.
    pub held: u64,
    /// After-call work, counted when it ends.
    pub wrap_up_ms: u64,
    /// Transfers.
    pub transferred: u64,
    /// Satisfaction survey answers.
    pub csat_responses: u64,
    /// … that were satisfied (4 or 5 on a 1–5 scale).
    pub csat_satisfied: u64,
    /// Agent time available and idle.
    pub available_ms: u64,
    /// Agent time reserved (an offer ringing).
    pub reserved_ms: u64,
    /// Agent time busy (talking or holding).
    pub busy_ms: u64,
    /// Agent time in after-call work.
    pub wrap_up_state_ms: u64,
    /// Agent time logged in but not ready.
    pub not_ready_ms: u64,
    /// Offers that ended without the agent taking the contact.
    pub offers_missed: u64,
    /// Dial attempts (campaign dimension).
    pub dial_attempts: u64,
    /// … answered by a person.
    pub dial_answered_person: u64,
    /// … answered by a machine.
    pub dial_machine: u64,
    /// … busy, no answer, invalid or congestion.
    pub dial_not_reached: u64,
    /// … answered by a person but abandoned (no agent in time).
    pub dial_abandoned: u64,
    /// … closed with an agent disposition.
    pub dial_agent_disposition: u64,
}

impl AddAssign<&Self> for Counters {
    fn add_assign(&mut self, o: &Self) {
        macro_rules! add {
            ($($f:ident),*) => { $( self.$f += o.$f; )* };
        }
        add!(
            arrived,
            offered,
            answered,
            answered_within_sl,
            answered_wait_ms,
            abandoned,
            short_abandoned,
            abandoned_within_sl,
            abandoned_wait_ms,
            exited,
            removed_within_sl,
            handled,
            talk_ms,
            hold_ms,
            held,
            wrap_up_ms,
            transferred,
            csat_responses,
            csat_satisfied,
            available_ms,
            reserved_ms,
            busy_ms,
            wrap_up_state_ms,
            not_ready_ms,
            offers_missed,
            dial_attempts,
            dial_answered_person,
            dial_machine,
            dial_not_reached,
            dial_abandoned,
            dial_agent_disposition
        );
    }
}

#[allow(clippy::cast_precision_loss)]
fn ratio(num: u64, den: u64) -> Option<f64> {
    (den > 0).then(|| num as f64 / den as f64)
}

#[allow(clippy::cast_precision_loss)]
fn avg_secs(total_ms: u64, count: u64) -> Option<f64> {
    (count > 0).then(|| total_ms as f64 / count as f64 / 1000.0)
}

/// The derived metrics of one set of counters. Ratios are fractions (0.8 =
/// 80 %); averages are seconds; `None` when the denominator is zero.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricsSummary {
    /// The counters the figures come from.
    pub counters: Counters,
    /// answered ÷ offered.
    pub answer_rate: Option<f64>,
    /// abandoned ÷ offered (queued).
    pub abandonment_rate: Option<f64>,
    /// The service level, by the configured formula.
    pub service_level: Option<f64>,
    /// Average speed of answer: wait of answered contacts ÷ answered.
    pub asa_secs: Option<f64>,
    /// Average wait before abandoning.
    pub avg_abandon_secs: Option<f64>,
    /// Average handle time: (talk + hold + after-call work) ÷ handled.
    pub aht_secs: Option<f64>,
    /// Average talk time ÷ handled.
    pub avg_talk_secs: Option<f64>,
    /// Average hold time ÷ handled.
    pub avg_hold_secs: Option<f64>,
    /// Average after-call work ÷ handled.
    pub avg_wrap_up_secs: Option<f64>,
    /// Occupancy: (busy + after-call work) ÷ (busy + after-call work +
    /// available + reserved).
    pub occupancy: Option<f64>,
    /// Customer satisfaction: satisfied answers ÷ answers.
    pub csat: Option<f64>,
    /// Dialer contact rate: answered by a person ÷ attempts.
    pub dial_contact_rate: Option<f64>,
    /// Dialer abandonment rate: abandoned ÷ (answered by a person +
    /// abandoned), i.e. of the live answers, the share no agent took.
    pub dial_abandon_rate: Option<f64>,
}

impl Counters {
    /// The service level by `formula`.
    #[must_use]
    pub fn service_level(&self, formula: ServiceLevelFormula) -> Option<f64> {
        match formula {
            ServiceLevelFormula::OfferedLessShortAbandons => ratio(
                self.answered_within_sl,
                self.offered.saturating_sub(self.short_abandoned),
            ),
            ServiceLevelFormula::AnsweredOnly => ratio(self.answered_within_sl, self.answered),
            ServiceLevelFormula::AnsweredOrAbandonedWithin => ratio(
                self.answered_within_sl + self.abandoned_within_sl,
                self.answered + self.abandoned,
            ),
            ServiceLevelFormula::RemovedFromQueue => ratio(self.removed_within_sl, self.offered),
        }
    }

    /// Every derived metric.
    #[must_use]
    pub fn summary(&self, formula: ServiceLevelFormula) -> MetricsSummary {
        let handling = self.busy_ms + self.wrap_up_state_ms;
        MetricsSummary {
            counters: *self,
            answer_rate: ratio(self.answered, self.offered),
            abandonment_rate: ratio(self.abandoned, self.offered),
            service_level: self.service_level(formula),
            asa_secs: avg_secs(self.answered_wait_ms, self.answered),
            avg_abandon_secs: avg_secs(self.abandoned_wait_ms, self.abandoned),
            aht_secs: avg_secs(self.talk_ms + self.hold_ms + self.wrap_up_ms, self.handled),
            avg_talk_secs: avg_secs(self.talk_ms, self.handled),
            avg_hold_secs: avg_secs(self.hold_ms, self.handled),
            avg_wrap_up_secs: avg_secs(self.wrap_up_ms, self.handled),
            occupancy: ratio(handling, handling + self.available_ms + self.reserved_ms),
            csat: ratio(self.csat_satisfied, self.csat_responses),
            dial_contact_rate: ratio(self.dial_answered_person, self.dial_attempts),
            dial_abandon_rate: ratio(
                self.dial_abandoned,
                self.dial_answered_person + self.dial_abandoned,
            ),
        }
    }
}
