//! Tags, branches and Call-IDs from a seeded generator (no hidden randomness).

/// SplitMix64: small, fast, and good enough for protocol identifiers that only need to
/// be unique, not secret. Seed it from the caller.
#[derive(Debug, Clone)]
pub struct IdGen {
    state: u64,
}

impl IdGen {
    /// A generator seeded by the caller.
    pub fn new(seed: u64) -> Self {
        IdGen { state: seed }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A token of 16 hex digits.
    pub fn token(&mut self) -> String {
        format!("{:016x}", self.next_u64())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn seeded_and_distinct() {
        let mut a = super::IdGen::new(1);
        let mut b = super::IdGen::new(1);
        assert_eq!(a.token(), b.token());
        assert_ne!(a.token(), a.token());
    }
}
