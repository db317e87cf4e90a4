//! Term matching and lexicon sentiment for English and Chinese.
//!
//! English is matched by whole words (case-insensitive); Chinese (any CJK
//! character) by substring, longest term first. Sentiment is the classic
//! lexicon score: (positive − negative) ÷ (positive + negative) over the
//! sentiment terms of a stretch of speech, in −1..=1, with a negation word
//! just before a term (English: within two words; Chinese: one or two
//! characters) flipping it.

const POSITIVE_EN: &[&str] = &[
    "thanks",
    "thank",
    "great",
    "helpful",
    "perfect",
    "excellent",
    "happy",
    "good",
    "appreciate",
    "wonderful",
    "resolved",
    "love",
    "awesome",
    "pleased",
    "glad",
    "fantastic",
    "fixed",
    "nice",
];
const NEGATIVE_EN: &[&str] = &[
    "angry",
    "terrible",
    "awful",
    "bad",
    "useless",
    "ridiculous",
    "frustrated",
    "frustrating",
    "unacceptable",
    "worst",
    "hate",
    "horrible",
    "disappointed",
    "annoyed",
    "complaint",
    "cancel",
    "problem",
    "wrong",
    "stupid",
    "waste",
    "rude",
    "broken",
];
const NEGATION_EN: &[&str] = &[
    "not", "no", "never", "don't", "dont", "isn't", "wasn't", "didn't", "can't", "cannot", "won't",
    "nothing", "hardly",
];
const POSITIVE_ZH: &[&str] = &[
    "谢谢",
    "感谢",
    "满意",
    "很好",
    "不错",
    "解决了",
    "太好了",
    "棒",
    "高兴",
    "方便",
    "专业",
    "好的",
    "清楚",
    "耐心",
];
const NEGATIVE_ZH: &[&str] = &[
    "生气", "不满", "投诉", "糟糕", "太差", "差劲", "失望", "垃圾", "麻烦", "愤怒", "退款", "骗",
    "烦", "慢", "没用",
];
const NEGATION_ZH: &[char] = &['不', '没', '别', '未'];

/// Whether `c` is a CJK ideograph (matched by substring, not by word).
#[must_use]
pub fn is_cjk(c: char) -> bool {
    matches!(c as u32, 0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF | 0x20000..=0x2A6DF)
}

/// Lower-case words of `text` (letters, digits and apostrophes).
#[must_use]
pub fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !(c.is_alphanumeric() || c == '\'') || is_cjk(c))
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// Whether `text` contains `term`: whole words for Latin terms (a phrase is
/// a run of consecutive words), substring for terms with CJK characters.
#[must_use]
pub fn contains_term(text: &str, term: &str) -> bool {
    if term.chars().any(is_cjk) {
        return text.contains(term);
    }
    let hay = words(text);
    let needle = words(term);
    !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle.as_slice())
}

fn english_score(text: &str) -> (u32, u32) {
    let ws = words(text);
    let (mut pos, mut neg) = (0, 0);
    for (i, w) in ws.iter().enumerate() {
        let polarity = if POSITIVE_EN.contains(&w.as_str()) {
            1
        } else if NEGATIVE_EN.contains(&w.as_str()) {
            -1
        } else {
            continue;
        };
        let negated = ws[i.saturating_sub(2)..i]
            .iter()
            .any(|p| NEGATION_EN.contains(&p.as_str()));
        if (polarity > 0) != negated {
            pos += 1;
        } else {
            neg += 1;
        }
    }
    (pos, neg)
}

fn chinese_score(text: &str) -> (u32, u32) {
    let chars: Vec<char> = text.chars().collect();
    let mut terms: Vec<(Vec<char>, bool)> = POSITIVE_ZH
        .iter()
        .map(|t| (t.chars().collect(), true))
        .chain(NEGATIVE_ZH.iter().map(|t| (t.chars().collect(), false)))
        .collect();
    terms.sort_by_key(|(t, _)| std::cmp::Reverse(t.len()));
    let (mut pos, mut neg) = (0, 0);
    let mut i = 0;
    while i < chars.len() {
        let Some((term, positive)) = terms.iter().find(|(t, _)| chars[i..].starts_with(t)) else {
            i += 1;
            continue;
        };
        let negated = chars[i.saturating_sub(2)..i]
            .iter()
            .any(|c| NEGATION_ZH.contains(c));
        if *positive != negated {
            pos += 1;
        } else {
            neg += 1;
        }
        i += term.len();
    }
    (pos, neg)
}

/// The sentiment of `text` in −1..=1, or `None` when it has no sentiment
/// term. Mixed English and Chinese is scored as one.
#[must_use]
pub fn sentiment(text: &str) -> Option<f64> {
    let (p1, n1) = english_score(text);
    let (p2, n2) = chinese_score(text);
    let (pos, neg) = (f64::from(p1 + p2), f64::from(n1 + n2));
    (pos + neg > 0.0).then(|| (pos - neg) / (pos + neg))
}

/// An estimate of how long `text` took to say: 400 ms per Latin word (150
/// words a minute) and 250 ms per CJK character (4 a second), at least
/// 300 ms. Used until transcript segments carry their own duration.
#[must_use]
pub fn spoken_ms(text: &str) -> u64 {
    let cjk = text.chars().filter(|c| is_cjk(*c)).count() as u64;
    let latin = words(text).len() as u64;
    (latin * 400 + cjk * 250).max(300)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn english_words_phrases_and_chinese_substrings() {
        assert!(contains_term(
            "Thank you for calling Example Bank",
            "thank you"
        ));
        assert!(
            contains_term("Thank-you-note", "you note"),
            "punctuation separates words"
        );
        assert!(
            !contains_term("note you", "you note"),
            "a phrase keeps its order"
        );
        assert!(contains_term("that's a DAMN shame", "damn"));
        assert!(!contains_term("the damnation", "damn"), "whole words only");
        assert!(contains_term("您好，欢迎致电示例银行", "欢迎致电"));
    }

    #[test]
    #[allow(clippy::float_cmp)]
    fn sentiment_with_negation_in_both_languages() {
        assert_eq!(sentiment("thanks, that was really helpful"), Some(1.0));
        assert_eq!(
            sentiment("this is terrible, I am so frustrated"),
            Some(-1.0)
        );
        assert_eq!(sentiment("not good at all"), Some(-1.0));
        assert_eq!(sentiment("the weather is blue"), None);
        assert_eq!(sentiment("非常满意，谢谢"), Some(1.0));
        assert_eq!(sentiment("我很不满，要投诉"), Some(-1.0));
        assert_eq!(sentiment("不太满意"), Some(-1.0), "negated 满意");
        assert_eq!(
            sentiment("服务不错"),
            Some(1.0),
            "不错 is a term of its own"
        );
        assert_eq!(sentiment("good but 太差"), Some(0.0));
    }

    #[test]
    fn speaking_time_estimate() {
        assert_eq!(spoken_ms("one two three"), 1200);
        assert_eq!(spoken_ms("你好"), 500);
        assert_eq!(spoken_ms(""), 300);
    }
}
