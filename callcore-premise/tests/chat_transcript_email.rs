//! Web chat's "e-mail me the transcript" through the running premise center:
//! a visitor in headless Chromium (the widget at `/chat`, playwright-core)
//! chats with agent 2001 (over the web API), asks for the transcript in the
//! widget, and the mail arrives through the `[email]` channel's SMTP server
//! (`mail-devel` from PyPI) in the visitor's IMAP mailbox with the
//! conversation's lines — the card number and the value of a slot the flow
//! marked sensitive masked. A list of addresses is refused with the reason
//! shown in the widget and nothing sent; after the chat ended it can still be
//! asked for; the fourth request of the hour is refused.
//!
//! Fixed ports 31740-31741 (mail-devel's SMTP and IMAP; no other test uses
//! 31740-31749). Needs chromium, node and playwright-core in `.cache/node`
//! and the peers' venv with `mail_devel` (`.ci/run`): skipped with a notice
//! otherwise, failing under `CALLCORE_REQUIRE_PEERS=1`.

#![allow(clippy::unwrap_used, clippy::expect_used)]
// Real browsers and peers run in wall-clock time: the test waits for them.
#![allow(clippy::disallowed_methods)]

#[path = "browser_support/mod.rs"]
mod browser;
#[path = "call_support/mod.rs"]
mod call;
#[path = "channels_support/mod.rs"]
mod peers;
#[path = "web_support/mod.rs"]
mod web;

use browser::PageDriver;
use callcore::{EventKind, InteractionContext, Pii, TenantId, mask_sensitive};
use callcore_channels::chat::SessionKey;
use callcore_premise::Premise;
use serde_json::{Value, json};
use web::{http, login};

const ANN: &str = "ann@example.org";
const EVE: &str = "eve@example.org";
const SMTP_PORT: u16 = 31740;
const IMAP_PORT: u16 = 31741;

async fn start(mail: &peers::MailServer) -> Premise {
    let dir = call::data_dir("chat-transcript-email");
    let extra = format!(
        "[[agents]]\nid = \"2001\"\nname = \"Alice\"\npassword = \"alice-2001\"\n\
         contact = \"sip:2001@127.0.0.1:9\"\nskills = [\"support\"]\n\
         [chat]\nqueue = \"support\"\n\
         [email]\naddress = \"support@center.test\"\nimap = \"127.0.0.1:{}\"\n\
         smtp = \"127.0.0.1:{}\"\nuser = \"support@center.test\"\npassword = \"secret\"\n\
         queue = \"support\"\npoll_ms = 500\n",
        mail.imap, mail.smtp
    );
    let mut cfg = call::config(&dir, &extra);
    cfg.http.enabled = true;
    cfg.http.bind = Some("127.0.0.1:0".parse().unwrap());
    Premise::start(cfg).await.unwrap()
}

struct Widget(PageDriver);

impl Widget {
    async fn cmd(&mut self, mut c: Value) -> Value {
        c["page"] = json!("ann");
        self.0.cmd(c).await
    }
    async fn wait(&mut self, js: &str) {
        self.cmd(json!({"op": "wait", "js": js, "timeout_ms": 20000}))
            .await;
    }
    async fn fill(&mut self, testid: &str, value: &str) {
        self.cmd(json!({"op": "fill", "testid": testid, "value": value}))
            .await;
    }
    async fn click(&mut self, testid: &str) {
        self.cmd(json!({"op": "click", "testid": testid})).await;
    }
    async fn say(&mut self, text: &str, acks: usize) {
        self.fill("chat-input", text).await;
        self.click("chat-send").await;
        self.wait(&format!(
            "window.chat.log.filter(l => l.startsWith('ack:')).length >= {acks}"
        ))
        .await;
    }
    /// Asks for the transcript at `email`; the `n`th answer's note.
    async fn ask_transcript(&mut self, email: &str, n: usize) -> String {
        self.click("chat-transcript").await;
        self.fill("chat-transcript-email", email).await;
        self.click("chat-transcript-send").await;
        self.wait(&format!(
            "window.chat.log.filter(l => l.startsWith('transcript-')).length >= {n}"
        ))
        .await;
        let log = self
            .cmd(json!({"op": "eval", "js": "window.chat.log.filter(l => l.startsWith('transcript-'))"}))
            .await["value"]
            .clone();
        log[n - 1].as_str().unwrap().to_owned()
    }
    async fn status(&mut self) -> String {
        self.cmd(json!({"op": "text", "testid": "chat-transcript-status"}))
            .await["text"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_visitor_gets_the_masked_transcript_by_email() {
    if !browser::browser_ready("the chat transcript e-mail test") {
        return;
    }
    let Some(python) = peers::python_with("mail_devel", "the chat transcript e-mail test") else {
        return;
    };
    let mail = peers::MailServer::start_on(python, SMTP_PORT, IMAP_PORT).await;
    let premise = start(&mail).await;
    let addr = premise.http_addr().unwrap();
    let mut events = premise.center().subscribe();
    let agent = login(addr, "2001", "alice-2001").await;
    let mut w = Widget(PageDriver::start());
    w.cmd(json!({"op": "open", "url": format!("http://{addr}/chat"), "shared": true}))
        .await;
    w.wait("window.chat && window.chat.online").await;
    // offered because the center has an [email] channel
    w.cmd(json!({"op": "visible", "testid": "chat-transcript", "timeout_ms": 20000}))
        .await;

    // nothing said yet: nothing to send
    let first = w.ask_transcript(ANN, 1).await;
    assert_eq!(first, "transcript-refused:there is nothing to send yet");

    w.say("Hello, I need help with order 77", 1).await;
    let (id, reservation) = call::wait_for(&mut events, 20, "the chat offered", |k| match k {
        EventKind::Offered {
            interaction,
            reservation,
            ..
        } => Some((interaction.clone(), reservation.clone())),
        _ => None,
    })
    .await;
    let r = http(
        addr,
        "POST",
        &format!("/api/v1/offers/{reservation}/accept"),
        Some(&agent),
        None,
    )
    .await;
    assert_eq!(r.status, 204, "{}", r.body);
    let path = format!("/api/v1/interactions/{id}/messages");
    let r = http(
        addr,
        "POST",
        &path,
        Some(&agent),
        Some(r#"{"text":"Hi, this is Alice. Which card and account?"}"#),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    w.wait("window.chat.texts().some(t => t.text.includes('this is Alice'))")
        .await;
    w.say("Card 4111 1111 1111 1111, account 12345678", 2).await;
    // a flow marked the account sensitive when it handed the chat over (as a
    // bot's `context_shared` does): the transcript masks its value
    let token = w
        .cmd(json!({"op": "eval", "js": "window.chat.token"}))
        .await["value"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        premise
            .chat()
            .unwrap()
            .interaction_of(SessionKey::Token(&token)),
        Some(id.clone())
    );
    let mut context = InteractionContext::default();
    context
        .slots
        .insert("account".into(), Pii::new(mask_sensitive("12345678")));
    context.sensitive.insert("account".into());
    premise.center().journal_event(
        &TenantId::new("default"),
        EventKind::ContextShared {
            interaction: id.clone(),
            context,
        },
    );

    // a list of addresses is refused, the reason shown; nothing goes out
    let refused = w.ask_transcript(&format!("{ANN}, {EVE}"), 2).await;
    assert!(
        refused.starts_with("transcript-refused:email: one address only"),
        "{refused}"
    );
    assert!(w.status().await.starts_with("Not sent: email:"));

    // during the chat: one address, and the mail arrives with the lines, masked
    let sent = w.ask_transcript(ANN, 3).await;
    assert_eq!(sent, format!("transcript-sent:{ANN}"));
    assert_eq!(
        w.status().await,
        format!("The transcript is on its way to {ANN}.")
    );
    let inbox = mail.wait_mailbox(ANN, 1, 20).await;
    assert_eq!(inbox[0]["subject"], "Your chat transcript", "{inbox:?}");
    assert!(
        inbox[0]["from"]
            .as_str()
            .unwrap()
            .contains("support@center.test")
    );
    let text = inbox[0]["text"].as_str().unwrap().to_owned();
    let lines: Vec<&str> = text.lines().collect();
    let said: Vec<&str> = lines
        .iter()
        .filter_map(|l| l.split_once("] ").map(|(_, said)| said))
        .collect();
    assert_eq!(
        said,
        [
            "You: Hello, I need help with order 77",
            "Agent: Hi, this is Alice. Which card and account?",
            "You: Card •••• •••• •••• 1111, account ••••5678",
        ],
        "{text}"
    );
    assert!(!text.contains("4111 1111") && !text.contains("12345678"));

    // after the chat ended it can still be asked for: the end is in it
    let r = http(
        addr,
        "POST",
        &path,
        Some(&agent),
        Some(r#"{"text":"Done, goodbye.","close":true}"#),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    w.wait("window.chat.log.includes('ended')").await;
    let again = w.ask_transcript(ANN, 4).await;
    assert_eq!(again, format!("transcript-sent:{ANN}"));
    let inbox = mail.wait_mailbox(ANN, 2, 20).await;
    let second = inbox[1]["text"].as_str().unwrap();
    assert!(second.contains("Agent: Done, goodbye.\n"), "{second}");
    assert!(second.contains("The chat ended.\n"), "{second}");

    // the hour's limit: a third mail goes, the fourth is refused
    assert_eq!(
        w.ask_transcript(ANN, 5).await,
        format!("transcript-sent:{ANN}")
    );
    let fourth = w.ask_transcript(ANN, 6).await;
    assert_eq!(fourth, "transcript-refused:at most 3 transcripts an hour");
    mail.wait_mailbox(ANN, 3, 20).await;
    // nothing ever went to the other address, nor a fourth to Ann
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(mail.mailbox(ANN).await.len(), 3);
    assert!(mail.mailbox(EVE).await.is_empty());
    w.0.close().await;
}
