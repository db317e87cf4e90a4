//! The offline intent classifier.
//!
//! Each example utterance becomes a TF-IDF vector (see [`features`](super::features)).
//! An utterance is scored against every intent by cosine similarity, mixing
//! - the intent's centroid (the normalised sum of its examples), which captures
//!   the words an intent's examples share, and
//! - the mean of its `k` nearest examples, which keeps rare phrasings reachable.
//!
//! A softmax over those scores says which intent; how far the best score is from
//! the scores seen in training says whether the utterance is in the domain at all.
//! Confidence is `in_domain × P(intent)`, then rescaled so that the calibrated
//! rejection threshold sits at 0.5: an utterance whose confidence is under 0.5
//! gets `intent: None`. The threshold comes from the training data: every example
//! is scored by 5-fold cross-validation (against the model without its fold, an honest stand-in for
//! an unseen paraphrase) and the threshold is set to accept `accept_rate` of them.
//!
//! With sentence embeddings and the background class, one out-of-domain detector
//! (`ood.rs`), fitted per model on the cross-validated examples against the held-out
//! background lines, takes that decision instead (`calibration.rs`).

use std::sync::Arc;

use serde::Serialize;

mod calibration;
mod config;
mod scoring;

pub use config::ClassifierConfig;

use super::agent_request;
use super::background::{self, NeighbourVote};
use super::embedding::{Embedder, SentenceEncoder};
use super::features::{FeatureWeights, SparseVec, Vectorizer};
use super::intents::IntentsFile;
use super::linear::LinearModel;
use super::ood::{OodCalibration, OodDetector};
use crate::error::IvrError;
use crate::slots::{Slot, SlotExtractor};
use crate::tokenize::Tokenizer;

/// An intent with its confidence.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IntentScore {
    /// Intent name.
    pub intent: String,
    /// Confidence in 0..1.
    pub confidence: f32,
}

/// What the classifier made of one utterance.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Classification {
    /// The intent, or `None` when the utterance is outside every intent.
    pub intent: Option<String>,
    /// Confidence in 0..1 of the best intent; under 0.5 means rejected.
    pub confidence: f32,
    /// The next best intents, best first.
    pub alternatives: Vec<IntentScore>,
    /// Numbers, amounts, dates, phone and card numbers and custom entity values.
    pub slots: Vec<Slot>,
}

/// How the model did on its own training data, scored by k-fold cross-validation.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct TrainingReport {
    /// Training examples used.
    pub examples: usize,
    /// Distinct features in the vocabulary.
    pub features: usize,
    /// Cross-validated accuracy.
    pub cv_accuracy: f32,
    /// The calibrated raw rejection threshold (reported confidences put it at 0.5).
    pub raw_threshold: f32,
    /// Median cross-validated best score: scores at or above it count as fully in-domain.
    pub typical_score: f32,
    /// Whether sentence embeddings are part of the features.
    pub embeddings: bool,
    /// Generic out-of-domain utterances in the background class (0: none).
    pub background_examples: usize,
    /// The calibrated margin of the background lines' nearest-neighbour vote
    /// (`None`: no vote).
    pub neighbour_margin: Option<f32>,
    /// The neighbour vote's margin on its calibration samples: the share of
    /// cross-validated examples it accepts and of held-out background lines it
    /// rejects (`None`: no vote; `background_rejected` is estimated only when
    /// the margin is balanced against the background, `NaN` otherwise).
    pub neighbour_cut: Option<OodCalibration>,
    /// The out-of-domain detector's cross-validated figures (`None`: no
    /// detector; rejection then follows the neighbour vote alone, the default
    /// with embeddings, or the background class, the vote and the confidence
    /// threshold one by one).
    pub ood: Option<OodCalibration>,
    /// The intent (index into [`IntentClassifier::intents`]) that took the
    /// built-in agent requests as examples (`ClassifierConfig::agent_request`;
    /// `None`: off, no embeddings, or no intent most of them sit nearest to).
    pub agent_request_intent: Option<usize>,
}

/// Offline intent classifier trained at start-up from an [`IntentsFile`].
#[derive(Debug, Clone)]
pub struct IntentClassifier {
    config: ClassifierConfig,
    vectorizer: Vectorizer,
    intents: Vec<String>,
    members: Vec<Vec<u32>>,
    example_class: Vec<u32>,
    /// Feature id → (example, weight).
    postings: Vec<Vec<(u32, f32)>>,
    /// Feature id → (intent, weight of the unnormalised class sum).
    class_postings: Vec<Vec<(u32, f32)>>,
    class_norm_sq: Vec<f32>,
    /// Dot product of each example with its own class sum.
    example_dot_sum: Vec<f32>,
    linear: Option<LinearModel>,
    slots: SlotExtractor,
    report: TrainingReport,
    /// Sentence encoder and the mean of the training examples' embeddings.
    embedder: Option<Embedder>,
    /// Whether the linear model has the background class (its last class).
    background: bool,
    /// The background lines' nearest-neighbour vote (embeddings only).
    vote: Option<NeighbourVote>,
    /// The calibrated out-of-domain detector (embeddings and background only).
    detector: Option<OodDetector>,
}

impl IntentClassifier {
    /// Trains a classifier with the default configuration.
    pub fn train(file: &IntentsFile) -> Result<Self, IvrError> {
        Self::train_with(file, ClassifierConfig::default())
    }

    /// Reads an intents file and trains a classifier on it.
    pub fn from_path(path: impl AsRef<std::path::Path>) -> Result<Self, IvrError> {
        Self::train(&IntentsFile::load(path)?)
    }

    /// Trains a classifier with `config`.
    pub fn train_with(file: &IntentsFile, config: ClassifierConfig) -> Result<Self, IvrError> {
        Self::train_with_encoder(file, config, None)
    }

    /// Trains a classifier with `config` whose features include the sentence
    /// embeddings of `encoder` (see [`default_encoder`](super::default_encoder)).
    /// If the encoder fails on the training examples, the classifier is trained
    /// on n-gram features alone (with a warning) and says so in its report.
    pub fn train_with_encoder(
        file: &IntentsFile,
        config: ClassifierConfig,
        encoder: Option<Arc<dyn SentenceEncoder>>,
    ) -> Result<Self, IvrError> {
        file.validate()?;
        let tokenizer = Tokenizer::new();
        let weights = FeatureWeights {
            word: config.word_weight,
            phrase: config.phrase_weight,
            chars: config.char_weight,
            spelling: config.spelling,
            ..FeatureWeights::default()
        };
        let mut docs: Vec<&str> = Vec::new();
        let mut labels: Vec<u32> = Vec::new();
        for (c, intent) in file.intents.iter().enumerate() {
            for ex in &intent.examples {
                docs.push(ex);
                labels.push(c as u32);
            }
        }
        // The examples' embeddings first: the built-in agent requests join the
        // intent they sit nearest to before the vocabulary is fitted.
        let own_docs = docs.len();
        let encoder = encoder.filter(|_| config.embedding_weight > 0.0);
        let mut doc_embeddings: Vec<Vec<f32>> = Vec::new();
        let mut agent_request_intent = None;
        if let Some(encoder) = &encoder {
            match encoder.encode(&docs) {
                Ok(v) if v.len() == docs.len() && !v.is_empty() => doc_embeddings = v,
                Ok(_) => tracing::warn!(
                    "sentence encoder returned the wrong number of vectors; using n-gram features only"
                ),
                Err(e) => {
                    tracing::warn!("sentence encoder failed ({e}); using n-gram features only")
                }
            }
            if config.agent_request && !doc_embeddings.is_empty() {
                let phrases = agent_request::phrases(file.language);
                match encoder.encode(&phrases) {
                    Ok(p) if p.len() == phrases.len() => {
                        agent_request_intent = agent_request::adopting_intent(
                            &p,
                            &doc_embeddings,
                            &labels,
                            file.intents.len(),
                        );
                        if let Some(c) = agent_request_intent {
                            tracing::debug!(intent = %file.intents[c].name, "built-in agent requests adopted");
                            docs.extend(&phrases);
                            labels.extend(std::iter::repeat_n(c as u32, phrases.len()));
                            doc_embeddings.extend(p);
                        }
                    }
                    Ok(_) | Err(_) => {
                        tracing::warn!("sentence encoder failed on the built-in agent requests")
                    }
                }
            }
        }
        let vectorizer = Vectorizer::fit(tokenizer.clone(), weights, &docs);
        let embedder = match encoder {
            Some(encoder) if !doc_embeddings.is_empty() => {
                let dim = encoder.dim();
                let mut mean = vec![0.0f32; dim];
                for e in &doc_embeddings {
                    for (m, x) in mean.iter_mut().zip(e) {
                        *m += x / doc_embeddings.len() as f32;
                    }
                }
                Some(Embedder {
                    encoder,
                    mean,
                    offset: vectorizer.len() as u32,
                    weight: config.embedding_weight,
                })
            }
            _ => None,
        };
        let (background, background_embeddings) = match &embedder {
            Some(em) if config.background => {
                background_vectors(file, &config, em, &vectorizer, &doc_embeddings)
            }
            _ => (Vec::new(), Vec::new()),
        };
        let mut kept_embeddings: Vec<Vec<f32>> = Vec::new();
        // The tenant's own examples among them (they come first).
        let mut own_kept = 0;
        let n_features = vectorizer.len() + embedder.as_ref().map_or(0, |e| e.mean.len());
        let n_classes = file.intents.len();
        let mut postings: Vec<Vec<(u32, f32)>> = vec![Vec::new(); n_features];
        let mut sums: Vec<Vec<f32>> = vec![vec![0.0; n_features]; n_classes];
        let mut vectors: Vec<SparseVec> = Vec::new();
        let mut members: Vec<Vec<u32>> = vec![Vec::new(); n_classes];
        let mut example_class = Vec::new();
        for (d, (doc, &label)) in docs.iter().zip(&labels).enumerate() {
            let v = vectorizer.transform(doc);
            if v.entries.is_empty() {
                tracing::warn!(intent = %file.intents[label as usize].name, "example {doc:?} has no usable words; skipped");
                continue;
            }
            let v = match &embedder {
                Some(em) => {
                    kept_embeddings.push(background::centred_unit(&doc_embeddings[d], &em.mean));
                    own_kept += usize::from(d < own_docs);
                    em.join(v, &doc_embeddings[d])
                }
                None => v,
            };
            let e = vectors.len() as u32;
            for &(f, w) in &v.entries {
                postings[f as usize].push((e, w));
                sums[label as usize][f as usize] += w;
            }
            members[label as usize].push(e);
            example_class.push(label);
            vectors.push(v);
        }
        for (c, m) in members.iter().enumerate() {
            if m.is_empty() {
                return Err(IvrError::invalid(
                    "intents file",
                    format!("intents[{c}].examples"),
                    format!(
                        "intent {:?} has no example with usable words",
                        file.intents[c].name
                    ),
                ));
            }
        }
        let mut class_postings: Vec<Vec<(u32, f32)>> = vec![Vec::new(); n_features];
        let mut class_norm_sq = vec![0.0; n_classes];
        for (c, sum) in sums.iter().enumerate() {
            for (f, &w) in sum.iter().enumerate() {
                if w != 0.0 {
                    class_postings[f].push((c as u32, w));
                    class_norm_sq[c] += w * w;
                }
            }
        }
        let example_dot_sum = vectors
            .iter()
            .zip(&example_class)
            .map(|(v, &c)| {
                v.entries
                    .iter()
                    .map(|&(f, w)| w * sums[c as usize][f as usize])
                    .sum()
            })
            .collect();
        let mut model = IntentClassifier {
            config,
            vectorizer,
            intents: file.intents.iter().map(|i| i.name.clone()).collect(),
            members,
            example_class,
            postings,
            class_postings,
            class_norm_sq,
            example_dot_sum,
            linear: None,
            slots: SlotExtractor::new(&file.entities),
            report: TrainingReport {
                examples: vectors.len(),
                features: n_features,
                cv_accuracy: 0.0,
                raw_threshold: 0.0,
                typical_score: 1.0,
                embeddings: embedder.is_some(),
                background_examples: background.len(),
                neighbour_margin: None,
                neighbour_cut: None,
                ood: None,
                agent_request_intent,
            },
            background: !background.is_empty(),
            vote: match &embedder {
                Some(em) if config.background_neighbours > 0 && !background.is_empty() => {
                    let lines = background_embeddings
                        .iter()
                        .map(|b| background::centred_unit(b, &em.mean))
                        .collect();
                    Some(NeighbourVote::calibrate(
                        kept_embeddings,
                        lines,
                        config.background_neighbours,
                        config.calibration_folds,
                        config.cut_rule(),
                        own_kept,
                    ))
                }
                _ => None,
            },
            embedder,
            detector: None,
        };
        model.report.neighbour_margin = model.vote.as_ref().map(|v| v.margin);
        model.report.neighbour_cut =
            model
                .vote
                .as_ref()
                .and_then(|v| v.estimate)
                .map(|e| OodCalibration {
                    examples_accepted: e.examples_accepted,
                    background_rejected: e.background_rejected,
                });
        model.calibrate(&vectors, &background);
        Ok(model)
    }

    /// Whether the neighbour vote alone decides out-of-domain rejection.
    fn vote_decides(&self) -> bool {
        self.config.ood_vote && self.vote.is_some()
    }

    /// N-gram features plus embedding dimensions.
    fn feature_count(&self) -> usize {
        self.vectorizer.len() + self.embedder.as_ref().map_or(0, |e| e.mean.len())
    }

    /// The feature vector of an utterance (empty when it has no usable words)
    /// and its mean cosines to the nearest background lines and examples
    /// (`None` without a vote).
    fn featurize(&self, text: &str) -> (SparseVec, Option<(f32, f32)>) {
        let q = self.vectorizer.transform(text);
        match &self.embedder {
            Some(em) if !q.entries.is_empty() => match em.encoder.encode(&[text]) {
                Ok(mut v) if v.len() == 1 => {
                    let e = v.remove(0);
                    let near = self
                        .vote
                        .as_ref()
                        .map(|vote| vote.nearness(&background::centred_unit(&e, &em.mean)));
                    (em.join(q, &e), near)
                }
                Ok(_) | Err(_) => {
                    tracing::warn!("sentence encoder failed on an utterance; n-gram features only");
                    (q, None)
                }
            },
            _ => (q, None),
        }
    }

    /// Classifies one utterance: intent (or `None`), confidence, alternatives, slots.
    pub fn classify(&self, text: &str) -> Classification {
        let (q, near) = self.featurize(text);
        let slots = self.slots.extract(text);
        if q.entries.is_empty() {
            return Classification {
                intent: None,
                confidence: 0.0,
                alternatives: Vec::new(),
                slots,
            };
        }
        let scored = self.score(&q, None);
        let linear = self
            .linear
            .as_ref()
            .map(|m| m.probabilities(&q))
            .unwrap_or_default();
        let (probs, none) = self.combine(&scored, &linear);
        let best_p = probs.iter().copied().fold(0.0, f32::max);
        let vote_decides = self.vote_decides();
        let confidences: Vec<f32> = match (&self.detector, &self.vote, near) {
            // The neighbour vote decides; the other intents' confidences keep
            // their probabilities' proportions to the best's.
            (_, Some(vote), Some(near)) if vote_decides => {
                let c = vote.confidence(near);
                probs
                    .iter()
                    .map(|p| c * p / best_p.max(f32::MIN_POSITIVE))
                    .collect()
            }
            // One calibrated decision from all the signals.
            (Some(detector), _, _) => {
                let signals = self.signals(
                    &scored,
                    &linear,
                    self.report.typical_score,
                    near.unwrap_or((0.0, 0.0)),
                );
                let c = detector.confidence(&signals);
                probs
                    .iter()
                    .map(|p| c * p / best_p.max(f32::MIN_POSITIVE))
                    .collect()
            }
            _ => {
                let top = scored.scores.iter().copied().fold(0.0, f32::max);
                let in_domain = self.in_domain(top, self.report.typical_score);
                probs.iter().map(|p| self.rescale(in_domain * p)).collect()
            }
        };
        let mut ranked: Vec<IntentScore> = confidences
            .iter()
            .enumerate()
            .map(|(c, &confidence)| IntentScore {
                intent: self.intents[c].clone(),
                confidence,
            })
            .collect();
        ranked.sort_by(|a, b| b.confidence.total_cmp(&a.confidence));
        let mut best = ranked.remove(0);
        let voted_out = match (&self.vote, near) {
            (Some(vote), Some((b, e))) => b - e > vote.margin,
            _ => false,
        };
        if !vote_decides && self.detector.is_none() && (none >= best_p || voted_out) {
            // The background class wins, or the background lines are nearer than
            // the examples: out of domain, whatever the similarity says.
            best.confidence = best.confidence.min(0.49);
        }
        let accepted = best.confidence >= 0.5;
        let mut alternatives = Vec::with_capacity(self.config.max_alternatives + 1);
        if !accepted {
            alternatives.push(best.clone());
        }
        alternatives.extend(
            ranked
                .into_iter()
                .filter(|a| a.confidence > 0.001)
                .take(self.config.max_alternatives),
        );
        alternatives.truncate(self.config.max_alternatives);
        Classification {
            intent: accepted.then_some(best.intent),
            confidence: best.confidence,
            alternatives,
            slots,
        }
    }

    /// The intent names, in file order.
    pub fn intents(&self) -> &[String] {
        &self.intents
    }

    /// Cross-validated figures and the calibrated threshold.
    pub fn report(&self) -> TrainingReport {
        self.report
    }
}

/// The selected background utterances as feature vectors (n-grams of the
/// tenant's vocabulary joined with their centred embeddings).
/// Also returns their raw embeddings.
fn background_vectors(
    file: &IntentsFile,
    config: &ClassifierConfig,
    embedder: &Embedder,
    vectorizer: &Vectorizer,
    examples: &[Vec<f32>],
) -> (Vec<SparseVec>, Vec<Vec<f32>>) {
    let lines = background::utterances(file.language, config.background_services);
    let embeddings = match embedder.encoder.encode(&lines) {
        Ok(v) if v.len() == lines.len() => v,
        Ok(_) | Err(_) => {
            tracing::warn!(
                "sentence encoder failed on the background utterances; no background class"
            );
            return (Vec::new(), Vec::new());
        }
    };
    background::select(&embeddings, examples, config.background_quantile)
        .into_iter()
        .map(|i| {
            (
                embedder.join(vectorizer.transform(lines[i]), &embeddings[i]),
                embeddings[i].clone(),
            )
        })
        .unzip()
}
