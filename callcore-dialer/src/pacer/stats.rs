//! What the pacer measures: answer probability, how long calls take to be
//! answered or to fail, handle times, and abandonment over the rule set's
//! rolling period.

use callcore::Timestamp;
use std::collections::VecDeque;
use std::time::Duration;

/// The most recent `capacity` samples of a duration, kept sorted for quantile
/// and survival queries (insert and evict are O(capacity) memmoves).
#[derive(Debug, Clone)]
pub struct Empirical {
    capacity: usize,
    order: VecDeque<f64>,
    sorted: Vec<f64>,
    sum: f64,
}

impl Empirical {
    /// An empty sample of at most `capacity` values.
    #[must_use]
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            order: VecDeque::new(),
            sorted: Vec::new(),
            sum: 0.0,
        }
    }

    /// Adds a value (seconds), evicting the oldest when full.
    pub fn push(&mut self, x: f64) {
        if !x.is_finite() {
            return;
        }
        if self.order.len() == self.capacity
            && let Some(old) = self.order.pop_front()
        {
            self.sum -= old;
            let i = self.sorted.partition_point(|v| *v < old);
            if i < self.sorted.len() {
                self.sorted.remove(i);
            }
        }
        self.order.push_back(x);
        self.sum += x;
        let i = self.sorted.partition_point(|v| *v <= x);
        self.sorted.insert(i, x);
    }

    /// Samples held.
    #[must_use]
    pub fn len(&self) -> usize {
        self.sorted.len()
    }

    /// Whether no sample is held.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.sorted.is_empty()
    }

    /// Mean, or `default` with no samples.
    #[must_use]
    pub fn mean_or(&self, default: f64) -> f64 {
        if self.sorted.is_empty() {
            default
        } else {
            #[allow(clippy::cast_precision_loss)]
            let n = self.sorted.len() as f64;
            self.sum / n
        }
    }

    /// Fraction of samples greater than `x` (1 with no samples).
    #[must_use]
    pub fn survival(&self, x: f64) -> f64 {
        if self.sorted.is_empty() {
            return 1.0;
        }
        let above = self.sorted.len() - self.sorted.partition_point(|v| *v <= x);
        #[allow(clippy::cast_precision_loss)]
        let r = above as f64 / self.sorted.len() as f64;
        r
    }
}

/// A rolling count of "answered by a person" and "abandoned" over a period,
/// in one-minute buckets.
#[derive(Debug, Clone)]
pub struct AbandonmentLedger {
    period: Duration,
    buckets: VecDeque<(i64, u64, u64)>,
    answered: u64,
    abandoned: u64,
}

impl AbandonmentLedger {
    /// A ledger over `period`.
    #[must_use]
    pub fn new(period: Duration) -> Self {
        Self {
            period,
            buckets: VecDeque::new(),
            answered: 0,
            abandoned: 0,
        }
    }

    fn evict(&mut self, now: Timestamp) {
        let oldest = (now - self.period).as_millis() / 60_000;
        while let Some(&(m, a, b)) = self.buckets.front() {
            if m >= oldest {
                break;
            }
            self.answered -= a;
            self.abandoned -= b;
            self.buckets.pop_front();
        }
    }

    /// Counts one call answered by a person, abandoned or not.
    pub fn record(&mut self, now: Timestamp, abandoned: bool) {
        let minute = now.as_millis() / 60_000;
        match self.buckets.back_mut() {
            Some(b) if b.0 == minute => {
                b.1 += 1;
                b.2 += u64::from(abandoned);
            }
            _ => self.buckets.push_back((minute, 1, u64::from(abandoned))),
        }
        self.answered += 1;
        self.abandoned += u64::from(abandoned);
        self.evict(now);
    }

    /// (answered by a person, abandoned) within the period ending `now`.
    pub fn counts(&mut self, now: Timestamp) -> (u64, u64) {
        self.evict(now);
        (self.answered, self.abandoned)
    }
}

/// Everything the pacer has measured about a campaign.
#[derive(Debug, Clone)]
pub struct CampaignStats {
    /// Recent attempts: whether a person answered (newest last).
    recent_answers: VecDeque<bool>,
    recent_answer_hits: u32,
    /// Recent person answers: whether they were abandoned.
    recent_abandons: VecDeque<bool>,
    recent_abandon_hits: u32,
    window: usize,
    /// Seconds from dial to a person's answer.
    pub answer_delay: Empirical,
    /// Seconds from dial to the end of attempts no person answered.
    pub failure_delay: Empirical,
    /// Seconds of talk of connected calls.
    pub talk_time: Empirical,
    /// Seconds of wrap-up.
    pub wrap_time: Empirical,
    /// Abandonment within the rule set's period.
    pub ledger: AbandonmentLedger,
    /// Attempts finished since the start.
    pub attempts_finished: u64,
}

impl CampaignStats {
    /// Fresh statistics for a rule set measuring over `period`; `window` is
    /// how many recent attempts the answer probability is measured over.
    #[must_use]
    pub fn new(period: Duration, window: usize) -> Self {
        Self {
            recent_answers: VecDeque::new(),
            recent_answer_hits: 0,
            recent_abandons: VecDeque::new(),
            recent_abandon_hits: 0,
            window: window.max(10),
            answer_delay: Empirical::new(400),
            failure_delay: Empirical::new(400),
            talk_time: Empirical::new(400),
            wrap_time: Empirical::new(100),
            ledger: AbandonmentLedger::new(period),
            attempts_finished: 0,
        }
    }

    /// Records a finished attempt: answered by a person or not, after `delay`.
    pub fn record_attempt(&mut self, person: bool, delay: Duration) {
        self.attempts_finished += 1;
        push_window(
            &mut self.recent_answers,
            &mut self.recent_answer_hits,
            self.window,
            person,
        );
        if person {
            self.answer_delay.push(delay.as_secs_f64());
        } else {
            self.failure_delay.push(delay.as_secs_f64());
        }
    }

    /// Records the fate of a call answered by a person.
    pub fn record_person(&mut self, now: Timestamp, abandoned: bool) {
        self.ledger.record(now, abandoned);
        push_window(
            &mut self.recent_abandons,
            &mut self.recent_abandon_hits,
            self.window,
            abandoned,
        );
    }

    /// The probability that an attempt is answered by a person, over the recent
    /// window, shrunk towards `prior` while few attempts are measured.
    #[must_use]
    pub fn answer_probability(&self, prior: f64) -> f64 {
        let n = f64::from(u32::try_from(self.recent_answers.len()).unwrap_or(u32::MAX));
        let weight = 20.0;
        (f64::from(self.recent_answer_hits) + prior * weight) / (n + weight)
    }

    /// Abandoned over answered-by-person among recent person answers (0 with none).
    #[must_use]
    pub fn recent_abandon_rate(&self) -> f64 {
        if self.recent_abandons.is_empty() {
            return 0.0;
        }
        let n = f64::from(u32::try_from(self.recent_abandons.len()).unwrap_or(u32::MAX));
        f64::from(self.recent_abandon_hits) / n
    }
}

fn push_window(q: &mut VecDeque<bool>, hits: &mut u32, cap: usize, v: bool) {
    if q.len() == cap && q.pop_front() == Some(true) {
        *hits -= 1;
    }
    q.push_back(v);
    *hits += u32::from(v);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empirical_keeps_the_newest_sorted() {
        let mut e = Empirical::new(3);
        for x in [5.0, 1.0, 3.0, 10.0] {
            e.push(x);
        }
        assert_eq!(e.len(), 3);
        assert!((e.mean_or(0.0) - 14.0 / 3.0).abs() < 1e-9);
        assert!((e.survival(3.0) - 1.0 / 3.0).abs() < 1e-9);
        assert!((e.survival(0.0) - 1.0).abs() < 1e-9);
    }

    #[test]
    fn ledger_forgets_outside_the_period() {
        let mut l = AbandonmentLedger::new(Duration::from_secs(3600));
        l.record(Timestamp::from_secs(0), true);
        l.record(Timestamp::from_secs(60), false);
        assert_eq!(l.counts(Timestamp::from_secs(120)), (2, 1));
        assert_eq!(l.counts(Timestamp::from_secs(3600 + 90)), (1, 0));
        assert_eq!(l.counts(Timestamp::from_secs(7200 + 120)), (0, 0));
    }

    #[test]
    fn answer_probability_tracks_the_window() {
        let mut s = CampaignStats::new(Duration::from_secs(3600), 10);
        assert!((s.answer_probability(0.3) - 0.3).abs() < 1e-9);
        for i in 0..100 {
            s.record_attempt(i % 2 == 0, Duration::from_secs(5));
        }
        let p = s.answer_probability(0.3);
        assert!(p > 0.35 && p < 0.5, "{p}");
    }
}
