//! WeChat's callbacks: the URL check (GET) and users' messages (POST), each
//! signed; answered at once whatever the conversation does next.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::Ordering;

use super::crypto::{signature, signature_matches};
use super::xml::{self, Fields};
use super::{WeChatChannel, WeChatMode};
use crate::Delivered;
use crate::message::{Message, MessageDirection, Received};

/// How many callbacks' keys are remembered to drop WeChat's retries (it
/// retries a callback three times within about 15 s).
const REMEMBERED: usize = 10_000;

/// What to answer WeChat's server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallbackReply {
    /// The HTTP status.
    pub status: u16,
    /// Its content type.
    pub content_type: &'static str,
    /// Its body.
    pub body: String,
}

impl CallbackReply {
    fn text(status: u16, body: impl Into<String>) -> Self {
        Self {
            status,
            content_type: "text/plain; charset=utf-8",
            body: body.into(),
        }
    }

    fn xml(body: String) -> Self {
        Self {
            status: 200,
            content_type: "application/xml; charset=utf-8",
            body,
        }
    }
}

/// The keys of callbacks already taken (MsgId, or user and time for events).
#[derive(Debug, Default)]
pub(crate) struct Seen {
    keys: HashSet<String>,
    order: VecDeque<String>,
}

impl Seen {
    /// Whether `key` is new (and remembers it).
    fn first(&mut self, key: String) -> bool {
        if self.keys.contains(&key) {
            return false;
        }
        if self.order.len() >= REMEMBERED
            && let Some(old) = self.order.pop_front()
        {
            self.keys.remove(&old);
        }
        self.keys.insert(key.clone());
        self.order.push_back(key);
        true
    }
}

/// A refusal: logged with its reason (never the customer's words or a
/// secret), counted, answered with `status`.
fn refuse(channel: &WeChatChannel, status: u16, why: &str) -> CallbackReply {
    tracing::warn!(status, reason = why, "WeChat callback refused");
    channel.counters.refuse(why);
    CallbackReply::text(status, why.to_owned())
}

/// What a user's message says, as an agent reads it.
fn text_of(f: &Fields) -> Option<String> {
    let kind = f.get("MsgType").unwrap_or("");
    let with = |label: &str, field: &str| {
        f.non_empty(field)
            .map_or_else(|| format!("[{label}]"), |v| format!("[{label}] {v}"))
    };
    Some(match kind {
        "text" => f.get("Content").unwrap_or("").to_owned(),
        // voice messages come with WeChat's transcription when enabled
        "voice" => match f.non_empty("Recognition") {
            Some(r) => r.to_owned(),
            None => with("voice", "MediaId"),
        },
        "image" => with("image", "PicUrl"),
        "video" | "shortvideo" => with("video", "MediaId"),
        "location" => format!(
            "[location] {} ({}, {})",
            f.get("Label").unwrap_or(""),
            f.get("Location_X").unwrap_or(""),
            f.get("Location_Y").unwrap_or("")
        ),
        "link" => format!(
            "[link] {} {}",
            f.get("Title").unwrap_or(""),
            f.get("Url").unwrap_or("")
        ),
        "event" => return None,
        other => format!("[{other}]"),
    })
}

impl WeChatChannel {
    /// Answers one callback: `post` for a message (else the URL check),
    /// `query` the raw query string, `body` the request body.
    pub fn callback(&self, post: bool, query: &str, body: &[u8]) -> CallbackReply {
        let q: HashMap<String, String> = form_urlencoded::parse(query.as_bytes())
            .into_owned()
            .collect();
        let (Some(sig), Some(ts), Some(nonce)) =
            (q.get("signature"), q.get("timestamp"), q.get("nonce"))
        else {
            return refuse(self, 400, "signature, timestamp and nonce are required");
        };
        if !signature_matches(sig, &[&self.config.token, ts, nonce]) {
            return refuse(self, 403, "bad signature");
        }
        if !post {
            return match q.get("echostr") {
                Some(echo) => {
                    self.counters.verified.fetch_add(1, Ordering::Relaxed);
                    tracing::info!("WeChat URL check answered");
                    CallbackReply::text(200, echo.clone())
                }
                None => refuse(self, 400, "echostr is required"),
            };
        }
        if let Err(why) = self.fresh(ts) {
            return refuse(self, 403, &why);
        }
        let Ok(body) = std::str::from_utf8(body) else {
            return refuse(self, 400, "the body is not UTF-8");
        };
        let outer = match xml::parse(body) {
            Ok(f) => f,
            Err(e) => return refuse(self, 400, &format!("malformed XML: {e}")),
        };
        let encrypted = q.get("encrypt_type").is_some_and(|t| t == "aes");
        let fields = if encrypted {
            match self.decrypted(&q, ts, nonce, &outer) {
                Ok(f) => f,
                Err((status, why)) => return refuse(self, status, &why),
            }
        } else if self.config.mode == WeChatMode::Safe {
            return refuse(self, 403, "a plain callback in safe mode");
        } else {
            outer
        };
        self.take(&fields, encrypted, nonce)
    }

    /// Refuses a timestamp too far from the clock (a replayed callback).
    fn fresh(&self, ts: &str) -> Result<(), String> {
        if self.config.max_clock_skew_secs == 0 {
            return Ok(());
        }
        let t: i64 = ts.parse().map_err(|_| "a bad timestamp".to_owned())?;
        let now = self.clock.now().as_millis() / 1000;
        let skew = self.config.max_clock_skew_secs as i64;
        if (now - t).abs() > skew {
            return Err(format!("timestamp {}s from the clock (replay?)", now - t));
        }
        Ok(())
    }

    /// Checks `msg_signature` over the `Encrypt` text and decrypts it.
    fn decrypted(
        &self,
        q: &HashMap<String, String>,
        ts: &str,
        nonce: &str,
        outer: &Fields,
    ) -> Result<Fields, (u16, String)> {
        let Some(crypt) = &self.crypt else {
            return Err((400, "an encrypted callback in plain mode".into()));
        };
        let Some(encrypt) = outer.non_empty("Encrypt") else {
            return Err((400, "no Encrypt element".into()));
        };
        let Some(msg_sig) = q.get("msg_signature") else {
            return Err((400, "msg_signature is required".into()));
        };
        if !signature_matches(msg_sig, &[&self.config.token, ts, nonce, encrypt]) {
            return Err((403, "bad msg_signature".into()));
        }
        let inner = crypt.decrypt(encrypt).map_err(|e| {
            let status = if e == super::crypto::CryptoError::AppId {
                403
            } else {
                400
            };
            (status, format!("ciphertext: {e}"))
        })?;
        xml::parse(&inner).map_err(|e| (400, format!("malformed decrypted XML: {e}")))
    }

    /// Routes a verified message (once per MsgId) and answers.
    fn take(&self, f: &Fields, encrypted: bool, nonce: &str) -> CallbackReply {
        let Some(openid) = f.non_empty("FromUserName") else {
            return refuse(self, 400, "no FromUserName");
        };
        let created = f.get("CreateTime").unwrap_or("");
        let key = match f.non_empty("MsgId") {
            Some(id) => format!("msg:{id}"),
            None => format!("ev:{openid}:{created}:{}", f.get("Event").unwrap_or("")),
        };
        let first = self
            .seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .first(key.clone());
        if !first {
            self.counters.duplicates.fetch_add(1, Ordering::Relaxed);
            tracing::info!("WeChat callback retried: dropped");
            return CallbackReply::text(200, "success");
        }
        let Some(text) = text_of(f) else {
            self.counters.events.fetch_add(1, Ordering::Relaxed);
            tracing::info!(event = f.get("Event").unwrap_or(""), "WeChat event taken");
            return CallbackReply::text(200, "success");
        };
        self.counters.routed.fetch_add(1, Ordering::Relaxed);
        let delivered = self.inbox.receive(Received {
            customer: openid.to_owned(),
            thread: vec![format!("wechat:{openid}")],
            message: Message {
                id: format!("wechat:{key}"),
                direction: MessageDirection::Inbound,
                at: self.clock.now(),
                subject: None,
                text,
                attachments: Vec::new(),
            },
        });
        match (&delivered, &self.config.acknowledgement) {
            (Delivered::New(id), Some(ack)) => {
                // the passive reply is part of the conversation the agent reads
                self.inbox.keep_sent(id, &format!("wechat:ack:{key}"), ack);
                self.passive(
                    openid,
                    f.get("ToUserName").unwrap_or(""),
                    ack,
                    encrypted,
                    nonce,
                )
            }
            _ => CallbackReply::text(200, "success"),
        }
    }

    /// A passive text reply, encrypted when the callback was.
    fn passive(
        &self,
        openid: &str,
        account: &str,
        text: &str,
        encrypted: bool,
        nonce: &str,
    ) -> CallbackReply {
        let now = self.clock.now().as_millis() / 1000;
        let plain = xml::text_reply(openid, account, now, text);
        match (&self.crypt, encrypted) {
            (Some(crypt), true) => match crypt.encrypt(&plain) {
                Ok(ct) => {
                    let ts = now.to_string();
                    let sig = signature(&[&self.config.token, &ts, nonce, &ct]);
                    CallbackReply::xml(xml::encrypted_reply(&ct, &sig, &ts, nonce))
                }
                Err(e) => {
                    tracing::warn!(error = %e, "WeChat acknowledgement not encrypted");
                    CallbackReply::text(200, "success")
                }
            },
            _ => CallbackReply::xml(plain),
        }
    }
}
