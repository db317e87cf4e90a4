//! The view of a campaign a [`PacingStrategy`](crate::PacingStrategy) decides
//! from, with the forecasts a predictive strategy needs.

use super::stats::CampaignStats;
use callcore::Timestamp;
use std::time::Duration;

/// Agents of the campaign by state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AgentCounts {
    /// Logged in (every state but away).
    pub logged_in: u32,
    /// Ready and not reserved for a call or a preview.
    pub idle: u32,
    /// Reserved for a ringing call (progressive) or looking at a preview.
    pub reserved: u32,
    /// Talking to a customer.
    pub talking: u32,
    /// In wrap-up.
    pub wrap_up: u32,
}

/// A busy agent as the forecast sees it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum BusyAgent {
    /// Talking for this long so far.
    Talking(Duration),
    /// In wrap-up, expected to end in this long.
    WrapUp(Duration),
}

/// Abandonment so far under the campaign's rule set.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AbandonmentStatus {
    /// The cap (0.03).
    pub cap: f64,
    /// Calls answered by a person within the rolling period.
    pub answered: u64,
    /// Of which abandoned.
    pub abandoned: u64,
    /// How long a person may wait for an agent.
    pub connect_within: Duration,
}

impl AbandonmentStatus {
    /// Abandoned calls still allowed within the period before the cap is
    /// reached (negative when over).
    #[must_use]
    pub fn budget(&self) -> f64 {
        #[allow(clippy::cast_precision_loss)]
        let b = self.cap * self.answered as f64 - self.abandoned as f64;
        b
    }

    /// The measured rate over the period.
    #[must_use]
    pub fn rate(&self) -> f64 {
        if self.answered == 0 {
            0.0
        } else {
            #[allow(clippy::cast_precision_loss)]
            let r = self.abandoned as f64 / self.answered as f64;
            r
        }
    }
}

/// What a strategy sees when asked how many lines to dial.
#[derive(Debug)]
pub struct PacingSnapshot<'a> {
    /// Now.
    pub now: Timestamp,
    /// Agents by state.
    pub agents: AgentCounts,
    /// Calls dialed and not yet answered or failed.
    pub lines_in_flight: u32,
    /// Calls answered by a person, waiting for an agent.
    pub waiting_for_agent: u32,
    /// Answered calls hearing a notification message (agentless campaigns).
    pub messages_playing: u32,
    /// Leads that may be called now is at least this (0 means none now).
    pub leads_ready: bool,
    /// Abandonment status.
    pub abandonment: AbandonmentStatus,
    /// Measurements.
    pub stats: &'a CampaignStats,
    /// Prior for the answer probability while little is measured.
    pub answer_prior: f64,
    /// Lines per agent for power dialing.
    pub power_ratio: f64,
    /// Ring ages of the lines in flight.
    pub ring_ages: &'a [Duration],
    /// Busy agents.
    pub busy: &'a [BusyAgent],
}

impl PacingSnapshot<'_> {
    /// The measured probability that a new attempt is answered by a person.
    #[must_use]
    pub fn answer_probability(&self) -> f64 {
        self.stats.answer_probability(self.answer_prior)
    }

    /// Mean seconds from dial to a person's answer.
    #[must_use]
    pub fn mean_answer_delay(&self) -> f64 {
        self.stats.answer_delay.mean_or(8.0)
    }

    /// The probability that a line ringing for `age` is still to be answered
    /// by a person (Bayes over the measured answer and failure delays).
    #[must_use]
    pub fn answer_probability_at_age(&self, age: Duration) -> f64 {
        let p = self.answer_probability();
        if age.is_zero() {
            return p;
        }
        let a = age.as_secs_f64();
        let s_ans = if self.stats.answer_delay.is_empty() {
            (-a / 8.0).exp()
        } else {
            self.stats.answer_delay.survival(a)
        };
        let s_fail = self.stats.failure_delay.survival(a);
        let num = p * s_ans;
        let den = num + (1.0 - p) * s_fail;
        if den <= 0.0 { 0.0 } else { num / den }
    }

    /// Mean and variance of the number of lines in flight that a person will
    /// answer.
    #[must_use]
    pub fn expected_answers_in_flight(&self) -> (f64, f64) {
        self.ring_ages.iter().fold((0.0, 0.0), |(m, v), age| {
            let q = self.answer_probability_at_age(*age);
            (m + q, v + q * (1.0 - q))
        })
    }

    /// Mean and variance of the number of agents free within `horizon`:
    /// idle ones, plus busy ones by the measured talk and wrap-up times.
    #[must_use]
    pub fn expected_agents_free_within(&self, horizon: Duration) -> (f64, f64) {
        let h = horizon.as_secs_f64();
        let wrap = self.stats.wrap_time.mean_or(0.0);
        self.busy
            .iter()
            .fold((f64::from(self.agents.idle), 0.0), |(m, v), b| {
                let q = self.free_within(*b, h, wrap);
                (m + q, v + q * (1.0 - q))
            })
    }
}

/// Cumulative forecasts over future instants (see [`PacingSnapshot::forecast`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Forecast {
    /// The instants, from now.
    pub at: Vec<Duration>,
    /// Mean and variance of people answering lines already in flight, by each instant.
    pub answers: Vec<(f64, f64)>,
    /// Mean and variance of agents free by each instant plus the connect time
    /// (idle agents, wrap-ups ending, talks ending), less people already waiting.
    pub agents: Vec<(f64, f64)>,
    /// Probability that a line dialed now is answered by a person by each instant.
    pub new_line: Vec<f64>,
    /// Mean people answering lines already in flight, eventually.
    pub answers_total: f64,
}

impl PacingSnapshot<'_> {
    /// Probability that a person answers within `t` of dialing (measured delays).
    fn answer_delay_cdf(&self, t: f64) -> f64 {
        if self.stats.answer_delay.is_empty() {
            1.0 - (-t / 8.0).exp()
        } else {
            1.0 - self.stats.answer_delay.survival(t)
        }
    }

    /// Probability that an agent busy as `b` is free within `t`.
    fn free_within(&self, b: BusyAgent, t: f64, wrap: f64) -> f64 {
        match b {
            BusyAgent::WrapUp(left) => {
                if left.as_secs_f64() <= t {
                    1.0
                } else {
                    0.0
                }
            }
            BusyAgent::Talking(elapsed) => {
                let talk = &self.stats.talk_time;
                let e = elapsed.as_secs_f64();
                let by = e + t - wrap;
                if by <= e || talk.is_empty() {
                    return 0.0;
                }
                let s_e = talk.survival(e);
                if s_e <= 0.0 {
                    1.0
                } else {
                    ((s_e - talk.survival(by)) / s_e).clamp(0.0, 1.0)
                }
            }
        }
    }

    /// Cumulative forecasts at each instant of `at`: people answering lines in
    /// flight (each line's answer probability and timing conditioned on how long
    /// it has rung), agents becoming free (by `at + connect_within`), and the
    /// answer-time distribution of a line dialed now.
    #[must_use]
    pub fn forecast(&self, at: &[Duration]) -> Forecast {
        let grid: Vec<f64> = at.iter().map(Duration::as_secs_f64).collect();
        let c = self.abandonment.connect_within.as_secs_f64();
        let wrap = self.stats.wrap_time.mean_or(0.0);
        let waiting = f64::from(self.waiting_for_agent);
        let mut answers = vec![(0.0, 0.0); grid.len()];
        let mut agents = vec![(f64::from(self.agents.idle) - waiting, 0.0); grid.len()];
        let mut total = 0.0;
        for age in self.ring_ages {
            let q = self.answer_probability_at_age(*age);
            total += q;
            let a = age.as_secs_f64();
            let before = self.answer_delay_cdf(a);
            let left = (1.0 - before).max(1e-9);
            for (slot, t) in answers.iter_mut().zip(&grid) {
                let r = q * ((self.answer_delay_cdf(a + t) - before) / left).clamp(0.0, 1.0);
                slot.0 += r;
                slot.1 += r * (1.0 - r);
            }
        }
        for b in self.busy {
            for (slot, t) in agents.iter_mut().zip(&grid) {
                let r = self.free_within(*b, t + c, wrap);
                slot.0 += r;
                slot.1 += r * (1.0 - r);
            }
        }
        Forecast {
            new_line: grid.iter().map(|t| self.answer_delay_cdf(*t)).collect(),
            at: at.to_vec(),
            answers,
            agents,
            answers_total: total,
        }
    }
}
