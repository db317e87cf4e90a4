//! Okapi BM25 over the shared [`Tokenizer`](crate::tokenize::Tokenizer) terms.
//!
//! Documents belong to groups (the variants of one knowledge-base entry) and
//! document frequency counts groups, not documents: a word that every variant
//! of one entry repeats is that entry's signature, not a common word.
//!
//! Scores are also reported normalised to 0..1: the BM25 score divided by the
//! best score the query could reach (every query term matched at saturation),
//! where query terms the corpus has never seen count with the highest IDF.
//! A question made of words the knowledge base does not know therefore scores
//! low even when one common word matches, which is what escalation needs.

use std::collections::HashMap;

/// BM25 parameters.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Bm25Params {
    pub(crate) k1: f32,
    pub(crate) b: f32,
}

impl Default for Bm25Params {
    fn default() -> Self {
        Bm25Params { k1: 1.2, b: 0.75 }
    }
}

/// An inverted index of documents made of terms.
#[derive(Debug, Clone)]
pub(crate) struct Bm25Index {
    params: Bm25Params,
    /// term → (doc, term frequency)
    postings: HashMap<String, Vec<(u32, u32)>>,
    doc_len: Vec<f32>,
    avg_len: f32,
    unseen_idf: f32,
    /// doc → group
    groups: Vec<u32>,
    group_count: usize,
}

impl Bm25Index {
    pub(crate) fn build(docs: &[Vec<String>], groups: &[u32], params: Bm25Params) -> Self {
        let mut postings: HashMap<String, Vec<(u32, u32)>> = HashMap::new();
        for (d, terms) in docs.iter().enumerate() {
            let mut counts: HashMap<&str, u32> = HashMap::new();
            for t in terms {
                *counts.entry(t).or_default() += 1;
            }
            for (t, c) in counts {
                postings
                    .entry(t.to_string())
                    .or_default()
                    .push((d as u32, c));
            }
        }
        let doc_len: Vec<f32> = docs.iter().map(|d| d.len() as f32).collect();
        let avg_len = (doc_len.iter().sum::<f32>() / doc_len.len().max(1) as f32).max(1.0);
        let group_count = groups.iter().copied().max().map_or(0, |g| g as usize + 1);
        let unseen_idf = ((group_count as f32 + 0.5) / 0.5).ln_1p();
        Bm25Index {
            params,
            postings,
            doc_len,
            avg_len,
            unseen_idf,
            groups: groups.to_vec(),
            group_count,
        }
    }

    fn idf(&self, df: usize) -> f32 {
        let n = self.group_count as f32;
        ((n - df as f32 + 0.5) / (df as f32 + 0.5)).ln_1p()
    }

    /// Number of groups with a document (other than `excluded`) holding the term.
    fn group_frequency(&self, list: &[(u32, u32)], excluded: Option<u32>) -> usize {
        let mut seen: Vec<u32> = list
            .iter()
            .filter(|(d, _)| Some(*d) != excluded)
            .map(|(d, _)| self.groups.get(*d as usize).copied().unwrap_or(*d))
            .collect();
        seen.sort_unstable();
        seen.dedup();
        seen.len()
    }

    /// Normalised scores (0..1) of every document for weighted query terms;
    /// `excluded` documents score 0.
    pub(crate) fn scores(&self, query: &[(String, f32)], excluded: Option<u32>) -> Vec<f32> {
        let mut scores = vec![0.0f32; self.doc_len.len()];
        let Bm25Params { k1, b } = self.params;
        let mut best_possible = 0.0;
        for (term, weight) in query {
            let Some(list) = self.postings.get(term) else {
                best_possible += weight * self.unseen_idf;
                continue;
            };
            let df = self.group_frequency(list, excluded);
            if df == 0 {
                best_possible += weight * self.unseen_idf;
                continue;
            }
            let idf = self.idf(df);
            best_possible += weight * idf;
            for &(d, tf) in list {
                if Some(d) == excluded {
                    continue;
                }
                let tf = tf as f32;
                let norm = k1 * (1.0 - b + b * self.doc_len[d as usize] / self.avg_len);
                // A single occurrence in a document of average length counts 1.
                scores[d as usize] += weight * idf * tf * (k1 + 1.0) / (tf + norm);
            }
        }
        if best_possible > 0.0 {
            for s in &mut scores {
                *s = (*s / best_possible).min(1.0);
            }
        }
        scores
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn matching_documents_rank_first_and_unknown_terms_lower_the_score() {
        let idx = Bm25Index::build(
            &[
                doc("opening hours branch"),
                doc("roaming abroad charges"),
                doc("branch address"),
            ],
            &[0, 1, 2],
            Bm25Params::default(),
        );
        let q = |s: &str| {
            s.split_whitespace()
                .map(|t| (t.to_string(), 1.0))
                .collect::<Vec<_>>()
        };
        let s = idx.scores(&q("opening hours"), None);
        assert!(s[0] > s[1] && s[0] > s[2]);
        let with_unknown = idx.scores(&q("opening hours zebra giraffe"), None);
        assert!(with_unknown[0] < s[0]);
        let excluded = idx.scores(&q("opening hours"), Some(0));
        assert_eq!(excluded[0], 0.0);
        assert!(idx.scores(&[], None).iter().all(|&x| x == 0.0));
    }
}
