//! Chinese dates, amounts and numerals, which may mix in ASCII digits.

use super::{DateValue, Found, SlotValue, ZH_CURRENCY, dates, is_numeral, numbers};
use crate::tokenize::fold_char;

/// Chinese dates, amounts and numerals (which may mix in ASCII digits: 3月5号, 50元).
pub(super) fn extract(text: &str, found: &mut Found) {
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let byte_at = |i: usize| chars.get(i).map_or(text.len(), |(b, _)| *b);
    let run_end = |i: usize| {
        let mut j = i;
        while j < chars.len() && is_numeral(chars[j].1) {
            j += 1;
        }
        j
    };
    let run_value = |i: usize, j: usize| {
        let s: String = chars[i..j].iter().map(|(_, c)| fold_char(*c)).collect();
        numbers::parse_zh(&s)
    };
    let mut i = 0;
    'scan: while i < chars.len() {
        let here = &text[byte_at(i)..];
        for (word, days) in dates::ZH_RELATIVE {
            if here.starts_with(word) {
                let end = byte_at(i) + word.len();
                found.push(
                    text,
                    "date",
                    SlotValue::Date(DateValue::Relative { days: *days }),
                    byte_at(i),
                    end,
                );
                i += word.chars().count();
                continue 'scan;
            }
        }
        for prefix in ["星期", "礼拜", "周"] {
            if let Some(rest) = here.strip_prefix(prefix)
                && let Some(weekday) = rest.chars().next().and_then(dates::zh_weekday)
            {
                let n = prefix.chars().count() + 1;
                let value = SlotValue::Date(DateValue::Weekday { weekday });
                found.push(text, "date", value, byte_at(i), byte_at(i + n));
                i += n;
                continue 'scan;
            }
        }
        if !is_numeral(chars[i].1) {
            i += 1;
            continue;
        }
        let j = run_end(i);
        let has_zh = chars[i..j]
            .iter()
            .any(|(_, c)| !fold_char(*c).is_ascii_digit());
        let next = |k: usize| chars.get(k).map(|(_, c)| *c);
        let Some(value) = run_value(i, j) else {
            i = j;
            continue;
        };
        // [N年]N月N日/号, N日/号
        let mut year = None;
        let (mut mi, mut mj) = (i, j);
        if next(j) == Some('年') && is_numeral(next(j + 1).unwrap_or(' ')) {
            year = Some(value);
            mi = j + 1;
            mj = run_end(mi);
        }
        if next(mj) == Some('月') {
            let di = mj + 1;
            let dj = run_end(di);
            if dj > di
                && matches!(next(dj), Some('日' | '号'))
                && let (Some(m), Some(d)) = (run_value(mi, mj), run_value(di, dj))
                && let Some(date) = DateValue::calendar(year, Some(m), d)
            {
                found.push(
                    text,
                    "date",
                    SlotValue::Date(date),
                    byte_at(i),
                    byte_at(dj + 1),
                );
                i = dj + 1;
                continue;
            }
        }
        if matches!(next(j), Some('日' | '号'))
            && let Some(date) = DateValue::calendar(None, None, value)
        {
            found.push(
                text,
                "date",
                SlotValue::Date(date),
                byte_at(i),
                byte_at(j + 1),
            );
            i = j + 1;
            continue;
        }
        let after = &text[byte_at(j)..];
        if let Some((word, code)) = ZH_CURRENCY.iter().find(|(w, _)| after.starts_with(w)) {
            let amount = SlotValue::Amount {
                amount: value,
                currency: Some((*code).into()),
            };
            found.push(text, "amount", amount, byte_at(i), byte_at(j) + word.len());
            i = j + word.chars().count();
            continue;
        }
        let measure = matches!(
            next(j),
            Some('个' | '张' | '次' | '天' | '月' | '年' | '位' | '分')
        );
        if has_zh && (j - i >= 2 || measure) {
            found.push(
                text,
                "number",
                SlotValue::Number(value),
                byte_at(i),
                byte_at(j),
            );
        }
        i = j;
    }
}
