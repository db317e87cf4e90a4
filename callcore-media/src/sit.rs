//! Special information tone (SIT) detection for the dialer: recognises the three
//! rising SIT segments, measures each one's frequency (low/high) and length
//! (short/long) and classifies the code (intercept, vacant code, reorder, no circuit,
//! ineffective other), so a campaign can mark a number invalid.
//!
//! ```
//! use callcore_media::sit::SitDetector;
//! use callcore_media::tones::{SitCode, ToneGenerator};
//! let audio = ToneGenerator::new(SitCode::VacantCode.plan(-24.0), 8000).take_ms(1200);
//! let mut det = SitDetector::new();
//! let hit = audio.chunks(160).find_map(|f| det.process(f)).unwrap();
//! assert_eq!(hit.code, Some(SitCode::VacantCode));
//! ```

use crate::level::power_to_dbm0;
use crate::tones::{SIT_FREQS, SIT_THIRD, SitCode};

const STEP: usize = 80; // 10 ms analysis frames
const FREQS: [f64; 5] = [
    SIT_FREQS[0][0],
    SIT_FREQS[0][1],
    SIT_FREQS[1][0],
    SIT_FREQS[1][1],
    SIT_THIRD,
];

/// A detected SIT.
#[derive(Debug, Clone, PartialEq)]
pub struct SitDetection {
    /// The code, if the encoding is a known one.
    pub code: Option<SitCode>,
    /// Measured (frequency in Hz, length in ms) of the three segments.
    pub segments: [(f64, u32); 3],
}

/// Streaming SIT detector for 8 kHz audio.
#[derive(Debug, Clone)]
pub struct SitDetector {
    coeffs: [f64; 5],
    buf: Vec<f64>,
    /// Closed segments: (frequency index, frames).
    segments: Vec<(usize, u32)>,
    run: Option<(usize, u32)>,
    gap: u32,
    /// Minimum level of a SIT segment in dBm0.
    pub min_level_dbm0: f64,
    done: bool,
}

impl Default for SitDetector {
    fn default() -> Self {
        Self::new()
    }
}

impl SitDetector {
    /// A fresh detector.
    pub fn new() -> Self {
        let coeffs = FREQS.map(|f| 2.0 * (2.0 * std::f64::consts::PI * f / 8000.0).cos());
        SitDetector {
            coeffs,
            buf: Vec::with_capacity(STEP),
            segments: Vec::new(),
            run: None,
            gap: 0,
            min_level_dbm0: -40.0,
            done: false,
        }
    }

    fn classify(&self) -> Option<usize> {
        let n = self.buf.len() as f64;
        let total: f64 = self.buf.iter().map(|x| x * x).sum();
        if total <= 0.0 || power_to_dbm0(total / n) < self.min_level_dbm0 {
            return None;
        }
        let mut best = (0usize, 0.0f64);
        for (k, c) in self.coeffs.iter().enumerate() {
            let (mut s1, mut s2) = (0.0, 0.0);
            for &x in &self.buf {
                let s = x + c * s1 - s2;
                s2 = s1;
                s1 = s;
            }
            let e = 2.0 * (s1 * s1 + s2 * s2 - c * s1 * s2) / n;
            if e > best.1 {
                best = (k, e);
            }
        }
        (best.1 / total >= 0.6).then_some(best.0)
    }

    fn close_run(&mut self) {
        if let Some(r) = self.run.take()
            && r.1 >= 15
        {
            self.segments.push(r);
            if self.segments.len() > 3 {
                self.segments.remove(0);
            }
        }
    }

    fn check(&self) -> Option<SitDetection> {
        let [a, b, c] = self.segments.as_slice() else {
            return None;
        };
        if a.0 > 1 || !(2..=3).contains(&b.0) || c.0 != 4 {
            return None;
        }
        // segment lengths in ms (10 ms frames, +10 ms for the boundary frame lost to mixing)
        let ms = |f: u32| f * 10 + 10;
        let long = |f: u32| ms(f) >= 327;
        if !(200..=500).contains(&ms(a.1)) || !(200..=500).contains(&ms(b.1)) || ms(c.1) < 200 {
            return None;
        }
        let code = SitCode::from_encoding((a.0 == 1, long(a.1), b.0 == 3, long(b.1)));
        Some(SitDetection {
            code,
            segments: [
                (FREQS[a.0], ms(a.1)),
                (FREQS[b.0], ms(b.1)),
                (FREQS[c.0], ms(c.1)),
            ],
        })
    }

    /// Feeds audio; returns the detection once, when the third segment ends (or has
    /// lasted 380 ms).
    pub fn process(&mut self, samples: &[i16]) -> Option<SitDetection> {
        let mut found = None;
        for &s in samples {
            self.buf.push(f64::from(s));
            if self.buf.len() < STEP {
                continue;
            }
            let k = self.classify();
            self.buf.clear();
            if self.done {
                continue;
            }
            match (k, self.run) {
                (Some(k), Some((rk, n))) if k == rk => {
                    self.run = Some((rk, n + 1));
                    self.gap = 0;
                }
                (Some(k), _) => {
                    self.close_run();
                    self.run = Some((k, 1));
                    self.gap = 0;
                }
                (None, _) => {
                    self.gap += 1;
                    if self.gap > 3 {
                        self.close_run();
                    }
                }
            }
            // A third segment that reached its full length completes the SIT.
            if let Some((4, n)) = self.run
                && n >= 37
            {
                self.close_run();
            }
            if let Some(d) = self.check() {
                self.done = true;
                found = Some(d);
            }
        }
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dtmf::inband::tests::speech_like;
    use crate::tones::{ToneGenerator, ToneKind, ToneRegion};

    fn detect(audio: &[i16]) -> Option<SitDetection> {
        let mut det = SitDetector::new();
        audio.chunks(160).find_map(|f| det.process(f))
    }

    #[test]
    fn classifies_every_code() {
        for code in [
            SitCode::Intercept,
            SitCode::VacantCode,
            SitCode::Reorder,
            SitCode::NoCircuit,
            SitCode::IneffectiveOther,
        ] {
            let mut audio = vec![0i16; 800];
            audio.extend(ToneGenerator::new(code.plan(-24.0), 8000).take_ms(1500));
            let hit = detect(&audio).unwrap_or_else(|| panic!("{code:?} not detected"));
            assert_eq!(hit.code, Some(code), "{hit:?}");
            let (h1, l1, h2, l2) = code.encoding();
            assert_eq!(hit.segments[0].0, SIT_FREQS[0][usize::from(h1)]);
            assert_eq!(hit.segments[1].0, SIT_FREQS[1][usize::from(h2)]);
            let near = |ms: u32, long: bool| (ms as i32 - if long { 380 } else { 274 }).abs() <= 20;
            assert!(
                near(hit.segments[0].1, l1) && near(hit.segments[1].1, l2),
                "{hit:?}"
            );
        }
    }

    #[test]
    fn detects_at_low_level_with_a_following_announcement() {
        let mut audio = ToneGenerator::new(SitCode::Intercept.plan(-32.0), 8000).take_ms(1000);
        audio.extend(speech_like(3, 5));
        assert_eq!(
            detect(&audio).and_then(|d| d.code),
            Some(SitCode::Intercept)
        );
    }

    #[test]
    fn ignores_ringback_busy_and_speech() {
        for kind in [ToneKind::Ringback, ToneKind::Busy, ToneKind::Congestion] {
            for region in [ToneRegion::NorthAmerica, ToneRegion::Europe] {
                let audio = ToneGenerator::new(kind.plan(region), 8000).take_ms(8000);
                assert_eq!(detect(&audio), None, "{kind:?} {region:?}");
            }
        }
        for seed in 1..=3 {
            assert_eq!(detect(&speech_like(10, seed)), None);
        }
    }
}
