//! Natural-language understanding: the intents file, TF-IDF features and the
//! offline intent classifier.

mod agent_request;
mod background;
mod classifier;
mod crossval;
mod cut;
mod embedding;
mod eval;
mod features;
mod intents;
mod linear;
mod ood;
mod recognizer;
mod spelling;

pub use classifier::{
    Classification, ClassifierConfig, IntentClassifier, IntentScore, TrainingReport,
};
pub use crossval::cross_validate;
#[cfg(feature = "embeddings")]
#[cfg_attr(docsrs, doc(cfg(feature = "embeddings")))]
pub use embedding::E5Encoder;
pub use embedding::{CachedEncoder, SentenceEncoder, default_encoder};
pub use eval::{EvalReport, IntentFigures, LabelledUtterance, evaluate, parse_labelled};
pub use intents::{EntitySpec, EntityValue, IntentSpec, IntentsFile, Language};
pub use ood::OodCalibration;
pub use recognizer::{slot_value_text, to_core_slot};
