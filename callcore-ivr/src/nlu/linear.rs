//! Multinomial logistic regression over the TF-IDF vectors.
//!
//! Similarity to examples says how close an utterance is to the domain; a linear
//! model learns which words tell intents apart ("clear my balance" is a payment
//! although "balance" is mostly said when asking for one). Trained by full-batch
//! gradient descent with L2 regularisation: deterministic, no randomness, a few
//! milliseconds for a few hundred examples.

use super::features::SparseVec;

/// A trained softmax classifier.
#[derive(Debug, Clone)]
pub(crate) struct LinearModel {
    classes: usize,
    /// Feature-major weights: `weights[f * classes + c]`.
    weights: Vec<f32>,
    bias: Vec<f32>,
}

/// Training settings.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LinearSettings {
    pub(crate) epochs: usize,
    pub(crate) learning_rate: f32,
    pub(crate) l2: f32,
}

impl Default for LinearSettings {
    fn default() -> Self {
        LinearSettings {
            epochs: 120,
            learning_rate: 8.0,
            l2: 1e-3,
        }
    }
}

pub(crate) fn softmax_in_place(v: &mut [f32]) {
    let max = v.iter().copied().fold(f32::MIN, f32::max);
    let mut sum = 0.0;
    for x in v.iter_mut() {
        *x = (*x - max).exp();
        sum += *x;
    }
    for x in v.iter_mut() {
        *x /= sum.max(f32::MIN_POSITIVE);
    }
}

impl LinearModel {
    /// Trains on `examples` (vector, class, weight of its loss) over `features` features.
    pub(crate) fn train(
        examples: &[(&SparseVec, u32, f32)],
        features: usize,
        classes: usize,
        settings: LinearSettings,
    ) -> Self {
        let mut model = LinearModel {
            classes,
            weights: vec![0.0; features * classes],
            bias: vec![0.0; classes],
        };
        if examples.is_empty() || classes == 0 {
            return model;
        }
        let n = examples
            .iter()
            .map(|e| e.2)
            .sum::<f32>()
            .max(f32::MIN_POSITIVE);
        let mut grad = vec![0.0f32; features * classes];
        let mut grad_bias = vec![0.0f32; classes];
        let mut p = vec![0.0f32; classes];
        // Momentum speeds up the plain gradient descent a lot on this convex problem.
        let mut velocity = vec![0.0f32; features * classes];
        let mut velocity_bias = vec![0.0f32; classes];
        let momentum = 0.9;
        for _ in 0..settings.epochs {
            grad.iter_mut().for_each(|g| *g = 0.0);
            grad_bias.iter_mut().for_each(|g| *g = 0.0);
            for &(x, y, weight) in examples {
                model.logits_into(x, &mut p);
                softmax_in_place(&mut p);
                p[y as usize] -= 1.0;
                p.iter_mut().for_each(|d| *d *= weight);
                for &(f, w) in &x.entries {
                    let row = &mut grad[f as usize * classes..(f as usize + 1) * classes];
                    for (g, d) in row.iter_mut().zip(&p) {
                        *g += w * d;
                    }
                }
                for (g, d) in grad_bias.iter_mut().zip(&p) {
                    *g += d;
                }
            }
            let lr = settings.learning_rate;
            for ((w, g), v) in model.weights.iter_mut().zip(&grad).zip(velocity.iter_mut()) {
                *v = momentum * *v - lr * (g / n + settings.l2 * *w);
                *w += *v;
            }
            for ((b, g), v) in model
                .bias
                .iter_mut()
                .zip(&grad_bias)
                .zip(velocity_bias.iter_mut())
            {
                *v = momentum * *v - lr * g / n;
                *b += *v;
            }
        }
        model
    }

    fn logits_into(&self, x: &SparseVec, out: &mut [f32]) {
        out.copy_from_slice(&self.bias);
        for &(f, w) in &x.entries {
            let row = &self.weights[f as usize * self.classes..(f as usize + 1) * self.classes];
            for (o, r) in out.iter_mut().zip(row) {
                *o += w * r;
            }
        }
    }

    /// Class probabilities of `x`.
    pub(crate) fn probabilities(&self, x: &SparseVec) -> Vec<f32> {
        let mut p = vec![0.0; self.classes];
        self.logits_into(x, &mut p);
        softmax_in_place(&mut p);
        p
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn separates_two_classes_by_their_words() {
        let a = SparseVec {
            entries: vec![(0, 0.8), (1, 0.6)],
        };
        let b = SparseVec {
            entries: vec![(1, 0.6), (2, 0.8)],
        };
        let m = LinearModel::train(
            &[(&a, 0, 1.0), (&b, 1, 1.0)],
            3,
            2,
            LinearSettings::default(),
        );
        let q = SparseVec {
            entries: vec![(0, 1.0)],
        };
        assert!(m.probabilities(&q)[0] > 0.8);
        let q = SparseVec {
            entries: vec![(2, 1.0)],
        };
        assert!(m.probabilities(&q)[1] > 0.8);
    }
}
