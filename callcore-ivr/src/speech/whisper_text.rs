//! Text helpers of the Whisper recognizer that need no model: language tags
//! to Whisper's codes, and the content units (words, Chinese character pairs)
//! that phrase hints are matched on.

/// Whisper's code for a language tag: the primary subtag, lower case, with the
/// ISO 639-2/3 names of Chinese and English mapped (`"zh-CN"`, `"cmn"` → `"zh"`).
pub(crate) fn whisper_language_code(tag: &str) -> Option<String> {
    let primary = tag
        .trim()
        .split(['-', '_'])
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    let code = match primary.as_str() {
        "" => return None,
        "cmn" | "zho" | "chi" => "zh".to_string(),
        "eng" => "en".to_string(),
        _ => primary,
    };
    Some(code)
}

/// CJK ideographs (Chinese has no spaces between words).
pub(crate) fn is_cjk(c: char) -> bool {
    matches!(c, '\u{3400}'..='\u{4DBF}' | '\u{4E00}'..='\u{9FFF}' | '\u{F900}'..='\u{FAFF}')
}

/// Content units of a text: words of 3+ letters (lower case) and, in Chinese,
/// which is written without spaces, the character pairs (bigrams) of each run
/// of ideographs.
fn lower_words(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !c.is_alphanumeric() && c != '\'')
        .flat_map(|piece| {
            let mut units = Vec::new();
            let mut latin = String::new();
            let mut han: Vec<char> = Vec::new();
            let flush_han = |han: &mut Vec<char>, units: &mut Vec<String>| {
                units.extend(han.windows(2).map(|w| w.iter().collect::<String>()));
                if han.len() == 1 {
                    units.push(han[0].to_string());
                }
                han.clear();
            };
            let flush_latin = |latin: &mut String, units: &mut Vec<String>| {
                if latin.chars().count() >= 3 {
                    units.push(latin.to_lowercase());
                }
                latin.clear();
            };
            for c in piece.chars() {
                if is_cjk(c) {
                    flush_latin(&mut latin, &mut units);
                    han.push(c);
                } else {
                    flush_han(&mut han, &mut units);
                    latin.push(c);
                }
            }
            flush_latin(&mut latin, &mut units);
            flush_han(&mut han, &mut units);
            units
        })
}

/// The content units (words of 3+ letters, Chinese character pairs) of the
/// hints and the initial prompt.
pub(crate) fn hint_words(
    hints: &[String],
    initial_prompt: Option<&str>,
) -> std::collections::HashSet<String> {
    hints
        .iter()
        .map(String::as_str)
        .chain(initial_prompt)
        .flat_map(lower_words)
        .collect()
}

/// Share of a hypothesis' content words that are hint words (0 without hints).
pub(crate) fn hint_coverage(text: &str, vocabulary: &std::collections::HashSet<String>) -> f32 {
    if vocabulary.is_empty() {
        return 0.0;
    }
    let (mut hit, mut all) = (0usize, 0usize);
    for w in lower_words(text) {
        all += 1;
        hit += usize::from(vocabulary.contains(&w));
    }
    if all == 0 {
        0.0
    } else {
        hit as f32 / all as f32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn language_tags_map_to_whisper_codes() {
        assert_eq!(whisper_language_code("zh").as_deref(), Some("zh"));
        assert_eq!(whisper_language_code("zh-CN").as_deref(), Some("zh"));
        assert_eq!(whisper_language_code("zh_TW").as_deref(), Some("zh"));
        assert_eq!(whisper_language_code("cmn").as_deref(), Some("zh"));
        assert_eq!(whisper_language_code("EN-us").as_deref(), Some("en"));
        assert_eq!(whisper_language_code(" "), None);
    }

    #[test]
    fn chinese_hints_match_on_character_pairs() {
        let units: Vec<String> = lower_words("查询账单, check my bill").collect();
        assert_eq!(units, ["查询", "询账", "账单", "check", "bill"]);
        let vocab = hint_words(&["查询账单".to_string(), "人工客服".to_string()], None);
        assert!((hint_coverage("我想查询账单", &vocab) - 3.0 / 5.0).abs() < 1e-6);
        assert_eq!(hint_coverage("天气", &vocab), 0.0);
        assert_eq!(lower_words("好").collect::<Vec<_>>(), ["好"]);
    }
}
