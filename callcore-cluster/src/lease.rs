//! The shard lease keeper: a sans-IO state machine (no tokio, no clock, no
//! database) that decides when a node asks for a shard's lease, renews it,
//! and — the part that matters — when it must stop acting as the shard's
//! owner.
//!
//! The lease itself lives in a database row whose expiry is written with the
//! database's clock ([`crate::ClusterDb`] runs the queries). The keeper never
//! compares its clock with the database's: it measures, with its own
//! monotonic clock, from the moment it *sent* a successful acquisition or
//! renewal. The database wrote `expires_at = db_now + ttl` with a `db_now`
//! no earlier than that send, so the row is valid at least until
//! `sent + ttl` in real time; the keeper stops acting at
//! `sent + ttl - guard` (the guard absorbs a slow local clock and the time
//! between the keeper's check and the write it guards). Clock *offsets*
//! between nodes play no part at all.
//!
//! Every acquisition (a new owner, or the same node after its lease lapsed)
//! gets a new, higher epoch; renewals keep it. Writes made on behalf of the
//! shard carry the epoch and are checked against the row in their own
//! transaction ([`crate::Fence`]), so even a write that left before the
//! keeper's deadline cannot land after another node took over.
//!
//! Shape (as the ACD engine): inputs through `handle_*(…, now)`, outputs
//! drained with [`poll_output`](LeaseKeeper::poll_output) until `None`, time
//! through [`poll_timeout`](LeaseKeeper::poll_timeout) and
//! [`handle_timeout`](LeaseKeeper::handle_timeout).
//!
//! ```
//! use callcore_cluster::{LeaseKeeper, LeaseOutput, LeaseQuery, LeaseReply, LeaseTiming};
//! use std::time::{Duration, Instant};
//!
//! let t0 = Instant::now();
//! let mut keeper = LeaseKeeper::new("tenant-a", "node-1", LeaseTiming::default(), t0);
//! keeper.handle_timeout(t0);
//! let Some(LeaseOutput::Query { id, query: LeaseQuery::Acquire }) = keeper.poll_output() else {
//!     panic!("a contender asks for the lease first");
//! };
//! // The database answered: this node holds the shard at epoch 7.
//! keeper.handle_reply(id, LeaseReply::Granted { epoch: 7 }, t0 + Duration::from_millis(5));
//! assert_eq!(keeper.poll_output(), Some(LeaseOutput::BecameOwner { epoch: 7 }));
//! assert_eq!(keeper.owner_at(t0 + Duration::from_millis(10)), Some(7));
//! // Without a renewal, it stops acting 2.5 s after it sent the acquisition.
//! assert_eq!(keeper.owner_at(t0 + Duration::from_millis(2_500)), None);
//! ```

use crate::ClusterError;
use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// The timing of leases: TTL in the database, renewal and contention
/// periods, the guard kept before the TTL, and how long a query may take
/// before its reply is no longer waited for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct LeaseTiming {
    /// How long a granted or renewed lease is valid in the database (3 s).
    pub ttl: Duration,
    /// How often the owner renews (1 s).
    pub renew_every: Duration,
    /// How often a node that does not hold the lease asks for it (500 ms).
    pub contend_every: Duration,
    /// How long before `send + ttl` the owner stops acting (500 ms).
    pub guard: Duration,
    /// How long a query's reply is waited for before the next query may be
    /// sent (1 s); a reply that arrives later is ignored.
    pub query_timeout: Duration,
}

impl Default for LeaseTiming {
    fn default() -> Self {
        Self {
            ttl: Duration::from_secs(3),
            renew_every: Duration::from_secs(1),
            contend_every: Duration::from_millis(500),
            guard: Duration::from_millis(500),
            query_timeout: Duration::from_secs(1),
        }
    }
}

impl LeaseTiming {
    /// Timing with another TTL, scaling the renewal, contention, guard and
    /// query timeout in the default proportions (1/3, 1/6, 1/6, 1/3).
    #[must_use]
    pub fn with_ttl(ttl: Duration) -> Self {
        Self {
            ttl,
            renew_every: ttl / 3,
            contend_every: ttl / 6,
            guard: ttl / 6,
            query_timeout: ttl / 3,
        }
    }

    /// Checks that an owner can renew at least once before it stops acting.
    ///
    /// # Errors
    /// [`ClusterError::Invalid`] naming the field that breaks it.
    pub fn validate(&self) -> Result<(), ClusterError> {
        let invalid = |field: &'static str, reason: &str| {
            Err(ClusterError::Invalid {
                field,
                reason: reason.to_owned(),
            })
        };
        if self.ttl < Duration::from_millis(10) {
            return invalid("ttl", "must be at least 10 ms");
        }
        if self.guard >= self.ttl {
            return invalid("guard", "must be shorter than the ttl");
        }
        if self.renew_every.is_zero()
            || self.renew_every + self.query_timeout >= self.ttl - self.guard
        {
            return invalid(
                "renew_every",
                "renew_every + query_timeout must be shorter than ttl - guard",
            );
        }
        if self.contend_every.is_zero() || self.query_timeout.is_zero() {
            return invalid("contend_every", "periods must not be zero");
        }
        Ok(())
    }
}

/// A query the glue runs against the lease row, then answers with
/// [`LeaseKeeper::handle_reply`] and the query's id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum LeaseQuery {
    /// Take the lease if it is free or expired (or already this node's), at
    /// a new epoch.
    Acquire,
    /// Extend the lease held at `epoch`, if it is still this node's and not
    /// expired.
    Renew {
        /// The epoch held.
        epoch: u64,
    },
    /// Let the lease at `epoch` expire now (no reply is needed).
    Release {
        /// The epoch held.
        epoch: u64,
    },
}

/// What the database answered to a [`LeaseQuery`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum LeaseReply {
    /// Acquired or renewed: the row is this node's at `epoch`.
    Granted {
        /// The row's epoch.
        epoch: u64,
    },
    /// Not granted: another node holds a live lease, or (for a renewal) the
    /// row is no longer this node's at that epoch or has expired.
    Refused,
    /// The query failed (connection lost, timeout): its outcome is unknown.
    Failed,
}

/// Why a node stopped acting as a shard's owner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum LossReason {
    /// No renewal succeeded before the node's own conservative deadline.
    DeadlinePassed,
    /// The database refused the renewal (the lease expired or was taken).
    RenewalRefused,
    /// A fenced write failed at this epoch.
    Fenced,
    /// The node gave the shard up.
    Released,
}

/// What the keeper asks of its glue, or tells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum LeaseOutput {
    /// Run this query and answer with [`LeaseKeeper::handle_reply`] (not
    /// needed for [`LeaseQuery::Release`]).
    Query {
        /// The id to answer with.
        id: u64,
        /// The query.
        query: LeaseQuery,
    },
    /// This node now owns the shard at `epoch`: restore its state and route.
    BecameOwner {
        /// The fencing epoch of every write from now on.
        epoch: u64,
    },
    /// This node no longer owns the shard: stop routing it now.
    LostOwnership {
        /// The epoch it held.
        epoch: u64,
        /// Why.
        reason: LossReason,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Contender,
    Owner { epoch: u64, valid_until: Instant },
}

#[derive(Debug, Clone, Copy)]
struct InFlight {
    id: u64,
    query: LeaseQuery,
    sent_at: Instant,
}

/// One node's view of one shard's lease (see the module docs).
#[derive(Debug)]
pub struct LeaseKeeper {
    shard: String,
    node: String,
    timing: LeaseTiming,
    role: Role,
    in_flight: Option<InFlight>,
    /// When the next acquisition or renewal is due.
    next_query_at: Instant,
    next_id: u64,
    outputs: VecDeque<LeaseOutput>,
    stopped: bool,
}

impl LeaseKeeper {
    /// A keeper for `shard` on `node` that does not hold the lease yet and
    /// asks for it at the first [`handle_timeout`](Self::handle_timeout)
    /// from `now` on.
    #[must_use]
    pub fn new(
        shard: impl Into<String>,
        node: impl Into<String>,
        timing: LeaseTiming,
        now: Instant,
    ) -> Self {
        Self {
            shard: shard.into(),
            node: node.into(),
            timing,
            role: Role::Contender,
            in_flight: None,
            next_query_at: now,
            next_id: 1,
            outputs: VecDeque::new(),
            stopped: false,
        }
    }

    /// The shard.
    #[must_use]
    pub fn shard(&self) -> &str {
        &self.shard
    }

    /// This node's id (the lease row's `owner`).
    #[must_use]
    pub fn node(&self) -> &str {
        &self.node
    }

    /// The timing in use.
    #[must_use]
    pub fn timing(&self) -> LeaseTiming {
        self.timing
    }

    /// The epoch at which this node may act for the shard at `now`, or
    /// `None`. Checks the deadline itself, so a node that was paused past
    /// it gets `None` even before [`handle_timeout`](Self::handle_timeout)
    /// reports the loss: ask this right before every routing action.
    #[must_use]
    pub fn owner_at(&self, now: Instant) -> Option<u64> {
        match self.role {
            Role::Owner { epoch, valid_until } if now < valid_until => Some(epoch),
            _ => None,
        }
    }

    /// The instant this node stops acting unless a renewal succeeds first.
    #[must_use]
    pub fn valid_until(&self) -> Option<Instant> {
        match self.role {
            Role::Owner { valid_until, .. } => Some(valid_until),
            Role::Contender => None,
        }
    }

    /// The next output, until `None`.
    pub fn poll_output(&mut self) -> Option<LeaseOutput> {
        self.outputs.pop_front()
    }

    /// When [`handle_timeout`](Self::handle_timeout) must be called next
    /// (`None` once stopped).
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.stopped {
            return None;
        }
        let query_due = match self.in_flight {
            Some(f) => f.sent_at + self.timing.query_timeout,
            None => self.next_query_at,
        };
        Some(match self.role {
            Role::Owner { valid_until, .. } => query_due.min(valid_until),
            Role::Contender => query_due,
        })
    }

    /// Time passed: loses the lease at the deadline, gives up on a reply
    /// that takes too long, sends the acquisition or renewal that is due.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.stopped {
            return;
        }
        if let Role::Owner { epoch, valid_until } = self.role
            && now >= valid_until
        {
            self.lose(epoch, LossReason::DeadlinePassed, now);
        }
        if let Some(f) = self.in_flight
            && now >= f.sent_at + self.timing.query_timeout
        {
            tracing::debug!(shard = %self.shard, id = f.id, "lease query timed out");
            self.in_flight = None;
        }
        if self.in_flight.is_some() || now < self.next_query_at {
            return;
        }
        let (query, period) = match self.role {
            Role::Owner { epoch, .. } => (LeaseQuery::Renew { epoch }, self.timing.renew_every),
            Role::Contender => (LeaseQuery::Acquire, self.timing.contend_every),
        };
        self.next_query_at = now + period;
        self.send(query, now);
    }

    /// The database answered query `id`. Replies to queries no longer
    /// waited for (timed out, superseded) are ignored: a lost grant only
    /// delays this node, it never lets it act.
    pub fn handle_reply(&mut self, id: u64, reply: LeaseReply, now: Instant) {
        if self.stopped {
            return;
        }
        let Some(f) = self.in_flight.filter(|f| f.id == id) else {
            return;
        };
        self.in_flight = None;
        let valid_until = f.sent_at + self.timing.ttl - self.timing.guard;
        match (f.query, reply, self.role) {
            (LeaseQuery::Acquire, LeaseReply::Granted { epoch }, Role::Contender) => {
                if now < valid_until {
                    self.role = Role::Owner { epoch, valid_until };
                    self.next_query_at = f.sent_at + self.timing.renew_every;
                    tracing::info!(shard = %self.shard, node = %self.node, epoch, "became shard owner");
                    self.outputs.push_back(LeaseOutput::BecameOwner { epoch });
                } else {
                    // Granted, but too late to use: ask again now (at a new epoch).
                    self.next_query_at = now;
                }
            }
            (
                LeaseQuery::Renew { epoch: asked },
                LeaseReply::Granted { epoch },
                Role::Owner {
                    epoch: held,
                    valid_until: old,
                },
            ) if asked == held && epoch == held => {
                self.role = Role::Owner {
                    epoch,
                    valid_until: old.max(valid_until),
                };
            }
            (
                LeaseQuery::Renew { epoch: asked },
                LeaseReply::Refused,
                Role::Owner { epoch, .. },
            ) if asked == epoch => {
                self.lose(epoch, LossReason::RenewalRefused, now);
                self.next_query_at = now + self.timing.contend_every;
            }
            (LeaseQuery::Renew { .. }, LeaseReply::Failed, Role::Owner { .. }) => {
                // Try again soon; the deadline decides if it keeps failing.
                self.next_query_at = self.next_query_at.min(now + self.timing.contend_every);
            }
            _ => {}
        }
    }

    /// A write fenced at `epoch` was refused by the database: if that is the
    /// epoch held, this node stops acting now.
    pub fn handle_fenced(&mut self, epoch: u64, now: Instant) {
        if let Role::Owner { epoch: held, .. } = self.role
            && held == epoch
        {
            self.lose(epoch, LossReason::Fenced, now);
            self.next_query_at = now + self.timing.contend_every;
        }
    }

    /// A hint (pub/sub) that the shard's lease changed: a contender asks
    /// again at once instead of waiting for its next poll.
    pub fn handle_hint(&mut self, now: Instant) {
        if matches!(self.role, Role::Contender) && self.in_flight.is_none() {
            self.next_query_at = now;
        }
    }

    /// Gives the shard up (shutdown, rebalancing): stops acting now, lets
    /// the row expire at once so that a contender takes it at its next poll,
    /// and asks for nothing more.
    pub fn release(&mut self, now: Instant) {
        if let Role::Owner { epoch, .. } = self.role {
            self.lose(epoch, LossReason::Released, now);
            self.send(LeaseQuery::Release { epoch }, now);
            // A release is not waited for.
            self.in_flight = None;
        }
        self.stopped = true;
    }

    fn lose(&mut self, epoch: u64, reason: LossReason, _now: Instant) {
        self.role = Role::Contender;
        tracing::warn!(shard = %self.shard, node = %self.node, epoch, ?reason, "lost shard ownership");
        self.outputs
            .push_back(LeaseOutput::LostOwnership { epoch, reason });
    }

    fn send(&mut self, query: LeaseQuery, now: Instant) {
        let id = self.next_id;
        self.next_id += 1;
        self.in_flight = Some(InFlight {
            id,
            query,
            sent_at: now,
        });
        self.outputs.push_back(LeaseOutput::Query { id, query });
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic, clippy::disallowed_methods)]
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn query(k: &mut LeaseKeeper) -> (u64, LeaseQuery) {
        loop {
            match k.poll_output() {
                Some(LeaseOutput::Query { id, query }) => return (id, query),
                Some(_) => {}
                None => panic!("no query"),
            }
        }
    }

    fn owned(t0: Instant) -> LeaseKeeper {
        let mut k = LeaseKeeper::new("s", "n1", LeaseTiming::default(), t0);
        k.handle_timeout(t0);
        let (id, q) = query(&mut k);
        assert_eq!(q, LeaseQuery::Acquire);
        k.handle_reply(id, LeaseReply::Granted { epoch: 3 }, t0 + ms(10));
        assert_eq!(k.poll_output(), Some(LeaseOutput::BecameOwner { epoch: 3 }));
        k
    }

    #[test]
    fn default_timing_is_valid_and_bad_timing_names_the_field() {
        LeaseTiming::default().validate().unwrap();
        LeaseTiming::with_ttl(ms(300)).validate().unwrap();
        let t = LeaseTiming {
            renew_every: Duration::from_secs(2),
            ..LeaseTiming::default()
        };
        assert!(matches!(
            t.validate(),
            Err(ClusterError::Invalid {
                field: "renew_every",
                ..
            })
        ));
    }

    #[test]
    fn owner_renews_every_second_and_keeps_acting() {
        let t0 = Instant::now();
        let mut k = owned(t0);
        for i in 1..10u64 {
            let now = t0 + ms(1000 * i);
            k.handle_timeout(now);
            let (id, q) = query(&mut k);
            assert_eq!(q, LeaseQuery::Renew { epoch: 3 });
            k.handle_reply(id, LeaseReply::Granted { epoch: 3 }, now + ms(20));
            assert_eq!(k.owner_at(now + ms(2400)), Some(3));
        }
    }

    #[test]
    fn owner_stops_at_its_own_deadline_when_renewals_fail() {
        let t0 = Instant::now();
        let mut k = owned(t0);
        k.handle_timeout(t0 + ms(1000));
        let (id, _) = query(&mut k);
        k.handle_reply(id, LeaseReply::Failed, t0 + ms(1100));
        assert_eq!(k.owner_at(t0 + ms(2499)), Some(3));
        assert_eq!(k.owner_at(t0 + ms(2500)), None);
        k.handle_timeout(t0 + ms(2500));
        let lost: Vec<_> = std::iter::from_fn(|| k.poll_output()).collect();
        assert!(lost.contains(&LeaseOutput::LostOwnership {
            epoch: 3,
            reason: LossReason::DeadlinePassed
        }));
    }

    #[test]
    fn a_late_grant_is_not_used_and_a_stale_reply_is_ignored() {
        let t0 = Instant::now();
        let mut k = LeaseKeeper::new("s", "n1", LeaseTiming::default(), t0);
        k.handle_timeout(t0);
        let (id, _) = query(&mut k);
        // The reply is waited for 1 s; after that it is ignored.
        k.handle_timeout(t0 + ms(1000));
        let (id2, q2) = query(&mut k);
        assert_eq!(q2, LeaseQuery::Acquire);
        k.handle_reply(id, LeaseReply::Granted { epoch: 1 }, t0 + ms(1001));
        assert_eq!(k.poll_output(), None);
        // Granted, but the reply took longer than ttl - guard: not used.
        k.handle_reply(id2, LeaseReply::Granted { epoch: 2 }, t0 + ms(3600));
        assert_eq!(k.owner_at(t0 + ms(3600)), None);
        assert_eq!(k.poll_output(), None);
    }

    #[test]
    fn refused_renewal_fenced_write_and_release_stop_the_owner() {
        let t0 = Instant::now();
        let mut k = owned(t0);
        k.handle_timeout(t0 + ms(1000));
        let (id, _) = query(&mut k);
        k.handle_reply(id, LeaseReply::Refused, t0 + ms(1010));
        assert_eq!(
            k.poll_output(),
            Some(LeaseOutput::LostOwnership {
                epoch: 3,
                reason: LossReason::RenewalRefused
            })
        );
        let mut k = owned(t0);
        k.handle_fenced(2, t0 + ms(20));
        assert_eq!(k.owner_at(t0 + ms(20)), Some(3));
        k.handle_fenced(3, t0 + ms(20));
        assert_eq!(k.owner_at(t0 + ms(20)), None);
        let mut k = owned(t0);
        k.release(t0 + ms(30));
        let out: Vec<_> = std::iter::from_fn(|| k.poll_output()).collect();
        assert_eq!(
            out,
            vec![
                LeaseOutput::LostOwnership {
                    epoch: 3,
                    reason: LossReason::Released
                },
                LeaseOutput::Query {
                    id: 2,
                    query: LeaseQuery::Release { epoch: 3 }
                }
            ]
        );
        assert_eq!(k.poll_timeout(), None);
    }

    #[test]
    fn contender_polls_every_half_second_and_a_hint_makes_it_ask_now() {
        let t0 = Instant::now();
        let mut k = LeaseKeeper::new("s", "n2", LeaseTiming::default(), t0);
        k.handle_timeout(t0);
        let (id, _) = query(&mut k);
        k.handle_reply(id, LeaseReply::Refused, t0 + ms(5));
        assert_eq!(k.poll_timeout(), Some(t0 + ms(500)));
        k.handle_timeout(t0 + ms(499));
        assert_eq!(k.poll_output(), None);
        k.handle_hint(t0 + ms(100));
        k.handle_timeout(t0 + ms(100));
        assert_eq!(query(&mut k).1, LeaseQuery::Acquire);
    }
}
