//! Web chat messages per second through the router, on this machine, over
//! the real WebSocket endpoint: a load client (tokio-tungstenite, its own
//! code path) opens visitors' sockets on `/chat/ws` of callcore-web's router
//! served over loopback TCP; each visitor says hello, sends one message,
//! which opens a chat interaction in the hub's inbox; the ACD (callcore-acd)
//! routes it to one of 20 desktop agents with 3 chat slots; the agent
//! accepts, answers and closes it, and the visitor's page receives the
//! answer and the end. The baseline, measured in the same run, posts the
//! same number of visitors' messages to the same kind of center in process
//! (`ChatHub::create` and `visitor_post`, what the socket handler calls; no
//! socket): the ratio is the cost of the WebSocket path.
//!
//! ```text
//! cargo run --release -p callcore-web --example chat_throughput [N] [VISITORS]
//! ```
//! N messages (default 5000) with VISITORS sockets at once (default 60).

#![allow(clippy::unwrap_used, clippy::expect_used)]
// a benchmark measures wall time
#![allow(clippy::disallowed_methods)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use callcore::{
    AgentProfile, AgentState, Channel, CoreError, Endpoint, EventKind, QueueDefinition, UuidV7Ids,
};
use callcore_acd::{AcdConfig, AcdEngine};
use callcore_channels::Inbox;
use callcore_channels::chat::{ChatHub, Limits, Post, Side};
use callcore_runtime::{Center, CenterHandle, Flow, FlowContext, FlowOutcome, SystemClock};
use callcore_web::WebApi;
use futures::{SinkExt as _, StreamExt as _};
use tokio_tungstenite::tungstenite::Message as WsMessage;

#[derive(Debug)]
struct ToQueue;

#[async_trait]
impl Flow for ToQueue {
    async fn run(&self, call: &mut FlowContext) -> Result<FlowOutcome, CoreError> {
        let outcome = call.enqueue("chat").await?;
        Ok(FlowOutcome::Done(outcome.end_reason()))
    }
}

const AGENTS: usize = 20;
const SLOTS: u32 = 3;

/// A center whose only transport is a chat inbox, with the hub over it, 20
/// agents who accept every offer and answer and close each chat at once.
/// The returned receiver gets one `()` per ended chat.
async fn center() -> (
    CenterHandle,
    Arc<ChatHub>,
    tokio::sync::mpsc::UnboundedReceiver<()>,
) {
    let clock: Arc<dyn callcore::Clock> = Arc::new(SystemClock);
    let ids: Arc<dyn callcore::IdSource> = Arc::new(UuidV7Ids::random(clock.clone()));
    let inbox = Inbox::new(
        Channel::Chat,
        "default".into(),
        "chat",
        clock.clone(),
        ids.clone(),
    );
    let hub = ChatHub::new(inbox.clone(), Limits::default(), 100_000, clock.clone());
    let center = Center::builder()
        .clock(clock)
        .ids(ids)
        .transport(inbox.clone())
        .router(Box::new(AcdEngine::new(AcdConfig::default())))
        .flow("to_queue", Arc::new(ToQueue))
        .route("chat", "to_queue")
        .build()
        .unwrap()
        .start()
        .await
        .unwrap();
    // transcript lines journaled, as the premise does
    let journal = center.clone();
    hub.set_journal(Arc::new(move |tenant, kind| {
        journal.journal_event(tenant, kind);
    }));
    center
        .add_queue(QueueDefinition::new("chat"))
        .await
        .unwrap();
    for i in 0..AGENTS {
        let p = AgentProfile::new(format!("a{i}"))
            .with_endpoint(Endpoint::Desktop)
            .with_capacity(Channel::Chat, SLOTS);
        center.add_agent(p).await.unwrap();
        center
            .set_agent_state(&format!("a{i}").into(), AgentState::Available)
            .await
            .unwrap();
    }
    let mut events = center.subscribe();
    let (done_tx, done_rx) = tokio::sync::mpsc::unbounded_channel();
    {
        let center = center.clone();
        tokio::spawn(async move {
            while let Ok(e) = events.recv().await {
                match &e.kind {
                    EventKind::Offered { reservation, .. } => {
                        let _ = center.accept_offer(reservation).await;
                    }
                    EventKind::Connected { interaction, .. } => {
                        let _ = inbox.reply(interaction, "Thank you, done.", true).await;
                    }
                    EventKind::Ended { .. } => {
                        let _ = done_tx.send(());
                    }
                    _ => {}
                }
            }
        });
    }
    (center, hub, done_rx)
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn next(ws: &mut Ws) -> serde_json::Value {
    loop {
        let m = tokio::time::timeout(Duration::from_secs(30), ws.next())
            .await
            .expect("a message within 30 s")
            .expect("the socket is open")
            .expect("a frame");
        if let WsMessage::Text(t) = m {
            return serde_json::from_str(&t).expect("JSON");
        }
    }
}

/// One visitor: a socket, hello, one message, until the agent's answer and
/// the end arrive; then the socket closes.
async fn visitor(addr: std::net::SocketAddr, n: usize) {
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/chat/ws"))
        .await
        .expect("connect");
    let hello = serde_json::json!({"op": "hello"}).to_string();
    ws.send(WsMessage::Text(hello.into())).await.expect("hello");
    assert_eq!(next(&mut ws).await["type"], "welcome");
    let send = serde_json::json!({"op": "send", "client_id": "c1",
        "text": format!("Hello, where is my order {n}?")})
    .to_string();
    ws.send(WsMessage::Text(send.into())).await.expect("send");
    let mut answered = false;
    loop {
        let m = next(&mut ws).await;
        match m["type"].as_str() {
            Some("message") if m["from"] == "agent" => answered = true,
            Some("ended") => break,
            Some("refused") => panic!("refused: {m}"),
            _ => {}
        }
    }
    assert!(
        answered,
        "the agent's answer reached the page before the end"
    );
    let _ = ws.close(None).await;
}

/// Chats over the WebSocket endpoint: messages/s.
async fn over_websocket(n: usize, visitors: usize) -> f64 {
    let (center, hub, mut done) = center().await;
    let api = WebApi::builder()
        .center(center.clone())
        .chat(hub)
        .build()
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router = api.router();
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    let next_id = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let clients: Vec<_> = (0..visitors)
        .map(|_| {
            let next_id = next_id.clone();
            tokio::spawn(async move {
                loop {
                    let i = next_id.fetch_add(1, Ordering::Relaxed);
                    if i >= n {
                        break;
                    }
                    visitor(addr, i).await;
                }
            })
        })
        .collect();
    for c in clients {
        c.await.expect("visitor task");
    }
    let secs = started.elapsed().as_secs_f64();
    let mut ended = 0;
    while done.try_recv().is_ok() {
        ended += 1;
    }
    assert_eq!(ended, n, "every chat ended");
    center.shutdown().await;
    n as f64 / secs
}

/// The same chats posted to the hub in process (`ChatHub::create` and
/// `visitor_post`, what the socket handler calls; no socket, no JSON):
/// messages/s.
async fn in_process(n: usize, window: usize) -> f64 {
    let (center, hub, mut done) = center().await;
    let started = Instant::now();
    let (mut sent, mut ended) = (0, 0);
    while ended < n {
        while sent < n && sent - ended < window {
            let token = format!("token-{sent:08}");
            hub.create(&token, &format!("v-{sent}")).expect("session");
            hub.visitor_post(
                &token,
                Post {
                    from: Side::Visitor,
                    text: format!("Hello, where is my order {sent}?"),
                    client_id: Some("c1".into()),
                    file: None,
                    quick_replies: Vec::new(),
                    bot: false,
                },
            )
            .expect("posted");
            sent += 1;
        }
        if done.recv().await.is_none() {
            break;
        }
        ended += 1;
    }
    let secs = started.elapsed().as_secs_f64();
    center.shutdown().await;
    n as f64 / secs
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    if std::env::args().any(|a| a == "--help" || a == "-h") {
        println!("chat_throughput [N=5000] [VISITORS=60]");
        return;
    }
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(5000);
    let visitors: usize = args
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or(60)
        .max(1);
    let baseline = in_process(n, visitors).await;
    println!(
        "baseline: {n} visitors' messages posted to the chat hub in process, routed, answered and closed: {baseline:.0} messages/s"
    );
    let ws = over_websocket(n, visitors).await;
    println!(
        "web chat: {n} visitors' messages over WebSockets on /chat/ws ({visitors} sockets at once), routed, answered and closed: {ws:.0} messages/s ({:.2} x the baseline)",
        ws / baseline
    );
}
