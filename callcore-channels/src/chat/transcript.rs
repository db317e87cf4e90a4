//! A chat's transcript e-mailed on the visitor's request ("e-mail me the
//! transcript", during or after the chat). The hub checks the request — one
//! address, well formed; at most [`MAILS_PER_SESSION`] mails per session and
//! [`MAILS_PER_ADDRESS`] per address an hour, [`MAILS_PER_HUB`] an hour in
//! all; something said — and hands the session's lines to the center's
//! [`TranscriptSender`] (the premise sends them through its `[email]`
//! channel), which masks what must not travel by mail ([`render`]).

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use callcore::{InteractionId, mask_sensitive};

use super::{ChatHub, EntryKind, Side};
use crate::ChannelError;

/// Transcript mails one chat session may ask for in an hour.
pub const MAILS_PER_SESSION: usize = 3;
/// Transcript mails one address may receive in an hour (from any session).
pub const MAILS_PER_ADDRESS: usize = 3;
/// Transcript mails the hub sends in an hour in all.
pub const MAILS_PER_HUB: usize = 500;
const HOUR_MS: i64 = 3_600_000;
/// Who the visitor is in a transcript.
const VISITOR: &str = "You";

/// One line of a transcript.
#[derive(Clone)]
pub struct TranscriptLine {
    /// When (milliseconds since the epoch).
    pub at_ms: i64,
    /// Who: `You` (the visitor), `Agent`, `Bot`, or an agent joining.
    pub who: String,
    /// What was said (a file: its name).
    pub text: String,
}

impl std::fmt::Debug for TranscriptLine {
    // the customer's words: not in logs
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TranscriptLine")
            .field("at_ms", &self.at_ms)
            .finish_non_exhaustive()
    }
}

/// A session's transcript as handed to the [`TranscriptSender`].
#[derive(Debug, Clone)]
pub struct Transcript {
    /// The visitor's public id.
    pub visitor: String,
    /// The conversations (interactions) the session had, oldest first: the
    /// sender reads the sensitive slots their flows marked.
    pub interactions: Vec<InteractionId>,
    /// Every message, oldest first.
    pub lines: Vec<TranscriptLine>,
}

/// Sends a transcript by e-mail (the premise: its `[email]` channel's SMTP).
#[async_trait]
pub trait TranscriptSender: Send + Sync {
    /// Sends `transcript` to the one address `to` (already checked).
    ///
    /// # Errors
    /// The channel's errors (the mail server failed).
    async fn send_transcript(&self, to: &str, transcript: &Transcript) -> Result<(), ChannelError>;
}

/// Why a transcript request was refused (said to the visitor).
#[derive(Debug, thiserror::Error)]
pub enum TranscriptRefusal {
    /// The center sends no e-mail (no `[email]` channel).
    #[error("this chat cannot send e-mail")]
    NoMail,
    /// The address is not one usable e-mail address.
    #[error("email: {0}")]
    Address(&'static str),
    /// Too many requests.
    #[error("{0}")]
    TooMany(String),
    /// Nothing was said yet.
    #[error("there is nothing to send yet")]
    Empty,
    /// The session is unknown.
    #[error("no chat session")]
    NoSession,
    /// The mail server failed (the detail is logged, not told).
    #[error("the mail could not be sent; try again later")]
    Failed,
}

/// Checks that `raw` is one plain e-mail address (`name@example.org`): no
/// display name, no list, no comments or quoted parts; at most 254
/// characters (64 before the `@`); a domain of at least two labels. Returns
/// it trimmed, its domain lower-cased.
///
/// # Errors
/// What is wrong with it.
pub fn check_address(raw: &str) -> Result<String, &'static str> {
    let a = raw.trim();
    if a.is_empty() {
        return Err("an address is needed");
    }
    if a.chars().count() > 254 {
        return Err("at most 254 characters");
    }
    if a.chars()
        .any(|c| c.is_whitespace() || c.is_control() || ",;<>()[]\\\":".contains(c))
    {
        return Err("one address only (no spaces, commas, semicolons, names or brackets)");
    }
    let Some((local, domain)) = a.split_once('@') else {
        return Err("expected name@domain");
    };
    if domain.contains('@') {
        return Err("one address only");
    }
    let local_ok = !local.is_empty()
        && local.len() <= 64
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..")
        && local
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+/=?^_`{|}~.-".contains(c));
    if !local_ok {
        return Err("the part before @ is not a valid mailbox name");
    }
    let labels: Vec<&str> = domain.split('.').collect();
    let domain_ok = labels.len() >= 2
        && domain.len() <= 253
        && labels.iter().all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        });
    if !domain_ok {
        return Err("the domain is not valid");
    }
    Ok(format!("{local}@{}", domain.to_ascii_lowercase()))
}

/// The transcript as a mail's text, times in UTC, with what must not travel
/// by mail masked ([`mask_sensitive`]): payment-card numbers (13 to 19 digits,
/// spaces or dashes between them allowed) on every line, and in the visitor's
/// lines every word whose mask is one of `masked` — the values of slots a
/// flow marked sensitive, as the agent's screen pop shows them
/// (`••••••••••••1111`; a value shorter than 8 characters is all dots, so
/// every word of its length with a digit in it is masked: more than needed,
/// never less).
#[must_use]
pub fn render(t: &Transcript, masked: &[String]) -> String {
    let mut out = String::from("Your chat with us (times in UTC)\n\n");
    let mut day = String::new();
    for l in &t.lines {
        let (date, time) = utc(l.at_ms);
        if date != day {
            out.push_str(&format!("{date}\n"));
            day = date;
        }
        // the customer's own words carry the slots' values
        let text = if l.who == VISITOR {
            mask_words(&mask_cards(&l.text), masked)
        } else {
            mask_cards(&l.text)
        };
        if l.who.is_empty() {
            out.push_str(&format!("[{time}] {text}\n"));
        } else {
            out.push_str(&format!("[{time}] {}: {text}\n", l.who));
        }
    }
    out
}

/// Masks each word of `text` whose mask is one of `masked`.
fn mask_words(text: &str, masked: &[String]) -> String {
    if masked.is_empty() {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len());
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut String| {
        let m = mask_sensitive(word);
        let is_masked_value = !word.is_empty()
            && masked.contains(&m)
            && (word.chars().any(|c| c.is_ascii_digit()) || word.chars().count() >= 8);
        out.push_str(if is_masked_value { &m } else { word });
        word.clear();
    };
    for c in text.chars() {
        if c.is_alphanumeric() || c == '-' || c == '_' {
            word.push(c);
        } else {
            flush(&mut word, &mut out);
            out.push(c);
        }
    }
    flush(&mut word, &mut out);
    out
}

/// Masks runs of 13-19 digits (single spaces or dashes between them
/// allowed), keeping the last four digits.
fn mask_cards(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        if !chars[i].is_ascii_digit() || (i > 0 && chars[i - 1].is_ascii_digit()) {
            out.push(chars[i]);
            i += 1;
            continue;
        }
        // the longest run of digits with single separators from i
        let mut end = i;
        let mut digits = 0;
        let mut j = i;
        while j < chars.len() {
            if chars[j].is_ascii_digit() {
                digits += 1;
                end = j + 1;
                j += 1;
            } else if (chars[j] == ' ' || chars[j] == '-')
                && chars.get(j + 1).is_some_and(char::is_ascii_digit)
            {
                j += 1;
            } else {
                break;
            }
        }
        if (13..=19).contains(&digits) {
            let mut left = digits;
            for &c in &chars[i..end] {
                if c.is_ascii_digit() {
                    left -= 1;
                    out.push(if left < 4 { c } else { '•' });
                } else {
                    out.push(c);
                }
            }
        } else {
            out.extend(&chars[i..end]);
        }
        i = end;
    }
    out
}

/// `YYYY-MM-DD` and `HH:MM:SS` of a UTC instant (ms since the epoch).
fn utc(ms: i64) -> (String, String) {
    let secs = ms.div_euclid(1000);
    let (days, sod) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // days to civil date (H. Hinnant's algorithm)
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (
        format!("{y:04}-{m:02}-{d:02}"),
        format!("{:02}:{:02}:{:02}", sod / 3600, sod % 3600 / 60, sod % 60),
    )
}

/// Sent-mail times per session and address, for the hourly limits.
#[derive(Debug, Default)]
pub(super) struct MailBudget {
    by_address: HashMap<String, Vec<i64>>,
    all: Vec<i64>,
}

impl MailBudget {
    /// Takes one mail to `address` at `now` if the address and the hub have
    /// room (the session's own count is checked by the caller).
    fn take(&mut self, address: &str, now: i64) -> Result<(), TranscriptRefusal> {
        self.all.retain(|t| now - t < HOUR_MS);
        self.by_address.retain(|_, v| {
            v.retain(|t| now - t < HOUR_MS);
            !v.is_empty()
        });
        if self.all.len() >= MAILS_PER_HUB {
            return Err(TranscriptRefusal::TooMany(
                "too many transcripts are being sent; try again later".into(),
            ));
        }
        let sent = self.by_address.entry(address.to_owned()).or_default();
        if sent.len() >= MAILS_PER_ADDRESS {
            return Err(TranscriptRefusal::TooMany(format!(
                "at most {MAILS_PER_ADDRESS} transcripts an hour to one address"
            )));
        }
        sent.push(now);
        self.all.push(now);
        Ok(())
    }
}

impl ChatHub {
    /// Sends transcripts by e-mail through `sender` from now on (once; later
    /// calls are ignored). Without one the widget offers no transcript.
    pub fn set_transcript_sender(&self, sender: Arc<dyn TranscriptSender>) {
        let _ = self.transcript_sender.set(sender);
    }

    /// Whether transcripts can be e-mailed.
    pub fn mails_transcripts(&self) -> bool {
        self.transcript_sender.get().is_some()
    }

    /// The transcript of session `token` so far (every message, the agents
    /// joining).
    pub fn transcript(&self, token: &str) -> Option<Transcript> {
        let st = self.state();
        let s = st.sessions.get(token)?;
        let lines = s
            .log
            .since(0)
            .iter()
            .map(|e| {
                let (who, text) = match &e.kind {
                    EntryKind::Message {
                        from,
                        text,
                        file,
                        bot,
                        ..
                    } => {
                        let who = match (from, bot) {
                            (Side::Visitor, _) => VISITOR,
                            (Side::Agent, true) => "Bot",
                            (Side::Agent, false) => "Agent",
                        };
                        let text = match file {
                            Some(f) if text.is_empty() => format!("(file {})", f.name),
                            Some(f) => format!("{text} (file {})", f.name),
                            None => text.clone(),
                        };
                        (who.to_owned(), text)
                    }
                    EntryKind::Joined { agent } => (String::new(), format!("{agent} joined")),
                    EntryKind::Ended => (String::new(), "The chat ended.".to_owned()),
                };
                TranscriptLine {
                    at_ms: e.at_ms,
                    who,
                    text,
                }
            })
            .collect();
        Some(Transcript {
            visitor: s.visitor.clone(),
            interactions: s.interactions.clone(),
            lines,
        })
    }

    /// E-mails session `token`'s transcript to `address` (the visitor's
    /// request); returns the address as checked.
    ///
    /// # Errors
    /// [`TranscriptRefusal`]: no mail channel, a bad address, too many
    /// requests, nothing said yet, or the mail server failed (logged).
    pub async fn email_transcript(
        &self,
        token: &str,
        address: &str,
    ) -> Result<String, TranscriptRefusal> {
        let sender = self
            .transcript_sender
            .get()
            .ok_or(TranscriptRefusal::NoMail)?
            .clone();
        let address = check_address(address).map_err(TranscriptRefusal::Address)?;
        let now = self.now_ms();
        let transcript = {
            let mut st = self.state();
            let s = st
                .sessions
                .get_mut(token)
                .ok_or(TranscriptRefusal::NoSession)?;
            let said = s.log.since(0).iter().any(|e| {
                matches!(
                    &e.kind,
                    EntryKind::Message {
                        from: Side::Visitor,
                        ..
                    }
                )
            });
            if !said {
                return Err(TranscriptRefusal::Empty);
            }
            s.transcript_mails.retain(|t| now - t < HOUR_MS);
            if s.transcript_mails.len() >= MAILS_PER_SESSION {
                return Err(TranscriptRefusal::TooMany(format!(
                    "at most {MAILS_PER_SESSION} transcripts an hour"
                )));
            }
            st.mail_budget.take(&address, now)?;
            if let Some(s) = st.sessions.get_mut(token) {
                s.transcript_mails.push(now);
            }
            drop(st);
            self.transcript(token).ok_or(TranscriptRefusal::NoSession)?
        };
        match sender.send_transcript(&address, &transcript).await {
            Ok(()) => {
                tracing::info!(lines = transcript.lines.len(), "chat transcript e-mailed");
                Ok(address)
            }
            Err(e) => {
                tracing::warn!(error = %e, "chat transcript not sent");
                Err(TranscriptRefusal::Failed)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_plain_address_is_taken() {
        assert_eq!(
            check_address(" Ann.Lee+chat@Example.ORG ").as_deref(),
            Ok("Ann.Lee+chat@example.org")
        );
        for bad in [
            "",
            "ann",
            "ann@",
            "@example.org",
            "ann@example",
            "ann@@example.org",
            "ann@example.org, bob@example.org",
            "ann@example.org;bob@example.org",
            "ann@example.org bob@example.org",
            "Ann <ann@example.org>",
            "ann@exa_mple.org",
            "ann..lee@example.org",
            ".ann@example.org",
            "ann@-example.org",
            "ann@example.org\r\nBcc: eve@example.org",
            "\"ann\"@example.org",
        ] {
            assert!(check_address(bad).is_err(), "{bad:?} taken");
        }
        let long = format!("{}@example.org", "a".repeat(65));
        assert!(check_address(&long).is_err());
    }

    #[test]
    fn cards_and_sensitive_slots_are_masked() {
        let line = |at_ms, who: &str, text: &str| TranscriptLine {
            at_ms,
            who: who.into(),
            text: text.into(),
        };
        let t = Transcript {
            visitor: "v-1".into(),
            interactions: Vec::new(),
            lines: vec![
                // 2025-12-07 00:00:00 UTC
                line(1_765_065_600_000, "You", "my card is 4111 1111 1111 1111"),
                line(1_765_065_601_000, "You", "account 12345678, order 2024"),
                line(
                    1_765_065_661_000,
                    "Agent",
                    "Order 2024, account 12345678 (ref 5500-0000-0000-0004)",
                ),
                line(1_765_065_662_000, "", "Alice joined"),
            ],
        };
        let text = render(&t, &[mask_sensitive("12345678")]);
        assert!(text.contains("2025-12-07\n"), "{text}");
        assert!(
            text.contains("[00:00:00] You: my card is •••• •••• •••• 1111\n"),
            "{text}"
        );
        assert!(
            text.contains("[00:00:01] You: account ••••5678, order 2024\n"),
            "{text}"
        );
        // the agent's lines: cards masked, slots not looked for
        assert!(
            text.contains(
                "[00:01:01] Agent: Order 2024, account 12345678 (ref ••••-••••-••••-0004)\n"
            ),
            "{text}"
        );
        assert!(text.contains("[00:01:02] Alice joined\n"), "{text}");
        // a short value (all dots) masks the visitor's words of its length with a digit
        let pin = Transcript {
            lines: vec![line(0, "You", "help 1234 abcd")],
            ..t
        };
        assert!(render(&pin, &[mask_sensitive("4321")]).contains("You: help •••• abcd"));
        assert!(render(&pin, &[]).contains("You: help 1234 abcd"));
        assert_eq!(utc(0), ("1970-01-01".into(), "00:00:00".into()));
        assert_eq!(
            utc(951_782_400_000 + 3_723_000),
            ("2000-02-29".into(), "01:02:03".into())
        );
    }

    #[test]
    fn budgets_limit_addresses_and_the_hub() {
        let mut b = MailBudget::default();
        for _ in 0..MAILS_PER_ADDRESS {
            assert!(b.take("a@example.org", 0).is_ok());
        }
        assert!(b.take("a@example.org", 1000).is_err());
        assert!(b.take("b@example.org", 1000).is_ok());
        // an hour later the address has room again
        assert!(b.take("a@example.org", HOUR_MS + 1).is_ok());
    }
}
