//! The scripted conversation of the live quality tests (`live_quality.rs`,
//! `assist_alerts_browser.rs`): who says what as a one-second tone of its own
//! frequency, and a recognizer plugged into the center through callcore's
//! `SpeechRecognizer` seam that "hears" the line whose tone an utterance
//! carries; the intents and knowledge base the assist matches against. The
//! coaching tests (`coaching.rs`, `coaching_browser.rs`) hear their own
//! lines with [`ToneLines`].

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

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
        Ok(Box::new(Session {
            lines: self.0.to_vec(),
            samples: Vec::new(),
            out: VecDeque::new(),
            heard: None,
        }))
    }
}

struct Session {
    /// (frequency, words) of each line it can hear.
    lines: Vec<(f64, &'static str)>,
    samples: Vec<i16>,
    out: VecDeque<RecognitionResult>,
    heard: Option<Arc<Scripted>>,
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
        Ok(Box::new(Session {
            lines: LINES.iter().map(|l| (l.1, l.2)).collect(),
            samples: Vec::new(),
            out: VecDeque::new(),
            heard: Some(self.0.clone()),
        }))
    }
}

#[async_trait]
impl RecognitionSession for Session {
    async fn push_audio(&mut self, samples: &[i16]) -> Result<(), CoreError> {
        self.samples.extend_from_slice(samples);
        Ok(())
    }

    async fn finish(&mut self) -> Result<(), CoreError> {
        // the line whose tone is strongest, if one is clearly there
        let (words, level) = self
            .lines
            .iter()
            .map(|&(hz, words)| (words, amplitude(&self.samples, hz)))
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .unwrap();
        if level > support::HEARD {
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
