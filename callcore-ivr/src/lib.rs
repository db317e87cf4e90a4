//! callcore-ivr: tokenizer, offline intent classifier, knowledge-base bot and call flows.

pub mod error;
pub mod flow;
pub mod kb;
pub mod nlu;
pub mod slots;
pub mod stem;
pub mod tokenize;

pub use error::IvrError;
