//! The WebSocket event feed: the center's events the user may see (an
//! agent: their own offers, calls and state; a supervisor: their tenant's),
//! each a JSON text message carrying its `seq`. `?since=SEQ` resumes after
//! SEQ from a bounded buffer; when those events are gone the first message
//! says so (`{"type":"resync_required","oldest":N}`) and the feed goes on
//! live.

use axum::extract::State;
use axum::extract::ws::{
    Message, WebSocket, WebSocketUpgrade, rejection::WebSocketUpgradeRejection,
};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use serde::Deserialize;
use tokio::sync::broadcast::error::RecvError;
use utoipa::IntoParams;

use crate::auth::{AnyUser, Authed};
use crate::error::{ApiError, ErrorBody};
use crate::extract::QueryArgs;
use crate::live::{Resume, Stamped};
use crate::state::{AppState, Scope};
use crate::users::Principal;

/// Where to resume.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct SinceQuery {
    /// The last `seq` received; the feed resumes after it.
    pub since: Option<u64>,
}

/// A browser page may open the feed only from this server's own origin.
pub(crate) fn same_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return true; // not a browser
    };
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let origin_host = origin
        .split_once("://")
        .map_or(origin, |(_, rest)| rest)
        .trim_end_matches('/');
    !host.is_empty() && origin_host == host
}

/// The event feed (WebSocket upgrade).
#[utoipa::path(get, path = "/api/v1/events", tag = "events",
    params(SinceQuery),
    responses((status = 101, description = "the feed: one JSON event per text message"),
        (status = "4XX", body = ErrorBody, description = "not logged in, not a WebSocket upgrade, another origin")),
    security(("session" = ["agent"]), ("bearer" = ["agent"])))]
pub(crate) async fn feed(
    State(st): State<AppState>,
    Authed(p): AnyUser,
    headers: HeaderMap,
    QueryArgs(q): QueryArgs<SinceQuery>,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    if !same_origin(&headers) {
        return Err(
            ApiError::forbidden("the feed is opened from this server's own pages").field("origin"),
        );
    }
    let ws = ws.map_err(|_| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "open the feed as a WebSocket",
        )
        .field("upgrade")
    })?;
    // kept to check, while the feed is open, that the session still is
    let mut credentials = HeaderMap::new();
    for name in [header::COOKIE, header::AUTHORIZATION] {
        for v in headers.get_all(&name) {
            credentials.append(name.clone(), v.clone());
        }
    }
    Ok(ws.on_upgrade(move |socket| run(st, p, credentials, q.since, socket)))
}

async fn send(socket: &mut WebSocket, text: String) -> bool {
    socket.send(Message::Text(text.into())).await.is_ok()
}

async fn send_event(
    socket: &mut WebSocket,
    e: &Stamped,
    p: &Principal,
    scope: Option<&Scope>,
    last: &mut u64,
) -> bool {
    if e.event.seq <= *last {
        return true;
    }
    *last = e.event.seq;
    if !e.visible_to(p, scope) {
        return true;
    }
    match serde_json::to_string(&*e.event) {
        Ok(text) => send(socket, text).await,
        Err(_) => true,
    }
}

/// How often an open feed checks that its session or token is still valid
/// (logout, expiry, revocation close it).
const RECHECK: std::time::Duration = std::time::Duration::from_secs(10);

async fn run(
    st: AppState,
    p: Principal,
    credentials: HeaderMap,
    since: Option<u64>,
    mut socket: WebSocket,
) {
    let mut feed = st.0.live.subscribe();
    let scope = st.scope(&p);
    let scope = scope.as_ref();
    let mut last = since.unwrap_or_else(|| st.0.live.last_seq());
    let hello =
        serde_json::json!({"type": "hello", "user": p.user, "last_seq": st.0.live.last_seq()});
    if !send(&mut socket, hello.to_string()).await {
        return;
    }
    if !replay(&st, &p, scope, &mut socket, &mut last).await {
        return;
    }
    let mut recheck = tokio::time::interval(RECHECK);
    recheck.tick().await;
    loop {
        tokio::select! {
            _ = recheck.tick() => {
                if !matches!(st.credentials(&credentials), Ok(Some(_))) {
                    let _ = socket.send(Message::Close(None)).await;
                    return;
                }
            }
            got = feed.recv() => match got {
                Ok(e) => {
                    if !send_event(&mut socket, &e, &p, scope, &mut last).await {
                        return;
                    }
                }
                Err(RecvError::Lagged(_)) => {
                    if !replay(&st, &p, scope, &mut socket, &mut last).await {
                        return;
                    }
                }
                Err(RecvError::Closed) => return,
            },
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                Some(Ok(_)) => {}
            },
        }
    }
}

/// Sends what is buffered after `last`, or says it is gone.
async fn replay(
    st: &AppState,
    p: &Principal,
    scope: Option<&Scope>,
    socket: &mut WebSocket,
    last: &mut u64,
) -> bool {
    match st.0.live.resume(*last) {
        Resume::From(events) => {
            for e in &events {
                if !send_event(socket, e, p, scope, last).await {
                    return false;
                }
            }
            true
        }
        Resume::Gone { oldest } => {
            let msg =
                serde_json::json!({"type": "resync_required", "since": *last, "oldest": oldest});
            *last = oldest.saturating_sub(1);
            send(socket, msg.to_string()).await
                && Box::pin(replay(st, p, scope, socket, last)).await
        }
    }
}
