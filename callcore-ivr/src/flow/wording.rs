//! What a voice flow says around its own prompts, in the flow's language: how
//! a menu reads out a choice's key and the apologies before a question is
//! asked again. English unless the flow's language is Chinese.

/// Whether a language tag names Chinese (`zh`, `zh-CN`, `cmn`, `zho`, `chi`).
pub fn is_chinese(language: Option<&str>) -> bool {
    language
        .and_then(|tag| tag.trim().split(['-', '_']).next())
        .is_some_and(|primary| {
            ["zh", "cmn", "zho", "chi"]
                .iter()
                .any(|z| primary.eq_ignore_ascii_case(z))
        })
}

/// How a voice menu reads out one choice, with its leading space where the
/// language puts one: `" For billing, press 1."`, or `"账单查询请按1。"` in
/// Chinese.
pub fn spoken_choice(language: Option<&str>, label: &str, key: &str) -> String {
    if is_chinese(language) {
        format!("{label}请按{key}。")
    } else {
        format!(" For {label}, press {key}.")
    }
}

/// The apology before a question is asked again: after silence, or after an
/// answer that matched nothing (`not_understood`).
pub(crate) fn sorry(language: Option<&str>, not_understood: bool) -> &'static str {
    match (is_chinese(language), not_understood) {
        (false, false) => "Sorry, I did not hear anything.",
        (false, true) => "Sorry, I did not understand.",
        (true, false) => "对不起，我没有听到您的声音。",
        (true, true) => "对不起，我没有听懂。",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chinese_menus_read_keys_the_chinese_way() {
        assert!(is_chinese(Some("zh-CN")) && is_chinese(Some("cmn")));
        assert!(!is_chinese(Some("en")) && !is_chinese(None) && !is_chinese(Some("zhx")));
        assert_eq!(
            spoken_choice(Some("zh"), "账单查询", "1"),
            "账单查询请按1。"
        );
        assert_eq!(
            spoken_choice(None, "billing", "1"),
            " For billing, press 1."
        );
        assert_eq!(sorry(Some("en"), true), "Sorry, I did not understand.");
        assert_eq!(sorry(Some("zh"), true), "对不起，我没有听懂。");
    }
}
