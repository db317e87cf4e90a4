//! The WebSocket event feed over a real socket: each user gets what their
//! role and tenant allow (the agent their own call, not a colleague's; the
//! supervisor the tenant's; another tenant nothing), every message has its
//! sequence number, and a feed reopened with `?since=SEQ` gets what followed.

#![allow(clippy::unwrap_used, clippy::expect_used)]
#![allow(clippy::disallowed_methods)]

mod support;

use std::net::SocketAddr;
use std::time::Duration;

use futures::StreamExt;
use serde_json::Value;
use support::{Auth, login, rig};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

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

async fn open(
    addr: SocketAddr,
    auth: &Auth,
    query: &str,
    origin: Option<&str>,
) -> Result<Socket, u16> {
    let mut req = format!("ws://{addr}/api/v1/events{query}")
        .into_client_request()
        .unwrap();
    let cookie = format!("callcore_session={}", auth.cookie.as_deref().unwrap());
    req.headers_mut().insert("cookie", cookie.parse().unwrap());
    if let Some(o) = origin {
        req.headers_mut().insert("origin", o.parse().unwrap());
    }
    match tokio_tungstenite::connect_async(req).await {
        Ok((s, _)) => Ok(s),
        Err(tokio_tungstenite::tungstenite::Error::Http(r)) => Err(r.status().as_u16()),
        Err(e) => panic!("{e}"),
    }
}

/// Every message received within `wait`.
async fn drain(socket: &mut Socket, wait: Duration) -> Vec<Value> {
    let mut got = Vec::new();
    while let Ok(Some(Ok(m))) = tokio::time::timeout(wait, socket.next()).await {
        if let Message::Text(t) = m {
            got.push(serde_json::from_str(t.as_str()).unwrap());
        }
    }
    got
}

fn about<'a>(events: &'a [Value], call: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["interaction"] == call).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_user_gets_the_events_their_role_and_tenant_allow_and_resumes_after_a_sequence() {
    let rig = rig().await;
    let addr = serve(rig.app.clone()).await;
    let mut feeds = Vec::new();
    for user in ["1001", "1002", "super", "bsuper"] {
        let auth = login(&rig.app, user).await;
        let mut s = open(addr, &auth, "", None).await.unwrap();
        let hello = drain(&mut s, Duration::from_millis(300)).await;
        assert_eq!(hello[0]["type"], "hello", "{hello:?}");
        feeds.push((user, auth, s));
    }
    let (call, _caller) = support::connected_call(&rig, "1001").await;
    let mut seen = std::collections::HashMap::new();
    for (user, _, s) in &mut feeds {
        seen.insert(*user, drain(s, Duration::from_millis(500)).await);
    }
    let alice = about(&seen["1001"], &call);
    let kinds: Vec<&str> = alice.iter().filter_map(|e| e["type"].as_str()).collect();
    assert!(
        kinds.contains(&"offered") && kinds.contains(&"connected"),
        "{kinds:?}"
    );
    assert!(alice.iter().all(|e| e["seq"].as_u64().is_some()));
    assert!(
        !about(&seen["super"], &call).is_empty(),
        "the supervisor sees the tenant's call"
    );
    assert!(
        about(&seen["1002"], &call).is_empty(),
        "a colleague does not: {:?}",
        seen["1002"]
    );
    assert!(
        seen["bsuper"].iter().all(|e| e["tenant"] != "acme"),
        "another tenant sees nothing of acme: {:?}",
        seen["bsuper"]
    );
    // reopened after the first event of the call: the rest again, in order
    let first = alice[0]["seq"].as_u64().unwrap();
    let auth = &feeds[0].1;
    let mut again = open(addr, auth, &format!("?since={first}"), None)
        .await
        .unwrap();
    let replay = drain(&mut again, Duration::from_millis(500)).await;
    let seqs: Vec<u64> = about(&replay, &call)
        .iter()
        .filter_map(|e| e["seq"].as_u64())
        .collect();
    let want: Vec<u64> = alice
        .iter()
        .filter_map(|e| e["seq"].as_u64())
        .filter(|s| *s > first)
        .collect();
    assert_eq!(seqs, want);
    // a page of another site may not open it with the user's cookie
    assert_eq!(
        open(addr, auth, "", Some("http://evil.example"))
            .await
            .err(),
        Some(403)
    );
    assert!(
        open(addr, auth, "", Some(&format!("http://{addr}")))
            .await
            .is_ok()
    );
    // logging out closes the feeds of the session (checked every 10 s)
    let (_, bob, bob_feed) = &mut feeds[1];
    let out = support::request(
        &rig.app,
        axum::http::Method::POST,
        "/api/v1/logout",
        bob,
        None,
    )
    .await;
    assert_eq!(out.status.as_u16(), 204);
    let closed = tokio::time::timeout(Duration::from_secs(15), async {
        loop {
            match bob_feed.next().await {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return,
                Some(Ok(_)) => {}
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "the feed outlived its session");
}
