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

use std::sync::Arc;

use serde::Serialize;

use super::background::{self, NeighbourVote};
use super::embedding::{Embedder, SentenceEncoder};
use super::features::{FeatureWeights, SparseVec, Vectorizer};
use super::intents::IntentsFile;
use super::linear::{LinearModel, LinearSettings};
use crate::error::IvrError;
use crate::slots::{Slot, SlotExtractor};
use crate::tokenize::Tokenizer;

/// Tuning knobs of [`IntentClassifier`]; the defaults were chosen on held-out data.
#[derive(Debug, Clone, Copy)]
pub struct ClassifierConfig {
    /// Nearest examples averaged per intent.
    pub neighbours: usize,
    /// Weight of the centroid score against the nearest-examples score (0..1).
    pub centroid_weight: f32,
    /// Softmax temperature over intent scores.
    pub temperature: f32,
    /// Fraction of training examples (scored by cross-validation) the rejection
    /// threshold must accept; lower rejects more out-of-domain input.
    pub accept_rate: f32,
    /// Most alternatives reported with a classification.
    pub max_alternatives: usize,
    /// Weight of word features (stems, numbers, Chinese characters).
    pub word_weight: f32,
    /// Weight of phrase features (word pairs, Chinese bigrams).
    pub phrase_weight: f32,
    /// Weight of character n-gram features of English words.
    pub char_weight: f32,
    /// Correct unknown English words to the nearest training word
    /// (Damerau–Levenshtein distance 1, 2 for long words).
    pub spelling: bool,
    /// Weight (0..1) of the logistic-regression probabilities against the
    /// similarity softmax when choosing the intent.
    pub linear_weight: f32,
    /// L2 regularisation of the logistic regression.
    pub linear_l2: f32,
    /// Folds used to score training examples honestly for calibration.
    pub calibration_folds: usize,
    /// Share (0..1) of an utterance's vector given to its sentence embedding
    /// (centred on the training examples' mean) when an encoder is present;
    /// the n-gram TF-IDF features get the rest.
    pub embedding_weight: f32,
    /// `accept_rate` used instead when sentence embeddings are part of the
    /// features (they separate in-domain paraphrases from the rest better, so
    /// fewer training examples need to be given up to reject out-of-domain input).
    pub embedding_accept_rate: f32,
    /// Exponent of the in-domain factor (best similarity over its typical
    /// cross-validated value, capped at 1) in the confidence; above 1 it weighs
    /// closeness to the examples more than the intents' probabilities.
    pub similarity_power: f32,
    /// With sentence embeddings: train the logistic regression with one more
    /// class, generic out-of-domain utterances (see `background.rs`); an
    /// utterance that class wins is rejected.
    pub background: bool,
    /// A background utterance is dropped when it is closer to a training
    /// example than this quantile (0..1) of the examples' cosines to their
    /// nearest other example; higher keeps fewer.
    pub background_quantile: f32,
    /// Weight of each background utterance in the regression's loss (an
    /// example weighs 1).
    pub background_weight: f32,
    /// With sentence embeddings and a background class: nearest background
    /// lines and nearest training examples compared in the embedding space
    /// (mean cosine of the `k` nearest of each; 0 turns the vote off). An
    /// utterance closer to the background lines, by more than a margin, is
    /// rejected (see `background.rs`).
    pub background_neighbours: usize,
    /// Share (0..1) of the training examples, scored by cross-validation, that
    /// the neighbour vote's margin must accept.
    pub background_accept_rate: f32,
}

impl Default for ClassifierConfig {
    fn default() -> Self {
        let f = FeatureWeights::default();
        ClassifierConfig {
            neighbours: 5,
            centroid_weight: 0.7,
            temperature: 0.1,
            accept_rate: 0.9,
            max_alternatives: 3,
            word_weight: f.word,
            phrase_weight: f.phrase,
            char_weight: 1.2,
            spelling: true,
            linear_weight: 0.7,
            linear_l2: 1e-4,
            calibration_folds: 5,
            embedding_weight: 0.85,
            embedding_accept_rate: 0.98,
            similarity_power: 1.0,
            background: true,
            background_quantile: 0.2,
            background_weight: 0.2,
            background_neighbours: 5,
            background_accept_rate: 0.98,
        }
    }
}

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
}

struct Scored {
    /// Raw class scores.
    scores: Vec<f32>,
}

/// A fold of training examples left out of the similarity model.
struct HeldOut {
    mask: Vec<bool>,
    /// Squared norms of the class sums without the fold.
    class_norm_sq: Vec<f32>,
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
        let vectorizer = Vectorizer::fit(tokenizer.clone(), weights, &docs);
        let mut embedder = None;
        let mut doc_embeddings: Vec<Vec<f32>> = Vec::new();
        if let Some(encoder) = encoder.filter(|_| config.embedding_weight > 0.0) {
            match encoder.encode(&docs) {
                Ok(v) if v.len() == docs.len() && !v.is_empty() => {
                    let dim = encoder.dim();
                    let mut mean = vec![0.0f32; dim];
                    for e in &v {
                        for (m, x) in mean.iter_mut().zip(e) {
                            *m += x / v.len() as f32;
                        }
                    }
                    doc_embeddings = v;
                    embedder = Some(Embedder {
                        encoder,
                        mean,
                        offset: vectorizer.len() as u32,
                        weight: config.embedding_weight,
                    });
                }
                Ok(_) => tracing::warn!(
                    "sentence encoder returned the wrong number of vectors; using n-gram features only"
                ),
                Err(e) => {
                    tracing::warn!("sentence encoder failed ({e}); using n-gram features only")
                }
            }
        }
        let (background, background_embeddings) = match &embedder {
            Some(em) if config.background => {
                background_vectors(file, &config, em, &vectorizer, &doc_embeddings)
            }
            _ => (Vec::new(), Vec::new()),
        };
        let mut kept_embeddings: Vec<Vec<f32>> = Vec::new();
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
                        config.background_accept_rate,
                    ))
                }
                _ => None,
            },
            embedder,
        };
        model.report.neighbour_margin = model.vote.as_ref().map(|v| v.margin);
        model.calibrate(&vectors, &background);
        Ok(model)
    }

    /// N-gram features plus embedding dimensions.
    fn feature_count(&self) -> usize {
        self.vectorizer.len() + self.embedder.as_ref().map_or(0, |e| e.mean.len())
    }

    /// The feature vector of an utterance (empty when it has no usable words)
    /// and whether the background lines' neighbour vote rejects it.
    fn featurize(&self, text: &str) -> (SparseVec, bool) {
        let q = self.vectorizer.transform(text);
        match &self.embedder {
            Some(em) if !q.entries.is_empty() => match em.encoder.encode(&[text]) {
                Ok(mut v) if v.len() == 1 => {
                    let e = v.remove(0);
                    let rejected = self
                        .vote
                        .as_ref()
                        .is_some_and(|vote| vote.rejects(&background::centred_unit(&e, &em.mean)));
                    (em.join(q, &e), rejected)
                }
                Ok(_) | Err(_) => {
                    tracing::warn!("sentence encoder failed on an utterance; n-gram features only");
                    (q, false)
                }
            },
            _ => (q, false),
        }
    }

    fn linear_settings(&self) -> LinearSettings {
        LinearSettings {
            l2: self.config.linear_l2,
            ..LinearSettings::default()
        }
    }

    /// Trains the linear model on all examples, and returns each example's
    /// probabilities from a model trained on the other folds.
    /// `background` utterances (already selected) form one more class.
    fn train_linear(&mut self, vectors: &[SparseVec], background: &[SparseVec]) -> Vec<Vec<f32>> {
        if self.config.linear_weight <= 0.0 {
            return vec![Vec::new(); vectors.len()];
        }
        let n_features = self.feature_count();
        let classes = self.intents.len() + usize::from(self.background);
        let labelled: Vec<(&SparseVec, u32, f32)> = vectors
            .iter()
            .zip(self.example_class.iter().copied())
            .map(|(v, c)| (v, c, 1.0))
            .collect();
        let none = self.intents.len() as u32;
        let weight = self.config.background_weight.max(0.0);
        let background: Vec<(&SparseVec, u32, f32)> =
            background.iter().map(|v| (v, none, weight)).collect();
        let labelled_all: Vec<(&SparseVec, u32, f32)> =
            labelled.iter().chain(&background).copied().collect();
        let settings = self.linear_settings();
        self.linear = Some(LinearModel::train(
            &labelled_all,
            n_features,
            classes,
            settings,
        ));
        let folds = self.config.calibration_folds.max(2);
        let mut held_out = vec![Vec::new(); vectors.len()];
        for fold in 0..folds {
            // The background class stays whole in every fold: it is never scored.
            let train: Vec<(&SparseVec, u32, f32)> = labelled
                .iter()
                .enumerate()
                .filter(|(i, _)| i % folds != fold)
                .map(|(_, x)| *x)
                .chain(background.iter().copied())
                .collect();
            let model = LinearModel::train(&train, n_features, classes, settings);
            for (i, v) in vectors
                .iter()
                .enumerate()
                .filter(|(i, _)| i % folds == fold)
            {
                held_out[i] = model.probabilities(v);
            }
        }
        held_out
    }

    /// Final intent probabilities from similarity scores and linear
    /// probabilities, and the background class's probability (0 without one).
    /// The intents share what the background class leaves.
    fn combine(&self, scored: &Scored, linear: &[f32]) -> (Vec<f32>, f32) {
        let mut p = self.softmax(&scored.scores);
        let beta = self.config.linear_weight.clamp(0.0, 1.0);
        let none = if self.background && linear.len() == p.len() + 1 {
            linear[p.len()]
        } else {
            0.0
        };
        if linear.len() >= p.len() {
            for (x, l) in p.iter_mut().zip(linear) {
                *x = beta * l + (1.0 - beta) * (1.0 - none) * *x;
            }
        }
        (p, none)
    }

    fn calibrate(&mut self, vectors: &[SparseVec], background: &[SparseVec]) {
        let linear = self.train_linear(vectors, background);
        let mut tops = Vec::with_capacity(vectors.len());
        let mut probs = Vec::with_capacity(vectors.len());
        let mut correct = 0;
        // Cross-fitted like the linear model: a fold left out at a time is a
        // closer stand-in for unseen paraphrases than leaving one out, which
        // near-duplicate examples would flatter.
        let folds = self
            .config
            .calibration_folds
            .max(2)
            .min(vectors.len().max(2));
        for fold in 0..folds {
            let held_out = self.hold_out(vectors, folds, fold);
            for (e, v) in vectors
                .iter()
                .enumerate()
                .filter(|(e, _)| e % folds == fold)
            {
                let scored = self.score(v, Some(&held_out));
                let (best, top, p, _) = self.best(&scored, &linear[e]);
                if best == self.example_class[e] as usize {
                    correct += 1;
                }
                tops.push(top);
                probs.push(p);
            }
        }
        let typical = quantile(&tops, 0.5).max(1e-3);
        let confs: Vec<f32> = tops
            .iter()
            .zip(&probs)
            .map(|(&s, &p)| self.in_domain(s, typical) * p)
            .collect();
        let accept_rate = if self.embedder.is_some() {
            self.config.embedding_accept_rate
        } else {
            self.config.accept_rate
        };
        let threshold = quantile(&confs, 1.0 - accept_rate).clamp(1e-3, 0.999);
        self.report.cv_accuracy = correct as f32 / vectors.len().max(1) as f32;
        self.report.typical_score = typical;
        self.report.raw_threshold = threshold;
        tracing::debug!(report = ?self.report, "intent classifier calibrated");
    }

    /// Raw class scores of `q`, leaving the `held_out` examples out of the model.
    fn score(&self, q: &SparseVec, held_out: Option<&HeldOut>) -> Scored {
        let n_ex = self.example_class.len();
        let mut sims = vec![0.0f32; n_ex];
        let mut cdot = vec![0.0f32; self.intents.len()];
        for &(f, w) in &q.entries {
            for &(e, ew) in &self.postings[f as usize] {
                sims[e as usize] += w * ew;
            }
            for &(c, cw) in &self.class_postings[f as usize] {
                cdot[c as usize] += w * cw;
            }
        }
        let out = |e: usize| held_out.is_some_and(|h| h.mask[e]);
        if let Some(h) = held_out {
            for (e, &c) in self.example_class.iter().enumerate() {
                if h.mask[e] {
                    cdot[c as usize] -= sims[e];
                }
            }
        }
        let alpha = self.config.centroid_weight;
        let mut near: Vec<f32> = Vec::new();
        let scores = (0..self.intents.len())
            .map(|c| {
                let norm_sq = held_out.map_or(self.class_norm_sq[c], |h| h.class_norm_sq[c]);
                let centroid = if norm_sq > 1e-9 {
                    cdot[c] / norm_sq.sqrt()
                } else {
                    0.0
                };
                near.clear();
                near.extend(
                    self.members[c]
                        .iter()
                        .filter(|&&m| !out(m as usize))
                        .map(|&m| sims[m as usize]),
                );
                let k = self.config.neighbours.max(1).min(near.len());
                let knn = if k == 0 {
                    0.0
                } else {
                    near.sort_unstable_by(|a, b| b.total_cmp(a));
                    near[..k].iter().sum::<f32>() / k as f32
                };
                alpha * centroid + (1.0 - alpha) * knn
            })
            .collect();
        Scored { scores }
    }

    /// The model without the examples of `fold` (every `folds`-th example).
    fn hold_out(&self, vectors: &[SparseVec], folds: usize, fold: usize) -> HeldOut {
        let mask: Vec<bool> = (0..vectors.len()).map(|i| i % folds == fold).collect();
        let mut class_norm_sq = self.class_norm_sq.clone();
        let mut removed: Vec<std::collections::HashMap<u32, f32>> =
            vec![std::collections::HashMap::new(); self.intents.len()];
        for (e, v) in vectors.iter().enumerate().filter(|(e, _)| mask[*e]) {
            let c = self.example_class[e] as usize;
            class_norm_sq[c] -= 2.0 * self.example_dot_sum[e];
            for &(f, w) in &v.entries {
                *removed[c].entry(f).or_default() += w;
            }
        }
        for (c, r) in removed.iter().enumerate() {
            class_norm_sq[c] += r.values().map(|w| w * w).sum::<f32>();
        }
        HeldOut {
            mask,
            class_norm_sq,
        }
    }

    /// Best class, the best raw similarity score, the best class's probability
    /// and the background class's.
    fn best(&self, scored: &Scored, linear: &[f32]) -> (usize, f32, f32, f32) {
        let (probs, none) = self.combine(scored, linear);
        let top = scored.scores.iter().copied().fold(0.0, f32::max);
        let (best, &p) = probs
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(b.1))
            .unwrap_or((0, &0.0));
        (best, top, p, none)
    }

    /// How in-domain a best similarity score looks, 0..1.
    fn in_domain(&self, top: f32, typical: f32) -> f32 {
        (top / typical.max(1e-3))
            .clamp(0.0, 1.0)
            .powf(self.config.similarity_power.max(0.0))
    }

    fn softmax(&self, scores: &[f32]) -> Vec<f32> {
        let t = self.config.temperature.max(1e-4);
        let max = scores.iter().copied().fold(f32::MIN, f32::max);
        let exps: Vec<f32> = scores.iter().map(|s| ((s - max) / t).exp()).collect();
        let sum: f32 = exps.iter().sum();
        exps.iter()
            .map(|e| e / sum.max(f32::MIN_POSITIVE))
            .collect()
    }

    /// Maps a raw confidence so the calibrated threshold lands on 0.5.
    fn rescale(&self, raw: f32) -> f32 {
        let t = self.report.raw_threshold;
        let c = if raw < t {
            0.5 * raw / t
        } else {
            0.5 + 0.5 * (raw - t) / (1.0 - t)
        };
        c.clamp(0.0, 1.0)
    }

    /// Classifies one utterance: intent (or `None`), confidence, alternatives, slots.
    pub fn classify(&self, text: &str) -> Classification {
        let (q, voted_out) = self.featurize(text);
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
        let top = scored.scores.iter().copied().fold(0.0, f32::max);
        let in_domain = self.in_domain(top, self.report.typical_score);
        let mut ranked: Vec<IntentScore> = probs
            .iter()
            .enumerate()
            .map(|(c, &p)| IntentScore {
                intent: self.intents[c].clone(),
                confidence: self.rescale(in_domain * p),
            })
            .collect();
        ranked.sort_by(|a, b| b.confidence.total_cmp(&a.confidence));
        let mut best = ranked.remove(0);
        let best_p = probs.iter().copied().fold(0.0, f32::max);
        if none >= best_p || voted_out {
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

fn quantile(values: &[f32], q: f32) -> f32 {
    if values.is_empty() {
        return 0.0;
    }
    let mut v = values.to_vec();
    v.sort_unstable_by(f32::total_cmp);
    let idx = ((v.len() - 1) as f32 * q.clamp(0.0, 1.0)).round() as usize;
    v[idx]
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
    let lines = background::utterances(file.language);
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
