//! Node liveness timing in virtual time: a node's [`LivenessDeadline`]
//! against a model of its `cluster_nodes` row (the database's clock is the
//! true time) and a survivor sweeping every 500 ms, with the node's clock
//! off by any offset and ±1 % in rate, renewals and replies delayed (up to
//! 2.5 s) or lost, and the node paused (as `kill -STOP`: its clock runs on,
//! it does nothing). The invariants:
//!
//! - whenever the node acts for its calls (journals), its row is alive and
//!   not declared dead at that true instant: the node and a survivor never
//!   both act for the node's calls;
//! - once declared dead, the row stays dead and the node, when it hears so,
//!   never acts again;
//! - without pauses or long delays the node is never declared dead, and a
//!   pause shorter than the TTL minus a renewal period is survived.
#![allow(clippy::unwrap_used, clippy::panic, clippy::disallowed_methods)]

use callcore_cluster::{LivenessDeadline, LivenessTiming};
use proptest::prelude::*;
use std::time::{Duration, Instant};

/// xorshift64*: the simulation's own seeded randomness.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next() % n }
    }
    fn chance(&mut self, per_mille: u64) -> bool {
        self.below(1000) < per_mille
    }
}

#[derive(Debug, Clone)]
struct Params {
    seed: u64,
    rate_ppm: u64,
    offset_ms: u64,
    /// (start ms, length ms)
    pauses: Vec<(u64, u64)>,
    delay_ms: u64,
    long_delay_per_mille: u64,
    long_delay_ms: u64,
    loss_per_mille: u64,
    sweep_phase_ms: u64,
}

enum Msg {
    /// A renewal reaching the database; `sent` is the node's local send time.
    Renew { sent: Instant },
    /// Its reply reaching the node.
    Reply { sent: Instant, alive: bool },
}

struct Outcome {
    acts: u64,
    acts_after_resume: u64,
    declared_at: Option<u64>,
    node_heard_dead: bool,
}

const TIMING: LivenessTiming = LivenessTiming {
    ttl: Duration::from_secs(2),
    every: Duration::from_millis(500),
    guard: Duration::from_millis(500),
};
const RUN_MS: u64 = 30_000;

fn simulate(p: &Params) -> Outcome {
    let mut rng = Rng(p.seed | 1);
    let base = Instant::now();
    // the node's local clock at true time t (ms)
    let local = |t_ms: u64| {
        base + Duration::from_millis(p.offset_ms) + Duration::from_micros(t_ms * p.rate_ppm / 1000)
    };
    let paused = |t: u64| p.pauses.iter().any(|&(s, l)| t >= s && t < s + l);
    let delay = |rng: &mut Rng| -> Option<u64> {
        if rng.chance(p.loss_per_mille) {
            return None;
        }
        Some(if rng.chance(p.long_delay_per_mille) {
            rng.below(p.long_delay_ms + 1)
        } else {
            rng.below(p.delay_ms + 1)
        })
    };
    // the row: expires at (true ms), declared dead at
    let mut expires_at = TIMING.ttl.as_millis() as u64;
    let mut declared_at: Option<u64> = None;
    let mut node = LivenessDeadline::new(TIMING, local(0));
    let mut next_renew = local(0) + TIMING.every;
    let mut in_flight: Vec<(u64, Msg)> = Vec::new();
    let mut out = Outcome {
        acts: 0,
        acts_after_resume: 0,
        declared_at: None,
        node_heard_dead: false,
    };
    for t in 0..RUN_MS {
        // the database, in arrival order
        let mut arrived: Vec<(u64, Msg)> = Vec::new();
        let mut i = 0;
        while i < in_flight.len() {
            if in_flight[i].0 <= t && matches!(in_flight[i].1, Msg::Renew { .. }) {
                arrived.push(in_flight.swap_remove(i));
            } else {
                i += 1;
            }
        }
        arrived.sort_by_key(|m| m.0);
        for (_, m) in arrived {
            let Msg::Renew { sent } = m else { continue };
            let alive = declared_at.is_none();
            if alive {
                expires_at = t + TIMING.ttl.as_millis() as u64;
            }
            if let Some(d) = delay(&mut rng) {
                in_flight.push((t + d, Msg::Reply { sent, alive }));
            }
        }
        // a survivor's sweep: declare the expired row dead
        if t % 500 == p.sweep_phase_ms && declared_at.is_none() && expires_at < t {
            declared_at = Some(t);
        }
        if paused(t) || node.is_dead() {
            continue;
        }
        // the node: replies, renewal timer, acts
        let mut i = 0;
        while i < in_flight.len() {
            if in_flight[i].0 <= t && matches!(in_flight[i].1, Msg::Reply { .. }) {
                let (_, m) = in_flight.swap_remove(i);
                if let Msg::Reply { sent, alive } = m {
                    if alive {
                        node.renewed(sent);
                    } else {
                        node.declared_dead();
                        out.node_heard_dead = true;
                    }
                }
            } else {
                i += 1;
            }
        }
        let now = local(t);
        if node.is_dead() {
            continue;
        }
        if now >= next_renew {
            next_renew = now + TIMING.every;
            if let Some(d) = delay(&mut rng) {
                in_flight.push((t + d, Msg::Renew { sent: now }));
            }
        }
        if t % 10 == 0 && node.acting_at(now) {
            assert!(
                declared_at.is_none() && t <= expires_at,
                "the node acted at {t} ms with its row expired at {expires_at} ms / declared at \
                 {declared_at:?} ({p:?})"
            );
            out.acts += 1;
            if p.pauses.iter().any(|&(s, l)| t >= s + l) {
                out.acts_after_resume += 1;
            }
        }
    }
    out.declared_at = declared_at;
    out
}

fn params() -> impl Strategy<Value = Params> {
    (
        any::<u64>(),
        990_000u64..=1_010_000,
        0u64..1_000_000,
        prop::collection::vec((1_000u64..25_000, 100u64..6_000), 0..3),
        0u64..100,
        0u64..100,
        0u64..2_500,
        0u64..100,
        0u64..500,
    )
        .prop_map(
            |(seed, rate_ppm, offset_ms, pauses, delay_ms, long, long_ms, loss, phase)| Params {
                seed,
                rate_ppm,
                offset_ms,
                pauses,
                delay_ms,
                long_delay_per_mille: long,
                long_delay_ms: long_ms,
                loss_per_mille: loss,
                sweep_phase_ms: phase,
            },
        )
}

proptest! {
    // Deterministic: a fixed seed.
    #![proptest_config(ProptestConfig {
        cases: 96,
        rng_seed: proptest::test_runner::RngSeed::Fixed(0x6c69_7665),
        ..ProptestConfig::default()
    })]

    /// Whatever the timing, the node never acts while a survivor may.
    #[test]
    fn a_node_never_acts_once_it_may_be_declared_dead(p in params()) {
        let out = simulate(&p);
        // once declared, the row stays dead and the node acts no more after
        // hearing it (the loop skips a dead node: checked by construction);
        // the invariant itself is asserted inside `simulate`
        if out.node_heard_dead {
            prop_assert!(out.declared_at.is_some());
        }
    }
}

fn calm(pauses: Vec<(u64, u64)>) -> Params {
    Params {
        seed: 7,
        rate_ppm: 990_000,
        offset_ms: 123_456,
        pauses,
        delay_ms: 100,
        long_delay_per_mille: 0,
        long_delay_ms: 0,
        loss_per_mille: 0,
        sweep_phase_ms: 250,
    }
}

#[test]
fn a_live_node_is_never_declared_dead() {
    let out = simulate(&calm(vec![]));
    assert_eq!(out.declared_at, None);
    assert!(out.acts > 2_500, "{}", out.acts);
}

#[test]
fn a_pause_shorter_than_the_ttl_is_survived() {
    let out = simulate(&calm(vec![(10_000, 1_200)]));
    assert_eq!(out.declared_at, None);
    assert!(out.acts_after_resume > 1_000);
}

#[test]
fn a_pause_longer_than_the_ttl_is_declared_and_the_node_stops() {
    let out = simulate(&calm(vec![(10_000, 4_000)]));
    let declared = out.declared_at.expect("declared dead");
    assert!(
        (11_500..=13_000).contains(&declared),
        "declared {declared} ms (paused at 10,000)"
    );
    assert!(
        out.node_heard_dead,
        "told at its first renewal after resuming"
    );
    assert_eq!(out.acts_after_resume, 0, "never acts again");
}
