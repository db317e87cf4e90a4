//! Tuning knobs of the intent classifier.

use crate::nlu::cut::CutRule;
use crate::nlu::features::FeatureWeights;

/// Tuning knobs of [`IntentClassifier`](super::IntentClassifier); the defaults were chosen on held-out data.
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
    /// With a background class: add the list of requests to other kinds of
    /// customer-service line (hotels, rail, car hire, banks, phone companies,
    /// shops, doctors, …; `background/services_{en,zh}.txt`, session 10) to the
    /// generic background lines, so that a request meant for another business
    /// has background neighbours as close as the tenant's examples. Lines too
    /// close to the tenant's own examples are dropped as for every background line.
    pub background_services: bool,
    /// Share (0..1) of the training examples, scored by cross-validation, that
    /// the neighbour vote's margin must accept.
    pub background_accept_rate: f32,
    /// With sentence embeddings and a background class: decide out-of-domain
    /// rejection with one detector fitted per model on all the signals (best
    /// similarity, the intents' probabilities and margin, the background class,
    /// the neighbour vote's lean), trained on the cross-validated examples
    /// against the held-out background lines (see `ood.rs`). Off: the
    /// background class, the vote and the confidence threshold reject in turn.
    pub ood_detector: bool,
    /// Share (0..1) of the cross-validated training examples the detector accepts.
    pub ood_accept_rate: f32,
    /// With sentence embeddings and background lines: the neighbour vote alone
    /// decides out-of-domain rejection (session 9), its margin accepting
    /// `ood_accept_rate` of the cross-validated examples; the detector, the
    /// background class's veto and the confidence threshold stand aside. Chosen
    /// on the spent independent rounds: the detector's learnt weights trust
    /// signals (the regression's background class, its probabilities) that tell
    /// the background lists from the examples in cross-validation but carry less
    /// well to requests written by others.
    pub ood_vote: bool,
    /// With the neighbour vote deciding (`ood_vote`): the worth of rejecting a
    /// held-out background line against accepting a cross-validated example
    /// when each model places its own margin (session 11, see `cut.rs`): the
    /// margin maximises `examples accepted + ood_cut_weight × background lines
    /// rejected` with the example acceptance kept within
    /// `ood_cut_min_accept..=ood_cut_max_accept`. 0 restores the fixed cut
    /// (session 10: accept `ood_accept_rate` of the examples whatever the
    /// background; `NLU_SET` / `nlu_eval --set` name `ood_cut_weight=0`).
    pub ood_cut_weight: f32,
    /// With the neighbour vote deciding: when above 0, each model's margin is
    /// instead the loosest that rejects this share (0..1) of the held-out
    /// background lines, the example acceptance kept within
    /// `ood_cut_min_accept..=ood_cut_max_accept` (takes precedence over
    /// `ood_cut_weight`).
    pub ood_cut_reject: f32,
    /// Lowest share (0..1) of cross-validated examples a balanced cut accepts.
    pub ood_cut_min_accept: f32,
    /// Highest share (0..1) of cross-validated examples a balanced cut accepts.
    pub ood_cut_max_accept: f32,
    /// With embeddings: add the built-in ways of asking for a person
    /// ("operator", "zero", "human", "人工", "转人工"…, `background/agent_*.txt`)
    /// as examples of the tenant's agent-request intent, found as the intent
    /// most of them sit nearest to (session 12, see `agent_request.rs`;
    /// `TrainingReport::agent_request_intent` says which, if any).
    pub agent_request: bool,
}

impl ClassifierConfig {
    /// How the neighbour vote's margin is placed (see `cut.rs`).
    pub(crate) fn cut_rule(&self) -> CutRule {
        if !self.ood_vote {
            return CutRule::Fixed(self.background_accept_rate);
        }
        if self.ood_cut_reject > 0.0 {
            CutRule::Target {
                reject: self.ood_cut_reject,
                min_accept: self.ood_cut_min_accept,
                max_accept: self.ood_cut_max_accept,
            }
        } else if self.ood_cut_weight > 0.0 {
            CutRule::Balanced {
                weight: self.ood_cut_weight,
                min_accept: self.ood_cut_min_accept,
                max_accept: self.ood_cut_max_accept,
            }
        } else {
            CutRule::Fixed(self.ood_accept_rate)
        }
    }
}

impl Default for ClassifierConfig {
    fn default() -> Self {
        let f = FeatureWeights::default();
        ClassifierConfig {
            neighbours: 3,
            centroid_weight: 0.3,
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
            embedding_weight: 0.7,
            embedding_accept_rate: 0.98,
            similarity_power: 1.0,
            background: true,
            background_quantile: 0.2,
            background_weight: 0.2,
            background_neighbours: 3,
            background_services: true,
            background_accept_rate: 0.98,
            ood_detector: true,
            ood_accept_rate: 0.94,
            ood_vote: true,
            ood_cut_weight: 1.0,
            ood_cut_reject: 0.0,
            ood_cut_min_accept: 0.92,
            ood_cut_max_accept: 0.98,
            agent_request: true,
        }
    }
}
