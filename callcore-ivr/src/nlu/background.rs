//! The background class: generic out-of-domain utterances that teach the
//! classifier what "none of these intents" looks like.
//!
//! Similarity to the training examples alone cannot tell a near-domain request
//! ("what are your mortgage rates" to a telecom/bank line) from an in-domain
//! paraphrase: both sit about as close to the examples. With sentence
//! embeddings, the logistic regression gets one more class trained on a fixed,
//! tenant-independent list of small talk, general questions and other
//! businesses' requests (`background/{en,zh}.txt`), so it learns which
//! directions of the embedding space lead away from the tenant's intents.
//!
//! The list is generic, so some of its lines may be what a given tenant's
//! intents are about (a bank with a `mortgage_rates` intent). Before training, a
//! background line is dropped when it is as close to one of the tenant's
//! examples as the examples typically are to each other: closer than the
//! `quantile` of the examples' nearest-other-example cosines. The rule adapts to
//! the language and the model (Chinese e5 cosines run higher than English ones)
//! without a hand-set threshold.
//!
//! The background lines also vote directly, in the sentence-embedding space
//! alone ([`NeighbourVote`]): an utterance whose `k` nearest background lines
//! are closer on average than its `k` nearest training examples — by more than a
//! margin calibrated per model from cross-validated training examples — is out
//! of domain. Unlike the regression (which sees n-gram features too, and where
//! the background class is a light weight), this nearest-neighbour view is not
//! fooled by a shared keyword ("the seat of my bike") when the meaning is closer
//! to generic out-of-domain requests than to any example.

use super::cut::{self, CutEstimate, CutRule};
use super::intents::Language;

const EN: &str = include_str!("background/en.txt");
const ZH: &str = include_str!("background/zh.txt");
/// Requests to other kinds of customer-service line (session 10).
const SERVICES_EN: &str = include_str!("background/services_en.txt");
const SERVICES_ZH: &str = include_str!("background/services_zh.txt");

/// The lines of a built-in list: trimmed, without blanks and `#` comments.
pub(super) fn lines_of(text: &'static str) -> impl Iterator<Item = &'static str> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
}

/// The background utterances for a model in `language` (both languages for
/// `mixed`), with the list of other customer-service lines' requests when
/// `services` is set.
pub(crate) fn utterances(language: Language, services: bool) -> Vec<&'static str> {
    let en = || {
        lines_of(EN).chain(
            services
                .then(|| lines_of(SERVICES_EN))
                .into_iter()
                .flatten(),
        )
    };
    let zh = || {
        lines_of(ZH).chain(
            services
                .then(|| lines_of(SERVICES_ZH))
                .into_iter()
                .flatten(),
        )
    };
    match language {
        Language::En => en().collect(),
        Language::Zh => zh().collect(),
        _ => en().chain(zh()).collect(),
    }
}

/// Dot product (the cosine of unit vectors).
pub(super) fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Indices of the `background` embeddings to keep: those whose highest cosine
/// to any `examples` embedding is under the `quantile` (0..1) of the examples'
/// cosines to their nearest other example. All vectors are unit length.
pub(crate) fn select(background: &[Vec<f32>], examples: &[Vec<f32>], quantile: f32) -> Vec<usize> {
    if examples.len() < 2 {
        return Vec::new();
    }
    let mut nearest: Vec<f32> = examples
        .iter()
        .enumerate()
        .map(|(i, a)| {
            examples
                .iter()
                .enumerate()
                .filter(|(j, _)| *j != i)
                .map(|(_, b)| dot(a, b))
                .fold(f32::MIN, f32::max)
        })
        .collect();
    nearest.sort_unstable_by(f32::total_cmp);
    let at = ((nearest.len() - 1) as f32 * quantile.clamp(0.0, 1.0)).round() as usize;
    let limit = nearest[at];
    background
        .iter()
        .enumerate()
        .filter(|(_, b)| examples.iter().all(|e| dot(b, e) < limit))
        .map(|(i, _)| i)
        .collect()
}

/// Centred unit vectors (the embedding space of the classifier, see `Embedder`).
pub(crate) fn centred_unit(v: &[f32], mean: &[f32]) -> Vec<f32> {
    let mut c: Vec<f32> = v.iter().zip(mean).map(|(x, m)| x - m).collect();
    let n = dot(&c, &c).sqrt();
    if n > 1e-6 {
        c.iter_mut().for_each(|x| *x /= n);
    }
    c
}

/// Mean of the `k` highest cosines of `q` to `set` (those with `skip(i)` false).
fn top_mean(q: &[f32], set: &[Vec<f32>], k: usize, skip: impl Fn(usize) -> bool) -> f32 {
    let mut s: Vec<f32> = set
        .iter()
        .enumerate()
        .filter(|(i, _)| !skip(*i))
        .map(|(_, v)| dot(q, v))
        .collect();
    if s.is_empty() {
        return 0.0;
    }
    let k = k.clamp(1, s.len());
    s.select_nth_unstable_by(k - 1, |a, b| b.total_cmp(a));
    s[..k].iter().sum::<f32>() / k as f32
}

/// The background lines' nearest-neighbour vote against the training examples,
/// in the centred sentence-embedding space.
#[derive(Debug, Clone)]
pub(crate) struct NeighbourVote {
    examples: Vec<Vec<f32>>,
    background: Vec<Vec<f32>>,
    k: usize,
    /// An utterance is out of domain when `lean` exceeds it.
    pub(crate) margin: f32,
    /// Interquartile range of the cross-validated examples' leans: the scale of
    /// [`confidence`](Self::confidence).
    spread: f32,
    /// What the margin does on the calibration samples (`None`: no margin).
    pub(crate) estimate: Option<CutEstimate>,
}

impl NeighbourVote {
    /// Calibrates the margin: every example is scored against the examples
    /// outside its fold (`i % folds`), every background line against the
    /// background lines outside its block ([`block_nearness`](Self::block_nearness)),
    /// and `rule` places the margin between the two samples (see `cut.rs`;
    /// [`CutRule::Fixed`] accepts a fixed share of the examples and ignores the
    /// background's leans).
    pub(crate) fn calibrate(
        examples: Vec<Vec<f32>>,
        background: Vec<Vec<f32>>,
        k: usize,
        folds: usize,
        rule: CutRule,
        scored: usize,
    ) -> Self {
        let mut vote = NeighbourVote {
            examples,
            background,
            k: k.max(1),
            margin: f32::INFINITY,
            spread: 1.0,
            estimate: None,
        };
        if vote.background.is_empty() || vote.examples.len() < 2 {
            return vote;
        }
        let folds = folds.clamp(2, vote.examples.len());
        // Only the first `scored` examples (the tenant's own) place the cut; the
        // rest (built-in agent requests, many near-copies of each other that
        // would vouch for one another) are neighbours only.
        let mut leans: Vec<f32> = (0..scored.clamp(1, vote.examples.len()))
            .map(|i| {
                let q = &vote.examples[i];
                top_mean(q, &vote.background, vote.k, |_| false)
                    - top_mean(q, &vote.examples, vote.k, |j| j % folds == i % folds)
            })
            .collect();
        let background_leans: Vec<f32> = match rule {
            CutRule::Fixed(_) => Vec::new(),
            CutRule::Balanced { .. } | CutRule::Target { .. } => (0..vote.background.len())
                .map(|i| {
                    let (b, e) = vote.block_nearness(i, folds);
                    b - e
                })
                .collect(),
        };
        let estimate = cut::choose(&leans, &background_leans, rule);
        leans.sort_unstable_by(f32::total_cmp);
        let rank = |q: f32| ((leans.len() - 1) as f32 * q.clamp(0.0, 1.0)).round() as usize;
        vote.margin = estimate.margin;
        vote.spread = (leans[rank(0.75)] - leans[rank(0.25)]).max(1e-3);
        vote.estimate = Some(estimate);
        vote
    }

    /// [`nearness`](Self::nearness) of background line `i` against all the
    /// examples and the background lines outside its block: the lines are dealt
    /// into `folds` contiguous blocks in list order, which keeps a business's
    /// lines (written one after another) together, so a line's own siblings do
    /// not vouch for it.
    pub(crate) fn block_nearness(&self, i: usize, folds: usize) -> (f32, f32) {
        let n = self.background.len();
        let folds = folds.clamp(1, n);
        let block = |j: usize| j * folds / n;
        let own = block(i);
        let q = &self.background[i];
        (
            top_mean(q, &self.background, self.k, |j| block(j) == own),
            top_mean(q, &self.examples, self.k, |_| false),
        )
    }

    /// A confidence in 0..1 from the nearness `(background, examples)` of an
    /// utterance: 0.5 at the margin, higher the further the utterance leans
    /// towards the examples (in units of the examples' own spread).
    pub(crate) fn confidence(&self, (near_background, near_examples): (f32, f32)) -> f32 {
        let lean = near_background - near_examples;
        1.0 / (1.0 + (2.0 * (lean - self.margin) / self.spread).exp())
    }

    /// How much closer `q` (a centred unit embedding) is to the background
    /// lines than to the training examples.
    #[cfg(test)]
    pub(crate) fn lean(&self, q: &[f32]) -> f32 {
        let (b, e) = self.nearness(q);
        b - e
    }

    /// Mean cosine of `q` to its `k` nearest background lines and to its `k`
    /// nearest examples.
    pub(crate) fn nearness(&self, q: &[f32]) -> (f32, f32) {
        if self.background.is_empty() {
            return (f32::NEG_INFINITY, 0.0);
        }
        (
            top_mean(q, &self.background, self.k, |_| false),
            top_mean(q, &self.examples, self.k, |_| false),
        )
    }

    /// Whether the vote says `q` is out of domain.
    #[cfg(test)]
    pub(crate) fn rejects(&self, q: &[f32]) -> bool {
        self.lean(q) > self.margin
    }

    /// [`nearness`](Self::nearness) of training example `i` against the examples outside its fold
    /// (`i % folds`), for calibration.
    pub(crate) fn example_nearness(&self, i: usize, folds: usize) -> (f32, f32) {
        let q = &self.examples[i];
        (
            top_mean(q, &self.background, self.k, |_| false),
            top_mean(q, &self.examples, self.k, |j| j % folds == i % folds),
        )
    }

    /// [`nearness`](Self::nearness) of background line `i` against the background lines and the
    /// examples outside fold `i % folds`, for calibration.
    pub(crate) fn background_nearness(&self, i: usize, folds: usize) -> (f32, f32) {
        let q = &self.background[i];
        let fold = i % folds;
        (
            top_mean(q, &self.background, self.k, |j| j % folds == fold),
            top_mean(q, &self.examples, self.k, |j| j % folds == fold),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_languages_have_lines_and_mixed_has_both() {
        let en = utterances(Language::En, true).len();
        let zh = utterances(Language::Zh, true).len();
        assert!(en >= 80 && zh >= 80, "{en} {zh}");
        assert_eq!(utterances(Language::Mixed, true).len(), en + zh);
        assert!(
            utterances(Language::En, true)
                .iter()
                .all(|l| !l.starts_with('#'))
        );
        // The other service lines' requests are a list of their own.
        let plain = utterances(Language::En, false).len();
        assert!(plain >= 80 && en >= plain + 100, "{plain} {en}");
        let plain_zh = utterances(Language::Zh, false).len();
        assert!(plain_zh >= 80 && zh >= plain_zh + 100, "{plain_zh} {zh}");
    }

    #[test]
    fn lines_as_close_as_the_examples_are_to_each_other_are_dropped() {
        let unit = |x: f32, y: f32| {
            let n = (x * x + y * y).sqrt();
            vec![x / n, y / n]
        };
        let examples = vec![unit(1.0, 0.0), unit(1.0, 0.1), unit(1.0, -0.1)];
        // The first is a near-copy of an example; the second points elsewhere.
        let background = vec![unit(1.0, 0.02), unit(0.0, 1.0)];
        assert_eq!(select(&background, &examples, 0.2), vec![1]);
        assert!(select(&background, &examples[..1], 0.2).is_empty());
    }

    #[test]
    fn a_balanced_vote_places_its_margin_between_examples_and_held_out_background() {
        let unit = |x: f32, y: f32| {
            let n = (x * x + y * y).sqrt();
            vec![x / n, y / n]
        };
        let examples: Vec<Vec<f32>> = (0..20).map(|i| unit(1.0, 0.03 * i as f32)).collect();
        let background: Vec<Vec<f32>> = (0..20).map(|i| unit(0.03 * i as f32, 1.0)).collect();
        let rule = CutRule::Balanced {
            weight: 1.0,
            min_accept: 0.8,
            max_accept: 0.95,
        };
        let vote =
            NeighbourVote::calibrate(examples.clone(), background.clone(), 3, 5, rule, usize::MAX);
        let e = vote.estimate.unwrap();
        // The two samples are far apart: the cut accepts the band's top share of
        // the examples and still rejects every held-out background line.
        assert_eq!(e.background_rejected, 1.0, "{e:?}");
        assert!((e.examples_accepted - 0.95).abs() < 0.03, "{e:?}");
        assert!(!vote.rejects(&unit(1.0, 0.3)));
        assert!(vote.rejects(&unit(0.2, 1.0)));
        // The fixed rule ignores the background and estimates no rejection.
        let fixed =
            NeighbourVote::calibrate(examples, background, 3, 5, CutRule::Fixed(0.8), usize::MAX);
        let f = fixed.estimate.unwrap();
        assert!(f.background_rejected.is_nan() && fixed.margin < vote.margin);
        // A line's own block (its siblings in the list) does not vouch for it.
        let (b, _) = vote.block_nearness(0, 5);
        let (all, _) = vote.nearness(&vote.background[0]);
        assert!(b < all, "{b} {all}");
    }

    #[test]
    fn the_vote_rejects_what_sits_among_the_background_lines() {
        let unit = |x: f32, y: f32| {
            let n = (x * x + y * y).sqrt();
            vec![x / n, y / n]
        };
        let examples: Vec<Vec<f32>> = (0..10).map(|i| unit(1.0, 0.05 * i as f32)).collect();
        let background: Vec<Vec<f32>> = (0..10).map(|i| unit(0.05 * i as f32, 1.0)).collect();
        let vote =
            NeighbourVote::calibrate(examples, background, 3, 5, CutRule::Fixed(0.95), usize::MAX);
        assert!(
            vote.margin.is_finite() && vote.margin < 0.0,
            "{}",
            vote.margin
        );
        assert!(!vote.rejects(&unit(1.0, 0.2)));
        assert!(vote.rejects(&unit(0.1, 1.0)));
        // Its confidence agrees with its decision: 0.5 at the margin.
        let inside = vote.confidence(vote.nearness(&unit(1.0, 0.2)));
        let outside = vote.confidence(vote.nearness(&unit(0.1, 1.0)));
        assert!(inside > 0.5 && outside < 0.5, "{inside} {outside}");
        let (b, e) = vote.nearness(&unit(1.0, 0.2));
        let at = vote.confidence((e + vote.margin, e));
        assert!((at - 0.5).abs() < 1e-4, "{at} {b}");
        let none = NeighbourVote::calibrate(
            vec![unit(1.0, 0.0); 3],
            Vec::new(),
            3,
            5,
            CutRule::Fixed(0.95),
            usize::MAX,
        );
        assert!(!none.rejects(&unit(0.0, 1.0)));
        assert_eq!(centred_unit(&[2.0, 1.0], &[1.0, 1.0]), vec![1.0, 0.0]);
    }
}
