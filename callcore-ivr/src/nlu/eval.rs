//! Measuring a classifier on a labelled held-out set.
//!
//! A set is a text file of `intent<TAB>utterance` lines; `none` marks an
//! out-of-domain utterance the classifier must reject; `#` starts a comment.

use serde::Serialize;

use super::classifier::IntentClassifier;
use crate::error::IvrError;

/// One labelled utterance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelledUtterance {
    /// The expected intent, `None` for out-of-domain.
    pub intent: Option<String>,
    /// The utterance.
    pub text: String,
}

/// Parses `intent<TAB>utterance` lines.
pub fn parse_labelled(tsv: &str) -> Result<Vec<LabelledUtterance>, IvrError> {
    let mut out = Vec::new();
    for (n, line) in tsv.lines().enumerate() {
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((intent, text)) = line.split_once('\t') else {
            return Err(IvrError::invalid(
                "labelled set",
                format!("line {}", n + 1),
                "expected intent<TAB>utterance",
            ));
        };
        let intent = intent.trim();
        out.push(LabelledUtterance {
            intent: (intent != "none").then(|| intent.to_string()),
            text: text.trim().to_string(),
        });
    }
    Ok(out)
}

/// Accuracy and rejection figures.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct EvalReport {
    /// In-domain utterances.
    pub in_domain: usize,
    /// In-domain utterances given the right intent.
    pub correct: usize,
    /// In-domain utterances wrongly rejected.
    pub wrongly_rejected: usize,
    /// Out-of-domain utterances.
    pub out_of_domain: usize,
    /// Out-of-domain utterances rejected (`intent: null`).
    pub rejected: usize,
    /// What went wrong: (utterance, expected, got).
    pub errors: Vec<(String, Option<String>, Option<String>)>,
}

impl EvalReport {
    /// Share of in-domain utterances given the right intent.
    pub fn accuracy(&self) -> f64 {
        self.correct as f64 / self.in_domain.max(1) as f64
    }

    /// Share of out-of-domain utterances rejected.
    pub fn rejection_rate(&self) -> f64 {
        self.rejected as f64 / self.out_of_domain.max(1) as f64
    }
}

/// Classifies every utterance of `set` and counts.
pub fn evaluate(classifier: &IntentClassifier, set: &[LabelledUtterance]) -> EvalReport {
    let mut r = EvalReport::default();
    for case in set {
        let got = classifier.classify(&case.text).intent;
        match &case.intent {
            Some(want) => {
                r.in_domain += 1;
                if got.as_ref() == Some(want) {
                    r.correct += 1;
                } else {
                    if got.is_none() {
                        r.wrongly_rejected += 1;
                    }
                    r.errors.push((case.text.clone(), case.intent.clone(), got));
                }
            }
            None => {
                r.out_of_domain += 1;
                if got.is_none() {
                    r.rejected += 1;
                } else {
                    r.errors.push((case.text.clone(), None, got));
                }
            }
        }
    }
    r
}
