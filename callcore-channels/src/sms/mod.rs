//! SMS through an SMPP 3.4 message centre: a transceiver bind kept up (and
//! rebound after a failure), mobile-originated messages (`deliver_sm`)
//! decoded, reassembled when concatenated and handed to the
//! [`Inbox`](crate::Inbox) (one open conversation per number), delivery
//! receipts recorded, replies split into GSM 7-bit or UCS-2 segments and
//! submitted at most `max_per_second`. STOP-like keywords opt a number out:
//! it receives nothing more.

pub mod coding;
pub mod concat;
mod link;
pub mod optout;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use callcore::{Clock, Timestamp};
use serde::Deserialize;

use crate::ChannelError;
use crate::message::{Message, MessageDirection, Received};
use crate::{Delivered, Inbox};
pub use link::SmppOutbox;
pub use optout::{Keyword, OptOuts};

/// The `[sms]` settings of a center.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmsConfig {
    /// The message centre, `host:port`.
    pub smsc: String,
    /// SMPP over TLS (TLS from the first byte, as most SMSCs' TLS ports and
    /// `stunnel` set-ups); default `false`: plain TCP, fit only for a message
    /// centre on the same host or network segment.
    #[serde(default)]
    pub tls: bool,
    /// A PEM file of the certificate authorities the message centre's
    /// certificate is verified against (with `tls`); default: the system's roots.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// The bind's system id.
    pub system_id: String,
    /// The bind's password.
    #[serde(default)]
    pub password: String,
    /// The bind's system type.
    #[serde(default)]
    pub system_type: String,
    /// The number (or short code) replies come from.
    pub source_addr: String,
    /// The queue SMS conversations wait in for an agent.
    pub queue: String,
    /// How many SMS conversations an agent works on at once.
    #[serde(default = "default_capacity")]
    pub agent_capacity: u32,
    /// The most segments submitted per second.
    #[serde(default = "default_rate")]
    pub max_per_second: u32,
    /// How long to wait before binding again after the link failed, in ms.
    #[serde(default = "default_reconnect")]
    pub reconnect_ms: u64,
    /// Where opt-outs are kept (the premise puts it in its data directory).
    #[serde(default)]
    pub opt_out_file: Option<PathBuf>,
    /// A flow file (callcore-ivr's JSON or TOML) the center runs on each new
    /// conversation before it reaches an agent — e.g. a `bot` node that
    /// answers from a knowledge base first. Its prompts are sent as messages
    /// and it reads the customer's replies; without it, conversations go
    /// straight to `queue`.
    #[serde(default)]
    pub flow: Option<PathBuf>,
}

const fn default_capacity() -> u32 {
    3
}
const fn default_rate() -> u32 {
    10
}
const fn default_reconnect() -> u64 {
    2000
}

impl std::fmt::Debug for SmsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmsConfig")
            .field("smsc", &self.smsc)
            .field("system_id", &self.system_id)
            .field("queue", &self.queue)
            .finish_non_exhaustive()
    }
}

impl SmsConfig {
    /// Checks the settings; errors name `at.<field>`.
    ///
    /// # Errors
    /// [`ChannelError::Config`] naming the field at fault.
    pub fn validate(&self, at: &str) -> Result<(), ChannelError> {
        let bad = |field: &str, detail: &str| ChannelError::Config {
            field: format!("{at}.{field}"),
            detail: detail.to_owned(),
        };
        match self.smsc.rsplit_once(':') {
            Some((h, p)) if !h.is_empty() && p.parse::<u16>().is_ok_and(|p| p > 0) => {}
            _ => return Err(bad("smsc", "expected host:port")),
        }
        if self.system_id.is_empty() || self.system_id.len() > 15 {
            return Err(bad("system_id", "1-15 characters"));
        }
        if self.password.len() > 8 {
            return Err(bad("password", "at most 8 characters (SMPP 3.4)"));
        }
        if self.system_type.len() > 12 {
            return Err(bad("system_type", "at most 12 characters"));
        }
        if self.source_addr.is_empty()
            || self.source_addr.len() > 20
            || !self.source_addr.is_ascii()
        {
            return Err(bad("source_addr", "1-20 ASCII characters"));
        }
        if self.queue.is_empty() {
            return Err(bad("queue", "empty"));
        }
        if self.agent_capacity == 0 {
            return Err(bad("agent_capacity", "at least 1"));
        }
        if self.max_per_second == 0 || self.max_per_second > 10_000 {
            return Err(bad("max_per_second", "1-10000"));
        }
        if self.reconnect_ms < 100 {
            return Err(bad("reconnect_ms", "at least 100"));
        }
        if let Some(ca) = &self.ca_file {
            if !self.tls {
                return Err(bad("ca_file", "set, but tls is false"));
            }
            crate::tls::read_ca(ca).map_err(|e| bad("ca_file", &e))?;
        }
        Ok(())
    }
}

/// What the SMS channel did, for tests and metrics.
#[derive(Debug, Default)]
pub struct SmsCounters {
    /// Customers' messages routed (whole, after reassembly).
    pub routed: AtomicU64,
    /// Opt-out and opt-in keywords taken.
    pub keywords: AtomicU64,
    /// Messages refused (undecodable text, bad UDH).
    pub refused: AtomicU64,
    /// Segments submitted.
    pub submitted: AtomicU64,
    /// Binds made (1 + reconnections).
    pub binds: AtomicU64,
    /// Why each refused message was refused, latest last (at most 100).
    pub refusals: Mutex<Vec<String>>,
    /// Delivery receipts: message id → final state (`DELIVRD`, `UNDELIV` ...).
    pub receipts: Mutex<HashMap<String, String>>,
    /// Why the last bind failed (a refused certificate, a refused login, the
    /// message centre unreachable); `None` once a bind succeeds.
    pub bind_failure: Mutex<Option<String>>,
}

impl SmsCounters {
    /// Routed, keywords, refused, submitted.
    pub fn counts(&self) -> (u64, u64, u64, u64) {
        (
            self.routed.load(Ordering::Relaxed),
            self.keywords.load(Ordering::Relaxed),
            self.refused.load(Ordering::Relaxed),
            self.submitted.load(Ordering::Relaxed),
        )
    }

    /// Why the last bind failed, if it did.
    pub fn bind_failure(&self) -> Option<String> {
        self.bind_failure
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    fn set_bind_failure(&self, failure: Option<String>) {
        *self
            .bind_failure
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = failure;
    }

    fn refuse(&self, e: &ChannelError) {
        tracing::warn!(error = %e, "inbound SMS refused");
        self.refused.fetch_add(1, Ordering::Relaxed);
        let mut r = self
            .refusals
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if r.len() >= 100 {
            r.remove(0);
        }
        r.push(e.to_string());
    }
}

/// A running SMS channel: its SMPP link and outbox.
#[derive(Debug)]
pub struct SmsChannel {
    link: tokio::task::JoinHandle<()>,
    counters: Arc<SmsCounters>,
    opt_outs: Arc<OptOuts>,
}

impl Drop for SmsChannel {
    fn drop(&mut self) {
        self.link.abort();
    }
}

impl SmsChannel {
    /// Binds to `config`'s message centre (and binds again whenever the link
    /// fails), feeding `inbox`, whose outbox it becomes.
    ///
    /// # Errors
    /// [`ChannelError::Config`] when the settings are invalid or the opt-out
    /// file cannot be read.
    pub fn start(
        config: SmsConfig,
        inbox: Arc<Inbox>,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, ChannelError> {
        config.validate("sms")?;
        let opt_outs = Arc::new(match &config.opt_out_file {
            Some(f) => OptOuts::open(f.clone())?,
            None => OptOuts::in_memory(),
        });
        let counters = Arc::new(SmsCounters::default());
        let (outbox, link) = link::start(
            config,
            inbox.clone(),
            clock,
            counters.clone(),
            opt_outs.clone(),
        );
        inbox.set_outbox(Arc::new(outbox));
        Ok(Self {
            link,
            counters,
            opt_outs,
        })
    }

    /// What it did so far.
    pub fn counters(&self) -> &Arc<SmsCounters> {
        &self.counters
    }

    /// The numbers that opted out.
    pub fn opt_outs(&self) -> &Arc<OptOuts> {
        &self.opt_outs
    }
}

/// A whole inbound text from `number`: a keyword is recorded, anything else
/// goes to the number's open conversation or opens one.
pub(crate) fn take_text(
    inbox: &Arc<Inbox>,
    opt_outs: &OptOuts,
    counters: &SmsCounters,
    number: &str,
    text: String,
    id: String,
    now: Timestamp,
) {
    if let Some(k) = optout::keyword(&text) {
        counters.keywords.fetch_add(1, Ordering::Relaxed);
        match opt_outs.apply(number, k) {
            Ok(changed) => tracing::info!(keyword = ?k, changed, "SMS keyword taken"),
            Err(e) => tracing::error!(error = %e, "SMS opt-out not stored"),
        }
        return;
    }
    counters.routed.fetch_add(1, Ordering::Relaxed);
    let delivered = inbox.receive(Received {
        customer: number.to_owned(),
        thread: vec![format!("sms:{}", optout::normalise(number))],
        message: Message {
            id,
            direction: MessageDirection::Inbound,
            at: now,
            subject: None,
            text,
            attachments: Vec::new(),
        },
    });
    if let Delivered::Joined(i) = delivered {
        tracing::debug!(interaction = %i, "SMS joined its conversation");
    }
}
