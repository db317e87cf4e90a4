//! A light English stemmer: folds plurals, past tenses, gerunds and a few
//! irregular verbs callers use on a customer line ("paid", "lost", "stolen").
//!
//! It is deliberately smaller than Porter's algorithm: what matters for intent
//! classification and retrieval is that inflected forms of one word meet on the
//! same stem, not that the stem is a dictionary word. Character n-grams in the
//! classifier cover what this misses.

/// Irregular forms mapped to the form the suffix rules then stem.
const IRREGULAR: &[(&str, &str)] = &[
    ("paid", "pay"),
    ("lost", "lose"),
    ("stolen", "steal"),
    ("stole", "steal"),
    ("bought", "buy"),
    ("sent", "send"),
    ("spoke", "speak"),
    ("spoken", "speak"),
    ("broke", "break"),
    ("broken", "break"),
    ("forgot", "forget"),
    ("forgotten", "forget"),
    ("got", "get"),
    ("gotten", "get"),
    ("told", "tell"),
    ("went", "go"),
    ("gone", "go"),
    ("ran", "run"),
    ("fell", "fall"),
    ("took", "take"),
    ("taken", "take"),
    ("gave", "give"),
    ("given", "give"),
    ("made", "make"),
    ("owed", "owe"),
    ("wrote", "write"),
    ("written", "write"),
    ("came", "come"),
    ("billing", "bill"),
    ("better", "good"),
];

fn is_vowel(c: u8) -> bool {
    matches!(c, b'a' | b'e' | b'i' | b'o' | b'u' | b'y')
}

fn has_vowel(s: &[u8]) -> bool {
    s.iter().any(|&c| is_vowel(c))
}

/// Stems one lowercase English word. Words that are not plain ASCII letters are
/// returned unchanged.
pub fn stem(word: &str) -> String {
    let word = IRREGULAR
        .iter()
        .find(|(form, _)| *form == word)
        .map_or(word, |(_, base)| *base);
    if word.len() <= 3 || !word.bytes().all(|c| c.is_ascii_lowercase()) {
        return word.to_string();
    }
    let mut w: Vec<u8> = word.as_bytes().to_vec();
    // Plurals and third person.
    if w.ends_with(b"sses") {
        w.truncate(w.len() - 2);
    } else if w.ends_with(b"ies") && w.len() > 4 {
        w.truncate(w.len() - 3);
        w.push(b'y');
    } else if w.ends_with(b"s")
        && !w.ends_with(b"ss")
        && !w.ends_with(b"us")
        && !w.ends_with(b"is")
        && w.len() > 3
    {
        w.pop();
    }
    // Past tense and gerund.
    if w.ends_with(b"ied") && w.len() > 4 {
        w.truncate(w.len() - 3);
        w.push(b'y');
    } else if w.ends_with(b"eed") {
        w.pop();
    } else if w.ends_with(b"ed") && w.len() > 4 && has_vowel(&w[..w.len() - 2]) {
        w.truncate(w.len() - 2);
    } else if w.ends_with(b"ing") && w.len() > 5 && has_vowel(&w[..w.len() - 3]) {
        w.truncate(w.len() - 3);
    }
    // Double final consonants, so "bill"/"billed" and "cancel"/"cancelled" meet.
    let n = w.len();
    if n > 3 && w[n - 1] == w[n - 2] && !is_vowel(w[n - 1]) && w[n - 1] != b's' {
        w.pop();
    }
    // Adverbs.
    if w.ends_with(b"ly") && w.len() > 5 {
        w.truncate(w.len() - 2);
    }
    // Final e, so "charge", "charged" and "charging" meet.
    if w.ends_with(b"e") && w.len() > 3 {
        w.pop();
    }
    String::from_utf8(w).unwrap_or_else(|_| word.to_string())
}

#[cfg(test)]
mod tests {
    use super::stem;

    #[test]
    fn inflections_meet_on_one_stem() {
        for group in [
            &["charge", "charged", "charges", "charging"][..],
            &["pay", "paid", "paying", "pays"],
            &["lose", "lost", "losing"],
            &["apply", "applied", "applies"],
            &["stop", "stopped", "stopping"],
            &["bill", "bills", "billing"],
            &["cancel", "cancelled", "canceled", "cancels"],
        ] {
            let first = stem(group[0]);
            for w in group {
                assert_eq!(stem(w), first, "{w} vs {}", group[0]);
            }
        }
    }

    #[test]
    fn short_and_non_ascii_words_are_kept() {
        assert_eq!(stem("sim"), "sim");
        assert_eq!(stem("café"), "café");
        assert_eq!(stem("is"), "is");
    }
}
