//! SIP, SIPS and tel URIs (RFC 3261 §19.1, §25.1; RFC 3966), borrowed from the message.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::lex::Params;
use super::lex::find_byte;

/// The scheme of a URI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Scheme {
    /// `sip:`
    Sip,
    /// `sips:`
    Sips,
    /// `tel:` (RFC 3966)
    Tel,
    /// Any other syntactically valid absolute-URI scheme (kept opaque).
    Other,
}

/// Why a URI did not parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UriError {
    /// The text is not a URI at all or breaks the SIP URI grammar; names the part.
    Malformed(&'static str),
}

impl UriError {
    /// What is wrong, for reason phrases and logs.
    pub fn what(&self) -> &'static str {
        match self {
            UriError::Malformed(w) => w,
        }
    }
}

/// A parsed URI borrowing from the message text.
///
/// ```
/// use callcore_sip::message::{Uri, Scheme};
/// let u = Uri::parse("sips:agent-7@[2001:db8::10]:5061;transport=tcp?subject=hi").unwrap();
/// assert_eq!(u.scheme(), Scheme::Sips);
/// assert_eq!(u.user(), Some("agent-7"));
/// assert_eq!(u.host(), "[2001:db8::10]");
/// assert_eq!(u.port(), Some(5061));
/// assert_eq!(u.params().value("transport"), Some("tcp"));
/// assert_eq!(u.headers(), Some("subject=hi"));
/// ```
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Uri<'a> {
    raw: &'a str,
    scheme: Scheme,
    user: Option<&'a str>,
    password: Option<&'a str>,
    host: &'a str,
    port: Option<u16>,
    params: Params<'a>,
    headers: Option<&'a str>,
}

impl fmt::Debug for Uri<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The user part is usually a phone number: keep it out of logs.
        f.debug_struct("Uri")
            .field("scheme", &self.scheme)
            .field("host", &self.host)
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

impl fmt::Display for Uri<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.raw)
    }
}

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'-' | b'_' | b'.' | b'!' | b'~' | b'*' | b'\'' | b'(' | b')'
        )
}

fn escapes_ok(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            match (b.get(i + 1), b.get(i + 2)) {
                (Some(x), Some(y)) if x.is_ascii_hexdigit() && y.is_ascii_hexdigit() => i += 3,
                _ => return false,
            }
        } else {
            i += 1;
        }
    }
    true
}

/// Bytes that never appear in a URI: controls, space, DEL, `<`, `>`, `"`.
static NOT_IN_URI: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        t[i] = b <= b' ' || b == 0x7f || b == b'<' || b == b'>' || b == b'"';
        i += 1;
    }
    t
};

fn is_hostname(s: &str) -> bool {
    match s.as_bytes().first() {
        None | Some(b'-' | b'.') => false,
        Some(_) => s
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.'),
    }
}

/// True when `s` looks like `scheme ":"` of an absolute URI (RFC 3986 scheme chars).
fn scheme_end(s: &str) -> Option<usize> {
    let colon = find_byte(s, b':')?;
    let sch = &s[..colon];
    let mut bytes = sch.bytes();
    match bytes.next() {
        Some(b) if b.is_ascii_alphabetic() => {}
        _ => return None,
    }
    bytes
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
        .then_some(colon)
}

impl<'a> Uri<'a> {
    /// Parses a URI. Whitespace, `<`, `>` and `"` are never part of a URI.
    pub fn parse(raw: &'a str) -> Result<Uri<'a>, UriError> {
        if raw.is_empty() {
            return Err(UriError::Malformed("empty URI"));
        }
        if raw.bytes().any(|b| NOT_IN_URI[b as usize]) {
            return Err(UriError::Malformed("URI contains white space or <\">"));
        }
        let colon = scheme_end(raw).ok_or(UriError::Malformed("URI has no scheme"))?;
        let scheme_txt = &raw[..colon];
        let rest = &raw[colon + 1..];
        let scheme = if scheme_txt.eq_ignore_ascii_case("sip") {
            Scheme::Sip
        } else if scheme_txt.eq_ignore_ascii_case("sips") {
            Scheme::Sips
        } else if scheme_txt.eq_ignore_ascii_case("tel") {
            Scheme::Tel
        } else {
            Scheme::Other
        };
        let mut uri = Uri {
            raw,
            scheme,
            user: None,
            password: None,
            host: "",
            port: None,
            params: Params::default(),
            headers: None,
        };
        match scheme {
            Scheme::Other => {
                if rest.is_empty() {
                    return Err(UriError::Malformed("empty opaque URI"));
                }
                Ok(uri)
            }
            Scheme::Tel => {
                let (number, params) = match find_byte(rest, b';') {
                    Some(i) => (&rest[..i], &rest[i + 1..]),
                    None => (rest, ""),
                };
                let digits = number.strip_prefix('+').unwrap_or(number);
                if digits.is_empty()
                    || !digits.bytes().all(|b| {
                        b.is_ascii_hexdigit()
                            || matches!(b, b'-' | b'.' | b'(' | b')' | b'*' | b'#')
                    })
                {
                    return Err(UriError::Malformed("tel URI number"));
                }
                uri.user = Some(number);
                uri.params = Params::new(params);
                if !uri.params.validate(b"[]/:&+$%") {
                    return Err(UriError::Malformed("tel URI parameters"));
                }
                Ok(uri)
            }
            Scheme::Sip | Scheme::Sips => {
                let after_user = match find_byte(rest, b'@') {
                    Some(at) => {
                        let userinfo = &rest[..at];
                        let (user, pass) = match find_byte(userinfo, b':') {
                            Some(c) => (&userinfo[..c], Some(&userinfo[c + 1..])),
                            None => (userinfo, None),
                        };
                        if user.is_empty()
                            || !user.bytes().all(|b| {
                                is_unreserved(b)
                                    || matches!(
                                        b,
                                        b'%' | b'&'
                                            | b'='
                                            | b'+'
                                            | b'$'
                                            | b','
                                            | b';'
                                            | b'?'
                                            | b'/'
                                    )
                            })
                            || !escapes_ok(user)
                        {
                            return Err(UriError::Malformed("URI user part"));
                        }
                        if let Some(p) = pass
                            && (!p.bytes().all(|b| {
                                is_unreserved(b)
                                    || matches!(b, b'%' | b'&' | b'=' | b'+' | b'$' | b',')
                            }) || !escapes_ok(p))
                        {
                            return Err(UriError::Malformed("URI password"));
                        }
                        uri.user = Some(user);
                        uri.password = pass;
                        &rest[at + 1..]
                    }
                    None => rest,
                };
                let (before_headers, headers) = match find_byte(after_user, b'?') {
                    Some(q) => (&after_user[..q], Some(&after_user[q + 1..])),
                    None => (after_user, None),
                };
                if let Some(h) = headers
                    && (h.is_empty()
                        || !escapes_ok(h)
                        || !h
                            .split('&')
                            .all(|kv| kv.contains('=') && !kv.starts_with('=')))
                {
                    return Err(UriError::Malformed("URI headers"));
                }
                uri.headers = headers;
                let (hostport, params) = match find_byte(before_headers, b';') {
                    Some(i) => (&before_headers[..i], &before_headers[i + 1..]),
                    None => (before_headers, ""),
                };
                uri.params = Params::new(params);
                if !uri.params.validate(b"[]/:&+$%") || !escapes_ok(params) {
                    return Err(UriError::Malformed("URI parameters"));
                }
                let (host, port) =
                    split_hostport(hostport).ok_or(UriError::Malformed("URI host"))?;
                uri.host = host;
                uri.port = port;
                Ok(uri)
            }
        }
    }

    /// The whole URI as written.
    pub fn as_str(&self) -> &'a str {
        self.raw
    }

    /// The scheme.
    pub fn scheme(&self) -> Scheme {
        self.scheme
    }

    /// The user part (for tel URIs, the number), still %-escaped.
    pub fn user(&self) -> Option<&'a str> {
        self.user
    }

    /// The password of the userinfo, if any (deprecated by RFC 3261 but valid).
    pub fn password(&self) -> Option<&'a str> {
        self.password
    }

    /// The host; IPv6 references keep their brackets. Empty for tel and opaque URIs.
    pub fn host(&self) -> &'a str {
        self.host
    }

    /// The host as an IP address when it is one.
    pub fn ip(&self) -> Option<IpAddr> {
        host_ip(self.host)
    }

    /// The explicit port.
    pub fn port(&self) -> Option<u16> {
        self.port
    }

    /// The URI parameters (`;transport=udp;lr`).
    pub fn params(&self) -> Params<'a> {
        self.params
    }

    /// The raw `?h=v&...` header part, without the `?`.
    pub fn headers(&self) -> Option<&'a str> {
        self.headers
    }

    /// The URI with its headers part removed (for use as a Request-URI).
    pub fn without_headers(&self) -> &'a str {
        match self.headers {
            Some(h) => &self.raw[..self.raw.len() - h.len() - 1],
            None => self.raw,
        }
    }
}

/// Splits `host[:port]`, validating both; IPv6 references are bracketed.
pub(crate) fn split_hostport(s: &str) -> Option<(&str, Option<u16>)> {
    let (host, port) = if s.starts_with('[') {
        let close = find_byte(s, b']')?;
        let host = &s[..=close];
        host[1..close].parse::<Ipv6Addr>().ok()?;
        let rest = &s[close + 1..];
        if rest.is_empty() {
            (host, None)
        } else {
            (host, Some(rest.strip_prefix(':')?))
        }
    } else {
        match find_byte(s, b':') {
            Some(c) => (&s[..c], Some(&s[c + 1..])),
            None => (s, None),
        }
    };
    if !host.starts_with('[') && !is_hostname(host) {
        return None;
    }
    let port = match port {
        Some(p) => Some(u16::try_from(super::lex::parse_decimal(p, 65535)?).ok()?),
        None => None,
    };
    Some((host, port))
}

/// The host as an IP address, accepting bracketed IPv6.
pub(crate) fn host_ip(host: &str) -> Option<IpAddr> {
    if let Some(v6) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        return v6.parse::<Ipv6Addr>().ok().map(IpAddr::V6);
    }
    host.parse::<Ipv4Addr>().ok().map(IpAddr::V4)
}

/// True when `s` can be a URI scheme character sequence followed by `:` (used to tell
/// an unsupported scheme from garbage).
pub(crate) fn looks_like_absolute_uri(s: &str) -> bool {
    scheme_end(s).is_some()
        && s.bytes()
            .all(|b| b > b' ' && !matches!(b, b'<' | b'>' | b'"'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_torture_uris() {
        let u = Uri::parse("sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*:&it+has=1,weird!*pas$wo~d_too.(doesn't-it)@example.com").unwrap();
        assert_eq!(u.host(), "example.com");
        assert_eq!(
            u.user(),
            Some("1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*")
        );
        let u = Uri::parse("sip:user;par=u%40example.net@example.com").unwrap();
        assert_eq!(u.user(), Some("user;par=u%40example.net"));
        let u = Uri::parse("sip:null-%00-null@example.com").unwrap();
        assert_eq!(u.host(), "example.com");
        let u = Uri::parse("sip:[2001:db8::10]:5070").unwrap();
        assert_eq!(u.port(), Some(5070));
        assert!(u.ip().is_some());
        let t = Uri::parse("tel:+1-201-555-0123;phone-context=example.com").unwrap();
        assert_eq!(t.scheme(), Scheme::Tel);
        assert_eq!(t.user(), Some("+1-201-555-0123"));
        assert_eq!(
            Uri::parse("isbn:2983792873").unwrap().scheme(),
            Scheme::Other
        );
    }

    #[test]
    fn rejects_malformed_uris() {
        assert!(Uri::parse("<sip:user@example.com>").is_err());
        assert!(Uri::parse("sip:user@example.com; lr").is_err());
        assert!(Uri::parse("sip:[2001:db8::10").is_err());
        assert!(Uri::parse("sip:host:99999").is_err());
        assert!(Uri::parse("sip:us%4ger@host").is_err());
        assert!(Uri::parse("sip:host;;").is_err());
        assert!(Uri::parse("sip:").is_err());
    }
}
