//! Accuracy and out-of-domain rejection on the held-out sets in `data/`, which are
//! written differently from the training files (other wording, word order, typos,
//! filler words). Fails below 90% accuracy or 70% rejection.
//!
//! Figures: `cargo test -p callcore-ivr --release --test nlu_accuracy -- --nocapture`

#![allow(clippy::unwrap_used)]

use callcore_ivr::nlu::{EvalReport, IntentClassifier, IntentsFile, evaluate, parse_labelled};

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/data/");

fn set(name: &str) -> Vec<callcore_ivr::nlu::LabelledUtterance> {
    let tsv = std::fs::read_to_string(format!("{DATA}{name}")).unwrap();
    parse_labelled(&tsv).unwrap()
}

fn measure(model: &str, sets: &[&str]) -> EvalReport {
    let classifier =
        IntentClassifier::train(&IntentsFile::load(format!("{DATA}{model}")).unwrap()).unwrap();
    let cases: Vec<_> = sets.iter().flat_map(|s| set(s)).collect();
    let r = evaluate(&classifier, &cases);
    println!(
        "{model} on {sets:?}: accuracy {}/{} = {:.1}%, out-of-domain rejected {}/{} = {:.1}% (cross-validated accuracy {:.1}%)",
        r.correct,
        r.in_domain,
        100.0 * r.accuracy(),
        r.rejected,
        r.out_of_domain,
        100.0 * r.rejection_rate(),
        100.0 * classifier.report().cv_accuracy,
    );
    for (text, want, got) in &r.errors {
        println!("  miss: {text:?} expected {want:?} got {got:?}");
    }
    r
}

fn check(r: &EvalReport) {
    assert!(
        r.in_domain >= 100 && r.out_of_domain >= 30,
        "held-out set too small"
    );
    assert!(
        r.accuracy() >= 0.90,
        "accuracy {:.3} under 0.90",
        r.accuracy()
    );
    assert!(
        r.rejection_rate() >= 0.70,
        "rejection {:.3} under 0.70",
        r.rejection_rate()
    );
}

#[test]
fn english_held_out_accuracy_and_rejection() {
    check(&measure("intents_en.json", &["heldout_en.tsv"]));
}

#[test]
fn chinese_held_out_accuracy_and_rejection() {
    check(&measure("intents_zh.json", &["heldout_zh.tsv"]));
}

#[test]
fn mixed_model_on_both_held_out_sets() {
    check(&measure(
        "intents_mixed.json",
        &["heldout_en.tsv", "heldout_zh.tsv"],
    ));
}
