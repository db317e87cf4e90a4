//! Placing an out-of-domain cut per model from its own calibration data.
//!
//! The neighbour vote (see `background.rs`) scores every utterance by its *lean*:
//! how much nearer its nearest background lines are than its nearest examples.
//! An utterance whose lean exceeds the model's margin is rejected. Calibration
//! has two held-out samples of leans for each model:
//!
//! - the training examples, each scored against the examples outside its fold
//!   (a stand-in for unseen in-domain paraphrases), and
//! - the background lines, each scored against the background lines outside its
//!   block of neighbouring lines (the lists are written business by business, so a
//!   contiguous block holds a line's siblings; leaving the block out makes each line
//!   a stand-in for a request to a business the list does not cover) and all examples.
//!
//! Until session 11 the margin accepted a fixed share of the examples
//! ([`CutRule::Fixed`]) whatever the background looked like. That is too strict
//! for a tenant whose requests sit far from everyday talk (the background leans
//! are far above the examples': the cut could accept more examples for free)
//! and too loose for one whose requests share words and meaning with other
//! businesses. [`CutRule::Balanced`] instead chooses, per model, the margin that
//! maximises `examples accepted + weight × background rejected`, within a band of
//! example acceptance, so the tenant's own two samples decide where the cut goes.

/// How a model's margin is chosen from its calibration leans.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum CutRule {
    /// Accept this share (0..1) of the cross-validated examples.
    Fixed(f32),
    /// Maximise `examples accepted + weight × background lines rejected`, the
    /// example acceptance kept within `min_accept..=max_accept`.
    Balanced {
        /// Worth of rejecting a background line against accepting an example
        /// (both as shares of their samples).
        weight: f32,
        /// Lowest share of examples the cut may accept.
        min_accept: f32,
        /// Highest share of examples the cut may accept.
        max_accept: f32,
    },
    /// The loosest margin that still rejects `reject` (0..1) of the background
    /// lines, the example acceptance kept within `min_accept..=max_accept`.
    Target {
        /// Share of held-out background lines the cut must reject.
        reject: f32,
        /// Lowest share of examples the cut may accept.
        min_accept: f32,
        /// Highest share of examples the cut may accept.
        max_accept: f32,
    },
}

/// The value at quantile `q` (0..1) of sorted `v` (nearest rank); `v` non-empty.
fn at_quantile(sorted: &[f32], q: f32) -> f32 {
    let i = ((sorted.len() - 1) as f32 * q.clamp(0.0, 1.0)).round() as usize;
    sorted[i]
}

/// What a cut does on the calibration samples.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct CutEstimate {
    /// The margin: leans above it are rejected.
    pub(crate) margin: f32,
    /// Share of the examples' leans at or under the margin.
    pub(crate) examples_accepted: f32,
    /// Share of the background leans above the margin (`NaN` without background).
    pub(crate) background_rejected: f32,
}

/// Share of sorted `v` at or under `m`.
fn share_at_or_under(sorted: &[f32], m: f32) -> f32 {
    sorted.partition_point(|&x| x <= m) as f32 / sorted.len().max(1) as f32
}

/// Chooses the margin for `rule` from the examples' and the background lines'
/// held-out leans (higher: more out of domain). `examples` must not be empty.
/// Deterministic: candidates are the midpoints between consecutive distinct
/// leans of either sample; ties go to the candidate accepting fewer examples
/// (the stricter one), so a flat objective keeps the cut near the examples.
pub(crate) fn choose(examples: &[f32], background: &[f32], rule: CutRule) -> CutEstimate {
    let mut ex: Vec<f32> = examples.iter().copied().filter(|x| x.is_finite()).collect();
    let mut bg: Vec<f32> = background
        .iter()
        .copied()
        .filter(|x| x.is_finite())
        .collect();
    ex.sort_unstable_by(f32::total_cmp);
    bg.sort_unstable_by(f32::total_cmp);
    let estimate = |margin: f32| CutEstimate {
        margin,
        examples_accepted: share_at_or_under(&ex, margin),
        background_rejected: if bg.is_empty() {
            f32::NAN
        } else {
            1.0 - share_at_or_under(&bg, margin)
        },
    };
    if ex.is_empty() {
        return estimate(f32::INFINITY);
    }
    match rule {
        CutRule::Fixed(accept) => estimate(at_quantile(&ex, accept)),
        CutRule::Balanced { .. } | CutRule::Target { .. } if bg.is_empty() => {
            // Nothing to balance against: the middle of the band.
            let (lo, hi) = band(rule);
            estimate(at_quantile(&ex, (lo + hi) / 2.0))
        }
        CutRule::Target { reject, .. } => {
            let (lo, hi) = band(rule);
            let (low, high) = (at_quantile(&ex, lo), at_quantile(&ex, hi));
            // At most `n - k` background leans may sit at or under the margin.
            let n = bg.len();
            let k = ((reject.clamp(0.0, 1.0) * n as f32).ceil() as usize).min(n);
            let margin = if k == 0 {
                f32::INFINITY
            } else if k == n {
                bg[0] - 1e-6
            } else {
                (bg[n - k - 1] + bg[n - k]) / 2.0
            };
            estimate(margin.clamp(low, high))
        }
        CutRule::Balanced { weight, .. } => {
            let (lo, hi) = band(rule);
            let (low, high) = (at_quantile(&ex, lo), at_quantile(&ex, hi));
            let mut points: Vec<f32> = ex.iter().chain(&bg).copied().collect();
            points.sort_unstable_by(f32::total_cmp);
            points.dedup();
            // Every distinct value of the objective is reached at a sample value
            // or between two of them; the band's ends are candidates too.
            let mut candidates = vec![low, high];
            candidates.extend(
                points
                    .windows(2)
                    .map(|w| (w[0] + w[1]) / 2.0)
                    .chain(points.iter().copied())
                    .filter(|m| (low..=high).contains(m)),
            );
            candidates.sort_unstable_by(f32::total_cmp);
            candidates.dedup();
            let value = |e: &CutEstimate| e.examples_accepted + weight * e.background_rejected;
            let mut best = estimate(low);
            for m in candidates {
                let e = estimate(m);
                if value(&e) > value(&best) + 1e-6 {
                    best = e;
                }
            }
            best
        }
    }
}

/// The band of example acceptance of a balanced rule, ordered.
fn band(rule: CutRule) -> (f32, f32) {
    match rule {
        CutRule::Fixed(a) => (a, a),
        CutRule::Balanced {
            min_accept,
            max_accept,
            ..
        }
        | CutRule::Target {
            min_accept,
            max_accept,
            ..
        } => {
            let (a, b) = (min_accept.clamp(0.0, 1.0), max_accept.clamp(0.0, 1.0));
            (a.min(b), a.max(b))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 100 example leans spread evenly over `-1.0..-0.01` plus `lift`.
    fn examples(lift: f32) -> Vec<f32> {
        (0..100).map(|i| -1.0 + 0.01 * i as f32 + lift).collect()
    }

    const BAND: CutRule = CutRule::Balanced {
        weight: 1.0,
        min_accept: 0.90,
        max_accept: 0.99,
    };

    #[test]
    fn the_fixed_rule_accepts_its_share_whatever_the_background() {
        let e = choose(&examples(0.0), &[0.5, 0.6], CutRule::Fixed(0.94));
        assert!((e.examples_accepted - 0.94).abs() < 0.011, "{e:?}");
        assert_eq!(e.background_rejected, 1.0);
        assert_eq!(
            choose(&examples(0.0), &[], CutRule::Fixed(0.94)).margin,
            e.margin
        );
    }

    #[test]
    fn a_background_far_from_the_examples_lets_the_cut_accept_up_to_the_band() {
        // Every background lean sits above every example lean: accepting more
        // examples costs nothing, so the cut goes to the band's top.
        let bg: Vec<f32> = (0..50).map(|i| 0.2 + 0.01 * i as f32).collect();
        let e = choose(&examples(0.0), &bg, BAND);
        assert!((e.examples_accepted - 0.99).abs() < 0.011, "{e:?}");
        assert_eq!(e.background_rejected, 1.0);
    }

    #[test]
    fn a_background_among_the_examples_tightens_the_cut_down_to_the_band() {
        // Background leans fill the examples' top tenth densely: every example
        // accepted there lets several background lines through.
        let bg: Vec<f32> = (0..60).map(|i| -0.10 + 0.002 * i as f32).collect();
        let e = choose(&examples(0.0), &bg, BAND);
        assert!((e.examples_accepted - 0.90).abs() < 0.011, "{e:?}");
        assert!(e.background_rejected > 0.95, "{e:?}");
        // A lower worth of the background lets the examples win again.
        let light = CutRule::Balanced {
            weight: 0.05,
            min_accept: 0.90,
            max_accept: 0.99,
        };
        let l = choose(&examples(0.0), &bg, light);
        assert!(l.examples_accepted > 0.98, "{l:?}");
    }

    #[test]
    fn the_balanced_cut_stops_where_the_background_begins() {
        // The background starts in the middle of the band: the best cut accepts
        // every example under it and no more.
        let bg: Vec<f32> = (0..40).map(|i| -0.045 + 0.01 * i as f32).collect();
        let e = choose(&examples(0.0), &bg, BAND);
        assert_eq!(e.background_rejected, 1.0, "{e:?}");
        assert!(e.margin < -0.045 && e.margin >= -0.06, "{e:?}");
        assert!((e.examples_accepted - 0.95).abs() < 0.011, "{e:?}");
        // Shifting both samples shifts the cut alike.
        let bg2: Vec<f32> = bg.iter().map(|x| x + 0.5).collect();
        let e2 = choose(&examples(0.5), &bg2, BAND);
        assert!((e2.margin - e.margin - 0.5).abs() < 1e-4, "{e:?} {e2:?}");
    }

    #[test]
    fn the_target_rule_takes_the_loosest_cut_rejecting_its_share_of_the_background() {
        // 50 background leans at -0.20, -0.19, ...: rejecting 90% leaves the
        // five lowest accepted, so the cut sits between the 5th and 6th.
        let bg: Vec<f32> = (0..50).map(|i| -0.20 + 0.01 * i as f32).collect();
        let target = |reject| CutRule::Target {
            reject,
            min_accept: 0.5,
            max_accept: 0.99,
        };
        let e = choose(&examples(0.0), &bg, target(0.9));
        assert!((e.margin + 0.155).abs() < 1e-4, "{e:?}");
        assert!((e.background_rejected - 0.9).abs() < 1e-4, "{e:?}");
        // A stricter target moves the cut down, clamped by the band.
        let s = choose(&examples(0.0), &bg, target(1.0));
        assert!(s.margin < -0.20 && s.background_rejected == 1.0, "{s:?}");
        // Background among the examples' bulk: the band's floor.
        let low: Vec<f32> = bg.iter().map(|x| x - 1.0).collect();
        let floor = choose(&examples(0.0), &low, target(1.0));
        assert!((floor.examples_accepted - 0.5).abs() < 0.011, "{floor:?}");
        // A background far above the examples: the band's top.
        let far: Vec<f32> = bg.iter().map(|x| x + 1.0).collect();
        let f = choose(&examples(0.0), &far, target(0.9));
        assert!((f.examples_accepted - 0.99).abs() < 0.011, "{f:?}");
    }

    #[test]
    fn without_background_or_examples_the_cut_is_defined() {
        let e = choose(&examples(0.0), &[], BAND);
        assert!(e.margin.is_finite() && e.background_rejected.is_nan());
        assert!(e.examples_accepted > 0.9 && e.examples_accepted < 1.0);
        assert_eq!(choose(&[], &[0.1], BAND).margin, f32::INFINITY);
    }
}
