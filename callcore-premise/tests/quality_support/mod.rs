//! The scripted conversation of the live quality tests (`live_quality.rs`,
//! `assist_alerts_browser.rs`): who says what as a one-second tone of its own
//! frequency, and a recognizer plugged into the center through callcore's
//! `SpeechRecognizer` seam that "hears" the line whose tone an utterance
//! carries; the intents and knowledge base the assist matches against. The
//! coaching tests (`coaching.rs`, `coaching_browser.rs`) hear their own
//! lines with [`ToneLines`]; [`SlowToneLines`] answers late (`live_quality.rs`).

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use callcore::{
    CoreError, RecognitionOptions, RecognitionResult, RecognitionSession, Speaker, SpeechRecognizer,
};

use crate::support;
use crate::support::amplitude;

/// The conversation: who says what (as a tone of that frequency), and when
/// (milliseconds after the connection).
pub const LINES: [(Speaker, f64, &str, u64); 5] = [
    (
        Speaker::Agent,
        500.0,
        "hello thank you for calling how can I help you",
        800,
    ),
    (
        Speaker::Customer,
        700.0,
        "hi what are your opening hours on saturday",
        2800,
    ),
    (Speaker::Customer, 900.0, "this is terrible service", 5200),
    (Speaker::Customer, 1100.0, "I am very angry", 7400),
    (Speaker::Agent, 1300.0, "that is a stupid question", 9600),
];

/// A recognizer that hears which line's tone an utterance carries.
#[derive(Debug, Default)]
pub struct Scripted {
    pub heard: Mutex<Vec<String>>,
}

/// A recognizer that hears which of its lines' tones an utterance carries:
/// (frequency, words).
pub struct ToneLines(pub &'static [(f64, &'static str)]);

#[async_trait]
impl SpeechRecognizer for ToneLines {
    async fn start(&self, _: RecognitionOptions) -> Result<Box<dyn RecognitionSession>, CoreError> {
        Ok(Box::new(Session::new(
            self.0.to_vec(),
            None,
            Duration::ZERO,
        )))
    }
}

/// [`ToneLines`] answering each utterance only after a delay.
pub struct SlowToneLines(pub &'static [(f64, &'static str)], pub Duration);

#[async_trait]
impl SpeechRecognizer for SlowToneLines {
    async fn start(&self, _: RecognitionOptions) -> Result<Box<dyn RecognitionSession>, CoreError> {
        Ok(Box::new(Session::new(self.0.to_vec(), None, self.1)))
    }
}

struct Session {
    /// (frequency, words) of each line it can hear.
    lines: Vec<(f64, &'static str)>,
    samples: Vec<i16>,
    out: VecDeque<RecognitionResult>,
    heard: Option<Arc<Scripted>>,
    /// How long it takes to answer an utterance.
    delay: Duration,
}

impl Session {
    fn new(lines: Vec<(f64, &'static str)>, heard: Option<Arc<Scripted>>, delay: Duration) -> Self {
        Session {
            lines,
            samples: Vec::new(),
            out: VecDeque::new(),
            heard,
            delay,
        }
    }
}

/// The recognizer plugged into the center (it shares what it heard).
pub struct Recognizer(pub Arc<Scripted>);

#[async_trait]
impl SpeechRecognizer for Recognizer {
    async fn start(
        &self,
        options: RecognitionOptions,
    ) -> Result<Box<dyn RecognitionSession>, CoreError> {
        assert_eq!(options.sample_rate, 8000);
        Ok(Box::new(Session::new(
            LINES.iter().map(|l| (l.1, l.2)).collect(),
            Some(self.0.clone()),
            Duration::ZERO,
        )))
    }
}

#[async_trait]
impl RecognitionSession for Session {
    async fn push_audio(&mut self, samples: &[i16]) -> Result<(), CoreError> {
        self.samples.extend_from_slice(samples);
        Ok(())
    }

    async fn finish(&mut self) -> Result<(), CoreError> {
        // a recognizer taking its time (Whisper on a busy CPU)
        tokio::time::sleep(self.delay).await;
        // the line whose tone fills the most 20 ms blocks, if one clearly does
        let (words, blocks) = self
            .lines
            .iter()
            .map(|&(hz, words)| (words, tone_blocks(&self.samples, hz)))
            .max_by_key(|l| l.1)
            .unwrap();
        if blocks >= HEARD_BLOCKS {
            let ms = self.samples.len() as u64 / 8;
            if let Some(heard) = &self.heard {
                heard.heard.lock().unwrap().push(words.to_owned());
            }
            self.out.push_back(RecognitionResult {
                text: words.to_owned(),
                is_final: true,
                confidence: 0.9,
                start_ms: 0,
                end_ms: ms,
            });
        }
        Ok(())
    }

    async fn next_result(&mut self) -> Option<Result<RecognitionResult, CoreError>> {
        self.out.pop_front().map(Ok)
    }
}

/// Blocks of a line's tone an utterance needs to be heard (200 ms).
const HEARD_BLOCKS: usize = 10;

/// How many 20 ms blocks of `pcm` carry `hz` at the phones' level. Block by
/// block, as a recognizer listens: an utterance is not one coherent tone. A
/// sender that stalled past the center's jitter allowance comes back after a
/// hole of silence (`callcore_analytics::quality::talk`), and one Goertzel
/// sum over the whole utterance adds the tone's two parts out of phase: a
/// notice said in full then measured as low as 140 against the 2000 heard.
fn tone_blocks(pcm: &[i16], hz: f64) -> usize {
    pcm.chunks_exact(160)
        .filter(|b| amplitude(b, hz) > support::HEARD)
        .count()
}

/// One second of `hz` (8 kHz, the phones' tone level).
pub fn tone(hz: f64) -> Vec<i16> {
    (0..8000)
        .map(|i| {
            let t = f64::from(i) / 8000.0;
            (support::TONE * (2.0 * std::f64::consts::PI * hz * t).sin()) as i16
        })
        .collect()
}

pub const INTENTS: &str = r#"{"language": "en", "intents": [
  {"name": "opening_hours", "examples": ["what are your opening hours", "when are you open",
    "what time do you open on saturday", "are you open on sunday", "what time do branches close",
    "opening times please", "when does the branch open"]},
  {"name": "dispute_charge", "examples": ["I was charged twice", "there is a charge I do not recognise",
    "my bill has a wrong charge", "I want to dispute a payment", "why was I billed twice",
    "refund the double charge", "this charge is wrong"]},
  {"name": "lost_card", "examples": ["I lost my card", "my card was stolen", "block my card",
    "I cannot find my bank card", "someone took my wallet with my card", "freeze my card please"]}
]}"#;

pub const KB: &str = r#"{"language": "en", "entries": [
  {"id": "opening_hours", "question": "What are your opening hours?",
   "variants": ["when are branches open", "what time does the branch open", "are you open on saturday"],
   "answer": "Branches open 9:00-17:00, Monday to Saturday."},
  {"id": "roaming", "question": "Does my phone work abroad?",
   "variants": ["international roaming", "using my phone overseas", "calls from another country"],
   "answer": "Roaming is on by default in 120 countries."}]}"#;
