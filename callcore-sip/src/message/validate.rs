//! Semantic checks of a parsed message (RFC 3261 §8.2.1–§8.2.2, §16.3) and the error
//! response a UAS sends for a faulty request.

use bytes::Bytes;

use super::fault::{Fault, MessageKind, ParseError, Verdict};
use super::lex::{split_outside, trim_lws};
use super::{CSeq, HeaderName, MediaType, Message, Method, NameAddr, ResponseSpec, Via};

const MANDATORY: [HeaderName; 5] = [
    HeaderName::Via,
    HeaderName::From,
    HeaderName::To,
    HeaderName::CallId,
    HeaderName::CSeq,
];

/// Single-valued headers, in the order of the `seen` counters of `check_presence` (after Via).
const SINGLE: [HeaderName; 6] = [
    HeaderName::From,
    HeaderName::To,
    HeaderName::CallId,
    HeaderName::CSeq,
    HeaderName::MaxForwards,
    HeaderName::ContentType,
];

impl Message {
    fn kind(&self) -> MessageKind {
        if self.is_request() {
            MessageKind::Request
        } else {
            MessageKind::Response
        }
    }

    /// Mandatory headers present, single-valued headers not repeated (one pass over the
    /// recorded header lines).
    fn check_presence(&self) -> Result<(), ParseError> {
        let kind = self.kind();
        // Lines seen of: Via, From, To, Call-ID, CSeq, Max-Forwards, Content-Type.
        let mut seen = [0u8; 7];
        for f in &self.fields {
            let i = match f.name {
                HeaderName::Via => 0,
                HeaderName::From => 1,
                HeaderName::To => 2,
                HeaderName::CallId => 3,
                HeaderName::CSeq => 4,
                HeaderName::MaxForwards => 5,
                HeaderName::ContentType => 6,
                _ => continue,
            };
            seen[i] = seen[i].saturating_add(1);
        }
        for (i, name) in MANDATORY.into_iter().enumerate() {
            if seen[i] == 0 {
                return Err(ParseError::new(Fault::MissingHeader(name), kind));
            }
        }
        for (i, name) in SINGLE.into_iter().enumerate() {
            if seen[i + 1] > 1 {
                return Err(ParseError::new(Fault::DuplicateHeader(name), kind));
            }
        }
        Ok(())
    }

    fn check_cseq(&self, value: &str) -> Result<(), ParseError> {
        let kind = self.kind();
        let c = CSeq::parse(value).map_err(|why| {
            ParseError::new(
                Fault::BadHeader {
                    header: HeaderName::CSeq,
                    why,
                },
                kind,
            )
        })?;
        if let Some(m) = self.method()
            && *m != c.method
        {
            return Err(ParseError::new(Fault::CSeqMethodMismatch, kind));
        }
        Ok(())
    }

    /// What [`Message::parse_lazy`] checks beyond the framing: the mandatory headers
    /// are there once and the CSeq agrees with the method.
    pub(crate) fn check_envelope(&self) -> Result<(), ParseError> {
        self.check_presence()?;
        match self.header(&HeaderName::CSeq) {
            Some(v) => self.check_cseq(v),
            None => Ok(()),
        }
    }

    /// Checks header grammar and the RFC 3261 rules every message must satisfy.
    pub fn validate(&self) -> Result<(), ParseError> {
        let kind = self.kind();
        let bad = |header: HeaderName, why| ParseError::new(Fault::BadHeader { header, why }, kind);
        self.check_presence()?;
        for h in &self.fields {
            let v = self.field_str(h);
            match &h.name {
                HeaderName::Via => {
                    for item in split_outside(v, b',')
                        .ok_or_else(|| bad(HeaderName::Via, "unbalanced quotes"))?
                    {
                        Via::parse(item).map_err(|w| bad(HeaderName::Via, w))?;
                    }
                }
                HeaderName::From
                | HeaderName::To
                | HeaderName::ReferTo
                | HeaderName::ReferredBy => {
                    NameAddr::parse(v).map_err(|w| bad(h.name.clone(), w))?;
                }
                HeaderName::Contact | HeaderName::Route | HeaderName::RecordRoute => {
                    if h.name == HeaderName::Contact && trim_lws(v) == "*" {
                        continue;
                    }
                    let items = split_outside(v, b',')
                        .ok_or_else(|| bad(h.name.clone(), "unbalanced quotes or <>"))?;
                    for item in items {
                        NameAddr::parse(item).map_err(|w| bad(h.name.clone(), w))?;
                    }
                }
                HeaderName::CSeq => self.check_cseq(v)?,
                HeaderName::CallId => {
                    let t = trim_lws(v);
                    if t.is_empty() || t.bytes().any(|b| b <= b' ') {
                        return Err(bad(HeaderName::CallId, "empty or contains white space"));
                    }
                }
                HeaderName::MaxForwards => {
                    super::lex::parse_decimal(trim_lws(v), 255)
                        .ok_or_else(|| bad(HeaderName::MaxForwards, "not an integer 0-255"))?;
                }
                HeaderName::ContentType => {
                    MediaType::parse(v).map_err(|w| bad(HeaderName::ContentType, w))?;
                }
                HeaderName::Date if !trim_lws(v).ends_with("GMT") => {
                    return Err(bad(HeaderName::Date, "not an RFC 1123 date in GMT"));
                }
                _ => {}
            }
        }
        Ok(())
    }
}

/// What a UAS admits beyond grammar: extensions it supports, whether it forwards the
/// request (then Max-Forwards 0 is refused with 483), the size limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdmissionPolicy {
    /// Option tags this node supports (`Require` with any other tag gets 420).
    pub supported: Vec<String>,
    /// Refuse requests with Max-Forwards 0 that would be forwarded (B2BUA legs);
    /// OPTIONS are always answered locally (RFC 4475 §3.3.9).
    pub refuse_zero_max_forwards: bool,
}

impl Default for AdmissionPolicy {
    fn default() -> Self {
        AdmissionPolicy {
            supported: vec!["timer".into(), "100rel".into(), "replaces".into()],
            refuse_zero_max_forwards: true,
        }
    }
}

impl AdmissionPolicy {
    /// Checks a valid request against the policy (RFC 3261 §8.2.2.3, §16.3 step 3).
    pub fn admit(&self, req: &Message) -> Result<(), ParseError> {
        let kind = MessageKind::Request;
        let Some(method) = req.method() else {
            return Ok(());
        };
        if self.refuse_zero_max_forwards
            && !matches!(
                method,
                Method::Options | Method::Ack | Method::Cancel | Method::Bye | Method::Register
            )
            && req.max_forwards().ok().flatten() == Some(0)
        {
            return Err(ParseError::new(Fault::TooManyHops, kind));
        }
        if matches!(method, Method::Ack | Method::Cancel) {
            return Ok(());
        }
        let unsupported: Vec<String> = req
            .require()
            .into_iter()
            .filter(|t| !self.supported.iter().any(|s| s.eq_ignore_ascii_case(t)))
            .map(str::to_owned)
            .collect();
        if !unsupported.is_empty() {
            return Err(ParseError::new(Fault::BadExtension(unsupported), kind));
        }
        Ok(())
    }
}

/// Builds the response a UAS sends for a faulty request, or `None` when the verdict is
/// to drop it (responses, garbage, or a request without a Via to send an answer to).
/// Headers that are present among From, To, Call-ID and CSeq are echoed as received.
///
/// ```
/// use bytes::Bytes;
/// use callcore_sip::message::{Message, error_response};
/// let raw = Bytes::from_static(b"OPTIONS sip:a@example.com SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n\
/// From: <sip:b@example.com>;tag=1\r\nTo: <sip:a@example.com>\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\n\r\n");
/// let err = Message::parse(raw.clone()).unwrap_err();
/// let resp = error_response(&raw, &err, "t1").unwrap();
/// assert_eq!(resp.status(), Some(400));
/// ```
pub fn error_response(raw: &Bytes, err: &ParseError, to_tag: &str) -> Option<Message> {
    let Verdict::Respond { status, reason } = err.verdict() else {
        return None;
    };
    // Only the header lines are needed: the start line may be what is broken.
    let lead = raw
        .iter()
        .take_while(|b| matches!(b, b'\r' | b'\n'))
        .count();
    let raw = raw.slice(lead..);
    let head_end = super::parse::find_head_end(&raw).map_or(raw.len(), |(h, _)| h);
    let first_nl = memchr::memchr(b'\n', &raw[..head_end])?;
    std::str::from_utf8(&raw[..head_end]).ok()?;
    let fields = super::parse::parse_header_lines(
        &raw,
        first_nl + 1,
        head_end,
        super::parse::HeadLimits::NONE,
    )
    .ok()?;
    let lenient = Message {
        start: super::StartLine::Request {
            method: Method::Options,
            uri: Bytes::new(),
        },
        src: raw,
        fields,
        body: Bytes::new(),
    };
    lenient.header(&HeaderName::Via)?;
    let mut spec = ResponseSpec::new(status, &reason);
    if let Fault::BadExtension(tags) = &err.fault {
        spec = spec.header(HeaderName::Unsupported, &tags.join(", "));
    }
    Some(lenient.build_response(spec.to_tag(to_tag)))
}
