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
    /// Per-intent counts, in order of first appearance (expected or predicted).
    pub per_intent: Vec<IntentFigures>,
}

/// How one intent fared: precision, recall and F1 from its counts.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct IntentFigures {
    /// The intent.
    pub intent: String,
    /// Utterances labelled with it.
    pub support: usize,
    /// Labelled with it and given it.
    pub true_positives: usize,
    /// Given it but labelled otherwise (another intent or out of domain).
    pub false_positives: usize,
    /// Labelled with it but given another intent or rejected.
    pub false_negatives: usize,
}

impl IntentFigures {
    /// TP / (TP + FP); 0 when never predicted.
    pub fn precision(&self) -> f64 {
        ratio(
            self.true_positives,
            self.true_positives + self.false_positives,
        )
    }

    /// TP / (TP + FN); 0 when absent from the set.
    pub fn recall(&self) -> f64 {
        ratio(
            self.true_positives,
            self.true_positives + self.false_negatives,
        )
    }

    /// Harmonic mean of precision and recall.
    pub fn f1(&self) -> f64 {
        let (p, r) = (self.precision(), self.recall());
        if p + r == 0.0 {
            0.0
        } else {
            2.0 * p * r / (p + r)
        }
    }
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
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

    /// Mean F1 over the intents that occur in the set (labelled at least once);
    /// an out-of-domain utterance given an intent counts against that intent's
    /// precision, a rejected in-domain one against its recall.
    pub fn macro_f1(&self) -> f64 {
        let present: Vec<f64> = self
            .per_intent
            .iter()
            .filter(|f| f.support > 0)
            .map(IntentFigures::f1)
            .collect();
        present.iter().sum::<f64>() / present.len().max(1) as f64
    }

    /// Counts one classification.
    pub fn record(&mut self, text: &str, want: Option<&str>, got: Option<&str>) {
        match want {
            Some(want) => {
                self.in_domain += 1;
                self.figures(want).support += 1;
                if got == Some(want) {
                    self.correct += 1;
                    self.figures(want).true_positives += 1;
                } else {
                    if got.is_none() {
                        self.wrongly_rejected += 1;
                    }
                    self.figures(want).false_negatives += 1;
                }
            }
            None => {
                self.out_of_domain += 1;
                if got.is_none() {
                    self.rejected += 1;
                }
            }
        }
        if let Some(g) = got
            && want != Some(g)
        {
            self.figures(g).false_positives += 1;
        }
        if want != got {
            self.errors.push((
                text.to_string(),
                want.map(str::to_string),
                got.map(str::to_string),
            ));
        }
    }

    /// Adds another report's counts (e.g. the folds of a cross-validation).
    pub fn merge(&mut self, other: &EvalReport) {
        self.in_domain += other.in_domain;
        self.correct += other.correct;
        self.wrongly_rejected += other.wrongly_rejected;
        self.out_of_domain += other.out_of_domain;
        self.rejected += other.rejected;
        self.errors.extend(other.errors.iter().cloned());
        for f in &other.per_intent {
            let mine = self.figures(&f.intent);
            mine.support += f.support;
            mine.true_positives += f.true_positives;
            mine.false_positives += f.false_positives;
            mine.false_negatives += f.false_negatives;
        }
    }

    fn figures(&mut self, intent: &str) -> &mut IntentFigures {
        let pos = match self.per_intent.iter().position(|f| f.intent == intent) {
            Some(p) => p,
            None => {
                self.per_intent.push(IntentFigures {
                    intent: intent.to_string(),
                    ..IntentFigures::default()
                });
                self.per_intent.len() - 1
            }
        };
        &mut self.per_intent[pos]
    }
}

/// Classifies every utterance of `set` and counts.
pub fn evaluate(classifier: &IntentClassifier, set: &[LabelledUtterance]) -> EvalReport {
    let mut r = EvalReport::default();
    for intent in classifier.intents() {
        r.figures(intent);
    }
    for case in set {
        let got = classifier.classify(&case.text).intent;
        r.record(&case.text, case.intent.as_deref(), got.as_deref());
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn macro_f1_counts_rejections_and_false_accepts() {
        let mut r = EvalReport::default();
        r.record("a1", Some("a"), Some("a"));
        r.record("a2", Some("a"), None);
        r.record("b1", Some("b"), Some("b"));
        r.record("x", None, Some("b"));
        r.record("y", None, None);
        assert_eq!(
            (r.correct, r.in_domain, r.rejected, r.out_of_domain),
            (2, 3, 1, 2)
        );
        // a: P 1, R 0.5, F1 2/3; b: P 0.5, R 1, F1 2/3.
        assert!((r.macro_f1() - 2.0 / 3.0).abs() < 1e-9);
        let mut total = EvalReport::default();
        total.merge(&r);
        total.merge(&r);
        assert_eq!(total.in_domain, 6);
        assert!((total.macro_f1() - r.macro_f1()).abs() < 1e-9);
        assert_eq!(r.errors.len(), 2);
    }
}
