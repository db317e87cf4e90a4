//! The zero-copy parser: start line, header lines (with folding), Content-Length body.

use bytes::Bytes;
use memchr::memchr;

use super::fault::{Fault, MessageKind, ParseError};
use super::lex::{is_token_byte, trim_lws};
use super::uri::{Scheme, Uri, looks_like_absolute_uri};
use super::{Field, FieldValue, HeaderName, Message, Method, StartLine};

/// Default maximum message size (RFC 3261 §18.1.1 allows big TCP messages; 64 KiB is
/// plenty for a call center and bounds memory per source).
pub const DEFAULT_MAX_SIZE: usize = 65_535;

/// Default maximum number of lines in a header section (folded continuations
/// count): every header line costs memory for as long as the message is kept, so a
/// message of many short lines is refused before it is stored.
pub const DEFAULT_MAX_HEADER_LINES: usize = 256;

/// Default maximum length of one line (start line or header line), in bytes.
pub const DEFAULT_MAX_LINE_LEN: usize = 8192;

/// How to parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParseOptions {
    /// Messages longer than this are refused with [`Fault::TooLarge`] (513).
    pub max_size: usize,
    /// True for a whole datagram (UDP): the body is the rest of the datagram, checked
    /// against Content-Length. False for a frame cut by [`super::StreamFramer`].
    pub datagram: bool,
    /// Header sections with more lines are refused with
    /// [`Fault::TooManyHeaderLines`] (513).
    pub max_header_lines: usize,
    /// Lines longer than this are refused with [`Fault::LineTooLong`] (513).
    pub max_line_len: usize,
}

impl Default for ParseOptions {
    fn default() -> Self {
        ParseOptions {
            max_size: DEFAULT_MAX_SIZE,
            datagram: true,
            max_header_lines: DEFAULT_MAX_HEADER_LINES,
            max_line_len: DEFAULT_MAX_LINE_LEN,
        }
    }
}

/// Bounds on a header section (see [`ParseOptions`]).
#[derive(Debug, Clone, Copy)]
pub(crate) struct HeadLimits {
    pub(crate) lines: usize,
    pub(crate) line_len: usize,
}

impl HeadLimits {
    /// No bounds (answering a faulty request: the parse is short-lived).
    pub(crate) const NONE: HeadLimits = HeadLimits {
        lines: usize::MAX,
        line_len: usize::MAX,
    };
}

fn kind_of(bytes: &[u8]) -> MessageKind {
    if bytes.starts_with(b"SIP/") || bytes.starts_with(b"sip/") {
        MessageKind::Response
    } else if bytes.first().is_some_and(|b| is_token_byte(*b)) {
        MessageKind::Request
    } else {
        MessageKind::Unknown
    }
}

/// Finds the end of the header section: index of the blank line and start of body.
/// The first empty line wins, whether it ends in CRLF or a bare LF.
pub(crate) fn find_head_end(b: &[u8]) -> Option<(usize, usize)> {
    let mut from = 0;
    while let Some(i) = memchr(b'\n', &b[from..]).map(|i| from + i) {
        match b.get(i + 1) {
            Some(b'\n') => return Some((i + 1, i + 2)),
            Some(b'\r') if b.get(i + 2) == Some(&b'\n') => return Some((i + 1, i + 3)),
            _ => from = i + 1,
        }
    }
    None
}

impl Message {
    /// Parses a whole datagram strictly: grammar and RFC 3261 §8.2 checks (mandatory
    /// headers, single-valued headers, CSeq/method agreement, Content-Length, and the
    /// grammar of every Via, From, To, Contact, Route, Record-Route...).
    pub fn parse(bytes: Bytes) -> Result<Message, ParseError> {
        Message::parse_with(bytes, ParseOptions::default())
    }

    /// Parses strictly with options.
    pub fn parse_with(bytes: Bytes, opts: ParseOptions) -> Result<Message, ParseError> {
        let msg = Message::parse_lenient(bytes, opts)?;
        msg.validate()?;
        Ok(msg)
    }

    /// Parses the envelope only, in one pass: start line (with the Request-URI), where
    /// each header line is, Content-Length and body, the mandatory headers (Via, From,
    /// To, Call-ID, CSeq) present once and CSeq agreeing with the method. Every other
    /// header's grammar is checked when it is read (the typed accessors return a
    /// [`ParseError`] naming the fault); [`Message::validate`] checks them all.
    pub fn parse_lazy(bytes: Bytes) -> Result<Message, ParseError> {
        let msg = Message::parse_lenient(bytes, ParseOptions::default())?;
        msg.check_envelope()?;
        Ok(msg)
    }

    /// Splits a message into start line, header lines and body without checking header
    /// grammar (used to answer faulty requests).
    pub fn parse_lenient(bytes: Bytes, opts: ParseOptions) -> Result<Message, ParseError> {
        // RFC 3261 §7.5: ignore CRLFs before the start line.
        let lead = bytes
            .iter()
            .take_while(|b| matches!(b, b'\r' | b'\n'))
            .count();
        let bytes = if lead > 0 { bytes.slice(lead..) } else { bytes };
        let kind = kind_of(&bytes);
        let err = |f| ParseError::new(f, kind);
        if bytes.first().is_none_or(u8::is_ascii_whitespace)
            && bytes.iter().all(u8::is_ascii_whitespace)
        {
            return Err(ParseError::new(Fault::Empty, MessageKind::Unknown));
        }
        if bytes.len() > opts.max_size || bytes.len() > u32::MAX as usize {
            return Err(err(Fault::TooLarge));
        }
        let (head_end, body_start) = match find_head_end(&bytes) {
            Some(x) => x,
            // A datagram whose last header line ends the datagram: lenient, no body.
            None if opts.datagram && bytes.ends_with(b"\n") => (bytes.len(), bytes.len()),
            None => return Err(err(Fault::Incomplete)),
        };
        if std::str::from_utf8(&bytes[..head_end]).is_err() {
            return Err(err(Fault::BadUtf8));
        }
        let line_end = memchr(b'\n', &bytes[..head_end]).ok_or_else(|| err(Fault::Incomplete))?;
        let first = strip_cr(&bytes[..line_end]);
        if first.len() > opts.max_line_len {
            return Err(err(Fault::LineTooLong));
        }
        let start = parse_start_line(&bytes, first.len(), kind)?;

        let limits = HeadLimits {
            lines: opts.max_header_lines,
            line_len: opts.max_line_len,
        };
        let fields = parse_header_lines(&bytes, line_end + 1, head_end, limits).map_err(err)?;
        let mut msg = Message {
            start,
            src: bytes,
            fields,
            body: Bytes::new(),
        };
        msg.body = msg.body_slice(body_start, opts, kind)?;
        Ok(msg)
    }

    fn body_slice(
        &self,
        body_start: usize,
        opts: ParseOptions,
        kind: MessageKind,
    ) -> Result<Bytes, ParseError> {
        let err = |f| ParseError::new(f, kind);
        let mut cl = self
            .fields
            .iter()
            .filter(|h| h.name == HeaderName::ContentLength);
        let declared = match cl.next() {
            None => None,
            Some(h) => {
                if cl.next().is_some() {
                    return Err(err(Fault::DuplicateHeader(HeaderName::ContentLength)));
                }
                let v = trim_lws(self.field_str(h));
                let n = super::lex::parse_decimal(v, u64::from(u32::MAX)).ok_or_else(|| {
                    err(Fault::BadHeader {
                        header: HeaderName::ContentLength,
                        why: "not a non-negative integer",
                    })
                })?;
                Some(usize::try_from(n).unwrap_or(usize::MAX))
            }
        };
        let bytes = &self.src;
        let available = bytes.len().saturating_sub(body_start);
        match declared {
            Some(n) if n > available => Err(err(Fault::BodyTruncated)),
            Some(0) => Ok(Bytes::new()),
            Some(n) => Ok(bytes.slice(body_start..body_start + n)),
            None if opts.datagram && body_start < bytes.len() => Ok(bytes.slice(body_start..)),
            None => Ok(Bytes::new()),
        }
    }
}

/// Records the header lines between `pos` and `head_end` as spans, joining folded lines.
pub(crate) fn parse_header_lines(
    bytes: &Bytes,
    mut pos: usize,
    head_end: usize,
    limits: HeadLimits,
) -> Result<Vec<Field>, Fault> {
    // One field per line at most: size the vector once (it lives as long as the
    // message, e.g. in a lingering transaction).
    let lines = memchr::memchr_iter(b'\n', &bytes[pos.min(head_end)..head_end]).count() + 1;
    // `lines` counts the line after the last newline, empty in a whole head.
    if lines.saturating_sub(1) > limits.lines {
        return Err(Fault::TooManyHeaderLines);
    }
    let mut fields: Vec<Field> = Vec::with_capacity(lines);
    // Where the value of the last field starts (None while it is still empty).
    let mut last_value_start: Option<usize> = None;
    let b: &[u8] = bytes;
    while pos < head_end {
        let nl = memchr(b'\n', &b[pos..head_end]).map_or(head_end, |i| pos + i);
        let line_end = if nl > pos && b[nl - 1] == b'\r' {
            nl - 1
        } else {
            nl
        };
        if line_end == pos {
            pos = nl + 1;
            continue;
        }
        if line_end - pos > limits.line_len {
            return Err(Fault::LineTooLong);
        }
        if matches!(b[pos], b' ' | b'\t') {
            // Folded continuation: extend the previous value.
            let last = fields.last_mut().ok_or(Fault::BadHeaderLine)?;
            let value_start = match last_value_start {
                Some(v) => v,
                // The value starts on this continuation line.
                None => {
                    pos + b[pos..line_end]
                        .iter()
                        .take_while(|c| matches!(c, b' ' | b'\t'))
                        .count()
                }
            };
            let end = trim_end(b, value_start, line_end);
            if end > value_start {
                last.value = span(value_start, end);
                last_value_start = Some(value_start);
            }
            pos = nl + 1;
            continue;
        }
        let line = &b[pos..line_end];
        let colon = memchr(b':', line).ok_or(Fault::BadHeaderLine)?;
        let mut name_end = colon;
        while name_end > 0 && matches!(line[name_end - 1], b' ' | b'\t') {
            name_end -= 1;
        }
        if name_end == 0 || !line[..name_end].iter().all(|c| is_token_byte(*c)) {
            return Err(Fault::BadHeaderLine);
        }
        let name = HeaderName::from_raw(bytes, pos, pos + name_end);
        let mut vs = pos + colon + 1;
        while vs < line_end && matches!(b[vs], b' ' | b'\t') {
            vs += 1;
        }
        let ve = trim_end(b, vs, line_end);
        last_value_start = (ve > vs).then_some(vs);
        fields.push(Field {
            name,
            value: span(vs, ve),
        });
        pos = nl + 1;
    }
    Ok(fields)
}

#[inline]
fn span(start: usize, end: usize) -> FieldValue {
    // parse_lenient refuses messages longer than u32::MAX first.
    FieldValue::Span {
        start: u32::try_from(start).unwrap_or(u32::MAX),
        end: u32::try_from(end).unwrap_or(u32::MAX),
    }
}

fn strip_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

fn trim_end(bytes: &[u8], start: usize, mut end: usize) -> usize {
    while end > start && matches!(bytes[end - 1], b' ' | b'\t' | b'\r' | b'\n') {
        end -= 1;
    }
    end
}

fn parse_version(v: &[u8], kind: MessageKind) -> Result<(), ParseError> {
    if v.eq_ignore_ascii_case(b"SIP/2.0") {
        return Ok(());
    }
    let is_version = v.len() > 4
        && v[..4].eq_ignore_ascii_case(b"SIP/")
        && v[4..].iter().all(|b| b.is_ascii_digit() || *b == b'.')
        && v[4..].iter().filter(|b| **b == b'.').count() == 1;
    Err(ParseError::new(
        if is_version {
            Fault::VersionNotSupported
        } else {
            Fault::BadStartLine("SIP version")
        },
        kind,
    ))
}

fn parse_start_line(bytes: &Bytes, len: usize, kind: MessageKind) -> Result<StartLine, ParseError> {
    let line = &bytes[..len];
    let err = |w| ParseError::new(Fault::BadStartLine(w), kind);
    match kind {
        MessageKind::Response => {
            let sp1 = memchr(b' ', line).ok_or_else(|| err("status line"))?;
            parse_version(&line[..sp1], kind)?;
            let rest = &line[sp1 + 1..];
            let (code, reason_start) = match memchr(b' ', rest) {
                Some(i) => (&rest[..i], sp1 + 1 + i + 1),
                None => (rest, len),
            };
            if code.len() != 3 || !code.iter().all(u8::is_ascii_digit) {
                return Err(err("status code"));
            }
            let code = code.iter().fold(0u16, |a, b| a * 10 + u16::from(b - b'0'));
            if !(100..=699).contains(&code) {
                return Err(err("status code"));
            }
            Ok(StartLine::Response {
                code,
                reason: bytes.slice(reason_start..len),
            })
        }
        MessageKind::Request => {
            let sp1 = memchr(b' ', line).ok_or_else(|| err("request line"))?;
            let sp2 = memchr::memrchr(b' ', line).ok_or_else(|| err("request line"))?;
            if sp2 <= sp1 {
                return Err(err("request line"));
            }
            let method = &line[..sp1];
            if !method.iter().all(|b| is_token_byte(*b)) {
                return Err(err("method"));
            }
            let version = &line[sp2 + 1..];
            let uri = &line[sp1 + 1..sp2];
            if uri.is_empty() || uri.iter().any(|b| matches!(b, b' ' | b'\t')) {
                // Version errors win only when the line is otherwise sane.
                return Err(err("Request-URI contains white space"));
            }
            parse_version(version, kind)?;
            let uri_txt = std::str::from_utf8(uri).map_err(|_| err("Request-URI"))?;
            match Uri::parse(uri_txt) {
                Ok(u) if u.scheme() == Scheme::Other => {
                    return Err(ParseError::new(Fault::UnsupportedUriScheme, kind));
                }
                Ok(u) if u.headers().is_some() => return Err(err("Request-URI has headers")),
                Ok(_) => {}
                Err(_) if looks_like_absolute_uri(uri_txt) && !uri_txt.starts_with("sip") => {
                    return Err(ParseError::new(Fault::UnsupportedUriScheme, kind));
                }
                Err(e) => {
                    return Err(ParseError::new(
                        Fault::BadStartLine(match e {
                            super::UriError::Malformed(w) => w,
                        }),
                        kind,
                    ));
                }
            }
            let method =
                Method::from_token(std::str::from_utf8(method).map_err(|_| err("method"))?);
            Ok(StartLine::Request {
                method,
                uri: bytes.slice(sp1 + 1..sp2),
            })
        }
        MessageKind::Unknown => Err(ParseError::new(
            Fault::BadStartLine("not a SIP message"),
            kind,
        )),
    }
}
