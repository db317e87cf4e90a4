//! # callcore-ivr
//!
//! Self-service for callcore contact centers: understanding what callers say
//! and type, answering from a knowledge base, and running call flows.
//!
//! - [`tokenize`]: one tokenizer for English (lowercasing, contractions, stop
//!   and filler words, stemming, numbers) and Chinese written without spaces
//!   (character unigrams and bigrams).
//! - [`nlu`]: an offline intent classifier trained at start-up from an intents
//!   JSON file (TF-IDF over words, phrases and character n-grams; nearest
//!   examples + centroids + logistic regression), with a rejection threshold
//!   calibrated on its own training data, so out-of-domain input gets no intent.
//!   It implements callcore's [`IntentRecognizer`](callcore::IntentRecognizer).
//! - [`slots`]: numbers, amounts, dates, phone and card numbers and custom
//!   entity values, in both languages.
//! - [`kb`]: a knowledge-base bot (BM25, calibrated escalation, follow-ups).
//! - [`flow`]: call flows from JSON/TOML files or a Rust builder, run by a
//!   sans-IO engine on calls, chats, or scripted callers in virtual time.
//! - [`speech`]: audio helpers, and behind cargo features an offline Whisper
//!   recognizer (`asr-whisper`) and espeak-ng synthesis (`tts-espeak`).
//!
//! ```
//! use callcore_ivr::nlu::{IntentClassifier, IntentsFile};
//!
//! let intents = IntentsFile::from_json(r#"{
//!   "language": "en",
//!   "intents": [
//!     {"name": "check_bill", "examples": ["how much do I owe", "what is my balance", "show me my bill"]},
//!     {"name": "lost_card", "examples": ["I lost my card", "my card was stolen", "block my card"]}
//!   ],
//!   "entities": [{"name": "plan", "values": ["basic", "premium"]}]
//! }"#)?;
//! let classifier = IntentClassifier::train(&intents)?;
//! let result = classifier.classify("somebody stole my card yesterday");
//! assert_eq!(result.intent.as_deref(), Some("lost_card"));
//! assert!(result.confidence >= 0.5);
//! assert_eq!(result.slots[0].entity, "date");
//! # Ok::<(), callcore_ivr::IvrError>(())
//! ```

#![cfg_attr(docsrs, feature(doc_cfg))]
pub mod error;
pub mod flow;
pub mod kb;
pub mod nlu;
pub mod slots;
pub mod speech;
pub mod stem;
pub mod tokenize;

pub use error::IvrError;
