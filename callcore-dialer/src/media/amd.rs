//! Energy/cadence answering-machine detection over callcore-media's VAD.
//!
//! The classic rules (the parameters of Asterisk's `AMD()` application): a
//! person answers with a short greeting ("Hello?") and then waits in silence;
//! a machine plays a long greeting of many words. Frames of 20 ms go through
//! an energy VAD with a short hangover, so each burst of voice is one *word*;
//! the detector then decides:
//!
//! | rule | verdict |
//! |---|---|
//! | no word within `initial_silence` | [`AmdVerdict::Silence`] |
//! | voiced time of the greeting reaches `greeting` | machine (long greeting) |
//! | more than `maximum_words` words | machine (many words) |
//! | one word lasts `maximum_word_length` | machine |
//! | after a word, `after_greeting_silence` of silence | person |
//! | `total_analysis_time` without a decision | [`AmdVerdict::NotSure`] |
//!
//! Words shorter than `minimum_word_length` are clicks and line noise: they
//! neither count as words nor end the initial silence.
//!
//! ```
//! use callcore_dialer::media::{AmdConfig, AmdVerdict, CadenceAmd};
//! use callcore_media::tones::{ToneGenerator, TonePlan, ToneSegment};
//! // "hello?" (500 ms of voice) then silence
//! let plan = TonePlan { segments: vec![ToneSegment::silence(400),
//!     ToneSegment::tone(&[220.0, 660.0, 1100.0], -18.0, 500), ToneSegment::silence(3000)], repeat: false };
//! let audio = ToneGenerator::new(plan, 8000).take_ms(3900);
//! let mut amd = CadenceAmd::new(AmdConfig::default());
//! assert_eq!(audio.chunks(160).find_map(|f| amd.process_frame(f)), Some(AmdVerdict::Person));
//! ```

use callcore_media::vad::{Vad, VadConfig, VadEvent};
use std::time::Duration;

const FRAME_MS: u64 = 20;

/// The detector's thresholds (Asterisk's `amd.conf` names and defaults,
/// except `maximum_words`, which counts words allowed rather than the first
/// word count that means a machine).
#[derive(Debug, Clone, PartialEq)]
pub struct AmdConfig {
    /// No voice at all for this long after answer: [`AmdVerdict::Silence`] (2.5 s).
    pub initial_silence: Duration,
    /// A greeting voiced this long is a machine's (1.5 s).
    pub greeting: Duration,
    /// Silence after a greeting that confirms a person (0.8 s).
    pub after_greeting_silence: Duration,
    /// Give up undecided after this long (5 s).
    pub total_analysis_time: Duration,
    /// Voice shorter than this is not a word (0.1 s).
    pub minimum_word_length: Duration,
    /// Silence that separates two words (50 ms; rounded up to whole 20 ms frames).
    pub between_words_silence: Duration,
    /// More words than this is a machine (3).
    pub maximum_words: u32,
    /// A single word this long is a machine (tone, music: 5 s).
    pub maximum_word_length: Duration,
    /// A frame is voice when it is this far above the line's noise floor (dB).
    pub margin_db: f64,
    /// And at least this loud (dBm0).
    pub min_voice_dbm0: f64,
}

impl Default for AmdConfig {
    fn default() -> Self {
        Self {
            initial_silence: Duration::from_millis(2500),
            greeting: Duration::from_millis(1500),
            after_greeting_silence: Duration::from_millis(800),
            total_analysis_time: Duration::from_millis(5000),
            minimum_word_length: Duration::from_millis(100),
            between_words_silence: Duration::from_millis(50),
            maximum_words: 3,
            maximum_word_length: Duration::from_millis(5000),
            margin_db: 10.0,
            min_voice_dbm0: -45.0,
        }
    }
}

/// What the detector decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AmdVerdict {
    /// A short greeting, then silence: a person.
    Person,
    /// A long greeting, many words or one endless sound: a machine.
    Machine,
    /// Nothing said within the initial silence.
    Silence,
    /// No rule fired within the total analysis time.
    NotSure,
}

/// Streaming energy/cadence AMD (see the module documentation). Feed the
/// received audio from the moment of answer, 20 ms (160 samples) at a time.
#[derive(Debug, Clone)]
pub struct CadenceAmd {
    cfg: AmdConfig,
    vad: Vad,
    t_ms: u64,
    /// Start of the current voice burst.
    word_start: Option<u64>,
    /// End of the last counted word.
    last_word_end: Option<u64>,
    words: u32,
    voiced_ms: u64,
    done: bool,
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl CadenceAmd {
    /// A detector with `cfg`.
    #[must_use]
    pub fn new(cfg: AmdConfig) -> Self {
        let hangover = ms(cfg.between_words_silence).div_ceil(FRAME_MS) * FRAME_MS;
        let vad = Vad::new(VadConfig {
            onset_frames: 1,
            hangover_ms: u32::try_from(hangover.max(FRAME_MS)).unwrap_or(u32::MAX),
            margin_db: cfg.margin_db,
            min_speech_dbm0: cfg.min_voice_dbm0,
            ..VadConfig::default()
        });
        Self {
            cfg,
            vad,
            t_ms: 0,
            word_start: None,
            last_word_end: None,
            words: 0,
            voiced_ms: 0,
            done: false,
        }
    }

    /// Words counted so far.
    #[must_use]
    pub const fn words(&self) -> u32 {
        self.words
    }

    /// Processes one 20 ms frame; returns the verdict once.
    pub fn process_frame(&mut self, frame: &[i16]) -> Option<AmdVerdict> {
        if self.done {
            return None;
        }
        self.t_ms += FRAME_MS;
        match self.vad.process_frame(frame) {
            Some(VadEvent::SpeechStarted { at_ms }) => self.word_start = Some(at_ms),
            Some(VadEvent::SpeechEnded { at_ms, .. }) => {
                if let Some(start) = self.word_start.take() {
                    let len = at_ms.saturating_sub(start);
                    if len >= ms(self.cfg.minimum_word_length) {
                        self.words += 1;
                        self.voiced_ms += len;
                        self.last_word_end = Some(at_ms);
                    }
                }
            }
            None => {}
        }
        let verdict = self.decide();
        if verdict.is_some() {
            self.done = true;
        }
        verdict
    }

    fn decide(&self) -> Option<AmdVerdict> {
        let current = self
            .word_start
            .map_or(0, |start| self.t_ms.saturating_sub(start));
        let current_is_word = current >= ms(self.cfg.minimum_word_length);
        if current >= ms(self.cfg.maximum_word_length) {
            return Some(AmdVerdict::Machine);
        }
        let words = self.words + u32::from(current_is_word);
        if words > self.cfg.maximum_words {
            return Some(AmdVerdict::Machine);
        }
        let voiced = self.voiced_ms + if current_is_word { current } else { 0 };
        if voiced >= ms(self.cfg.greeting) {
            return Some(AmdVerdict::Machine);
        }
        match self.last_word_end {
            None if words == 0 && self.t_ms >= ms(self.cfg.initial_silence) => {
                return Some(AmdVerdict::Silence);
            }
            Some(end)
                if self.word_start.is_none()
                    && self.t_ms.saturating_sub(end) >= ms(self.cfg.after_greeting_silence) =>
            {
                return Some(AmdVerdict::Person);
            }
            _ => {}
        }
        (self.t_ms >= ms(self.cfg.total_analysis_time)).then_some(AmdVerdict::NotSure)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use callcore_media::tones::{ToneGenerator, TonePlan, ToneSegment};

    /// Voice-like bursts (harmonics of 180 Hz) of the given lengths, separated
    /// by the given gaps, after `lead_ms` of silence and followed by 4 s of it.
    pub(crate) fn words(lead_ms: u32, bursts: &[(u32, u32)]) -> Vec<i16> {
        let mut segments = vec![ToneSegment::silence(lead_ms)];
        for &(len, gap) in bursts {
            segments.push(ToneSegment::tone(
                &[180.0, 540.0, 900.0, 1260.0],
                -16.0,
                len,
            ));
            segments.push(ToneSegment::silence(gap));
        }
        segments.push(ToneSegment::silence(4000));
        let total = lead_ms + bursts.iter().map(|(l, g)| l + g).sum::<u32>() + 4000;
        ToneGenerator::new(
            TonePlan {
                segments,
                repeat: false,
            },
            8000,
        )
        .take_ms(total)
    }

    fn classify(audio: &[i16]) -> (Option<AmdVerdict>, u64) {
        let mut amd = CadenceAmd::new(AmdConfig::default());
        let mut t = 0;
        for f in audio.chunks(160) {
            t += 20;
            if let Some(v) = amd.process_frame(f) {
                return (Some(v), t);
            }
        }
        (None, t)
    }

    #[test]
    fn a_short_hello_then_silence_is_a_person_after_the_silence() {
        let (v, at) = classify(&words(500, &[(450, 0)]));
        assert_eq!(v, Some(AmdVerdict::Person));
        // 500 ms lead + 450 ms word + 800 ms silence (+ hangover, frame rounding)
        assert!((1750..=1900).contains(&at), "{at}");
    }

    #[test]
    fn two_short_words_are_still_a_person() {
        let (v, _) = classify(&words(400, &[(300, 150), (400, 0)]));
        assert_eq!(v, Some(AmdVerdict::Person));
    }

    #[test]
    fn a_long_greeting_is_a_machine() {
        // one 2 s stretch of voice
        assert_eq!(
            classify(&words(300, &[(2000, 0)])).0,
            Some(AmdVerdict::Machine)
        );
    }

    #[test]
    fn many_short_words_are_a_machine() {
        let burst = [(200, 120); 6];
        assert_eq!(classify(&words(300, &burst)).0, Some(AmdVerdict::Machine));
    }

    #[test]
    fn silence_and_clicks_are_silence() {
        assert_eq!(classify(&words(3000, &[])).0, Some(AmdVerdict::Silence));
        // 40 ms clicks are not words
        let clicks = [(40, 500); 6];
        assert_eq!(classify(&words(100, &clicks)).0, Some(AmdVerdict::Silence));
    }

    #[test]
    fn a_verdict_is_given_once() {
        let audio = words(500, &[(450, 0)]);
        let mut amd = CadenceAmd::new(AmdConfig::default());
        let n = audio
            .chunks(160)
            .filter_map(|f| amd.process_frame(f))
            .count();
        assert_eq!(n, 1);
    }
}
