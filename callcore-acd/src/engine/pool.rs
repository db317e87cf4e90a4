//! The free agents of one lane and channel, in rank order, with lazy removal.
//!
//! An agent leaves every pool at once when it is offered something (or stops
//! being routable) and comes back with fresh ranks when it is free again.
//! Instead of deleting its entries one by one, the engine bumps the agent's
//! *stamp*: entries carrying an older stamp are stale and skipped, popped when
//! they reach the front, and swept out when they outnumber the live ones.
//!
//! Ranks that arrive in order (longest-idle: an agent freed now is ranked
//! after everyone freed before) go to the back of a FIFO in O(1); the others
//! go to an ordered tree. The pool's order is the merge of the two.

use crate::strategy::PoolEntry;
use std::collections::{BTreeSet, VecDeque};

/// One pooled agent and the stamp it was pooled under.
pub(crate) type Stamped = (PoolEntry, u32);

/// Entries pooled in rank order, plus the out-of-order ones.
#[derive(Debug, Default)]
pub(crate) struct Pool {
    fifo: VecDeque<Stamped>,
    tree: BTreeSet<Stamped>,
    live: u32,
}

/// Whether a stamped entry is still current.
#[inline]
fn valid(stamps: &[u32], e: &Stamped) -> bool {
    stamps.get(e.0.slot as usize) == Some(&e.1)
}

impl Pool {
    /// Adds an agent's entry under its current stamp.
    #[inline]
    pub(crate) fn insert(&mut self, entry: PoolEntry, stamp: u32) {
        let in_order = self.fifo.back().is_none_or(|b| b.0 <= entry);
        if in_order {
            self.fifo.push_back((entry, stamp));
        } else {
            self.tree.insert((entry, stamp));
        }
        self.live += 1;
    }

    /// One of the pool's entries went stale (the agent's stamp moved on).
    #[inline]
    pub(crate) fn forget_one(&mut self, stamps: &[u32]) {
        self.live = self.live.saturating_sub(1);
        let total = self.fifo.len() + self.tree.len();
        if total > 2 * self.live as usize + 64 {
            self.fifo.retain(|e| valid(stamps, e));
            self.tree.retain(|e| valid(stamps, e));
        }
    }

    /// Pops stale entries off the front of both halves.
    #[inline]
    pub(crate) fn purge_front(&mut self, stamps: &[u32]) {
        while self.fifo.front().is_some_and(|e| !valid(stamps, e)) {
            self.fifo.pop_front();
        }
        while self.tree.first().is_some_and(|e| !valid(stamps, e)) {
            self.tree.pop_first();
        }
    }

    /// Live agents in the pool.
    #[inline]
    pub(crate) fn live(&self) -> u32 {
        self.live
    }

    /// The best live entry.
    pub(crate) fn first(&self, stamps: &[u32]) -> Option<PoolEntry> {
        self.iter(stamps).next()
    }

    /// The first live entry ranked strictly after `after`.
    pub(crate) fn first_after(&self, stamps: &[u32], after: PoolEntry) -> Option<PoolEntry> {
        use std::ops::Bound::{Excluded, Unbounded};
        let start = self.fifo.partition_point(|e| e.0 <= after);
        let a = self
            .fifo
            .range(start..)
            .find(|e| valid(stamps, e))
            .map(|e| e.0);
        let b = self
            .tree
            .range((Excluded((after, u32::MAX)), Unbounded))
            .find(|e| e.0 > after && valid(stamps, e))
            .map(|e| e.0);
        match (a, b) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Every live entry in rank order.
    pub(crate) fn iter<'a>(&'a self, stamps: &'a [u32]) -> impl Iterator<Item = PoolEntry> + 'a {
        Merge {
            a: self.fifo.iter().peekable(),
            b: self.tree.iter().peekable(),
        }
        .filter(move |e| valid(stamps, e))
        .map(|e| e.0)
    }
}

/// Merges two sorted iterators.
struct Merge<A: Iterator, B: Iterator> {
    a: std::iter::Peekable<A>,
    b: std::iter::Peekable<B>,
}

impl<'a, A, B> Iterator for Merge<A, B>
where
    A: Iterator<Item = &'a Stamped>,
    B: Iterator<Item = &'a Stamped>,
{
    type Item = &'a Stamped;

    fn next(&mut self) -> Option<Self::Item> {
        match (self.a.peek(), self.b.peek()) {
            (Some(x), Some(y)) => {
                if x <= y {
                    self.a.next()
                } else {
                    self.b.next()
                }
            }
            (Some(_), None) => self.a.next(),
            (None, _) => self.b.next(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Rank;

    fn e(rank: i64, slot: u32) -> PoolEntry {
        PoolEntry {
            rank: Rank(rank, 0),
            slot,
        }
    }

    #[test]
    fn merges_in_order_and_skips_stale_entries() {
        let mut stamps = vec![0u32; 5];
        let mut p = Pool::default();
        p.insert(e(10, 0), 0);
        p.insert(e(20, 1), 0);
        p.insert(e(5, 2), 0); // out of order: tree
        p.insert(e(30, 3), 0);
        let order: Vec<u32> = p.iter(&stamps).map(|x| x.slot).collect();
        assert_eq!(order, vec![2, 0, 1, 3]);
        stamps[0] += 1;
        p.forget_one(&stamps);
        assert_eq!(p.live(), 3);
        assert_eq!(p.first(&stamps).map(|x| x.slot), Some(2));
        assert_eq!(p.first_after(&stamps, e(5, 2)).map(|x| x.slot), Some(1));
        stamps[2] += 1;
        p.forget_one(&stamps);
        p.purge_front(&stamps);
        assert_eq!(p.first(&stamps).map(|x| x.slot), Some(1));
        // Agent 0 comes back with a later rank.
        p.insert(e(40, 0), 1);
        let order: Vec<u32> = p.iter(&stamps).map(|x| x.slot).collect();
        assert_eq!(order, vec![1, 3, 0]);
    }

    #[test]
    fn stale_entries_are_swept_when_they_outnumber_live_ones() {
        let mut stamps = vec![0u32; 1];
        let mut p = Pool::default();
        for i in 0..1000 {
            p.insert(e(i, 0), stamps[0]);
            stamps[0] += 1;
            p.forget_one(&stamps);
        }
        assert!(p.fifo.len() + p.tree.len() <= 65);
        assert_eq!(p.live(), 0);
        assert!(p.first(&stamps).is_none());
    }
}
