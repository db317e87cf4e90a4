//! Reading numbers written as digits, English words or Chinese numerals.

/// Parses digits with optional thousands commas and a decimal point: "1,200.50".
pub(crate) fn parse_digits(s: &str) -> Option<f64> {
    let cleaned: String = s.chars().filter(|c| *c != ',').collect();
    cleaned.parse::<f64>().ok().filter(|v| v.is_finite())
}

fn en_unit(word: &str) -> Option<u64> {
    const UNITS: &[&str] = &[
        "zero",
        "one",
        "two",
        "three",
        "four",
        "five",
        "six",
        "seven",
        "eight",
        "nine",
        "ten",
        "eleven",
        "twelve",
        "thirteen",
        "fourteen",
        "fifteen",
        "sixteen",
        "seventeen",
        "eighteen",
        "nineteen",
    ];
    const TENS: &[&str] = &[
        "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety",
    ];
    if let Some(i) = UNITS.iter().position(|u| *u == word) {
        return Some(i as u64);
    }
    TENS.iter()
        .position(|t| *t == word)
        .map(|i| (i as u64 + 2) * 10)
}

/// Parses a run of English number words: "two hundred and fifty" → 250.
pub(crate) fn parse_en_words(words: &[&str]) -> Option<f64> {
    let (mut total, mut current, mut any) = (0u64, 0u64, false);
    for &w in words {
        match w {
            "and" | "a" => {}
            "hundred" => current = current.max(1).checked_mul(100)?,
            "thousand" | "million" | "billion" => {
                let scale = match w {
                    "thousand" => 1_000,
                    "million" => 1_000_000,
                    _ => 1_000_000_000,
                };
                total = total.checked_add(current.max(1).checked_mul(scale)?)?;
                current = 0;
            }
            _ => current = current.checked_add(en_unit(w)?)?,
        }
        any = true;
    }
    any.then_some((total + current) as f64)
}

fn zh_digit(c: char) -> Option<u64> {
    "零一二三四五六七八九"
        .chars()
        .position(|d| d == c)
        .map(|p| p as u64)
        .or(match c {
            '〇' => Some(0),
            '两' => Some(2),
            _ => c.to_digit(10).map(u64::from),
        })
}

/// Parses Chinese numerals ("一百五十" → 150, "两千" → 2000, "一三八" → 138),
/// also mixed with ASCII digits ("3万" → 30000).
pub(crate) fn parse_zh(s: &str) -> Option<f64> {
    if s.is_empty() {
        return None;
    }
    let has_unit = s
        .chars()
        .any(|c| matches!(c, '十' | '百' | '千' | '万' | '亿'));
    if !has_unit {
        // Digit by digit: 一三八 → 138, 2024 → 2024.
        let mut v: u64 = 0;
        for c in s.chars() {
            v = v.checked_mul(10)?.checked_add(zh_digit(c)?)?;
        }
        return Some(v as f64);
    }
    let (mut total, mut section, mut number) = (0u64, 0u64, 0u64);
    let mut digits_run = false;
    for c in s.chars() {
        if let Some(d) = zh_digit(c) {
            number = if digits_run && c.is_ascii_digit() {
                number.checked_mul(10)?.checked_add(d)?
            } else {
                d
            };
            digits_run = c.is_ascii_digit();
            continue;
        }
        digits_run = false;
        let unit = match c {
            '十' => 10,
            '百' => 100,
            '千' => 1000,
            '万' => 10_000,
            '亿' => 100_000_000,
            _ => return None,
        };
        if unit >= 10_000 {
            section = section.checked_add(number)?;
            total = total.checked_add(section.max(1).checked_mul(unit)?)?;
            section = 0;
        } else {
            section = section.checked_add(number.max(1).checked_mul(unit)?)?;
        }
        number = 0;
    }
    Some((total + section + number) as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn english_number_words() {
        assert_eq!(parse_en_words(&["twenty", "five"]), Some(25.0));
        assert_eq!(
            parse_en_words(&["two", "hundred", "and", "fifty"]),
            Some(250.0)
        );
        assert_eq!(parse_en_words(&["a", "thousand"]), Some(1000.0));
        assert_eq!(
            parse_en_words(&["twelve", "thousand", "three", "hundred"]),
            Some(12300.0)
        );
        assert_eq!(parse_en_words(&["banana"]), None);
    }

    #[test]
    fn chinese_numerals() {
        assert_eq!(parse_zh("一百五十"), Some(150.0));
        assert_eq!(parse_zh("两千"), Some(2000.0));
        assert_eq!(parse_zh("十五"), Some(15.0));
        assert_eq!(parse_zh("三万五千"), Some(35000.0));
        assert_eq!(parse_zh("一三八"), Some(138.0));
        assert_eq!(parse_zh("3万"), Some(30000.0));
        assert_eq!(parse_zh("一千零五"), Some(1005.0));
    }

    #[test]
    fn digits() {
        assert_eq!(parse_digits("1,200.50"), Some(1200.5));
        assert_eq!(parse_digits("abc"), None);
    }
}
