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

/// True if a Chinese `phrase` of three or more characters occurs in `text`
/// with at most one character in three different (same length, in order):
/// a recognizer that mishears one syllable of "修改套餐" as "修改讨餐" still
/// names the phrase. Shorter phrases and Latin script need [`phrase_in`].
pub(crate) fn phrase_near(text: &str, phrase: &str) -> bool {
    let p: Vec<char> = phrase.chars().filter(|c| !c.is_whitespace()).collect();
    if p.len() < 3 || !p.iter().all(|&c| is_cjk(c)) {
        return false;
    }
    let t: Vec<char> = text.chars().collect();
    let allowed = p.len() / 3;
    t.windows(p.len()).any(|w| {
        // the first or the last character must be right: a window that shares
        // only the middle is another phrase
        let wrong = w.iter().zip(&p).filter(|(a, b)| a != b).count();
        wrong <= allowed && (w[0] == p[0] || w[p.len() - 1] == p[p.len() - 1])
    })
}

/// The menu choices `text` names, in menu order: those whose words occur in
/// it, else the only one whose Chinese words occur in it nearly
/// ([`phrase_near`]); empty when none does or nearly naming is ambiguous.
pub(crate) fn choices_named<'a, C>(
    text: &str,
    choices: &'a [C],
    words: impl Fn(&C) -> &[String],
) -> Vec<&'a C> {
    let named: Vec<&C> = choices
        .iter()
        .filter(|c| words(c).iter().any(|w| phrase_in(text, w)))
        .collect();
    if !named.is_empty() {
        return named;
    }
    let near: Vec<&C> = choices
        .iter()
        .filter(|c| words(c).iter().any(|w| phrase_near(text, w)))
        .collect();
    if near.len() == 1 { near } else { Vec::new() }
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
    fn chinese_phrases_match_with_one_misheard_character_in_three() {
        assert!(phrase_near("我想修改讨餐", "修改套餐"));
        assert!(phrase_near("帮我转人工课服", "人工客服"));
        assert!(!phrase_near("我想修改", "修改套餐"));
        // two characters must be heard exactly
        assert!(!phrase_near("我要张单", "账单"));
        // a window right only in the middle is not the phrase
        assert!(!phrase_near("改套", "修改套餐"));
        assert!(!phrase_near("查询", "查询账单"));
        assert!(!phrase_near("bill", "bill"));
        let choices = [
            vec!["话费账单".to_string()],
            vec!["网络故障".to_string(), "网速".to_string()],
        ];
        let named = |text: &str| choices_named(text, &choices, |c: &Vec<String>| c.as_slice());
        assert_eq!(named("我的网速很慢"), [&choices[1]]);
        assert_eq!(named("查一下话费帐单"), [&choices[0]]);
        assert_eq!(named("网速慢，话费账单"), [&choices[0], &choices[1]]);
        assert!(named("今天天气不错").is_empty());
    }

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
