//! TF-IDF feature vectors over three groups of features of an utterance:
//! words (stems, numbers, Chinese characters), phrases (adjacent word pairs,
//! Chinese character bigrams) and character n-grams of English words (which
//! tolerate typos and inflections the stemmer misses).
//!
//! Each group is TF-IDF weighted and L2-normalised on its own, scaled by its
//! weight, and the whole vector is normalised, so cosine similarity is a dot
//! product. Features never seen in training still count in the norm (with the
//! highest IDF): an utterance made mostly of unknown words scores low against
//! everything, which is what out-of-domain rejection relies on.

use std::collections::HashMap;

use super::spelling::Speller;
use crate::tokenize::{TermKind, Tokenizer};

/// Feature groups.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Group {
    Word = 0,
    Phrase = 1,
    Chars = 2,
}

const GROUPS: usize = 3;

/// Relative weights of the feature groups and the character n-gram sizes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FeatureWeights {
    pub(crate) word: f32,
    pub(crate) phrase: f32,
    pub(crate) chars: f32,
    pub(crate) min_n: usize,
    pub(crate) max_n: usize,
    /// Correct unknown English words to known ones.
    pub(crate) spelling: bool,
}

impl Default for FeatureWeights {
    fn default() -> Self {
        FeatureWeights {
            word: 1.0,
            phrase: 0.6,
            chars: 0.8,
            min_n: 3,
            max_n: 4,
            spelling: true,
        }
    }
}

/// A unit-length sparse vector, entries sorted by feature id.
#[derive(Debug, Clone, Default)]
pub(crate) struct SparseVec {
    pub(crate) entries: Vec<(u32, f32)>,
}

#[cfg(test)]
impl SparseVec {
    pub(crate) fn dot(&self, other: &SparseVec) -> f32 {
        let (mut i, mut j, mut sum) = (0, 0, 0.0);
        while i < self.entries.len() && j < other.entries.len() {
            let (a, b) = (self.entries[i], other.entries[j]);
            match a.0.cmp(&b.0) {
                std::cmp::Ordering::Less => i += 1,
                std::cmp::Ordering::Greater => j += 1,
                std::cmp::Ordering::Equal => {
                    sum += a.1 * b.1;
                    i += 1;
                    j += 1;
                }
            }
        }
        sum
    }
}

fn fnv(group: Group, parts: &[&str]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ (group as u64);
    for (k, p) in parts.iter().enumerate() {
        if k > 0 {
            h = (h ^ 0x1f).wrapping_mul(0x0100_0000_01b3);
        }
        for b in p.bytes() {
            h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
    h
}

/// Raw (hashed) features of one utterance, with repetitions.
pub(crate) fn raw_features(
    tokenizer: &Tokenizer,
    weights: &FeatureWeights,
    text: &str,
    speller: Option<&Speller>,
) -> Vec<(u64, Group)> {
    let mut terms = tokenizer.terms(text);
    if let Some(speller) = speller {
        for term in terms.iter_mut().filter(|t| t.kind == TermKind::Word) {
            if let Some(known) = speller.correct(&term.text) {
                term.text = known.to_string();
            }
        }
    }
    let mut out = Vec::with_capacity(terms.len() * 6);
    let mut prev_word: Option<&str> = None;
    let mut buf: Vec<char> = Vec::new();
    for term in &terms {
        match term.kind {
            TermKind::CjkBigram => out.push((fnv(Group::Phrase, &[&term.text]), Group::Phrase)),
            TermKind::Word | TermKind::Number | TermKind::CjkUnigram => {
                out.push((fnv(Group::Word, &[&term.text]), Group::Word));
            }
        }
        if matches!(term.kind, TermKind::Word | TermKind::Number) {
            if let Some(p) = prev_word {
                out.push((fnv(Group::Phrase, &[p, &term.text]), Group::Phrase));
            }
            prev_word = Some(&term.text);
        } else {
            prev_word = None;
        }
        if term.kind == TermKind::Word && weights.chars > 0.0 {
            buf.clear();
            buf.push('^');
            buf.extend(term.surface.chars());
            buf.push('$');
            for n in weights.min_n..=weights.max_n {
                if buf.len() < n {
                    break;
                }
                for w in buf.windows(n) {
                    let s: String = w.iter().collect();
                    out.push((fnv(Group::Chars, &[&s]), Group::Chars));
                }
            }
        }
    }
    out
}

/// A fitted TF-IDF vocabulary.
#[derive(Debug, Clone)]
pub(crate) struct Vectorizer {
    tokenizer: Tokenizer,
    weights: FeatureWeights,
    ids: HashMap<u64, u32>,
    idf: Vec<f32>,
    unknown_idf: f32,
    speller: Speller,
}

impl Vectorizer {
    /// Fits the vocabulary and IDF on `docs`.
    pub(crate) fn fit(tokenizer: Tokenizer, weights: FeatureWeights, docs: &[&str]) -> Self {
        let mut ids: HashMap<u64, u32> = HashMap::new();
        let mut df: Vec<u32> = Vec::new();
        let mut speller = Speller::default();
        for doc in docs {
            for term in tokenizer.terms(doc) {
                if term.kind == TermKind::Word {
                    speller.add(&term.text);
                }
            }
            let mut feats: Vec<u64> = raw_features(&tokenizer, &weights, doc, None)
                .into_iter()
                .map(|(h, _)| h)
                .collect();
            feats.sort_unstable();
            feats.dedup();
            for h in feats {
                let next = ids.len() as u32;
                let id = *ids.entry(h).or_insert(next);
                if id as usize == df.len() {
                    df.push(0);
                }
                df[id as usize] += 1;
            }
        }
        let n = docs.len() as f32;
        let idf = df
            .iter()
            .map(|&d| ((n + 1.0) / (d as f32 + 1.0)).ln() + 1.0)
            .collect();
        let unknown_idf = (n + 1.0).ln() + 1.0;
        Vectorizer {
            tokenizer,
            weights,
            ids,
            idf,
            unknown_idf,
            speller,
        }
    }

    /// Number of known features.
    pub(crate) fn len(&self) -> usize {
        self.idf.len()
    }

    /// The unit-length TF-IDF vector of `text` (empty if it has no features).
    pub(crate) fn transform(&self, text: &str) -> SparseVec {
        let speller = self.weights.spelling.then_some(&self.speller);
        let mut raw = raw_features(&self.tokenizer, &self.weights, text, speller);
        raw.sort_unstable_by_key(|(h, _)| *h);
        let mut group_norm = [0.0f32; GROUPS];
        let mut known: Vec<(u32, f32, Group)> = Vec::with_capacity(raw.len());
        let mut i = 0;
        while i < raw.len() {
            let (h, g) = raw[i];
            let mut count = 0;
            while i < raw.len() && raw[i].0 == h {
                count += 1;
                i += 1;
            }
            let tf = 1.0 + (count as f32).ln();
            match self.ids.get(&h) {
                Some(&id) => {
                    let w = tf * self.idf[id as usize];
                    group_norm[g as usize] += w * w;
                    known.push((id, w, g));
                }
                None => {
                    let w = tf * self.unknown_idf;
                    group_norm[g as usize] += w * w;
                }
            }
        }
        let scale = [self.weights.word, self.weights.phrase, self.weights.chars];
        let mut total = 0.0;
        for g in 0..GROUPS {
            if group_norm[g] > 0.0 {
                total += scale[g] * scale[g];
            }
        }
        if total == 0.0 {
            return SparseVec::default();
        }
        let total = total.sqrt();
        let mut entries: Vec<(u32, f32)> = known
            .into_iter()
            .map(|(id, w, g)| {
                let gi = g as usize;
                (id, w / group_norm[gi].sqrt() * scale[gi] / total)
            })
            .collect();
        entries.sort_unstable_by_key(|(id, _)| *id);
        SparseVec { entries }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn similar_utterances_are_close_and_unknown_words_lower_similarity() {
        let docs = ["i lost my card", "my card was stolen", "what is my balance"];
        let v = Vectorizer::fit(Tokenizer::new(), FeatureWeights::default(), &docs);
        let a = v.transform("I lost my cards");
        let b = v.transform("lost card");
        let c = v.transform("lost card at the zoo with giraffes");
        let d = v.transform("what is my balance");
        assert!(a.dot(&b) > 0.6, "{}", a.dot(&b));
        assert!(c.dot(&b) < a.dot(&b));
        assert!(a.dot(&d) < 0.1);
        assert!(v.transform("").entries.is_empty());
        let self_sim = a.dot(&a);
        assert!((self_sim - 1.0).abs() < 1e-3 || self_sim < 1.0);
    }
}
