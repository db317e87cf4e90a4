//! Web chat on the premise center in real browsers: headless Chromium pages
//! driven by `playwright-core` (`tests/webrtc/page_driver.js`) — four
//! visitors on the widget (`/chat`) and agent 1001 on the desktop
//! (`/desktop`) — talking through the running center: the bot answers each
//! visitor first (the IVR's greeting and menu, `[chat] ivr_menu`, its choices
//! as quick replies); the choice "orders" queues the chat, an interaction of
//! the `chat` queue routed by the ACD to the agent, who
//! holds three chats at once (`[chat] agent_capacity = 3`) while the fourth
//! waits in the queue until one ends.
//!
//! On the way: typing shows on the other side, the agent's messages are
//! marked delivered and read by the visitor's page and the visitor's by the
//! desktop; a visitor's connection drops while the agent writes twice and the
//! visitor writes once, and after the reconnect both sides have every message
//! exactly once, in order; the desktop's own chat socket drops and resumes
//! without losing the message written meanwhile; a file within the limit reaches the agent (and
//! downloads byte for byte), one over it is refused by the server; the agent
//! ends a chat with a wrap-up code, the visitor sees the end, the transcript
//! is in the interaction's journal and the record has the code; then the
//! fourth chat is offered.
//!
//! Needs chromium, node and playwright-core in `.cache/node` (no SIP peer):
//! skipped with a notice otherwise, failing under `CALLCORE_REQUIRE_PEERS=1`.
//! `CALLCORE_CHAT_SCREENSHOT=FILE` and `CALLCORE_CHAT_WIDGET_SCREENSHOT=FILE`
//! save the desktop (three chats) and visitor 1's widget at the end
//! (docs/chat-desktop.png, docs/chat-widget.png).

#![allow(clippy::unwrap_used, clippy::expect_used)]
// Real browsers run in wall-clock time: the test waits for them.
#![allow(clippy::disallowed_methods)]

#[path = "browser_support/mod.rs"]
mod browser;
#[path = "call_support/mod.rs"]
mod call;

use std::path::Path;
use std::time::{Duration, Instant};

use browser::PageDriver;
use callcore::{Disposition, EventKind, InteractionId, Speaker, TenantId};
use callcore_channels::chat::SessionKey;
use callcore_premise::{Premise, PremiseConfig};
use serde_json::{Value, json};

const VISITORS: [&str; 4] = ["v1", "v2", "v3", "v4"];

fn premise_config(dir: &Path) -> PremiseConfig {
    let rtp = call::rtp_block(10);
    let toml = format!(
        r#"[http]
bind = "127.0.0.1:0"
[sip]
bind = "127.0.0.1:{}"
tcp = false
[media]
rtp_first = {rtp}
rtp_last = {}
[storage]
data_dir = "{}"
[ivr]
greeting = "Hello, this is the Example shop."
menu = [{{ key = "1", label = "orders", queue = "chat" }}, {{ key = "2", label = "support", queue = "support" }}]
default_queue = "chat"
[[queues]]
id = "support"
[[queues]]
id = "chat"
[chat]
queue = "chat"
agent_capacity = 3
max_attachment_bytes = 65536
ivr_menu = true
[[agents]]
id = "1001"
name = "Alice"
password = "alice1001"
contact = "sip:1001@127.0.0.1:9"
"#,
        call::sip_port(),
        rtp + 9,
        dir.display()
    );
    PremiseConfig::from_toml(&toml).unwrap()
}

struct Pages(PageDriver);

impl Pages {
    async fn cmd(&mut self, page: &str, mut c: Value) -> Value {
        c["page"] = json!(page);
        self.0.cmd(c).await
    }
    async fn eval(&mut self, page: &str, js: &str) -> Value {
        self.cmd(page, json!({"op": "eval", "js": js})).await["value"].clone()
    }
    async fn wait(&mut self, page: &str, js: &str) {
        self.cmd(page, json!({"op": "wait", "js": js, "timeout_ms": 20000}))
            .await;
    }
    async fn fill(&mut self, page: &str, testid: &str, value: &str) {
        self.cmd(
            page,
            json!({"op": "fill", "testid": testid, "value": value}),
        )
        .await;
    }
    async fn click(&mut self, page: &str, testid: &str) {
        self.cmd(page, json!({"op": "click", "testid": testid}))
            .await;
    }
    /// A visitor writes `text` and sends it.
    async fn say(&mut self, visitor: &str, text: &str) {
        self.fill(visitor, "chat-input", text).await;
        self.click(visitor, "chat-send").await;
    }
    /// The agent answers in chat `id`.
    async fn answer(&mut self, id: &InteractionId, text: &str) {
        self.fill("agent", &format!("chat-input-{id}"), text).await;
        self.click("agent", &format!("chat-send-{id}")).await;
    }
    /// The texts of the chat in the agent's card, in order.
    async fn agent_log(&mut self, id: &InteractionId) -> Vec<String> {
        let js = format!(
            "Array.from(document.querySelectorAll('[data-testid=\"chat-log-{id}\"] li')).map(li => li.dataset.seq + ':' + (li.dataset.from || 'note') + ':' + li.firstChild.textContent)"
        );
        serde_json::from_value(self.eval("agent", &js).await).unwrap()
    }
    /// The texts of the visitor's page, in order.
    async fn visitor_log(&mut self, visitor: &str) -> Vec<String> {
        let v = self
            .eval(
                visitor,
                "window.chat.texts().map(m => m.seq + ':' + m.from + ':' + m.text)",
            )
            .await;
        serde_json::from_value(v).unwrap()
    }
}

/// The interaction of a visitor's page (its session token → the hub).
async fn interaction_of(premise: &Premise, pages: &mut Pages, visitor: &str) -> InteractionId {
    let token = pages.eval(visitor, "window.chat.token").await;
    let token = token.as_str().unwrap().to_owned();
    let hub = premise.chat().expect("[chat] runs");
    for _ in 0..100 {
        if let Some(id) = hub.interaction_of(SessionKey::Token(&token)) {
            return id;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{visitor}'s chat has no interaction");
}

async fn waiting_in_chat_queue(premise: &Premise) -> Vec<InteractionId> {
    let snap = premise.center().snapshot().await.unwrap();
    snap.queues
        .iter()
        .find(|q| q.queue.as_str() == "chat")
        .map(|q| q.waiting.clone())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn visitors_chat_with_an_agent_holding_three_chats_in_chromium() {
    if !browser::browser_ready("the web chat browser test") {
        return;
    }
    let dir = call::data_dir("chat-browser");
    let premise = Premise::start(premise_config(&dir)).await.unwrap();
    let http = premise.http_addr().expect("the HTTP listener");
    let mut pages = Pages(PageDriver::start());

    // the agent logs in on the desktop (available from the start)
    pages
        .cmd(
            "agent",
            json!({"op": "open", "url": format!("http://{http}/desktop"), "shared": true}),
        )
        .await;
    pages.fill("agent", "login-user", "1001").await;
    pages.fill("agent", "login-password", "alice1001").await;
    pages.click("agent", "login-submit").await;
    pages
        .cmd("agent", json!({"op": "log", "entry": "logged-in"}))
        .await;

    // four visitors open the widget and write
    for v in VISITORS {
        pages
            .cmd(
                v,
                json!({"op": "open", "url": format!("http://{http}/chat"), "shared": true}),
            )
            .await;
        pages.wait(v, "window.chat && window.chat.online").await;
        pages.say(v, &format!("hello from {v}")).await;
        // the bot answers first: the IVR's menu, its choices as quick replies
        pages
            .cmd(
                v,
                json!({"op": "visible", "testid": "chat-quick-reply-0", "timeout_ms": 20000}),
            )
            .await;
        let choice = pages
            .cmd(v, json!({"op": "text", "testid": "chat-quick-reply-0"}))
            .await;
        assert_eq!(choice["text"], "orders");
        assert_eq!(
            pages.eval(v, "window.chat.log.some(l => l.startsWith('bot:Hello, this is the Example shop.'))").await,
            true,
            "the greeting came from the bot"
        );
        pages.click(v, "chat-quick-reply-0").await;
        pages
            .wait(
                v,
                "window.chat.log.filter(l => l.startsWith('ack:')).length === 2",
            )
            .await;
    }
    let mut ids = Vec::new();
    for v in VISITORS {
        ids.push(interaction_of(&premise, &mut pages, v).await);
    }

    // three chats are offered to the agent, who accepts them; the fourth waits
    for (i, id) in ids.iter().enumerate().take(3) {
        let card = format!("chat-accept-{id}");
        pages
            .cmd(
                "agent",
                json!({"op": "visible", "testid": card, "timeout_ms": 20000}),
            )
            .await;
        pages.click("agent", &card).await;
        pages
            .cmd(
                "agent",
                json!({"op": "log", "entry": format!("chat-active:{id}")}),
            )
            .await;
        pages
            .wait(VISITORS[i], "window.chat.log.includes('joined:1001')")
            .await;
    }
    let held = pages
        .eval("agent", "window.desktop.chats.active().length")
        .await;
    assert_eq!(held, 3, "the agent holds three chats");
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(2) {
        assert_eq!(
            waiting_in_chat_queue(&premise).await,
            [ids[3].clone()],
            "the fourth chat waits"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let fourth_card = pages
        .eval(
            "agent",
            &format!(
                "!!document.querySelector('[data-testid=\"chat-{}\"]')",
                ids[3]
            ),
        )
        .await;
    assert_eq!(
        fourth_card, false,
        "the fourth chat is not offered while three are held"
    );
    assert_eq!(
        pages
            .eval(
                VISITORS[3],
                "window.chat.log.some(l => l.startsWith('joined'))"
            )
            .await,
        false
    );

    // typing, replies, delivery and read marks, both ways
    let chat1 = ids[0].clone();
    pages
        .fill(VISITORS[0], "chat-input", "I have a question")
        .await;
    pages
        .cmd(
            "agent",
            json!({"op": "visible", "testid": format!("chat-typing-{chat1}")}),
        )
        .await;
    pages.click(VISITORS[0], "chat-send").await;
    pages
        .cmd(
            "agent",
            json!({"op": "log", "entry": format!("chat-message:{chat1}:I have a question")}),
        )
        .await;
    pages
        .cmd(
            "agent",
            json!({"op": "hidden", "testid": format!("chat-typing-{chat1}")}),
        )
        .await;
    pages.answer(&chat1, "Sure, ask away").await;
    pages
        .wait(
            VISITORS[0],
            "window.chat.log.includes('agent:Sure, ask away')",
        )
        .await;
    // the visitor's page read it; the desktop shows so
    pages
        .wait(
            "agent",
            &format!("Array.from(document.querySelectorAll('[data-testid=\"chat-log-{chat1}\"] li.agent .state')).every(s => s.textContent === 'read')"),
        )
        .await;
    // and the visitor's messages are read by the agent
    pages
        .wait(
            VISITORS[0],
            "Array.from(document.querySelectorAll('li.visitor [data-testid=\"chat-msg-state\"]')).every(s => s.textContent === 'read')",
        )
        .await;
    // every chat is answered, each in its own card
    for (i, id) in ids.iter().enumerate().take(3).skip(1) {
        pages.answer(id, &format!("Hello visitor {}", i + 1)).await;
        pages
            .wait(
                VISITORS[i],
                &format!("window.chat.log.includes('agent:Hello visitor {}')", i + 1),
            )
            .await;
    }

    // visitor 1's connection drops; the agent writes twice, the visitor once
    pages.eval(VISITORS[0], "window.chat.drop(true)").await;
    pages.wait(VISITORS[0], "!window.chat.online").await;
    pages.answer(&chat1, "Are you still there?").await;
    pages.answer(&chat1, "I found your order").await;
    pages
        .wait("agent", &format!("document.querySelectorAll('[data-testid=\"chat-log-{chat1}\"] li[data-from=\"agent\"]').length === 3"))
        .await;
    pages
        .say(VISITORS[0], "sorry, my train went into a tunnel")
        .await;
    let pending = pages.eval(VISITORS[0], "window.chat.outbox.length").await;
    assert_eq!(pending, 1, "the offline message waits in the page's outbox");
    pages.eval(VISITORS[0], "window.chat.goOnline()").await;
    pages
        .wait(
            VISITORS[0],
            "window.chat.log.includes('resumed') && window.chat.outbox.length === 0",
        )
        .await;
    pages
        .wait(
            VISITORS[0],
            "window.chat.log.includes('agent:I found your order')",
        )
        .await;
    pages
        .cmd(
            "agent",
            json!({"op": "log", "entry": format!("chat-message:{chat1}:sorry, my train")}),
        )
        .await;
    let seen = pages.visitor_log(VISITORS[0]).await;
    let desk = pages.agent_log(&chat1).await;
    eprintln!("visitor 1 sees {seen:?}\nthe agent sees {desk:?}");
    let expected = [
        "visitor:hello from v1",
        "visitor:orders",
        "visitor:I have a question",
        "agent:Sure, ask away",
        "agent:Are you still there?",
        "agent:I found your order",
        "visitor:sorry, my train went into a tunnel",
    ];
    let texts = |log: &[String]| -> Vec<String> {
        log.iter()
            .map(|l| l.split_once(':').unwrap().1.to_owned())
            .filter(|l| !l.starts_with("note:") && !l.starts_with("bot:"))
            .collect()
    };
    assert_eq!(texts(&seen), expected, "the visitor has every message once");
    assert_eq!(texts(&desk), expected, "the agent has every message once");
    // the page shows exactly the server's messages, by seq, each once
    let seqs: Vec<u64> = seen
        .iter()
        .map(|l| l.split(':').next().unwrap().parse().unwrap())
        .collect();
    let token = pages.eval(VISITORS[0], "window.chat.token").await;
    let server: Vec<u64> = premise
        .chat()
        .unwrap()
        .attach(SessionKey::Token(token.as_str().unwrap()), 0)
        .unwrap()
        .entries
        .iter()
        .filter(|e| matches!(e.kind, callcore_channels::chat::EntryKind::Message { .. }))
        .map(|e| e.seq)
        .collect();
    assert_eq!(seqs, server, "the page has every message of the log once");

    // the desktop's chat socket drops while visitor 2 writes: resumed, nothing lost
    let chat2 = ids[1].clone();
    pages
        .eval("agent", "window.desktop.chats.dropSocket()")
        .await;
    pages.say(VISITORS[1], "one more thing").await;
    pages
        .cmd(
            "agent",
            json!({"op": "log", "entry": format!("chat-message:{chat2}:one more thing")}),
        )
        .await;
    let opened = pages
        .eval(
            "agent",
            "window.desktop.log.filter(l => l === 'chat-socket-open').length",
        )
        .await;
    assert_eq!(opened, 2, "the desktop's chat socket reconnected once");
    let desk2 = pages.agent_log(&chat2).await;
    assert_eq!(
        desk2
            .iter()
            .filter(|l| l.ends_with("visitor:one more thing"))
            .count(),
        1,
        "{desk2:?}"
    );

    // a file within the limit reaches the agent, byte for byte; a larger one is refused
    let file = dir.join("receipt.txt");
    std::fs::write(&file, b"order 4711, paid 12.50 EUR\n").unwrap();
    let chat3 = ids[2].clone();
    pages
        .cmd(
            VISITORS[2],
            json!({"op": "files", "testid": "chat-file", "path": file}),
        )
        .await;
    pages.say(VISITORS[2], "my receipt").await;
    let link = format!("chat-file-{chat3}-");
    pages
        .wait(
            "agent",
            &format!("!!document.querySelector('[data-testid^=\"{link}\"]')"),
        )
        .await;
    let downloaded = pages
        .eval(
            "agent",
            &format!("fetch(document.querySelector('[data-testid^=\"{link}\"]').href).then(r => r.text())"),
        )
        .await;
    assert_eq!(downloaded, "order 4711, paid 12.50 EUR\n");
    pages
        .eval(
            VISITORS[2],
            "window.chat.ws.send(JSON.stringify({op: 'send', client_id: 'big', text: '', file: {name: 'big.bin', type: 'application/octet-stream', data: btoa('x'.repeat(70000))}}))",
        )
        .await;
    pages
        .wait(
            VISITORS[2],
            "window.chat.log.some(l => l.startsWith('refused:file: over the 65536 byte limit'))",
        )
        .await;

    // the agent ends chat 1 with a wrap-up code; the visitor sees the end
    pages.click("agent", &format!("chat-end-{chat1}")).await;
    pages
        .cmd(
            "agent",
            json!({"op": "log", "entry": format!("chat-ended:{chat1}")}),
        )
        .await;
    pages
        .wait(VISITORS[0], "window.chat.log.includes('ended')")
        .await;
    pages
        .fill("agent", &format!("chat-wrapup-code-{chat1}"), "resolved")
        .await;
    pages
        .click("agent", &format!("chat-wrapup-submit-{chat1}"))
        .await;
    pages
        .cmd(
            "agent",
            json!({"op": "log", "entry": format!("chat-wrapup-saved:{chat1}")}),
        )
        .await;

    // the freed slot takes the fourth chat (offered once chat 1 ended)
    let chat4 = ids[3].clone();
    pages
        .cmd(
            "agent",
            json!({"op": "visible", "testid": format!("chat-accept-{chat4}"), "timeout_ms": 20000}),
        )
        .await;
    let log: Vec<String> =
        serde_json::from_value(pages.eval("agent", "window.desktop.log").await).unwrap();
    let at = |entry: String| log.iter().position(|l| *l == entry).unwrap();
    assert!(
        at(format!("chat-offered:{chat4}")) > at(format!("chat-ended:{chat1}")),
        "the fourth chat is offered after the first ended: {log:?}"
    );
    pages.click("agent", &format!("chat-accept-{chat4}")).await;
    pages
        .wait(VISITORS[3], "window.chat.log.includes('joined:1001')")
        .await;
    let desk4 = pages.agent_log(&chat4).await;
    assert!(
        desk4.iter().any(|l| l.ends_with("visitor:hello from v4")),
        "the waiting visitor's first message is there: {desk4:?}"
    );

    // the transcript stays with the interaction: journaled lines and the record
    let stores = premise.center().stores();
    let tenant = TenantId::new("default");
    let mut lines = Vec::new();
    for _ in 0..50 {
        let events = stores
            .events
            .for_interaction(&tenant, &chat1)
            .await
            .unwrap();
        lines = events
            .iter()
            .filter_map(|e| match &e.kind {
                EventKind::TranscriptSegment { speaker, text, .. } => {
                    Some((*speaker, text.expose().clone()))
                }
                _ => None,
            })
            .collect::<Vec<_>>();
        if lines.iter().filter(|(s, _)| *s != Speaker::Bot).count() >= 7 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let bot = lines.iter().filter(|(s, _)| *s == Speaker::Bot).count();
    assert!(bot >= 1, "the bot's menu is in the transcript: {lines:?}");
    let said: Vec<(Speaker, &str)> = lines
        .iter()
        .filter(|(s, _)| *s != Speaker::Bot)
        .map(|(s, t)| (*s, t.as_str()))
        .collect();
    assert_eq!(
        said,
        [
            (Speaker::Customer, "hello from v1"),
            (Speaker::Customer, "orders"),
            (Speaker::Customer, "I have a question"),
            (Speaker::Agent, "Sure, ask away"),
            (Speaker::Agent, "Are you still there?"),
            (Speaker::Agent, "I found your order"),
            (Speaker::Customer, "sorry, my train went into a tunnel"),
        ]
    );
    let mut record = None;
    for _ in 0..50 {
        record = stores.interactions.get(&tenant, &chat1).await.unwrap();
        if record.as_ref().is_some_and(|r| r.disposition.is_some()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let record = record.expect("the chat's record");
    assert_eq!(record.channel, callcore::Channel::Chat);
    assert_eq!(record.agent.as_ref().map(|a| a.as_str()), Some("1001"));
    assert_eq!(
        record.disposition,
        Some(Disposition::Agent("resolved".into()))
    );
    if let Ok(path) = std::env::var("CALLCORE_CHAT_SCREENSHOT") {
        pages
            .cmd("agent", json!({"op": "screenshot", "path": path}))
            .await;
    }
    if let Ok(path) = std::env::var("CALLCORE_CHAT_WIDGET_SCREENSHOT") {
        pages
            .cmd(VISITORS[0], json!({"op": "screenshot", "path": path}))
            .await;
    }
    pages.0.close().await;
}
