//! Similarity scores against the examples (centroids and nearest examples),
//! their softmax, and how the regression's probabilities are mixed in.

use super::IntentClassifier;
use crate::nlu::features::SparseVec;
use crate::nlu::ood::Signals;

pub(super) struct Scored {
    /// Raw class scores.
    pub(super) scores: Vec<f32>,
}

/// A fold of training examples left out of the similarity model.
pub(super) struct HeldOut {
    mask: Vec<bool>,
    /// Squared norms of the class sums without the fold.
    class_norm_sq: Vec<f32>,
}

impl IntentClassifier {
    /// Final intent probabilities from similarity scores and linear
    /// probabilities, and the background class's probability (0 without one).
    /// The intents share what the background class leaves.
    pub(super) fn combine(&self, scored: &Scored, linear: &[f32]) -> (Vec<f32>, f32) {
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

    /// The out-of-domain detector's inputs for scores `scored`, regression
    /// probabilities `linear`, the typical best similarity and the mean cosines
    /// to the nearest background lines and examples.
    pub(super) fn signals(
        &self,
        scored: &Scored,
        linear: &[f32],
        typical: f32,
        (near_background, near_examples): (f32, f32),
    ) -> Signals {
        let (mut probs, none) = self.combine(scored, linear);
        probs.sort_unstable_by(|a, b| b.total_cmp(a));
        let top = scored.scores.iter().copied().fold(0.0, f32::max);
        let best = probs.first().copied().unwrap_or(0.0);
        Signals {
            closeness: (top.max(1e-3) / typical.max(1e-3)).ln(),
            best,
            margin: best - probs.get(1).copied().unwrap_or(0.0),
            background: none,
            near_background,
            near_examples,
        }
    }

    /// Raw class scores of `q`, leaving the `held_out` examples out of the model.
    pub(super) fn score(&self, q: &SparseVec, held_out: Option<&HeldOut>) -> Scored {
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
    pub(super) fn hold_out(&self, vectors: &[SparseVec], folds: usize, fold: usize) -> HeldOut {
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
    pub(super) fn best(&self, scored: &Scored, linear: &[f32]) -> (usize, f32, f32, f32) {
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
    pub(super) fn in_domain(&self, top: f32, typical: f32) -> f32 {
        (top / typical.max(1e-3))
            .clamp(0.0, 1.0)
            .powf(self.config.similarity_power.max(0.0))
    }

    pub(super) fn softmax(&self, scores: &[f32]) -> Vec<f32> {
        let t = self.config.temperature.max(1e-4);
        let max = scores.iter().copied().fold(f32::MIN, f32::max);
        let exps: Vec<f32> = scores.iter().map(|s| ((s - max) / t).exp()).collect();
        let sum: f32 = exps.iter().sum();
        exps.iter()
            .map(|e| e / sum.max(f32::MIN_POSITIVE))
            .collect()
    }

    /// Maps a raw confidence so the calibrated threshold lands on 0.5.
    pub(super) fn rescale(&self, raw: f32) -> f32 {
        let t = self.report.raw_threshold;
        let c = if raw < t {
            0.5 * raw / t
        } else {
            0.5 + 0.5 * (raw - t) / (1.0 - t)
        };
        c.clamp(0.0, 1.0)
    }
}

/// The `q` quantile (0..1) of `values` (nearest rank; 0 when empty).
pub(super) fn quantile(values: &[f32], q: f32) -> f32 {
    if values.is_empty() {
        return 0.0;
    }
    let mut v = values.to_vec();
    v.sort_unstable_by(f32::total_cmp);
    let idx = ((v.len() - 1) as f32 * q.clamp(0.0, 1.0)).round() as usize;
    v[idx]
}
