//! Messages per second through the WeChat adapter into the router, on this
//! machine: each user's message is a safe-mode callback as WeChat's server
//! sends it (signed, AES-encrypted, made before the clock starts) that the
//! channel checks (signature, msg_signature, timestamp), decrypts, parses and
//! dedupes; it opens a conversation routed by the ACD (callcore-acd, through
//! the tokio runtime) to one of 20 desktop agents with 3 WeChat slots each,
//! accepted, answered and closed. Two figures: the answers counted in
//! process (the center's own cost), and the answers sent through
//! `custom/send` to the local double of WeChat's API over loopback HTTP
//! (one connection per message, as the adapter does).
//!
//! ```text
//! cargo run --release -p callcore-channels --features wechat --example wechat_throughput [N]
//! ```

#![allow(clippy::unwrap_used, clippy::expect_used)]
// a benchmark measures wall time
#![allow(clippy::disallowed_methods)]

#[path = "../tests/wechat_support/mod.rs"]
mod double;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use async_trait::async_trait;
use callcore::{
    AgentProfile, AgentState, Channel, CoreError, Endpoint, EventKind, QueueDefinition, UuidV7Ids,
};
use callcore_acd::{AcdConfig, AcdEngine};
use callcore_channels::wechat::crypto::{MsgCrypt, signature};
use callcore_channels::wechat::{WeChatChannel, WeChatConfig};
use callcore_channels::{ChannelError, Inbox, Outbox, Outgoing};
use callcore_runtime::{Center, Flow, FlowContext, FlowOutcome, SystemClock};

#[derive(Debug)]
struct ToQueue;

#[async_trait]
impl Flow for ToQueue {
    async fn run(&self, call: &mut FlowContext) -> Result<FlowOutcome, CoreError> {
        let outcome = call.enqueue("messages").await?;
        Ok(FlowOutcome::Done(outcome.end_reason()))
    }
}

/// Counts replies instead of sending them.
#[derive(Debug, Default)]
struct Counted(AtomicU64);

#[async_trait]
impl Outbox for Counted {
    async fn send(&self, _reply: &Outgoing) -> Result<String, ChannelError> {
        let n = self.0.fetch_add(1, Ordering::Relaxed);
        Ok(format!("out-{n}"))
    }
}

const AGENTS: usize = 20;
const SLOTS: u32 = 3;
const KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";

/// `n` callbacks (query, body) as WeChat's server signs and encrypts them.
fn callbacks(n: usize) -> Vec<(String, String)> {
    let crypt = MsgCrypt::new(KEY, "wxbench").unwrap();
    let ts = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        .to_string();
    (0..n)
        .map(|i| {
            let nonce = (1_000_000 + i).to_string();
            let xml = format!(
                "<xml><ToUserName><![CDATA[gh_bench]]></ToUserName>\
                 <FromUserName><![CDATA[oUser{i:07}]]></FromUserName><CreateTime>{ts}</CreateTime>\
                 <MsgType><![CDATA[text]]></MsgType><Content><![CDATA[我的银行卡被锁了 card {i}]]></Content>\
                 <MsgId>{}</MsgId></xml>",
                6_054_768_590_064_713_728u64 + i as u64
            );
            let encrypt = crypt.encrypt(&xml).unwrap();
            let query = format!(
                "signature={}&timestamp={ts}&nonce={nonce}&openid=oUser{i:07}&encrypt_type=aes&msg_signature={}",
                signature(&["benchtoken", &ts, &nonce]),
                signature(&["benchtoken", &ts, &nonce, &encrypt])
            );
            let body = format!(
                "<xml><ToUserName><![CDATA[gh_bench]]></ToUserName><Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>"
            );
            (query, body)
        })
        .collect()
}

async fn run(n: usize, api: Option<&double::WeChatDouble>) -> f64 {
    let clock: Arc<dyn callcore::Clock> = Arc::new(SystemClock);
    let ids: Arc<dyn callcore::IdSource> = Arc::new(UuidV7Ids::random(clock.clone()));
    let inbox = Inbox::new(
        Channel::WeChat,
        "default".into(),
        "entry",
        clock.clone(),
        ids.clone(),
    );
    if api.is_none() {
        // set first: the channel's own outbox is then not taken
        inbox.set_outbox(Arc::new(Counted::default()));
    }
    let config: WeChatConfig = toml::from_str(&format!(
        "token = \"benchtoken\"\nencoding_aes_key = \"{KEY}\"\nappid = \"wxbench\"\n\
         secret = \"bench-secret\"\nmode = \"safe\"\nqueue = \"messages\"\napi_base = \"{}\"\n",
        api.map_or_else(
            || "http://127.0.0.1:9".to_owned(),
            double::WeChatDouble::base
        )
    ))
    .unwrap();
    let channel = WeChatChannel::start(config, inbox.clone(), clock.clone()).unwrap();
    let center = Center::builder()
        .clock(clock.clone())
        .ids(ids)
        .transport(inbox.clone())
        .router(Box::new(AcdEngine::new(AcdConfig::default())))
        .flow("to_queue", Arc::new(ToQueue))
        .route("entry", "to_queue")
        .build()
        .unwrap()
        .start()
        .await
        .unwrap();
    center
        .add_queue(QueueDefinition::new("messages"))
        .await
        .unwrap();
    for i in 0..AGENTS {
        let p = AgentProfile::new(format!("a{i}"))
            .with_endpoint(Endpoint::Desktop)
            .with_capacity(Channel::WeChat, SLOTS);
        center.add_agent(p).await.unwrap();
        center
            .set_agent_state(&format!("a{i}").into(), AgentState::Available)
            .await
            .unwrap();
    }
    let mut events = center.subscribe();
    let (done_tx, mut done_rx) = tokio::sync::mpsc::unbounded_channel();
    {
        let center = center.clone();
        let inbox = inbox.clone();
        tokio::spawn(async move {
            while let Ok(e) = events.recv().await {
                match &e.kind {
                    EventKind::Offered { reservation, .. } => {
                        let _ = center.accept_offer(reservation).await;
                    }
                    EventKind::Connected { interaction, .. } => {
                        let inbox = inbox.clone();
                        let interaction = interaction.clone();
                        tokio::spawn(async move {
                            let r = inbox.reply(&interaction, "您好，已为您解锁。", true).await;
                            assert!(r.is_ok(), "{r:?}");
                        });
                    }
                    EventKind::Ended { .. } => {
                        let _ = done_tx.send(());
                    }
                    _ => {}
                }
            }
        });
    }
    let calls = callbacks(n);
    let window = AGENTS * SLOTS as usize * 2;
    let started = Instant::now();
    let mut sent = 0;
    let mut ended = 0;
    while ended < n {
        while sent < n && sent - ended < window {
            let (q, body) = &calls[sent];
            let r = channel.callback(true, q, body.as_bytes());
            assert_eq!(r.status, 200, "{}", r.body);
            sent += 1;
        }
        if done_rx.recv().await.is_none() {
            break;
        }
        ended += 1;
    }
    let secs = started.elapsed().as_secs_f64();
    let (routed, duplicates, refused, _) = channel.counters().counts();
    assert_eq!((routed as usize, duplicates, refused), (n, 0, 0));
    if let Some(api) = api {
        assert_eq!(api.sent().len(), n, "every answer reached custom/send");
    }
    center.shutdown().await;
    n as f64 / secs
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(5000);
    let rate = run(n, None).await;
    println!(
        "WeChat (safe mode): {n} callbacks checked, decrypted, routed, answered and closed: {rate:.0} messages/s"
    );
    let api = double::WeChatDouble::start("wxbench", "bench-secret", 7200).await;
    let rate = run(n, Some(&api)).await;
    println!(
        "WeChat (safe mode), answers through custom/send to the local API double: {rate:.0} messages/s"
    );
}
