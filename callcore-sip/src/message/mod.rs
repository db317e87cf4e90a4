//! SIP messages (RFC 3261 §7, §20, §25): a zero-copy parser over [`bytes::Bytes`], typed
//! header access, a serializer and builders, and stream framing for TCP.
//!
//! ```
//! use bytes::Bytes;
//! use callcore_sip::message::{Message, Method};
//! let raw = Bytes::from_static(b"OPTIONS sip:queue@pbx.example.com SIP/2.0\r\n\
//! v: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKa1\r\n\
//! f: <sip:caller@example.com>;tag=1\r\nt: <sip:queue@pbx.example.com>\r\n\
//! i: abc@192.0.2.1\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nl: 0\r\n\r\n");
//! let msg = Message::parse(raw).unwrap();
//! assert_eq!(msg.method(), Some(&Method::Options));
//! assert_eq!(msg.call_id().unwrap(), "abc@192.0.2.1");
//! assert_eq!(msg.from().unwrap().tag(), Some("1"));
//! let again = Message::parse(msg.to_bytes()).unwrap();
//! assert_eq!(again.cseq().unwrap().seq, 1);
//! ```

mod access;
mod addr;
mod build;
mod fault;
mod framing;
pub(crate) mod lex;
mod name;
mod parse;
mod typed;
mod uri;
mod validate;
mod via;

pub use addr::{ContactValue, NameAddr};
pub use build::{ResponseSpec, default_reason};
pub use fault::{Fault, MessageKind, ParseError, Verdict};
pub use framing::StreamFramer;
pub use lex::{Params, unquote};
pub use name::HeaderName;
pub use parse::{DEFAULT_MAX_HEADER_LINES, DEFAULT_MAX_LINE_LEN, DEFAULT_MAX_SIZE, ParseOptions};
pub use typed::{AuthValue, CSeq, MediaType, Reason, Refresher, Replaces, SessionExpires};
pub use uri::{Scheme, Uri, UriError};
pub use validate::{AdmissionPolicy, error_response};
pub use via::{BRANCH_MAGIC, Via};

use bytes::Bytes;
use std::fmt;

/// A SIP method. Methods are case-sensitive.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Method {
    /// INVITE
    Invite,
    /// ACK
    Ack,
    /// BYE
    Bye,
    /// CANCEL
    Cancel,
    /// OPTIONS
    Options,
    /// REGISTER
    Register,
    /// PRACK (RFC 3262)
    Prack,
    /// SUBSCRIBE
    Subscribe,
    /// NOTIFY
    Notify,
    /// PUBLISH
    Publish,
    /// INFO
    Info,
    /// REFER (RFC 3515)
    Refer,
    /// MESSAGE
    Message,
    /// UPDATE (RFC 3311)
    Update,
    /// An extension method token.
    Other(Box<str>),
}

impl Method {
    /// Classifies a method token (case-sensitive, as RFC 3261 says).
    pub fn from_token(s: &str) -> Method {
        match s {
            "INVITE" => Method::Invite,
            "ACK" => Method::Ack,
            "BYE" => Method::Bye,
            "CANCEL" => Method::Cancel,
            "OPTIONS" => Method::Options,
            "REGISTER" => Method::Register,
            "PRACK" => Method::Prack,
            "SUBSCRIBE" => Method::Subscribe,
            "NOTIFY" => Method::Notify,
            "PUBLISH" => Method::Publish,
            "INFO" => Method::Info,
            "REFER" => Method::Refer,
            "MESSAGE" => Method::Message,
            "UPDATE" => Method::Update,
            other => Method::Other(other.into()),
        }
    }

    /// The token.
    pub fn as_str(&self) -> &str {
        match self {
            Method::Invite => "INVITE",
            Method::Ack => "ACK",
            Method::Bye => "BYE",
            Method::Cancel => "CANCEL",
            Method::Options => "OPTIONS",
            Method::Register => "REGISTER",
            Method::Prack => "PRACK",
            Method::Subscribe => "SUBSCRIBE",
            Method::Notify => "NOTIFY",
            Method::Publish => "PUBLISH",
            Method::Info => "INFO",
            Method::Refer => "REFER",
            Method::Message => "MESSAGE",
            Method::Update => "UPDATE",
            Method::Other(s) => s,
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The first line of a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartLine {
    /// `METHOD uri SIP/2.0`
    Request {
        /// Method.
        method: Method,
        /// Request-URI text.
        uri: Bytes,
    },
    /// `SIP/2.0 code reason`
    Response {
        /// Status code 100..=699.
        code: u16,
        /// Reason phrase (may be empty).
        reason: Bytes,
    },
}

/// Where a header value lives: a span of the parsed text (no copy, no reference count)
/// or bytes of its own (built messages, replaced values).
#[derive(Clone, PartialEq, Eq)]
enum FieldValue {
    Span { start: u32, end: u32 },
    Owned(Bytes),
}

/// One header line (folded continuation lines included in the value).
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Field {
    name: HeaderName,
    value: FieldValue,
}

impl Field {
    fn owned(name: HeaderName, value: Bytes) -> Field {
        Field {
            name,
            value: FieldValue::Owned(value),
        }
    }
}

/// A SIP request or response.
///
/// A parsed message keeps the received [`Bytes`] and records, in one pass, where each
/// header line's name and value are; typed headers are parsed from those spans when they
/// are read, and borrow from the message.
#[derive(Clone, PartialEq, Eq)]
pub struct Message {
    start: StartLine,
    /// The parsed text the spans of `fields` point into (empty for built messages).
    src: Bytes,
    fields: Vec<Field>,
    body: Bytes,
}

impl fmt::Debug for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Headers carry caller numbers: log only the shape of the message.
        let mut d = f.debug_struct("Message");
        match &self.start {
            StartLine::Request { method, .. } => d.field("method", method),
            StartLine::Response { code, .. } => d.field("code", code),
        };
        d.field("headers", &self.fields.len())
            .field("body_len", &self.body.len())
            .finish()
    }
}

impl Message {
    /// The text of a field's value.
    #[inline]
    fn field_str<'a>(&'a self, f: &'a Field) -> &'a str {
        let b: &[u8] = match &f.value {
            FieldValue::Span { start, end } => self
                .src
                .get(*start as usize..*end as usize)
                .unwrap_or_default(),
            FieldValue::Owned(b) => b,
        };
        std::str::from_utf8(b).unwrap_or("")
    }

    /// A field's value as shared bytes (a slice of the message, no copy).
    fn field_bytes(&self, f: &Field) -> Bytes {
        match &f.value {
            FieldValue::Span { start, end } => {
                let (s, e) = (*start as usize, *end as usize);
                if s <= e && e <= self.src.len() {
                    self.src.slice(s..e)
                } else {
                    Bytes::new()
                }
            }
            FieldValue::Owned(b) => b.clone(),
        }
    }

    /// The start line.
    pub fn start_line(&self) -> &StartLine {
        &self.start
    }

    /// True for requests.
    pub fn is_request(&self) -> bool {
        matches!(self.start, StartLine::Request { .. })
    }

    /// The method of a request.
    pub fn method(&self) -> Option<&Method> {
        match &self.start {
            StartLine::Request { method, .. } => Some(method),
            StartLine::Response { .. } => None,
        }
    }

    /// The status code of a response.
    pub fn status(&self) -> Option<u16> {
        match &self.start {
            StartLine::Response { code, .. } => Some(*code),
            StartLine::Request { .. } => None,
        }
    }

    /// The reason phrase of a response.
    pub fn reason_phrase(&self) -> Option<&str> {
        match &self.start {
            StartLine::Response { reason, .. } => std::str::from_utf8(reason).ok(),
            StartLine::Request { .. } => None,
        }
    }

    /// The Request-URI text of a request.
    pub fn request_uri_str(&self) -> Option<&str> {
        match &self.start {
            StartLine::Request { uri, .. } => std::str::from_utf8(uri).ok(),
            StartLine::Response { .. } => None,
        }
    }

    /// The parsed Request-URI of a request.
    pub fn request_uri(&self) -> Option<Uri<'_>> {
        self.request_uri_str().and_then(|u| Uri::parse(u).ok())
    }

    /// All header lines in order: name and value (folded lines joined, trimmed).
    pub fn headers(&self) -> impl Iterator<Item = (&HeaderName, &str)> + '_ {
        self.fields.iter().map(|f| (&f.name, self.field_str(f)))
    }

    /// Number of header lines.
    pub fn header_count(&self) -> usize {
        self.fields.len()
    }

    /// The body (opaque; multipart bodies are not split).
    pub fn body(&self) -> &Bytes {
        &self.body
    }

    /// Values of every line of header `name`, in order, each line whole.
    pub fn header_lines<'a>(
        &'a self,
        name: &HeaderName,
    ) -> impl Iterator<Item = &'a str> + use<'a> {
        let name = name.clone();
        self.fields
            .iter()
            .filter(move |f| f.name == name)
            .map(move |f| self.field_str(f))
    }

    /// Values of every line of header `name` as slices of the message (no copy).
    pub(crate) fn header_lines_bytes<'a>(
        &'a self,
        name: &'a HeaderName,
    ) -> impl Iterator<Item = Bytes> + 'a {
        self.fields
            .iter()
            .filter(move |f| &f.name == name)
            .map(|f| self.field_bytes(f))
    }

    /// The first line of header `name`.
    pub fn header(&self, name: &HeaderName) -> Option<&str> {
        self.fields
            .iter()
            .find(|f| &f.name == name)
            .map(|f| self.field_str(f))
    }

    /// The first line of a header looked up by text (full or compact, any case).
    pub fn header_named(&self, name: &str) -> Option<&str> {
        let n = HeaderName::from_name(name);
        self.header(&n)
    }

    /// Every comma-separated value of header `name`, over all its lines.
    pub fn header_values<'a>(
        &'a self,
        name: &HeaderName,
    ) -> impl Iterator<Item = &'a str> + use<'a> {
        let comma_list = name.is_comma_safe_list();
        self.header_lines(name).flat_map(move |line| {
            let parts: Vec<&str> = if comma_list {
                lex::split_outside(line, b',')
                    .map(|s| s.map(lex::trim_lws).filter(|v| !v.is_empty()).collect())
                    .unwrap_or_else(|| vec![line])
            } else {
                vec![line]
            };
            parts.into_iter()
        })
    }
}
