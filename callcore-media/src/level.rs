//! Signal levels: dBm0 for G.711 audio, and a deterministic noise source for tests,
//! benches and comfort noise.

/// Peak amplitude (16-bit linear) of a 0 dBm0 sine: the G.711 digital milliwatt.
pub const DBM0_PEAK: f64 = 22_580.0;

/// Peak amplitude of a sine at `dbm0`.
pub fn dbm0_to_peak(dbm0: f64) -> f64 {
    DBM0_PEAK * 10f64.powf(dbm0 / 20.0)
}

/// The level in dBm0 of a sine whose mean power (mean of x²) is `power`.
pub fn power_to_dbm0(power: f64) -> f64 {
    let ref_power = DBM0_PEAK * DBM0_PEAK / 2.0;
    if power <= 0.0 {
        return -120.0;
    }
    10.0 * (power / ref_power).log10()
}

/// Mean power (mean of x²) of a block of samples.
pub fn mean_power(samples: &[i16]) -> f64 {
    if samples.is_empty() {
        return 0.0;
    }
    samples
        .iter()
        .map(|&s| f64::from(s) * f64::from(s))
        .sum::<f64>()
        / samples.len() as f64
}

/// A small seeded xorshift generator: deterministic noise without a dependency.
#[derive(Debug, Clone)]
pub struct Noise {
    state: u64,
}

impl Noise {
    /// A generator from `seed` (0 is replaced by a fixed constant).
    pub fn new(seed: u64) -> Self {
        Noise {
            state: if seed == 0 {
                0x9E37_79B9_7F4A_7C15
            } else {
                seed
            },
        }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.state;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.state = x;
        x
    }

    /// Uniform in [-1, 1).
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 52) as f64 - 1.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dbm0_round_trip() {
        let amp = dbm0_to_peak(-10.0);
        let power = amp * amp / 2.0;
        assert!((power_to_dbm0(power) + 10.0).abs() < 1e-9);
        assert_eq!(power_to_dbm0(0.0), -120.0);
        let mut n = Noise::new(1);
        let v: Vec<f64> = (0..1000).map(|_| n.next_f64()).collect();
        assert!(v.iter().all(|x| (-1.0..1.0).contains(x)));
        assert!(v.iter().sum::<f64>().abs() < 100.0);
    }
}
