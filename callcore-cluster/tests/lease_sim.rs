//! Lease timing in virtual time: several `LeaseKeeper`s against a model of
//! the lease table (the database's clock is the true time), with clock
//! offsets and rate errors between nodes, delayed and lost queries and
//! replies, and paused nodes (as `kill -STOP`: the local clock runs on, the
//! node does nothing). After every step that acts, the invariants:
//!
//! - a node acts for the shard only while the table says it owns the shard
//!   at that epoch and the lease has not expired (so two nodes never act at
//!   once, and a paused owner that resumes after the TTL never acts);
//! - each epoch is acted on by one node only;
//! - the routing writes, sent after the check with their own delays (a node
//!   may pause with a write in flight) and fenced at the database, land in
//!   epoch order, one node per epoch;
//! - ownership moves on: after a pause of the owner, another node acts.
#![allow(
    clippy::unwrap_used,
    clippy::panic,
    missing_docs,
    clippy::disallowed_methods
)]

use callcore_cluster::{LeaseKeeper, LeaseOutput, LeaseQuery, LeaseReply, LeaseTiming};
use proptest::prelude::*;
use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
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
    /// Per node: local clock rate in parts per million of true time.
    rates_ppm: Vec<u64>,
    /// Per node: local clock offset in ms (a node's clock reads anything).
    offsets_ms: Vec<u64>,
    /// Pauses: (node, start ms, length ms).
    pauses: Vec<(usize, u64, u64)>,
    /// Usual one-way delay bound (ms), and the chance (per mille) and bound
    /// of a long delay.
    delay_ms: u64,
    long_delay_per_mille: u64,
    long_delay_ms: u64,
    /// Chance (per mille) that a query or a reply is lost.
    loss_per_mille: u64,
    /// Simulated time (ms).
    duration_ms: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Ev {
    Wake {
        node: usize,
        generation: u64,
    },
    AtDb {
        node: usize,
        id: u64,
        query: Q,
    },
    Reply {
        node: usize,
        id: u64,
        reply: R,
    },
    Act {
        node: usize,
    },
    /// A routing write on its way to the database, fenced at `epoch`.
    Write {
        node: usize,
        epoch: u64,
    },
    /// The database refused a write: the node hears it.
    Fenced {
        node: usize,
        epoch: u64,
    },
}

// Orderable copies of the keeper's query and reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Q {
    Acquire,
    Renew(u64),
    Release(u64),
}
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum R {
    Granted(u64),
    Refused,
}

#[derive(Debug, Default, Clone, Copy)]
struct Row {
    owner: usize,
    epoch: u64,
    expires_us: u64,
}

struct Node {
    keeper: LeaseKeeper,
    rate_ppm: u64,
    offset_us: u64,
    generation: u64,
    believes: Option<u64>,
}

struct Sim {
    p: Params,
    rng: Rng,
    base: Instant,
    nodes: Vec<Node>,
    row: Option<Row>,
    queue: BinaryHeap<Reverse<(u64, u64, Ev)>>,
    seq: u64,
    /// epoch -> node that acted on it.
    acted: BTreeMap<u64, usize>,
    /// epoch -> (node granted it, true us it was granted).
    granted: BTreeMap<u64, (usize, u64)>,
    /// Writes refused by the fence.
    fenced: u64,
    /// Writes that landed: (true us, epoch); epochs never go back.
    landed: Vec<(u64, u64)>,
    /// epoch -> node whose writes landed at it.
    landed_by: BTreeMap<u64, usize>,
    acts: u64,
    /// (true us, node) of every act.
    log: Vec<(u64, usize)>,
    ttl_us: u64,
}

impl Sim {
    fn new(p: Params) -> Self {
        let base = Instant::now();
        let timing = LeaseTiming::default();
        let mut sim = Self {
            rng: Rng(p.seed | 1),
            base,
            nodes: Vec::new(),
            row: None,
            queue: BinaryHeap::new(),
            seq: 0,
            acted: BTreeMap::new(),
            granted: BTreeMap::new(),
            fenced: 0,
            landed: Vec::new(),
            landed_by: BTreeMap::new(),
            acts: 0,
            log: Vec::new(),
            ttl_us: u64::try_from(timing.ttl.as_micros()).unwrap(),
            p: p.clone(),
        };
        for n in 0..p.rates_ppm.len() {
            let (rate_ppm, offset_us) = (p.rates_ppm[n], p.offsets_ms[n] * 1000);
            let now = base + Duration::from_micros(offset_us);
            sim.nodes.push(Node {
                keeper: LeaseKeeper::new("shard", format!("n{n}"), timing, now),
                rate_ppm,
                offset_us,
                generation: 0,
                believes: None,
            });
            let start = sim.rng.below(700_000);
            sim.push(
                start,
                Ev::Wake {
                    node: n,
                    generation: 0,
                },
            );
            sim.push(start + 1, Ev::Act { node: n });
        }
        sim
    }

    fn push(&mut self, at_us: u64, ev: Ev) {
        self.seq += 1;
        self.queue.push(Reverse((at_us, self.seq, ev)));
    }

    fn local(&self, node: usize, true_us: u64) -> Instant {
        let n = &self.nodes[node];
        let us = n.offset_us + true_us * n.rate_ppm / 1_000_000;
        self.base + Duration::from_micros(us)
    }

    fn true_of(&self, node: usize, at: Instant) -> u64 {
        let n = &self.nodes[node];
        let local_us = u64::try_from(at.duration_since(self.base).as_micros()).unwrap();
        let since = local_us.saturating_sub(n.offset_us);
        // Round up: never wake before the instant asked for.
        (since * 1_000_000).div_ceil(n.rate_ppm)
    }

    fn paused_until(&self, node: usize, t: u64) -> Option<u64> {
        self.p
            .pauses
            .iter()
            .filter(|(n, s, l)| *n == node && t >= s * 1000 && t < (s + l) * 1000)
            .map(|(_, s, l)| (s + l) * 1000)
            .max()
    }

    fn delay(&mut self) -> u64 {
        let ms = if self.rng.chance(self.p.long_delay_per_mille) {
            self.rng.below(self.p.long_delay_ms + 1)
        } else {
            self.rng.below(self.p.delay_ms + 1)
        };
        ms * 1000 + self.rng.below(1000)
    }

    fn drain(&mut self, node: usize, t: u64) {
        while let Some(out) = self.nodes[node].keeper.poll_output() {
            match out {
                LeaseOutput::Query { id, query } => {
                    if self.rng.chance(self.p.loss_per_mille) {
                        continue;
                    }
                    let q = match query {
                        LeaseQuery::Acquire => Q::Acquire,
                        LeaseQuery::Renew { epoch } => Q::Renew(epoch),
                        LeaseQuery::Release { epoch } => Q::Release(epoch),
                        _ => unreachable!(),
                    };
                    let d = self.delay();
                    self.push(t + d, Ev::AtDb { node, id, query: q });
                }
                LeaseOutput::BecameOwner { epoch } => self.nodes[node].believes = Some(epoch),
                LeaseOutput::LostOwnership { epoch, .. } => {
                    assert_eq!(self.nodes[node].believes, Some(epoch));
                    self.nodes[node].believes = None;
                }
                _ => unreachable!(),
            }
        }
        let n = &mut self.nodes[node];
        n.generation += 1;
        let generation = n.generation;
        if let Some(due) = n.keeper.poll_timeout() {
            let at = self.true_of(node, due).max(t);
            self.push(at, Ev::Wake { node, generation });
        }
    }

    fn db(&mut self, node: usize, query: Q, t: u64) -> R {
        let live = |r: &Row| r.expires_us >= t;
        match query {
            Q::Acquire => match self.row {
                Some(r) if r.owner != node && live(&r) => R::Refused,
                other => {
                    let epoch = other.map_or(1, |r| r.epoch + 1);
                    self.granted.insert(epoch, (node, t));
                    self.row = Some(Row {
                        owner: node,
                        epoch,
                        expires_us: t + self.ttl_us,
                    });
                    R::Granted(epoch)
                }
            },
            Q::Renew(e) => match &mut self.row {
                Some(r) if r.owner == node && r.epoch == e && r.expires_us >= t => {
                    r.expires_us = t + self.ttl_us;
                    R::Granted(e)
                }
                _ => R::Refused,
            },
            Q::Release(e) => {
                if let Some(r) = &mut self.row
                    && r.owner == node
                    && r.epoch == e
                {
                    r.expires_us = t.saturating_sub(1);
                }
                R::Refused
            }
        }
    }

    fn run(&mut self) {
        let end = self.p.duration_ms * 1000;
        while let Some(Reverse((t, _, ev))) = self.queue.pop() {
            if t > end {
                break;
            }
            let node = match ev {
                Ev::AtDb { node, id, query } => {
                    // The database does not pause with the node.
                    let reply = self.db(node, query, t);
                    if !matches!(query, Q::Release(_)) && !self.rng.chance(self.p.loss_per_mille) {
                        let d = self.delay();
                        self.push(t + d, Ev::Reply { node, id, reply });
                    }
                    continue;
                }
                Ev::Write { node, epoch } => {
                    self.write_at_db(node, epoch, t);
                    continue;
                }
                Ev::Wake { node, .. }
                | Ev::Reply { node, .. }
                | Ev::Act { node }
                | Ev::Fenced { node, .. } => node,
            };
            if let Some(until) = self.paused_until(node, t) {
                // Frozen: the event waits for the node to run again.
                self.push(until, ev);
                continue;
            }
            let now = self.local(node, t);
            match ev {
                Ev::Wake { generation, .. } => {
                    if generation != self.nodes[node].generation {
                        continue; // superseded by a later wake-up
                    }
                    self.nodes[node].keeper.handle_timeout(now);
                }
                Ev::Reply { id, reply, .. } => {
                    let reply = match reply {
                        R::Granted(epoch) => LeaseReply::Granted { epoch },
                        R::Refused => LeaseReply::Refused,
                    };
                    self.nodes[node].keeper.handle_reply(id, reply, now);
                }
                Ev::Act { .. } => {
                    if let Some(epoch) = self.nodes[node].keeper.owner_at(now) {
                        self.check_act(node, epoch, t);
                    }
                    let next = t + 20_000 + self.rng.below(200_000);
                    self.push(next, Ev::Act { node });
                }
                Ev::Fenced { epoch, .. } => self.nodes[node].keeper.handle_fenced(epoch, now),
                Ev::AtDb { .. } | Ev::Write { .. } => unreachable!(),
            }
            self.drain(node, t);
        }
    }

    /// A node acts at `epoch`: a routing write fenced in the table. The
    /// invariants hold whether the fence lets it through or not.
    fn check_act(&mut self, node: usize, epoch: u64, t: u64) {
        let row = self
            .row
            .unwrap_or_else(|| panic!("n{node} acts at {t}us with no lease row"));
        // No other node holds a live lease, or has held one since this
        // node was granted `epoch`.
        assert!(
            row.owner == node && row.expires_us >= t,
            "n{node} acts at epoch {epoch} at {t}us but the table says {row:?} ({:?})",
            self.p
        );
        assert_eq!(self.granted.get(&epoch).map(|g| g.0), Some(node));
        for (e, (owner, at)) in self.granted.range(epoch..) {
            assert!(
                *owner == node || *at > t,
                "n{node} acts at epoch {epoch} at {t}us after n{owner} was granted epoch {e} at {at}us ({:?})",
                self.p
            );
        }
        assert_eq!(
            self.nodes[node].believes,
            Some(epoch),
            "n{node} acts at epoch {epoch} without having been told it owns it"
        );
        let first = *self.acted.entry(epoch).or_insert(node);
        assert_eq!(
            first, node,
            "epoch {epoch} acted on by n{first} and n{node}"
        );
        self.acts += 1;
        self.log.push((t, node));
        // The write travels to the database (a node may pause right after
        // its check: the write is already on its way).
        if !self.rng.chance(self.p.loss_per_mille) {
            let d = self.delay();
            self.push(t + d, Ev::Write { node, epoch });
        }
    }

    /// The fence, in the write's transaction: this node's row, this epoch,
    /// not expired. What lands must never go back in epoch, and one node per
    /// epoch.
    fn write_at_db(&mut self, node: usize, epoch: u64, t: u64) {
        let ok = self
            .row
            .is_some_and(|r| r.owner == node && r.epoch == epoch && r.expires_us >= t);
        if !ok {
            self.fenced += 1;
            let d = self.delay();
            self.push(t + d, Ev::Fenced { node, epoch });
            return;
        }
        if let Some((at, last)) = self.landed.last() {
            assert!(
                *last <= epoch,
                "a write at epoch {epoch} landed at {t}us after one at epoch {last} at {at}us ({:?})",
                self.p
            );
        }
        let by = *self.landed_by.entry(epoch).or_insert(node);
        assert_eq!(
            by, node,
            "writes of n{by} and n{node} landed at epoch {epoch}"
        );
        self.landed.push((t, epoch));
    }
}

fn params() -> impl Strategy<Value = Params> {
    (
        any::<u64>(),
        2usize..=4,
        prop::collection::vec(990_000u64..=1_010_000, 4),
        prop::collection::vec(0u64..10_000_000, 4),
        prop::collection::vec((0usize..4, 2_000u64..50_000, 100u64..9_000), 0..4),
        0u64..200,
        0u64..60,
        0u64..2_500,
        0u64..80,
    )
        .prop_map(
            |(seed, n, rates, offsets, pauses, delay, long_pm, long_ms, loss)| Params {
                seed,
                rates_ppm: rates[..n].to_vec(),
                offsets_ms: offsets[..n].to_vec(),
                pauses: pauses
                    .into_iter()
                    .map(|(node, s, l)| (node % n, s, l))
                    .collect(),
                delay_ms: delay,
                long_delay_per_mille: long_pm,
                long_delay_ms: long_ms,
                loss_per_mille: loss,
                duration_ms: 60_000,
            },
        )
}

proptest! {
    // Deterministic: a fixed seed (3,000 cases passed when this was written).
    #![proptest_config(ProptestConfig {
        cases: 160,
        rng_seed: proptest::test_runner::RngSeed::Fixed(0x6c65_6173_6573),
        ..ProptestConfig::default()
    })]

    /// At most one node acts at a time and per epoch, whatever the timing.
    #[test]
    fn at_most_one_owner_acts(p in params()) {
        let mut sim = Sim::new(p);
        sim.run();
        prop_assert!(sim.acts > 0, "nobody ever routed the shard");
        prop_assert!(!sim.landed.is_empty() || sim.p.loss_per_mille > 0, "no write landed");
    }
}

/// The scenario of the real-process test in virtual time: n0 owns, is
/// paused for 6 s (twice the TTL); n1 takes over within 4 s of the pause;
/// n0 resumes, never acts again at its old epoch, and learns it lost.
#[test]
fn paused_owner_is_replaced_within_four_seconds_and_never_acts_again() {
    for seed in 1..50u64 {
        let p = Params {
            seed,
            rates_ppm: vec![1_000_000 + seed * 100, 1_000_000 - seed * 100],
            offsets_ms: vec![seed * 7_919, 123],
            pauses: Vec::new(),
            delay_ms: 20,
            long_delay_per_mille: 0,
            long_delay_ms: 0,
            loss_per_mille: 0,
            duration_ms: 3_000,
        };
        let mut sim = Sim::new(p.clone());
        sim.run();
        let owner = sim.row.unwrap().owner;
        let other = 1 - owner;
        // Pause the owner from 3 s to 9 s, run to 15 s.
        let mut p2 = p;
        p2.pauses = vec![(owner, 3_000, 6_000)];
        p2.duration_ms = 15_000;
        let mut sim = Sim::new(p2);
        sim.run();
        let takeover = sim
            .log
            .iter()
            .find(|(t, n)| *n == other && *t >= 3_000_000)
            .map(|(t, _)| *t)
            .expect("the other node takes over");
        assert!(
            takeover - 3_000_000 < 4_000_000,
            "seed {seed}: takeover after {} ms",
            (takeover - 3_000_000) / 1000
        );
        assert!(
            !sim.log.iter().any(|(t, n)| *n == owner && *t >= 3_000_000),
            "seed {seed}: the paused owner acted after its pause"
        );
        assert_eq!(
            sim.nodes[owner].believes, None,
            "seed {seed}: it learned it lost"
        );
    }
}
