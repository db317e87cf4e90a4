//! Tags, branches, Call-IDs and the user agent's secrets, from a keyed generator.
//!
//! Each 32-byte block is SHA-256(key ‖ counter): without the key, one block tells
//! nothing about the next, so an off-path attacker who sees a tag or a branch cannot
//! predict the next branch and inject a response into our transactions. Production
//! keys the generator from the operating system ([`IdSeed::Os`], drawn by the tokio
//! driver); tests use [`IdSeed::Fixed`] for ids that repeat run after run. The sans-IO
//! core takes the key as input and reads no hidden randomness.

use sha2::{Digest, Sha256};
use std::fmt;

/// Where a user agent's ids and secrets come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IdSeed {
    /// A key from the operating system's random source: unpredictable (production).
    #[default]
    Os,
    /// A key derived from this number: the same ids every run. Tests and simulations
    /// only — anyone who knows or guesses the number predicts every id.
    Fixed(u64),
}

impl From<u64> for IdSeed {
    fn from(seed: u64) -> Self {
        IdSeed::Fixed(seed)
    }
}

/// A keyed generator of protocol identifiers (see the module docs).
#[derive(Clone)]
pub struct IdGen {
    key: [u8; 32],
    counter: u64,
    block: [u8; 32],
    used: usize,
}

impl fmt::Debug for IdGen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print the key: it predicts every id.
        f.debug_struct("IdGen")
            .field("counter", &self.counter)
            .finish_non_exhaustive()
    }
}

impl IdGen {
    /// A deterministic generator from `seed` (tests: the ids can be predicted).
    pub fn new(seed: u64) -> Self {
        let mut h = Sha256::new();
        h.update(b"callcore-sip ids, fixed seed");
        h.update(seed.to_le_bytes());
        Self::keyed(h.finalize().into())
    }

    /// A generator keyed with `key` (production: 32 bytes from the OS).
    pub fn keyed(key: [u8; 32]) -> Self {
        IdGen {
            key,
            counter: 0,
            block: [0; 32],
            used: 32,
        }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        if self.used + 8 > self.block.len() {
            let mut h = Sha256::new();
            h.update(self.key);
            h.update(self.counter.to_le_bytes());
            self.block = h.finalize().into();
            self.counter = self.counter.wrapping_add(1);
            self.used = 0;
        }
        let mut word = [0u8; 8];
        word.copy_from_slice(&self.block[self.used..self.used + 8]);
        self.used += 8;
        u64::from_le_bytes(word)
    }

    /// A token of 16 hex digits (64 unpredictable bits).
    pub fn token(&mut self) -> String {
        format!("{:016x}", self.next_u64())
    }
}

#[cfg(test)]
mod tests {
    use super::IdGen;

    #[test]
    fn seeded_and_distinct() {
        let mut a = IdGen::new(1);
        let mut b = IdGen::new(1);
        assert_eq!(a.token(), b.token());
        assert_ne!(a.token(), a.token());
        assert_ne!(IdGen::new(2).token(), IdGen::new(1).token());
    }

    #[test]
    fn keyed_generators_differ_and_debug_hides_the_key() {
        let mut a = IdGen::keyed([7; 32]);
        let mut b = IdGen::keyed([8; 32]);
        assert_ne!(a.token(), b.token());
        let shown = format!("{a:?}");
        assert!(!shown.contains("key"), "{shown}");
    }

    #[test]
    fn tokens_are_unique_over_many_blocks() {
        let mut g = IdGen::keyed([1; 32]);
        let all: std::collections::HashSet<String> = (0..10_000).map(|_| g.token()).collect();
        assert_eq!(all.len(), 10_000);
    }
}
