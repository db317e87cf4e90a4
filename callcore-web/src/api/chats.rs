//! Web chat, the agent's side: a WebSocket (`/api/v1/chats`) on which the
//! desktop watches the chats it holds (`{"op":"watch","interaction","since"}`:
//! the entries after `since`, then every update, each tagged with its
//! `interaction`), says it types (`typing`) and marks what it received and
//! read (`delivered`, `read` with a `seq`); and the download of a file a
//! visitor sent. Replies go through `POST /api/v1/interactions/{id}/messages`
//! like any message channel's; ending a chat is the call's `hang-up`.
//! Every operation is checked against the live call like the call-control
//! routes: an agent only their own chats, a supervisor their tenant's.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::State;
use axum::extract::ws::{
    Message, WebSocket, WebSocketUpgrade, rejection::WebSocketUpgradeRejection,
};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use callcore::InteractionId;
use callcore_channels::chat::{ChatHub, ChatUpdate, SessionKey, Side};
use serde::Deserialize;
use serde_json::json;
use tokio::sync::{broadcast::error::RecvError, mpsc};
use tokio::task::{AbortHandle, JoinSet};
use utoipa::IntoParams;

use crate::auth::{AnyUser, Authed};
use crate::chat::{attached_json, update_json};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{PathId, QueryArgs};
use crate::state::AppState;
use crate::users::Principal;

fn hub(st: &AppState) -> Result<Arc<ChatHub>, ApiError> {
    st.0.chat
        .clone()
        .ok_or_else(|| ApiError::not_found("chat", "path"))
}

/// The desktop's chat socket (WebSocket upgrade).
#[utoipa::path(get, path = "/api/v1/chats", tag = "messages",
    responses((status = 101, description = "the chat socket: JSON operations in, the watched chats' updates out"),
        (status = "4XX", body = ErrorBody, description = "not logged in, not a WebSocket upgrade, another origin, no web chat")),
    security(("session" = ["agent"]), ("bearer" = ["agent"])))]
pub(crate) async fn socket(
    State(st): State<AppState>,
    Authed(p): AnyUser,
    headers: HeaderMap,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    if !super::events::same_origin(&headers) {
        return Err(
            ApiError::forbidden("the chat socket is opened from this server's own pages")
                .field("origin"),
        );
    }
    let hub = hub(&st)?;
    let ws = ws.map_err(|_| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "open the chat socket as a WebSocket",
        )
        .field("upgrade")
    })?;
    Ok(ws.on_upgrade(move |socket| run(st, hub, p, socket)))
}

#[derive(Debug, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
enum AgentOp {
    Watch {
        interaction: String,
        #[serde(default)]
        since: u64,
    },
    Typing {
        interaction: String,
        on: bool,
    },
    Delivered {
        interaction: String,
        seq: u64,
    },
    Read {
        interaction: String,
        seq: u64,
    },
}

async fn send(socket: &mut WebSocket, text: String) -> bool {
    socket.send(Message::Text(text.into())).await.is_ok()
}

async fn run(st: AppState, hub: Arc<ChatHub>, p: Principal, mut socket: WebSocket) {
    // every watched chat's updates, already as JSON
    let (tx, mut rx) = mpsc::channel::<String>(256);
    let mut watchers = JoinSet::new();
    // the watcher of each interaction (a second watch replaces the first)
    let mut watching: HashMap<String, AbortHandle> = HashMap::new();
    loop {
        tokio::select! {
            Some(text) = rx.recv() => {
                if !send(&mut socket, text).await { break; }
            }
            incoming = socket.recv() => {
                let text = match incoming {
                    Some(Ok(Message::Text(t))) => t,
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                    Some(Ok(_)) => continue,
                };
                let answer = match serde_json::from_str::<AgentOp>(&text) {
                    Ok(op) => op_answer(&st, &hub, &p, op, &tx, (&mut watchers, &mut watching)),
                    Err(e) => Some(json!({"type": "error", "reason": format!("bad message: {e}")}).to_string()),
                };
                if let Some(a) = answer
                    && !send(&mut socket, a).await
                {
                    break;
                }
            }
        }
    }
    watchers.abort_all();
}

/// The interaction `raw` as a chat `p` may act on.
fn chat_for(st: &AppState, p: &Principal, raw: &str) -> Result<InteractionId, String> {
    st.call_for(p, raw)
        .map_err(|_| format!("no chat {raw} for you"))
}

/// The interaction `raw` as a chat `p` holds: typing and read marks are the
/// agent's own (a supervisor watching does not type or read for them).
fn own_chat(st: &AppState, p: &Principal, raw: &str) -> Result<InteractionId, String> {
    let id = chat_for(st, p, raw)?;
    match (&p.agent, st.0.live.call(&id)) {
        (Some(agent), Some(call)) if call.agent.as_ref() == Some(agent) => Ok(id),
        _ => Err(format!("chat {raw} is not yours")),
    }
}

fn op_answer(
    st: &AppState,
    hub: &Arc<ChatHub>,
    p: &Principal,
    op: AgentOp,
    tx: &mpsc::Sender<String>,
    (watchers, watching): (&mut JoinSet<()>, &mut HashMap<String, AbortHandle>),
) -> Option<String> {
    let error = |reason: String, interaction: &str| {
        Some(json!({"type": "error", "interaction": interaction, "reason": reason}).to_string())
    };
    match op {
        AgentOp::Watch { interaction, since } => {
            let id = match chat_for(st, p, &interaction) {
                Ok(id) => id,
                Err(e) => return error(e, &interaction),
            };
            let Some(attached) = hub.attach(SessionKey::Interaction(&id), since) else {
                return error("not a chat".into(), &interaction);
            };
            // the agent it is connected to takes it: the visitor sees so
            if let (Some(agent), Some(call)) = (&p.agent, st.0.live.call(&id))
                && call.state == "connected"
                && call.agent.as_ref() == Some(agent)
            {
                hub.joined(&id, agent.as_str());
            }
            let first = attached_json("attached", &attached, json!({"interaction": interaction}));
            let entries: Vec<String> = attached
                .entries
                .iter()
                .map(|e| update_json(&ChatUpdate::Entry(e.clone()), Some(&interaction)))
                .collect();
            let mut last = attached.entries.last().map_or(since, |e| e.seq);
            let mut updates = attached.updates;
            let tx = tx.clone();
            let key = interaction.clone();
            let handle = watchers.spawn(async move {
                if tx.send(first).await.is_err() {
                    return;
                }
                for e in entries {
                    if tx.send(e).await.is_err() {
                        return;
                    }
                }
                loop {
                    match updates.recv().await {
                        Ok(u) => {
                            if let ChatUpdate::Entry(e) = &u {
                                if e.seq <= last {
                                    continue;
                                }
                                last = e.seq;
                            }
                            if tx.send(update_json(&u, Some(&interaction))).await.is_err() {
                                return;
                            }
                        }
                        Err(RecvError::Lagged(_)) => {
                            let msg = json!({"type": "resync", "interaction": interaction, "since": last});
                            let _ = tx.send(msg.to_string()).await;
                            return;
                        }
                        Err(RecvError::Closed) => return,
                    }
                }
            });
            if let Some(old) = watching.insert(key, handle) {
                old.abort();
            }
            None
        }
        AgentOp::Typing { interaction, on } => match own_chat(st, p, &interaction) {
            Ok(id) => {
                hub.typing(SessionKey::Interaction(&id), Side::Agent, on);
                None
            }
            Err(e) => error(e, &interaction),
        },
        AgentOp::Delivered { interaction, seq } => mark(st, hub, p, &interaction, seq, false),
        AgentOp::Read { interaction, seq } => mark(st, hub, p, &interaction, seq, true),
    }
}

fn mark(
    st: &AppState,
    hub: &ChatHub,
    p: &Principal,
    interaction: &str,
    seq: u64,
    read: bool,
) -> Option<String> {
    match own_chat(st, p, interaction) {
        Ok(id) => {
            hub.mark(SessionKey::Interaction(&id), Side::Agent, seq, read);
            None
        }
        Err(e) => {
            Some(json!({"type": "error", "interaction": interaction, "reason": e}).to_string())
        }
    }
}

/// Which file of a chat.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct FileQuery {
    /// The `seq` of the message the file came with.
    pub seq: u64,
}

/// Downloads a file a visitor sent in a chat the user may see (always as an
/// attachment, never shown inline).
#[utoipa::path(get, path = "/api/v1/interactions/{interaction}/chat-file", tag = "messages",
    params(("interaction" = String, Path, description = "the interaction id"), FileQuery),
    responses((status = 200, content_type = "application/octet-stream", description = "the file"),
        (status = "4XX", body = ErrorBody, description = "no such chat or file for the user (404)")),
    security(("session" = ["agent"]), ("bearer" = ["agent"])))]
pub(crate) async fn file(
    State(st): State<AppState>,
    Authed(p): AnyUser,
    PathId(raw): PathId,
    QueryArgs(q): QueryArgs<FileQuery>,
) -> Result<Response, ApiError> {
    let id = st.call_for(&p, &raw)?;
    let f = hub(&st)?
        .file(SessionKey::Interaction(&id), q.seq)
        .ok_or_else(|| ApiError::not_found("chat file", "seq"))?;
    let name: String = f
        .name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || ".-_".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    Ok((
        [
            (header::CONTENT_TYPE, "application/octet-stream".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_owned()),
        ],
        f.data.to_vec(),
    )
        .into_response())
}
