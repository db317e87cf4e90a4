//! Inbound e-mail: MIME parsed (mail-parser), checked, classified (a
//! customer's message, or an automatic one never to be answered) and turned
//! into a [`Received`] message with its thread keys and attachments.

use std::sync::Arc;

use callcore::Timestamp;
use mail_parser::{HeaderValue, MessageParser, MimeHeaders};

use crate::ChannelError;
use crate::email::html::html_to_text;
use crate::message::{Attachment, Message, MessageDirection, Received};

/// What kind of mail arrived. Only [`MailKind::Customer`] is routed and
/// acknowledged; the others are logged and never answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MailKind {
    /// A person wrote.
    Customer,
    /// An automatic reply (`Auto-Submitted`, `X-Autoreply`, vacation notices).
    AutoReply,
    /// A delivery status notification (`multipart/report`, a mailer daemon).
    Bounce,
    /// Bulk or list mail (`Precedence: bulk/list/junk`, `List-Id`).
    Bulk,
    /// Our own mail coming back (sent from the center's address).
    Loop,
}

/// Limits on inbound mail.
#[derive(Debug, Clone, Copy)]
pub struct MailLimits {
    /// The largest attachment kept, in bytes; a larger one refuses the message.
    pub max_attachment_bytes: usize,
    /// The largest message taken, in bytes.
    pub max_message_bytes: usize,
}

impl Default for MailLimits {
    fn default() -> Self {
        Self {
            max_attachment_bytes: 10 * 1024 * 1024,
            max_message_bytes: 25 * 1024 * 1024,
        }
    }
}

/// A parsed inbound mail.
#[derive(Debug, Clone)]
pub struct ParsedMail {
    /// Its kind.
    pub kind: MailKind,
    /// The message for the inbox.
    pub received: Received,
}

/// Angle brackets off a message id (`<a@b>` → `a@b`), as thread keys.
pub fn bare_id(id: &str) -> String {
    id.trim()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .to_owned()
}

fn ids(v: &HeaderValue<'_>) -> Vec<String> {
    v.as_text_list()
        .map(|l| l.iter().map(|s| bare_id(s)).collect())
        .unwrap_or_default()
}

/// Parses and checks `raw`; `ours` is the center's own address (mail from it
/// is a loop).
///
/// # Errors
/// [`ChannelError::Refused`] naming the part: `mime` (not a parsable
/// message, a multipart without its boundary), `from` (no sender address),
/// `size`, `attachment` (over the limit).
pub fn parse_mail(
    raw: &[u8],
    limits: &MailLimits,
    ours: &str,
    now: Timestamp,
) -> Result<ParsedMail, ChannelError> {
    if raw.len() > limits.max_message_bytes {
        return Err(ChannelError::refused(
            "size",
            format!(
                "{} bytes over the {} byte limit",
                raw.len(),
                limits.max_message_bytes
            ),
        ));
    }
    check_structure(raw)?;
    let mail = MessageParser::default()
        .parse(raw)
        .ok_or_else(|| ChannelError::refused("mime", "not a MIME message"))?;
    if let Some(ct) = mail.content_type()
        && ct.ctype().eq_ignore_ascii_case("multipart")
    {
        let Some(boundary) = ct.attribute("boundary") else {
            return Err(ChannelError::refused(
                "mime",
                "multipart without a boundary parameter",
            ));
        };
        let delimiter = format!("--{boundary}");
        if !contains(raw, delimiter.as_bytes()) {
            return Err(ChannelError::refused(
                "mime",
                "multipart whose boundary never occurs",
            ));
        }
    }
    let from = mail
        .from()
        .and_then(|a| a.first())
        .and_then(|a| a.address())
        .map(str::to_owned)
        .ok_or_else(|| ChannelError::refused("from", "no sender address"))?;
    let kind = classify(&mail, &from, ours);
    let mut attachments = Vec::new();
    for (n, part) in mail.attachments().enumerate() {
        let size = part.len();
        if size > limits.max_attachment_bytes {
            return Err(ChannelError::refused(
                "attachment",
                format!(
                    "attachment {} has {size} bytes, over the {} byte limit",
                    n + 1,
                    limits.max_attachment_bytes
                ),
            ));
        }
        let content_type = part.content_type().map_or_else(
            || "application/octet-stream".to_owned(),
            |ct| match ct.subtype() {
                Some(s) => format!("{}/{s}", ct.ctype()),
                None => ct.ctype().to_owned(),
            },
        );
        attachments.push(Attachment {
            name: part
                .attachment_name()
                .map_or_else(|| format!("attachment-{}", n + 1), sanitise_name),
            content_type,
            size,
            data: Arc::from(part.contents()),
        });
    }
    let text = if mail.text_body_count() > 0 && !only_html(&mail) {
        mail.body_text(0)
            .map(|t| t.into_owned())
            .unwrap_or_default()
    } else if let Some(html) = mail.html_bodies().next().and_then(|p| p.text_contents()) {
        html_to_text(html)
    } else {
        String::new()
    };
    let id = mail.message_id().map_or_else(
        // a message without an id still needs one to be threaded
        || format!("no-id-{}-{}@callcore", now.as_millis(), raw.len()),
        bare_id,
    );
    let mut thread = ids(mail.in_reply_to());
    for r in ids(mail.references()) {
        if !thread.contains(&r) {
            thread.push(r);
        }
    }
    Ok(ParsedMail {
        kind,
        received: Received {
            customer: from,
            thread,
            message: Message {
                id,
                direction: MessageDirection::Inbound,
                at: now,
                subject: mail.subject().map(str::to_owned),
                text,
                attachments,
            },
        },
    })
}

/// Whether the only text body is an HTML part (mail-parser lists an HTML
/// body as the text body when there is no plain one).
fn only_html(mail: &mail_parser::Message<'_>) -> bool {
    mail.text_bodies()
        .all(mail_parser::MessagePart::is_text_html)
}

/// A file name without path separators or control characters.
fn sanitise_name(name: &str) -> String {
    let n: String = name
        .chars()
        .map(|c| {
            if c == '/' || c == '\\' || c.is_control() {
                '_'
            } else {
                c
            }
        })
        .collect();
    n.trim_start_matches('.').to_owned()
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle)
}

/// The header block must end (an empty line) before the body, and each header
/// line must be a `name: value` or a continuation.
fn check_structure(raw: &[u8]) -> Result<(), ChannelError> {
    let text = String::from_utf8_lossy(&raw[..raw.len().min(64 * 1024)]);
    let mut saw_header = false;
    for line in text.split('\n') {
        let line = line.trim_end_matches('\r');
        if line.is_empty() {
            return if saw_header {
                Ok(())
            } else {
                Err(ChannelError::refused("mime", "no header before the body"))
            };
        }
        if line.starts_with([' ', '\t']) && saw_header {
            continue;
        }
        match line.split_once(':') {
            Some((name, _))
                if !name.is_empty() && name.bytes().all(|b| b.is_ascii_graphic() && b != b':') =>
            {
                saw_header = true;
            }
            _ => {
                return Err(ChannelError::refused(
                    "mime",
                    "a header line is not `name: value`",
                ));
            }
        }
    }
    if saw_header {
        Ok(())
    } else {
        Err(ChannelError::refused("mime", "no header"))
    }
}

/// Auto-replies, bounces, bulk mail and loops (RFC 3834, RFC 3464).
fn classify(mail: &mail_parser::Message<'_>, from: &str, ours: &str) -> MailKind {
    if !ours.is_empty() && from.eq_ignore_ascii_case(ours) {
        return MailKind::Loop;
    }
    let header = |name: &'static str| mail.header_raw(name).map(|v| v.trim().to_ascii_lowercase());
    if let Some(ct) = mail.content_type()
        && ct.ctype().eq_ignore_ascii_case("multipart")
        && ct
            .subtype()
            .is_some_and(|s| s.eq_ignore_ascii_case("report"))
    {
        return MailKind::Bounce;
    }
    let local = from.split('@').next().unwrap_or("").to_ascii_lowercase();
    if local == "mailer-daemon" || local == "postmaster" {
        return MailKind::Bounce;
    }
    if header("Return-Path").is_some_and(|r| r == "<>") {
        return MailKind::Bounce;
    }
    if header("Auto-Submitted").is_some_and(|v| !v.starts_with("no"))
        || header("X-Autoreply").is_some()
        || header("X-Autorespond").is_some()
        || header("X-Auto-Response-Suppress").is_some_and(|v| v.contains("all"))
    {
        return MailKind::AutoReply;
    }
    if header("Precedence")
        .is_some_and(|v| matches!(v.as_str(), "bulk" | "junk" | "list" | "auto_reply"))
    {
        return MailKind::Bulk;
    }
    if header("List-Id").is_some() {
        return MailKind::Bulk;
    }
    MailKind::Customer
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(raw: &str) -> Result<ParsedMail, ChannelError> {
        parse_mail(
            raw.as_bytes(),
            &MailLimits {
                max_attachment_bytes: 16,
                max_message_bytes: 4096,
            },
            "support@center.test",
            Timestamp::from_secs(1),
        )
    }

    #[test]
    fn a_reply_threads_by_in_reply_to_and_references() {
        let m = parse(
            "From: Ann <ann@example.org>\r\nTo: support@center.test\r\nSubject: Re: order\r\n\
             Message-ID: <c2@example.org>\r\nIn-Reply-To: <s1@center.test>\r\n\
             References: <c1@example.org> <s1@center.test>\r\n\r\nThanks\r\n",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(m.kind, MailKind::Customer);
        assert_eq!(m.received.customer, "ann@example.org");
        assert_eq!(m.received.message.id, "c2@example.org");
        assert_eq!(m.received.thread, ["s1@center.test", "c1@example.org"]);
        assert_eq!(m.received.message.text.trim(), "Thanks");
    }

    #[test]
    fn an_html_only_body_reaches_the_agent_as_text() {
        let m = parse(
            "From: a@example.org\r\nContent-Type: text/html\r\n\r\n<p>Hi <b>there</b></p><script>x()</script>\r\n",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(m.received.message.text, "Hi there");
    }

    #[test]
    fn automatic_mail_is_classified() {
        let auto = parse("From: a@example.org\r\nAuto-Submitted: auto-replied\r\n\r\nAway\r\n");
        assert_eq!(auto.map(|m| m.kind).ok(), Some(MailKind::AutoReply));
        let bulk = parse("From: a@example.org\r\nPrecedence: bulk\r\n\r\nNews\r\n");
        assert_eq!(bulk.map(|m| m.kind).ok(), Some(MailKind::Bulk));
        let dsn = parse(
            "From: MAILER-DAEMON@mx.example.org\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nfailed\r\n--b--\r\n",
        );
        assert_eq!(dsn.map(|m| m.kind).ok(), Some(MailKind::Bounce));
        let ours = parse("From: support@center.test\r\n\r\nx\r\n");
        assert_eq!(ours.map(|m| m.kind).ok(), Some(MailKind::Loop));
    }

    #[test]
    fn malformed_mime_and_big_attachments_are_refused_naming_the_part() {
        let e = parse("this is not a header\r\n\r\nbody\r\n").err();
        assert!(
            matches!(e, Some(ChannelError::Refused { part: "mime", .. })),
            "{e:?}"
        );
        let e = parse("From: a@example.org\r\nContent-Type: multipart/mixed\r\n\r\nx\r\n").err();
        assert!(
            matches!(e, Some(ChannelError::Refused { part: "mime", .. })),
            "{e:?}"
        );
        let e = parse("Subject: x\r\n\r\nx\r\n").err();
        assert!(
            matches!(e, Some(ChannelError::Refused { part: "from", .. })),
            "{e:?}"
        );
        let big = "From: a@example.org\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nhi\r\n--b\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=\"big.bin\"\r\n\r\n0123456789012345678901234567890123456789\r\n--b--\r\n";
        let e = parse(big).err();
        assert!(
            matches!(
                e,
                Some(ChannelError::Refused {
                    part: "attachment",
                    ..
                })
            ),
            "{e:?}"
        );
    }

    #[test]
    fn a_small_attachment_is_kept() {
        let raw = "From: a@example.org\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nsee file\r\n--b\r\nContent-Type: text/csv\r\nContent-Disposition: attachment; filename=\"../a.csv\"\r\n\r\nx,y\r\n--b--\r\n";
        let m = parse(raw).unwrap_or_else(|e| panic!("{e}"));
        let a = &m.received.message.attachments;
        assert_eq!(a.len(), 1);
        assert_eq!(a[0].name, "_a.csv");
        assert_eq!(a[0].content_type, "text/csv");
        assert_eq!(&a[0].data[..], b"x,y");
    }
}
