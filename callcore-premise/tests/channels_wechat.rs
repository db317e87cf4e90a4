//! The WeChat channel of the running premise center against the local double
//! of WeChat's server (tests/wechat_support of callcore-channels): the URL
//! check, a user's safe-mode message answered at once with an encrypted
//! acknowledgement, offered to an agent with WeChat capacity as a WeChat
//! interaction from the user's openid; forged, malformed and retried
//! callbacks between valid ones refused or dropped with nothing valid lost;
//! the agent's answers reach the double's `custom/send`, the second after
//! the access token expired (42001, fetched again).

#![allow(clippy::unwrap_used, clippy::expect_used)]
#![allow(clippy::disallowed_methods)]

#[path = "call_support/mod.rs"]
mod support;
#[path = "web_support/mod.rs"]
mod web;
#[path = "../../callcore-channels/tests/wechat_support/mod.rs"]
mod wechat;

use std::time::{Duration, Instant};

use callcore::{Channel, EventKind, InteractionId, ReservationId};
use callcore_channels::wechat::crypto::MsgCrypt;
use callcore_premise::Premise;
use support::{config, data_dir, wait_for};
use web::{http, login};
use wechat::{WeChatDouble, WeChatPeer, text_xml};

const KEY: &str = "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR";
const APPID: &str = "wxcallcore01";
const ANN: &str = "oAnn_x8Yq1-openid";

/// Accepts an offer as the agent (the web API's live view follows the event
/// feed: an offer shows there a moment after the event).
async fn accept(addr: std::net::SocketAddr, agent: &web::Session, reservation: &ReservationId) {
    let path = format!("/api/v1/offers/{reservation}/accept");
    let mut r = http(addr, "POST", &path, Some(agent), None).await;
    for _ in 0..100 {
        if r.status != 404 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        r = http(addr, "POST", &path, Some(agent), None).await;
    }
    assert_eq!(r.status, 204, "{}", r.body);
}

/// The conversation's texts as the agent reads them (the web API's live view
/// follows the event feed: an accepted offer shows there a moment later).
async fn texts(
    addr: std::net::SocketAddr,
    agent: &web::Session,
    id: &InteractionId,
) -> Vec<String> {
    let path = format!("/api/v1/interactions/{id}/messages");
    let mut r = http(addr, "GET", &path, Some(agent), None).await;
    for _ in 0..100 {
        if r.status != 404 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        r = http(addr, "GET", &path, Some(agent), None).await;
    }
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].as_str().unwrap_or("").to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wechat_user_reaches_an_agent_and_the_answer_reaches_wechat() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter("callcore_channels=debug")
        .with_test_writer()
        .try_init();
    let api = WeChatDouble::start(APPID, "wechat-app-secret", 7200).await;
    let dir = data_dir("wechat-e2e");
    let extra = format!(
        "[[agents]]\nid = \"2001\"\nname = \"Alice\"\npassword = \"alice-2001\"\n\
         contact = \"sip:2001@127.0.0.1:9\"\nskills = [\"support\"]\n\
         [wechat]\ntoken = \"callcore2024\"\nencoding_aes_key = \"{KEY}\"\nappid = \"{APPID}\"\n\
         secret = \"wechat-app-secret\"\nmode = \"safe\"\nqueue = \"support\"\n\
         api_base = \"{}\"\nacknowledgement = \"收到，客服马上回复您。\"\nretry_ms = 50\n",
        api.base()
    );
    let mut cfg = config(&dir, &extra);
    cfg.http.enabled = true;
    cfg.http.bind = Some("127.0.0.1:0".parse().unwrap());
    let tenant = cfg.tenant.clone();
    let premise = Premise::start(cfg).await.unwrap();
    let addr = premise.http_addr().unwrap();
    let mut events = premise.center().subscribe();
    let agent = login(addr, "2001", "alice-2001").await;
    let peer = WeChatPeer {
        addr,
        path: format!("/wechat/{tenant}"),
        token: "callcore2024".into(),
        crypt: Some(MsgCrypt::new(KEY, APPID).unwrap()),
        account: "gh_callcore".into(),
    };

    // the console's URL check
    let r = peer.verify_url("7481516234").await;
    assert_eq!((r.status, r.body.as_str()), (200, "7481516234"));
    // another tenant's path: not found
    let other = WeChatPeer {
        path: "/wechat/nobody".into(),
        ..peer.clone()
    };
    assert_eq!(other.verify_url("1").await.status, 404);

    // a user's message in safe mode: answered at once with the encrypted
    // acknowledgement, well inside WeChat's 5 s
    let first = text_xml(
        "gh_callcore",
        ANN,
        "我的银行卡被锁了",
        6_054_768_590_064_713_001,
    );
    let r = peer.post(&first, true).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.took < Duration::from_secs(1), "answered in {:?}", r.took);
    let ack = wechat_xml(&peer.open_reply(&r.body));
    assert_eq!(ack.get("Content"), Some("收到，客服马上回复您。"));
    assert_eq!(ack.get("ToUserName"), Some(ANN));
    assert_eq!(ack.get("FromUserName"), Some("gh_callcore"));

    // a WeChat interaction from the openid, offered to the agent
    let created = wait_for(&mut events, 10, "a WeChat interaction", |k| match k {
        EventKind::InteractionCreated { interaction } if interaction.channel == Channel::WeChat => {
            Some(interaction.clone())
        }
        _ => None,
    })
    .await;
    assert_eq!(
        created.from.expose(),
        ANN,
        "the openid is the customer's address"
    );
    let (id, reservation) = wait_for(&mut events, 10, "an offer", |k| match k {
        EventKind::Offered {
            interaction,
            reservation,
            ..
        } => Some((interaction.clone(), reservation.clone())),
        _ => None,
    })
    .await;
    assert_eq!(id, created.id);
    accept(addr, &agent, &reservation).await;

    // bad input between valid messages: a forged signature, malformed XML,
    // WeChat's retry of the first message — then the user's next message
    let forged = peer
        .post_forged(&text_xml(
            "gh_callcore",
            ANN,
            "forged",
            6_054_768_590_064_713_002,
        ))
        .await;
    assert_eq!(forged.status, 403);
    let malformed = peer.post("<xml><Encrypt>unclosed", false).await;
    assert_eq!(malformed.status, 400);
    let retried = peer.post(&first, true).await;
    assert_eq!((retried.status, retried.body.as_str()), (200, "success"));
    let second = text_xml(
        "gh_callcore",
        ANN,
        "卡号尾号 0423",
        6_054_768_590_064_713_003,
    );
    let r = peer.post(&second, true).await;
    assert_eq!(
        (r.status, r.body.as_str()),
        (200, "success"),
        "joins: no acknowledgement"
    );
    let mut seen = Vec::new();
    for _ in 0..100 {
        seen = texts(addr, &agent, &id).await;
        if seen.len() >= 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // the passive acknowledgement is kept in the conversation
    assert_eq!(
        seen,
        [
            "我的银行卡被锁了",
            "收到，客服马上回复您。",
            "卡号尾号 0423"
        ]
    );
    let counters = premise.wechat().unwrap().counters().clone();
    let (routed, duplicates, refused, _) = counters.counts();
    assert_eq!((routed, duplicates, refused), (2, 1, 2));
    let refusals = counters.refusals.lock().unwrap().clone();
    assert!(refusals[0].contains("signature"), "{refusals:?}");
    assert!(refusals[1].contains("XML"), "{refusals:?}");

    // the agent answers: a customer-service message to the openid
    let path = format!("/api/v1/interactions/{id}/messages");
    let started = Instant::now();
    let body = serde_json::json!({ "text": "已为您解锁，请重试。" }).to_string();
    let r = http(addr, "POST", &path, Some(&agent), Some(&body)).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let sent = api.wait_sent(1, 5).await;
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(
        (sent[0].touser.as_str(), sent[0].content.as_str()),
        (ANN, "已为您解锁，请重试。")
    );

    // the token expires before the next answer: fetched again, delivered once
    api.expire_all();
    let body = serde_json::json!({ "text": "还有其他问题吗？", "close": true }).to_string();
    let r = http(addr, "POST", &path, Some(&agent), Some(&body)).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let sent = api.wait_sent(2, 5).await;
    assert_eq!(sent.len(), 2);
    assert_eq!(sent[1].content, "还有其他问题吗？");
    assert_eq!((api.tokens_issued(), api.tokens_refused()), (2, 1));
    // the conversation (closed by the answer) keeps all five messages, the
    // acknowledgement an outbound one
    let kept = premise.wechat_inbox().unwrap().messages(&id).unwrap();
    assert_eq!(kept.len(), 5);
    assert_eq!(
        kept[1].direction,
        callcore_channels::MessageDirection::Outbound
    );
    assert!(!premise.wechat_inbox().unwrap().is_open(&id));
    premise.shutdown().await;
}

fn wechat_xml(text: &str) -> callcore_channels::wechat::xml::Fields {
    callcore_channels::wechat::xml::parse(text).unwrap()
}

/// `[wechat] flow` with a `bot` node (as `[sms] flow`): the bot answers the
/// user's question from the knowledge base through `custom/send`, and when
/// they ask for a person the conversation reaches an agent with the whole
/// exchange. Plain (明文) mode this time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bot_answers_a_wechat_user_first_then_hands_off() {
    let api = WeChatDouble::start(APPID, "wechat-app-secret", 7200).await;
    let dir = data_dir("wechat-bot");
    let flow = dir.join("wechat-bot.json");
    std::fs::write(
        &flow,
        r#"{"name": "wechat_bot", "start": "bot", "no_input_timeout_ms": 120000, "nodes": {
          "bot": {"type": "bot", "prompt": "Hi! What can I help you with?", "knowledge_base": "faq",
                  "next": "bye", "handoff": "agents"},
          "agents": {"type": "queue", "queue": "support", "on_failure": "bye"},
          "bye": {"type": "hangup", "message": "Thank you, goodbye."}}}"#,
    )
    .unwrap();
    let extra = format!(
        "[[agents]]\nid = \"2001\"\nname = \"Alice\"\npassword = \"alice-2001\"\n\
         contact = \"sip:2001@127.0.0.1:9\"\nskills = [\"support\"]\n\
         [wechat]\ntoken = \"callcore2024\"\nappid = \"{APPID}\"\nsecret = \"wechat-app-secret\"\n\
         queue = \"support\"\napi_base = \"{}\"\nflow = \"{}\"\n",
        api.base(),
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
    let tenant = cfg.tenant.clone();
    let premise = Premise::start(cfg).await.unwrap();
    let addr = premise.http_addr().unwrap();
    let mut events = premise.center().subscribe();
    let agent = login(addr, "2001", "alice-2001").await;
    let peer = WeChatPeer {
        addr,
        path: format!("/wechat/{tenant}"),
        token: "callcore2024".into(),
        crypt: None,
        account: "gh_callcore".into(),
    };

    let r = peer
        .post(
            &text_xml("gh_callcore", ANN, "What are your opening hours?", 1),
            false,
        )
        .await;
    assert_eq!((r.status, r.body.as_str()), (200, "success"));
    let sent = api.wait_sent(1, 10).await;
    assert_eq!(sent[0].touser, ANN);
    assert!(
        sent[0]
            .content
            .starts_with("Branches are open 9:00 to 17:00"),
        "{sent:?}"
    );
    let r = peer
        .post(
            &text_xml("gh_callcore", ANN, "Can I talk to an agent please", 2),
            false,
        )
        .await;
    assert_eq!(r.status, 200);
    let sent = api.wait_sent(2, 10).await;
    assert!(sent[1].content.contains("connect you"), "{sent:?}");
    let (id, reservation) = wait_for(&mut events, 10, "an offer", |k| match k {
        EventKind::Offered {
            interaction,
            reservation,
            ..
        } => Some((interaction.clone(), reservation.clone())),
        _ => None,
    })
    .await;
    accept(addr, &agent, &reservation).await;
    let t = texts(addr, &agent, &id).await;
    assert_eq!(
        t,
        [
            "What are your opening hours?",
            sent[0].content.as_str(),
            "Can I talk to an agent please",
            sent[1].content.as_str()
        ]
    );
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
    let sent = api.wait_sent(3, 5).await;
    assert_eq!(sent[2].content, "Hi, Alice here.");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(api.sent().len(), 3, "nothing more from the bot");
    premise.shutdown().await;
}
