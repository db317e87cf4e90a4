//! Text to speech through the `espeak-ng` program (feature `tts-espeak`).
//!
//! Each prompt runs `espeak-ng --stdout --stdin`, the WAV it writes is parsed
//! and resampled to the rate the call wants (8 kHz by default). espeak-ng is a
//! formant synthesiser: intelligible and fast, not natural; prerecorded prompt
//! files (the flow's `play` node) remain the default for production lines.

use crate::IvrError;
use async_trait::async_trait;
use callcore::{AudioClip, CoreError, SpeechSynthesizer, VoiceOptions};
use callcore_media::resample::resample_i16;
use callcore_media::wav::read_wav;
use futures::channel::oneshot;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

const PROVIDER: &str = "espeak-ng";

/// Settings of an [`EspeakSynthesizer`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EspeakConfig {
    /// The program (default `espeak-ng`, found on `PATH`).
    pub program: PathBuf,
    /// Words per minute.
    pub words_per_minute: u32,
    /// Voice for English when the request names none.
    pub english_voice: String,
    /// Voice for Chinese (Mandarin) when the request names none. The default,
    /// `cmn-latn-pinyin`, is espeak-ng's Mandarin voice with Latin letters read
    /// as pinyin: espeak-ng 1.51 (Debian 12) turns Hanzi into tone-numbered
    /// pinyin and its plain `cmn` voice then reads that pinyin as English
    /// ("请" comes out as "king three"); this variant reads it as Mandarin.
    pub chinese_voice: String,
}

impl Default for EspeakConfig {
    fn default() -> Self {
        EspeakConfig {
            program: PathBuf::from("espeak-ng"),
            words_per_minute: 150,
            english_voice: "en-us".to_string(),
            chinese_voice: "cmn-latn-pinyin".to_string(),
        }
    }
}

/// espeak-ng as callcore's [`SpeechSynthesizer`].
#[derive(Debug, Clone, Default)]
pub struct EspeakSynthesizer {
    config: EspeakConfig,
}

fn speech_error(message: impl std::fmt::Display) -> IvrError {
    IvrError::Speech {
        provider: PROVIDER,
        message: message.to_string(),
    }
}

impl EspeakSynthesizer {
    /// A synthesizer with these settings.
    pub fn new(config: EspeakConfig) -> Self {
        EspeakSynthesizer { config }
    }

    /// Whether the program can be run here.
    pub fn is_available(&self) -> bool {
        Command::new(&self.config.program)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false)
    }

    fn voice_for(&self, options: &VoiceOptions) -> String {
        if let Some(v) = options.voice.as_deref().filter(|v| !v.is_empty()) {
            return v.to_string();
        }
        match options.language.as_deref() {
            Some(l) if l.starts_with("zh") || l.starts_with("cmn") => {
                self.config.chinese_voice.clone()
            }
            Some(l) if !l.is_empty() && !l.starts_with("en") => l.to_string(),
            _ => self.config.english_voice.clone(),
        }
    }

    /// Synthesises `text` (blocking: runs the program and waits for it).
    pub fn synthesize_blocking(
        &self,
        text: &str,
        options: &VoiceOptions,
    ) -> Result<AudioClip, IvrError> {
        let voice = self.voice_for(options);
        if voice.starts_with('-') || voice.chars().any(char::is_whitespace) {
            return Err(speech_error(format!("invalid voice name {voice:?}")));
        }
        let mut child = Command::new(&self.config.program)
            .arg("--stdout")
            .arg("--stdin")
            .arg("-v")
            .arg(&voice)
            .arg("-s")
            .arg(self.config.words_per_minute.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| speech_error(format!("{}: {e}", self.config.program.display())))?;
        // The text goes through stdin, never the command line, so it cannot be
        // read as an option. Dropping stdin ends the input.
        if let Some(mut stdin) = child.stdin.take() {
            stdin
                .write_all(text.as_bytes())
                .and_then(|()| stdin.write_all(b"\n"))
                .map_err(|e| speech_error(format!("writing the text: {e}")))?;
        }
        let output = child
            .wait_with_output()
            .map_err(|e| speech_error(format!("waiting for the program: {e}")))?;
        if !output.status.success() {
            return Err(speech_error(format!(
                "exited with {}: {}",
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            )));
        }
        let wav = read_wav(&output.stdout).map_err(|e| IvrError::Audio {
            message: format!("WAV: {e}"),
        })?;
        let rate = if options.sample_rate == 0 {
            8000
        } else {
            options.sample_rate
        };
        Ok(AudioClip {
            sample_rate: rate,
            samples: resample_i16(&wav.to_mono(), wav.sample_rate, rate),
        })
    }
}

#[async_trait]
impl SpeechSynthesizer for EspeakSynthesizer {
    async fn synthesize(&self, text: &str, options: &VoiceOptions) -> Result<AudioClip, CoreError> {
        let (tx, rx) = oneshot::channel();
        let this = self.clone();
        let text = text.to_string();
        let options = options.clone();
        // The program runs on its own thread so the async executor never waits on it.
        std::thread::spawn(move || {
            let _ = tx.send(this.synthesize_blocking(&text, &options));
        });
        match rx.await {
            Ok(result) => result.map_err(CoreError::from),
            Err(_) => Err(CoreError::Provider(
                "espeak-ng: worker thread ended without a result".to_string(),
            )),
        }
    }
}
