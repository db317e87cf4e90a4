//! callcore-ivr: tokenizer, offline intent classifier, knowledge-base bot and call flows.

pub mod stem;
pub mod tokenize;
