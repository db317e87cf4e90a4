//! Call-progress tone generation: ringback, busy, congestion (reorder) and special
//! information tones, as cadenced sums of sines at 8 kHz.
//!
//! ```
//! use callcore_media::tones::{ToneGenerator, ToneKind, ToneRegion};
//! let mut g = ToneGenerator::new(ToneKind::Busy.plan(ToneRegion::NorthAmerica), 8000);
//! let mut frame = vec![0i16; 160];
//! g.fill(&mut frame);
//! assert!(frame.iter().any(|&s| s != 0)); // busy starts with its on-period
//! ```

use crate::level::dbm0_to_peak;

/// One segment of a cadence: frequencies (Hz, up to three), level per tone and length.
#[derive(Debug, Clone, PartialEq)]
pub struct ToneSegment {
    /// Frequencies mixed in this segment; empty means silence.
    pub freqs: Vec<f64>,
    /// Level of each frequency in dBm0.
    pub level_dbm0: f64,
    /// Length in milliseconds.
    pub ms: u32,
}

impl ToneSegment {
    /// A tone segment.
    pub fn tone(freqs: &[f64], level_dbm0: f64, ms: u32) -> Self {
        ToneSegment {
            freqs: freqs.to_vec(),
            level_dbm0,
            ms,
        }
    }

    /// A silent segment.
    pub fn silence(ms: u32) -> Self {
        ToneSegment {
            freqs: Vec::new(),
            level_dbm0: -120.0,
            ms,
        }
    }
}

/// A cadence: segments played in order, repeated if `repeat`.
#[derive(Debug, Clone, PartialEq)]
pub struct TonePlan {
    /// Segments.
    pub segments: Vec<ToneSegment>,
    /// Loop forever (ringback, busy) or play once (SIT).
    pub repeat: bool,
}

/// Conventions for tone frequencies and cadences.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ToneRegion {
    /// North America (ANSI T1.401 / precise tone plan).
    NorthAmerica,
    /// Europe (ETSI / ITU-T E.180 recommended 425 Hz tones).
    Europe,
}

/// Special information tone codes (Telcordia/ANSI T1.209 encoding by segment
/// frequency and length).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SitCode {
    /// Intercept: number changed or disconnected (IC).
    Intercept,
    /// Vacant code: unassigned number (VC).
    VacantCode,
    /// Reorder: equipment or switching blockage (RO).
    Reorder,
    /// No circuit: all circuits busy (NC).
    NoCircuit,
    /// Ineffective other (IO).
    IneffectiveOther,
}

/// Low and high frequencies of SIT segments 1 and 2, and segment 3.
pub const SIT_FREQS: [[f64; 2]; 2] = [[913.8, 985.2], [1370.6, 1428.5]];
/// The third SIT segment's frequency.
pub const SIT_THIRD: f64 = 1776.7;
/// Short and long SIT segment lengths in ms.
pub const SIT_SHORT_MS: u32 = 274;
/// Long SIT segment length in ms.
pub const SIT_LONG_MS: u32 = 380;

impl SitCode {
    /// (segment 1 high?, segment 1 long?, segment 2 high?, segment 2 long?).
    pub const fn encoding(self) -> (bool, bool, bool, bool) {
        match self {
            SitCode::Intercept => (false, false, false, false),
            SitCode::VacantCode => (true, true, false, false),
            SitCode::Reorder => (false, false, true, true),
            SitCode::NoCircuit => (true, true, true, true),
            SitCode::IneffectiveOther => (false, true, false, false),
        }
    }

    /// The code for an observed encoding, if it is one of the known ones. The
    /// inter-exchange variants (reorder: high-short/low-long; no circuit:
    /// low-long/high-long) map to the same meanings.
    pub fn from_encoding(e: (bool, bool, bool, bool)) -> Option<SitCode> {
        [
            SitCode::Intercept,
            SitCode::VacantCode,
            SitCode::Reorder,
            SitCode::NoCircuit,
            SitCode::IneffectiveOther,
        ]
        .into_iter()
        .find(|c| c.encoding() == e)
        .or(match e {
            (true, false, false, true) => Some(SitCode::Reorder),
            (false, true, true, true) => Some(SitCode::NoCircuit),
            _ => None,
        })
    }

    /// The tone plan of this SIT at `level_dbm0` (nominally -24 dBm0 per ITU-T E.180).
    pub fn plan(self, level_dbm0: f64) -> TonePlan {
        let (h1, l1, h2, l2) = self.encoding();
        let len = |long: bool| if long { SIT_LONG_MS } else { SIT_SHORT_MS };
        TonePlan {
            segments: vec![
                ToneSegment::tone(&[SIT_FREQS[0][usize::from(h1)]], level_dbm0, len(l1)),
                ToneSegment::tone(&[SIT_FREQS[1][usize::from(h2)]], level_dbm0, len(l2)),
                ToneSegment::tone(&[SIT_THIRD], level_dbm0, SIT_LONG_MS),
            ],
            repeat: false,
        }
    }
}

/// The tones a center plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ToneKind {
    /// Ringback (the callee is being alerted).
    Ringback,
    /// Busy.
    Busy,
    /// Congestion / reorder (network busy).
    Congestion,
    /// A special information tone.
    Sit(SitCode),
}

impl ToneKind {
    /// The cadence of this tone in `region`.
    pub fn plan(self, region: ToneRegion) -> TonePlan {
        use ToneRegion::*;
        let seg = ToneSegment::tone;
        let (segments, repeat) = match (self, region) {
            (ToneKind::Ringback, NorthAmerica) => (
                vec![
                    seg(&[440.0, 480.0], -19.0, 2000),
                    ToneSegment::silence(4000),
                ],
                true,
            ),
            (ToneKind::Ringback, Europe) => (
                vec![seg(&[425.0], -13.0, 1000), ToneSegment::silence(4000)],
                true,
            ),
            (ToneKind::Busy, NorthAmerica) => (
                vec![seg(&[480.0, 620.0], -24.0, 500), ToneSegment::silence(500)],
                true,
            ),
            (ToneKind::Busy, Europe) => (
                vec![seg(&[425.0], -13.0, 500), ToneSegment::silence(500)],
                true,
            ),
            (ToneKind::Congestion, NorthAmerica) => (
                vec![seg(&[480.0, 620.0], -24.0, 250), ToneSegment::silence(250)],
                true,
            ),
            (ToneKind::Congestion, Europe) => (
                vec![seg(&[425.0], -13.0, 250), ToneSegment::silence(250)],
                true,
            ),
            (ToneKind::Sit(code), _) => return code.plan(-24.0),
        };
        TonePlan { segments, repeat }
    }
}

/// Plays a [`TonePlan`] sample by sample; phase-continuous within a segment.
#[derive(Debug, Clone)]
pub struct ToneGenerator {
    plan: TonePlan,
    rate: f64,
    seg: usize,
    pos: u64,
    seg_len: u64,
    amp: f64,
    steps: Vec<f64>,
    done: bool,
}

impl ToneGenerator {
    /// A generator for `plan` at `sample_rate` Hz.
    pub fn new(plan: TonePlan, sample_rate: u32) -> Self {
        let mut g = ToneGenerator {
            plan,
            rate: f64::from(sample_rate.max(1)),
            seg: 0,
            pos: 0,
            seg_len: 0,
            amp: 0.0,
            steps: Vec::new(),
            done: false,
        };
        g.enter(0);
        g
    }

    fn enter(&mut self, idx: usize) {
        let Some(s) = self.plan.segments.get(idx) else {
            self.done = true;
            return;
        };
        self.seg = idx;
        self.pos = 0;
        self.seg_len = (u64::from(s.ms) * self.rate as u64) / 1000;
        self.amp = dbm0_to_peak(s.level_dbm0);
        self.steps = s
            .freqs
            .iter()
            .map(|f| 2.0 * std::f64::consts::PI * f / self.rate)
            .collect();
    }

    /// True when a non-repeating plan has finished.
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// Writes the next samples into `out`; zeros after a non-repeating plan ends.
    pub fn fill(&mut self, out: &mut [i16]) {
        for o in out.iter_mut() {
            while !self.done && self.pos >= self.seg_len {
                let next = self.seg + 1;
                if next >= self.plan.segments.len() {
                    if self.plan.repeat && self.plan.segments.iter().any(|s| s.ms > 0) {
                        self.enter(0);
                    } else {
                        self.done = true;
                    }
                } else {
                    self.enter(next);
                }
            }
            if self.done {
                *o = 0;
                continue;
            }
            let n = self.pos as f64;
            let v: f64 = self.steps.iter().map(|w| (w * n).sin()).sum::<f64>() * self.amp;
            *o = v.round().clamp(-32768.0, 32767.0) as i16;
            self.pos += 1;
        }
    }

    /// Generates `ms` milliseconds.
    pub fn take_ms(&mut self, ms: u32) -> Vec<i16> {
        let mut v = vec![0i16; (u64::from(ms) * self.rate as u64 / 1000) as usize];
        self.fill(&mut v);
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::level::{mean_power, power_to_dbm0};

    #[test]
    fn busy_cadence_and_level() {
        let mut g = ToneGenerator::new(ToneKind::Busy.plan(ToneRegion::NorthAmerica), 8000);
        let v = g.take_ms(2000);
        // on for 500 ms, off for 500 ms, twice
        for (i, chunk) in v.chunks(4000).enumerate() {
            let on = mean_power(chunk) > 0.0;
            assert_eq!(on, i % 2 == 0, "chunk {i}");
        }
        // two tones at -24 dBm0 each: -21 dBm0 total
        let lvl = power_to_dbm0(mean_power(&v[..4000]));
        assert!((lvl + 21.0).abs() < 0.2, "{lvl}");
    }

    #[test]
    fn sit_plan_is_three_segments_and_ends() {
        let plan = ToneKind::Sit(SitCode::VacantCode).plan(ToneRegion::Europe);
        assert_eq!(
            plan.segments.iter().map(|s| s.ms).collect::<Vec<_>>(),
            vec![380, 274, 380]
        );
        assert_eq!(plan.segments[0].freqs, vec![985.2]);
        let mut g = ToneGenerator::new(plan, 8000);
        let v = g.take_ms(1100);
        assert!(g.is_done());
        assert!(v[(1034 * 8)..].iter().all(|&s| s == 0));
        for code in [
            SitCode::Intercept,
            SitCode::VacantCode,
            SitCode::Reorder,
            SitCode::NoCircuit,
            SitCode::IneffectiveOther,
        ] {
            assert_eq!(SitCode::from_encoding(code.encoding()), Some(code));
        }
    }

    #[test]
    fn ringback_regions_differ() {
        let na = ToneKind::Ringback.plan(ToneRegion::NorthAmerica);
        let eu = ToneKind::Ringback.plan(ToneRegion::Europe);
        assert_eq!(na.segments[0].freqs, vec![440.0, 480.0]);
        assert_eq!(eu.segments[0].freqs, vec![425.0]);
        assert_eq!(
            ToneKind::Congestion.plan(ToneRegion::NorthAmerica).segments[0].ms,
            250
        );
    }
}
