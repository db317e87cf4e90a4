//! Messages per second through the router, per channel, on this machine:
//! each message is parsed as its channel takes it (MIME for e-mail, SMPP
//! text decoding for SMS), opens a conversation in the channel's inbox, is
//! routed by the ACD (callcore-acd, through the tokio runtime) to one of 20
//! desktop agents with capacity on the channel (5 e-mails, 3 SMS), accepted,
//! answered and closed. No network: the figure is the center's own cost.
//!
//! ```text
//! cargo run --release -p callcore-channels --features email,sms --example message_throughput [N]
//! ```

#![allow(clippy::unwrap_used, clippy::expect_used)]
// a benchmark measures wall time
#![allow(clippy::disallowed_methods)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use async_trait::async_trait;
use callcore::{
    AgentProfile, AgentState, Channel, CoreError, Endpoint, EventKind, QueueDefinition, UuidV7Ids,
};
use callcore_acd::{AcdConfig, AcdEngine};
use callcore_channels::email::{MailLimits, parse_mail};
use callcore_channels::sms::coding::decode;
use callcore_channels::{
    ChannelError, Inbox, Message, MessageDirection, Outbox, Outgoing, Received,
};
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

async fn run(channel: Channel, n: usize) -> f64 {
    let clock: Arc<dyn callcore::Clock> = Arc::new(SystemClock);
    let ids: Arc<dyn callcore::IdSource> = Arc::new(UuidV7Ids::random(clock.clone()));
    let inbox = Inbox::new(
        channel,
        "default".into(),
        "entry",
        clock.clone(),
        ids.clone(),
    );
    inbox.set_outbox(Arc::new(Counted::default()));
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
    let slots = if channel == Channel::Email { 5 } else { 3 };
    for i in 0..AGENTS {
        let p = AgentProfile::new(format!("a{i}"))
            .with_endpoint(Endpoint::Desktop)
            .with_capacity(channel, slots);
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
    let raw_mail = |i: usize| {
        format!(
            "From: customer{i}@example.org\r\nTo: support@center.test\r\nSubject: Order {i}\r\n\
             Message-ID: <m{i}@example.org>\r\nContent-Type: text/html\r\n\r\n\
             <p>Where is my <b>order {i}</b>?</p>\r\n"
        )
    };
    let limits = MailLimits::default();
    let window = AGENTS * slots as usize * 2;
    let started = Instant::now();
    let mut sent = 0;
    let mut ended = 0;
    while ended < n {
        while sent < n && sent - ended < window {
            let received = if channel == Channel::Email {
                parse_mail(
                    raw_mail(sent).as_bytes(),
                    &limits,
                    "support@center.test",
                    clock.now(),
                )
                .unwrap()
                .received
            } else {
                let number = format!("+49155{sent:07}");
                Received {
                    thread: vec![format!("sms:{number}")],
                    customer: number,
                    message: Message {
                        id: format!("mo-{sent}"),
                        direction: MessageDirection::Inbound,
                        at: clock.now(),
                        subject: None,
                        text: decode(0, b"Hello, my card is blocked").unwrap(),
                        attachments: Vec::new(),
                    },
                }
            };
            inbox.receive(received);
            sent += 1;
        }
        if done_rx.recv().await.is_none() {
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
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(5000);
    for channel in [Channel::Email, Channel::Sms] {
        let rate = run(channel, n).await;
        println!("{channel:?}: {n} messages in, routed, answered and closed: {rate:.0} messages/s");
    }
}
