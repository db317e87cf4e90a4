use crate::CoreError;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// PCM audio: mono, signed 16-bit samples.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct AudioClip {
    /// Samples per second (8000 for G.711 calls).
    pub sample_rate: u32,
    /// The samples.
    pub samples: Vec<i16>,
}

/// Options of one recognition session.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct RecognitionOptions {
    /// Language (`"en"`, `"zh"`); `None` lets the recogniser decide.
    pub language: Option<String>,
    /// Sample rate of the audio that will be pushed.
    pub sample_rate: u32,
    /// Whether to report partial (interim) results.
    pub interim_results: bool,
    /// Phrases to favour (menu choices, names).
    pub hints: Vec<String>,
}

/// A recognised stretch of speech.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecognitionResult {
    /// The words.
    pub text: String,
    /// Final (will not change) or interim.
    pub is_final: bool,
    /// Confidence, 0–1.
    pub confidence: f32,
    /// Offset of the start of the speech from the start of the session.
    pub start_ms: u64,
    /// Offset of the end.
    pub end_ms: u64,
}

/// One streaming recognition: push audio, read results.
#[async_trait]
pub trait RecognitionSession: Send {
    /// Feeds audio (any chunk size).
    async fn push_audio(&mut self, samples: &[i16]) -> Result<(), CoreError>;

    /// No more audio will come; pending speech is finalised.
    async fn finish(&mut self) -> Result<(), CoreError>;

    /// The next result; `None` when the session is over.
    async fn next_result(&mut self) -> Option<Result<RecognitionResult, CoreError>>;
}

/// A streaming speech recogniser (ASR).
#[async_trait]
pub trait SpeechRecognizer: Send + Sync {
    /// Starts a recognition session.
    async fn start(
        &self,
        options: RecognitionOptions,
    ) -> Result<Box<dyn RecognitionSession>, CoreError>;

    /// How many utterances this recogniser decodes at once, when it has a
    /// limit (a local model with one replica: 1; sessions past it wait
    /// inside it). `None`, the default: as many as are started. A center
    /// queueing work for it sizes its queue's workers from this.
    fn concurrency(&self) -> Option<usize> {
        None
    }
}

/// A recognised intent with its score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IntentScore {
    /// Intent name.
    pub intent: String,
    /// Confidence, 0–1.
    pub confidence: f32,
}

/// A slot (entity) found in an utterance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Slot {
    /// Slot name (`"amount"`, `"card_number"`, `"plan"`).
    pub name: String,
    /// Normalised value (`"25.50"`, `"2026-11-25"`).
    pub value: String,
    /// The text it was found in, as written.
    pub raw: String,
}

/// What NLU understood.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct IntentResult {
    /// The intent, or `None` when the text matches no intent well enough.
    pub intent: Option<String>,
    /// Confidence of `intent` (of the best candidate when `intent` is `None`).
    pub confidence: f32,
    /// Other candidates, best first.
    pub alternatives: Vec<IntentScore>,
    /// Slots found.
    pub slots: Vec<Slot>,
}

/// Context NLU may use (the intent the flow expects, the language).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct NluContext {
    /// Language of the text.
    pub language: Option<String>,
    /// Intents the current step expects, to favour them.
    pub expected_intents: Vec<String>,
    /// Variables collected so far.
    pub variables: BTreeMap<String, String>,
}

/// Natural-language understanding: text to intent, confidence and slots.
#[async_trait]
pub trait IntentRecognizer: Send + Sync {
    /// Classifies one utterance.
    async fn recognize(&self, text: &str, context: &NluContext) -> Result<IntentResult, CoreError>;
}

/// Voice options for TTS.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct VoiceOptions {
    /// Language (`"en"`, `"zh"`).
    pub language: Option<String>,
    /// Voice name of the provider.
    pub voice: Option<String>,
    /// Sample rate wanted (8000 for calls).
    pub sample_rate: u32,
}

/// Text to speech.
#[async_trait]
pub trait SpeechSynthesizer: Send + Sync {
    /// Synthesises `text` to PCM.
    async fn synthesize(&self, text: &str, options: &VoiceOptions) -> Result<AudioClip, CoreError>;
}
