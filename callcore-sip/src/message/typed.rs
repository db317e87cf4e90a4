//! Typed values of the smaller headers: CSeq, digest challenges/credentials, Replaces,
//! Session-Expires, Reason, Content-Type (RFC 3261 §20, RFC 7616, RFC 3891, RFC 4028,
//! RFC 3326).

use super::Method;
use super::lex::{Params, is_token, split_outside, trim_lws, unquote};
use std::borrow::Cow;

/// `CSeq: 42 INVITE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CSeq {
    /// Sequence number (below 2^31 as RFC 3261 requires).
    pub seq: u32,
    /// Method.
    pub method: Method,
}

impl CSeq {
    /// Parses a CSeq value.
    pub fn parse(value: &str) -> Result<CSeq, &'static str> {
        let s = trim_lws(value);
        let split = s
            .find([' ', '\t', '\r', '\n'])
            .ok_or("CSeq without method")?;
        let seq = super::lex::parse_decimal(&s[..split], (1 << 31) - 1)
            .ok_or("CSeq number out of range")?;
        let method = trim_lws(&s[split..]);
        if !is_token(method) {
            return Err("CSeq method is not a token");
        }
        Ok(CSeq {
            seq: u32::try_from(seq).map_err(|_| "CSeq number out of range")?,
            method: Method::from_token(method),
        })
    }
}

/// A `WWW-Authenticate`/`Proxy-Authenticate` challenge or an
/// `Authorization`/`Proxy-Authorization` credential: a scheme and comma-separated
/// `name=value` parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuthValue<'a> {
    scheme: &'a str,
    params: &'a str,
}

impl<'a> AuthValue<'a> {
    /// Parses `Digest realm="x", nonce="y", ...`.
    pub fn parse(value: &'a str) -> Result<AuthValue<'a>, &'static str> {
        let s = trim_lws(value);
        let (scheme, params) = match s.find([' ', '\t', '\r', '\n']) {
            Some(i) => (&s[..i], trim_lws(&s[i..])),
            None => (s, ""),
        };
        if !is_token(scheme) {
            return Err("auth scheme is not a token");
        }
        let av = AuthValue { scheme, params };
        for item in split_outside(params, b',').ok_or("unbalanced quotes in auth params")? {
            let item = trim_lws(item);
            if item.is_empty() {
                continue;
            }
            let eq = item.find('=').ok_or("auth param without =")?;
            if !is_token(trim_lws(&item[..eq])) {
                return Err("auth param name is not a token");
            }
        }
        Ok(av)
    }

    /// The scheme (`Digest`).
    pub fn scheme(&self) -> &'a str {
        self.scheme
    }

    /// True for the Digest scheme.
    pub fn is_digest(&self) -> bool {
        self.scheme.eq_ignore_ascii_case("digest")
    }

    /// A parameter value, unquoted.
    pub fn param(&self, name: &str) -> Option<Cow<'a, str>> {
        split_outside(self.params, b',')?.find_map(|item| {
            let eq = item.find('=')?;
            trim_lws(&item[..eq])
                .eq_ignore_ascii_case(name)
                .then(|| unquote(&item[eq + 1..]))
        })
    }
}

/// `Replaces: call-id;to-tag=x;from-tag=y[;early-only]` (RFC 3891).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Replaces<'a> {
    /// Call-ID of the dialog to replace.
    pub call_id: &'a str,
    /// Its To tag.
    pub to_tag: &'a str,
    /// Its From tag.
    pub from_tag: &'a str,
    /// Only replace an early dialog.
    pub early_only: bool,
}

impl<'a> Replaces<'a> {
    /// Parses a Replaces value.
    pub fn parse(value: &'a str) -> Result<Replaces<'a>, &'static str> {
        let s = trim_lws(value);
        let (call_id, rest) = s.split_once(';').ok_or("Replaces without tags")?;
        let p = Params::new(rest);
        if !p.validate(b"") {
            return Err("bad Replaces parameters");
        }
        Ok(Replaces {
            call_id: trim_lws(call_id),
            to_tag: p.value("to-tag").ok_or("Replaces without to-tag")?,
            from_tag: p.value("from-tag").ok_or("Replaces without from-tag")?,
            early_only: p.has("early-only"),
        })
    }
}

/// Who refreshes a session (RFC 4028).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refresher {
    /// The caller (UAC of the dialog-creating INVITE).
    Uac,
    /// The callee.
    Uas,
}

/// `Session-Expires: 1800;refresher=uac`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionExpires {
    /// Session interval in seconds.
    pub delta: u32,
    /// The refresher when named.
    pub refresher: Option<Refresher>,
}

impl SessionExpires {
    /// Parses a Session-Expires value.
    pub fn parse(value: &str) -> Result<SessionExpires, &'static str> {
        let s = trim_lws(value);
        let (delta, rest) = s.split_once(';').unwrap_or((s, ""));
        let delta = super::lex::parse_decimal(trim_lws(delta), u64::from(u32::MAX))
            .ok_or("bad Session-Expires delta")?;
        let p = Params::new(rest);
        let refresher = match p.value("refresher") {
            Some(r) if r.eq_ignore_ascii_case("uac") => Some(Refresher::Uac),
            Some(r) if r.eq_ignore_ascii_case("uas") => Some(Refresher::Uas),
            Some(_) => return Err("bad refresher"),
            None => None,
        };
        Ok(SessionExpires {
            delta: u32::try_from(delta).unwrap_or(u32::MAX),
            refresher,
        })
    }
}

/// `Reason: SIP ;cause=200 ;text="Call completed elsewhere"` (RFC 3326).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reason<'a> {
    /// `SIP`, `Q.850`...
    pub protocol: &'a str,
    /// The cause code.
    pub cause: Option<u16>,
    params: Params<'a>,
}

impl<'a> Reason<'a> {
    /// Parses one Reason value.
    pub fn parse(value: &'a str) -> Result<Reason<'a>, &'static str> {
        let s = trim_lws(value);
        let (proto, rest) = s.split_once(';').unwrap_or((s, ""));
        let protocol = trim_lws(proto);
        if !is_token(protocol) {
            return Err("Reason protocol is not a token");
        }
        let params = Params::new(rest);
        if !params.validate(b"") {
            return Err("bad Reason parameters");
        }
        let cause = params.value("cause").and_then(|c| c.parse().ok());
        Ok(Reason {
            protocol,
            cause,
            params,
        })
    }

    /// The `text` parameter, unquoted.
    pub fn text(&self) -> Option<Cow<'a, str>> {
        self.params.value("text").map(unquote)
    }
}

/// `Content-Type: application/sdp;charset=utf-8`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MediaType<'a> {
    /// `application`
    pub kind: &'a str,
    /// `sdp`
    pub subtype: &'a str,
    /// Parameters.
    pub params: Params<'a>,
}

impl<'a> MediaType<'a> {
    /// Parses a media type.
    pub fn parse(value: &'a str) -> Result<MediaType<'a>, &'static str> {
        let s = trim_lws(value);
        let (mt, rest) = s.split_once(';').unwrap_or((s, ""));
        let (kind, subtype) = mt.split_once('/').ok_or("media type without /")?;
        let (kind, subtype) = (trim_lws(kind), trim_lws(subtype));
        if !is_token(kind) || !is_token(subtype) {
            return Err("bad media type");
        }
        let params = Params::new(rest);
        if !params.validate(b"") {
            return Err("bad media type parameters");
        }
        Ok(MediaType {
            kind,
            subtype,
            params,
        })
    }

    /// True for `type/subtype`, compared case-insensitively.
    pub fn is(&self, kind: &str, subtype: &str) -> bool {
        self.kind.eq_ignore_ascii_case(kind) && self.subtype.eq_ignore_ascii_case(subtype)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cseq_folded_and_bounds() {
        let c = CSeq::parse("0009\r\n  INVITE").unwrap();
        assert_eq!(c.seq, 9);
        assert_eq!(c.method, Method::Invite);
        assert!(CSeq::parse("36893488147419103232 INVITE").is_err());
        assert!(CSeq::parse("1").is_err());
    }

    #[test]
    fn digest_params() {
        let a = AuthValue::parse("Digest username=\"bob\", realm=\"x, y\", nonce=abc, qop=auth")
            .unwrap();
        assert!(a.is_digest());
        assert_eq!(a.param("realm").as_deref(), Some("x, y"));
        assert_eq!(a.param("NONCE").as_deref(), Some("abc"));
        let a = AuthValue::parse("NoOneKnowsThisScheme opaque-data=here").unwrap();
        assert!(!a.is_digest());
    }

    #[test]
    fn replaces_session_reason_media() {
        let r =
            Replaces::parse("98732@sip.example.com;from-tag=r33th4x0r;to-tag=ff87ff;early-only")
                .unwrap();
        assert_eq!(r.to_tag, "ff87ff");
        assert!(r.early_only);
        let s = SessionExpires::parse("1800;refresher=uas").unwrap();
        assert_eq!(s.refresher, Some(Refresher::Uas));
        let r = Reason::parse("SIP ;cause=200 ;text=\"Call completed elsewhere\"").unwrap();
        assert_eq!(r.cause, Some(200));
        assert_eq!(r.text().as_deref(), Some("Call completed elsewhere"));
        assert!(
            MediaType::parse("application/SDP")
                .unwrap()
                .is("application", "sdp")
        );
    }
}
