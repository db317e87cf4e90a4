//! Audio helpers for the speech providers: an energy-based end-of-utterance
//! detector.
//!
//! Telephone audio is 8 kHz; Whisper wants 16 kHz and espeak-ng speaks at
//! 22.05 kHz: the providers read WAV and convert rates with callcore-media's
//! reader and resampler (`callcore_media::wav::read_wav`,
//! `callcore_media::resample`), the ones the whole of callcore uses.

/// Settings of [`UtteranceDetector`].
#[derive(Debug, Clone, PartialEq)]
pub struct EndpointSettings {
    /// Frame RMS (on the 16-bit scale) above which a frame is speech.
    pub speech_rms: f32,
    /// Silence after speech that ends an utterance.
    pub end_silence_ms: u32,
    /// Shorter bursts of "speech" are treated as noise (clicks, DTMF edges).
    pub min_speech_ms: u32,
    /// Audio kept before the first speech frame (soft word onsets).
    pub pre_roll_ms: u32,
    /// An utterance is cut at this length even without a pause.
    pub max_utterance_ms: u32,
}

impl Default for EndpointSettings {
    fn default() -> Self {
        EndpointSettings {
            speech_rms: 300.0,
            end_silence_ms: 700,
            min_speech_ms: 120,
            pre_roll_ms: 200,
            max_utterance_ms: 28_000,
        }
    }
}

/// One utterance cut from a stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Utterance {
    /// Its samples, from the pre-roll to the end of the trailing silence.
    pub samples: Vec<i16>,
    /// Offset of its first sample from the start of the stream.
    pub start_ms: u64,
    /// Offset of its last sample.
    pub end_ms: u64,
}

/// Cuts a stream of telephone audio into utterances at pauses, by frame
/// energy. Sans-IO: push samples, take the utterances that ended.
#[derive(Debug)]
pub struct UtteranceDetector {
    settings: EndpointSettings,
    sample_rate: u32,
    frame_len: usize,
    /// Samples of the frame being filled.
    partial: Vec<i16>,
    /// Audio of the current utterance (or the pre-roll while none).
    current: Vec<i16>,
    /// Stream offset (samples) of `current[0]`.
    current_start: u64,
    /// Samples consumed so far.
    consumed: u64,
    speech_samples: usize,
    trailing_silence: usize,
    in_speech: bool,
}

impl UtteranceDetector {
    /// A detector for audio at `sample_rate` (20 ms frames).
    pub fn new(sample_rate: u32, settings: EndpointSettings) -> Self {
        let sample_rate = sample_rate.max(1);
        UtteranceDetector {
            settings,
            sample_rate,
            frame_len: (sample_rate as usize / 50).max(1),
            partial: Vec::new(),
            current: Vec::new(),
            current_start: 0,
            consumed: 0,
            speech_samples: 0,
            trailing_silence: 0,
            in_speech: false,
        }
    }

    fn ms_to_samples(&self, ms: u32) -> usize {
        (u64::from(ms) * u64::from(self.sample_rate) / 1000) as usize
    }

    fn samples_to_ms(&self, samples: u64) -> u64 {
        samples * 1000 / u64::from(self.sample_rate)
    }

    /// Feeds samples; returns the utterances that ended inside them.
    pub fn push(&mut self, samples: &[i16]) -> Vec<Utterance> {
        let mut done = Vec::new();
        for &s in samples {
            self.partial.push(s);
            if self.partial.len() == self.frame_len {
                let frame = std::mem::take(&mut self.partial);
                if let Some(u) = self.push_frame(&frame) {
                    done.push(u);
                }
            }
        }
        done
    }

    fn push_frame(&mut self, frame: &[i16]) -> Option<Utterance> {
        let energy: f64 = frame.iter().map(|&s| f64::from(s) * f64::from(s)).sum();
        let rms = (energy / frame.len() as f64).sqrt() as f32;
        let is_speech = rms >= self.settings.speech_rms;
        self.current.extend_from_slice(frame);
        self.consumed += frame.len() as u64;
        if !self.in_speech {
            if is_speech {
                self.in_speech = true;
                self.speech_samples = frame.len();
                self.trailing_silence = 0;
            } else {
                // Keep only the pre-roll while waiting for speech.
                let keep = self.ms_to_samples(self.settings.pre_roll_ms);
                if self.current.len() > keep {
                    let drop = self.current.len() - keep;
                    self.current.drain(..drop);
                    self.current_start += drop as u64;
                }
            }
            return None;
        }
        if is_speech {
            self.speech_samples += frame.len();
            self.trailing_silence = 0;
        } else {
            self.trailing_silence += frame.len();
        }
        let ended = self.trailing_silence >= self.ms_to_samples(self.settings.end_silence_ms);
        let too_long = self.current.len() >= self.ms_to_samples(self.settings.max_utterance_ms);
        if ended || too_long {
            return self.cut();
        }
        None
    }

    fn cut(&mut self) -> Option<Utterance> {
        let enough = self.speech_samples >= self.ms_to_samples(self.settings.min_speech_ms);
        let samples = std::mem::take(&mut self.current);
        let start = self.current_start;
        self.current_start = self.consumed;
        self.in_speech = false;
        self.speech_samples = 0;
        self.trailing_silence = 0;
        if !enough || samples.is_empty() {
            return None;
        }
        Some(Utterance {
            start_ms: self.samples_to_ms(start),
            end_ms: self.samples_to_ms(start + samples.len() as u64),
            samples,
        })
    }

    /// End of the stream: the utterance in progress, if it held speech.
    pub fn finish(&mut self) -> Option<Utterance> {
        let rest = std::mem::take(&mut self.partial);
        self.current.extend_from_slice(&rest);
        self.consumed += rest.len() as u64;
        if self.in_speech { self.cut() } else { None }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(rate: u32, freq: f64, ms: u32, amplitude: f64) -> Vec<i16> {
        let n = (rate as u64 * ms as u64 / 1000) as usize;
        (0..n)
            .map(|i| {
                let t = i as f64 / f64::from(rate);
                (amplitude * (2.0 * std::f64::consts::PI * freq * t).sin()) as i16
            })
            .collect()
    }

    #[test]
    fn detector_cuts_utterances_at_pauses() {
        let mut audio = vec![0i16; 4000]; // 0.5 s silence
        audio.extend(tone(8000, 300.0, 600, 8000.0)); // "speech"
        audio.extend(vec![0i16; 8000]); // 1 s pause
        audio.extend(tone(8000, 300.0, 400, 8000.0));
        audio.extend(vec![0i16; 800]);
        let mut d = UtteranceDetector::new(8000, EndpointSettings::default());
        let mut cut = Vec::new();
        for chunk in audio.chunks(160) {
            cut.extend(d.push(chunk));
        }
        cut.extend(d.finish());
        assert_eq!(cut.len(), 2, "{cut:?}");
        assert_eq!(cut[0].start_ms, 300);
        assert!(cut[0].end_ms >= 1100 + 700 && cut[0].end_ms <= 1100 + 720);
        assert!(cut[1].start_ms >= 2100 - 200 && cut[1].start_ms <= 2100);
        // A click is not an utterance.
        let mut d = UtteranceDetector::new(8000, EndpointSettings::default());
        let mut click = vec![0i16; 800];
        click.extend(tone(8000, 300.0, 40, 8000.0));
        click.extend(vec![0i16; 8000]);
        assert!(d.push(&click).is_empty());
        assert!(d.finish().is_none());
    }
}
