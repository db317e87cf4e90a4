//! The figures a simulation reports, per queue and interval, and the
//! strategy comparison table.

use serde::Serialize;
use std::fmt::Write as _;

/// Raw counts, summed as the simulation runs.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Counts {
    /// Interactions that arrived.
    pub offered: u64,
    /// Answered by an agent.
    pub answered: u64,
    /// Answered within the queue's service-level threshold.
    pub answered_in_sl: u64,
    /// The caller hung up first.
    pub abandoned: u64,
    /// Timed out, overflowed or refused.
    pub other: u64,
    /// Did not reach an agent at the moment they arrived.
    pub waited: u64,
    /// Sum of waits of answered interactions, seconds.
    pub wait_answered_secs: f64,
    /// Sum of waits of every ended interaction (answered or not), seconds.
    pub wait_all_secs: f64,
    /// Sum of handle times (talk + wrap-up) of answered interactions, seconds.
    pub handle_secs: f64,
}

impl Counts {
    /// Adds another set of counts.
    pub fn add(&mut self, o: &Self) {
        self.offered += o.offered;
        self.answered += o.answered;
        self.answered_in_sl += o.answered_in_sl;
        self.abandoned += o.abandoned;
        self.other += o.other;
        self.waited += o.waited;
        self.wait_answered_secs += o.wait_answered_secs;
        self.wait_all_secs += o.wait_all_secs;
        self.handle_secs += o.handle_secs;
    }

    /// The ratios.
    #[must_use]
    pub fn figures(&self) -> Figures {
        let per = |n: f64, d: u64| if d == 0 { 0.0 } else { n / d as f64 };
        let ended = self.answered + self.abandoned + self.other;
        Figures {
            offered: self.offered,
            answered: self.answered,
            abandoned: self.abandoned,
            other: self.other,
            service_level: per(self.answered_in_sl as f64, ended),
            asa_secs: per(self.wait_answered_secs, self.answered),
            mean_wait_secs: per(self.wait_all_secs, ended),
            aht_secs: per(self.handle_secs, self.answered),
            p_wait: per(self.waited as f64, ended),
            abandon_rate: per(self.abandoned as f64, ended),
        }
    }
}

/// Figures of one queue (or the center) over one interval (or the run).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Figures {
    /// Interactions that arrived.
    pub offered: u64,
    /// Answered.
    pub answered: u64,
    /// Abandoned.
    pub abandoned: u64,
    /// Timed out, overflowed or refused.
    pub other: u64,
    /// Answered within the threshold ÷ ended interactions.
    pub service_level: f64,
    /// Average speed of answer (answered only), seconds.
    pub asa_secs: f64,
    /// Mean wait of every ended interaction, seconds.
    pub mean_wait_secs: f64,
    /// Average handle time (talk + wrap-up), seconds.
    pub aht_secs: f64,
    /// Fraction that did not reach an agent on arrival.
    pub p_wait: f64,
    /// Fraction abandoned.
    pub abandon_rate: f64,
}

/// One queue's report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QueueReport {
    /// The queue.
    pub queue: String,
    /// The whole run.
    pub total: Figures,
    /// One entry per interval (by arrival time).
    pub intervals: Vec<Figures>,
}

/// What a simulation produced.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SimReport {
    /// Per queue.
    pub queues: Vec<QueueReport>,
    /// The center, whole run.
    pub total: Figures,
    /// The center, per interval.
    pub intervals: Vec<Figures>,
    /// Busy (reserved, busy, wrap-up) ÷ staffed (logged in and not on a
    /// break) time, whole run.
    pub occupancy: f64,
    /// Occupancy per interval.
    pub occupancy_by_interval: Vec<f64>,
    /// Interval length, seconds.
    pub interval_secs: u32,
    /// Simulation events processed (arrivals, ends, shifts, engine timers).
    pub events: u64,
    /// Engine decisions drained.
    pub decisions: u64,
}

impl SimReport {
    /// The per-interval table of the center (and occupancy) as text.
    #[must_use]
    pub fn interval_table(&self) -> String {
        let mut out = String::from(
            "interval  offered answered abandoned  SL%    ASA(s)  AHT(s)  occupancy\n",
        );
        for (i, f) in self.intervals.iter().enumerate() {
            let start = i as u64 * u64::from(self.interval_secs);
            let _ = writeln!(
                out,
                "{:02}:{:02}    {:>8} {:>8} {:>9} {:>5.1} {:>8.1} {:>7.1} {:>9.1}%",
                start / 3600,
                start % 3600 / 60,
                f.offered,
                f.answered,
                f.abandoned,
                f.service_level * 100.0,
                f.asa_secs,
                f.aht_secs,
                self.occupancy_by_interval.get(i).copied().unwrap_or(0.0) * 100.0
            );
        }
        out
    }
}

/// A side-by-side table of strategies run on the same workload.
#[must_use]
pub fn comparison_table(runs: &[(String, SimReport)]) -> String {
    let mut out = format!(
        "{:<20} {:>8} {:>8} {:>9} {:>6} {:>8} {:>8} {:>9}\n",
        "strategy", "offered", "answered", "abandoned", "SL%", "ASA(s)", "AHT(s)", "occupancy"
    );
    for (name, r) in runs {
        let f = r.total;
        let _ = writeln!(
            out,
            "{:<20} {:>8} {:>8} {:>9} {:>6.1} {:>8.1} {:>8.1} {:>8.1}%",
            name,
            f.offered,
            f.answered,
            f.abandoned,
            f.service_level * 100.0,
            f.asa_secs,
            f.aht_secs,
            r.occupancy * 100.0
        );
    }
    out
}
