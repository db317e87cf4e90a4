#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use callcore::{Channel, Clock, IdSource, Timestamp, Transport, UuidV7Ids, VirtualClock};
use callcore_channels::Inbox;
use callcore_channels::chat::Limits;
use futures::{SinkExt as _, StreamExt as _};
use tokio_tungstenite::tungstenite::Message as WsMessage;

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn serve(max_file: usize) -> (std::net::SocketAddr, Arc<ChatHub>) {
    let clock: Arc<dyn Clock> = Arc::new(VirtualClock::new(Timestamp::from_secs(100)));
    let ids: Arc<dyn IdSource> = Arc::new(UuidV7Ids::random(clock.clone()));
    let inbox = Inbox::new(Channel::Chat, "t".into(), "chat", clock.clone(), ids);
    let limits = Limits {
        max_file_bytes: max_file,
        ..Limits::default()
    };
    let hub = ChatHub::new(inbox, limits, 100, clock);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = routes(hub.clone());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (addr, hub)
}

async fn open(addr: std::net::SocketAddr) -> Ws {
    tokio_tungstenite::connect_async(format!("ws://{addr}/chat/ws"))
        .await
        .unwrap()
        .0
}

async fn say(ws: &mut Ws, v: serde_json::Value) {
    ws.send(WsMessage::Text(v.to_string().into()))
        .await
        .unwrap();
}

async fn next(ws: &mut Ws) -> serde_json::Value {
    loop {
        let m = tokio::time::timeout(Duration::from_secs(5), ws.next())
            .await
            .expect("a message in time")
            .expect("the socket is open")
            .unwrap();
        if let WsMessage::Text(t) = m {
            return serde_json::from_str(&t).unwrap();
        }
    }
}

/// The next message of type `kind` (others skipped).
async fn next_of(ws: &mut Ws, kind: &str) -> serde_json::Value {
    for _ in 0..20 {
        let m = next(ws).await;
        if m["type"] == kind {
            return m;
        }
    }
    panic!("no {kind}");
}

#[tokio::test]
async fn a_visitor_chats_reconnects_and_loses_nothing() {
    let (addr, hub) = serve(1024).await;
    let mut ws = open(addr).await;
    say(&mut ws, json!({"op": "hello"})).await;
    let welcome = next(&mut ws).await;
    assert_eq!(welcome["type"], "welcome");
    assert_eq!(welcome["resumed"], false);
    let token = welcome["token"].as_str().unwrap().to_owned();
    assert_eq!(token.len(), 64, "32 random bytes");
    say(
        &mut ws,
        json!({"op": "send", "client_id": "c1", "text": "hello"}),
    )
    .await;
    // the ack and the message itself (as every watcher gets it), in either order
    let (a, b) = (next(&mut ws).await, next(&mut ws).await);
    let (ack, echo) = if a["type"] == "ack" { (a, b) } else { (b, a) };
    assert_eq!(
        (ack["type"].as_str(), ack["seq"].as_u64()),
        (Some("ack"), Some(1))
    );
    assert_eq!(
        (
            echo["type"].as_str(),
            echo["seq"].as_u64(),
            echo["from"].as_str()
        ),
        (Some("message"), Some(1), Some("visitor"))
    );
    let id = hub.inbox().accept().await.unwrap().interaction.id;

    // the connection drops; meanwhile the agent answers twice
    drop(ws);
    hub.inbox()
        .reply(&id, "hi, I am Alice", false)
        .await
        .unwrap();
    hub.inbox()
        .reply(&id, "how can I help?", false)
        .await
        .unwrap();

    // the page comes back with its token and the last seq it saw
    let mut ws = open(addr).await;
    say(&mut ws, json!({"op": "hello", "token": token, "since": 1})).await;
    let welcome = next(&mut ws).await;
    assert_eq!(
        (welcome["resumed"].as_bool(), welcome["open"].as_bool()),
        (Some(true), Some(true))
    );
    let a = next_of(&mut ws, "message").await;
    let b = next_of(&mut ws, "message").await;
    assert_eq!(
        (a["seq"].as_u64(), a["text"].as_str()),
        (Some(2), Some("hi, I am Alice"))
    );
    assert_eq!(
        (b["seq"].as_u64(), b["text"].as_str()),
        (Some(3), Some("how can I help?"))
    );
    // c1 sent again (its ack was lost): kept once
    say(
        &mut ws,
        json!({"op": "send", "client_id": "c1", "text": "hello"}),
    )
    .await;
    assert_eq!(next_of(&mut ws, "ack").await["seq"], 1);
    say(&mut ws, json!({"op": "read", "seq": 3})).await;
    let r = next_of(&mut ws, "receipts").await;
    assert_eq!(
        (r["visitor_delivered"].as_u64(), r["visitor_read"].as_u64()),
        (Some(3), Some(3))
    );
    assert_eq!(hub.inbox().messages(&id).map(|m| m.len()), Some(3));
    // typing reaches the agent's view
    let mut agent = hub.attach(SessionKey::Interaction(&id), 3).unwrap().updates;
    say(&mut ws, json!({"op": "typing", "on": true})).await;
    let t = tokio::time::timeout(Duration::from_secs(5), agent.recv())
        .await
        .unwrap()
        .unwrap();
    assert!(matches!(
        t,
        ChatUpdate::State(ChatState::Typing {
            side: Side::Visitor,
            on: true
        })
    ));
    // leaving ends the conversation
    say(&mut ws, json!({"op": "leave"})).await;
    assert_eq!(next_of(&mut ws, "ended").await["seq"], 4);
    assert_eq!(hub.inbox().open_count(), 0);
}

#[tokio::test]
async fn bad_input_is_refused_with_a_reason_and_the_socket_goes_on() {
    let (addr, hub) = serve(1024).await;
    let mut ws = open(addr).await;
    // no hello first: refused
    say(
        &mut ws,
        json!({"op": "send", "client_id": "x", "text": "hi"}),
    )
    .await;
    assert_eq!(next(&mut ws).await["type"], "error");
    let mut ws = open(addr).await;
    say(
        &mut ws,
        json!({"op": "hello", "token": "forged-or-forgotten"}),
    )
    .await;
    let welcome = next(&mut ws).await;
    assert_ne!(
        welcome["token"], "forged-or-forgotten",
        "an unknown token starts a new session"
    );
    let big = base64::engine::general_purpose::STANDARD.encode(vec![7u8; 2000]);
    say(&mut ws, json!({"op": "send", "client_id": "f1", "text": "", "file": {"name": "big.bin", "type": "application/octet-stream", "data": big}})).await;
    let r = next_of(&mut ws, "refused").await;
    assert_eq!(r["client_id"], "f1");
    assert!(
        r["reason"].as_str().unwrap().contains("1024 byte limit"),
        "{r}"
    );
    say(
        &mut ws,
        json!({"op": "send", "client_id": "e1", "text": "   "}),
    )
    .await;
    assert!(
        next_of(&mut ws, "refused").await["reason"]
            .as_str()
            .unwrap()
            .contains("text")
    );
    say(&mut ws, json!({"op": "dance"})).await;
    assert_eq!(next(&mut ws).await["type"], "error");
    // a file within the limit goes through, its name cleaned
    let small = base64::engine::general_purpose::STANDARD.encode(b"%PDF-1.4");
    say(&mut ws, json!({"op": "send", "client_id": "f2", "text": "my bill", "file": {"name": "../bill\u{7}.pdf", "type": "application/pdf", "data": small}})).await;
    let m = next_of(&mut ws, "message").await;
    assert_eq!(m["file"]["name"], "..bill.pdf");
    assert_eq!(m["file"]["size"], 8);
    let id = hub.inbox().accept().await.unwrap().interaction.id;
    let f = hub.file(SessionKey::Interaction(&id), 1).unwrap();
    assert_eq!(&*f.data, b"%PDF-1.4");
    // the socket that never said hello made no session
    assert_eq!(hub.sessions(), 1);
}

#[tokio::test]
async fn the_widget_is_served_with_its_test_ids_and_nothing_from_elsewhere() {
    let (addr, _) = serve(1024).await;
    let (status, page) = {
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        s.write_all(b"GET /chat HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).await.unwrap();
        (out.lines().next().unwrap_or_default().to_owned(), out)
    };
    assert!(status.contains("200"), "{status}");
    assert!(
        page.contains("content-security-policy"),
        "served with the pages' CSP"
    );
    for id in [
        "chat-input",
        "chat-send",
        "chat-file",
        "chat-end",
        "chat-typing",
        "chat-messages",
        "chat-status",
    ] {
        assert!(page.contains(&format!("data-testid=\"{id}\"")), "{id}");
    }
    assert!(!page.contains("http://") && !page.contains("https://"));
}
