//! WeChat Official Account: WeChat's server calls the center back over HTTP
//! (the URL check, then each user's message as signed XML, AES-encrypted in
//! "safe mode"); each message opens a conversation of an
//! [`Inbox`](crate::Inbox) or joins the user's open one, with the user's
//! openid as the customer's address. The callback is answered at once
//! (`success`, or an acknowledgement as a passive reply, encrypted in safe
//! mode), well inside WeChat's 5 s; agents' and flows' answers go out
//! later through the customer-service message API with a refreshed access
//! token, retried with backoff. WeChat's retries of a callback (same MsgId)
//! are answered and dropped.
//!
//! The HTTP route is the host's (the premise mounts `/wechat/{tenant}`):
//! [`WeChatChannel::callback`] takes the method, the raw query and the body.

pub mod api;
mod callback;
pub mod crypto;
mod http;
pub mod xml;

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use callcore::Clock;
use serde::Deserialize;

use crate::{ChannelError, Inbox};
pub use api::{WeChatApi, WeChatOutbox};
pub use callback::CallbackReply;
use callback::Seen;
use crypto::MsgCrypt;

/// How callbacks are protected (the account's "message encryption" setting).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WeChatMode {
    /// 明文模式: signed plain XML; encrypted callbacks are refused.
    #[default]
    Plain,
    /// 兼容模式: plain or encrypted callbacks (each answered in kind).
    Compatible,
    /// 安全模式: encrypted callbacks only; a plain one is refused.
    Safe,
}

/// The `[wechat]` settings of a center.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WeChatConfig {
    /// The callback token set in the account's console (3-32 letters or digits).
    pub token: String,
    /// The 43-character EncodingAESKey (needed in `compatible` and `safe` mode).
    #[serde(default)]
    pub encoding_aes_key: Option<String>,
    /// The account's AppID.
    pub appid: String,
    /// The account's AppSecret (for the access token).
    pub secret: String,
    /// Where the WeChat API is (tests point it at a double).
    #[serde(default = "default_api_base")]
    pub api_base: String,
    /// `plain`, `compatible` or `safe`.
    #[serde(default)]
    pub mode: WeChatMode,
    /// The queue WeChat conversations wait in for an agent.
    pub queue: String,
    /// How many WeChat conversations an agent works on at once.
    #[serde(default = "default_capacity")]
    pub agent_capacity: u32,
    /// A flow file the center runs on each new conversation before it reaches
    /// an agent (as `[sms] flow`); its prompts go out as messages.
    #[serde(default)]
    pub flow: Option<PathBuf>,
    /// Sent as the passive reply to the message that opens a conversation
    /// (encrypted in safe mode); without it the callback is answered `success`.
    #[serde(default)]
    pub acknowledgement: Option<String>,
    /// Callbacks whose timestamp is further than this from the center's
    /// clock are refused as replays, in seconds (0: not checked).
    #[serde(default = "default_skew")]
    pub max_clock_skew_secs: u64,
    /// Attempts at each customer-service message.
    #[serde(default = "default_attempts")]
    pub send_attempts: u32,
    /// The first wait before another attempt, in ms (doubling each time, at most 8 s).
    #[serde(default = "default_retry")]
    pub retry_ms: u64,
}

fn default_api_base() -> String {
    "https://api.weixin.qq.com".to_owned()
}
const fn default_capacity() -> u32 {
    3
}
const fn default_skew() -> u64 {
    300
}
const fn default_attempts() -> u32 {
    4
}
const fn default_retry() -> u64 {
    500
}

impl std::fmt::Debug for WeChatConfig {
    // the token, key and secret stay out of logs
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WeChatConfig")
            .field("appid", &self.appid)
            .field("api_base", &self.api_base)
            .field("mode", &self.mode)
            .field("queue", &self.queue)
            .finish_non_exhaustive()
    }
}

impl WeChatConfig {
    /// Checks the settings; errors name `at.<field>` and never quote a secret.
    ///
    /// # Errors
    /// [`ChannelError::Config`] naming the field at fault.
    pub fn validate(&self, at: &str) -> Result<(), ChannelError> {
        let bad = |field: &str, detail: &str| ChannelError::Config {
            field: format!("{at}.{field}"),
            detail: detail.to_owned(),
        };
        if !(3..=32).contains(&self.token.len())
            || !self.token.bytes().all(|b| b.is_ascii_alphanumeric())
        {
            return Err(bad("token", "3-32 letters or digits"));
        }
        match (&self.encoding_aes_key, self.mode) {
            (Some(k), _) => {
                if MsgCrypt::new(k, &self.appid).is_err() {
                    return Err(bad(
                        "encoding_aes_key",
                        "43 base64 characters (as the console shows it)",
                    ));
                }
            }
            (None, WeChatMode::Plain) => {}
            (None, _) => {
                return Err(bad(
                    "encoding_aes_key",
                    "needed in compatible and safe mode",
                ));
            }
        }
        if self.appid.is_empty()
            || self.appid.len() > 64
            || !self
                .appid
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_')
        {
            return Err(bad("appid", "1-64 letters, digits or _"));
        }
        if self.secret.is_empty() || self.secret.len() > 128 || !self.secret.is_ascii() {
            return Err(bad("secret", "1-128 ASCII characters"));
        }
        http::parse_base(&self.api_base).map_err(|e| bad("api_base", &e))?;
        if self.queue.is_empty() {
            return Err(bad("queue", "empty"));
        }
        if self.agent_capacity == 0 {
            return Err(bad("agent_capacity", "at least 1"));
        }
        if self.send_attempts == 0 || self.send_attempts > 10 {
            return Err(bad("send_attempts", "1-10"));
        }
        if self.retry_ms == 0 || self.retry_ms > 60_000 {
            return Err(bad("retry_ms", "1-60000"));
        }
        if self.acknowledgement.as_ref().is_some_and(|a| a.is_empty()) {
            return Err(bad("acknowledgement", "empty"));
        }
        Ok(())
    }
}

/// What the WeChat channel did, for tests and metrics.
#[derive(Debug, Default)]
pub struct WeChatCounters {
    /// Users' messages routed (new conversations and messages joining one).
    pub routed: AtomicU64,
    /// Callbacks WeChat sent again (same MsgId) and were dropped.
    pub duplicates: AtomicU64,
    /// Events (subscribe, menu clicks ...) taken without a conversation.
    pub events: AtomicU64,
    /// Callbacks refused (bad signature, replayed timestamp, malformed XML or
    /// ciphertext).
    pub refused: AtomicU64,
    /// URL checks answered.
    pub verified: AtomicU64,
    /// Customer-service messages sent.
    pub sent: AtomicU64,
    /// Access tokens fetched.
    pub token_fetches: AtomicU64,
    /// Sends the API refused for an expired or invalid token (then sent again).
    pub token_refused: AtomicU64,
    /// Waits before another attempt (transport failures, busy API).
    pub retries: AtomicU64,
    /// Why each refused callback was refused, latest last (at most 100).
    pub refusals: Mutex<Vec<String>>,
}

impl WeChatCounters {
    /// Routed, duplicates, refused, sent.
    pub fn counts(&self) -> (u64, u64, u64, u64) {
        (
            self.routed.load(Ordering::Relaxed),
            self.duplicates.load(Ordering::Relaxed),
            self.refused.load(Ordering::Relaxed),
            self.sent.load(Ordering::Relaxed),
        )
    }

    fn refuse(&self, why: &str) {
        self.refused.fetch_add(1, Ordering::Relaxed);
        let mut r = self
            .refusals
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if r.len() >= 100 {
            r.remove(0);
        }
        r.push(why.to_owned());
    }
}

/// A running WeChat channel: its callback handler and API client.
#[derive(Debug)]
pub struct WeChatChannel {
    config: WeChatConfig,
    crypt: Option<MsgCrypt>,
    inbox: Arc<Inbox>,
    clock: Arc<dyn Clock>,
    api: Arc<WeChatApi>,
    counters: Arc<WeChatCounters>,
    seen: Mutex<Seen>,
}

impl WeChatChannel {
    /// The channel of `config`, feeding `inbox`, whose outbox becomes the
    /// customer-service message API.
    ///
    /// # Errors
    /// [`ChannelError::Config`] when the settings are invalid.
    pub fn start(
        config: WeChatConfig,
        inbox: Arc<Inbox>,
        clock: Arc<dyn Clock>,
    ) -> Result<Arc<Self>, ChannelError> {
        config.validate("wechat")?;
        let crypt = match &config.encoding_aes_key {
            Some(k) => Some(
                MsgCrypt::new(k, &config.appid).map_err(|e| ChannelError::Config {
                    field: "wechat.encoding_aes_key".into(),
                    detail: e.to_string(),
                })?,
            ),
            None => None,
        };
        let counters = Arc::new(WeChatCounters::default());
        let api = Arc::new(WeChatApi::new(&config, clock.clone(), counters.clone())?);
        inbox.set_outbox(Arc::new(WeChatOutbox::new(api.clone())));
        Ok(Arc::new(Self {
            config,
            crypt,
            inbox,
            clock,
            api,
            counters,
            seen: Mutex::new(Seen::default()),
        }))
    }

    /// What it did so far.
    pub fn counters(&self) -> &Arc<WeChatCounters> {
        &self.counters
    }

    /// The API client (customer-service messages outside a conversation).
    pub fn api(&self) -> &Arc<WeChatApi> {
        &self.api
    }

    /// The inbox its conversations are in.
    pub fn inbox(&self) -> &Arc<Inbox> {
        &self.inbox
    }
}
