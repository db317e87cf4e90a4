//! Dates callers say: relative days, weekdays and calendar dates, in English and Chinese.
//!
//! Dates stay unresolved ("tomorrow" is `+1 day`): resolving needs today's date
//! in the caller's time zone, which the flow has and the classifier does not.

use serde::Serialize;

/// A date mentioned in an utterance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum DateValue {
    /// Days from today: 0 today, 1 tomorrow, -1 yesterday.
    Relative {
        /// Offset in days.
        days: i32,
    },
    /// A day of the week, 1 = Monday … 7 = Sunday.
    Weekday {
        /// ISO weekday number.
        weekday: u8,
    },
    /// A calendar date; missing parts are unknown.
    Calendar {
        /// Year, if said.
        year: Option<i32>,
        /// Month 1..=12, if said.
        month: Option<u8>,
        /// Day of month 1..=31.
        day: u8,
    },
}

impl DateValue {
    /// A calendar date if the parts are in range.
    pub(crate) fn calendar(year: Option<f64>, month: Option<f64>, day: f64) -> Option<Self> {
        let ok_day = (1.0..=31.0).contains(&day) && day.fract() == 0.0;
        let ok_month = month.is_none_or(|m| (1.0..=12.0).contains(&m) && m.fract() == 0.0);
        let ok_year = year.is_none_or(|y| (1900.0..=2200.0).contains(&y));
        (ok_day && ok_month && ok_year).then(|| DateValue::Calendar {
            year: year.map(|y| y as i32),
            month: month.map(|m| m as u8),
            day: day as u8,
        })
    }
}

const EN_WEEKDAYS: &[&str] = &[
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
];

const EN_MONTHS: &[&str] = &[
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
];

/// An English relative day or weekday word.
pub(crate) fn en_day_word(word: &str) -> Option<DateValue> {
    match word {
        "today" | "tonight" => Some(DateValue::Relative { days: 0 }),
        "tomorrow" => Some(DateValue::Relative { days: 1 }),
        "yesterday" => Some(DateValue::Relative { days: -1 }),
        _ => EN_WEEKDAYS
            .iter()
            .position(|d| *d == word)
            .map(|i| DateValue::Weekday {
                weekday: i as u8 + 1,
            }),
    }
}

/// Month number of an English month name or its three-letter abbreviation
/// ("may" only in full, as it is also a verb; "march" likewise needs a day).
pub(crate) fn en_month(word: &str) -> Option<u8> {
    EN_MONTHS
        .iter()
        .position(|m| *m == word || (word.len() == 3 && word != "may" && m.starts_with(word)))
        .map(|i| i as u8 + 1)
}

/// Day number of "5", "5th", "21st", "2nd", "3rd".
pub(crate) fn en_day_number(word: &str) -> Option<f64> {
    let digits = word
        .strip_suffix("st")
        .or_else(|| word.strip_suffix("nd"))
        .or_else(|| word.strip_suffix("rd"))
        .or_else(|| word.strip_suffix("th"))
        .unwrap_or(word);
    if digits.is_empty() || digits.len() > 2 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits
        .parse::<f64>()
        .ok()
        .filter(|d| (1.0..=31.0).contains(d))
}

/// Chinese relative days, longest first.
pub(crate) const ZH_RELATIVE: &[(&str, i32)] = &[
    ("大后天", 3),
    ("大前天", -3),
    ("后天", 2),
    ("明天", 1),
    ("明日", 1),
    ("今天", 0),
    ("今日", 0),
    ("昨天", -1),
    ("前天", -2),
];

/// Weekday number of the character after 周/星期/礼拜.
pub(crate) fn zh_weekday(c: char) -> Option<u8> {
    match c {
        '一' => Some(1),
        '二' => Some(2),
        '三' => Some(3),
        '四' => Some(4),
        '五' => Some(5),
        '六' => Some(6),
        '日' | '天' => Some(7),
        _ => None,
    }
}
