//! The WeChat API the channel calls: the access token
//! (`GET /cgi-bin/token`, kept until shortly before `expires_in` runs out and
//! fetched again at once when the API says it expired or is invalid,
//! errcode 40001/42001/40014) and customer-service messages
//! (`POST /cgi-bin/message/custom/send`), retried with exponential backoff
//! on transport failures, HTTP 5xx and "system busy" (-1).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use async_trait::async_trait;
use callcore::{Clock, Timestamp};

use super::WeChatCounters;
use super::http::ApiBase;
use crate::{ChannelError, Outbox, Outgoing};

/// How long one API request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// The longest wait between two attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(8);

/// API error codes meaning the access token is invalid or expired.
const TOKEN_ERRORS: [i64; 3] = [40001, 40014, 42001];

/// "System busy, try again": retried like a transport failure.
const BUSY: i64 = -1;

#[derive(Clone)]
struct Token {
    value: String,
    /// When to fetch the next one (before WeChat's expiry).
    refresh_at: Timestamp,
}

/// A client of the WeChat API for one app.
pub struct WeChatApi {
    base: ApiBase,
    appid: String,
    secret: String,
    clock: Arc<dyn Clock>,
    token: tokio::sync::Mutex<Option<Token>>,
    attempts: u32,
    backoff: Duration,
    counters: Arc<WeChatCounters>,
}

impl std::fmt::Debug for WeChatApi {
    // the secret and the token stay out of logs
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WeChatApi")
            .field("base", &self.base)
            .field("appid", &self.appid)
            .finish_non_exhaustive()
    }
}

/// An API answer: `errcode` (0 when absent) and the JSON.
fn answer(status: u16, body: &[u8]) -> Result<(i64, serde_json::Value), String> {
    if status >= 500 {
        return Err(format!("HTTP {status}"));
    }
    let v: serde_json::Value =
        serde_json::from_slice(body).map_err(|_| format!("HTTP {status}: not JSON"))?;
    let code = v
        .get("errcode")
        .and_then(serde_json::Value::as_i64)
        .unwrap_or(0);
    Ok((code, v))
}

fn errmsg(v: &serde_json::Value) -> &str {
    v.get("errmsg").and_then(|m| m.as_str()).unwrap_or("")
}

impl WeChatApi {
    /// A client of the API at `api_base` for `appid`.
    ///
    /// # Errors
    /// [`ChannelError::Config`] naming `wechat.api_base` when the URL is bad.
    pub(crate) fn new(
        config: &super::WeChatConfig,
        clock: Arc<dyn Clock>,
        counters: Arc<WeChatCounters>,
    ) -> Result<Self, ChannelError> {
        let base = ApiBase::new(&config.api_base).map_err(|detail| ChannelError::Config {
            field: "wechat.api_base".into(),
            detail,
        })?;
        Ok(Self {
            base,
            appid: config.appid.clone(),
            secret: config.secret.clone(),
            clock,
            token: tokio::sync::Mutex::new(None),
            attempts: config.send_attempts,
            backoff: Duration::from_millis(config.retry_ms),
            counters,
        })
    }

    /// A valid access token: the one held, or a new one when there is none,
    /// it is due for refresh, or it is `stale` (the API refused it).
    async fn access_token(&self, stale: Option<&str>) -> Result<String, ChannelError> {
        let mut held = self.token.lock().await;
        if let Some(t) = held.as_ref()
            && self.clock.now() < t.refresh_at
            && stale != Some(t.value.as_str())
        {
            return Ok(t.value.clone());
        }
        let query: String = form_urlencoded::Serializer::new(String::new())
            .append_pair("grant_type", "client_credential")
            .append_pair("appid", &self.appid)
            .append_pair("secret", &self.secret)
            .finish();
        let (status, body) = self
            .base
            .request(&format!("/cgi-bin/token?{query}"), None, REQUEST_TIMEOUT)
            .await
            .map_err(|e| ChannelError::peer("wechat", format!("token: {e}")))?;
        let (code, v) = answer(status, &body)
            .map_err(|e| ChannelError::peer("wechat", format!("token: {e}")))?;
        let value = v.get("access_token").and_then(|t| t.as_str());
        let expires = v.get("expires_in").and_then(serde_json::Value::as_i64);
        let (Some(value), Some(expires), 0) = (value, expires, code) else {
            return Err(ChannelError::peer(
                "wechat",
                format!("token: errcode {code} {}", errmsg(&v)),
            ));
        };
        // refreshed ahead of expiry: 5 minutes before (WeChat's 7200 s), or a
        // fifth of a shorter lifetime
        let lifetime_ms = expires.max(1) * 1000;
        let ahead_ms = (lifetime_ms / 5).min(300_000);
        let refresh_at =
            Timestamp::from_millis(self.clock.now().as_millis() + lifetime_ms - ahead_ms);
        self.counters.token_fetches.fetch_add(1, Ordering::Relaxed);
        tracing::info!(expires_in = expires, "WeChat access token fetched");
        *held = Some(Token {
            value: value.to_owned(),
            refresh_at,
        });
        Ok(value.to_owned())
    }

    /// Sends a text customer-service message to `openid`.
    ///
    /// # Errors
    /// [`ChannelError::Peer`] when the API refuses it (with its errcode) or
    /// stays unreachable after every attempt.
    pub async fn send_text(&self, openid: &str, text: &str) -> Result<(), ChannelError> {
        let body = serde_json::json!({
            "touser": openid,
            "msgtype": "text",
            "text": { "content": text },
        })
        .to_string()
        .into_bytes();
        let mut stale: Option<String> = None;
        let mut last = String::new();
        let mut token_retries = 0;
        let mut attempt = 0;
        while attempt < self.attempts {
            let token = match self.access_token(stale.as_deref()).await {
                Ok(t) => t,
                Err(e) => {
                    last = e.to_string();
                    attempt += 1;
                    self.back_off(attempt).await;
                    continue;
                }
            };
            let path = format!(
                "/cgi-bin/message/custom/send?access_token={}",
                form_urlencoded::byte_serialize(token.as_bytes()).collect::<String>()
            );
            let outcome = self
                .base
                .request(&path, Some(body.clone()), REQUEST_TIMEOUT)
                .await
                .and_then(|(status, b)| answer(status, &b));
            match outcome {
                Ok((0, _)) => {
                    self.counters.sent.fetch_add(1, Ordering::Relaxed);
                    return Ok(());
                }
                Ok((code, _)) if TOKEN_ERRORS.contains(&code) && token_retries < 2 => {
                    // expired or revoked: a new token, sent again at once
                    tracing::info!(
                        errcode = code,
                        "WeChat access token refused; fetching another"
                    );
                    self.counters.token_refused.fetch_add(1, Ordering::Relaxed);
                    token_retries += 1;
                    stale = Some(token);
                }
                Ok((BUSY, v)) => {
                    last = format!("errcode -1 {}", errmsg(&v));
                    attempt += 1;
                    self.back_off(attempt).await;
                }
                Ok((code, v)) => {
                    tracing::warn!(errcode = code, "WeChat refused a customer-service message");
                    return Err(ChannelError::peer(
                        "wechat",
                        format!("custom/send: errcode {code} {}", errmsg(&v)),
                    ));
                }
                Err(e) => {
                    last = e;
                    attempt += 1;
                    self.back_off(attempt).await;
                }
            }
        }
        tracing::warn!(error = %last, attempts = self.attempts, "WeChat message not sent");
        Err(ChannelError::peer("wechat", format!("custom/send: {last}")))
    }

    async fn back_off(&self, attempt: u32) {
        if attempt >= self.attempts {
            return;
        }
        self.counters.retries.fetch_add(1, Ordering::Relaxed);
        let wait = self
            .backoff
            .saturating_mul(1 << (attempt - 1).min(10))
            .min(MAX_BACKOFF);
        self.clock.sleep(wait).await;
    }
}

/// The channel's outbox: agents' and flows' messages as customer-service
/// messages to the conversation's openid.
#[derive(Debug)]
pub struct WeChatOutbox {
    api: Arc<WeChatApi>,
    numbered: std::sync::atomic::AtomicU64,
}

impl WeChatOutbox {
    pub(crate) fn new(api: Arc<WeChatApi>) -> Self {
        Self {
            api,
            numbered: std::sync::atomic::AtomicU64::new(0),
        }
    }
}

#[async_trait]
impl Outbox for WeChatOutbox {
    async fn send(&self, reply: &Outgoing) -> Result<String, ChannelError> {
        if reply.text.is_empty() {
            return Err(ChannelError::Unsendable("an empty message".into()));
        }
        self.api.send_text(&reply.customer, &reply.text).await?;
        // custom/send gives no message id: the channel numbers its own
        let n = self.numbered.fetch_add(1, Ordering::Relaxed) + 1;
        Ok(format!(
            "wechat-out-{}-{n}",
            self.api.clock.now().as_millis()
        ))
    }
}
