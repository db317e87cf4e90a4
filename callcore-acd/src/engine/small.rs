//! A short list of dense indices kept inline (no allocation up to
//! [`INLINE`] items): the lanes an interaction waits in, the reservations of
//! an offer, the lanes an agent serves.

use std::ops::{Deref, DerefMut};

/// Items held without allocating.
pub(crate) const INLINE: usize = 6;

/// A list of `u32` indices, inline while short.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum IdxList {
    /// Up to [`INLINE`] items.
    Inline(u8, [u32; INLINE]),
    /// More.
    Heap(Vec<u32>),
}

impl Default for IdxList {
    fn default() -> Self {
        Self::Inline(0, [0; INLINE])
    }
}

impl IdxList {
    /// An empty list.
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// A list of one.
    pub(crate) fn one(i: u32) -> Self {
        let mut items = [0; INLINE];
        items[0] = i;
        Self::Inline(1, items)
    }

    /// Appends an item.
    pub(crate) fn push(&mut self, i: u32) {
        match self {
            Self::Inline(len, items) => {
                let n = usize::from(*len);
                if n < INLINE {
                    items[n] = i;
                    *len += 1;
                } else {
                    let mut v = items.to_vec();
                    v.push(i);
                    *self = Self::Heap(v);
                }
            }
            Self::Heap(v) => v.push(i),
        }
    }

    /// Keeps the items for which `keep` holds.
    pub(crate) fn retain(&mut self, mut keep: impl FnMut(&u32) -> bool) {
        match self {
            Self::Inline(len, items) => {
                let mut out = 0;
                for k in 0..usize::from(*len) {
                    if keep(&items[k]) {
                        items[out] = items[k];
                        out += 1;
                    }
                }
                *len = u8::try_from(out).unwrap_or(0);
            }
            Self::Heap(v) => v.retain(|x| keep(x)),
        }
    }
}

impl Deref for IdxList {
    type Target = [u32];

    fn deref(&self) -> &[u32] {
        match self {
            Self::Inline(len, items) => &items[..usize::from(*len)],
            Self::Heap(v) => v,
        }
    }
}

impl DerefMut for IdxList {
    fn deref_mut(&mut self) -> &mut [u32] {
        match self {
            Self::Inline(len, items) => &mut items[..usize::from(*len)],
            Self::Heap(v) => v,
        }
    }
}

impl<'a> IntoIterator for &'a IdxList {
    type Item = &'a u32;
    type IntoIter = std::slice::Iter<'a, u32>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl IntoIterator for IdxList {
    type Item = u32;
    type IntoIter = std::vec::IntoIter<u32>;

    fn into_iter(self) -> Self::IntoIter {
        match self {
            // Owned items out of an inline array: one short copy.
            #[allow(clippy::unnecessary_to_owned)]
            Self::Inline(len, items) => items[..usize::from(len)].to_vec().into_iter(),
            Self::Heap(v) => v.into_iter(),
        }
    }
}

impl FromIterator<u32> for IdxList {
    fn from_iter<I: IntoIterator<Item = u32>>(iter: I) -> Self {
        let mut out = Self::new();
        for i in iter {
            out.push(i);
        }
        out
    }
}

impl Extend<u32> for IdxList {
    fn extend<I: IntoIterator<Item = u32>>(&mut self, iter: I) {
        for i in iter {
            self.push(i);
        }
    }
}

impl serde::Serialize for IdxList {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.iter())
    }
}

impl<'de> serde::Deserialize<'de> for IdxList {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Vec::<u32>::deserialize(d)?.into_iter().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spills_to_the_heap_and_keeps_order() {
        let mut l = IdxList::one(7);
        for i in 0..10 {
            l.push(i);
        }
        assert!(matches!(l, IdxList::Heap(_)));
        assert_eq!(l.len(), 11);
        assert_eq!(l[0], 7);
        l.retain(|x| x % 2 == 1);
        assert_eq!(&l[..], &[7, 1, 3, 5, 7, 9]);
        let mut s: IdxList = [3, 1, 2].into_iter().collect();
        s.sort_unstable();
        assert_eq!(&s[..], &[1, 2, 3]);
        s.retain(|x| *x != 2);
        assert_eq!(&s[..], &[1, 3]);
        assert!(s.contains(&3));
    }
}
