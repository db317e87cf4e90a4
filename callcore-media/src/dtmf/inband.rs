//! In-band DTMF detection with Goertzel filters, in the style of ITU-T Q.24.
//!
//! Audio at 8 kHz is cut into blocks of 102 samples (12.75 ms). In each block the
//! eight DTMF frequencies are measured with Goertzel filters; a block "hears" a digit
//! when the strongest row and column tones are each above the level floor, within
//! the twist limits, clearly stronger than the other tones of their group, and
//! together carry most of the block's energy (which rejects speech: talk-off). A
//! digit starts after two consecutive blocks hear it — a tone of 40 ms always spans
//! two whole blocks and one shorter than 25.5 ms never does, which gives Q.24's
//! accept-at-40 ms / reject-below-23 ms timing — and ends after two blocks without it
//! (so a 40 ms pause separates digits). A digit already going continues through
//! blocks that pass looser tests (same strongest tones, level, twist within 2 dB more,
//! half of the energy), so a 10 ms dropout does not split it in two.

use super::{COL_FREQS, Digit, ROW_FREQS};
use crate::level::power_to_dbm0;

/// Detector limits.
#[derive(Debug, Clone)]
pub struct DetectorConfig {
    /// Samples per Goertzel block at 8 kHz.
    pub block: usize,
    /// Minimum level of each of the two tones, dBm0.
    pub min_level_dbm0: f64,
    /// How much the high group may exceed the low group, dB ("normal"/standard twist).
    pub max_normal_twist_db: f64,
    /// How much the low group may exceed the high group, dB (reverse twist).
    pub max_reverse_twist_db: f64,
    /// How far the winning tone must exceed the others of its group, dB.
    pub min_relative_peak_db: f64,
    /// Minimum share of the block's energy in the two tones (talk-off rejection).
    pub min_tone_share: f64,
}

impl Default for DetectorConfig {
    fn default() -> Self {
        DetectorConfig {
            block: 102,
            min_level_dbm0: -30.0,
            max_normal_twist_db: 4.0,
            max_reverse_twist_db: 8.0,
            min_relative_peak_db: 10.0,
            min_tone_share: 0.7,
        }
    }
}

/// A detection event; sample indices count from the first sample processed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InbandEvent {
    /// A digit has been present long enough to count.
    Started {
        /// The digit.
        digit: Digit,
        /// Sample index where its first block began.
        at_sample: u64,
    },
    /// The digit went away.
    Ended {
        /// The digit.
        digit: Digit,
        /// Sample index where its last block ended.
        at_sample: u64,
        /// Measured duration in ms (block resolution).
        duration_ms: u32,
    },
}

impl InbandEvent {
    /// The digit if this is a start event.
    pub fn started(&self) -> Option<Digit> {
        match self {
            InbandEvent::Started { digit, .. } => Some(*digit),
            InbandEvent::Ended { .. } => None,
        }
    }
}

/// Streaming DTMF detector for 8 kHz linear audio.
#[derive(Debug, Clone)]
pub struct DtmfDetector {
    cfg: DetectorConfig,
    coeffs: [f32; 8],
    s1: [f32; 8],
    s2: [f32; 8],
    energy: f32,
    filled: usize,
    block_start: u64,
    samples: u64,
    prev_block: Option<Digit>,
    run_start: u64,
    current: Option<(Digit, u64)>,
    last_hit_end: u64,
    misses: u32,
}

impl DtmfDetector {
    /// A detector with `cfg` (block sizes below 32 are raised to 32).
    pub fn new(mut cfg: DetectorConfig) -> Self {
        cfg.block = cfg.block.max(32);
        let mut coeffs = [0f32; 8];
        for (i, f) in ROW_FREQS.iter().chain(COL_FREQS.iter()).enumerate() {
            coeffs[i] = (2.0 * (2.0 * std::f64::consts::PI * f / 8000.0).cos()) as f32;
        }
        DtmfDetector {
            cfg,
            coeffs,
            s1: [0.0; 8],
            s2: [0.0; 8],
            energy: 0.0,
            filled: 0,
            block_start: 0,
            samples: 0,
            prev_block: None,
            run_start: 0,
            current: None,
            last_hit_end: 0,
            misses: 0,
        }
    }

    /// Feeds samples, appending events to `out`.
    pub fn process_into(&mut self, samples: &[i16], out: &mut Vec<InbandEvent>) {
        for &x in samples {
            let x = f32::from(x);
            self.energy += x * x;
            for k in 0..8 {
                let s = x + self.coeffs[k] * self.s1[k] - self.s2[k];
                self.s2[k] = self.s1[k];
                self.s1[k] = s;
            }
            self.filled += 1;
            self.samples += 1;
            if self.filled == self.cfg.block {
                let (strict, loose) = self.classify_block();
                self.on_block(strict, loose, out);
                self.s1 = [0.0; 8];
                self.s2 = [0.0; 8];
                self.energy = 0.0;
                self.filled = 0;
                self.block_start = self.samples;
            }
        }
    }

    /// Feeds samples and returns the events they caused.
    pub fn process(&mut self, samples: &[i16]) -> Vec<InbandEvent> {
        let mut v = Vec::new();
        self.process_into(samples, &mut v);
        v
    }

    /// Returns (digit passing every test, digit passing the looser tests used to
    /// keep a digit going: strongest tones of their groups, level, twist, and half
    /// of the energy).
    fn classify_block(&self) -> (Option<Digit>, Option<Digit>) {
        let n = self.cfg.block as f32;
        // Energy of each tone over the block: 2|X|^2 / N.
        let p: [f32; 8] = std::array::from_fn(|k| {
            let (s1, s2) = (self.s1[k], self.s2[k]);
            2.0 * (s1 * s1 + s2 * s2 - self.coeffs[k] * s1 * s2) / n
        });
        let best = |range: std::ops::Range<usize>| {
            range
                .clone()
                .fold(range.start, |b, i| if p[i] > p[b] { i } else { b })
        };
        let r = best(0..4);
        let c = best(4..8);
        let (er, ec) = (f64::from(p[r]), f64::from(p[c]));
        let nf = f64::from(n);
        if power_to_dbm0(er / nf) < self.cfg.min_level_dbm0
            || power_to_dbm0(ec / nf) < self.cfg.min_level_dbm0
        {
            return (None, None);
        }
        let twist = 10.0 * (ec / er).log10();
        if twist > self.cfg.max_normal_twist_db + 2.0
            || -twist > self.cfg.max_reverse_twist_db + 2.0
        {
            return (None, None);
        }
        let total = f64::from(self.energy);
        let share = if total > 0.0 { (er + ec) / total } else { 0.0 };
        if share < 0.5 {
            return (None, None);
        }
        let digit = Digit::at(r, c - 4);
        if twist > self.cfg.max_normal_twist_db
            || -twist > self.cfg.max_reverse_twist_db
            || share < self.cfg.min_tone_share
        {
            return (None, digit);
        }
        let rel = 10f64.powf(self.cfg.min_relative_peak_db / 10.0);
        for (group, winner) in [(0..4, r), (4..8, c)] {
            for i in group {
                if i != winner && f64::from(p[i]) * rel > f64::from(p[winner]) {
                    return (None, digit);
                }
            }
        }
        (digit, digit)
    }

    fn on_block(&mut self, d: Option<Digit>, loose: Option<Digit>, out: &mut Vec<InbandEvent>) {
        let start = self.block_start;
        let end = self.samples;
        if d.is_some() && d != self.prev_block {
            self.run_start = start;
        }
        let run_of_two = d.is_some() && d == self.prev_block;
        self.prev_block = d;
        if let Some((cur, began)) = self.current {
            if loose == Some(cur) {
                self.misses = 0;
                self.last_hit_end = end;
                return;
            }
            self.misses += 1;
            if self.misses < 2 && !run_of_two {
                return;
            }
            let duration_ms = ((self.last_hit_end - began) * 1000 / 8000) as u32;
            out.push(InbandEvent::Ended {
                digit: cur,
                at_sample: self.last_hit_end,
                duration_ms,
            });
            self.current = None;
            self.misses = 0;
        }
        if run_of_two && let Some(digit) = d {
            self.current = Some((digit, self.run_start));
            self.last_hit_end = end;
            self.misses = 0;
            out.push(InbandEvent::Started {
                digit,
                at_sample: self.run_start,
            });
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::dtmf::DtmfGenerator;
    use crate::level::{Noise, dbm0_to_peak};

    fn detect(audio: &[i16]) -> String {
        let mut det = DtmfDetector::new(DetectorConfig::default());
        // feed in uneven chunks to exercise block carry-over
        let mut ev = Vec::new();
        for chunk in audio.chunks(73) {
            det.process_into(chunk, &mut ev);
        }
        det.process_into(&vec![0; 400], &mut ev);
        let starts: String = ev
            .iter()
            .filter_map(InbandEvent::started)
            .map(Digit::to_char)
            .collect();
        let ends = ev
            .iter()
            .filter(|e| matches!(e, InbandEvent::Ended { .. }))
            .count();
        assert_eq!(starts.len(), ends, "every start has an end: {ev:?}");
        starts
    }

    fn gen_with(on: u32, off: u32) -> DtmfGenerator {
        DtmfGenerator {
            on_ms: on,
            off_ms: off,
            ..Default::default()
        }
    }

    #[test]
    fn detects_all_sixteen_digits() {
        let audio = DtmfGenerator::default().digits("0123456789*#ABCD").unwrap();
        assert_eq!(detect(&audio), "0123456789*#ABCD");
    }

    #[test]
    fn q24_timing_accepts_40ms_and_rejects_23ms() {
        assert_eq!(
            detect(&gen_with(40, 40).digits("13579#").unwrap()),
            "13579#"
        );
        assert_eq!(detect(&gen_with(23, 40).digits("13579#").unwrap()), "");
        assert_eq!(detect(&gen_with(20, 20).digits("2468").unwrap()), "");
    }

    #[test]
    fn repeated_digit_needs_a_pause_and_10ms_dropout_is_not_one() {
        assert_eq!(detect(&gen_with(50, 40).digits("5555").unwrap()), "5555");
        // 100 ms of '8' with a 10 ms hole in the middle: one digit
        let g = DtmfGenerator::default();
        let d8 = Digit::from_char('8').unwrap();
        let mut audio = Vec::new();
        g.tone(d8, 45, &mut audio);
        audio.extend(std::iter::repeat_n(0, 80));
        g.tone(d8, 45, &mut audio);
        assert_eq!(detect(&audio), "8");
    }

    #[test]
    fn reports_duration_to_block_resolution() {
        let audio = gen_with(200, 100).digits("9").unwrap();
        let mut det = DtmfDetector::new(DetectorConfig::default());
        let ev = det.process(&audio);
        let Some(InbandEvent::Ended { duration_ms, .. }) = ev.last() else {
            panic!("{ev:?}")
        };
        assert!((187..=213).contains(duration_ms), "{duration_ms}");
    }

    #[test]
    fn twist_limits() {
        let base = DtmfGenerator {
            low_dbm0: -12.0,
            ..Default::default()
        };
        // high group 3 dB over low: accepted; 7 dB: rejected
        assert_eq!(
            detect(
                &DtmfGenerator {
                    high_dbm0: -9.0,
                    ..base.clone()
                }
                .digits("147")
                .unwrap()
            ),
            "147"
        );
        assert_eq!(
            detect(
                &DtmfGenerator {
                    high_dbm0: -5.0,
                    ..base.clone()
                }
                .digits("147")
                .unwrap()
            ),
            ""
        );
        // low group 7 dB over high: accepted; 10 dB: rejected
        assert_eq!(
            detect(
                &DtmfGenerator {
                    high_dbm0: -19.0,
                    ..base.clone()
                }
                .digits("147")
                .unwrap()
            ),
            "147"
        );
        assert_eq!(
            detect(
                &DtmfGenerator {
                    high_dbm0: -22.0,
                    ..base
                }
                .digits("147")
                .unwrap()
            ),
            ""
        );
    }

    #[test]
    fn level_floor() {
        let g = |lvl: f64| DtmfGenerator {
            low_dbm0: lvl,
            high_dbm0: lvl,
            ..Default::default()
        };
        assert_eq!(detect(&g(-25.0).digits("0*#").unwrap()), "0*#");
        assert_eq!(detect(&g(-36.0).digits("0*#").unwrap()), "");
    }

    #[test]
    fn frequency_tolerance() {
        for err in [-0.015, 0.015] {
            let g = DtmfGenerator {
                freq_error: err,
                ..Default::default()
            };
            assert_eq!(
                detect(&g.digits("123A456B").unwrap()),
                "123A456B",
                "error {err}"
            );
        }
        for err in [-0.05, 0.05] {
            let g = DtmfGenerator {
                freq_error: err,
                ..Default::default()
            };
            assert_eq!(detect(&g.digits("123A456B").unwrap()), "", "error {err}");
        }
    }

    #[test]
    fn survives_noise_at_20_db_snr() {
        let mut audio = DtmfGenerator::default().digits("2580").unwrap();
        let mut n = Noise::new(7);
        let noise_peak = dbm0_to_peak(-28.0) * 1.7; // uniform noise ~ -30 dBm0
        for s in &mut audio {
            *s = (f64::from(*s) + noise_peak * n.next_f64()).round() as i16;
        }
        assert_eq!(detect(&audio), "2580");
    }

    /// Speech-like audio: voiced segments (harmonics of a gliding pitch shaped by
    /// moving formants) and unvoiced noise, syllable-modulated.
    pub(crate) fn speech_like(seconds: u32, seed: u64) -> Vec<i16> {
        let mut n = Noise::new(seed);
        let mut out = Vec::with_capacity(seconds as usize * 8000);
        let mut phase = 0.0f64;
        let syll = 8000 / 5; // 200 ms syllables
        for i in 0..seconds as usize * 8000 {
            let s = i / syll;
            let t = (i % syll) as f64 / syll as f64;
            let env = (std::f64::consts::PI * t).sin().powi(2);
            let voiced = s % 4 != 3;
            let f0 = 100.0 + 80.0 * ((s * 37 % 11) as f64 / 11.0) + 30.0 * t;
            phase += 2.0 * std::f64::consts::PI * f0 / 8000.0;
            let f1 = 300.0 + 500.0 * ((s * 13 % 7) as f64 / 7.0);
            let f2 = 900.0 + 1400.0 * ((s * 29 % 9) as f64 / 9.0);
            let mut v = 0.0;
            if voiced {
                let mut h = 1.0;
                while h * f0 < 3600.0 {
                    let f = h * f0;
                    let g1 = 1.0 / (1.0 + ((f - f1) / 120.0).powi(2));
                    let g2 = 0.6 / (1.0 + ((f - f2) / 160.0).powi(2));
                    v += (g1 + g2 + 0.03) * (h * phase).sin();
                    h += 1.0;
                }
            } else {
                v = 1.2 * n.next_f64();
            }
            out.push((v * env * 6000.0).round().clamp(-32768.0, 32767.0) as i16);
        }
        out
    }

    #[test]
    fn talk_off_rejects_speech_like_audio() {
        for seed in 1..=4 {
            let speech = speech_like(15, seed);
            assert_eq!(detect(&speech), "", "seed {seed}");
        }
        // and digits are still found when speech surrounds them
        let mut audio = speech_like(2, 9);
        audio.extend(DtmfGenerator::default().digits("42").unwrap());
        audio.extend(speech_like(2, 10));
        assert_eq!(detect(&audio), "42");
    }
}
