//! Speech for the premise IVR without any cloud: prompts spoken by the `espeak-ng`
//! program when it is installed (else a short chime per sentence, so a caller still
//! hears that something is said), and a keypad-only recognizer so that menus work on
//! DTMF when no ASR model is installed.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use callcore::{
    AudioClip, CoreError, RecognitionOptions, RecognitionResult, RecognitionSession,
    SpeechRecognizer, SpeechSynthesizer, VoiceOptions,
};

/// Text to speech: `espeak-ng` when found on `PATH`, otherwise chimes. Clips are
/// 8 kHz (the line's rate) and cached by text: an IVR says the same prompts all
/// day, and a prompt that is ready at once leaves no gap between two prompts.
#[derive(Debug, Clone)]
pub struct PremiseVoice {
    espeak: bool,
    cache: Arc<Mutex<HashMap<String, AudioClip>>>,
}

impl PremiseVoice {
    /// Looks for `espeak-ng`.
    pub fn detect() -> Self {
        let espeak = std::process::Command::new("espeak-ng")
            .arg("--version")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        PremiseVoice {
            espeak,
            cache: Arc::default(),
        }
    }

    /// Synthesizes `texts` now so that calls find them ready.
    pub async fn prewarm(&self, texts: &[String]) {
        for t in texts {
            if let Err(e) = self.synthesize(t, &VoiceOptions::default()).await {
                tracing::warn!(error = %e, "prompt not synthesized ahead");
            }
        }
    }

    /// Whether prompts are real speech.
    pub fn is_speech(&self) -> bool {
        self.espeak
    }
}

/// The samples (mono) and rate of a WAV, through callcore-media's reader.
fn parse_wav(bytes: &[u8]) -> Option<(u32, Vec<i16>)> {
    let wav = callcore_media::wav::read_wav(bytes).ok()?;
    Some((wav.sample_rate, wav.to_mono()))
}

/// espeak-ng's voice for `text`: Mandarin when it is written in Chinese
/// characters (a Chinese menu, `[ivr] language = "zh"`), else American English.
/// The Mandarin voice is `cmn-latn-pinyin`: espeak-ng 1.51 (Debian 12) turns
/// Hanzi into tone-numbered pinyin, which its plain `cmn` voice reads as English
/// ("请" as "king three"); this variant reads it as Mandarin.
fn voice_for(text: &str) -> &'static str {
    let han = |c: char| matches!(c, '\u{3400}'..='\u{4DBF}' | '\u{4E00}'..='\u{9FFF}');
    if text.chars().any(han) {
        "cmn-latn-pinyin"
    } else {
        "en-us"
    }
}

/// A soft two-note chime per sentence, 8 kHz.
fn chimes(text: &str) -> Vec<i16> {
    let sentences = text.split(['.', '?', '!']).filter(|s| !s.trim().is_empty());
    let mut out = Vec::new();
    for _ in sentences {
        for hz in [660.0f64, 880.0] {
            out.extend((0..1600).map(|i| {
                let s = (f64::from(i) * hz * std::f64::consts::TAU / 8000.0).sin();
                (s * 4000.0) as i16
            }));
        }
        out.extend(std::iter::repeat_n(0i16, 2400));
    }
    out
}

#[async_trait]
impl SpeechSynthesizer for PremiseVoice {
    async fn synthesize(
        &self,
        text: &str,
        _options: &VoiceOptions,
    ) -> Result<AudioClip, CoreError> {
        if let Some(clip) = self
            .cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(text)
        {
            return Ok(clip.clone());
        }
        let clip = self.render(text).await?;
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if cache.len() < 1000 {
            cache.insert(text.to_owned(), clip.clone());
        }
        Ok(clip)
    }
}

impl PremiseVoice {
    async fn render(&self, text: &str) -> Result<AudioClip, CoreError> {
        if !self.espeak {
            return Ok(AudioClip {
                sample_rate: 8000,
                samples: chimes(text),
            });
        }
        let out = tokio::process::Command::new("espeak-ng")
            .args(["--stdout", "-v", voice_for(text), "-s", "165", "--", text])
            .stdin(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .output()
            .await
            .map_err(|e| CoreError::Provider(format!("espeak-ng: {e}")))?;
        let (sample_rate, samples) = parse_wav(&out.stdout)
            .ok_or_else(|| CoreError::Provider("espeak-ng wrote no WAV".into()))?;
        // espeak-ng speaks at 22,050 Hz; the telephone line is 8 kHz. Resample once
        // here, so the cached clip is ready for every call: resampling it on every
        // `say` of every call made the center CPU-bound under load (74 % of its time
        // in the resampler's sin/cos at ~1,000 concurrent calls).
        let samples = if sample_rate == 8000 {
            samples
        } else {
            tokio::task::spawn_blocking(move || {
                callcore_media::resample::resample_i16(&samples, sample_rate, 8000)
            })
            .await
            .map_err(|e| CoreError::Provider(format!("resampling a prompt: {e}")))?
        };
        Ok(AudioClip {
            sample_rate: 8000,
            samples,
        })
    }
}

/// A recognizer that hears no words: `listen` then ends on a key press (DTMF) or
/// with no input, which is how menus behave without an ASR model.
#[derive(Debug, Clone, Copy, Default)]
pub struct KeypadOnly;

#[derive(Debug)]
struct NoWords;

#[async_trait]
impl RecognitionSession for NoWords {
    async fn push_audio(&mut self, _samples: &[i16]) -> Result<(), CoreError> {
        Ok(())
    }
    async fn finish(&mut self) -> Result<(), CoreError> {
        Ok(())
    }
    async fn next_result(&mut self) -> Option<Result<RecognitionResult, CoreError>> {
        None
    }
}

#[async_trait]
impl SpeechRecognizer for KeypadOnly {
    async fn start(
        &self,
        _options: RecognitionOptions,
    ) -> Result<Box<dyn RecognitionSession>, CoreError> {
        Ok(Box::new(NoWords))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_wav_and_makes_chimes() {
        // The header `espeak-ng --stdout` writes: sizes it cannot know, near 2^31.
        let mut wav = b"RIFF\x24\xf0\xff\x7fWAVEfmt \x10\0\0\0\x01\0\x01\0".to_vec();
        wav.extend_from_slice(&22050u32.to_le_bytes());
        wav.extend_from_slice(&44100u32.to_le_bytes());
        wav.extend_from_slice(&[2, 0, 16, 0]);
        wav.extend_from_slice(b"data\x00\xf0\xff\x7f");
        wav.extend_from_slice(&[1, 0, 0xff, 0xff]);
        assert_eq!(parse_wav(&wav), Some((22050, vec![1, -1])));
        assert_eq!(parse_wav(b"nonsense"), None);
        assert_eq!(chimes("One. Two?").len(), 2 * (3200 + 2400));
        assert_eq!(voice_for("For billing, press 1."), "en-us");
        assert_eq!(voice_for("Hello. 账单查询请按1。"), "cmn-latn-pinyin");
    }

    #[tokio::test]
    async fn spoken_prompts_are_cached_at_the_line_rate() {
        let voice = PremiseVoice::detect();
        if !voice.is_speech() {
            assert!(
                std::env::var("CALLCORE_REQUIRE_PEERS").as_deref() != Ok("1"),
                "espeak-ng is required (CALLCORE_REQUIRE_PEERS=1)"
            );
            eprintln!("espeak-ng not installed: skipping the spoken-prompt test");
            return;
        }
        let clip = voice
            .synthesize("Press one for billing.", &VoiceOptions::default())
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        // 8 kHz, so no call resamples it again; about a second and a half of speech
        assert_eq!(clip.sample_rate, 8000);
        assert!(clip.samples.len() > 8000, "{} samples", clip.samples.len());
        let loud = clip
            .samples
            .iter()
            .filter(|s| s.unsigned_abs() > 1000)
            .count();
        assert!(loud > 1000, "speech, not silence: {loud} loud samples");
    }
}
