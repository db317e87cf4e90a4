//! k-fold cross-validation of the intent classifier on an intents file.
//!
//! The examples of each intent are dealt into `k` folds in turn (stratified);
//! each fold is classified by a model trained on the other folds. Out-of-domain
//! utterances, when given, are dealt into the folds the same way, so each is
//! classified once and the rejection rate is measured on the same models.

use std::sync::Arc;

use super::classifier::{ClassifierConfig, IntentClassifier};
use super::embedding::SentenceEncoder;
use super::eval::EvalReport;
use super::intents::IntentsFile;
use crate::error::IvrError;

/// Cross-validates `config` (with `encoder`'s embeddings, if any) on `file` in
/// `folds` folds; `out_of_domain` utterances must all be rejected. Wrap the
/// encoder in a [`CachedEncoder`](super::CachedEncoder) so each text is
/// embedded once across the folds.
pub fn cross_validate(
    file: &IntentsFile,
    folds: usize,
    config: ClassifierConfig,
    encoder: Option<Arc<dyn SentenceEncoder>>,
    out_of_domain: &[String],
) -> Result<EvalReport, IvrError> {
    file.validate()?;
    let fewest = file
        .intents
        .iter()
        .map(|i| i.examples.len())
        .min()
        .unwrap_or(0);
    if folds < 2 || fewest < folds {
        return Err(IvrError::invalid(
            "cross-validation",
            "folds",
            format!(
                "need 2 or more folds and at least that many examples per intent (fewest: {fewest}), got {folds}"
            ),
        ));
    }
    let mut total = EvalReport::default();
    for fold in 0..folds {
        let mut train = file.clone();
        let mut tests: Vec<(String, Option<String>)> = Vec::new();
        for intent in &mut train.intents {
            let mut keep = Vec::new();
            for (i, e) in intent.examples.drain(..).enumerate() {
                if i % folds == fold {
                    tests.push((e, Some(intent.name.clone())));
                } else {
                    keep.push(e);
                }
            }
            intent.examples = keep;
        }
        tests.extend(
            out_of_domain
                .iter()
                .enumerate()
                .filter(|(i, _)| i % folds == fold)
                .map(|(_, t)| (t.clone(), None)),
        );
        let model = IntentClassifier::train_with_encoder(&train, config, encoder.clone())?;
        let mut r = EvalReport::default();
        for (text, want) in &tests {
            let got = model.classify(text).intent;
            r.record(text, want.as_deref(), got.as_deref());
        }
        total.merge(&r);
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn every_example_is_classified_once_and_bad_folds_are_refused() {
        let json = r#"{"language": "en", "intents": [
            {"name": "bill", "examples": ["how much do I owe", "what is my balance", "show my bill", "amount due on my account"]},
            {"name": "card", "examples": ["I lost my card", "my card was stolen", "block my card", "card missing"]}]}"#;
        let file = IntentsFile::from_json(json).unwrap();
        let ood = vec![
            "what's the weather".to_string(),
            "play some music".to_string(),
        ];
        let r = cross_validate(&file, 2, ClassifierConfig::default(), None, &ood).unwrap();
        assert_eq!((r.in_domain, r.out_of_domain), (8, 2));
        let e = cross_validate(&file, 5, ClassifierConfig::default(), None, &[]).unwrap_err();
        assert!(e.to_string().contains("folds"), "{e}");
        let enc: Arc<dyn SentenceEncoder> = Arc::new(crate::nlu::embedding::tests::TrigramEncoder);
        let r = cross_validate(&file, 2, ClassifierConfig::default(), Some(enc), &ood).unwrap();
        assert_eq!(r.in_domain, 8);
    }
}
