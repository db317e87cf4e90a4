//! Web chat, the visitor's side: the widget page at `/chat` (hand-written
//! HTML, JavaScript and CSS in `assets/chat.*`) and its WebSocket at
//! `/chat/ws`. Visitors do not log in: the first message on the socket is
//! `{"op":"hello","token":…,"since":N}`; a token the hub knows resumes that
//! session after `since` (a page that lost its connection, or reloaded),
//! otherwise the server makes a new session and answers its token (32 random
//! bytes from the OS, the visitor's only key to it).
//!
//! The visitor then sends `send` (`client_id`, `text`, an optional `file`
//! `{name, type, data}` with base64 data, size-limited), `typing`,
//! `delivered`/`read` (`seq`), `leave`, and `identify` (`identity`,
//! `expires`, `signature`: a logged-in visitor's identity signed by the
//! website, answered `identified` or `identify_refused`) and
//! `email_transcript` (`email`: the visitor's one address, answered
//! `transcript_sent` or `transcript_refused` with the reason; offered when
//! the welcome says `transcript_email`); the server answers `ack`
//! (`client_id`, `seq`) or `refused` (`client_id`, `reason`), and forwards
//! every entry (`message`, `joined`, `ended`, each with its `seq`), `typing`
//! and `receipts` of the session. The agent's side is `/api/v1/chats`
//! ([`crate::api`]).

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use axum::routing::get;
use base64::Engine as _;
use callcore_channels::chat::{
    Attached, ChatFile, ChatHub, ChatState, ChatUpdate, Post, SessionKey, Side,
};
use serde::Deserialize;
use serde_json::json;
use tokio::sync::broadcast::error::RecvError;

use crate::pages::asset;

/// How long a new socket may take to say hello.
const HELLO_WITHIN: Duration = Duration::from_secs(10);
/// Messages a visitor may send per [`RATE_WINDOW`] (more are refused).
const RATE_MESSAGES: u32 = 30;
const RATE_WINDOW: Duration = Duration::from_secs(10);

#[derive(Debug, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
enum VisitorOp {
    Hello {
        #[serde(default)]
        token: Option<String>,
        #[serde(default)]
        since: u64,
    },
    Send {
        client_id: String,
        #[serde(default)]
        text: String,
        #[serde(default)]
        file: Option<FileIn>,
    },
    Typing {
        on: bool,
    },
    Delivered {
        seq: u64,
    },
    Read {
        seq: u64,
    },
    Leave,
    /// A logged-in visitor's identity, signed by the website (see
    /// [`identity`]).
    Identify {
        identity: String,
        expires: i64,
        signature: String,
    },
    /// "E-mail me the transcript": one address (see
    /// [`ChatHub::email_transcript`]).
    EmailTranscript {
        email: String,
    },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileIn {
    name: String,
    #[serde(rename = "type", default)]
    content_type: String,
    data: String,
}

/// A random hex string of `bytes` bytes from the OS.
fn random_hex(bytes: usize) -> Option<String> {
    let mut b = vec![0u8; bytes];
    getrandom::fill(&mut b).ok()?;
    Some(b.iter().map(|x| format!("{x:02x}")).collect())
}

/// Decodes a file sent by the page, refusing one over `limit` bytes before
/// decoding it.
pub(crate) fn decode_file(f: FileInParts<'_>, limit: usize) -> Result<ChatFile, String> {
    // 4 base64 characters carry 3 bytes
    if f.data.len() / 4 * 3 > limit + 3 {
        return Err(format!("file: over the {limit} byte limit"));
    }
    let data = base64::engine::general_purpose::STANDARD
        .decode(f.data.as_bytes())
        .map_err(|_| "file.data: not base64".to_owned())?;
    let name: String = f
        .name
        .chars()
        .filter(|c| !c.is_control() && *c != '/' && *c != '\\')
        .take(200)
        .collect();
    let content_type: String = f
        .content_type
        .chars()
        .filter(|c| c.is_ascii_graphic())
        .take(100)
        .collect();
    Ok(ChatFile {
        name: if name.is_empty() { "file".into() } else { name },
        content_type: if content_type.is_empty() {
            "application/octet-stream".into()
        } else {
            content_type
        },
        size: data.len(),
        data: data.into(),
    })
}

/// A file as the page sent it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FileInParts<'a> {
    pub(crate) name: &'a str,
    pub(crate) content_type: &'a str,
    pub(crate) data: &'a str,
}

/// An update as a JSON text.
pub(crate) fn update_json(u: &ChatUpdate, interaction: Option<&str>) -> String {
    let mut v = serde_json::to_value(u).unwrap_or_default();
    if let (Some(i), Some(o)) = (interaction, v.as_object_mut()) {
        o.insert("interaction".into(), json!(i));
    }
    v.to_string()
}

/// The state of an attached page, as the first thing it is sent.
pub(crate) fn attached_json(kind: &str, a: &Attached, extra: serde_json::Value) -> String {
    let mut v = json!({
        "type": kind,
        "visitor": a.visitor,
        "last_seq": a.entries.last().map(|e| e.seq),
        "receipts": a.receipts,
        "visitor_typing": a.typing[0],
        "agent_typing": a.typing[1],
        "open": a.interaction.is_some(),
    });
    if let (Some(o), serde_json::Value::Object(e)) = (v.as_object_mut(), extra) {
        o.extend(e);
    }
    v.to_string()
}

async fn send(socket: &mut WebSocket, text: String) -> bool {
    socket.send(Message::Text(text.into())).await.is_ok()
}

async fn visitor_ws(State(hub): State<Arc<ChatHub>>, ws: WebSocketUpgrade) -> Response {
    let limit = hub.limits().max_file_bytes;
    ws.max_message_size(limit / 3 * 4 + 64 * 1024)
        .on_upgrade(move |socket| run_visitor(hub, socket))
}

async fn hello(socket: &mut WebSocket) -> Option<(Option<String>, u64)> {
    let first = tokio::time::timeout(HELLO_WITHIN, socket.recv())
        .await
        .ok()??;
    let Ok(Message::Text(t)) = first else {
        return None;
    };
    match serde_json::from_str::<VisitorOp>(&t) {
        Ok(VisitorOp::Hello { token, since }) => Some((token, since)),
        _ => None,
    }
}

async fn run_visitor(hub: Arc<ChatHub>, mut socket: WebSocket) {
    let Some((token, since)) = hello(&mut socket).await else {
        let _ = send(
            &mut socket,
            json!({"type": "error", "reason": "say hello first"}).to_string(),
        )
        .await;
        return;
    };
    let (token, since, resumed) = match token.filter(|t| hub.knows(t)) {
        Some(t) => (t, since, true),
        None => {
            let made = random_hex(32)
                .zip(random_hex(8).map(|v| format!("v-{v}")))
                .ok_or_else(|| "no randomness".to_owned())
                .and_then(|(t, v)| hub.create(&t, &v).map(|()| t).map_err(|e| e.to_string()));
            match made {
                Ok(t) => (t, 0, false),
                Err(reason) => {
                    tracing::warn!(%reason, "chat session refused");
                    let _ = send(
                        &mut socket,
                        json!({"type": "error", "reason": reason}).to_string(),
                    )
                    .await;
                    return;
                }
            }
        }
    };
    let Some(mut attached) = hub.attach(SessionKey::Token(&token), since) else {
        return;
    };
    let limits = hub.limits();
    let welcome = attached_json(
        "welcome",
        &attached,
        json!({"token": token, "resumed": resumed,
               "max_file_bytes": limits.max_file_bytes, "max_text_chars": limits.max_text_chars,
               "transcript_email": hub.mails_transcripts()}),
    );
    if !send(&mut socket, welcome).await {
        return;
    }
    for e in std::mem::take(&mut attached.entries) {
        if !send(&mut socket, update_json(&ChatUpdate::Entry(e), None)).await {
            return;
        }
    }
    let mut last = attached.entries.last().map_or(since, |e| e.seq);
    let mut updates = attached.updates;
    let mut window = (hub.now_ms(), 0u32);
    // answers of requests that take a while (a transcript by e-mail)
    let (answer_tx, mut answers) = tokio::sync::mpsc::channel::<String>(4);
    loop {
        tokio::select! {
            Some(answer) = answers.recv() => {
                if !send(&mut socket, answer).await { return; }
            }
            got = updates.recv() => match got {
                Ok(u) => {
                    if let ChatUpdate::Entry(e) = &u {
                        if e.seq <= last { continue; }
                        last = e.seq;
                    }
                    if !send(&mut socket, update_json(&u, None)).await { return; }
                }
                Err(RecvError::Lagged(_)) => {
                    // fell behind: read the log again from the last seq sent
                    let Some(a) = hub.attach(SessionKey::Token(&token), last) else { return };
                    for e in a.entries {
                        last = e.seq;
                        if !send(&mut socket, update_json(&ChatUpdate::Entry(e), None)).await { return; }
                    }
                    let r = ChatUpdate::State(ChatState::Receipts(a.receipts));
                    if !send(&mut socket, update_json(&r, None)).await { return; }
                    updates = a.updates;
                }
                Err(RecvError::Closed) => return,
            },
            incoming = socket.recv() => {
                let text = match incoming {
                    Some(Ok(Message::Text(t))) => t,
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => {
                        hub.typing(SessionKey::Token(&token), Side::Visitor, false);
                        return;
                    }
                    Some(Ok(_)) => continue,
                };
                let op = match serde_json::from_str::<VisitorOp>(&text) {
                    Ok(op) => op,
                    Err(e) => {
                        let msg = json!({"type": "error", "reason": format!("bad message: {e}")});
                        if !send(&mut socket, msg.to_string()).await { return; }
                        continue;
                    }
                };
                if let VisitorOp::EmailTranscript { email } = op {
                    let (hub, token, tx) = (hub.clone(), token.clone(), answer_tx.clone());
                    tokio::spawn(async move {
                        let answer = match hub.email_transcript(&token, &email).await {
                            Ok(to) => json!({"type": "transcript_sent", "email": to}),
                            Err(e) => {
                                tracing::info!(reason = %e, "chat transcript request refused");
                                json!({"type": "transcript_refused", "reason": e.to_string()})
                            }
                        };
                        let _ = tx.send(answer.to_string()).await;
                    });
                    continue;
                }
                if let Some(answer) = visitor_op(&hub, &token, op, &mut window)
                    && !send(&mut socket, answer).await
                {
                    return;
                }
            }
        }
    }
}

/// Does what the visitor asked; the answer to send back, if any.
fn visitor_op(
    hub: &ChatHub,
    token: &str,
    op: VisitorOp,
    window: &mut (i64, u32),
) -> Option<String> {
    let key = SessionKey::Token(token);
    match op {
        VisitorOp::Hello { .. } => {
            Some(json!({"type": "error", "reason": "hello once"}).to_string())
        }
        VisitorOp::Send {
            client_id,
            text,
            file,
        } => {
            let now = hub.now_ms();
            if now - window.0 > i64::try_from(RATE_WINDOW.as_millis()).unwrap_or(i64::MAX) {
                *window = (now, 0);
            }
            window.1 += 1;
            let refuse = |reason: String| {
                Some(
                    json!({"type": "refused", "client_id": client_id, "reason": reason})
                        .to_string(),
                )
            };
            if window.1 > RATE_MESSAGES {
                return refuse(format!(
                    "at most {RATE_MESSAGES} messages in {} s",
                    RATE_WINDOW.as_secs()
                ));
            }
            let file = match file {
                Some(f) => {
                    let parts = FileInParts {
                        name: &f.name,
                        content_type: &f.content_type,
                        data: &f.data,
                    };
                    match decode_file(parts, hub.limits().max_file_bytes) {
                        Ok(f) => Some(f),
                        Err(reason) => return refuse(reason),
                    }
                }
                None => None,
            };
            let post = Post {
                from: Side::Visitor,
                text,
                client_id: Some(client_id.clone()),
                file,
                quick_replies: Vec::new(),
                bot: false,
            };
            match hub.visitor_post(token, post) {
                Ok(p) => {
                    Some(json!({"type": "ack", "client_id": client_id, "seq": p.seq()}).to_string())
                }
                Err(e) => {
                    tracing::info!(error = %e, "chat message refused");
                    refuse(e.to_string())
                }
            }
        }
        VisitorOp::Typing { on } => {
            hub.typing(key, Side::Visitor, on);
            None
        }
        VisitorOp::Delivered { seq } => {
            hub.mark(key, Side::Visitor, seq, false);
            None
        }
        VisitorOp::Read { seq } => {
            hub.mark(key, Side::Visitor, seq, true);
            None
        }
        VisitorOp::Leave => {
            hub.visitor_leaves(token);
            None
        }
        // answered asynchronously by the socket's loop
        VisitorOp::EmailTranscript { .. } => None,
        VisitorOp::Identify {
            identity,
            expires,
            signature,
        } => {
            let now = hub.now_ms().div_euclid(1000);
            let proven =
                identity::verify(hub.identity_secret(), &identity, expires, &signature, now)
                    .and_then(|(kind, value)| {
                        hub.prove(token, kind, &value)
                            .map(|()| kind)
                            .map_err(|e| e.to_string())
                    });
            Some(
                match proven {
                    Ok(kind) => json!({"type": "identified", "kind": kind.as_str()}),
                    Err(reason) => {
                        tracing::warn!(%reason, "chat visitor's identity refused");
                        json!({"type": "identify_refused", "reason": reason})
                    }
                }
                .to_string(),
            )
        }
    }
}

/// The widget's routes: `/chat`, `/chat.js`, `/chat.css` and the socket
/// `/chat/ws`.
pub(crate) fn routes(hub: Arc<ChatHub>) -> Router {
    Router::new()
        .route(
            "/chat",
            get(|| async {
                asset(
                    "text/html; charset=utf-8",
                    include_str!("../assets/chat.html"),
                )
            }),
        )
        .route(
            "/chat.js",
            get(|| async {
                asset(
                    "text/javascript; charset=utf-8",
                    include_str!("../assets/chat.js"),
                )
            }),
        )
        .route(
            "/chat.css",
            get(|| async {
                asset(
                    "text/css; charset=utf-8",
                    include_str!("../assets/chat.css"),
                )
            }),
        )
        .route("/chat/ws", get(visitor_ws))
        .with_state(hub)
}

pub(crate) mod identity;
#[cfg(test)]
mod tests;
