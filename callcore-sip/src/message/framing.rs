//! Stream framing for TCP/TLS: cuts whole messages out of a byte stream using the
//! Content-Length header (RFC 3261 §18.3), skipping CRLF keep-alives (RFC 5626 §3.5.1).

use bytes::{Buf, Bytes, BytesMut};

use super::fault::{Fault, MessageKind, ParseError};
use super::parse::{DEFAULT_MAX_SIZE, find_head_end};

/// Accumulates stream bytes and yields complete message frames.
///
/// ```
/// use callcore_sip::message::StreamFramer;
/// let mut f = StreamFramer::default();
/// f.push(b"\r\n\r\nOPTIONS sip:a@b SIP/2.0\r\nContent-Length: 2\r\n\r\nhi");
/// f.push(b"OPTIONS sip:a@b SIP/2.0\r\nl: 0\r\n");
/// assert_eq!(f.next_frame().unwrap().unwrap().len(), 48);
/// assert!(f.next_frame().unwrap().is_none());
/// f.push(b"\r\n");
/// assert!(f.next_frame().unwrap().is_some());
/// ```
#[derive(Debug)]
pub struct StreamFramer {
    buf: BytesMut,
    max_size: usize,
}

impl Default for StreamFramer {
    fn default() -> Self {
        StreamFramer::new(DEFAULT_MAX_SIZE)
    }
}

impl StreamFramer {
    /// A framer refusing messages larger than `max_size`.
    pub fn new(max_size: usize) -> Self {
        StreamFramer {
            buf: BytesMut::with_capacity(4096),
            max_size,
        }
    }

    /// Appends received bytes.
    pub fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// Takes the bytes not yet framed (up to `max_size`), e.g. to answer a message whose
    /// framing failed before closing the stream; the framer is left empty.
    pub fn take_pending(&mut self) -> Bytes {
        let keep = self.buf.len().min(self.max_size);
        let pending = self.buf.split_to(keep).freeze();
        self.buf.clear();
        pending
    }

    /// The next whole message, `Ok(None)` when more bytes are needed. An error means the
    /// stream cannot be resynchronised and should be closed (after answering if possible).
    pub fn next_frame(&mut self) -> Result<Option<Bytes>, ParseError> {
        let lead = self
            .buf
            .iter()
            .take_while(|b| matches!(b, b'\r' | b'\n'))
            .count();
        self.buf.advance(lead);
        let Some((_, body_start)) = find_head_end(&self.buf) else {
            if self.buf.len() > self.max_size {
                return Err(ParseError::new(Fault::TooLarge, MessageKind::Unknown));
            }
            return Ok(None);
        };
        let kind = if self.buf.starts_with(b"SIP/") {
            MessageKind::Response
        } else {
            MessageKind::Request
        };
        let cl = content_length(&self.buf[..body_start]).ok_or_else(|| {
            ParseError::new(
                Fault::BadHeader {
                    header: super::HeaderName::ContentLength,
                    why: "missing or invalid on a stream",
                },
                kind,
            )
        })?;
        let total = body_start.saturating_add(cl);
        if total > self.max_size {
            return Err(ParseError::new(Fault::TooLarge, kind));
        }
        if self.buf.len() < total {
            return Ok(None);
        }
        Ok(Some(self.buf.split_to(total).freeze()))
    }
}

/// Finds Content-Length (full or compact name) in a header section.
fn content_length(head: &[u8]) -> Option<usize> {
    let mut found = None;
    for line in head.split(|b| *b == b'\n').skip(1) {
        let Some(colon) = line.iter().position(|b| *b == b':') else {
            continue;
        };
        let name = line[..colon].trim_ascii();
        if name.eq_ignore_ascii_case(b"content-length") || name.eq_ignore_ascii_case(b"l") {
            let v = std::str::from_utf8(line[colon + 1..].trim_ascii()).ok()?;
            let n = super::lex::parse_decimal(v, u64::from(u32::MAX))?;
            if found.is_some() {
                return None;
            }
            found = Some(usize::try_from(n).ok()?);
        }
    }
    found
}
