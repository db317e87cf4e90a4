//! Seeded randomness.
//!
//! Engines never draw from an unseeded source: the caller injects a
//! [`SeededRng`], so that the same seed gives the same run (tests, simulator).

/// A small, fast, seedable pseudo-random generator (xoshiro256**, seeded through
/// SplitMix64). Its sequence for a given seed is fixed forever: simulations stay
/// reproducible across releases. Not for cryptography.
///
/// ```
/// use callcore::SeededRng;
/// let mut a = SeededRng::new(7);
/// let mut b = SeededRng::new(7);
/// assert_eq!(a.next_u64(), b.next_u64());
/// let x = a.next_f64();
/// assert!((0.0..1.0).contains(&x));
/// ```
#[derive(Debug, Clone)]
pub struct SeededRng {
    s: [u64; 4],
}

impl SeededRng {
    /// A generator whose whole sequence is determined by `seed`.
    #[must_use]
    pub fn new(seed: u64) -> Self {
        let mut sm = seed;
        let mut next = || {
            sm = sm.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = sm;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        };
        Self {
            s: [next(), next(), next(), next()],
        }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let result = self.s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = self.s[1] << 17;
        self.s[2] ^= self.s[0];
        self.s[3] ^= self.s[1];
        self.s[1] ^= self.s[2];
        self.s[0] ^= self.s[3];
        self.s[2] ^= t;
        self.s[3] = self.s[3].rotate_left(45);
        result
    }

    /// A uniform float in `[0, 1)`.
    pub fn next_f64(&mut self) -> f64 {
        // 53 random mantissa bits.
        #[allow(clippy::cast_precision_loss)]
        let v = (self.next_u64() >> 11) as f64;
        v * (1.0 / (1u64 << 53) as f64)
    }

    /// A uniform integer in `[0, bound)`; `bound` 0 returns 0.
    pub fn below(&mut self, bound: u64) -> u64 {
        if bound == 0 {
            return 0;
        }
        // Lemire's multiply-shift with rejection: unbiased.
        loop {
            let x = self.next_u64();
            let m = u128::from(x) * u128::from(bound);
            #[allow(clippy::cast_possible_truncation)]
            let low = m as u64;
            if low >= bound.wrapping_neg() % bound {
                #[allow(clippy::cast_possible_truncation)]
                return (m >> 64) as u64;
            }
        }
    }

    /// An exponentially distributed value with the given mean.
    pub fn exponential(&mut self, mean: f64) -> f64 {
        // 1 - u is in (0, 1], so ln never sees 0.
        -mean * (1.0 - self.next_f64()).ln()
    }

    /// A standard normal value (Box–Muller).
    pub fn standard_normal(&mut self) -> f64 {
        let u1 = 1.0 - self.next_f64();
        let u2 = self.next_f64();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }

    /// A log-normal value with the given mean and standard deviation (of the value
    /// itself, not of its logarithm).
    pub fn lognormal(&mut self, mean: f64, std_dev: f64) -> f64 {
        let variance_ratio = 1.0 + (std_dev * std_dev) / (mean * mean);
        let sigma2 = variance_ratio.ln();
        let mu = mean.ln() - sigma2 / 2.0;
        (mu + sigma2.sqrt() * self.standard_normal()).exp()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_sequence_and_known_first_value() {
        let mut a = SeededRng::new(1);
        let mut b = SeededRng::new(1);
        let xs: Vec<u64> = (0..5).map(|_| a.next_u64()).collect();
        let ys: Vec<u64> = (0..5).map(|_| b.next_u64()).collect();
        assert_eq!(xs, ys);
        assert_ne!(SeededRng::new(2).next_u64(), xs[0]);
    }

    #[test]
    fn below_stays_in_range_and_covers_it() {
        let mut r = SeededRng::new(3);
        let mut seen = [false; 7];
        for _ in 0..1000 {
            let v = r.below(7);
            assert!(v < 7);
            seen[usize::try_from(v).unwrap()] = true;
        }
        assert!(seen.iter().all(|s| *s));
    }

    #[test]
    fn exponential_and_lognormal_means_are_close() {
        let mut r = SeededRng::new(11);
        let n = 200_000;
        let e: f64 = (0..n).map(|_| r.exponential(120.0)).sum::<f64>() / f64::from(n);
        assert!((e - 120.0).abs() < 2.0, "exponential mean {e}");
        let l: f64 = (0..n).map(|_| r.lognormal(120.0, 60.0)).sum::<f64>() / f64::from(n);
        assert!((l - 120.0).abs() < 2.0, "lognormal mean {l}");
    }
}
