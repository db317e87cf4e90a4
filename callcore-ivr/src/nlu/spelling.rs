//! Spelling correction against the training vocabulary: an English word the
//! model has never seen is replaced by a known word (stem) at Damerau–Levenshtein
//! distance 1 (2 for words of 8 letters or more), so "pasword", "acount" and
//! "adress" meet the words of the training examples. Words under 5 letters are
//! left alone: "play" is one letter from "pay", "place" from "plan".

use std::collections::BTreeSet;

/// Known word stems, by length.
#[derive(Debug, Clone, Default)]
pub(crate) struct Speller {
    words: BTreeSet<String>,
    by_len: Vec<Vec<String>>,
}

/// Optimal string alignment distance (Damerau–Levenshtein with adjacent swaps),
/// giving up above `limit`.
fn distance(a: &[u8], b: &[u8], limit: usize) -> usize {
    if a.len().abs_diff(b.len()) > limit {
        return limit + 1;
    }
    let (n, m) = (a.len(), b.len());
    let mut prev2 = vec![0usize; m + 1];
    let mut prev: Vec<usize> = (0..=m).collect();
    let mut cur = vec![0usize; m + 1];
    for i in 1..=n {
        cur[0] = i;
        let mut row_min = cur[0];
        for j in 1..=m {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(prev2[j - 2] + 1);
            }
            cur[j] = v;
            row_min = row_min.min(v);
        }
        if row_min > limit {
            return limit + 1;
        }
        std::mem::swap(&mut prev2, &mut prev);
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[m]
}

impl Speller {
    /// Adds a known stem.
    pub(crate) fn add(&mut self, stem: &str) {
        if stem.len() < 3
            || !stem.bytes().all(|b| b.is_ascii_lowercase())
            || !self.words.insert(stem.to_string())
        {
            return;
        }
        if self.by_len.len() <= stem.len() {
            self.by_len.resize(stem.len() + 1, Vec::new());
        }
        self.by_len[stem.len()].push(stem.to_string());
    }

    /// The known stem closest to an unknown `stem`, if one is close enough.
    pub(crate) fn correct(&self, stem: &str) -> Option<&str> {
        // Short words are too ambiguous to correct ("play" is one letter from "pay").
        if stem.len() < 5
            || self.words.contains(stem)
            || !stem.bytes().all(|b| b.is_ascii_lowercase())
        {
            return None;
        }
        let limit = if stem.len() >= 8 { 2 } else { 1 };
        let mut best: Option<(usize, &str)> = None;
        let lo = stem.len().saturating_sub(limit);
        let hi = (stem.len() + limit).min(self.by_len.len().saturating_sub(1));
        for len in lo..=hi {
            for w in self.by_len.get(len).into_iter().flatten() {
                let d = distance(stem.as_bytes(), w.as_bytes(), limit);
                if d <= limit && best.is_none_or(|(bd, _)| d < bd) {
                    best = Some((d, w));
                }
            }
        }
        best.map(|(_, w)| w)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn corrects_typos_to_known_words_only() {
        let mut s = Speller::default();
        for w in ["password", "account", "balanc", "card", "internet"] {
            s.add(w);
        }
        assert_eq!(s.correct("pasword"), Some("password"));
        assert_eq!(s.correct("acount"), Some("account"));
        assert_eq!(s.correct("balnc"), Some("balanc"));
        assert_eq!(s.correct("crad"), None, "too short to tell");
        assert_eq!(s.correct("interent"), Some("internet"));
        assert_eq!(s.correct("pizza"), None);
        assert_eq!(s.correct("card"), None);
        assert_eq!(s.correct("car"), None);
        assert_eq!(distance(b"abc", b"abc", 1), 0);
        assert_eq!(distance(b"abcd", b"abdc", 1), 1);
    }
}
