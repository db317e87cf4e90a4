//! Building and serializing messages.

use bytes::{BufMut, Bytes, BytesMut};

use super::{Field, FieldValue, HeaderName, Message, Method, StartLine};

/// The usual reason phrase of a status code.
pub fn default_reason(code: u16) -> &'static str {
    match code {
        100 => "Trying",
        180 => "Ringing",
        181 => "Call Is Being Forwarded",
        182 => "Queued",
        183 => "Session Progress",
        200 => "OK",
        202 => "Accepted",
        300 => "Multiple Choices",
        301 => "Moved Permanently",
        302 => "Moved Temporarily",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        407 => "Proxy Authentication Required",
        408 => "Request Timeout",
        415 => "Unsupported Media Type",
        416 => "Unsupported URI Scheme",
        420 => "Bad Extension",
        422 => "Session Interval Too Small",
        423 => "Interval Too Brief",
        429 => "Too Many Requests",
        480 => "Temporarily Unavailable",
        481 => "Call/Transaction Does Not Exist",
        482 => "Loop Detected",
        483 => "Too Many Hops",
        486 => "Busy Here",
        487 => "Request Terminated",
        488 => "Not Acceptable Here",
        491 => "Request Pending",
        500 => "Server Internal Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        504 => "Server Time-out",
        505 => "Version Not Supported",
        513 => "Message Too Large",
        603 => "Decline",
        _ => "Unknown",
    }
}

/// What to put in a response built from a request (RFC 3261 §8.2.6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseSpec {
    status: u16,
    reason: String,
    to_tag: Option<String>,
    headers: Vec<(HeaderName, String)>,
    body: Option<(String, Bytes)>,
}

impl ResponseSpec {
    /// A response with this code and reason phrase.
    pub fn new(status: u16, reason: &str) -> Self {
        ResponseSpec {
            status,
            reason: reason.to_owned(),
            to_tag: None,
            headers: Vec::new(),
            body: None,
        }
    }

    /// A response with the usual reason phrase.
    pub fn code(status: u16) -> Self {
        ResponseSpec::new(status, default_reason(status))
    }

    /// Adds a To tag when the request's To has none (every response but 100).
    pub fn to_tag(mut self, tag: &str) -> Self {
        self.to_tag = Some(tag.to_owned());
        self
    }

    /// Adds a header.
    pub fn header(mut self, name: HeaderName, value: &str) -> Self {
        self.headers.push((name, value.to_owned()));
        self
    }

    /// Sets the body and its Content-Type.
    pub fn body(mut self, content_type: &str, body: Bytes) -> Self {
        self.body = Some((content_type.to_owned(), body));
        self
    }
}

impl Message {
    /// A new request with no headers.
    pub fn request(method: Method, uri: &str) -> Message {
        Message {
            start: StartLine::Request {
                method,
                uri: Bytes::copy_from_slice(uri.as_bytes()),
            },
            src: Bytes::new(),
            fields: Vec::with_capacity(12),
            body: Bytes::new(),
        }
    }

    /// A new response with no headers.
    pub fn response(code: u16, reason: &str) -> Message {
        Message {
            start: StartLine::Response {
                code,
                reason: Bytes::copy_from_slice(reason.as_bytes()),
            },
            src: Bytes::new(),
            fields: Vec::with_capacity(12),
            body: Bytes::new(),
        }
    }

    /// Appends a header line.
    pub fn push_header(&mut self, name: HeaderName, value: &str) {
        self.fields
            .push(Field::owned(name, Bytes::copy_from_slice(value.as_bytes())));
    }

    /// Appends a header line whose value is already [`Bytes`] (no copy).
    pub fn push_header_bytes(&mut self, name: HeaderName, value: Bytes) {
        self.fields.push(Field::owned(name, value));
    }

    /// Builder form of [`Message::push_header`].
    pub fn with_header(mut self, name: HeaderName, value: &str) -> Message {
        self.push_header(name, value);
        self
    }

    /// Inserts a header line first (e.g. a new top Via or Route).
    pub fn prepend_header(&mut self, name: HeaderName, value: &str) {
        self.fields.insert(
            0,
            Field::owned(name, Bytes::copy_from_slice(value.as_bytes())),
        );
    }

    /// Replaces the value of the first line of a header (appends when absent).
    pub fn replace_first_header(&mut self, name: &HeaderName, value: &str) {
        match self.fields.iter_mut().find(|h| &h.name == name) {
            Some(h) => h.value = FieldValue::Owned(Bytes::copy_from_slice(value.as_bytes())),
            None => self.push_header(name.clone(), value),
        }
    }

    /// Removes every line of a header.
    pub fn remove_header(&mut self, name: &HeaderName) {
        self.fields.retain(|h| &h.name != name);
    }

    /// Replaces every line of a header by one value.
    pub fn set_header(&mut self, name: HeaderName, value: &str) {
        self.remove_header(&name);
        self.push_header(name, value);
    }

    /// Sets the body and Content-Type (Content-Length is written by the serializer).
    pub fn set_body(&mut self, content_type: &str, body: Bytes) {
        self.set_header(HeaderName::ContentType, content_type);
        self.body = body;
    }

    /// Builds a response to this request: copies Via, From, To (adding the tag), Call-ID,
    /// CSeq and, for 101–299, Record-Route.
    pub fn build_response(&self, spec: ResponseSpec) -> Message {
        let mut resp = Message::response(spec.status, &spec.reason);
        for h in &self.fields {
            let copy = match h.name {
                HeaderName::Via | HeaderName::From | HeaderName::CallId | HeaderName::CSeq => true,
                HeaderName::RecordRoute => (101..300).contains(&spec.status),
                _ => false,
            };
            if copy {
                resp.fields
                    .push(Field::owned(h.name.clone(), self.field_bytes(h)));
            } else if h.name == HeaderName::To {
                let value = self.field_str(h);
                let has_tag = super::NameAddr::parse(value)
                    .ok()
                    .and_then(|a| a.tag())
                    .is_some();
                match (&spec.to_tag, has_tag, spec.status) {
                    (Some(tag), false, s) if s > 100 => {
                        let mut v = String::with_capacity(value.len() + tag.len() + 5);
                        v.push_str(value);
                        v.push_str(";tag=");
                        v.push_str(tag);
                        resp.push_header(HeaderName::To, &v);
                    }
                    _ => resp
                        .fields
                        .push(Field::owned(HeaderName::To, self.field_bytes(h))),
                }
            }
        }
        for (n, v) in spec.headers {
            resp.push_header(n, &v);
        }
        if let Some((ct, body)) = spec.body {
            resp.set_body(&ct, body);
        }
        resp
    }

    /// Exact number of bytes [`Message::write_to`] writes.
    fn encoded_len(&self) -> usize {
        let start = match &self.start {
            StartLine::Request { method, uri } => method.as_str().len() + uri.len() + 11,
            StartLine::Response { reason, .. } => reason.len() + 14,
        };
        let headers: usize = self
            .fields
            .iter()
            .filter(|h| h.name != HeaderName::ContentLength)
            .map(|h| h.name.as_str().len() + self.field_str(h).len() + 4)
            .sum();
        start + headers + 40 + self.body.len()
    }

    /// Serializes into `buf`; Content-Length is always written from the body length.
    pub fn write_to(&self, buf: &mut BytesMut) {
        buf.reserve(self.encoded_len());
        match &self.start {
            StartLine::Request { method, uri } => {
                buf.put_slice(method.as_str().as_bytes());
                buf.put_u8(b' ');
                buf.put_slice(uri);
                buf.put_slice(b" SIP/2.0\r\n");
            }
            StartLine::Response { code, reason } => {
                buf.put_slice(b"SIP/2.0 ");
                let mut digits = [0u8; 3];
                digits[0] = b'0' + u8::try_from(code / 100 % 10).unwrap_or(0);
                digits[1] = b'0' + u8::try_from(code / 10 % 10).unwrap_or(0);
                digits[2] = b'0' + u8::try_from(code % 10).unwrap_or(0);
                buf.put_slice(&digits);
                buf.put_u8(b' ');
                buf.put_slice(reason);
                buf.put_slice(b"\r\n");
            }
        }
        for h in self
            .fields
            .iter()
            .filter(|h| h.name != HeaderName::ContentLength)
        {
            buf.put_slice(h.name.as_str().as_bytes());
            buf.put_slice(b": ");
            buf.put_slice(self.field_str(h).as_bytes());
            buf.put_slice(b"\r\n");
        }
        buf.put_slice(b"Content-Length: ");
        buf.put_slice(self.body.len().to_string().as_bytes());
        buf.put_slice(b"\r\n\r\n");
        buf.put_slice(&self.body);
    }

    /// Serializes to a new buffer.
    pub fn to_bytes(&self) -> Bytes {
        let mut buf = BytesMut::new();
        self.write_to(&mut buf);
        buf.freeze()
    }
}
