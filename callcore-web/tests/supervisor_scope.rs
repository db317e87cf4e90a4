//! Supervisors limited to queues (`UserAccount::with_queues`): `ssuper`
//! (acme-support) sees and steers the call on acme-support and its agents;
//! `xsuper` (acme-sales) sees none of it on the event feed and the lists,
//! and is refused (403) every action on it and its agents: the call's screen
//! pop, messages and chat files, the profiles of customers served only
//! outside their queues (read, edit, merge, unmerge); the history they see
//! lists only their queues' interactions.

#![allow(clippy::unwrap_used, clippy::expect_used)]
#![allow(clippy::disallowed_methods)]

mod support;

use std::net::SocketAddr;
use std::time::Duration;

use axum::http::{Method, StatusCode};
use futures::StreamExt;
use serde_json::{Value, json};
use support::{login, request, rig};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

async fn serve(app: axum::Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap();
    });
    addr
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn feed(addr: SocketAddr, cookie: &str) -> Socket {
    let mut req = format!("ws://{addr}/api/v1/events")
        .into_client_request()
        .unwrap();
    let cookie = format!("callcore_session={cookie}");
    req.headers_mut().insert("cookie", cookie.parse().unwrap());
    tokio_tungstenite::connect_async(req).await.unwrap().0
}

async fn drain(socket: &mut Socket, wait: Duration) -> Vec<Value> {
    let mut got = Vec::new();
    while let Ok(Some(Ok(m))) = tokio::time::timeout(wait, socket.next()).await {
        if let Message::Text(t) = m {
            got.push(serde_json::from_str(t.as_str()).unwrap());
        }
    }
    got
}

fn ids(list: &Value) -> Vec<String> {
    list.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v["id"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_supervisor_limited_to_queues_sees_and_acts_only_there() {
    let rig = rig().await;
    let addr = serve(rig.app.clone()).await;
    let inside = login(&rig.app, "ssuper").await;
    let outside = login(&rig.app, "xsuper").await;
    let mut inside_feed = feed(addr, inside.cookie.as_deref().unwrap()).await;
    let mut outside_feed = feed(addr, outside.cookie.as_deref().unwrap()).await;
    drain(&mut inside_feed, Duration::from_millis(300)).await;
    drain(&mut outside_feed, Duration::from_millis(300)).await;

    let (call, _caller) = support::connected_call(&rig, "1001").await;
    let seen_inside = drain(&mut inside_feed, Duration::from_millis(800)).await;
    let seen_outside = drain(&mut outside_feed, Duration::from_millis(800)).await;
    let kinds = |events: &[Value]| -> Vec<String> {
        events
            .iter()
            .filter(|e| e["interaction"] == call.as_str() || e["agent"] == "1001")
            .filter_map(|e| e["type"].as_str().map(str::to_owned))
            .collect()
    };
    let inside_kinds = kinds(&seen_inside);
    assert!(
        inside_kinds.iter().any(|k| k == "connected")
            && inside_kinds.iter().any(|k| k == "agent_state_changed"),
        "{inside_kinds:?}"
    );
    assert!(
        kinds(&seen_outside).is_empty(),
        "the acme-sales supervisor sees nothing of acme-support: {seen_outside:?}"
    );

    // the lists
    let get = |auth, path: &'static str| {
        let app = rig.app.clone();
        async move { request(&app, Method::GET, path, auth, None).await }
    };
    let r = get(&inside, "/api/v1/calls").await;
    assert_eq!(r.body.as_array().map(Vec::len), Some(1), "{}", r.text);
    let r = get(&outside, "/api/v1/calls").await;
    assert_eq!(r.body, json!([]), "{}", r.text);
    let r = get(&inside, "/api/v1/agents").await;
    let mut agents = ids(&r.body);
    agents.sort();
    assert_eq!(agents, ["1001", "1002"], "{}", r.text);
    let r = get(&outside, "/api/v1/agents").await;
    assert!(ids(&r.body).is_empty(), "{}", r.text);
    assert_eq!(
        ids(&get(&outside, "/api/v1/queues").await.body),
        ["acme-sales"]
    );
    assert_eq!(
        ids(&get(&inside, "/api/v1/queues").await.body),
        ["acme-support"]
    );
    // an unlimited supervisor still sees every queue
    let all = login(&rig.app, "super").await;
    assert_eq!(ids(&get(&all, "/api/v1/queues").await.body).len(), 2);

    // the refusals
    let monitor = json!({"mode": "listen", "supervisor": "1002"});
    for (method, path, body) in [
        (
            Method::PUT,
            "/api/v1/agents/1001/state".to_owned(),
            json!({"state": "not_ready", "reason": "lunch"}),
        ),
        (
            Method::POST,
            format!("/api/v1/calls/{call}/monitor"),
            monitor.clone(),
        ),
        (
            Method::POST,
            format!("/api/v1/calls/{call}/hang-up"),
            json!({}),
        ),
        (
            Method::POST,
            format!("/api/v1/calls/{call}/hold"),
            json!({}),
        ),
        (Method::GET, format!("/api/v1/calls/{call}"), Value::Null),
        (Method::GET, "/api/v1/agents/1001".to_owned(), Value::Null),
        (
            Method::GET,
            "/api/v1/agents/1001/scorecard".to_owned(),
            Value::Null,
        ),
        (
            Method::GET,
            "/api/v1/queues/acme-support".to_owned(),
            Value::Null,
        ),
    ] {
        let body = (!body.is_null()).then_some(body);
        let r = request(&rig.app, method.clone(), &path, &outside, body).await;
        assert_eq!(
            r.status,
            StatusCode::FORBIDDEN,
            "{method} {path}: {}",
            r.text
        );
        assert_eq!(r.body["error"]["code"], "forbidden");
    }
    // the call is untouched, and the supervisor of its queue may act
    let r = request(
        &rig.app,
        Method::GET,
        &format!("/api/v1/calls/{call}"),
        &inside,
        None,
    )
    .await;
    assert_eq!(r.body["state"], "connected", "{}", r.text);
    let r = request(
        &rig.app,
        Method::GET,
        "/api/v1/agents/1002/scorecard",
        &inside,
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let r = request(
        &rig.app,
        Method::PUT,
        "/api/v1/agents/1002/state",
        &inside,
        Some(json!({"state": "not_ready", "reason": "lunch"})),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    // the login answer says which queues the supervisor is limited to
    let r = request(&rig.app, Method::GET, "/api/v1/me", &outside, None).await;
    assert_eq!(r.body["queues"], json!(["acme-sales"]), "{}", r.text);
}

/// A stored record of `customer` through `queue`.
fn past_call(id: &str, customer: &str, queue: &str) -> callcore::InteractionRecord {
    let mut r = callcore::InteractionRecord::new(&callcore::Interaction::new(
        id.into(),
        support::acme(),
        callcore::Channel::Sms,
        callcore::Direction::Inbound,
        "+4915550001",
        "12345",
        callcore::Timestamp::from_millis(1_000),
    ));
    r.customer = Some(customer.into());
    r.queue = Some(queue.into());
    r
}

fn history_ids(v: &Value) -> Vec<String> {
    let mut ids: Vec<String> = v
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|h| h["id"].as_str().map(str::to_owned))
                // the stored past calls (not the live call's own record)
                .filter(|id| id.ends_with("-support") || id.ends_with("-sales"))
                .collect()
        })
        .unwrap_or_default();
    ids.sort();
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn screen_pop_customers_messages_and_chats_keep_to_the_supervisors_queues() {
    let rig = rig().await;
    let stores = rig.center.stores().clone();
    // Ann (the caller below) came through support before, and through sales;
    // Sid only through sales; Sue only through support
    let profile = |id: &str, phone: &str| {
        let mut p = callcore::CustomerProfile {
            id: id.into(),
            tenant: support::acme(),
            ..callcore::CustomerProfile::default()
        };
        p.add_identity(callcore::IdentityKind::Phone, phone);
        p
    };
    for p in [
        profile("c-ann", "+4930123456"),
        profile("c-sid", "+4930999001"),
        profile("c-sue", "+4930999002"),
    ] {
        stores.customers.save(&p).await.unwrap();
    }
    for r in [
        past_call("ann-support", "c-ann", "acme-support"),
        past_call("ann-sales", "c-ann", "acme-sales"),
        past_call("sid-sales", "c-sid", "acme-sales"),
        past_call("sue-support", "c-sue", "acme-support"),
    ] {
        stores.interactions.save(&r).await.unwrap();
    }
    let (call, _caller) = support::connected_call(&rig, "1001").await;
    let inside = login(&rig.app, "ssuper").await;
    let outside = login(&rig.app, "xsuper").await;
    let all = login(&rig.app, "super").await;
    let go = |method: Method, path: String, auth, body: Option<Value>| {
        let app = rig.app.clone();
        async move { request(&app, method, &path, auth, body).await }
    };

    // refused outside the queues: the call's screen pop, its messages, its chat
    // files; Sue's profile (support only), merging or unmerging her
    let merge = json!({"absorb": "c-sid"});
    for (method, path, body) in [
        (
            Method::GET,
            format!("/api/v1/calls/{call}/screen-pop"),
            None,
        ),
        (
            Method::GET,
            format!("/api/v1/interactions/{call}/messages"),
            None,
        ),
        (
            Method::POST,
            format!("/api/v1/interactions/{call}/messages"),
            Some(json!({"text": "hello"})),
        ),
        (
            Method::GET,
            format!("/api/v1/interactions/{call}/chat-file?seq=1"),
            None,
        ),
        (Method::GET, "/api/v1/customers/c-sue".to_owned(), None),
        (
            Method::PATCH,
            "/api/v1/customers/c-sue".to_owned(),
            Some(json!({"notes": "x"})),
        ),
        (
            Method::POST,
            "/api/v1/customers/c-sue/merge".to_owned(),
            Some(merge.clone()),
        ),
        (
            Method::POST,
            "/api/v1/customers/c-sue/unmerge".to_owned(),
            Some(json!({"absorbed": "c-sid"})),
        ),
    ] {
        let r = go(method.clone(), path.clone(), &outside, body).await;
        assert_eq!(
            r.status,
            StatusCode::FORBIDDEN,
            "{method} {path}: {}",
            r.text
        );
        assert_eq!(r.body["error"]["code"], "forbidden", "{path}");
    }
    // Ann came through sales too: the supervisor of sales reads her profile,
    // with sales' history only
    let r = go(
        Method::GET,
        "/api/v1/customers/c-ann".to_owned(),
        &outside,
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(history_ids(&r.body["history"]), ["ann-sales"], "{}", r.text);
    // the supervisor of support: the pop and Ann's profile, with support's
    // history only; the unlimited supervisor sees both queues'
    let r = go(
        Method::GET,
        format!("/api/v1/calls/{call}/screen-pop"),
        &inside,
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(
        history_ids(&r.body["history"]),
        ["ann-support"],
        "{}",
        r.text
    );
    let r = go(
        Method::GET,
        format!("/api/v1/calls/{call}/screen-pop"),
        &all,
        None,
    )
    .await;
    assert_eq!(
        history_ids(&r.body["history"]),
        ["ann-sales", "ann-support"]
    );
    let r = go(
        Method::GET,
        "/api/v1/customers/c-ann".to_owned(),
        &inside,
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(
        history_ids(&r.body["history"]),
        ["ann-support"],
        "{}",
        r.text
    );
    // ... but not Sid's (sales only), nor a merge of him into Ann
    let r = go(
        Method::GET,
        "/api/v1/customers/c-sid".to_owned(),
        &inside,
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
    let r = go(
        Method::POST,
        "/api/v1/customers/c-ann/merge".to_owned(),
        &inside,
        Some(merge),
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
    assert_eq!(r.body["error"]["field"], "absorb", "{}", r.text);
    assert!(
        stores
            .customers
            .get(&support::acme(), &"c-sid".into())
            .await
            .unwrap()
            .is_some(),
        "Sid's profile untouched"
    );
    // Sue came through support: merged into Ann and back
    let r = go(
        Method::POST,
        "/api/v1/customers/c-ann/merge".to_owned(),
        &inside,
        Some(json!({"absorb": "c-sue"})),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let r = go(
        Method::POST,
        "/api/v1/customers/c-ann/unmerge".to_owned(),
        &inside,
        Some(json!({"absorbed": "c-sue"})),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["restored"]["id"], "c-sue", "{}", r.text);
    // a profile that does not exist is still "not found" to them
    let r = go(
        Method::GET,
        "/api/v1/customers/nobody".to_owned(),
        &inside,
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text);
    // messages and chat files of the call: past the scope check for the
    // supervisor of support (no message desk or chat in this rig: 404)
    for path in [
        format!("/api/v1/interactions/{call}/messages"),
        format!("/api/v1/interactions/{call}/chat-file?seq=1"),
    ] {
        let r = go(Method::GET, path.clone(), &inside, None).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{path}: {}", r.text);
    }
}
