//! A tokenizer for English and Chinese customer utterances, shared by the intent
//! classifier, the knowledge-base bot and slot extraction.
//!
//! The text is first split into [`Token`]s (Latin words, numbers, runs of Chinese
//! characters) with byte offsets into the original text. [`Tokenizer::terms`] then
//! turns tokens into index [`Term`]s:
//! - English words are lowercased, contractions expanded ("can't" → can not),
//!   stop and filler words dropped ("um", "please", "the") and stemmed;
//! - numbers, digits or words ("twenty five", "一百"), become the single term `#num`;
//! - Chinese, written without spaces, becomes character unigrams (minus function
//!   characters such as 的, 了, 吗) and character bigrams, which approximate words
//!   without needing a dictionary.

use crate::stem::stem;

/// Term emitted for every number, so "pay 50" and "pay 120" look alike.
pub const NUMBER_TERM: &str = "#num";

/// What a [`Token`] is made of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TokenKind {
    /// Latin letters, possibly with digits ("wifi", "5g").
    Word,
    /// Digits, possibly with decimal points or thousands separators ("1,200.50").
    Number,
    /// A run of Chinese characters (split further into terms).
    Cjk,
}

/// A piece of the input text with its byte span.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    /// Normalised text: lowercase, full-width forms folded to ASCII.
    pub text: String,
    /// What the token is made of.
    pub kind: TokenKind,
    /// Byte offset of the first character in the original text.
    pub start: usize,
    /// Byte offset just past the last character in the original text.
    pub end: usize,
}

/// The kind of an index [`Term`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TermKind {
    /// A stemmed English content word.
    Word,
    /// Any number (the term text is [`NUMBER_TERM`]).
    Number,
    /// One Chinese character.
    CjkUnigram,
    /// Two adjacent Chinese characters.
    CjkBigram,
}

/// One index term produced by [`Tokenizer::terms`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Term {
    /// The term itself: a stem, [`NUMBER_TERM`], one or two Chinese characters.
    pub text: String,
    /// The lowercase word before stemming (same as `text` for Chinese and numbers).
    pub surface: String,
    /// What kind of term it is.
    pub kind: TermKind,
}

#[rustfmt::skip]
const EN_STOP_WORDS: &[&str] = &[
    "a", "an", "the", "i", "me", "my", "mine", "myself", "we", "us", "our", "you", "your",
    "yours", "he", "she", "him", "her", "his", "it", "its", "they", "them", "their", "is", "am",
    "are", "was", "were", "be", "been", "being", "do", "does", "did", "doing", "to", "of", "in",
    "on", "at", "for", "from", "with", "by", "and", "or", "but", "so", "if", "then", "that",
    "this", "these", "those", "there", "here", "some", "can", "could", "would", "should",
    "will", "shall", "may", "might", "must", "have", "has", "had", "please", "pls", "plz", "um",
    "umm", "uh", "uhh", "er", "erm", "hmm", "ah", "oh", "hi", "hello", "hey", "okay", "ok",
    "well", "just", "really", "actually", "basically", "like", "yeah", "thanks", "thank", "sir",
    "madam", "kindly", "want", "wanna", "gonna", "gotta", "need", "let", "also", "very",
    "quite", "maybe", "perhaps", "right", "now", "today", "im", "ive", "dont", "cant",
    "as", "into", "up", "again", "too", "any", "anyone", "someone", "somebody", "something",
    "guess", "think", "know", "see", "mean", "sort", "kind", "bit", "lot", "way", "yes", "good",
    "morning", "afternoon", "evening", "there's", "it's", "that's", "what's", "hiya", "how",
    "what", "when", "where", "who", "whom", "which", "why", "whose", "tell", "show", "give",
    "help", "ask", "wonder", "wondering", "wondered", "about", "go", "going", "try", "trying",
    "able", "tonight",
];

#[rustfmt::skip]
const ZH_STOP_CHARS: &[char] = &[
    '的', '了', '吗', '呢', '吧', '啊', '呀', '嘛', '哦', '嗯', '哎', '喂', '我', '你', '您', '他', '她', '它',
    '们', '是', '在', '这', '那', '个', '一', '下', '请', '想', '要', '能', '可', '以', '就', '也', '都', '和',
    '与', '把', '被', '给', '让', '得', '地', '着', '过', '还', '很', '太', '有', '么', '些', '点', '儿', '麻',
    '烦', '帮', '好', '谢', '那', '呃', '额', '嘿', '哈', '什', '怎', '哪', '几', '谁', '多', '吗', '啥',
];

#[rustfmt::skip]
const NUMBER_WORDS: &[&str] = &[
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
    "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen",
    "nineteen", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety",
    "hundred", "thousand", "million", "billion",
];

/// Chinese numeral characters; a run of two or more is read as a number.
pub(crate) const ZH_NUMERALS: &str = "零〇一二三四五六七八九十百千万亿两";

/// True for CJK unified ideographs (the characters Chinese is written in).
pub fn is_cjk(c: char) -> bool {
    matches!(c as u32,
        0x4E00..=0x9FFF | 0x3400..=0x4DBF | 0xF900..=0xFAFF | 0x20000..=0x2A6DF)
}

/// Folds full-width ASCII (common in Chinese input) to ASCII and lowercases.
pub fn fold_char(c: char) -> char {
    let c = match c as u32 {
        0xFF01..=0xFF5E => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
        0x3000 => ' ',
        0x2018 | 0x2019 | 0x02BC => '\'',
        _ => c,
    };
    c.to_lowercase().next().unwrap_or(c)
}

/// True if `word` is an English number word ("twelve", "hundred").
pub fn is_number_word(word: &str) -> bool {
    NUMBER_WORDS.contains(&word)
}

/// Splits and normalises utterances; see the [module docs](self).
#[derive(Debug, Clone, Default)]
pub struct Tokenizer {
    _private: (),
}

impl Tokenizer {
    /// A tokenizer with the built-in English stop words and Chinese function characters.
    pub fn new() -> Self {
        Self::default()
    }

    /// True if `word` (lowercase) is an English stop or filler word.
    pub fn is_stop_word(&self, word: &str) -> bool {
        static SET: std::sync::OnceLock<std::collections::HashSet<&'static str>> =
            std::sync::OnceLock::new();
        SET.get_or_init(|| EN_STOP_WORDS.iter().copied().collect())
            .contains(word)
    }

    /// True if `c` is a Chinese function character that carries no topic.
    pub fn is_stop_char(&self, c: char) -> bool {
        ZH_STOP_CHARS.contains(&c)
    }

    /// Splits `text` into words, numbers and runs of Chinese characters.
    pub fn tokenize(&self, text: &str) -> Vec<Token> {
        let mut tokens = Vec::new();
        let chars: Vec<(usize, char)> = text.char_indices().collect();
        let end_of = |i: usize| chars.get(i).map_or(text.len(), |(b, _)| *b);
        let mut i = 0;
        while i < chars.len() {
            let (start, raw) = chars[i];
            let c = fold_char(raw);
            if is_cjk(c) {
                let mut j = i;
                let mut s = String::new();
                while j < chars.len() && is_cjk(fold_char(chars[j].1)) {
                    s.push(fold_char(chars[j].1));
                    j += 1;
                }
                tokens.push(Token {
                    text: s,
                    kind: TokenKind::Cjk,
                    start,
                    end: end_of(j),
                });
                i = j;
            } else if c.is_alphanumeric() {
                let mut j = i;
                let mut s = String::new();
                while j < chars.len() {
                    let cj = fold_char(chars[j].1);
                    let next = chars.get(j + 1).map(|(_, n)| fold_char(*n));
                    let prev = s.chars().last();
                    let joins = if cj.is_alphanumeric() && !is_cjk(cj) {
                        true
                    } else if cj == '.' || cj == ',' {
                        prev.is_some_and(|p| p.is_ascii_digit())
                            && next.is_some_and(|n| n.is_ascii_digit())
                    } else if cj == '\'' {
                        prev.is_some_and(char::is_alphabetic)
                            && next.is_some_and(char::is_alphabetic)
                    } else {
                        false
                    };
                    if !joins {
                        break;
                    }
                    s.push(cj);
                    j += 1;
                }
                let kind = if s
                    .chars()
                    .all(|c| c.is_ascii_digit() || c == '.' || c == ',')
                {
                    TokenKind::Number
                } else {
                    TokenKind::Word
                };
                tokens.push(Token {
                    text: s,
                    kind,
                    start,
                    end: end_of(j),
                });
                i = j;
            } else {
                i += 1;
            }
        }
        tokens
    }

    /// The index terms of `text` (see the [module docs](self)).
    pub fn terms(&self, text: &str) -> Vec<Term> {
        let mut terms = Vec::new();
        for token in self.tokenize(text) {
            match token.kind {
                TokenKind::Number => terms.push(number_term()),
                TokenKind::Word => self.word_terms(&token.text, &mut terms),
                TokenKind::Cjk => self.cjk_terms(&token.text, &mut terms),
            }
        }
        terms
    }

    fn word_terms(&self, word: &str, out: &mut Vec<Term>) {
        let (base, extra) = expand_contraction(word);
        for w in std::iter::once(base.as_str()).chain(extra) {
            if w.is_empty() || self.is_stop_word(w) {
                continue;
            }
            if is_number_word(w) {
                // "twenty five" is one number.
                if out.last().is_none_or(|t: &Term| t.kind != TermKind::Number) {
                    out.push(number_term());
                }
                continue;
            }
            out.push(Term {
                text: stem(w),
                surface: w.to_string(),
                kind: TermKind::Word,
            });
        }
    }

    fn cjk_terms(&self, run: &str, out: &mut Vec<Term>) {
        // 星期六, 礼拜六 and 周六 all say Saturday.
        let run = if run.contains("星期") || run.contains("礼拜") {
            std::borrow::Cow::Owned(run.replace("星期", "周").replace("礼拜", "周"))
        } else {
            std::borrow::Cow::Borrowed(run)
        };
        let chars: Vec<char> = run.chars().collect();
        let mut i = 0;
        let mut segment: Vec<char> = Vec::new();
        while i <= chars.len() {
            let numeral_run = chars[i.min(chars.len())..]
                .iter()
                .take_while(|c| ZH_NUMERALS.contains(**c))
                .count();
            if i == chars.len() || numeral_run >= 2 {
                self.cjk_segment(&segment, out);
                segment.clear();
                if i == chars.len() {
                    break;
                }
                out.push(number_term());
                i += numeral_run;
            } else {
                segment.push(chars[i]);
                i += 1;
            }
        }
    }

    fn cjk_segment(&self, chars: &[char], out: &mut Vec<Term>) {
        for (k, &c) in chars.iter().enumerate() {
            if !self.is_stop_char(c) {
                let s = c.to_string();
                out.push(Term {
                    text: s.clone(),
                    surface: s,
                    kind: TermKind::CjkUnigram,
                });
            }
            if let Some(&n) = chars.get(k + 1)
                && !(self.is_stop_char(c) && self.is_stop_char(n))
            {
                let s: String = [c, n].iter().collect();
                out.push(Term {
                    text: s.clone(),
                    surface: s,
                    kind: TermKind::CjkBigram,
                });
            }
        }
    }
}

fn number_term() -> Term {
    Term {
        text: NUMBER_TERM.into(),
        surface: NUMBER_TERM.into(),
        kind: TermKind::Number,
    }
}

/// Splits English contractions, also typed without the apostrophe:
/// "can't"/"cant" → ("can", ["not"]), "it's" → ("it", []), "whats" → ("what", []).
fn expand_contraction(word: &str) -> (String, Option<&'static str>) {
    match word {
        "can't" | "cannot" | "cant" => return ("can".into(), Some("not")),
        "won't" | "wont" => return ("will".into(), Some("not")),
        "ain't" | "aint" => return ("is".into(), Some("not")),
        "dont" | "doesnt" | "didnt" | "isnt" | "wasnt" | "arent" | "werent" | "havent"
        | "hasnt" | "couldnt" | "wouldnt" | "shouldnt" => {
            return (word[..word.len() - 2].to_string(), Some("not"));
        }
        "whats" | "thats" | "theres" | "hows" | "wheres" | "whos" | "heres" | "lets" => {
            return (word[..word.len() - 1].to_string(), None);
        }
        "im" | "ive" | "youre" => return ("i".into(), None),
        _ => {}
    }
    if let Some(base) = word.strip_suffix("n't") {
        return (base.to_string(), Some("not"));
    }
    if let Some((base, _suffix)) = word.split_once('\'') {
        return (base.to_string(), None);
    }
    (word.to_string(), None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(t: &Tokenizer, s: &str) -> Vec<String> {
        t.terms(s).into_iter().map(|t| t.text).collect()
    }

    #[test]
    fn english_is_lowercased_stemmed_and_filtered() {
        let t = Tokenizer::new();
        assert_eq!(texts(&t, "Um, I LOST my Cards!"), ["los", "card"]);
        assert_eq!(texts(&t, "I can't log in"), ["not", "log"]);
        assert_eq!(
            texts(&t, "i cant log in, whats wrong"),
            ["not", "log", "wrong"]
        );
        assert_eq!(texts(&t, "it doesnt work"), ["not", "work"]);
        assert_eq!(texts(&t, "Please pay $25.50 now"), ["pay", "#num"]);
        assert_eq!(texts(&t, "twenty five dollars"), ["#num", "dollar"]);
    }

    #[test]
    fn chinese_without_spaces_gives_unigrams_and_bigrams() {
        let t = Tokenizer::new();
        assert_eq!(
            texts(&t, "我的卡丢了"),
            ["的卡", "卡", "卡丢", "丢", "丢了"]
        );
        // Numbers inside Chinese become #num.
        assert_eq!(texts(&t, "交一百块"), ["交", "#num", "块"]);
    }

    #[test]
    fn mixed_and_full_width_text() {
        let t = Tokenizer::new();
        let tokens = t.tokenize("我的WiFi连不上，５Ｇ也没有");
        let kinds: Vec<_> = tokens.iter().map(|t| (t.text.as_str(), t.kind)).collect();
        assert_eq!(
            kinds,
            [
                ("我的", TokenKind::Cjk),
                ("wifi", TokenKind::Word),
                ("连不上", TokenKind::Cjk),
                ("5g", TokenKind::Word),
                ("也没有", TokenKind::Cjk),
            ]
        );
        let text = "我的WiFi连不上";
        assert_eq!(&text[tokens[1].start..tokens[1].end], "WiFi");
    }

    #[test]
    fn numbers_keep_separators() {
        let t = Tokenizer::new();
        let tokens = t.tokenize("owe 1,200.50 today.");
        assert_eq!(tokens[1].text, "1,200.50");
        assert_eq!(tokens[1].kind, TokenKind::Number);
        assert_eq!(tokens[2].text, "today");
    }

    #[test]
    fn empty_and_punctuation_only_input() {
        let t = Tokenizer::new();
        assert!(t.terms("").is_empty());
        assert!(t.terms("?!... ，。").is_empty());
    }
}
