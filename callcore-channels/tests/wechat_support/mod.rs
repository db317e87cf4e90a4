//! A local double of WeChat's side of an Official Account, for tests:
//!
//! - [`WeChatDouble`]: the API server (axum on 127.0.0.1) — `GET
//!   /cgi-bin/token` issues access tokens to the right AppID/AppSecret (40013
//!   / 40125 otherwise) that live `expires_in` seconds; `POST
//!   /cgi-bin/message/custom/send` checks the token (40001 unknown, 42001
//!   expired) and the JSON (touser, msgtype text, content) and keeps each
//!   message; it can expire every token at once and answer "system busy"
//!   (-1) or HTTP 503 a number of times.
//! - [`WeChatPeer`]: WeChat's server calling the center back — the URL
//!   check and users' messages, signed, and encrypted in safe mode, as the
//!   protocol says (SHA-1 of the sorted token/timestamp/nonce[/Encrypt]).
//!
//! Shared by callcore-channels' and callcore-premise's tests.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]
#![allow(clippy::disallowed_methods)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use callcore_channels::wechat::crypto::{MsgCrypt, signature};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// A customer-service message the double took.
#[derive(Debug, Clone)]
pub struct Sent {
    /// The openid it went to.
    pub touser: String,
    /// Its text.
    pub content: String,
    /// When it arrived.
    pub at: Instant,
}

#[derive(Debug)]
struct Api {
    appid: String,
    secret: String,
    lifetime_secs: AtomicU64,
    /// token → when it expires
    tokens: Mutex<HashMap<String, Instant>>,
    issued: AtomicU64,
    sent: Mutex<Vec<Sent>>,
    busy: AtomicU32,
    unavailable: AtomicU32,
    refused_tokens: AtomicU64,
}

/// WeChat's API, on a port of 127.0.0.1.
#[derive(Debug)]
pub struct WeChatDouble {
    /// Where it listens.
    pub addr: SocketAddr,
    api: Arc<Api>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for WeChatDouble {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn json(v: serde_json::Value) -> (StatusCode, String) {
    (StatusCode::OK, v.to_string())
}

/// `a=b&c=d` with %XX and `+` decoded (the premise's tests have no URL crate).
fn query_map(q: Option<String>) -> HashMap<String, String> {
    fn decode(s: &str) -> String {
        let b = s.as_bytes();
        let mut out = Vec::with_capacity(b.len());
        let mut i = 0;
        while i < b.len() {
            match b[i] {
                b'+' => out.push(b' '),
                b'%' if i + 2 < b.len() => {
                    let hex = std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("zz");
                    match u8::from_str_radix(hex, 16) {
                        Ok(v) => {
                            out.push(v);
                            i += 2;
                        }
                        Err(_) => out.push(b'%'),
                    }
                }
                c => out.push(c),
            }
            i += 1;
        }
        String::from_utf8_lossy(&out).into_owned()
    }
    q.unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect()
}

async fn token(State(api): State<Arc<Api>>, RawQuery(q): RawQuery) -> (StatusCode, String) {
    let q = query_map(q);
    if q.get("grant_type").map(String::as_str) != Some("client_credential") {
        return json(serde_json::json!({"errcode": 40002, "errmsg": "invalid grant_type"}));
    }
    if q.get("appid") != Some(&api.appid) {
        return json(serde_json::json!({"errcode": 40013, "errmsg": "invalid appid"}));
    }
    if q.get("secret") != Some(&api.secret) {
        return json(serde_json::json!({"errcode": 40125, "errmsg": "invalid appsecret"}));
    }
    let n = api.issued.fetch_add(1, Ordering::SeqCst) + 1;
    let life = api.lifetime_secs.load(Ordering::SeqCst);
    let value = format!("ACCESS_TOKEN_{n}_{}", std::process::id());
    api.tokens
        .lock()
        .unwrap()
        .insert(value.clone(), Instant::now() + Duration::from_secs(life));
    json(serde_json::json!({"access_token": value, "expires_in": life}))
}

async fn custom_send(
    State(api): State<Arc<Api>>,
    RawQuery(q): RawQuery,
    body: String,
) -> (StatusCode, String) {
    if api
        .unavailable
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
    {
        return (StatusCode::SERVICE_UNAVAILABLE, "busy".into());
    }
    let q = query_map(q);
    let valid = q
        .get("access_token")
        .and_then(|t| api.tokens.lock().unwrap().get(t).copied());
    match valid {
        None => {
            api.refused_tokens.fetch_add(1, Ordering::SeqCst);
            return json(serde_json::json!({"errcode": 40001, "errmsg": "invalid credential"}));
        }
        Some(expiry) if Instant::now() >= expiry => {
            api.refused_tokens.fetch_add(1, Ordering::SeqCst);
            return json(serde_json::json!({"errcode": 42001, "errmsg": "access_token expired"}));
        }
        Some(_) => {}
    }
    if api
        .busy
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
    {
        return json(serde_json::json!({"errcode": -1, "errmsg": "system error"}));
    }
    let Ok(v) = serde_json::from_str::<serde_json::Value>(&body) else {
        return json(serde_json::json!({"errcode": 47001, "errmsg": "data format error"}));
    };
    let touser = v["touser"].as_str().unwrap_or("");
    let content = v["text"]["content"].as_str().unwrap_or("");
    if touser.is_empty() || v["msgtype"] != "text" || content.is_empty() {
        return json(serde_json::json!({"errcode": 44003, "errmsg": "empty news data"}));
    }
    api.sent.lock().unwrap().push(Sent {
        touser: touser.to_owned(),
        content: content.to_owned(),
        at: Instant::now(),
    });
    json(serde_json::json!({"errcode": 0, "errmsg": "ok"}))
}

impl WeChatDouble {
    /// Starts the API of app `appid` with `secret`; tokens live `lifetime_secs`.
    pub async fn start(appid: &str, secret: &str, lifetime_secs: u64) -> Self {
        let api = Arc::new(Api {
            appid: appid.to_owned(),
            secret: secret.to_owned(),
            lifetime_secs: AtomicU64::new(lifetime_secs),
            tokens: Mutex::new(HashMap::new()),
            issued: AtomicU64::new(0),
            sent: Mutex::new(Vec::new()),
            busy: AtomicU32::new(0),
            unavailable: AtomicU32::new(0),
            refused_tokens: AtomicU64::new(0),
        });
        let app = Router::new()
            .route("/cgi-bin/token", get(token))
            .route("/cgi-bin/message/custom/send", post(custom_send))
            .with_state(api.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { addr, api, task }
    }

    /// The `api_base` to configure.
    pub fn base(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Expires every token issued so far (the next use gets 42001).
    pub fn expire_all(&self) {
        let now = Instant::now();
        for e in self.api.tokens.lock().unwrap().values_mut() {
            *e = now;
        }
    }

    /// Forgets every token (the next use gets 40001, as after a secret reset).
    pub fn revoke_all(&self) {
        self.api.tokens.lock().unwrap().clear();
    }

    /// Answers the next `n` valid sends with errcode -1 ("system busy").
    pub fn busy(&self, n: u32) {
        self.api.busy.store(n, Ordering::SeqCst);
    }

    /// Answers the next `n` sends with HTTP 503.
    pub fn unavailable(&self, n: u32) {
        self.api.unavailable.store(n, Ordering::SeqCst);
    }

    /// Tokens issued so far.
    pub fn tokens_issued(&self) -> u64 {
        self.api.issued.load(Ordering::SeqCst)
    }

    /// Sends refused for their token so far.
    pub fn tokens_refused(&self) -> u64 {
        self.api.refused_tokens.load(Ordering::SeqCst)
    }

    /// The messages taken so far.
    pub fn sent(&self) -> Vec<Sent> {
        self.api.sent.lock().unwrap().clone()
    }

    /// Waits (up to `secs`) until `n` messages were taken; them.
    pub async fn wait_sent(&self, n: usize, secs: u64) -> Vec<Sent> {
        let until = Instant::now() + Duration::from_secs(secs);
        loop {
            let s = self.sent();
            if s.len() >= n {
                return s;
            }
            assert!(
                Instant::now() < until,
                "{} of {n} customer-service messages within {secs} s",
                s.len()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// An HTTP answer.
#[derive(Debug, Clone)]
pub struct Answer {
    /// Its status.
    pub status: u16,
    /// Its body.
    pub body: String,
    /// How long it took.
    pub took: Duration,
}

/// WeChat's server calling an account's callback URL.
#[derive(Debug, Clone)]
pub struct WeChatPeer {
    /// `host:port` of the center.
    pub addr: SocketAddr,
    /// The callback path (`/wechat/default`).
    pub path: String,
    /// The account's callback token.
    pub token: String,
    /// The account's cipher, for safe mode.
    pub crypt: Option<MsgCrypt>,
    /// The account's id (`ToUserName` of callbacks).
    pub account: String,
}

static NONCE: AtomicU64 = AtomicU64::new(1_320_562_132);

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// A user's text message as WeChat writes it.
pub fn text_xml(account: &str, openid: &str, content: &str, msg_id: u64) -> String {
    format!(
        "<xml><ToUserName><![CDATA[{account}]]></ToUserName>\
         <FromUserName><![CDATA[{openid}]]></FromUserName>\
         <CreateTime>{}</CreateTime><MsgType><![CDATA[text]]></MsgType>\
         <Content><![CDATA[{content}]]></Content><MsgId>{msg_id}</MsgId></xml>",
        now_secs()
    )
}

impl WeChatPeer {
    /// Signs `timestamp`/`nonce` as WeChat does; the query of a callback.
    fn signed_query(&self, ts: &str, nonce: &str) -> String {
        format!(
            "signature={}&timestamp={ts}&nonce={nonce}&openid=o",
            signature(&[&self.token, ts, nonce])
        )
    }

    /// The URL check: GET with `echostr`.
    pub async fn verify_url(&self, echostr: &str) -> Answer {
        let ts = now_secs().to_string();
        let nonce = NONCE.fetch_add(1, Ordering::SeqCst).to_string();
        let q = format!("{}&echostr={echostr}", self.signed_query(&ts, &nonce));
        http(self.addr, "GET", &format!("{}?{q}", self.path), "").await
    }

    /// Posts a message `xml`, encrypted (safe mode) when `encrypted`.
    pub async fn post(&self, xml: &str, encrypted: bool) -> Answer {
        let ts = now_secs().to_string();
        let nonce = NONCE.fetch_add(1, Ordering::SeqCst).to_string();
        self.post_at(xml, encrypted, &ts, &nonce).await
    }

    /// [`post`](Self::post) with a given timestamp and nonce.
    pub async fn post_at(&self, xml: &str, encrypted: bool, ts: &str, nonce: &str) -> Answer {
        let mut q = self.signed_query(ts, nonce);
        let body = if encrypted {
            let crypt = self.crypt.as_ref().expect("a key for safe mode");
            let encrypt = crypt.encrypt(xml).unwrap();
            let msg_sig = signature(&[&self.token, ts, nonce, &encrypt]);
            q.push_str(&format!("&encrypt_type=aes&msg_signature={msg_sig}"));
            format!(
                "<xml><ToUserName><![CDATA[{}]]></ToUserName><Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>",
                self.account
            )
        } else {
            xml.to_owned()
        };
        http(self.addr, "POST", &format!("{}?{q}", self.path), &body).await
    }

    /// Posts `body` with a query signed by another token (a forger).
    pub async fn post_forged(&self, body: &str) -> Answer {
        let ts = now_secs().to_string();
        let q = format!(
            "signature={}&timestamp={ts}&nonce=1",
            signature(&["not-the-token", &ts, "1"])
        );
        http(self.addr, "POST", &format!("{}?{q}", self.path), body).await
    }

    /// Reads a passive reply: decrypted (and its signature checked) when it
    /// is an encrypted envelope.
    pub fn open_reply(&self, body: &str) -> String {
        let f = callcore_channels::wechat::xml::parse(body).unwrap();
        match f.get("Encrypt") {
            None => body.to_owned(),
            Some(encrypt) => {
                let sig = signature(&[
                    &self.token,
                    f.get("TimeStamp").unwrap(),
                    f.get("Nonce").unwrap(),
                    encrypt,
                ]);
                assert_eq!(f.get("MsgSignature"), Some(sig.as_str()), "reply signature");
                self.crypt.as_ref().unwrap().decrypt(encrypt).unwrap()
            }
        }
    }
}

/// One HTTP/1.1 request on its own connection.
pub async fn http(addr: SocketAddr, method: &str, target: &str, body: &str) -> Answer {
    let started = Instant::now();
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let req = format!(
        "{method} {target} HTTP/1.1\r\nHost: {addr}\r\nUser-Agent: Mozilla/4.0\r\n\
         Content-Type: text/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut raw))
        .await
        .expect("an answer within 10 s")
        .unwrap();
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    Answer {
        status,
        body: body.to_owned(),
        took: started.elapsed(),
    }
}
