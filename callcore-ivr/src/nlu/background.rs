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

use super::intents::Language;

const EN: &str = include_str!("background/en.txt");
const ZH: &str = include_str!("background/zh.txt");

fn lines_of(text: &'static str) -> impl Iterator<Item = &'static str> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
}

/// The background utterances for a model in `language` (both lists for `mixed`).
pub(crate) fn utterances(language: Language) -> Vec<&'static str> {
    match language {
        Language::En => lines_of(EN).collect(),
        Language::Zh => lines_of(ZH).collect(),
        _ => lines_of(EN).chain(lines_of(ZH)).collect(),
    }
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_languages_have_lines_and_mixed_has_both() {
        let en = utterances(Language::En).len();
        let zh = utterances(Language::Zh).len();
        assert!(en >= 80 && zh >= 80, "{en} {zh}");
        assert_eq!(utterances(Language::Mixed).len(), en + zh);
        assert!(utterances(Language::En).iter().all(|l| !l.starts_with('#')));
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
}
