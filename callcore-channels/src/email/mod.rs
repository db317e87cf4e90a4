//! E-mail: IMAP in (polling the mailbox for unseen mail), SMTP out (replies
//! threaded with In-Reply-To and References), each customer's mail an
//! interaction of an [`Inbox`](crate::Inbox) or a message of the open
//! conversation it replies to. Automatic mail (auto-replies, bounces, bulk,
//! our own) is never answered; malformed or oversize mail is refused with a
//! log line and left in the mailbox, marked seen.

pub mod html;
mod imap;
pub mod parse;
mod smtp;
mod tls;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use callcore::{Clock, IdSource};
use serde::Deserialize;

use crate::{ChannelError, Delivered, Inbox};
pub use parse::{MailKind, MailLimits, ParsedMail, parse_mail};
pub use smtp::SmtpOutbox;
pub use tls::MailTls;

/// The `[email]` settings of a center.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailConfig {
    /// The center's address: replies come from it, mail from it is a loop.
    pub address: String,
    /// The IMAP server, `host:port`.
    pub imap: String,
    /// How the IMAP server is spoken to (`"implicit"`: IMAPS, usually port
    /// 993; `"starttls"`: usually 143; `"none"`: plain TCP, the default
    /// kept for compatibility, fit only for a local test server).
    #[serde(default)]
    pub imap_tls: MailTls,
    /// The SMTP server, `host:port`.
    pub smtp: String,
    /// How the SMTP server is spoken to (`"implicit"`: SMTPS, usually port
    /// 465; `"starttls"`: usually 587; `"none"`: plain TCP, the default).
    #[serde(default)]
    pub smtp_tls: MailTls,
    /// A PEM file of the certificate authorities the servers' certificates
    /// are verified against; without it, the system's roots.
    #[serde(default)]
    pub ca_file: Option<std::path::PathBuf>,
    /// The account's user name (IMAP and SMTP).
    pub user: String,
    /// Its password.
    #[serde(default)]
    pub password: String,
    /// The mailbox polled.
    #[serde(default = "default_mailbox")]
    pub mailbox: String,
    /// How often the mailbox is polled, in milliseconds.
    #[serde(default = "default_poll_ms")]
    pub poll_ms: u64,
    /// The queue e-mails wait in for an agent.
    pub queue: String,
    /// The largest attachment kept, in bytes (a larger one refuses its mail).
    #[serde(default = "default_attachment")]
    pub max_attachment_bytes: usize,
    /// The largest mail taken, in bytes.
    #[serde(default = "default_message")]
    pub max_message_bytes: usize,
    /// Sent once to each new conversation's customer, when set.
    #[serde(default)]
    pub acknowledgement: Option<String>,
    /// How many e-mails an agent works on at once.
    #[serde(default = "default_capacity")]
    pub agent_capacity: u32,
    /// A flow file (callcore-ivr's JSON or TOML) the center runs on each new
    /// conversation before it reaches an agent (as `[sms] flow`): its
    /// prompts are sent as replies in the thread and it reads the customer's
    /// next mail in it. With a flow, `acknowledgement` is not sent (the flow
    /// answers instead); without one, mails go straight to `queue`.
    #[serde(default)]
    pub flow: Option<std::path::PathBuf>,
}

fn default_mailbox() -> String {
    "INBOX".to_owned()
}
const fn default_poll_ms() -> u64 {
    2000
}
const fn default_attachment() -> usize {
    10 * 1024 * 1024
}
const fn default_message() -> usize {
    25 * 1024 * 1024
}
const fn default_capacity() -> u32 {
    5
}

impl std::fmt::Debug for EmailConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmailConfig")
            .field("imap", &self.imap)
            .field("imap_tls", &self.imap_tls)
            .field("smtp", &self.smtp)
            .field("smtp_tls", &self.smtp_tls)
            .field("ca_file", &self.ca_file)
            .field("mailbox", &self.mailbox)
            .field("queue", &self.queue)
            .finish_non_exhaustive()
    }
}

impl EmailConfig {
    /// Checks the settings; errors name `at.<field>`.
    ///
    /// # Errors
    /// [`ChannelError::Config`] naming the field at fault.
    pub fn validate(&self, at: &str) -> Result<(), ChannelError> {
        let bad = |field: &str, detail: &str| ChannelError::Config {
            field: format!("{at}.{field}"),
            detail: detail.to_owned(),
        };
        let (local, domain) = self
            .address
            .split_once('@')
            .ok_or_else(|| bad("address", "not an e-mail address (name@domain)"))?;
        if local.is_empty() || domain.is_empty() || domain.contains('@') {
            return Err(bad("address", "not an e-mail address (name@domain)"));
        }
        for (field, v) in [("imap", &self.imap), ("smtp", &self.smtp)] {
            match v.rsplit_once(':') {
                Some((h, p)) if !h.is_empty() && p.parse::<u16>().is_ok_and(|p| p > 0) => {}
                _ => return Err(bad(field, "expected host:port")),
            }
        }
        if let Some(ca) = &self.ca_file {
            if self.imap_tls == MailTls::None && self.smtp_tls == MailTls::None {
                return Err(bad(
                    "ca_file",
                    "set, but imap_tls and smtp_tls are both \"none\"",
                ));
            }
            crate::tls::read_ca(ca).map_err(|e| bad("ca_file", &e))?;
        }
        if self.user.is_empty() {
            return Err(bad("user", "empty"));
        }
        if self.queue.is_empty() {
            return Err(bad("queue", "empty"));
        }
        if self.poll_ms < 100 {
            return Err(bad("poll_ms", "at least 100"));
        }
        if self.max_attachment_bytes == 0 || self.max_attachment_bytes > self.max_message_bytes {
            return Err(bad(
                "max_attachment_bytes",
                "between 1 and max_message_bytes",
            ));
        }
        if self.agent_capacity == 0 {
            return Err(bad("agent_capacity", "at least 1"));
        }
        Ok(())
    }

    fn limits(&self) -> MailLimits {
        MailLimits {
            max_attachment_bytes: self.max_attachment_bytes,
            max_message_bytes: self.max_message_bytes,
        }
    }

    /// The domain of the center's address (for Message-IDs).
    fn domain(&self) -> &str {
        self.address.rsplit('@').next().unwrap_or("callcore")
    }
}

/// What the e-mail channel did, for tests and metrics.
#[derive(Debug, Default)]
pub struct MailCounters {
    /// Customers' mail routed (new conversations and replies).
    pub routed: AtomicU64,
    /// Automatic mail (auto-replies, bounces, bulk, loops) not answered.
    pub automatic: AtomicU64,
    /// Mail refused (malformed, oversize).
    pub refused: AtomicU64,
    /// Why each refused mail was refused, latest last (at most 100).
    pub refusals: Mutex<Vec<String>>,
    /// Why the last mailbox poll failed (a refused certificate, a wrong
    /// password, the server unreachable); `None` once a poll succeeds.
    pub mailbox_failure: Mutex<Option<String>>,
}

impl MailCounters {
    /// Routed, automatic, refused.
    pub fn counts(&self) -> (u64, u64, u64) {
        (
            self.routed.load(Ordering::Relaxed),
            self.automatic.load(Ordering::Relaxed),
            self.refused.load(Ordering::Relaxed),
        )
    }

    /// Why the last mailbox poll failed, if it did.
    pub fn mailbox_failure(&self) -> Option<String> {
        self.mailbox_failure
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    pub(crate) fn set_mailbox_failure(&self, failure: Option<String>) {
        *self
            .mailbox_failure
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = failure;
    }
}

/// A running e-mail channel: its mailbox poller and its SMTP outbox.
#[derive(Debug)]
pub struct EmailChannel {
    poller: tokio::task::JoinHandle<()>,
    counters: Arc<MailCounters>,
}

impl Drop for EmailChannel {
    fn drop(&mut self) {
        self.poller.abort();
    }
}

impl EmailChannel {
    /// Starts polling `config`'s mailbox into `inbox`, and sets `inbox`'s
    /// outbox to `config`'s SMTP server.
    ///
    /// # Errors
    /// [`ChannelError::Config`] when the settings are invalid.
    pub fn start(
        config: EmailConfig,
        inbox: Arc<Inbox>,
        ids: Arc<dyn IdSource>,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, ChannelError> {
        config.validate("email")?;
        for (side, server, mode) in [
            ("imap_tls", &config.imap, config.imap_tls),
            ("smtp_tls", &config.smtp, config.smtp_tls),
        ] {
            let host = crate::tls::host_of(server);
            if mode == MailTls::None && !matches!(host, "127.0.0.1" | "::1" | "localhost") {
                tracing::warn!(
                    server = %server,
                    "email.{side} = \"none\": password and mail cross the network in clear; \
                     set \"implicit\" or \"starttls\""
                );
            }
        }
        inbox.set_outbox(Arc::new(SmtpOutbox::new(&config, ids)?));
        let counters = Arc::new(MailCounters::default());
        let poller = tokio::spawn(imap::poll_forever(config, inbox, clock, counters.clone()));
        Ok(Self { poller, counters })
    }

    /// What it did so far.
    pub fn counters(&self) -> &Arc<MailCounters> {
        &self.counters
    }
}

/// Takes one raw mail: routed, ignored (automatic) or refused, each logged.
pub(crate) async fn take_mail(
    raw: &[u8],
    config: &EmailConfig,
    inbox: &Arc<Inbox>,
    clock: &dyn Clock,
    counters: &MailCounters,
) {
    match parse_mail(raw, &config.limits(), &config.address, clock.now()) {
        Err(e) => {
            tracing::warn!(error = %e, "inbound e-mail refused");
            counters.refused.fetch_add(1, Ordering::Relaxed);
            let mut r = counters
                .refusals
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if r.len() >= 100 {
                r.remove(0);
            }
            r.push(e.to_string());
        }
        Ok(mail) if mail.kind != MailKind::Customer => {
            tracing::info!(kind = ?mail.kind, "automatic e-mail not answered");
            counters.automatic.fetch_add(1, Ordering::Relaxed);
        }
        Ok(mail) => {
            counters.routed.fetch_add(1, Ordering::Relaxed);
            if let Delivered::New(id) = inbox.receive(mail.received)
                && config.flow.is_none()
                && let Some(text) = &config.acknowledgement
            {
                inbox.acknowledge(&id, text).await;
            }
        }
    }
}

/// The poll interval.
fn poll_every(config: &EmailConfig) -> Duration {
    Duration::from_millis(config.poll_ms)
}
