//! Erlang B, Erlang C and Erlang A (M/M/N+M, Palm's model with exponential
//! patience), and the staffing table built from them.
//!
//! Everything goes through the Erlang B recursion
//! `B(0) = 1, B(n) = A·B(n−1) / (n + A·B(n−1))`, never factorials or powers,
//! so it stays exact for centers of 10,000 calls per hour and more.
//!
//! ```
//! use callcore_sim::erlang::{erlang_c, StaffingInput, staffing_table};
//! // 200 calls/h of 180 s: 10 erlangs.
//! let c = erlang_c(12, 10.0);
//! assert!((c - 0.4494).abs() < 1e-3);
//! let table = staffing_table(&StaffingInput {
//!     calls_per_hour: 200.0, aht_secs: 180.0, target_answer_secs: 20.0,
//!     service_level: 0.8, patience_secs: None,
//! }).unwrap();
//! assert_eq!(table.recommended, 14);
//! ```

use crate::error::{SimError, invalid};
use serde::Serialize;

/// Erlang B: probability that a call finds all `n` servers busy and is lost,
/// offered `a` erlangs.
#[must_use]
pub fn erlang_b(n: u32, a: f64) -> f64 {
    let mut b = 1.0;
    for k in 1..=n {
        b = a * b / (f64::from(k) + a * b);
    }
    b
}

/// Erlang C: probability that a call waits, `n` agents, `a` erlangs; 1 when
/// `n ≤ a` (the queue grows without bound).
#[must_use]
pub fn erlang_c(n: u32, a: f64) -> f64 {
    let nf = f64::from(n);
    if nf <= a {
        return 1.0;
    }
    let b = erlang_b(n, a);
    nf * b / (nf - a * (1.0 - b))
}

/// Erlang C figures for one agent count.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ErlangCFigures {
    /// Probability of waiting.
    pub p_wait: f64,
    /// Average speed of answer, seconds: `P(wait)·AHT/(N−A)`.
    pub asa_secs: f64,
    /// Fraction answered within T: `1 − P(wait)·e^(−(N−A)·T/AHT)`.
    pub service_level: f64,
    /// `A/N`.
    pub occupancy: f64,
}

/// Erlang C figures, or `None` when `n ≤ a`.
#[must_use]
pub fn erlang_c_figures(n: u32, a: f64, aht_secs: f64, target_secs: f64) -> Option<ErlangCFigures> {
    let nf = f64::from(n);
    if nf <= a {
        return None;
    }
    let p_wait = erlang_c(n, a);
    Some(ErlangCFigures {
        p_wait,
        asa_secs: p_wait * aht_secs / (nf - a),
        service_level: 1.0 - p_wait * (-(nf - a) * target_secs / aht_secs).exp(),
        occupancy: a / nf,
    })
}

/// Erlang A figures (M/M/N+M) for one agent count.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ErlangAFigures {
    /// Probability that an arriving caller waits (all agents busy).
    pub p_wait: f64,
    /// Probability that a caller abandons.
    pub p_abandon: f64,
    /// Mean wait of all callers (answered and abandoned), seconds: `E[Lq]/λ`.
    pub asa_secs: f64,
    /// Fraction of all callers answered within the target.
    pub service_level: f64,
    /// Carried load per agent: `λ·(1 − P(abandon))/(N·μ)`.
    pub occupancy: f64,
}

/// Erlang A: `n` agents, `calls_per_hour`, mean handle `aht_secs`, mean
/// patience `patience_secs` (exponential), target answer time `target_secs`.
/// Stable for `n ≥ a` and `n < a` alike (abandonment keeps it stationary).
#[must_use]
pub fn erlang_a(
    n: u32,
    calls_per_hour: f64,
    aht_secs: f64,
    patience_secs: f64,
    target_secs: f64,
) -> ErlangAFigures {
    let lambda = calls_per_hour / 3600.0;
    let mu = 1.0 / aht_secs;
    let theta = 1.0 / patience_secs;
    let a = lambda / mu;
    let nf = f64::from(n);
    // Probabilities relative to π_n. Below n: Σ_{j≤n} π_j/π_n = 1/B(n, a).
    let low = 1.0 / erlang_b(n, a);
    // Above n: ratios r_k = π_{n+k}/π_n = Π_{i≤k} λ/(nμ + iθ).
    let mut ratios = Vec::new();
    let mut r = 1.0;
    let mut high = 0.0;
    for k in 1..2_000_000u32 {
        r *= lambda / (nf * mu + f64::from(k) * theta);
        ratios.push(r);
        high += r;
        if r < 1e-16 * (low + high) && nf * mu + f64::from(k) * theta > lambda {
            break;
        }
    }
    let pi_n = 1.0 / (low + high);
    let p_wait = pi_n * (1.0 + high);
    let lq: f64 = ratios
        .iter()
        .enumerate()
        .map(|(k, r)| (k as f64 + 1.0) * r * pi_n)
        .sum();
    let p_abandon = theta * lq / lambda;
    let asa_secs = lq / lambda;
    // Answered within T: a caller finding k ahead (state n+k) is served after
    // k+1 departures from the head of the line, unless its own patience runs
    // out first. Uniformized pure-death chain over k with absorption into
    // "served" (from k = 0 at rate nμ) or "abandoned" (rate θ).
    let mut dist: Vec<f64> = std::iter::once(pi_n)
        .chain(ratios.iter().map(|r| r * pi_n))
        .collect();
    let waiting_mass: f64 = dist.iter().sum();
    let service_level = if waiting_mass <= 0.0 {
        1.0
    } else {
        let kmax = dist.len() as f64;
        let big = nf * mu + kmax * theta + theta;
        let lt = big * target_secs;
        let mut served = 0.0;
        let mut served_by_t = 0.0;
        // Poisson(lt) weights computed in log space, step by step.
        let mut log_w = -lt;
        let steps = (lt + 12.0 * lt.sqrt() + 30.0) as usize;
        for m in 0..=steps {
            // Mass absorbed into "served" after m steps, weighted by P(N(T) ≥ m)
            // is accumulated as: served_by_t = Σ_m Pois(m) · served(m).
            served_by_t += log_w.exp() * served;
            // One uniformized step.
            let mut next = vec![0.0; dist.len()];
            for (k, p) in dist.iter().enumerate() {
                if *p == 0.0 {
                    continue;
                }
                let down = nf * mu + k as f64 * theta;
                let stay = 1.0 - (down + theta) / big;
                next[k] += p * stay;
                if k == 0 {
                    served += p * down / big;
                } else {
                    next[k - 1] += p * down / big;
                }
            }
            dist = next;
            log_w += lt.ln() - (m as f64 + 1.0).ln();
        }
        ((1.0 - p_wait) + served_by_t).min(1.0)
    };
    ErlangAFigures {
        p_wait,
        p_abandon,
        asa_secs,
        service_level,
        occupancy: (lambda * (1.0 - p_abandon) / (nf * mu)).min(1.0),
    }
}

/// What a capacity planner asks.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StaffingInput {
    /// Offered calls per hour.
    pub calls_per_hour: f64,
    /// Average handle time, seconds.
    pub aht_secs: f64,
    /// The service-level threshold T, seconds.
    pub target_answer_secs: f64,
    /// The fraction to answer within T (0.8 for 80/20).
    pub service_level: f64,
    /// Mean caller patience (switches to Erlang A).
    pub patience_secs: Option<f64>,
}

/// One row of the staffing table. Under Erlang C a row where `N ≤ A` has no
/// steady state: only `p_wait` (1) is given. Under Erlang A (with patience)
/// every row has its figures, understaffed ones included.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct StaffingRow {
    /// Agents.
    pub agents: u32,
    /// Probability of waiting.
    pub p_wait: f64,
    /// Average speed of answer, seconds.
    pub asa_secs: Option<f64>,
    /// Fraction answered within the threshold.
    pub service_level: Option<f64>,
    /// Occupancy.
    pub occupancy: Option<f64>,
    /// Probability of abandoning (Erlang A only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub p_abandon: Option<f64>,
}

/// The table around the answer, and the answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StaffingTable {
    /// The smallest agent count that meets the target.
    pub recommended: u32,
    /// Rows from a few agents below the offered load to a few above the answer.
    pub rows: Vec<StaffingRow>,
}

fn row(input: &StaffingInput, n: u32) -> StaffingRow {
    let a = input.calls_per_hour * input.aht_secs / 3600.0;
    // With patience the queue is stationary at every agent count (callers
    // abandon), so every row has Erlang A figures, understaffed ones included.
    if let Some(patience) = input.patience_secs {
        let f = erlang_a(
            n,
            input.calls_per_hour,
            input.aht_secs,
            patience,
            input.target_answer_secs,
        );
        return StaffingRow {
            agents: n,
            p_wait: f.p_wait,
            asa_secs: Some(f.asa_secs),
            service_level: Some(f.service_level),
            occupancy: Some(f.occupancy),
            p_abandon: Some(f.p_abandon),
        };
    }
    match erlang_c_figures(n, a, input.aht_secs, input.target_answer_secs) {
        Some(f) => StaffingRow {
            agents: n,
            p_wait: f.p_wait,
            asa_secs: Some(f.asa_secs),
            service_level: Some(f.service_level),
            occupancy: Some(f.occupancy),
            p_abandon: None,
        },
        None => StaffingRow {
            agents: n,
            p_wait: 1.0,
            asa_secs: None,
            service_level: None,
            occupancy: None,
            p_abandon: None,
        },
    }
}

/// Builds the staffing table.
///
/// # Errors
/// Non-positive or non-finite inputs, a service level outside (0, 1), or no
/// agent count up to 1,000,000 meeting the target.
pub fn staffing_table(input: &StaffingInput) -> Result<StaffingTable, SimError> {
    let positive = |v: f64| v.is_finite() && v > 0.0;
    if !positive(input.calls_per_hour) {
        return Err(invalid("calls_per_hour", "must be a positive number"));
    }
    if !positive(input.aht_secs) {
        return Err(invalid("aht", "must be a positive number of seconds"));
    }
    if !(input.target_answer_secs.is_finite() && input.target_answer_secs >= 0.0) {
        return Err(invalid(
            "target_answer_secs",
            "must be zero or more seconds",
        ));
    }
    if !(input.service_level > 0.0 && input.service_level < 1.0) {
        return Err(invalid(
            "service_level",
            "must be between 0 and 1 (0.8 for 80%)",
        ));
    }
    if let Some(p) = input.patience_secs
        && !positive(p)
    {
        return Err(invalid("patience", "must be a positive number of seconds"));
    }
    let a = input.calls_per_hour * input.aht_secs / 3600.0;
    const LIMIT: u32 = 1_000_000;
    if a > f64::from(LIMIT) {
        return Err(SimError::Unreachable { limit: LIMIT });
    }
    // The service level only grows with the agent count (Erlang C above the
    // offered load, Erlang A everywhere), so the answer is found by doubling
    // from the offered load, then bisecting. With patience it may lie below
    // the offered load: callers who abandon leave the queue stable there.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let start = (a.floor() as u32).max(1);
    let meets = |n: u32| {
        row(input, n)
            .service_level
            .is_some_and(|sl| sl >= input.service_level)
    };
    let mut recommended = None;
    let mut hi = start;
    let mut lo = if input.patience_secs.is_some() {
        0
    } else {
        start
    };
    while hi <= LIMIT {
        if meets(hi) {
            // the answer is in (lo, hi]
            while hi - lo > 1 {
                let mid = lo + (hi - lo) / 2;
                if meets(mid) {
                    hi = mid;
                } else {
                    lo = mid;
                }
            }
            recommended = Some(hi);
            break;
        }
        lo = hi;
        hi = hi
            .saturating_add(hi.div_ceil(8).max(1))
            .min(LIMIT.saturating_add(1));
    }
    let recommended = recommended.ok_or(SimError::Unreachable { limit: LIMIT })?;
    let low = start.min(recommended).saturating_sub(2).max(1);
    let rows = (low..=recommended + 3).map(|n| row(input, n)).collect();
    Ok(StaffingTable { recommended, rows })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn erlang_b_and_c_match_published_tables() {
        // Erlang B: 10 erlangs, 15 trunks ≈ 3.65 %.
        assert!((erlang_b(15, 10.0) - 0.0365).abs() < 1e-4);
        // Erlang C: 10 erlangs, 11 agents ≈ 68.2 %, 13 agents ≈ 28.6 %.
        assert!((erlang_c(11, 10.0) - 0.6821).abs() < 1e-3);
        assert!((erlang_c(13, 10.0) - 0.2853).abs() < 1e-3);
        assert!((erlang_c(10, 10.0) - 1.0).abs() < 1e-12);
    }

    #[test]
    fn large_centers_stay_finite() {
        // 10,000 calls/h of 180 s: 500 erlangs.
        let c = erlang_c(520, 500.0);
        assert!(c.is_finite() && c > 0.0 && c < 1.0, "{c}");
        let t = staffing_table(&StaffingInput {
            calls_per_hour: 100_000.0,
            aht_secs: 300.0,
            target_answer_secs: 20.0,
            service_level: 0.9,
            patience_secs: None,
        })
        .unwrap();
        assert!(
            t.recommended > 8333 && t.recommended < 8500,
            "{}",
            t.recommended
        );
    }

    #[test]
    fn erlang_a_tends_to_erlang_c_with_infinite_patience() {
        let a = erlang_a(12, 200.0, 180.0, 1e9, 20.0);
        let c = erlang_c_figures(12, 10.0, 180.0, 20.0).unwrap();
        assert!(
            (a.p_wait - c.p_wait).abs() < 1e-4,
            "{} {}",
            a.p_wait,
            c.p_wait
        );
        assert!(
            (a.asa_secs - c.asa_secs).abs() < 0.05,
            "{} {}",
            a.asa_secs,
            c.asa_secs
        );
        assert!(
            (a.service_level - c.service_level).abs() < 1e-3,
            "{} {}",
            a.service_level,
            c.service_level
        );
        assert!(a.p_abandon < 1e-6);
    }

    #[test]
    fn erlang_a_is_stationary_when_understaffed() {
        let f = erlang_a(8, 200.0, 180.0, 60.0, 20.0);
        eprintln!("{f:?}");
        assert!(f.p_wait > 0.6 && f.p_wait <= 1.0);
        assert!(f.p_abandon > 0.1 && f.p_abandon < 0.5, "{}", f.p_abandon);
        assert!(f.occupancy <= 1.0);
    }

    #[test]
    fn overloaded_rows_have_erlang_a_figures_with_patience() {
        // 6,000 calls/h of 300 s: 500 erlangs; patience 300 s.
        let input = StaffingInput {
            calls_per_hour: 6000.0,
            aht_secs: 300.0,
            target_answer_secs: 20.0,
            service_level: 0.8,
            patience_secs: Some(300.0),
        };
        let t = staffing_table(&input).unwrap();
        let understaffed: Vec<_> = t.rows.iter().filter(|r| r.agents <= 500).collect();
        assert!(!understaffed.is_empty());
        for r in understaffed {
            let sl = r.service_level.expect("finite with patience");
            assert!(sl.is_finite() && (0.0..1.0).contains(&sl), "{r:?}");
            assert!(r.p_wait < 1.0 && r.p_abandon.is_some(), "{r:?}");
        }
        // the answer is the smallest count that meets the target
        let at = |n| row(&input, n).service_level.unwrap();
        assert!(at(t.recommended) >= 0.8, "{t:?}");
        assert!(at(t.recommended - 1) < 0.8, "{t:?}");
    }

    #[test]
    fn bad_inputs_are_named() {
        let e = staffing_table(&StaffingInput {
            calls_per_hour: -1.0,
            aht_secs: 180.0,
            target_answer_secs: 20.0,
            service_level: 0.8,
            patience_secs: None,
        })
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid `calls_per_hour`: must be a positive number"
        );
    }
}
