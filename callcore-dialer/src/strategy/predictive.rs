//! Predictive dialing under an abandonment cap.
//!
//! At each decision the strategy forecasts two random quantities over the
//! horizon in which a line dialed now would be answered (the measured mean
//! answer delay plus the rule set's connect time):
//!
//! * `F`, agents free: idle agents, agents whose wrap-up ends within the
//!   horizon, and talking agents by the measured talk-time distribution
//!   conditioned on how long they have talked — minus people already waiting;
//! * `A`, people who will answer: for each line in flight, the probability that
//!   a line ringing that long is still answered by a person (Bayes over the
//!   measured answer and failure delays), plus `p` per new line.
//!
//! With both approximated as normal, the expected overflow `E[(A − F)⁺]` (people
//! answering with no agent for them) has a closed form. The strategy dials the
//! most lines `n` such that
//!
//! 1. the overflow stays within `ρ · E[A]`, where `ρ` is set by an abandonment
//!    budget controller: every person answered raises `log ρ` by `g · t`, every
//!    abandoned one lowers it by `g · (1 − t)`, so the measured rate settles at
//!    the target `t` (a fraction of the cap, 80% by default) whatever the model
//!    error;
//! 2. (hard constraint) the abandoned calls of the rolling period plus the
//!    overflow stay within the cap times the period's answered calls plus
//!    `E[A]`, less a reserve. When the budget is spent the strategy falls back
//!    to never having more lines than idle agents, which cannot abandon.

use super::PacingStrategy;
use crate::pacer::{Forecast, PacingSnapshot};
use std::time::Duration;

/// Tuning of [`PredictiveStrategy`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PredictiveSettings {
    /// The abandonment rate aimed at, as a fraction of the cap (0.8: aim at 2.4%
    /// under a 3% cap).
    pub target_fraction: f64,
    /// Attempts measured before dialing ahead (until then: one line per idle agent).
    pub warmup_attempts: u64,
    /// Never more lines in flight than this many per logged-in agent.
    pub max_lines_per_agent: f64,
    /// The controller's starting overflow allowance `ρ`.
    pub initial_allowance: f64,
    /// The controller's gain `g`.
    pub gain: f64,
    /// Abandoned calls kept in reserve under the hard cap.
    pub reserve: f64,
}

impl Default for PredictiveSettings {
    fn default() -> Self {
        Self {
            target_fraction: 0.8,
            warmup_attempts: 200,
            max_lines_per_agent: 6.0,
            initial_allowance: 0.002,
            gain: 0.02,
            reserve: 0.0,
        }
    }
}

/// Predictive dialing (see the module documentation).
#[derive(Debug, Clone)]
pub struct PredictiveStrategy {
    settings: PredictiveSettings,
    allowance: f64,
    grid: Vec<Duration>,
}

impl PredictiveStrategy {
    /// A strategy with these settings.
    #[must_use]
    pub fn new(settings: PredictiveSettings) -> Self {
        let grid = [
            1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0, 12.0, 15.0, 18.0, 22.0, 26.0,
        ]
        .into_iter()
        .map(Duration::from_secs_f64)
        .collect();
        Self {
            allowance: settings.initial_allowance,
            settings,
            grid,
        }
    }

    /// Whether enough is measured to dial ahead: attempts, and samples of answer
    /// delays, failure delays and talk times (early samples are censored: long
    /// answer delays and long talks finish last).
    fn warmed_up(&self, s: &PacingSnapshot<'_>) -> bool {
        let n = usize::try_from(self.settings.warmup_attempts).unwrap_or(usize::MAX);
        s.agents.logged_in > 0
            && s.stats.attempts_finished >= self.settings.warmup_attempts
            && s.stats.answer_delay.len() >= n / 2
            && s.stats.failure_delay.len() >= n / 2
            && s.stats.talk_time.len() >= n / 5
    }

    /// The controller's current overflow allowance `ρ`.
    #[must_use]
    pub fn allowance(&self) -> f64 {
        self.allowance
    }
}

/// Standard normal density.
fn phi(z: f64) -> f64 {
    (-0.5 * z * z).exp() / (2.0 * std::f64::consts::PI).sqrt()
}

/// Standard normal distribution function (Abramowitz–Stegun 7.1.26 on erf,
/// absolute error below 1.5e-7).
fn big_phi(z: f64) -> f64 {
    let x = z.abs() / std::f64::consts::SQRT_2;
    let t = 1.0 / (1.0 + 0.327_591_1 * x);
    let poly = t
        * (0.254_829_592
            + t * (-0.284_496_736
                + t * (1.421_413_741 + t * (-1.453_152_027 + t * 1.061_405_429))));
    let erf = 1.0 - poly * (-x * x).exp();
    if z >= 0.0 {
        0.5 * (1.0 + erf)
    } else {
        0.5 * (1.0 - erf)
    }
}

/// Expected people answering with no agent for them if `lines` more are
/// dialed: the largest expected excess, over the forecast instants, of people
/// answered by then over agents free by then plus the connect time.
fn expected_overflow(f: &Forecast, lines: f64, p: f64) -> f64 {
    let mut worst: f64 = 0.0;
    for i in 0..f.at.len() {
        let q = p * f.new_line[i];
        let (a_mean, a_var) = f.answers[i];
        let (g_mean, g_var) = f.agents[i];
        let mean = a_mean + lines * q - g_mean;
        let var = a_var + lines * q * (1.0 - q) + g_var;
        worst = worst.max(expected_positive_part(mean, var));
    }
    worst
}

/// `E[X⁺]` for `X ~ N(mean, var)`.
fn expected_positive_part(mean: f64, var: f64) -> f64 {
    let sd = var.max(0.25).sqrt();
    let z = mean / sd;
    mean * big_phi(z) + sd * phi(z)
}

impl PacingStrategy for PredictiveStrategy {
    fn name(&self) -> &'static str {
        "predictive"
    }

    fn lines_to_dial(&mut self, s: &PacingSnapshot<'_>) -> u32 {
        let committed = s.lines_in_flight + s.waiting_for_agent;
        let safe = s.agents.idle.saturating_sub(committed);
        if !self.warmed_up(s) {
            return safe;
        }
        let p = s.answer_probability().clamp(0.0, 1.0);
        if p < 1e-3 {
            return safe;
        }
        let f = s.forecast(&self.grid);
        #[allow(clippy::cast_precision_loss)]
        let (answered, abandoned) = (
            s.abandonment.answered as f64,
            s.abandonment.abandoned as f64,
        );
        let cap = s.abandonment.cap;
        let max_lines = (self.settings.max_lines_per_agent * f64::from(s.agents.logged_in)).floor();
        let mut n = 0u32;
        loop {
            let next = f64::from(n + 1);
            if f64::from(s.lines_in_flight) + next > max_lines {
                break;
            }
            let overflow = expected_overflow(&f, next, p);
            let a_total = f.answers_total + next * p;
            let within_allowance = overflow <= self.allowance * a_total;
            let within_cap =
                abandoned + overflow <= cap * (answered + a_total) - self.settings.reserve;
            if !(within_allowance && within_cap) {
                break;
            }
            n += 1;
        }
        n.max(safe)
    }

    fn on_person_answered(&mut self, s: &PacingSnapshot<'_>, abandoned: bool) {
        let target = s.abandonment.cap * self.settings.target_fraction;
        let step = if abandoned { target - 1.0 } else { target };
        self.allowance = (self.allowance * (self.settings.gain * step).exp()).clamp(1e-4, 0.05);
    }

    fn clone_box(&self) -> Box<dyn PacingStrategy> {
        Box::new(Self::new(self.settings))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normal_helpers_are_accurate() {
        assert!((big_phi(0.0) - 0.5).abs() < 1e-7);
        assert!((big_phi(1.96) - 0.975).abs() < 1e-4);
        assert!((big_phi(-1.96) - 0.025).abs() < 1e-4);
        // E[X+] of a standard normal is 1/sqrt(2π).
        assert!((expected_positive_part(0.0, 1.0) - 0.398_942).abs() < 1e-5);
        assert!(expected_positive_part(-10.0, 1.0) < 1e-6);
        assert!((expected_positive_part(10.0, 1.0) - 10.0).abs() < 1e-6);
    }
}
