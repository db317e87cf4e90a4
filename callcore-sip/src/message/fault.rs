//! Parse faults and the answer a UAS gives to each (RFC 3261 §8.2, §16.3, §18.3;
//! RFC 4475 §3).

use std::borrow::Cow;
use std::fmt;

use super::HeaderName;

/// What kind of message a fault was found in (decides whether it can be answered).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageKind {
    /// A request: faults are answered with a response.
    Request,
    /// A response: faults are dropped (responses are never answered).
    Response,
    /// Not recognisable as SIP at all: dropped.
    Unknown,
}

/// What is wrong with a message.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fault {
    /// Empty datagram or only white space.
    Empty,
    /// The header section does not end with an empty line.
    Incomplete,
    /// The start line breaks the grammar; names the part.
    BadStartLine(&'static str),
    /// A `SIP/x.y` version other than 2.0.
    VersionNotSupported,
    /// A well-formed Request-URI whose scheme we do not serve (sip, sips, tel only).
    UnsupportedUriScheme,
    /// The header section is not valid UTF-8.
    BadUtf8,
    /// A header line without `name:`.
    BadHeaderLine,
    /// A header value breaks its grammar.
    BadHeader {
        /// Which header.
        header: HeaderName,
        /// What is wrong.
        why: &'static str,
    },
    /// A mandatory header is absent.
    MissingHeader(HeaderName),
    /// A header that may appear once appears several times.
    DuplicateHeader(HeaderName),
    /// CSeq method differs from the request method.
    CSeqMethodMismatch,
    /// Content-Length announces more bytes than the datagram carries.
    BodyTruncated,
    /// Larger than the configured maximum message size.
    TooLarge,
    /// More header lines than the configured maximum.
    TooManyHeaderLines,
    /// A line longer than the configured maximum.
    LineTooLong,
    /// Max-Forwards reached 0 on a request we would forward.
    TooManyHops,
    /// `Require` lists extensions we do not support (listed).
    BadExtension(Vec<String>),
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fault::Empty => f.write_str("Empty message"),
            Fault::Incomplete => f.write_str("Incomplete header section"),
            Fault::BadStartLine(w) => write!(f, "Malformed start line: {w}"),
            Fault::VersionNotSupported => f.write_str("SIP version not supported"),
            Fault::UnsupportedUriScheme => f.write_str("Unsupported URI scheme"),
            Fault::BadUtf8 => f.write_str("Header section is not UTF-8"),
            Fault::BadHeaderLine => f.write_str("Malformed header line"),
            Fault::BadHeader { header, why } => write!(f, "Bad {header} header: {why}"),
            Fault::MissingHeader(h) => write!(f, "Missing {h} header"),
            Fault::DuplicateHeader(h) => write!(f, "Multiple {h} headers"),
            Fault::CSeqMethodMismatch => f.write_str("CSeq method does not match request method"),
            Fault::BodyTruncated => f.write_str("Content-Length larger than message"),
            Fault::TooLarge => f.write_str("Message too large"),
            Fault::TooManyHeaderLines => f.write_str("Too many header lines"),
            Fault::LineTooLong => f.write_str("Header line too long"),
            Fault::TooManyHops => f.write_str("Too many hops"),
            Fault::BadExtension(e) => write!(f, "Unsupported extension: {}", e.join(", ")),
        }
    }
}

/// What a UAS does with a faulty message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Answer with this status code and reason phrase.
    Respond {
        /// Status code (400, 416, 420, 483, 505, 513).
        status: u16,
        /// Reason phrase naming the fault.
        reason: Cow<'static, str>,
    },
    /// Silently discard (responses, unrecognisable datagrams).
    Drop,
}

/// A message that could not be accepted: the fault and the kind of message it was in.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{fault}")]
pub struct ParseError {
    /// What is wrong.
    pub fault: Fault,
    /// Where it was found.
    pub kind: MessageKind,
}

impl ParseError {
    pub(crate) fn new(fault: Fault, kind: MessageKind) -> Self {
        ParseError { fault, kind }
    }

    /// The answer a UAS sends (RFC 3261 and RFC 4475), or `Drop`.
    ///
    /// ```
    /// use callcore_sip::message::{Message, Verdict};
    /// let raw = "INVITE sip:a@b SIP/7.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n\r\n";
    /// let err = Message::parse(bytes::Bytes::from(raw)).unwrap_err();
    /// assert!(matches!(err.verdict(), Verdict::Respond { status: 505, .. }));
    /// ```
    pub fn verdict(&self) -> Verdict {
        if self.kind != MessageKind::Request {
            return Verdict::Drop;
        }
        let status = match &self.fault {
            Fault::Empty => return Verdict::Drop,
            Fault::VersionNotSupported => 505,
            Fault::UnsupportedUriScheme => 416,
            Fault::TooLarge | Fault::TooManyHeaderLines | Fault::LineTooLong => 513,
            Fault::TooManyHops => 483,
            Fault::BadExtension(_) => 420,
            _ => 400,
        };
        let reason: Cow<'static, str> = match &self.fault {
            Fault::VersionNotSupported => "Version Not Supported".into(),
            Fault::UnsupportedUriScheme => "Unsupported URI Scheme".into(),
            Fault::TooLarge => "Message Too Large".into(),
            Fault::TooManyHeaderLines => "Too Many Header Lines".into(),
            Fault::LineTooLong => "Header Line Too Long".into(),
            Fault::TooManyHops => "Too Many Hops".into(),
            Fault::BadExtension(_) => "Bad Extension".into(),
            other => other.to_string().into(),
        };
        Verdict::Respond { status, reason }
    }
}
