//! Slot extraction: numbers, amounts, dates, phone numbers, card numbers and
//! custom entity values, in English and Chinese.
//!
//! ```
//! use callcore_ivr::slots::{SlotExtractor, SlotValue};
//! let slots = SlotExtractor::new(&[]).extract("pay $25.50 tomorrow from card 4111 1111 1111 1111");
//! let names: Vec<&str> = slots.iter().map(|s| s.entity.as_str()).collect();
//! assert_eq!(names, ["amount", "date", "card_number"]);
//! assert_eq!(slots[0].value, SlotValue::Amount { amount: 25.5, currency: Some("USD".into()) });
//! ```

mod chinese;
mod dates;
mod numbers;

pub use dates::DateValue;
use serde::Serialize;

use crate::nlu::EntitySpec;
use crate::stem::stem;
use crate::tokenize::{Token, TokenKind, Tokenizer, ZH_NUMERALS, fold_char, is_number_word};

/// The value of a slot.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
#[non_exhaustive]
pub enum SlotValue {
    /// A plain number.
    Number(f64),
    /// Money, with an ISO currency code when one was said.
    Amount {
        /// The amount.
        amount: f64,
        /// ISO 4217 code ("USD", "CNY") if a symbol or word said which.
        currency: Option<String>,
    },
    /// A date.
    Date(DateValue),
    /// Digits (phone and card numbers) or a custom entity's canonical value.
    Text(String),
}

/// A slot found in an utterance.
#[derive(Clone, PartialEq, Serialize)]
pub struct Slot {
    /// `number`, `amount`, `date`, `phone`, `card_number` or a custom entity name.
    pub entity: String,
    /// The normalised value.
    pub value: SlotValue,
    /// The words as written.
    pub text: String,
    /// Byte offset of the slot in the utterance.
    pub start: usize,
    /// Byte offset just past the slot.
    pub end: usize,
}

impl std::fmt::Debug for Slot {
    /// Phone and card numbers are personal data: `Debug` shows only their last digits.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let redacted = matches!(self.entity.as_str(), "phone" | "card_number");
        let mut d = f.debug_struct("Slot");
        d.field("entity", &self.entity);
        if redacted {
            let digits = match &self.value {
                SlotValue::Text(t) => t.as_str(),
                _ => "",
            };
            let tail: String = digits
                .chars()
                .rev()
                .take(4)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect();
            d.field("value", &format!("…{tail}"));
        } else {
            d.field("value", &self.value).field("text", &self.text);
        }
        d.field("start", &self.start)
            .field("end", &self.end)
            .finish()
    }
}

#[derive(Debug, Clone)]
struct EntityPattern {
    entity: String,
    value: String,
    /// All-Chinese phrasing, matched as a substring.
    cjk: Option<String>,
    /// Otherwise the normalised token texts.
    words: Vec<String>,
}

/// Finds slots in utterances; built from an intents file's custom entities.
#[derive(Debug, Clone)]
pub struct SlotExtractor {
    tokenizer: Tokenizer,
    patterns: Vec<EntityPattern>,
}

#[derive(Default)]
struct Found {
    slots: Vec<Slot>,
}

impl Found {
    fn free(&self, start: usize, end: usize) -> bool {
        self.slots.iter().all(|s| end <= s.start || start >= s.end)
    }

    fn push(&mut self, text: &str, entity: &str, value: SlotValue, start: usize, end: usize) {
        if start < end && end <= text.len() && self.free(start, end) {
            let written = text.get(start..end).unwrap_or_default().to_string();
            self.slots.push(Slot {
                entity: entity.into(),
                value,
                text: written,
                start,
                end,
            });
        }
    }
}

const CURRENCY_SYMBOLS: &[(&str, &str)] = &[
    ("US$", "USD"),
    ("$", "USD"),
    ("¥", "CNY"),
    ("￥", "CNY"),
    ("€", "EUR"),
    ("£", "GBP"),
];
const CURRENCY_WORDS: &[(&str, &str)] = &[
    ("dollars", "USD"),
    ("dollar", "USD"),
    ("bucks", "USD"),
    ("usd", "USD"),
    ("euros", "EUR"),
    ("euro", "EUR"),
    ("eur", "EUR"),
    ("pounds", "GBP"),
    ("gbp", "GBP"),
    ("yuan", "CNY"),
    ("rmb", "CNY"),
    ("cny", "CNY"),
];
const ZH_CURRENCY: &[(&str, &str)] = &[
    ("美元", "USD"),
    ("美金", "USD"),
    ("欧元", "EUR"),
    ("块钱", "CNY"),
    ("块", "CNY"),
    ("元", "CNY"),
    ("圆", "CNY"),
];

fn luhn(digits: &str) -> bool {
    let mut sum = 0;
    for (i, c) in digits.bytes().rev().enumerate() {
        let mut d = u32::from(c - b'0');
        if i % 2 == 1 {
            d *= 2;
            if d > 9 {
                d -= 9;
            }
        }
        sum += d;
    }
    sum % 10 == 0
}

fn is_numeral(c: char) -> bool {
    ZH_NUMERALS.contains(c) || fold_char(c).is_ascii_digit()
}

impl SlotExtractor {
    /// An extractor for the built-in slots plus `entities`.
    pub fn new(entities: &[EntitySpec]) -> Self {
        let tokenizer = Tokenizer::new();
        let mut patterns = Vec::new();
        for entity in entities {
            for value in &entity.values {
                for phrasing in value.phrasings() {
                    let tokens = tokenizer.tokenize(phrasing);
                    let cjk = (tokens.len() == 1 && tokens[0].kind == TokenKind::Cjk)
                        .then(|| tokens[0].text.clone());
                    let words = tokens.iter().map(normalise).collect::<Vec<_>>();
                    if words.is_empty() {
                        continue;
                    }
                    patterns.push(EntityPattern {
                        entity: entity.name.clone(),
                        value: value.value().to_string(),
                        cjk,
                        words,
                    });
                }
            }
        }
        // Longest phrasings first, so "premium plus" wins over "premium".
        patterns.sort_by_key(|p| {
            std::cmp::Reverse(
                p.cjk
                    .as_ref()
                    .map_or(p.words.len() * 4, |c| c.chars().count()),
            )
        });
        SlotExtractor {
            tokenizer,
            patterns,
        }
    }

    /// All slots in `text`, in order of appearance.
    pub fn extract(&self, text: &str) -> Vec<Slot> {
        let mut found = Found::default();
        let tokens = self.tokenizer.tokenize(text);
        self.custom(text, &tokens, &mut found);
        chinese::extract(text, &mut found);
        english_dates(text, &tokens, &mut found);
        digit_groups(text, &tokens, &mut found);
        english_number_words(text, &tokens, &mut found);
        found.slots.sort_by_key(|s| s.start);
        found.slots
    }

    fn custom(&self, text: &str, tokens: &[Token], found: &mut Found) {
        let normalised: Vec<String> = tokens.iter().map(normalise).collect();
        for p in &self.patterns {
            if let Some(cjk) = &p.cjk {
                for t in tokens.iter().filter(|t| t.kind == TokenKind::Cjk) {
                    for (off, _) in t.text.match_indices(cjk.as_str()) {
                        let start = t.start + off;
                        let value = SlotValue::Text(p.value.clone());
                        found.push(text, &p.entity, value, start, start + cjk.len());
                    }
                }
                continue;
            }
            let n = p.words.len();
            for i in 0..tokens.len().saturating_sub(n - 1) {
                if normalised[i..i + n] == p.words[..] {
                    let value = SlotValue::Text(p.value.clone());
                    found.push(
                        text,
                        &p.entity,
                        value,
                        tokens[i].start,
                        tokens[i + n - 1].end,
                    );
                }
            }
        }
    }
}

fn normalise(t: &Token) -> String {
    match t.kind {
        TokenKind::Word => stem(&t.text),
        _ => t.text.clone(),
    }
}

fn english_dates(text: &str, tokens: &[Token], found: &mut Found) {
    let word = |k: usize| tokens.get(k).map_or("", |t| t.text.as_str());
    let mut i = 0;
    while i < tokens.len() {
        let t = &tokens[i];
        if word(i) == "day" && word(i + 1) == "after" && word(i + 2) == "tomorrow" {
            let value = SlotValue::Date(DateValue::Relative { days: 2 });
            found.push(text, "date", value, t.start, tokens[i + 2].end);
            i += 3;
            continue;
        }
        if let Some(date) = dates::en_day_word(word(i)) {
            found.push(text, "date", SlotValue::Date(date), t.start, t.end);
            i += 1;
            continue;
        }
        let year_at = |k: usize| {
            tokens
                .get(k)
                .filter(|t| t.kind == TokenKind::Number && t.text.len() == 4)
                .and_then(|t| t.text.parse::<f64>().ok())
        };
        // "march 5th [2026]"
        if let Some(month) = dates::en_month(word(i))
            && let Some(day) = dates::en_day_number(word(i + 1))
        {
            let year = year_at(i + 2);
            if let Some(date) = DateValue::calendar(year, Some(f64::from(month)), day) {
                let last = if year.is_some() { i + 2 } else { i + 1 };
                found.push(
                    text,
                    "date",
                    SlotValue::Date(date),
                    t.start,
                    tokens[last].end,
                );
                i = last + 1;
                continue;
            }
        }
        // "5th of march", "5 march"
        if let Some(day) = dates::en_day_number(word(i)) {
            let m_at = if word(i + 1) == "of" { i + 2 } else { i + 1 };
            if let Some(month) = dates::en_month(word(m_at))
                && let Some(date) = DateValue::calendar(None, Some(f64::from(month)), day)
            {
                found.push(
                    text,
                    "date",
                    SlotValue::Date(date),
                    t.start,
                    tokens[m_at].end,
                );
                i = m_at + 1;
                continue;
            }
        }
        i += 1;
    }
}

fn currency_before(text: &str, start: usize) -> Option<(usize, &'static str)> {
    let before = text[..start].trim_end();
    CURRENCY_SYMBOLS
        .iter()
        .find(|(sym, _)| before.ends_with(sym))
        .map(|(sym, code)| (before.len() - sym.len(), *code))
}

fn currency_after(tokens: &[Token], k: usize) -> Option<(usize, &'static str)> {
    let t = tokens.get(k).filter(|t| t.kind == TokenKind::Word)?;
    CURRENCY_WORDS
        .iter()
        .find(|(w, _)| *w == t.text)
        .map(|(_, code)| (t.end, *code))
}

fn number_or_amount(
    text: &str,
    tokens: &[Token],
    first: usize,
    last: usize,
    value: f64,
    found: &mut Found,
) {
    let mut start = tokens[first].start;
    let mut end = tokens[last].end;
    let mut currency = None;
    if let Some((s, code)) = currency_before(text, start) {
        start = s;
        currency = Some(code);
    } else if let Some((e, code)) = currency_after(tokens, last + 1) {
        end = e;
        currency = Some(code);
    }
    match currency {
        Some(code) => {
            let v = SlotValue::Amount {
                amount: value,
                currency: Some(code.into()),
            };
            found.push(text, "amount", v, start, end);
        }
        None => found.push(text, "number", SlotValue::Number(value), start, end),
    }
}

/// Digit runs: dates (2026-03-05, 3/5), phone numbers, card numbers, numbers and amounts.
fn digit_groups(text: &str, tokens: &[Token], found: &mut Found) {
    let mut i = 0;
    while i < tokens.len() {
        let t = &tokens[i];
        if t.kind != TokenKind::Number || !found.free(t.start, t.end) {
            i += 1;
            continue;
        }
        let mut j = i;
        let mut gaps: Vec<&str> = Vec::new();
        while let Some(n) = tokens.get(j + 1) {
            let gap = &text[tokens[j].end..n.start];
            if n.kind != TokenKind::Number
                || gap.len() > 3
                || !gap.chars().all(|c| " -.()/".contains(c))
                || !found.free(n.start, n.end)
            {
                break;
            }
            gaps.push(gap);
            j += 1;
        }
        let group = &tokens[i..=j];
        if let Some(date) = numeric_date(group, &gaps) {
            found.push(text, "date", SlotValue::Date(date), t.start, tokens[j].end);
            i = j + 1;
            continue;
        }
        let plain = group
            .iter()
            .all(|t| t.text.bytes().all(|b| b.is_ascii_digit()));
        let digits: String = group.iter().map(|t| t.text.as_str()).collect();
        if plain && digits.len() >= 7 {
            let n = digits.len();
            let entity = if (16..=19).contains(&n) || ((13..=15).contains(&n) && luhn(&digits)) {
                Some("card_number")
            } else if n <= 15 {
                Some("phone")
            } else {
                None
            };
            if let Some(entity) = entity {
                let mut start = t.start;
                if text[..start].ends_with(['+', '(']) {
                    start -= 1;
                }
                found.push(text, entity, SlotValue::Text(digits), start, tokens[j].end);
                i = j + 1;
                continue;
            }
        }
        if let Some(value) = numbers::parse_digits(&t.text) {
            number_or_amount(text, tokens, i, i, value, found);
        }
        i += 1;
    }
}

fn numeric_date(group: &[Token], gaps: &[&str]) -> Option<DateValue> {
    let v: Vec<f64> = group
        .iter()
        .map(|t| t.text.parse::<f64>().ok())
        .collect::<Option<_>>()?;
    let same_sep = |seps: &[&str]| gaps.iter().all(|g| seps.contains(g));
    match (group.len(), gaps) {
        (3, _) if group[0].text.len() == 4 && same_sep(&["-", "/", "."]) => {
            DateValue::calendar(Some(v[0]), Some(v[1]), v[2])
        }
        (3, _) if group[2].text.len() == 4 && same_sep(&["/", "."]) => {
            let (m, d) = if v[0] > 12.0 {
                (v[1], v[0])
            } else {
                (v[0], v[1])
            };
            DateValue::calendar(Some(v[2]), Some(m), d)
        }
        (2, ["/"]) if group.iter().all(|t| t.text.len() <= 2) => {
            let (m, d) = if v[0] > 12.0 {
                (v[1], v[0])
            } else {
                (v[0], v[1])
            };
            DateValue::calendar(None, Some(m), d)
        }
        _ => None,
    }
}

fn english_number_words(text: &str, tokens: &[Token], found: &mut Found) {
    let is_part = |k: usize| {
        tokens
            .get(k)
            .is_some_and(|t| t.kind == TokenKind::Word && is_number_word(&t.text))
    };
    let mut i = 0;
    while i < tokens.len() {
        let starts_with_a = tokens[i].text == "a"
            && tokens
                .get(i + 1)
                .is_some_and(|t| matches!(t.text.as_str(), "hundred" | "thousand"));
        if !is_part(i) && !starts_with_a {
            i += 1;
            continue;
        }
        let mut j = i;
        while is_part(j + 1)
            || (tokens.get(j + 1).is_some_and(|t| t.text == "and") && is_part(j + 2))
        {
            j += 1;
        }
        let words: Vec<&str> = tokens[i..=j].iter().map(|t| t.text.as_str()).collect();
        let lone_one = words == ["one"] && currency_after(tokens, j + 1).is_none();
        if !lone_one
            && found.free(tokens[i].start, tokens[j].end)
            && let Some(value) = numbers::parse_en_words(&words)
        {
            number_or_amount(text, tokens, i, j, value, found);
        }
        i = j + 1;
    }
}

#[cfg(test)]
mod tests;
