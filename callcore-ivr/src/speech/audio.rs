//! Audio helpers for the speech providers: sample-rate conversion, WAV
//! parsing and a simple energy-based end-of-utterance detector.
//!
//! Telephone audio is 8 kHz; Whisper wants 16 kHz and espeak-ng speaks at
//! 22.05 kHz, so both directions go through [`resample`], a windowed-sinc
//! converter whose low-pass cut-off is the lower of the two Nyquist
//! frequencies (no aliasing when going down, no images when going up).

use crate::IvrError;
use callcore::AudioClip;

/// Zero crossings of the sinc kernel kept on each side of the output sample.
const KERNEL_ZERO_CROSSINGS: f64 = 12.0;

/// Converts mono PCM from `from_rate` to `to_rate` samples per second.
///
/// Returns the input unchanged when the rates are equal; an empty slice or a
/// zero rate gives an empty result.
pub fn resample(samples: &[i16], from_rate: u32, to_rate: u32) -> Vec<i16> {
    if from_rate == to_rate {
        return samples.to_vec();
    }
    resample_f32(&to_f32(samples), from_rate, to_rate)
        .into_iter()
        .map(f32_to_i16)
        .collect()
}

/// Like [`resample`], on samples normalised to `[-1, 1]`.
pub fn resample_f32(samples: &[f32], from_rate: u32, to_rate: u32) -> Vec<f32> {
    if from_rate == to_rate {
        return samples.to_vec();
    }
    if samples.is_empty() || from_rate == 0 || to_rate == 0 {
        return Vec::new();
    }
    let step = f64::from(from_rate) / f64::from(to_rate);
    // Cut-off in cycles per input sample: half of the lower rate.
    let cutoff = 0.5 * f64::from(from_rate.min(to_rate)) / f64::from(from_rate);
    let half_width = KERNEL_ZERO_CROSSINGS / (2.0 * cutoff);
    let out_len = ((samples.len() as u64 * u64::from(to_rate)) / u64::from(from_rate)) as usize;
    let last = samples.len() as i64 - 1;
    let mut out = Vec::with_capacity(out_len);
    for n in 0..out_len {
        let t = n as f64 * step;
        let first = (t - half_width).ceil().max(0.0) as i64;
        let end = ((t + half_width).floor() as i64).min(last);
        let mut acc = 0.0f64;
        let mut weight_sum = 0.0f64;
        for k in first..=end {
            let x = k as f64 - t;
            let w = windowed_sinc(x, cutoff, half_width);
            acc += w * f64::from(samples[k as usize]);
            weight_sum += w;
        }
        // Normalising by the weights keeps the gain at 1 near the edges too.
        let value = if weight_sum.abs() > 1e-9 {
            acc / weight_sum
        } else {
            0.0
        };
        out.push(value as f32);
    }
    out
}

fn windowed_sinc(x: f64, cutoff: f64, half_width: f64) -> f64 {
    let arg = 2.0 * cutoff * x;
    let sinc = if arg.abs() < 1e-12 {
        1.0
    } else {
        (std::f64::consts::PI * arg).sin() / (std::f64::consts::PI * arg)
    };
    // Blackman window over [-half_width, half_width].
    let p = (x / half_width + 1.0) * 0.5;
    let window = 0.42 - 0.5 * (2.0 * std::f64::consts::PI * p).cos()
        + 0.08 * (4.0 * std::f64::consts::PI * p).cos();
    2.0 * cutoff * sinc * window.max(0.0)
}

/// Signed 16-bit samples to `[-1, 1]` floats.
pub fn to_f32(samples: &[i16]) -> Vec<f32> {
    samples.iter().map(|&s| f32::from(s) / 32768.0).collect()
}

fn f32_to_i16(v: f32) -> i16 {
    (v * 32768.0).round().clamp(-32768.0, 32767.0) as i16
}

/// Parses a RIFF/WAVE file holding PCM (8 or 16 bit, any channel count;
/// channels are averaged to mono). Streams that end early or announce a data
/// size of `0xFFFF_FFFF` (as `espeak-ng --stdout` does) are read to the end of
/// the buffer.
pub fn parse_wav(bytes: &[u8]) -> Result<AudioClip, IvrError> {
    let bad = |message: &str| IvrError::Audio {
        message: format!("WAV: {message}"),
    };
    if bytes.len() < 12 || &bytes[0..4] != b"RIFF" || &bytes[8..12] != b"WAVE" {
        return Err(bad("not a RIFF/WAVE file"));
    }
    let mut pos = 12;
    let mut format: Option<(u16, u16, u32, u16)> = None;
    while pos + 8 <= bytes.len() {
        let id = &bytes[pos..pos + 4];
        let size = u32::from_le_bytes([
            bytes[pos + 4],
            bytes[pos + 5],
            bytes[pos + 6],
            bytes[pos + 7],
        ]) as usize;
        let body = pos + 8;
        if id == b"fmt " {
            if size < 16 || body + 16 > bytes.len() {
                return Err(bad("short fmt chunk"));
            }
            let f = &bytes[body..body + 16];
            let tag = u16::from_le_bytes([f[0], f[1]]);
            let channels = u16::from_le_bytes([f[2], f[3]]);
            let rate = u32::from_le_bytes([f[4], f[5], f[6], f[7]]);
            let bits = u16::from_le_bytes([f[14], f[15]]);
            format = Some((tag, channels, rate, bits));
        } else if id == b"data" {
            let (tag, channels, rate, bits) =
                format.ok_or_else(|| bad("data chunk before fmt chunk"))?;
            // 1 = PCM, 0xFFFE = WAVE_FORMAT_EXTENSIBLE (PCM sub-format assumed).
            if tag != 1 && tag != 0xFFFE {
                return Err(bad(&format!("format tag {tag} is not PCM")));
            }
            if channels == 0 || rate == 0 {
                return Err(bad("zero channels or sample rate"));
            }
            let end = body.saturating_add(size).min(bytes.len());
            let data = &bytes[body..end];
            let per_sample = match bits {
                8 => 1,
                16 => 2,
                other => return Err(bad(&format!("{other}-bit samples are not supported"))),
            };
            let frame = per_sample * usize::from(channels);
            let mut samples = Vec::with_capacity(data.len() / frame);
            for chunk in data.chunks_exact(frame) {
                let mut sum = 0i32;
                for c in chunk.chunks_exact(per_sample) {
                    sum += if per_sample == 1 {
                        (i32::from(c[0]) - 128) << 8
                    } else {
                        i32::from(i16::from_le_bytes([c[0], c[1]]))
                    };
                }
                samples.push((sum / i32::from(channels)) as i16);
            }
            return Ok(AudioClip {
                sample_rate: rate,
                samples,
            });
        }
        // Chunks are padded to an even size.
        pos = body.saturating_add(size).saturating_add(size & 1);
    }
    Err(bad("no data chunk"))
}

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

    fn rms(s: &[i16]) -> f64 {
        (s.iter().map(|&v| f64::from(v).powi(2)).sum::<f64>() / s.len() as f64).sqrt()
    }

    #[test]
    fn upsampling_keeps_a_tone_and_doubles_the_length() {
        let input = tone(8000, 440.0, 200, 10_000.0);
        let out = resample(&input, 8000, 16000);
        assert_eq!(out.len(), input.len() * 2);
        let reference = tone(16000, 440.0, 200, 10_000.0);
        // Compare away from the edges.
        let err: f64 = out[400..2800]
            .iter()
            .zip(&reference[400..2800])
            .map(|(a, b)| (f64::from(*a) - f64::from(*b)).abs())
            .fold(0.0, f64::max);
        assert!(err < 150.0, "max error {err}");
    }

    #[test]
    fn downsampling_removes_frequencies_above_the_new_nyquist() {
        // 6 kHz cannot be represented at 8 kHz: it must be filtered, not folded to 2 kHz.
        let high = tone(22050, 6000.0, 300, 10_000.0);
        let out = resample(&high, 22050, 8000);
        assert!((out.len() as i64 - 2400).abs() <= 1);
        assert!(rms(&out[200..2200]) < 300.0, "rms {}", rms(&out[200..2200]));
        let low = tone(22050, 1000.0, 300, 10_000.0);
        let out = resample(&low, 22050, 8000);
        let r = rms(&out[200..2200]);
        assert!((r - 7071.0).abs() < 300.0, "rms {r}");
    }

    #[test]
    fn wav_round_trip_and_errors() {
        let samples: Vec<i16> = vec![0, 1000, -1000, 32767, -32768];
        let mut wav = Vec::new();
        wav.extend_from_slice(b"RIFF");
        wav.extend_from_slice(&(36 + 10u32).to_le_bytes());
        wav.extend_from_slice(b"WAVEfmt ");
        wav.extend_from_slice(&16u32.to_le_bytes());
        wav.extend_from_slice(&1u16.to_le_bytes());
        wav.extend_from_slice(&1u16.to_le_bytes());
        wav.extend_from_slice(&22050u32.to_le_bytes());
        wav.extend_from_slice(&44100u32.to_le_bytes());
        wav.extend_from_slice(&2u16.to_le_bytes());
        wav.extend_from_slice(&16u16.to_le_bytes());
        wav.extend_from_slice(b"data");
        // espeak-ng --stdout announces an unknown length.
        wav.extend_from_slice(&0xFFFF_FFFFu32.to_le_bytes());
        for s in &samples {
            wav.extend_from_slice(&s.to_le_bytes());
        }
        let clip = parse_wav(&wav).unwrap();
        assert_eq!(clip.sample_rate, 22050);
        assert_eq!(clip.samples, samples);
        assert!(parse_wav(b"RIFX0000WAVE").is_err());
        assert!(parse_wav(&wav[..20]).is_err());
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
