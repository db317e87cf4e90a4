//! Energy-based voice activity detection with an adaptive noise floor, for barge-in
//! (stop a prompt when the caller speaks) and answering-machine detection
//! ([`crate::amd`]).
//!
//! Frames of 20 ms are measured in dBm0. The noise floor is learnt from the first
//! 100 ms, then follows quiet frames (falls fast, rises slowly). Speech starts after `onset_frames` frames above both
//! the floor plus `margin_db` and `min_speech_dbm0`, and ends after `hangover_ms`
//! below.
//!
//! ```
//! use callcore_media::vad::{Vad, VadConfig, VadEvent};
//! use callcore_media::tones::{ToneGenerator, ToneSegment, TonePlan};
//! let plan = TonePlan { segments: vec![ToneSegment::silence(500), ToneSegment::tone(&[300.0, 700.0], -15.0, 600), ToneSegment::silence(1000)], repeat: false };
//! let audio = ToneGenerator::new(plan, 8000).take_ms(2100);
//! let mut vad = Vad::new(VadConfig::default());
//! let events: Vec<VadEvent> = audio.chunks(160).filter_map(|f| vad.process_frame(f)).collect();
//! assert_eq!(events[0], VadEvent::SpeechStarted { at_ms: 500 });
//! assert!(matches!(events[1], VadEvent::SpeechEnded { .. }));
//! ```

use crate::level::{mean_power, power_to_dbm0};

/// Frames at the start used only to learn the noise floor (100 ms).
const TRAINING_FRAMES: u64 = 5;

/// VAD settings.
#[derive(Debug, Clone)]
pub struct VadConfig {
    /// Samples per frame (160 = 20 ms at 8 kHz).
    pub frame: usize,
    /// Frames above threshold needed to declare speech.
    pub onset_frames: u32,
    /// Quiet time that ends speech, ms.
    pub hangover_ms: u32,
    /// Speech must be this far above the noise floor, dB.
    pub margin_db: f64,
    /// And at least this loud, dBm0.
    pub min_speech_dbm0: f64,
}

impl Default for VadConfig {
    fn default() -> Self {
        VadConfig {
            frame: 160,
            onset_frames: 3,
            hangover_ms: 300,
            margin_db: 10.0,
            min_speech_dbm0: -45.0,
        }
    }
}

/// A change of voice activity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VadEvent {
    /// Speech began at `at_ms` (time of the first loud frame).
    SpeechStarted {
        /// Milliseconds since the first frame processed.
        at_ms: u64,
    },
    /// Speech ended at `at_ms` (time of the last loud frame's end).
    SpeechEnded {
        /// Milliseconds since the first frame processed.
        at_ms: u64,
        /// Length of the speech burst in ms.
        duration_ms: u64,
    },
}

/// Streaming energy VAD.
#[derive(Debug, Clone)]
pub struct Vad {
    cfg: VadConfig,
    frames: u64,
    floor_dbm0: f64,
    loud_run: u32,
    quiet_ms: u32,
    speaking_since: Option<u64>,
    last_loud_end: u64,
    last_level: f64,
}

impl Vad {
    /// A detector with `cfg`.
    pub fn new(cfg: VadConfig) -> Self {
        Vad {
            cfg,
            frames: 0,
            floor_dbm0: -70.0,
            loud_run: 0,
            quiet_ms: 0,
            speaking_since: None,
            last_loud_end: 0,
            last_level: -120.0,
        }
    }

    fn frame_ms(&self) -> u64 {
        (self.cfg.frame as u64 * 1000 / 8000).max(1)
    }

    /// True while speech is ongoing.
    pub fn is_speaking(&self) -> bool {
        self.speaking_since.is_some()
    }

    /// Level of the last frame in dBm0.
    pub fn last_level_dbm0(&self) -> f64 {
        self.last_level
    }

    /// Current noise floor estimate in dBm0.
    pub fn noise_floor_dbm0(&self) -> f64 {
        self.floor_dbm0
    }

    /// Processes one frame (any length; the configured length is nominal for timing).
    pub fn process_frame(&mut self, frame: &[i16]) -> Option<VadEvent> {
        let fm = self.frame_ms();
        let t0 = self.frames * fm;
        self.frames += 1;
        let level = power_to_dbm0(mean_power(frame));
        self.last_level = level;
        if self.frames <= TRAINING_FRAMES {
            // The first frames only learn the floor (their quietest level).
            self.floor_dbm0 = if self.frames == 1 {
                level.max(-90.0)
            } else {
                self.floor_dbm0.min(level.max(-90.0))
            };
            return None;
        }
        let loud = level > self.floor_dbm0 + self.cfg.margin_db && level > self.cfg.min_speech_dbm0;
        if !loud {
            // Track the floor: fall quickly, rise slowly (0.2 dB per frame).
            if level < self.floor_dbm0 {
                self.floor_dbm0 = 0.5 * self.floor_dbm0 + 0.5 * level;
            } else {
                self.floor_dbm0 = (self.floor_dbm0 + 0.2).min(level);
            }
            self.floor_dbm0 = self.floor_dbm0.max(-90.0);
        }
        if loud {
            self.loud_run += 1;
            self.quiet_ms = 0;
            self.last_loud_end = t0 + fm;
            if self.speaking_since.is_none() && self.loud_run >= self.cfg.onset_frames {
                let start = t0 + fm - u64::from(self.loud_run) * fm;
                self.speaking_since = Some(start);
                return Some(VadEvent::SpeechStarted { at_ms: start });
            }
        } else {
            self.loud_run = 0;
            self.quiet_ms += fm as u32;
            if let Some(start) = self.speaking_since
                && self.quiet_ms >= self.cfg.hangover_ms
            {
                self.speaking_since = None;
                return Some(VadEvent::SpeechEnded {
                    at_ms: self.last_loud_end,
                    duration_ms: self.last_loud_end - start,
                });
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dtmf::inband::tests::speech_like;
    use crate::level::{Noise, dbm0_to_peak};

    fn events(audio: &[i16]) -> Vec<VadEvent> {
        let mut vad = Vad::new(VadConfig::default());
        audio
            .chunks(160)
            .filter_map(|f| vad.process_frame(f))
            .collect()
    }

    fn noise(ms: usize, dbm0: f64, seed: u64) -> Vec<i16> {
        let mut n = Noise::new(seed);
        let peak = dbm0_to_peak(dbm0) * 1.22; // uniform noise power = peak²/3
        (0..ms * 8).map(|_| (peak * n.next_f64()) as i16).collect()
    }

    #[test]
    fn steady_noise_is_not_speech() {
        assert_eq!(events(&noise(5000, -40.0, 1)), vec![]);
    }

    #[test]
    fn speech_over_noise_is_found_with_its_timing() {
        let mut audio = noise(1000, -50.0, 2);
        let speech = speech_like(2, 3);
        for (i, s) in speech.iter().enumerate() {
            audio.push(s.saturating_add(noise(1, -50.0, i as u64 + 10)[0]));
        }
        audio.extend(noise(1000, -50.0, 4));
        let ev = events(&audio);
        let VadEvent::SpeechStarted { at_ms } = ev[0] else {
            panic!("{ev:?}")
        };
        assert!((1000..=1100).contains(&at_ms), "{ev:?}");
        let VadEvent::SpeechEnded { at_ms: end, .. } = *ev.last().unwrap() else {
            panic!("{ev:?}")
        };
        assert!((2800..=3000).contains(&end), "{ev:?}");
    }

    #[test]
    fn a_click_is_not_speech() {
        let mut audio = vec![0i16; 8000];
        audio[4000..4040].iter_mut().for_each(|s| *s = 20000);
        assert_eq!(events(&audio), vec![]);
    }
}
