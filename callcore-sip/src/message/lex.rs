//! Low-level lexing helpers shared by the header parsers (RFC 3261 §25.1).
//!
//! Header values may have been folded over several lines, so every helper here treats
//! CR and LF like spaces ("linear white space").

/// The characters of an RFC 3261 `token`, as a table (one load per byte).
static TOKEN: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        t[i] = b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'-' | b'.' | b'!' | b'%' | b'*' | b'_' | b'+' | b'`' | b'\'' | b'~'
            );
        i += 1;
    }
    t
};

/// True for the characters of an RFC 3261 `token`.
#[inline]
pub(crate) fn is_token_byte(b: u8) -> bool {
    TOKEN[b as usize]
}

#[inline]
fn is_lws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

/// Trims linear white space at both ends.
#[inline]
pub(crate) fn trim_lws(s: &str) -> &str {
    let b = s.as_bytes();
    let mut start = 0;
    while start < b.len() && is_lws(b[start]) {
        start += 1;
    }
    let mut end = b.len();
    while end > start && is_lws(b[end - 1]) {
        end -= 1;
    }
    // Only ASCII bytes were skipped, so both ends are char boundaries.
    s.get(start..end).unwrap_or("")
}

/// True when `s` is a non-empty token.
pub(crate) fn is_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(is_token_byte)
}

/// Index of the first `b` in `s`: a plain loop, quicker than a vectorised search on the
/// short strings of header values.
#[inline]
pub(crate) fn find_byte(s: &str, b: u8) -> Option<usize> {
    s.bytes().position(|c| c == b)
}

/// The part of `s` before the first `sep` outside quoted strings and `<...>`, and
/// whether quotes and brackets were balanced up to there.
pub(crate) fn first_outside(s: &str, sep: u8) -> Option<&str> {
    let b = s.as_bytes();
    let mut i = 0;
    let mut angle = false;
    while i < b.len() {
        match b[i] {
            b'"' => i = closing_quote(b, i)?,
            b'<' => angle = true,
            b'>' => angle = false,
            c if c == sep && !angle => return s.get(..i),
            _ => {}
        }
        i += 1;
    }
    if angle { None } else { Some(s) }
}

/// Finds the index of the closing quote of a quoted string whose opening quote is at
/// `open`, honouring `\` escapes (quoted-pair). `None` when unterminated.
pub(crate) fn closing_quote(s: &[u8], open: usize) -> Option<usize> {
    let mut i = open + 1;
    while i < s.len() {
        match s[i] {
            b'\\' => i += 2,
            b'"' => return Some(i),
            _ => i += 1,
        }
    }
    None
}

/// Splits `s` at every `sep` that is outside quoted strings and `<...>` brackets.
///
/// Returns `None` when a quote or bracket is unbalanced.
pub(crate) fn split_outside<'a>(s: &'a str, sep: u8) -> Option<SplitOutside<'a>> {
    // Validate balance up front so that the iterator cannot fail half way.
    let b = s.as_bytes();
    let mut i = 0;
    let mut angle = false;
    while i < b.len() {
        match b[i] {
            b'"' => i = closing_quote(b, i)?,
            b'<' if !angle => angle = true,
            b'>' if angle => angle = false,
            _ => {}
        }
        i += 1;
    }
    if angle {
        return None;
    }
    Some(SplitOutside {
        s,
        pos: 0,
        sep,
        done: false,
    })
}

/// Iterator returned by [`split_outside`].
#[derive(Debug, Clone)]
pub(crate) struct SplitOutside<'a> {
    s: &'a str,
    pos: usize,
    sep: u8,
    done: bool,
}

impl<'a> Iterator for SplitOutside<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        if self.done {
            return None;
        }
        let b = self.s.as_bytes();
        let start = self.pos;
        let mut i = start;
        let mut angle = false;
        while i < b.len() {
            match b[i] {
                b'"' => match closing_quote(b, i) {
                    Some(end) => i = end,
                    None => i = b.len(),
                },
                b'<' => angle = true,
                b'>' => angle = false,
                c if c == self.sep && !angle => {
                    self.pos = i + 1;
                    return self.s.get(start..i);
                }
                _ => {}
            }
            i += 1;
        }
        self.done = true;
        self.s.get(start..)
    }
}

/// Checks a `quoted-string` body (without the surrounding quotes): every `\` must be
/// followed by a character other than CR/LF.
pub(crate) fn valid_quoted_body(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'\\' => {
                if i + 1 >= b.len() || matches!(b[i + 1], b'\r' | b'\n') {
                    return false;
                }
                i += 2;
            }
            b'"' => return false,
            _ => i += 1,
        }
    }
    true
}

/// Removes the quotes and `\` escapes of a quoted string; returns `s` unchanged when it
/// is not quoted.
pub fn unquote(s: &str) -> std::borrow::Cow<'_, str> {
    let t = trim_lws(s);
    if t.len() >= 2 && t.starts_with('"') && t.ends_with('"') {
        let inner = &t[1..t.len() - 1];
        if !inner.contains('\\') {
            return std::borrow::Cow::Borrowed(inner);
        }
        let mut out = String::with_capacity(inner.len());
        let mut chars = inner.chars();
        while let Some(c) = chars.next() {
            if c == '\\' {
                if let Some(n) = chars.next() {
                    out.push(n);
                }
            } else {
                out.push(c);
            }
        }
        std::borrow::Cow::Owned(out)
    } else {
        std::borrow::Cow::Borrowed(t)
    }
}

/// Parses an unsigned decimal made only of ASCII digits (leading zeros allowed) that
/// fits in `max`.
pub(crate) fn parse_decimal(s: &str, max: u64) -> Option<u64> {
    if s.is_empty() || s.len() > 20 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut v: u64 = 0;
    for b in s.bytes() {
        v = v.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
    }
    (v <= max).then_some(v)
}

/// A `;name[=value]` parameter list kept as a borrowed slice and scanned on demand.
///
/// Names compare case-insensitively; values are returned raw (quoted values keep their
/// quotes, see [`unquote`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Params<'a> {
    raw: &'a str,
}

impl<'a> Params<'a> {
    /// Wraps a raw parameter list that starts right after the first `;` (may be empty).
    pub(crate) fn new(raw: &'a str) -> Self {
        Params { raw }
    }

    /// The raw text of the list, without the leading `;`.
    pub fn as_str(&self) -> &'a str {
        self.raw
    }

    /// True when the list has no parameter.
    pub fn is_empty(&self) -> bool {
        trim_lws(self.raw).is_empty()
    }

    /// Iterates over `(name, value)` pairs, names and values trimmed.
    pub fn iter(&self) -> impl Iterator<Item = (&'a str, Option<&'a str>)> + 'a {
        let raw = self.raw;
        split_outside(raw, b';')
            .into_iter()
            .flatten()
            .filter(|p| !trim_lws(p).is_empty())
            .map(|p| match p.find('=') {
                Some(eq) => (trim_lws(&p[..eq]), Some(trim_lws(&p[eq + 1..]))),
                None => (trim_lws(p), None),
            })
    }

    /// The value of parameter `name`: `Some(Some(v))` with a value, `Some(None)` for a
    /// flag parameter, `None` when absent.
    pub fn get(&self, name: &str) -> Option<Option<&'a str>> {
        // One scan, no pre-check of quote balance: the owners of a `Params` validated it.
        let raw = self.raw;
        let mut items = SplitOutside {
            s: raw,
            pos: 0,
            sep: b';',
            done: false,
        };
        items.find_map(|p| {
            let (n, v) = match find_byte(p, b'=') {
                Some(eq) => (trim_lws(&p[..eq]), Some(trim_lws(&p[eq + 1..]))),
                None => (trim_lws(p), None),
            };
            n.eq_ignore_ascii_case(name).then_some(v)
        })
    }

    /// The value of parameter `name` when it has one.
    pub fn value(&self, name: &str) -> Option<&'a str> {
        self.get(name).flatten()
    }

    /// True when parameter `name` is present (with or without value).
    pub fn has(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// Validates the list as generic parameters: `token [= (token / host / quoted-string)]`,
    /// no empty items. `extra` lists additional characters allowed in names/values
    /// (e.g. URI parameters allow `[]/:&+$` and `%` escapes).
    pub(crate) fn validate(&self, extra: &[u8]) -> bool {
        // One pass: `*( LWS name LWS [ "=" LWS value LWS ] )` separated by `;`, where
        // value is a quoted string or name characters plus `:[]`.
        let b = self.raw.as_bytes();
        let ok = |c: u8| is_token_byte(c) || extra.contains(&c);
        let skip_lws = |mut i: usize| {
            while i < b.len() && is_lws(b[i]) {
                i += 1;
            }
            i
        };
        let mut i = skip_lws(0);
        if i == b.len() {
            return true;
        }
        loop {
            // name
            let n0 = i;
            while i < b.len() && ok(b[i]) {
                i += 1;
            }
            if i == n0 {
                return false;
            }
            i = skip_lws(i);
            if i < b.len() && b[i] == b'=' {
                i = skip_lws(i + 1);
                if i < b.len() && b[i] == b'"' {
                    let Some(close) = closing_quote(b, i) else {
                        return false;
                    };
                    if !valid_quoted_body(&self.raw[i + 1..close]) {
                        return false;
                    }
                    i = close + 1;
                } else {
                    let v0 = i;
                    while i < b.len() && (ok(b[i]) || matches!(b[i], b':' | b'[' | b']')) {
                        i += 1;
                    }
                    if i == v0 {
                        return false;
                    }
                }
                i = skip_lws(i);
            }
            if i == b.len() {
                return true;
            }
            if b[i] != b';' {
                return false;
            }
            i = skip_lws(i + 1);
            if i == b.len() {
                // A trailing `;` leaves an empty parameter.
                return false;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_respects_quotes_and_brackets() {
        let v: Vec<_> = split_outside(r#""a,b" <sip:x;y,z>, c"#, b',')
            .unwrap()
            .collect();
        assert_eq!(v, vec![r#""a,b" <sip:x;y,z>"#, " c"]);
        assert!(split_outside(r#""open"#, b',').is_none());
        assert!(split_outside("<sip:x", b',').is_none());
    }

    #[test]
    fn params_lookup_trims_lws() {
        let p = Params::new("  branch  =   z9hG4bK9ikj8  ;lr; received=\r\n 1.2.3.4");
        assert_eq!(p.value("BRANCH"), Some("z9hG4bK9ikj8"));
        assert_eq!(p.get("lr"), Some(None));
        assert_eq!(p.value("received"), Some("1.2.3.4"));
        assert!(p.validate(b""));
        assert!(!Params::new(";;").validate(b""));
    }

    #[test]
    fn unquote_handles_escapes() {
        assert_eq!(unquote(r#""J Rosenberg \\\"""#), r#"J Rosenberg \""#);
        assert_eq!(unquote("plain"), "plain");
    }

    #[test]
    fn decimal_bounds() {
        assert_eq!(parse_decimal("0068", 255), Some(68));
        assert_eq!(parse_decimal("300", 255), None);
        assert_eq!(parse_decimal("36893488147419103232", u64::MAX), None);
        assert_eq!(parse_decimal("-1", 10), None);
    }
}
