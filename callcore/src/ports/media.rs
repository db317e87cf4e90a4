use crate::{CoreError, RecordingId};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::time::Duration;

/// Something to play to the customer.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "value")]
#[non_exhaustive]
pub enum Prompt {
    /// An audio file (WAV, MP3, OGG, FLAC) or a named prompt of the transport.
    File(String),
    /// Silence of this many milliseconds.
    SilenceMs(u32),
    /// Music on hold until interrupted or stopped.
    MusicOnHold,
}

/// How a play or say ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum PlayOutcome {
    /// Played to the end.
    Completed,
    /// Interrupted by the caller (barge-in): the digit or text that interrupted.
    /// The input stays buffered (type-ahead), so the `collect_digits` or
    /// `listen` that follows the prompt reads it: a caller who presses 2
    /// during the menu prompt is not asked to press it again.
    BargedIn(String),
}

/// What to collect in [`MediaControl::collect_digits`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DigitSpec {
    /// Fewest digits accepted (fewer on timeout gives [`DigitTermination::Timeout`]).
    pub min: u32,
    /// Most digits; collection stops when reached.
    pub max: u32,
    /// A key that ends collection early (`'#'`), not included in the result.
    pub terminator: Option<char>,
    /// Time allowed for the first digit.
    pub first_digit_timeout: Duration,
    /// Time allowed between digits.
    pub inter_digit_timeout: Duration,
}

impl DigitSpec {
    /// Up to `max` digits, `#` ends, 5 s for the first and 3 s between digits.
    #[must_use]
    pub const fn up_to(max: u32) -> Self {
        Self {
            min: 1,
            max,
            terminator: Some('#'),
            first_digit_timeout: Duration::from_secs(5),
            inter_digit_timeout: Duration::from_secs(3),
        }
    }
}

/// Why digit collection stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DigitTermination {
    /// `max` digits were entered.
    MaxDigits,
    /// The terminator key was pressed.
    Terminator,
    /// A timeout passed (first-digit or inter-digit).
    Timeout,
}

/// Digits collected.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DigitResult {
    /// The digits (`0-9`, `*`, `#`, `A-D`), without the terminator.
    pub digits: String,
    /// Why collection stopped.
    pub termination: DigitTermination,
}

impl fmt::Debug for DigitResult {
    // Digits may be a card number or a PIN: keep them out of logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DigitResult")
            .field("digits", &format_args!("<{} digits>", self.digits.len()))
            .field("termination", &self.termination)
            .finish()
    }
}

/// What to listen for in [`MediaControl::listen`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListenSpec {
    /// Time allowed before the customer starts (no-input).
    pub no_input_timeout: Duration,
    /// Longest utterance.
    pub max_duration: Duration,
    /// Language hint (`"en"`, `"zh"`).
    pub language: Option<String>,
    /// Phrases the caller is likely to say (a menu's choices), handed to the
    /// recognizer as [`RecognitionOptions::hints`](crate::RecognitionOptions).
    #[serde(default)]
    pub hints: Vec<String>,
}

impl Default for ListenSpec {
    fn default() -> Self {
        Self {
            no_input_timeout: Duration::from_secs(5),
            max_duration: Duration::from_secs(15),
            language: None,
            hints: Vec::new(),
        }
    }
}

/// What the customer said or typed.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
#[non_exhaustive]
pub enum Utterance {
    /// Recognised speech or a typed message.
    Text {
        /// The words.
        text: String,
        /// Recogniser confidence, 0–1 (1 for typed text).
        confidence: f32,
    },
    /// DTMF pressed instead of speaking.
    Digits {
        /// The digits.
        digits: String,
    },
    /// Nothing within the no-input timeout.
    NoInput,
}

impl fmt::Debug for Utterance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Text { text, confidence } => write!(
                f,
                "Text(<{} chars>, confidence {confidence:.2})",
                text.chars().count()
            ),
            Self::Digits { digits } => write!(f, "Digits(<{}>)", digits.len()),
            Self::NoInput => f.write_str("NoInput"),
        }
    }
}

/// What to record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordSpec {
    /// Longest recording.
    pub max_duration: Duration,
    /// Stop after this much silence.
    pub silence_timeout: Duration,
    /// Stop on this key (`'#'`).
    pub terminator: Option<char>,
}

/// Media control of one leg, used by flows.
///
/// On a voice leg `say` goes through TTS (or a prompt file) and `listen` through
/// ASR; on a chat leg `say` sends a message and `listen` reads the next one, and
/// `collect_digits` reads digits typed as text.
#[async_trait]
pub trait MediaControl: Send + Sync {
    /// Plays a prompt; returns when it finished or the caller barged in (if
    /// `barge_in`).
    async fn play(&self, prompt: &Prompt, barge_in: bool) -> Result<PlayOutcome, CoreError>;

    /// Says a text (TTS on voice, a message on chat).
    async fn say(&self, text: &str, barge_in: bool) -> Result<PlayOutcome, CoreError>;

    /// Collects DTMF digits.
    async fn collect_digits(&self, spec: &DigitSpec) -> Result<DigitResult, CoreError>;

    /// Listens for one utterance (speech through ASR, or a chat message).
    async fn listen(&self, spec: &ListenSpec) -> Result<Utterance, CoreError>;

    /// Records the caller (voicemail, a message); returns the recording's id
    /// once it is complete.
    async fn record(&self, spec: &RecordSpec) -> Result<RecordingId, CoreError>;
}
