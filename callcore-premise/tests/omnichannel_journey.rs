//! One customer's journey across channels through the running premise
//! center, every channel against its real peer: headless Chromium for the
//! web-chat widget and the agent desktop (playwright-core), `mail-devel` for
//! e-mail (SMTP + IMAP) and `smpp34` for SMS.
//!
//! 1. Ann, logged in on the website (the widget's URL carries her e-mail
//!    address signed with `[chat] identity_secret`), writes on web chat; the
//!    bot of `[chat] flow` answers two questions from the knowledge base
//!    (`[ivr] knowledge_bases`) and hands off on the third. Agent 1001 in
//!    the browser desktop is offered the chat with the context — the
//!    question, the two entries answered, why it handed off — and Ann's
//!    profile (her chat id and her proven address).
//! 2. Ann then e-mails from that address: the bot of `[email] flow` hands her
//!    to an agent at once (she asks for one), and the desktop's screen pop
//!    shows one history: the chat is in it.
//! 3. Ann texts from her phone: a profile of its own (first contact), which
//!    the agent merges into hers by hand (`POST /api/v1/customers/{id}/merge`);
//!    the SMS's screen pop then has the chat and the e-mail.
//! 4. A reminder campaign by SMS reaches Ann's phone; she answers STOP; the
//!    next campaign skips her number and reaches the other lead.
//!
//! Needs chromium, node and playwright-core in `.cache/node`, and the peers'
//! venv with `mail_devel` and `smpp34` (`.ci/run`): skipped with a notice
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

use std::path::Path;
use std::time::Duration;

use browser::PageDriver;
use callcore::{EventKind, InteractionId, ReservationId};
use callcore_channels::chat::SessionKey;
use callcore_premise::notifications::NotificationSection;
use callcore_premise::{Premise, PremiseConfig};
use serde_json::{Value, json};
use web::{http, login};

const SECRET: &str = "the-shop-signs-its-visitors";
const ANN_MAIL: &str = "ann@example.org";
const ANN_PHONE: &str = "+4915550001";
const BOB_PHONE: &str = "+4915550002";
const Q1: &str = "What are your opening hours?";
const Q2: &str = "Does unused data roll over?";
const Q3: &str = "My fridge is leaking water on the kitchen floor";

fn premise_config(dir: &Path, mail: &peers::MailServer, smsc_port: u16) -> PremiseConfig {
    let flow = dir.join("bot.json");
    std::fs::write(
        &flow,
        r#"{"name": "bot_first", "start": "bot", "no_input_timeout_ms": 120000, "nodes": {
          "bot": {"type": "bot", "prompt": "Hi! What can I help you with?", "knowledge_base": "faq",
                  "max_answers": 3, "next": "bye", "handoff": "agents"},
          "agents": {"type": "queue", "queue": "support", "on_failure": "bye"},
          "bye": {"type": "hangup", "message": "Thank you, goodbye."}}}"#,
    )
    .unwrap();
    let kb = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../callcore-ivr/data/kb_en.json"
    );
    let rtp = call::rtp_block(10);
    let toml = format!(
        r#"[http]
bind = "127.0.0.1:0"
[sip]
bind = "127.0.0.1:{sip}"
tcp = false
[media]
rtp_first = {rtp}
rtp_last = {rtp_last}
[storage]
data_dir = "{dir}"
[ivr]
greeting = "Hello."
menu = [{{ key = "1", label = "support", queue = "support" }}]
default_queue = "support"
knowledge_bases = {{ faq = "{kb}" }}
[[queues]]
id = "support"
[chat]
queue = "support"
flow = "{flow}"
identity_secret = "{SECRET}"
[email]
address = "support@center.test"
imap = "127.0.0.1:{imap}"
smtp = "127.0.0.1:{smtp}"
user = "support@center.test"
password = "secret"
queue = "support"
poll_ms = 200
flow = "{flow}"
[sms]
smsc = "127.0.0.1:{smsc_port}"
system_id = "callcore"
password = "secret"
source_addr = "12345"
queue = "support"
max_per_second = 50
[[agents]]
id = "1001"
name = "Alice"
password = "alice1001"
contact = "sip:1001@127.0.0.1:9"
"#,
        sip = call::sip_port(),
        rtp_last = rtp + 9,
        dir = dir.display(),
        flow = flow.display(),
        imap = mail.imap,
        smtp = mail.smtp,
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
    async fn visible(&mut self, page: &str, testid: &str) {
        self.cmd(
            page,
            json!({"op": "visible", "testid": testid, "timeout_ms": 20000}),
        )
        .await;
    }
    async fn text(&mut self, page: &str, testid: &str) -> String {
        self.cmd(page, json!({"op": "text", "testid": testid}))
            .await["text"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }
    async fn desktop_log(&mut self, entry: &str) {
        self.cmd("agent", json!({"op": "log", "entry": entry}))
            .await;
    }
    /// Ann writes `text` and waits until the bot has said `bot_messages` in all.
    async fn ask(&mut self, text: &str, bot_messages: usize) {
        self.fill("ann", "chat-input", text).await;
        self.click("ann", "chat-send").await;
        self.wait(
            "ann",
            &format!("window.chat.log.filter(l => l.startsWith('bot:')).length >= {bot_messages}"),
        )
        .await;
    }
    /// The bot's messages on Ann's page, in order.
    async fn bot_said(&mut self) -> Vec<String> {
        serde_json::from_value(
            self.eval(
                "ann",
                "window.chat.log.filter(l => l.startsWith('bot:')).map(l => l.slice(4))",
            )
            .await,
        )
        .unwrap()
    }
}

/// The next offer to an agent: its interaction and reservation.
async fn offered(events: &mut callcore_runtime::EventSubscriber) -> (InteractionId, ReservationId) {
    call::wait_for(events, 30, "an offer", |k| match k {
        EventKind::Offered {
            interaction,
            reservation,
            ..
        } => Some((interaction.clone(), reservation.clone())),
        _ => None,
    })
    .await
}

/// The live interaction's customer profile id (GET /api/v1/calls/{id}).
async fn customer_of(addr: std::net::SocketAddr, s: &web::Session, id: &InteractionId) -> String {
    let r = http(addr, "GET", &format!("/api/v1/calls/{id}"), Some(s), None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()["customer"]
        .as_str()
        .unwrap_or_else(|| panic!("{id} has a customer: {}", r.body))
        .to_owned()
}

async fn screen_pop(addr: std::net::SocketAddr, s: &web::Session, id: &InteractionId) -> Value {
    let r = http(
        addr,
        "GET",
        &format!("/api/v1/calls/{id}/screen-pop"),
        Some(s),
        None,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()
}

fn channels_of(pop: &Value) -> Vec<String> {
    pop["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["channel"].as_str().unwrap().to_owned())
        .collect()
}

fn identities(view: &Value) -> Vec<String> {
    serde_json::from_value(view["identities"].clone()).unwrap()
}

/// Every text the message centre was asked to submit to `to`.
fn submitted_to(smsc: &peers::Smsc, to: &str) -> Vec<String> {
    smsc.submits()
        .iter()
        .filter(|s| s["to"] == to)
        .map(|s| {
            let octets = peers::unhex(s["hex"].as_str().unwrap());
            let dc = u8::try_from(s["dc"].as_u64().unwrap()).unwrap();
            callcore_channels::sms::coding::decode(dc, &octets).unwrap()
        })
        .collect()
}

async fn campaign(premise: &Premise, dir: &Path, name: &str) -> Vec<String> {
    let leads = dir.join(format!("{name}.csv"));
    std::fs::write(
        &leads,
        format!("phone,name\n{ANN_PHONE},Ann\n{BOB_PHONE},Bob\n"),
    )
    .unwrap();
    premise
        .start_notifications(NotificationSection {
            name: name.into(),
            leads,
            template: format!(
                "Hi {{name}}, {name}: your order ships today. Reply STOP to opt out."
            ),
            channel: "sms".into(),
            subject: None,
            per_second: 20,
            time_zone: None,
            start_at: None,
            allowed_hours: Vec::new(),
            holidays: Vec::new(),
        })
        .unwrap();
    for _ in 0..200 {
        let report = premise.notification_report(name).unwrap();
        if report.len() == 2 {
            // a receipt may have come already: delivered is sent, and more
            return report
                .into_iter()
                .map(|r| match r.status.as_str() {
                    "delivered" => "sent".to_owned(),
                    _ => r.status,
                })
                .collect();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "{name} did not finish: {:?}",
        premise.notification_report(name)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_customer_across_chat_email_and_sms_with_the_bot_first() {
    if !browser::browser_ready("the omnichannel journey test") {
        return;
    }
    let Some(mail_python) = peers::python_with("mail_devel", "the omnichannel journey test") else {
        return;
    };
    let Some(smpp_python) = peers::python_with("smpp34", "the omnichannel journey test") else {
        return;
    };
    let mail = peers::MailServer::start(mail_python).await;
    let mut smsc = peers::Smsc::start(smpp_python).await;
    let dir = call::data_dir("omnichannel-journey");
    let premise = Premise::start(premise_config(&dir, &mail, smsc.port))
        .await
        .unwrap();
    let addr = premise.http_addr().expect("the HTTP listener");
    smsc.wait_for("bound", 1, 10).await;
    let mut pages = Pages(PageDriver::start());

    // the agent logs in on the desktop
    pages
        .cmd(
            "agent",
            json!({"op": "open", "url": format!("http://{addr}/desktop"), "shared": true}),
        )
        .await;
    pages.fill("agent", "login-user", "1001").await;
    pages.fill("agent", "login-password", "alice1001").await;
    pages.click("agent", "login-submit").await;
    pages.desktop_log("logged-in").await;

    // 1. Ann, logged in on the shop's site, opens the chat: her address signed
    let expires = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 3600;
    let identity = format!("email:{ANN_MAIL}");
    let signature = callcore_web::sign_identity(SECRET, &identity, expires.cast_signed());
    let url =
        format!("http://{addr}/chat?identity={identity}&expires={expires}&signature={signature}");
    pages
        .cmd("ann", json!({"op": "open", "url": url, "shared": true}))
        .await;
    pages
        .wait(
            "ann",
            "window.chat && window.chat.log.includes('identified:email')",
        )
        .await;
    // a forged signature is refused (and the session stays as it was)
    let forged = pages
        .eval(
            "ann",
            "new Promise(r => { const ws = new WebSocket('ws://' + location.host + '/chat/ws'); \
             ws.onopen = () => ws.send(JSON.stringify({op: 'hello'})); \
             ws.onmessage = (e) => { const m = JSON.parse(e.data); \
               if (m.type === 'welcome') ws.send(JSON.stringify({op: 'identify', identity: 'email:eve@example.org', expires: Math.floor(Date.now() / 1000) + 60, signature: '00'})); \
               else if (m.type && m.type.startsWith('identif')) { r(m); ws.close(); } }; })",
        )
        .await;
    assert_eq!(forged["type"], "identify_refused", "{forged}");

    // the bot answers first: its greeting, two answers from the knowledge base,
    // and the hand-off on the third question
    pages.ask("Hello", 1).await;
    pages.ask(Q1, 2).await;
    pages.ask(Q2, 3).await;
    pages.ask(Q3, 4).await;
    let bot = pages.bot_said().await;
    assert_eq!(bot[0], "Hi! What can I help you with?", "{bot:?}");
    assert!(
        bot[1].starts_with("Branches are open 9:00 to 17:00"),
        "{bot:?}"
    );
    assert!(bot[2].starts_with("Unused data rolls over"), "{bot:?}");
    assert!(bot[3].contains("connect you"), "{bot:?}");

    // the agent is offered the chat with what the bot learned and who Ann is
    let token = pages.eval("ann", "window.chat.token").await;
    let chat = premise
        .chat()
        .unwrap()
        .interaction_of(SessionKey::Token(token.as_str().unwrap()))
        .expect("the chat's interaction");
    pages.desktop_log(&format!("chat-context:{chat}")).await;
    assert_eq!(
        pages.text("agent", "chat-bot-question").await,
        format!("Asked: {Q3}")
    );
    assert_eq!(
        pages.text("agent", "chat-bot-answered").await,
        "Bot answered: opening_hours, data_rollover"
    );
    assert_eq!(
        pages.text("agent", "chat-bot-handoff").await,
        "Handed off: no_answer"
    );
    let who = pages.text("agent", &format!("chat-customer-{chat}")).await;
    assert!(who.contains(&format!("email:{ANN_MAIL}")), "{who}");
    assert!(who.contains("chat_id:v-"), "{who}");
    // the whole exchange is in the card, the bot's side included
    let card = pages
        .eval(
            "agent",
            &format!("Array.from(document.querySelectorAll('[data-testid=\"chat-log-{chat}\"] li')).map(li => (li.dataset.from || 'note') + ':' + li.firstChild.textContent)"),
        )
        .await;
    let card: Vec<String> = serde_json::from_value(card).unwrap();
    for q in [Q1, Q2, Q3] {
        assert!(card.contains(&format!("visitor:{q}")), "{card:?}");
    }
    assert!(
        card.iter().filter(|l| l.starts_with("bot:")).count() >= 4,
        "{card:?}"
    );

    // the agent takes it, answers and ends it with a wrap-up
    pages.click("agent", &format!("chat-accept-{chat}")).await;
    pages.desktop_log(&format!("chat-active:{chat}")).await;
    pages
        .fill(
            "agent",
            &format!("chat-input-{chat}"),
            "Hi Ann, Alice here. A technician will call you.",
        )
        .await;
    pages.click("agent", &format!("chat-send-{chat}")).await;
    pages
        .wait(
            "ann",
            "window.chat.log.some(l => l.startsWith('agent:Hi Ann, Alice here'))",
        )
        .await;
    pages.click("agent", &format!("chat-end-{chat}")).await;
    pages.desktop_log(&format!("chat-ended:{chat}")).await;
    pages
        .fill("agent", &format!("chat-wrapup-code-{chat}"), "technician")
        .await;
    pages
        .click("agent", &format!("chat-wrapup-submit-{chat}"))
        .await;
    pages
        .desktop_log(&format!("chat-wrapup-saved:{chat}"))
        .await;
    let api = login(addr, "1001", "alice1001").await;
    // the chat's record is saved under Ann's profile
    let stores = premise.center().stores();
    let tenant = callcore::TenantId::new("default");
    let mut ann = None;
    for _ in 0..100 {
        let r = stores.interactions.get(&tenant, &chat).await.unwrap();
        if let Some(r) = r.filter(|r| r.disposition.is_some()) {
            ann = r.customer.clone();
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let ann = ann.expect("the chat's record has Ann's profile");

    // 2. Ann e-mails from her address: the bot hands her over (she asks for
    // an agent), and the desktop's screen pop has the chat in her history
    let mut events = premise.center().subscribe();
    mail.send(
        ANN_MAIL,
        "support@center.test",
        &format!(
            "From: Ann <{ANN_MAIL}>\r\nTo: support@center.test\r\nSubject: Leaking fridge\r\n\
             Message-ID: <ann-1@example.org>\r\n\r\nCan I talk to an agent about the technician please?\r\n"
        ),
    )
    .await;
    let (email, _) = offered(&mut events).await;
    pages.desktop_log("screen-pop").await;
    pages.visible("agent", "offer").await;
    pages
        .wait(
            "agent",
            "document.querySelector('[data-testid=\"pop-history\"]').textContent.includes('chat inbound')",
        )
        .await;
    assert_eq!(customer_of(addr, &api, &email).await, ann.as_str());
    let pop = screen_pop(addr, &api, &email).await;
    assert_eq!(channels_of(&pop), ["chat"], "{pop}");
    assert_eq!(pop["history"][0]["disposition"], "technician");
    assert_eq!(pop["handoff"]["bot_handoff"], "asked_for_agent", "{pop}");
    // the bot's hand-off message went to Ann, threaded
    let inbox = mail.wait_mailbox(ANN_MAIL, 1, 10).await;
    assert_eq!(inbox[0]["in_reply_to"], "<ann-1@example.org>");
    assert!(
        inbox[0]["text"].as_str().unwrap().contains("connect you"),
        "{inbox:?}"
    );
    pages.click("agent", "offer-accept").await;
    call::wait_for(&mut events, 20, "the e-mail connected", |k| {
        matches!(k, EventKind::Connected { interaction, .. } if *interaction == email).then_some(())
    })
    .await;

    // 3. Ann texts from her phone: first contact there, a profile of its own
    let mut events = premise.center().subscribe();
    smsc.deliver(
        ANN_PHONE,
        b"Hi, it's Ann from the chat, about the fridge",
        0,
        0,
    )
    .await;
    let (sms, reservation) = offered(&mut events).await;
    let r = http(
        addr,
        "POST",
        &format!("/api/v1/offers/{reservation}/accept"),
        Some(&api),
        None,
    )
    .await;
    assert_eq!(r.status, 204, "{}", r.body);
    let phone_profile = customer_of(addr, &api, &sms).await;
    assert_ne!(phone_profile, ann.as_str(), "a new number: a new profile");
    // an agent merges only the customer of an interaction they are on
    let path = format!("/api/v1/customers/{ann}/merge");
    let r = http(
        addr,
        "POST",
        &path,
        Some(&api),
        Some(&json!({"absorb": phone_profile}).to_string()),
    )
    .await;
    assert_eq!(r.status, 403, "{}", r.body);
    let r = http(
        addr,
        "POST",
        &path,
        Some(&api),
        Some(&json!({"absorb": phone_profile, "interaction": sms}).to_string()),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let merged = r.json();
    let ids = identities(&merged);
    for want in [format!("email:{ANN_MAIL}"), format!("phone:{ANN_PHONE}")] {
        assert!(ids.contains(&want), "{ids:?}");
    }
    assert!(ids.iter().any(|i| i.starts_with("chat_id:v-")), "{ids:?}");
    // the SMS is Ann's now: its screen pop has the chat (the e-mail is still open)
    for _ in 0..50 {
        if customer_of(addr, &api, &sms).await == ann.as_str() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(customer_of(addr, &api, &sms).await, ann.as_str());
    let pop = screen_pop(addr, &api, &sms).await;
    assert_eq!(pop["customer"]["id"], ann.as_str());
    assert_eq!(channels_of(&pop), ["chat"], "{pop}");
    // the e-mail ends; both are in Ann's history
    let r = http(
        addr,
        "POST",
        &format!("/api/v1/interactions/{email}/messages"),
        Some(&api),
        Some(r#"{"text":"The technician comes on Monday.","close":true}"#),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let r = http(
        addr,
        "POST",
        &format!("/api/v1/interactions/{sms}/messages"),
        Some(&api),
        Some(r#"{"text":"Thanks Ann, all noted.","close":true}"#),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let ann_id = callcore::CustomerId::new(ann.as_str());
    let mut history = Vec::new();
    for _ in 0..100 {
        premise.center().flush().await;
        history = stores
            .interactions
            .for_customer(&tenant, &ann_id)
            .await
            .unwrap()
            .into_iter()
            .map(|r| r.channel.as_str().to_owned())
            .collect::<Vec<_>>();
        if history.len() == 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(history, ["chat", "email", "sms"], "one history");
    assert!(
        stores
            .customers
            .get(&tenant, &callcore::CustomerId::new(phone_profile.as_str()))
            .await
            .unwrap()
            .is_none(),
        "the phone's profile is gone"
    );

    // 4. a reminder campaign reaches Ann's phone; she answers STOP; the next
    // campaign skips her
    let first = campaign(&premise, &dir, "reminders-1").await;
    assert_eq!(first, ["sent", "sent"]);
    for _ in 0..100 {
        if submitted_to(&smsc, ANN_PHONE)
            .iter()
            .any(|t| t.contains("reminders-1"))
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    smsc.deliver(ANN_PHONE, b"STOP", 0, 0).await;
    let sms_channel = premise.sms().unwrap();
    for _ in 0..100 {
        if sms_channel.opt_outs().is_out(ANN_PHONE) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(sms_channel.opt_outs().is_out(ANN_PHONE));
    let next = campaign(&premise, &dir, "reminders-2").await;
    assert_eq!(next, ["opted_out", "sent"]);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let to_ann: Vec<String> = submitted_to(&smsc, ANN_PHONE)
        .into_iter()
        .filter(|t| t.contains("reminders"))
        .collect();
    assert_eq!(to_ann.len(), 1, "{to_ann:?}");
    assert!(
        submitted_to(&smsc, BOB_PHONE)
            .iter()
            .any(|t| t.contains("reminders-2")),
        "{:?}",
        smsc.submits()
    );
    pages.0.close().await;
}
