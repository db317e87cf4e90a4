//! The SMS channel of the running premise center against a real SMPP 3.4
//! message centre (`smpp34` from PyPI): a customer's text becomes an
//! interaction offered to an agent with SMS capacity, a long UCS-2 message
//! arriving in concatenated segments (out of order) joins it whole, the
//! agent's long reply reaches the centre as UCS-2 segments with a UDH and
//! its delivery receipt is recorded; text that is not valid in its coding is
//! refused with a log line while the messages around it arrive; STOP opts
//! the number out and it receives nothing more.
//!
//! Skipped with a notice without the venv, unless `CALLCORE_REQUIRE_PEERS=1`.

#![allow(clippy::unwrap_used, clippy::expect_used)]
#![allow(clippy::disallowed_methods)]

#[path = "channels_support/mod.rs"]
mod peers;
#[path = "call_support/mod.rs"]
mod support;
#[path = "web_support/mod.rs"]
mod web;

use std::time::Duration;

use callcore::{EventKind, InteractionId, ReservationId};
use callcore_channels::sms::coding::{decode, encode_ucs2};
use callcore_channels::sms::concat::{Reassembly, split, strip_udh};
use callcore_premise::Premise;
use support::{config, data_dir, wait_for};
use web::{http, login};

const ANN: &str = "+4915550001";

async fn offered(events: &mut callcore_runtime::EventSubscriber) -> (InteractionId, ReservationId) {
    wait_for(events, 20, "an SMS offered", |k| match k {
        EventKind::Offered {
            interaction,
            reservation,
            ..
        } => Some((interaction.clone(), reservation.clone())),
        _ => None,
    })
    .await
}

/// Accepts the next offer the agent gets; the offered interaction.
async fn accept_next(
    events: &mut callcore_runtime::EventSubscriber,
    addr: std::net::SocketAddr,
    agent: &web::Session,
) -> InteractionId {
    let (id, reservation) = offered(events).await;
    let r = http(
        addr,
        "POST",
        &format!("/api/v1/offers/{reservation}/accept"),
        Some(agent),
        None,
    )
    .await;
    assert_eq!(r.status, 204, "{}", r.body);
    id
}

async fn texts(
    addr: std::net::SocketAddr,
    agent: &web::Session,
    id: &InteractionId,
) -> Vec<String> {
    let r = http(
        addr,
        "GET",
        &format!("/api/v1/interactions/{id}/messages"),
        Some(agent),
        None,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].as_str().unwrap_or("").to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_sms_reaches_an_agent_long_messages_concatenate_and_stop_opts_out() {
    let Some(python) = peers::python_with("smpp34", "the SMS channel test") else {
        return;
    };
    let _ = tracing_subscriber::fmt()
        .with_env_filter("callcore_channels=debug,rusmppc=debug")
        .with_test_writer()
        .try_init();
    let mut smsc = peers::Smsc::start(python).await;
    let dir = data_dir("sms-e2e");
    let extra = format!(
        "[[agents]]\nid = \"2001\"\nname = \"Alice\"\npassword = \"alice-2001\"\n\
         contact = \"sip:2001@127.0.0.1:9\"\nskills = [\"support\"]\n\
         [sms]\nsmsc = \"127.0.0.1:{}\"\nsystem_id = \"callcore\"\npassword = \"secret\"\n\
         source_addr = \"12345\"\nqueue = \"support\"\nmax_per_second = 50\n",
        smsc.port
    );
    let mut cfg = config(&dir, &extra);
    cfg.http.enabled = true;
    cfg.http.bind = Some("127.0.0.1:0".parse().unwrap());
    let premise = Premise::start(cfg).await.unwrap();
    let addr = premise.http_addr().unwrap();
    let mut events = premise.center().subscribe();
    let agent = login(addr, "2001", "alice-2001").await;
    smsc.wait_for("bound", 1, 10).await;

    // a short GSM 7-bit text opens a conversation
    smsc.deliver(ANN, b"Hello, my card is blocked", 0, 0).await;
    let id = accept_next(&mut events, addr, &agent).await;
    assert_eq!(
        texts(addr, &agent, &id).await,
        ["Hello, my card is blocked"]
    );

    // a long UCS-2 text in three segments, the last first: joined whole
    let long = "请帮我解锁银行卡，".repeat(15);
    let segments = split(&long, 42).unwrap();
    assert_eq!(segments.len(), 3);
    for s in segments.iter().rev() {
        smsc.deliver(ANN, &s.octets, s.data_coding, 0x40).await;
    }
    let mut joined = false;
    for _ in 0..100 {
        let t = texts(addr, &agent, &id).await;
        if t.len() == 2 {
            assert_eq!(t[1], long);
            joined = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(joined, "the long message joined the conversation");

    // the agent's long reply goes out as concatenated UCS-2 segments
    let reply = "您的银行卡已解锁。".repeat(10) + "😀";
    let body = serde_json::json!({ "text": reply }).to_string();
    let path = format!("/api/v1/interactions/{id}/messages");
    let r = http(addr, "POST", &path, Some(&agent), Some(&body)).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let submits = smsc.wait_for("submit", 2, 10).await;
    let mut r = Reassembly::new(Duration::from_secs(60));
    let mut whole = None;
    for s in &submits {
        assert_eq!(s["to"], ANN);
        assert_eq!(s["from"], "12345");
        assert_eq!(s["dc"], 8, "UCS-2");
        assert_eq!(s["esm"].as_u64().unwrap() & 0x40, 0x40, "UDH indicator");
        let octets = peers::unhex(s["hex"].as_str().unwrap());
        assert!(octets.len() <= 140);
        let (part, data) = strip_udh(&octets).unwrap();
        whole = r.take(
            ANN,
            part.unwrap(),
            decode(8, data).unwrap(),
            callcore::Timestamp::from_secs(1),
        );
    }
    assert_eq!(whole.as_deref(), Some(reply.as_str()));
    // the centre's delivery receipts are recorded
    let sms = premise.sms().unwrap();
    for _ in 0..100 {
        if sms.counters().receipts.lock().unwrap().len() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        sms.counters()
            .receipts
            .lock()
            .unwrap()
            .get("smsc-1")
            .map(String::as_str),
        Some("DELIVRD")
    );

    // bad input between two valid texts: invalid UTF-8 is refused
    smsc.deliver("+4915550002", &[b'h', 0xC3, 0x28, b'!'], 0, 0)
        .await;
    smsc.deliver("+4915550003", &encode_ucs2("после плохого"), 8, 0)
        .await;
    let other = accept_next(&mut events, addr, &agent).await;
    assert_eq!(texts(addr, &agent, &other).await, ["после плохого"]);
    let (routed, _, refused, _) = sms.counters().counts();
    assert_eq!((routed, refused), (3, 1));
    let refusals = sms.counters().refusals.lock().unwrap().clone();
    assert!(
        refusals[0].contains("short_message") && refusals[0].contains("UTF-8"),
        "{refusals:?}"
    );

    // STOP opts the number out: stored, and nothing more is sent to it
    smsc.deliver(ANN, "stop".as_bytes(), 0, 0).await;
    for _ in 0..100 {
        if sms.opt_outs().is_out(ANN) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(sms.opt_outs().is_out(ANN));
    let stored = std::fs::read_to_string(dir.join("sms-opt-outs.txt")).unwrap();
    assert!(stored.contains(&format!("out {ANN}")), "{stored}");
    let before = smsc.submits().len();
    let r = http(
        addr,
        "POST",
        &path,
        Some(&agent),
        Some(r#"{"text":"One more thing"}"#),
    )
    .await;
    assert_eq!(r.status, 409, "{}", r.body);
    assert!(r.body.contains("opted out"), "{}", r.body);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        smsc.submits().len(),
        before,
        "nothing more reached the centre"
    );
    let (_, keywords, _, _) = sms.counters().counts();
    assert_eq!(keywords, 1);
}

/// Every text the centre was asked to submit, in order, with concatenated
/// segments joined.
fn submitted(smsc: &peers::Smsc) -> Vec<String> {
    let mut joined = Reassembly::new(Duration::from_secs(60));
    let mut out = Vec::new();
    for s in smsc.submits() {
        let octets = peers::unhex(s["hex"].as_str().unwrap());
        let dc = u8::try_from(s["dc"].as_u64().unwrap()).unwrap();
        if s["esm"].as_u64().unwrap() & 0x40 == 0 {
            out.push(decode(dc, &octets).unwrap());
            continue;
        }
        let (part, data) = strip_udh(&octets).unwrap();
        let to = s["to"].as_str().unwrap();
        if let Some(whole) = joined.take(
            to,
            part.unwrap(),
            decode(dc, data).unwrap(),
            callcore::Timestamp::from_secs(1),
        ) {
            out.push(whole);
        }
    }
    out
}

async fn wait_submitted(smsc: &peers::Smsc, n: usize) -> Vec<String> {
    for _ in 0..200 {
        let t = submitted(smsc);
        if t.len() >= n {
            return t;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{n} texts submitted; got {:?}", submitted(smsc));
}

/// `[sms] flow` with a `bot` node and `[ivr] knowledge_bases`: the bot
/// answers the customer's text from the knowledge base by SMS, and when they
/// ask for a person the conversation reaches an agent with the whole
/// exchange, so that the customer is not asked again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bot_answers_an_sms_first_then_hands_off_to_an_agent() {
    let Some(python) = peers::python_with("smpp34", "the SMS bot test") else {
        return;
    };
    let mut smsc = peers::Smsc::start(python).await;
    let dir = data_dir("sms-bot");
    let flow = dir.join("sms-bot.json");
    std::fs::write(
        &flow,
        r#"{"name": "sms_bot", "start": "bot", "no_input_timeout_ms": 120000, "nodes": {
          "bot": {"type": "bot", "prompt": "Hi! What can I help you with?", "knowledge_base": "faq",
                  "next": "bye", "handoff": "agents"},
          "agents": {"type": "queue", "queue": "support", "on_failure": "bye"},
          "bye": {"type": "hangup", "message": "Thank you, goodbye."}}}"#,
    )
    .unwrap();
    let extra = format!(
        "[[agents]]\nid = \"2001\"\nname = \"Alice\"\npassword = \"alice-2001\"\n\
         contact = \"sip:2001@127.0.0.1:9\"\nskills = [\"support\"]\n\
         [sms]\nsmsc = \"127.0.0.1:{}\"\nsystem_id = \"callcore\"\npassword = \"secret\"\n\
         source_addr = \"12345\"\nqueue = \"support\"\nmax_per_second = 50\nflow = \"{}\"\n",
        smsc.port,
        flow.display()
    );
    let mut cfg = config(&dir, &extra);
    cfg.ivr.knowledge_bases.insert(
        "faq".into(),
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../callcore-ivr/data/kb_en.json"
        )
        .into(),
    );
    cfg.http.enabled = true;
    cfg.http.bind = Some("127.0.0.1:0".parse().unwrap());
    let premise = Premise::start(cfg).await.unwrap();
    let addr = premise.http_addr().unwrap();
    let mut events = premise.center().subscribe();
    let agent = login(addr, "2001", "alice-2001").await;
    smsc.wait_for("bound", 1, 10).await;

    // the question is answered by SMS from the knowledge base (the bot's own
    // opening question is not sent: the customer already asked)
    smsc.deliver(ANN, b"What are your opening hours?", 0, 0)
        .await;
    let sent = wait_submitted(&smsc, 1).await;
    assert!(
        sent[0].starts_with("Branches are open 9:00 to 17:00")
            && sent[0].ends_with("anything else I can help you with?"),
        "{sent:?}"
    );
    assert!(
        smsc.submits().iter().all(|s| s["to"] == ANN),
        "{:?}",
        smsc.submits()
    );

    // a person, please: the bot says so and the conversation is offered
    smsc.deliver(ANN, b"Can I talk to an agent please", 0, 0)
        .await;
    let sent = wait_submitted(&smsc, 2).await;
    assert!(sent[1].contains("connect you"), "{sent:?}");
    let id = accept_next(&mut events, addr, &agent).await;
    // the agent sees the whole exchange, in order
    let t = texts(addr, &agent, &id).await;
    assert_eq!(t.len(), 4, "{t:?}");
    assert_eq!(t[0], "What are your opening hours?");
    assert_eq!(t[1], sent[0]);
    assert_eq!(t[2], "Can I talk to an agent please");
    assert_eq!(t[3], sent[1]);

    // the agent's reply goes out; nothing more from the bot
    let path = format!("/api/v1/interactions/{id}/messages");
    let r = http(
        addr,
        "POST",
        &path,
        Some(&agent),
        Some(r#"{"text":"Hi, Alice here."}"#),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let sent = wait_submitted(&smsc, 3).await;
    assert_eq!(sent[2], "Hi, Alice here.");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(submitted(&smsc).len(), 3, "{:?}", submitted(&smsc));
}

/// A bad `[sms] flow` is refused at start, naming the field.
#[tokio::test]
async fn a_bad_sms_flow_is_refused_by_name() {
    let dir = data_dir("sms-bad-flow");
    let flow = dir.join("broken.json");
    std::fs::write(&flow, r#"{"name": "x", "start": "nowhere", "nodes": {}}"#).unwrap();
    let extra = format!(
        "[sms]\nsmsc = \"127.0.0.1:9\"\nsystem_id = \"callcore\"\nsource_addr = \"12345\"\n\
         queue = \"support\"\nflow = \"{}\"\n",
        flow.display()
    );
    let err = Premise::start(config(&dir, &extra))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("sms.flow"), "{err}");
}

/// `[[notifications]]`: a reminder run by SMS from a CSV of leads with
/// template variables — sent and delivered (the centre's receipt), an
/// opted-out number skipped, a lead without a number and one whose channel
/// is not configured reported, the results kept in a file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_notification_run_sends_reminders_and_respects_opt_outs() {
    let Some(python) = peers::python_with("smpp34", "the SMS notification test") else {
        return;
    };
    let smsc = peers::Smsc::start(python).await;
    let dir = data_dir("sms-notify");
    std::fs::write(dir.join("sms-opt-outs.txt"), "out +4915550022\n").unwrap();
    let leads = dir.join("reminders.csv");
    std::fs::write(
        &leads,
        "\u{feff}phone,name,date,channel\n\
         +4915550021,Ann,\"Monday, 5 May\",\n\
         +4915550022,Bob,Tuesday,sms\n\
         ,Cy,Wednesday,\n\
         +4915550024,Di,Thursday,email\n",
    )
    .unwrap();
    let extra = format!(
        "[sms]\nsmsc = \"127.0.0.1:{}\"\nsystem_id = \"callcore\"\npassword = \"secret\"\n\
         source_addr = \"12345\"\nqueue = \"support\"\nmax_per_second = 50\n\
         [[notifications]]\nname = \"reminders\"\nleads = \"{}\"\nper_second = 20\n\
         template = \"Hi {{name}}, your appointment is on {{date}}. Reply STOP to opt out.\"\n",
        smsc.port,
        leads.display()
    );
    let premise = Premise::start(config(&dir, &extra)).await.unwrap();
    let sent = wait_submitted(&smsc, 1).await;
    assert_eq!(
        sent,
        ["Hi Ann, your appointment is on Monday, 5 May. Reply STOP to opt out."]
    );
    assert_eq!(smsc.submits()[0]["to"], "+4915550021");
    let mut report = Vec::new();
    for _ in 0..200 {
        report = premise.notification_report("reminders").unwrap();
        if report.len() == 4 && report[0].status == "delivered" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let status: Vec<&str> = report.iter().map(|r| r.status.as_str()).collect();
    assert_eq!(
        status,
        ["delivered", "opted_out", "no_address", "failed"],
        "{report:?}"
    );
    assert_eq!(report[3].channel, "email");
    assert!(
        report[3]
            .detail
            .as_deref()
            .unwrap_or("")
            .contains("no email channel"),
        "{report:?}"
    );
    assert_eq!(
        submitted(&smsc).len(),
        1,
        "nothing sent to the opted-out number"
    );
    assert!(premise.notification_report("other").is_none());
    let file = dir.join("notifications/reminders.csv");
    let mut written = String::new();
    for _ in 0..100 {
        written = std::fs::read_to_string(&file).unwrap_or_default();
        if written.lines().count() == 5 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(written.lines().count(), 5, "{written}");
    assert!(
        written.starts_with("row,channel,status,message_id,detail"),
        "{written}"
    );
}

/// A notification run's mistakes are refused at start, naming the field.
#[tokio::test]
async fn bad_notifications_are_refused_by_name() {
    let dir = data_dir("sms-notify-bad");
    let leads = dir.join("leads.csv");
    std::fs::write(&leads, "name,date\nAnn,Monday\n").unwrap();
    let sms = "[sms]\nsmsc = \"127.0.0.1:9\"\nsystem_id = \"callcore\"\nsource_addr = \"12345\"\n\
               queue = \"support\"\n";
    for (section, field) in [
        (
            format!(
                "name = \"r\"\nleads = \"{}\"\ntemplate = \"Hi\"\n",
                leads.display()
            ),
            "notifications[0].leads",
        ),
        (
            format!(
                "name = \"r\"\nleads = \"{}\"\ntemplate = \"Hi\"\nchannel = \"email\"\n",
                leads.display()
            ),
            "notifications[0].channel",
        ),
        (
            "name = \"r\"\nleads = \"/nonexistent.csv\"\ntemplate = \"Hi\"\n".to_owned(),
            "notifications[0].leads",
        ),
        (
            format!(
                "name = \"a b\"\nleads = \"{}\"\ntemplate = \"Hi\"\n",
                leads.display()
            ),
            "notifications[0].name",
        ),
    ] {
        let extra = format!("{sms}[[notifications]]\n{section}");
        let err = Premise::start(config(&dir, &extra))
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains(field), "{field}: {err}");
    }
}
