//! Offline speech recognition with Whisper (CTranslate2 through `ct2rs`).
//!
//! Enabled by the `asr-whisper` cargo feature. The model is a Whisper model in
//! CTranslate2 format (`model.bin`, `tokenizer.json`, `config.json`,
//! `preprocessor_config.json`); `scripts/fetch-asr-model.sh` puts tiny.en in
//! `.cache/asr/whisper-tiny.en`, and [`MODEL_ENV`] points at it.
//!
//! Telephone audio (8 kHz) is resampled to the model's 16 kHz, cut into
//! utterances at pauses ([`UtteranceDetector`]), and each utterance is
//! transcribed on a worker thread so the async caller never blocks. An initial
//! prompt (the menu's phrases from [`RecognitionOptions::hints`] and/or
//! [`WhisperConfig::initial_prompt`]) steers the decoder towards the words the
//! flow expects, which matters on narrow-band audio.

use super::audio::{EndpointSettings, Utterance, UtteranceDetector};
use super::dump::SessionDump;
use super::whisper_text::{hint_coverage, hint_words, is_cjk, whisper_language_code};
use crate::IvrError;
use async_trait::async_trait;
use callcore::{
    CoreError, RecognitionOptions, RecognitionResult, RecognitionSession, SpeechRecognizer,
};
use ct2rs::Tokenizer as _;
use futures::channel::oneshot;
use serde::Deserialize;
use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Environment variable naming the model folder.
pub const MODEL_ENV: &str = "CALLCORE_WHISPER_MODEL";

/// The folder `scripts/fetch-asr-model.sh` fills, relative to the workspace root.
pub const DEFAULT_MODEL_DIR: &str = ".cache/asr/whisper-tiny.en";

const PROVIDER: &str = "whisper";

/// Weight (in log-probability per token) of phrase-hint coverage when the
/// n-best list is rescored.
const HINT_BOOST: f32 = 0.35;

/// Whisper's prompt budget: half of its 448-token context.
const MAX_PROMPT_TOKENS: usize = 223;

/// Settings of a [`WhisperRecognizer`].
#[derive(Debug, Clone, PartialEq)]
pub struct WhisperConfig {
    /// Folder with the CTranslate2 model files.
    pub model_dir: PathBuf,
    /// Default language for multilingual models (`"en"`, `"zh"`); a session's
    /// [`RecognitionOptions::language`] overrides it. English-only models
    /// ignore both.
    pub language: Option<String>,
    /// Beam width (1 = greedy).
    pub beam_size: usize,
    /// Text given to the decoder as previous context on every utterance, e.g.
    /// the phrases of the line ("check my bill, lost card, technical fault").
    /// Session hints are appended to it.
    pub initial_prompt: Option<String>,
    /// How utterances are cut from the stream.
    pub endpoint: EndpointSettings,
    /// Results whose no-speech probability is above this are dropped (noise,
    /// breathing).
    pub no_speech_threshold: f32,
    /// CPU threads of the model (0 = CTranslate2's default).
    pub threads: usize,
    /// Forbid repeating any n-gram of this many tokens (0 = off). Whisper can
    /// loop on unclear audio ("试试试试…"); 3 cut the Mandarin test's
    /// character error rate from 0.57 to 0.52 (callcore-ivr/README.md).
    pub no_repeat_ngram_size: usize,
}

impl WhisperConfig {
    /// Default settings for the model in `model_dir`.
    pub fn new(model_dir: impl Into<PathBuf>) -> Self {
        WhisperConfig {
            model_dir: model_dir.into(),
            language: Some("en".to_string()),
            beam_size: 5,
            initial_prompt: None,
            endpoint: EndpointSettings::default(),
            no_speech_threshold: 0.6,
            threads: 0,
            no_repeat_ngram_size: 0,
        }
    }

    /// Settings for the folder named by [`MODEL_ENV`]; `None` when it is unset.
    pub fn from_env() -> Option<Self> {
        std::env::var_os(MODEL_ENV)
            .filter(|v| !v.is_empty())
            .map(|dir| WhisperConfig::new(PathBuf::from(dir)))
    }

    /// Whether `dir` holds the files a model needs.
    pub fn is_model_dir(dir: &Path) -> bool {
        [
            "model.bin",
            "tokenizer.json",
            "config.json",
            "preprocessor_config.json",
        ]
        .iter()
        .all(|f| dir.join(f).is_file())
    }
}

/// `preprocessor_config.json`: how audio becomes log-mel features.
#[derive(Debug, Deserialize)]
struct FeatureSettings {
    feature_size: usize,
    hop_length: usize,
    n_fft: usize,
    n_samples: usize,
    nb_max_frames: usize,
    sampling_rate: usize,
}

/// One transcribed utterance.
#[derive(Debug, Clone, PartialEq)]
pub struct Transcript {
    /// The words, trimmed.
    pub text: String,
    /// Mean token probability of the best hypothesis, 0–1.
    pub confidence: f32,
    /// Probability that the audio held no speech.
    pub no_speech_prob: f32,
}

struct Model {
    whisper: ct2rs::sys::Whisper,
    tokenizer: ct2rs::tokenizers::hf::Tokenizer,
    features: FeatureSettings,
    /// Mel filter bank, `feature_size` rows of `n_fft / 2 + 1` weights.
    mel_filters: Vec<Vec<f32>>,
    window: Vec<f32>,
    fft: Arc<dyn rustfft::Fft<f32>>,
    config: WhisperConfig,
}

/// Whisper as callcore's [`SpeechRecognizer`]. Cheap to clone; the model is
/// shared (read-only) by all sessions.
#[derive(Clone)]
pub struct WhisperRecognizer {
    model: Arc<Model>,
}

impl std::fmt::Debug for WhisperRecognizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WhisperRecognizer")
            .field("config", &self.model.config)
            .field("multilingual", &self.model.whisper.is_multilingual())
            .finish()
    }
}

fn speech_error(message: impl std::fmt::Display) -> IvrError {
    IvrError::Speech {
        provider: PROVIDER,
        message: message.to_string(),
    }
}

impl WhisperRecognizer {
    /// Loads the model (blocking; about a quarter of a second for tiny.en).
    pub fn load(config: WhisperConfig) -> Result<Self, IvrError> {
        let dir = &config.model_dir;
        if !WhisperConfig::is_model_dir(dir) {
            return Err(speech_error(format!(
                "{} is not a Whisper CTranslate2 model folder (model.bin, tokenizer.json, \
                 config.json, preprocessor_config.json); run scripts/fetch-asr-model.sh",
                dir.display()
            )));
        }
        let pre_path = dir.join("preprocessor_config.json");
        let text = std::fs::read_to_string(&pre_path).map_err(|source| IvrError::Io {
            path: pre_path.display().to_string(),
            source,
        })?;
        let features: FeatureSettings =
            serde_json::from_str(&text).map_err(|e| IvrError::json("preprocessor config", &e))?;
        if features.n_fft < 2 || features.hop_length == 0 || features.sampling_rate == 0 {
            return Err(speech_error(
                "preprocessor_config.json: unusable STFT settings",
            ));
        }
        let ct2_config = ct2rs::Config {
            num_threads_per_replica: config.threads,
            ..Default::default()
        };
        let whisper = ct2rs::sys::Whisper::new(dir, ct2_config).map_err(speech_error)?;
        let mut tokenizer = ct2rs::tokenizers::hf::Tokenizer::new(dir).map_err(speech_error)?;
        tokenizer.disable_spacial_token();
        let bank = mel_spec::mel::mel(
            features.sampling_rate as f64,
            features.n_fft,
            features.feature_size,
            None,
            None,
            false,
            true,
        );
        let bins = features.n_fft / 2 + 1;
        let mel_filters = (0..features.feature_size)
            .map(|m| (0..bins).map(|k| bank[[m, k]] as f32).collect())
            .collect();
        // Periodic Hann window, as Whisper's feature extractor uses.
        let n = features.n_fft;
        let window = (0..n)
            .map(|i| (0.5 - 0.5 * (2.0 * std::f64::consts::PI * i as f64 / n as f64).cos()) as f32)
            .collect();
        let fft = rustfft::FftPlanner::new().plan_fft_forward(n);
        Ok(WhisperRecognizer {
            model: Arc::new(Model {
                whisper,
                tokenizer,
                features,
                mel_filters,
                window,
                fft,
                config,
            }),
        })
    }

    /// Loads the model named by [`MODEL_ENV`].
    pub fn from_env() -> Result<Self, IvrError> {
        let config = WhisperConfig::from_env()
            .ok_or_else(|| speech_error(format!("{MODEL_ENV} is not set")))?;
        Self::load(config)
    }

    /// The settings the recognizer was loaded with.
    pub fn config(&self) -> &WhisperConfig {
        &self.model.config
    }

    /// Transcribes one utterance (blocking; run it off the async executor).
    /// `hints` are phrases to favour, added to the initial prompt.
    pub fn transcribe(
        &self,
        samples: &[i16],
        sample_rate: u32,
        hints: &[String],
    ) -> Result<Transcript, IvrError> {
        self.model.transcribe(samples, sample_rate, hints, None)
    }

    /// [`transcribe`](Self::transcribe) in a given language (`"zh"`, `"zh-CN"`,
    /// `"cmn"`, `"en"`), overriding [`WhisperConfig::language`] for this
    /// utterance. English-only models ignore it; a language the model has no
    /// token for falls back to the configured one.
    pub fn transcribe_in(
        &self,
        samples: &[i16],
        sample_rate: u32,
        hints: &[String],
        language: Option<&str>,
    ) -> Result<Transcript, IvrError> {
        self.model.transcribe(samples, sample_rate, hints, language)
    }

    /// The Whisper language code a request for `language` decodes with on this
    /// model (`None` for English-only models, which take no language token).
    pub fn language_for(&self, language: Option<&str>) -> Option<String> {
        self.model.language(language)
    }
}

impl Model {
    /// The language token's code for a request: the request's language when the
    /// model has a token for it, else the configured one, else English.
    /// `None` for English-only models.
    fn language(&self, requested: Option<&str>) -> Option<String> {
        if !self.whisper.is_multilingual() {
            return None;
        }
        let known = |code: &String| self.tokenizer.token_to_id(&format!("<|{code}|>")).is_some();
        if let Some(code) = requested.and_then(whisper_language_code) {
            if known(&code) {
                return Some(code);
            }
            tracing::warn!(language = %code, "whisper: no such language in the model; using the configured one");
        }
        Some(
            self.config
                .language
                .as_deref()
                .and_then(whisper_language_code)
                .filter(known)
                .unwrap_or_else(|| "en".to_string()),
        )
    }

    fn transcribe(
        &self,
        samples: &[i16],
        sample_rate: u32,
        hints: &[String],
        language: Option<&str>,
    ) -> Result<Transcript, IvrError> {
        if sample_rate == 0 {
            return Err(IvrError::Audio {
                message: "sample rate 0".to_string(),
            });
        }
        let input: Vec<f32> = samples.iter().map(|&s| f32::from(s) / 32768.0).collect();
        let mut audio = callcore_media::resample::resample(
            &input,
            sample_rate,
            self.features.sampling_rate as u32,
        );
        // One 30-second window per utterance; the detector cuts long speech before that.
        audio.truncate(self.features.n_samples);
        if audio.is_empty() {
            return Ok(Transcript {
                text: String::new(),
                confidence: 0.0,
                no_speech_prob: 1.0,
            });
        }
        let mut mel = self.log_mel(&audio);
        let shape = [1, self.features.feature_size, self.features.nb_max_frames];
        let view = ct2rs::sys::StorageView::new(&shape, &mut mel, Default::default())
            .map_err(speech_error)?;
        let prompt = self.prompt(hints, language)?;
        let vocabulary = hint_words(hints, self.config.initial_prompt.as_deref());
        let beam = self.config.beam_size.max(1);
        let options = ct2rs::WhisperOptions {
            beam_size: beam,
            // With phrase hints, rescore the n-best list (see below).
            num_hypotheses: if vocabulary.is_empty() { 1 } else { beam },
            return_scores: true,
            return_no_speech_prob: true,
            no_repeat_ngram_size: self.config.no_repeat_ngram_size,
            ..Default::default()
        };
        let result = self
            .whisper
            .generate(&view, &[prompt], &options)
            .map_err(speech_error)?
            .into_iter()
            .next()
            .ok_or_else(|| speech_error("no result"))?;
        let mut best: Option<(f32, f32, String)> = None;
        for (i, tokens) in result.sequences.into_iter().enumerate() {
            let n_tokens = tokens.len().max(1) as f32;
            let text = self
                .tokenizer
                .decode(tokens)
                .map_err(speech_error)?
                .trim()
                .to_string();
            // CTranslate2 scores are length-normalised log probabilities
            // (cumulative / length) unless configured otherwise; guard both.
            let score = result.scores.get(i).copied().unwrap_or(0.0);
            let mean_logprob = if score < -20.0 {
                score / n_tokens
            } else {
                score
            };
            // Phrase hints: hypotheses made of the expected words win close calls.
            let ranked = mean_logprob + HINT_BOOST * hint_coverage(&text, &vocabulary);
            if best.as_ref().is_none_or(|(r, _, _)| ranked > *r) {
                best = Some((ranked, mean_logprob, text));
            }
        }
        let (_, mean_logprob, text) = best.ok_or_else(|| speech_error("no hypothesis"))?;
        Ok(Transcript {
            text,
            confidence: mean_logprob.exp().clamp(0.0, 1.0),
            no_speech_prob: result.no_speech_prob,
        })
    }

    /// Decoder prompt: previous-context text (initial prompt + hints), then
    /// the start-of-transcript tokens.
    fn prompt(&self, hints: &[String], language: Option<&str>) -> Result<Vec<String>, IvrError> {
        let mut context = self.config.initial_prompt.clone().unwrap_or_default();
        for hint in hints.iter().filter(|h| !h.trim().is_empty()) {
            match context.chars().last() {
                None | Some('。' | '，') => {}
                Some('.' | ',') => context.push(' '),
                Some(c) if is_cjk(c) => context.push('，'),
                Some(_) => context.push_str(". "),
            }
            context.push_str(hint.trim());
        }
        let mut prompt = Vec::new();
        if !context.is_empty() {
            let mut tokens = self
                .tokenizer
                .encode(&format!(" {}", context.trim()))
                .map_err(speech_error)?;
            if tokens.len() > MAX_PROMPT_TOKENS {
                tokens.drain(..tokens.len() - MAX_PROMPT_TOKENS);
            }
            prompt.push("<|startofprev|>".to_string());
            prompt.extend(tokens);
        }
        prompt.push("<|startoftranscript|>".to_string());
        if let Some(lang) = self.language(language) {
            prompt.push(format!("<|{lang}|>"));
            prompt.push("<|transcribe|>".to_string());
        }
        prompt.push("<|notimestamps|>".to_string());
        Ok(prompt)
    }

    /// Whisper's log-mel features for one 30-second window: centred STFT
    /// (reflect padding), power spectrum, mel bank, log10, clamp to 8 below
    /// the window's maximum, scale. Row-major `[feature_size, nb_max_frames]`.
    fn log_mel(&self, audio: &[f32]) -> Vec<f32> {
        let f = &self.features;
        let mut padded = audio.to_vec();
        padded.resize(f.n_samples, 0.0);
        let half = f.n_fft / 2;
        // Reflect padding of n_fft/2 on both sides (centre = true).
        let reflect = |i: isize| -> f32 {
            let n = padded.len() as isize;
            let mut j = i;
            if j < 0 {
                j = -j;
            }
            if j >= n {
                j = 2 * (n - 1) - j;
            }
            padded[j.clamp(0, n - 1) as usize]
        };
        let bins = half + 1;
        let frames = f.nb_max_frames;
        let mut out = vec![0f32; f.feature_size * frames];
        let mut buf = vec![rustfft::num_complex::Complex::<f32>::new(0.0, 0.0); f.n_fft];
        let mut power = vec![0f32; bins];
        for t in 0..frames {
            let start = (t * f.hop_length) as isize - half as isize;
            for (i, c) in buf.iter_mut().enumerate() {
                *c = rustfft::num_complex::Complex::new(
                    reflect(start + i as isize) * self.window[i],
                    0.0,
                );
            }
            self.fft.process(&mut buf);
            for (k, p) in power.iter_mut().enumerate() {
                *p = buf[k].norm_sqr();
            }
            for (m, filter) in self.mel_filters.iter().enumerate() {
                let e: f32 = filter.iter().zip(&power).map(|(w, p)| w * p).sum();
                out[m * frames + t] = e.max(1e-10).log10();
            }
        }
        let max = out.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        for v in &mut out {
            *v = (v.max(max - 8.0) + 4.0) / 4.0;
        }
        out
    }
}

#[async_trait]
impl SpeechRecognizer for WhisperRecognizer {
    /// One CTranslate2 replica (on all its threads): one utterance at a time.
    fn concurrency(&self) -> Option<usize> {
        Some(1)
    }

    async fn start(
        &self,
        options: RecognitionOptions,
    ) -> Result<Box<dyn RecognitionSession>, CoreError> {
        let sample_rate = if options.sample_rate == 0 {
            8000
        } else {
            options.sample_rate
        };
        Ok(Box::new(WhisperSession {
            detector: UtteranceDetector::new(sample_rate, self.model.config.endpoint.clone()),
            model: self.model.clone(),
            sample_rate,
            hints: Arc::new(options.hints),
            language: options.language.map(Arc::from),
            pending: VecDeque::new(),
            finished: false,
            dump: SessionDump::from_env(sample_rate),
            utterances: 0,
        }))
    }
}

type Pending = oneshot::Receiver<(Utterance, Result<Transcript, IvrError>)>;

/// A streaming recognition on a [`WhisperRecognizer`]: utterances end at
/// pauses (or at [`RecognitionSession::finish`]) and come back as final results
/// in order.
struct WhisperSession {
    model: Arc<Model>,
    detector: UtteranceDetector,
    sample_rate: u32,
    hints: Arc<Vec<String>>,
    /// [`RecognitionOptions::language`] (from `ListenSpec::language` on live
    /// calls); `None` decodes in [`WhisperConfig::language`].
    language: Option<Arc<str>>,
    pending: VecDeque<Pending>,
    finished: bool,
    /// The diagnostic dump ([`super::dump::DUMP_ENV`]), when asked for.
    dump: Option<SessionDump>,
    /// Utterances submitted so far.
    utterances: usize,
}

impl WhisperSession {
    fn submit(&mut self, utterance: Utterance) {
        let (tx, rx) = oneshot::channel();
        let model = self.model.clone();
        let hints = self.hints.clone();
        let language = self.language.clone();
        let rate = self.sample_rate;
        let dump = self.dump.as_ref().map(|d| d.utterance(self.utterances));
        self.utterances += 1;
        // CTranslate2 runs the model on its own threads; this thread only waits
        // for it, so the async executor is never blocked.
        std::thread::spawn(move || {
            let result = model.transcribe(&utterance.samples, rate, &hints, language.as_deref());
            if let Some(dump) = dump {
                let heard = match &result {
                    Ok(t) => format!(
                        "confidence {:.3} no_speech {:.3} text {:?}",
                        t.confidence, t.no_speech_prob, t.text
                    ),
                    Err(e) => format!("error {e}"),
                };
                dump.write(
                    &utterance.samples,
                    utterance.start_ms,
                    utterance.end_ms,
                    &heard,
                );
            }
            // The session may have been dropped: nothing to deliver then.
            let _ = tx.send((utterance, result));
        });
        self.pending.push_back(rx);
    }
}

#[async_trait]
impl RecognitionSession for WhisperSession {
    async fn push_audio(&mut self, samples: &[i16]) -> Result<(), CoreError> {
        if self.finished {
            return Err(CoreError::Provider(
                "whisper: audio pushed after finish".to_string(),
            ));
        }
        if let Some(dump) = &mut self.dump {
            dump.push(samples);
        }
        for utterance in self.detector.push(samples) {
            self.submit(utterance);
        }
        Ok(())
    }

    async fn finish(&mut self) -> Result<(), CoreError> {
        if !self.finished {
            self.finished = true;
            if let Some(utterance) = self.detector.finish() {
                self.submit(utterance);
            }
            if let Some(dump) = &mut self.dump {
                dump.finish();
            }
        }
        Ok(())
    }

    async fn next_result(&mut self) -> Option<Result<RecognitionResult, CoreError>> {
        loop {
            let rx = self.pending.pop_front()?;
            let (utterance, result) = match rx.await {
                Ok(v) => v,
                Err(_) => {
                    return Some(Err(CoreError::Provider(
                        "whisper: worker thread ended without a result".to_string(),
                    )));
                }
            };
            match result {
                Err(e) => return Some(Err(e.into())),
                Ok(t) => {
                    let noise = t.text.is_empty()
                        || t.no_speech_prob > self.model.config.no_speech_threshold;
                    if noise {
                        continue;
                    }
                    return Some(Ok(RecognitionResult {
                        text: t.text,
                        is_final: true,
                        confidence: t.confidence,
                        start_ms: utterance.start_ms,
                        end_ms: utterance.end_ms,
                    }));
                }
            }
        }
    }
}
