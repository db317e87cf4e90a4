//! Answering-machine detection from voice activity after a call is answered.
//!
//! A live person usually says a short greeting ("Hello?") and waits; a machine
//! plays a long greeting. The classifier watches the first seconds after answer:
//! a first utterance shorter than `max_human_greeting_ms` followed by
//! `silence_after_greeting_ms` of silence is a human; speech that lasts longer than
//! `min_machine_greeting_ms` (counting short pauses) is a machine; no speech within
//! `initial_silence_ms` is silence (often a human who waits, or a dead line).
//!
//! ```
//! use callcore_media::amd::{AnsweringMachineDetector, AmdConfig, AmdVerdict};
//! use callcore_media::tones::{ToneGenerator, ToneSegment, TonePlan};
//! // "hello?" (600 ms) then silence
//! let plan = TonePlan { segments: vec![ToneSegment::silence(300), ToneSegment::tone(&[200.0, 600.0], -15.0, 600), ToneSegment::silence(3000)], repeat: false };
//! let audio = ToneGenerator::new(plan, 8000).take_ms(3900);
//! let mut amd = AnsweringMachineDetector::new(AmdConfig::default());
//! let verdict = audio.chunks(160).find_map(|f| amd.process_frame(f));
//! assert_eq!(verdict, Some(AmdVerdict::Human));
//! ```

use crate::vad::{Vad, VadConfig, VadEvent};

/// AMD thresholds.
#[derive(Debug, Clone)]
pub struct AmdConfig {
    /// Longest greeting a person is assumed to say.
    pub max_human_greeting_ms: u64,
    /// Silence after a short greeting that confirms a person.
    pub silence_after_greeting_ms: u64,
    /// Speech (with pauses) at least this long means a machine.
    pub min_machine_greeting_ms: u64,
    /// No speech at all for this long gives [`AmdVerdict::Silence`].
    pub initial_silence_ms: u64,
}

impl Default for AmdConfig {
    fn default() -> Self {
        AmdConfig {
            max_human_greeting_ms: 1500,
            silence_after_greeting_ms: 800,
            min_machine_greeting_ms: 2500,
            initial_silence_ms: 4000,
        }
    }
}

/// The classification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AmdVerdict {
    /// A live person.
    Human,
    /// An answering machine or voicemail greeting.
    Machine,
    /// Nothing was said.
    Silence,
}

/// Streaming answering-machine detector over 20 ms frames.
#[derive(Debug, Clone)]
pub struct AnsweringMachineDetector {
    cfg: AmdConfig,
    vad: Vad,
    t_ms: u64,
    first_speech: Option<u64>,
    last_end: Option<u64>,
    done: bool,
}

impl AnsweringMachineDetector {
    /// A detector; call [`process_frame`](Self::process_frame) from the moment of answer.
    pub fn new(cfg: AmdConfig) -> Self {
        let vad = Vad::new(VadConfig {
            hangover_ms: 200,
            ..VadConfig::default()
        });
        AnsweringMachineDetector {
            cfg,
            vad,
            t_ms: 0,
            first_speech: None,
            last_end: None,
            done: false,
        }
    }

    /// Processes one 20 ms frame; returns the verdict once.
    pub fn process_frame(&mut self, frame: &[i16]) -> Option<AmdVerdict> {
        if self.done {
            return None;
        }
        self.t_ms += 20;
        match self.vad.process_frame(frame) {
            Some(VadEvent::SpeechStarted { at_ms }) => {
                self.first_speech.get_or_insert(at_ms);
                self.last_end = None;
            }
            Some(VadEvent::SpeechEnded { at_ms, .. }) => self.last_end = Some(at_ms),
            None => {}
        }
        let verdict = match (self.first_speech, self.last_end) {
            (None, _) if self.t_ms >= self.cfg.initial_silence_ms => Some(AmdVerdict::Silence),
            (Some(start), _)
                if self.vad.is_speaking()
                    && self.t_ms - start >= self.cfg.min_machine_greeting_ms =>
            {
                Some(AmdVerdict::Machine)
            }
            (Some(start), Some(end)) => {
                let spoken = end - start;
                if spoken >= self.cfg.min_machine_greeting_ms {
                    Some(AmdVerdict::Machine)
                } else if spoken <= self.cfg.max_human_greeting_ms
                    && self.t_ms - end >= self.cfg.silence_after_greeting_ms
                {
                    Some(AmdVerdict::Human)
                } else if self.t_ms - end >= self.cfg.silence_after_greeting_ms {
                    // a medium-length utterance then a long pause: a person who said more
                    Some(AmdVerdict::Human)
                } else {
                    None
                }
            }
            _ => None,
        };
        if verdict.is_some() {
            self.done = true;
        }
        verdict
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dtmf::inband::tests::speech_like;

    fn classify(audio: &[i16]) -> Option<AmdVerdict> {
        let mut amd = AnsweringMachineDetector::new(AmdConfig::default());
        audio.chunks(160).find_map(|f| amd.process_frame(f))
    }

    #[test]
    fn long_greeting_is_a_machine() {
        let mut audio = vec![0i16; 2400];
        audio.extend(speech_like(5, 11));
        assert_eq!(classify(&audio), Some(AmdVerdict::Machine));
    }

    #[test]
    fn short_greeting_then_silence_is_human() {
        let mut audio = vec![0i16; 2400];
        audio.extend(&speech_like(1, 12)[..6400]);
        audio.extend(vec![0i16; 16000]);
        assert_eq!(classify(&audio), Some(AmdVerdict::Human));
    }

    #[test]
    fn silence_is_silence() {
        assert_eq!(classify(&vec![0i16; 8000 * 5]), Some(AmdVerdict::Silence));
    }
}
