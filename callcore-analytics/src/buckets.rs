//! Counters per time bucket and dimension.

use crate::counters::Counters;
use std::collections::{BTreeMap, HashMap};

/// Counters in buckets of a fixed width, aligned to the Unix epoch.
#[derive(Debug, Clone)]
pub(crate) struct Buckets {
    width_ms: i64,
    retention_ms: Option<i64>,
    /// Per bucket start, counters indexed by dimension id (dense).
    map: BTreeMap<i64, Vec<Counters>>,
}

impl Buckets {
    pub fn new(width_ms: i64, retention_ms: Option<i64>) -> Self {
        Self {
            width_ms,
            retention_ms,
            map: BTreeMap::new(),
        }
    }

    pub const fn width_ms(&self) -> i64 {
        self.width_ms
    }

    /// Start of the bucket holding `at_ms`.
    pub const fn start_of(&self, at_ms: i64) -> i64 {
        at_ms.div_euclid(self.width_ms) * self.width_ms
    }

    pub fn add(&mut self, at_ms: i64, dim: u32, f: &dyn Fn(&mut Counters)) {
        let start = self.start_of(at_ms);
        let dims = self.map.entry(start).or_default();
        let i = dim as usize;
        if dims.len() <= i {
            dims.resize(i + 1, Counters::default());
        }
        f(&mut dims[i]);
    }

    /// Sum of one dimension's buckets starting in `from_ms <= start < to_ms`.
    pub fn sum(&self, dim: u32, from_ms: i64, to_ms: i64) -> Counters {
        let mut total = Counters::default();
        for (_, dims) in self.map.range(from_ms..to_ms) {
            if let Some(c) = dims.get(dim as usize) {
                total += c;
            }
        }
        total
    }

    /// Sums of every dimension's buckets starting in `from_ms <= start < to_ms`.
    pub fn sum_all(&self, from_ms: i64, to_ms: i64) -> HashMap<u32, Counters> {
        let mut out: HashMap<u32, Counters> = HashMap::new();
        for (_, dims) in self.map.range(from_ms..to_ms) {
            for (dim, c) in dims.iter().enumerate() {
                if *c != Counters::default() {
                    *out.entry(u32::try_from(dim).unwrap_or(u32::MAX))
                        .or_default() += c;
                }
            }
        }
        out
    }

    /// Drops buckets that ended more than the retention before `now_ms`.
    pub fn prune(&mut self, now_ms: i64) {
        if let Some(r) = self.retention_ms {
            let keep_from = self.start_of(now_ms.saturating_sub(r));
            self.map = self.map.split_off(&keep_from);
        }
    }

    /// The earliest bucket kept.
    #[cfg(test)]
    pub fn first_start(&self) -> Option<i64> {
        self.map.keys().next().copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_align_sum_and_prune() {
        let mut b = Buckets::new(60_000, Some(120_000));
        b.add(59_999, 1, &|c| c.offered += 1);
        b.add(60_000, 1, &|c| c.offered += 2);
        b.add(-1, 1, &|c| c.offered += 4);
        assert_eq!(b.start_of(-1), -60_000);
        assert_eq!(b.sum(1, 0, 120_000).offered, 3);
        assert_eq!(b.sum(1, -60_000, 60_000).offered, 5);
        assert_eq!(b.sum(2, -60_000, 120_000).offered, 0);
        b.prune(180_000);
        assert_eq!(b.first_start(), Some(60_000));
    }
}
