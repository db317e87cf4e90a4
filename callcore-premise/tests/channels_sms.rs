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
    let (id, reservation) = offered(&mut events).await;
    let r = http(
        addr,
        "POST",
        &format!("/api/v1/offers/{reservation}/accept"),
        Some(&agent),
        None,
    )
    .await;
    assert_eq!(r.status, 204, "{}", r.body);
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
    let (other, reservation) = offered(&mut events).await;
    let r = http(
        addr,
        "POST",
        &format!("/api/v1/offers/{reservation}/accept"),
        Some(&agent),
        None,
    )
    .await;
    assert_eq!(r.status, 204, "{}", r.body);
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
