//! `name-addr` / `addr-spec` values: From, To, Contact, Route, Record-Route, Refer-To,
//! Referred-By (RFC 3261 §20, §25.1).

use std::borrow::Cow;

use super::lex::find_byte;
use super::lex::{Params, closing_quote, is_token, trim_lws, unquote, valid_quoted_body};
use super::uri::Uri;

/// An address with optional display name and header parameters (`tag`, `expires`, `q`...).
///
/// ```
/// use callcore_sip::message::NameAddr;
/// let a = NameAddr::parse(r#""Agent \"7\"" <sip:7@pbx.example.com>;tag=abc"#).unwrap();
/// assert_eq!(a.display_name().as_deref(), Some("Agent \"7\""));
/// assert_eq!(a.uri().host(), "pbx.example.com");
/// assert_eq!(a.tag(), Some("abc"));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NameAddr<'a> {
    display: Option<&'a str>,
    uri: Uri<'a>,
    params: Params<'a>,
    bracketed: bool,
}

impl<'a> NameAddr<'a> {
    /// Parses one value (already separated from its comma-separated siblings).
    pub fn parse(value: &'a str) -> Result<NameAddr<'a>, &'static str> {
        let s = trim_lws(value);
        if s.is_empty() {
            return Err("empty address");
        }
        let b = s.as_bytes();
        let (display, rest) = if b[0] == b'"' {
            let close = closing_quote(b, 0).ok_or("unterminated quoted display name")?;
            if !valid_quoted_body(&s[1..close]) {
                return Err("bad quoted display name");
            }
            let rest = trim_lws(&s[close + 1..]);
            if !rest.starts_with('<') {
                return Err("quoted display name without <URI>");
            }
            (Some(&s[..=close]), rest)
        } else if let Some(lt) = find_byte(s, b'<') {
            let d = trim_lws(&s[..lt]);
            if !d.is_empty()
                && !d
                    .split([' ', '\t', '\r', '\n'])
                    .filter(|t| !t.is_empty())
                    .all(is_token)
            {
                return Err("display name must be tokens or a quoted string");
            }
            (if d.is_empty() { None } else { Some(d) }, &s[lt..])
        } else {
            (None, s)
        };
        if let Some(inner) = rest.strip_prefix('<') {
            let gt = find_byte(inner, b'>').ok_or("missing > after URI")?;
            let uri = Uri::parse(&inner[..gt]).map_err(|e| e.what())?;
            let after = trim_lws(&inner[gt + 1..]);
            let params = if after.is_empty() {
                ""
            } else {
                after.strip_prefix(';').ok_or("text after >")?
            };
            let params = Params::new(params);
            if !params.validate(b"") {
                return Err("bad header parameters");
            }
            Ok(NameAddr {
                display,
                uri,
                params,
                bracketed: true,
            })
        } else {
            let (uri_txt, params) = match find_byte(rest, b';') {
                Some(i) => (trim_lws(&rest[..i]), &rest[i + 1..]),
                None => (rest, ""),
            };
            if uri_txt.contains(['?', ',']) {
                return Err("URI with ? or , must be enclosed in <>");
            }
            let uri = Uri::parse(uri_txt).map_err(|e| e.what())?;
            let params = Params::new(params);
            if !params.validate(b"") {
                return Err("bad header parameters");
            }
            Ok(NameAddr {
                display: None,
                uri,
                params,
                bracketed: false,
            })
        }
    }

    /// The display name without quotes and escapes.
    pub fn display_name(&self) -> Option<Cow<'a, str>> {
        self.display.map(unquote)
    }

    /// The display name as written (quotes kept).
    pub fn display_raw(&self) -> Option<&'a str> {
        self.display
    }

    /// The address URI.
    pub fn uri(&self) -> Uri<'a> {
        self.uri
    }

    /// The header parameters (after the URI or its `>`).
    pub fn params(&self) -> Params<'a> {
        self.params
    }

    /// The `tag` parameter (From/To).
    pub fn tag(&self) -> Option<&'a str> {
        self.params.value("tag")
    }

    /// True when the URI was enclosed in `<...>`.
    pub fn is_bracketed(&self) -> bool {
        self.bracketed
    }

    /// The `expires` parameter of a Contact, `None` when absent or out of range.
    pub fn expires(&self) -> Option<u32> {
        self.params
            .value("expires")
            .and_then(|v| super::lex::parse_decimal(v, u64::from(u32::MAX)))
            .and_then(|v| u32::try_from(v).ok())
    }
}

/// One Contact value: an address or the `*` of an un-register-all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContactValue<'a> {
    /// `Contact: *`
    Star,
    /// An address.
    Addr(NameAddr<'a>),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn torture_addresses() {
        let a = NameAddr::parse("\r\n sip:vivekg@chair-dnrc.example.com ;   tag    = 1918181833n")
            .unwrap();
        assert_eq!(a.tag(), Some("1918181833n"));
        assert_eq!(a.uri().user(), Some("vivekg"));
        let a = NameAddr::parse(
            "\"J Rosenberg \\\\\\\"\"       <sip:jdrosen@example.com>\r\n  ;\r\n  tag = 98asjd8",
        )
        .unwrap();
        assert_eq!(a.tag(), Some("98asjd8"));
        assert_eq!(a.display_name().as_deref(), Some("J Rosenberg \\\""));
        let a = NameAddr::parse("caller<sip:caller@example.com>;tag=323").unwrap();
        assert_eq!(a.display_name().as_deref(), Some("caller"));
        assert!(NameAddr::parse("\"Mr. J. User <sip:j.user@example.com>").is_err());
        assert!(NameAddr::parse("Bell, Alexander <sip:a.g.bell@example.com>").is_err());
        assert!(NameAddr::parse("sip:user@example.com?Route=%3Csip:sip.example.com%3E").is_err());
        assert!(NameAddr::parse("<sip:user@example.com?Route=%3Csip:sip.example.com%3E>").is_ok());
        assert!(NameAddr::parse("\"Joe\" <sip:joe@example.org>;;;;").is_err());
        let c = NameAddr::parse("sip:+19725552222@gw1.example.net;unknownparam").unwrap();
        assert!(c.params().has("unknownparam"));
        assert!(c.uri().params().is_empty());
    }
}
