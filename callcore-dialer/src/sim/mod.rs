//! A discrete-event simulation of one outbound campaign in virtual time,
//! driving the real [`Pacer`](crate::Pacer) and strategies.
//!
//! The standard scenario ([`Scenario::default`]): 50 agents, a person
//! answers an attempt with probability 0.3, talk time log-normal with mean
//! 120 s, ring-no-answer after 25 s, wrap-up 10 s, an 8-hour day. The scenario
//! fixes what the issue leaves open, so that runs are comparable:
//! a person answers after a log-normal delay (mean 6 s, sd 3 s); of the
//! attempts no person answers, 10% are busy (after about 3 s) and the rest ring
//! until the 25 s timeout; talk time has a standard deviation of half its mean;
//! in preview mode an agent reads a lead for 5 s and calls it.
//!
//! Randomness comes from callcore's [`SeededRng`](callcore::SeededRng): the same
//! seed gives the same run.

mod run;

pub use run::simulate;

use callcore::DialMode;
use serde::Serialize;

/// The scenario simulated.
#[derive(Debug, Clone, PartialEq)]
pub struct Scenario {
    /// Agents logged in all day.
    pub agents: u32,
    /// Probability that a person answers an attempt, at the start of the day.
    pub answer_prob: f64,
    /// Probability at the end of the day: the probability drifts linearly from
    /// `answer_prob` to this (`None`: no drift).
    pub answer_prob_end: Option<f64>,
    /// Mean talk time, seconds.
    pub talk_mean_secs: f64,
    /// Talk-time standard deviation, seconds.
    pub talk_sd_secs: f64,
    /// Ring time before no answer, seconds.
    pub ring_no_answer_secs: f64,
    /// Wrap-up, seconds.
    pub wrap_up_secs: f64,
    /// Length of the day, hours.
    pub hours: f64,
    /// Mean delay until a person answers, seconds.
    pub answer_delay_mean_secs: f64,
    /// Its standard deviation, seconds.
    pub answer_delay_sd_secs: f64,
    /// Of the attempts no person answers, the share that are busy.
    pub busy_share: f64,
    /// Seconds an agent reads a preview before calling.
    pub preview_secs: f64,
    /// Lines per idle agent in power mode.
    pub power_ratio: f64,
}

impl Default for Scenario {
    fn default() -> Self {
        Self {
            agents: 50,
            answer_prob: 0.3,
            answer_prob_end: None,
            talk_mean_secs: 120.0,
            talk_sd_secs: 60.0,
            ring_no_answer_secs: 25.0,
            wrap_up_secs: 10.0,
            hours: 8.0,
            answer_delay_mean_secs: 6.0,
            answer_delay_sd_secs: 3.0,
            busy_share: 0.1,
            preview_secs: 5.0,
            power_ratio: 2.0,
        }
    }
}

/// What a simulated day measured (the fields `dialer_sim --json` prints).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SimReport {
    /// Dialing mode.
    pub mode: String,
    /// Talk plus wrap-up time over logged-in time.
    pub occupancy: f64,
    /// Answered by a person and not connected to an agent within 2 s, over
    /// answered by a person.
    pub abandonment_rate: f64,
    /// Calls connected to an agent per agent per hour.
    pub connects_per_agent_hour: f64,
    /// Lines dialed.
    pub attempts: u64,
    /// Attempts answered by a person.
    pub answered_by_person: u64,
    /// Of which abandoned.
    pub abandoned: u64,
}

/// The name of a mode as the example's `--mode` spells it.
#[must_use]
pub fn mode_name(mode: DialMode) -> &'static str {
    match mode {
        DialMode::Preview => "preview",
        DialMode::Progressive => "progressive",
        DialMode::Power => "power",
        DialMode::Predictive => "predictive",
        _ => "notification",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small() -> Scenario {
        Scenario {
            agents: 8,
            hours: 0.5,
            ..Scenario::default()
        }
    }

    #[test]
    fn same_seed_same_day_and_progressive_never_abandons() {
        let a = simulate(&small(), DialMode::Predictive, 7).unwrap();
        let b = simulate(&small(), DialMode::Predictive, 7).unwrap();
        assert_eq!(a, b);
        assert!(a.attempts >= a.answered_by_person && a.answered_by_person >= a.abandoned);
        assert!(a.occupancy > 0.0 && a.occupancy <= 1.0);
        let p = simulate(&small(), DialMode::Progressive, 7).unwrap();
        assert_eq!(p.abandoned, 0);
        assert!(p.answered_by_person > 0);
        assert_ne!(simulate(&small(), DialMode::Progressive, 8).unwrap(), p);
    }

    #[test]
    fn bad_scenarios_are_errors() {
        let mut s = small();
        s.answer_prob = 1.5;
        assert!(simulate(&s, DialMode::Power, 1).is_err());
        let mut s = small();
        s.agents = 0;
        assert!(simulate(&s, DialMode::Power, 1).is_err());
        assert!(simulate(&small(), DialMode::Notification, 1).is_err());
    }
}
