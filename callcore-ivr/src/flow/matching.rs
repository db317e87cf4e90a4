//! Matching what the caller said against menu words, commands and yes/no.

use crate::stem::stem;
use crate::tokenize::{TokenKind, Tokenizer, is_cjk};

fn words(text: &str) -> Vec<String> {
    Tokenizer::new()
        .tokenize(text)
        .into_iter()
        .map(|t| {
            if t.kind == TokenKind::Word {
                stem(&t.text)
            } else {
                t.text
            }
        })
        .collect()
}

/// True if `phrase` occurs in `text`: as consecutive words (stemmed, any case)
/// for Latin script, as a substring for Chinese.
pub(crate) fn phrase_in(text: &str, phrase: &str) -> bool {
    if phrase.chars().any(is_cjk) {
        return text.contains(phrase.trim());
    }
    let (t, p) = (words(text), words(phrase));
    !p.is_empty() && t.windows(p.len()).any(|w| w == p.as_slice())
}

const YES: &[&str] = &[
    "yes",
    "yeah",
    "yep",
    "correct",
    "right",
    "sure",
    "ok",
    "okay",
    "please do",
    "是",
    "对",
    "好",
    "可以",
    "没错",
    "嗯",
];
const NO: &[&str] = &[
    "no",
    "nope",
    "wrong",
    "not",
    "incorrect",
    "don't",
    "不",
    "错",
    "别",
];

/// Reads a yes (1) or no (2) answer.
pub(crate) fn yes_or_no(text: Option<&str>, digits: Option<&str>) -> Option<bool> {
    match digits {
        Some("1") => return Some(true),
        Some("2") => return Some(false),
        _ => {}
    }
    let t = text?.trim();
    match t {
        "1" => return Some(true),
        "2" => return Some(false),
        _ => {}
    }
    // "no" first: "不是" contains "是", "not right" contains "right".
    if NO.iter().any(|n| phrase_in(t, n)) {
        Some(false)
    } else if YES.iter().any(|y| phrase_in(t, y)) {
        Some(true)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phrases_and_answers() {
        assert!(phrase_in("I want to talk to an AGENT please", "agent"));
        assert!(phrase_in("agents!", "agent"));
        assert!(!phrase_in("management", "agent"));
        assert!(phrase_in("帮我转人工", "人工"));
        assert_eq!(yes_or_no(Some("yes that's right"), None), Some(true));
        assert_eq!(yes_or_no(Some("no, that's not right"), None), Some(false));
        assert_eq!(yes_or_no(Some("不是"), None), Some(false));
        assert_eq!(yes_or_no(Some("是的"), None), Some(true));
        assert_eq!(yes_or_no(None, Some("2")), Some(false));
        assert_eq!(yes_or_no(Some("banana"), None), None);
    }
}
