//! The out-of-domain detector: one decision from several signals, calibrated per
//! model against generic out-of-domain lines.
//!
//! With sentence embeddings and a background class, an utterance carries several
//! hints that it is outside the tenant's intents: its best similarity to the
//! examples is low, the intents' probabilities are flat, the regression's
//! background class is likely, and the nearest background lines are closer than
//! the nearest examples. Each hint alone, cut at a fixed share of the training
//! examples, either rejects too little or — cutting several hints in turn — loses
//! more in-domain utterances than any one cut. How much each hint says depends on
//! the tenant (a domain whose words other businesses share needs the background
//! lines more than one whose requests sit far from everyday talk).
//!
//! So each model fits a small logistic regression on those signals: the training
//! examples, scored by cross-validation (each against a model without its fold),
//! against the generic background lines, scored the same way (each against a
//! model whose background class and neighbour vote lack its fold). The
//! regression's score is cut where it accepts `accept_rate` of the
//! cross-validated examples. Everything comes from the intents file and the
//! fixed, tenant-independent background lists: nothing is set by hand per tenant.

use serde::Serialize;

/// Signals of one utterance: see [`Signals::to_array`] for the order.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct Signals {
    /// `ln(best similarity / typical cross-validated best similarity)`.
    pub(crate) closeness: f32,
    /// Probability of the best intent.
    pub(crate) best: f32,
    /// Best intent's probability minus the second best's.
    pub(crate) margin: f32,
    /// The regression's background-class probability.
    pub(crate) background: f32,
    /// Mean cosine of the nearest background lines (centred embeddings; 0
    /// without a vote).
    pub(crate) near_background: f32,
    /// Mean cosine of the nearest examples (0 without a vote).
    pub(crate) near_examples: f32,
}

const N: usize = 6;

impl Signals {
    fn to_array(self) -> [f32; N] {
        [
            self.closeness,
            self.best,
            self.margin,
            self.background,
            self.near_background,
            self.near_examples,
        ]
    }
}

/// What calibration measured, for the training report.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct OodCalibration {
    /// Cross-validated training examples the detector accepts (≈ the accept rate).
    pub examples_accepted: f32,
    /// Held-out background lines the detector rejects: an estimate of generic
    /// out-of-domain rejection for this model.
    pub background_rejected: f32,
}

/// A logistic regression over [`Signals`] with a calibrated cut.
#[derive(Debug, Clone)]
pub(crate) struct OodDetector {
    mean: [f32; N],
    scale: [f32; N],
    weights: [f32; N],
    bias: f32,
    /// Scores at or above it are in domain.
    threshold: f32,
    pub(crate) calibration: OodCalibration,
}

fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

impl OodDetector {
    /// Fits the detector on in-domain (`inside`) and out-of-domain (`outside`)
    /// signals, each class weighing the same in total, and cuts it to accept
    /// `accept_rate` of `inside`. `None` when either side is empty.
    pub(crate) fn fit(inside: &[Signals], outside: &[Signals], accept_rate: f32) -> Option<Self> {
        if inside.is_empty() || outside.is_empty() {
            return None;
        }
        let rows: Vec<([f32; N], f32, f32)> = inside
            .iter()
            .map(|s| (s.to_array(), 1.0, 0.5 / inside.len() as f32))
            .chain(
                outside
                    .iter()
                    .map(|s| (s.to_array(), 0.0, 0.5 / outside.len() as f32)),
            )
            .collect();
        let mut mean = [0.0f32; N];
        let mut scale = [0.0f32; N];
        for (x, _, _) in &rows {
            for i in 0..N {
                mean[i] += x[i] / rows.len() as f32;
            }
        }
        for (x, _, _) in &rows {
            for i in 0..N {
                scale[i] += (x[i] - mean[i]).powi(2) / rows.len() as f32;
            }
        }
        for s in &mut scale {
            *s = if *s > 1e-12 { 1.0 / s.sqrt() } else { 0.0 };
        }
        let z: Vec<([f32; N], f32, f32)> = rows
            .iter()
            .map(|(x, y, w)| {
                let mut v = [0.0; N];
                for i in 0..N {
                    v[i] = (x[i] - mean[i]) * scale[i];
                }
                (v, *y, *w)
            })
            .collect();
        // Full-batch gradient descent on the weighted log loss with a little L2:
        // five standardised inputs, a few hundred rows, converges in well under
        // a millisecond per hundred steps.
        let (mut weights, mut bias) = ([0.0f32; N], 0.0f32);
        let (rate, l2) = (1.0f32, 1e-3f32);
        for _ in 0..400 {
            let mut grad = [0.0f32; N];
            let mut grad_b = 0.0f32;
            for (x, y, w) in &z {
                let p = sigmoid(bias + (0..N).map(|i| weights[i] * x[i]).sum::<f32>());
                let g = w * (p - y);
                for i in 0..N {
                    grad[i] += g * x[i];
                }
                grad_b += g;
            }
            for i in 0..N {
                weights[i] -= rate * (grad[i] + l2 * weights[i]);
            }
            bias -= rate * grad_b;
        }
        let mut detector = OodDetector {
            mean,
            scale,
            weights,
            bias,
            threshold: 0.0,
            calibration: OodCalibration {
                examples_accepted: 0.0,
                background_rejected: 0.0,
            },
        };
        let mut scores: Vec<f32> = inside.iter().map(|s| detector.score(s)).collect();
        scores.sort_unstable_by(f32::total_cmp);
        let at = ((scores.len() - 1) as f32 * (1.0 - accept_rate).clamp(0.0, 1.0)).round() as usize;
        detector.threshold = scores[at];
        let share = |v: &[Signals], accept: bool| {
            v.iter()
                .filter(|s| (detector.score(s) >= detector.threshold) == accept)
                .count() as f32
                / v.len() as f32
        };
        detector.calibration = OodCalibration {
            examples_accepted: share(inside, true),
            background_rejected: share(outside, false),
        };
        Some(detector)
    }

    /// The regression's logit: higher is more in domain.
    pub(crate) fn score(&self, s: &Signals) -> f32 {
        let x = s.to_array();
        self.bias
            + (0..N)
                .map(|i| self.weights[i] * (x[i] - self.mean[i]) * self.scale[i])
                .sum::<f32>()
    }

    /// A confidence in 0..1 that is 0.5 at the cut: at or above it, in domain.
    pub(crate) fn confidence(&self, s: &Signals) -> f32 {
        sigmoid(self.score(s) - self.threshold)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn signals(closeness: f32, background: f32) -> Signals {
        Signals {
            closeness,
            best: 0.5,
            margin: 0.3,
            background,
            near_background: 0.0,
            near_examples: 0.0,
        }
    }

    #[test]
    fn the_detector_learns_which_signal_separates_and_accepts_the_asked_share() {
        // In domain: close to the examples, low background probability; out of
        // domain: the background probability is what tells them apart.
        let inside: Vec<Signals> = (0..50)
            .map(|i| signals(-0.1 * (i % 5) as f32, 0.02 * (i % 10) as f32))
            .collect();
        let outside: Vec<Signals> = (0..40)
            .map(|i| signals(-0.1 * (i % 5) as f32, 0.5 + 0.01 * i as f32))
            .collect();
        let d = OodDetector::fit(&inside, &outside, 0.96).unwrap();
        assert!(d.calibration.examples_accepted >= 0.94);
        assert!(d.calibration.background_rejected > 0.9);
        assert!(d.confidence(&signals(0.0, 0.05)) >= 0.5);
        assert!(d.confidence(&signals(0.0, 0.9)) < 0.5);
        assert!(OodDetector::fit(&inside, &[], 0.96).is_none());
    }
}
