//! Training the regression and calibrating out-of-domain rejection by
//! cross-validation on the training examples (and, for the out-of-domain
//! detector, on the background lines dealt into the same folds).

use super::IntentClassifier;
use super::scoring::quantile;
use crate::nlu::features::SparseVec;
use crate::nlu::linear::{LinearModel, LinearSettings};
use crate::nlu::ood::{OodDetector, Signals};

/// Cross-validated regression probabilities: each example's (and, when the
/// background lines are dealt into folds, each background line's) from a model
/// trained without its fold.
struct HeldOutProbabilities {
    examples: Vec<Vec<f32>>,
    background: Vec<Vec<f32>>,
}

impl IntentClassifier {
    fn linear_settings(&self) -> LinearSettings {
        LinearSettings {
            l2: self.config.linear_l2,
            ..LinearSettings::default()
        }
    }

    /// Whether calibration fits the out-of-domain detector.
    fn wants_detector(&self, background: &[SparseVec]) -> bool {
        self.config.ood_detector
            && !self.vote_decides()
            && self.embedder.is_some()
            && self.background
            && !background.is_empty()
            && self.config.linear_weight > 0.0
    }

    /// Trains the linear model on all examples, and returns each example's
    /// probabilities from a model trained on the other folds.
    /// `background` utterances (already selected) form one more class; with
    /// `deal_background` they are dealt into the folds too (line `j` in fold
    /// `j % folds`) and scored the same way.
    fn train_linear(
        &mut self,
        vectors: &[SparseVec],
        background: &[SparseVec],
        deal_background: bool,
    ) -> HeldOutProbabilities {
        if self.config.linear_weight <= 0.0 {
            return HeldOutProbabilities {
                examples: vec![Vec::new(); vectors.len()],
                background: Vec::new(),
            };
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
        let background_rows: Vec<(&SparseVec, u32, f32)> =
            background.iter().map(|v| (v, none, weight)).collect();
        let labelled_all: Vec<(&SparseVec, u32, f32)> =
            labelled.iter().chain(&background_rows).copied().collect();
        let settings = self.linear_settings();
        self.linear = Some(LinearModel::train(
            &labelled_all,
            n_features,
            classes,
            settings,
        ));
        let folds = self.config.calibration_folds.max(2);
        let mut out = HeldOutProbabilities {
            examples: vec![Vec::new(); vectors.len()],
            background: vec![Vec::new(); if deal_background { background.len() } else { 0 }],
        };
        for fold in 0..folds {
            // Without `deal_background` the background class stays whole in every
            // fold: it is never scored.
            let train: Vec<(&SparseVec, u32, f32)> = labelled
                .iter()
                .enumerate()
                .filter(|(i, _)| i % folds != fold)
                .map(|(_, x)| *x)
                .chain(
                    background_rows
                        .iter()
                        .enumerate()
                        .filter(|(j, _)| !deal_background || j % folds != fold)
                        .map(|(_, x)| *x),
                )
                .collect();
            let model = LinearModel::train(&train, n_features, classes, settings);
            for (i, v) in vectors
                .iter()
                .enumerate()
                .filter(|(i, _)| i % folds == fold)
            {
                out.examples[i] = model.probabilities(v);
            }
            if deal_background {
                for (j, v) in background
                    .iter()
                    .enumerate()
                    .filter(|(j, _)| j % folds == fold)
                {
                    out.background[j] = model.probabilities(v);
                }
            }
        }
        out
    }

    /// Cross-validated accuracy, the typical best similarity, the confidence
    /// threshold and (with embeddings and a background class) the
    /// out-of-domain detector.
    pub(super) fn calibrate(&mut self, vectors: &[SparseVec], background: &[SparseVec]) {
        let detect = self.wants_detector(background);
        let linear = self.train_linear(vectors, background, detect);
        let mut tops = Vec::with_capacity(vectors.len());
        let mut probs = Vec::with_capacity(vectors.len());
        // (example or background line, its fold's similarity scores)
        let mut scored_examples = Vec::new();
        let mut scored_background = Vec::new();
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
                let (best, top, p, _) = self.best(&scored, &linear.examples[e]);
                if best == self.example_class[e] as usize {
                    correct += 1;
                }
                tops.push(top);
                probs.push(p);
                if detect {
                    scored_examples.push((e, scored));
                }
            }
            if detect {
                for (j, v) in background
                    .iter()
                    .enumerate()
                    .filter(|(j, _)| j % folds == fold)
                {
                    scored_background.push((j, self.score(v, Some(&held_out))));
                }
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
        if detect {
            let inside: Vec<Signals> = scored_examples
                .iter()
                .map(|(e, scored)| {
                    let near = self
                        .vote
                        .as_ref()
                        .map_or((0.0, 0.0), |v| v.example_nearness(*e, folds));
                    self.signals(scored, &linear.examples[*e], typical, near)
                })
                .collect();
            let outside: Vec<Signals> = scored_background
                .iter()
                .map(|(j, scored)| {
                    let near = self
                        .vote
                        .as_ref()
                        .map_or((0.0, 0.0), |v| v.background_nearness(*j, folds));
                    self.signals(scored, &linear.background[*j], typical, near)
                })
                .collect();
            self.detector = OodDetector::fit(&inside, &outside, self.config.ood_accept_rate);
            self.report.ood = self.detector.as_ref().map(|d| d.calibration);
        }
        tracing::debug!(report = ?self.report, "intent classifier calibrated");
    }
}
