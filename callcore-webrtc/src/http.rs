//! The browser side over HTTP: a WebSocket at `/api/v1/phone` that connects
//! an authenticated browser to [`BrowserPhones`], and a small test page
//! (`/phone.html`, its script `/phone.js`) that answers offers with the
//! microphone and plays what it receives.
//!
//! Authentication is the assembly's: [`PhoneAuth`] looks at the upgrade
//! request's headers (a session cookie, or a token the page passes as a
//! WebSocket sub-protocol `token.<TOKEN>`, see [`protocol_token`]) and names
//! the agent. [`password_auth`] is a simple one for assemblies without web
//! sessions: the token is the hex of `id:password`.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use callcore::AgentId;

use crate::phones::{BrowserPhones, BrowserSession, FromBrowser};

/// The WebSocket sub-protocol the phone speaks (the server selects it).
pub const PHONE_PROTOCOL: &str = "callcore-phone";

/// Names the agent of a browser's WebSocket upgrade request, or refuses it
/// (`None`: 401).
pub type PhoneAuth = Arc<dyn Fn(&HeaderMap) -> Option<AgentId> + Send + Sync>;

#[derive(Clone)]
struct Routes {
    phones: BrowserPhones,
    auth: PhoneAuth,
}

impl fmt::Debug for Routes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Routes").finish_non_exhaustive()
    }
}

/// The routes of the browser phone: `GET /api/v1/phone` (WebSocket, JSON
/// messages [`crate::ToBrowser`] and [`FromBrowser`]), `GET /phone.html` and
/// `GET /phone.js`. Mount them on any axum server (the premise's HTTP
/// listener: `Premise::mount_http`).
pub fn phone_routes(phones: BrowserPhones, auth: PhoneAuth) -> Router {
    Router::new()
        .route("/api/v1/phone", get(phone_socket))
        .route("/phone.html", get(page))
        .route("/phone.js", get(script))
        .with_state(Routes { phones, auth })
}

/// The `token.<TOKEN>` entry of the request's `Sec-WebSocket-Protocol`
/// header (a browser's `new WebSocket(url, ["callcore-phone", "token.…"])`).
pub fn protocol_token(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .find_map(|p| p.strip_prefix("token."))
}

/// Hex of `text`'s bytes (how [`password_auth`] tokens are written).
pub fn hex(text: &str) -> String {
    use std::fmt::Write;
    text.bytes().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Failed password logins an agent may have in [`LOCKOUT`] before its logins
/// are refused for the rest of that window (the web API's limit too).
pub const FAILURES_BEFORE_LOCKOUT: u32 = 5;

/// The window of [`FAILURES_BEFORE_LOCKOUT`].
pub const LOCKOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// Failed logins per agent, bounded: one window per agent id that exists.
#[derive(Default)]
struct Failures {
    by_agent: HashMap<AgentId, (std::time::Instant, u32)>,
}

impl Failures {
    /// Whether `agent` may try now.
    fn open(&mut self, agent: &AgentId, now: std::time::Instant) -> bool {
        match self.by_agent.get(agent) {
            Some((since, n)) if now.duration_since(*since) < LOCKOUT => {
                *n < FAILURES_BEFORE_LOCKOUT
            }
            Some(_) => {
                self.by_agent.remove(agent);
                true
            }
            None => true,
        }
    }

    fn failed(&mut self, agent: AgentId, now: std::time::Instant) {
        let entry = self.by_agent.entry(agent).or_insert((now, 0));
        if now.duration_since(entry.0) >= LOCKOUT {
            *entry = (now, 0);
        }
        entry.1 = entry.1.saturating_add(1);
    }
}

/// An authenticator for agents' passwords: the token ([`protocol_token`]) is
/// the [`hex`] of `id:password`. For assemblies without web sessions. After
/// [`FAILURES_BEFORE_LOCKOUT`] wrong passwords for an agent within
/// [`LOCKOUT`], that agent's logins are refused until the window ends (a
/// password cannot be guessed through the phone's WebSocket faster than
/// through the web API's login).
pub fn password_auth(passwords: HashMap<AgentId, String>) -> PhoneAuth {
    let failures = std::sync::Mutex::new(Failures::default());
    Arc::new(move |headers: &HeaderMap| {
        let token = protocol_token(headers)?;
        let bytes: Vec<u8> = (0..token.len() / 2)
            .map(|i| {
                token
                    .get(2 * i..2 * i + 2)
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
            })
            .collect::<Option<_>>()?;
        let text = String::from_utf8(bytes).ok()?;
        let (id, password) = text.split_once(':')?;
        let agent = AgentId::new(id);
        // only configured agents are counted, so the table stays bounded
        let known = passwords.get(&agent)?;
        #[allow(clippy::disallowed_methods)] // wall time: a lockout window
        let now = std::time::Instant::now();
        let mut failures = failures
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if !failures.open(&agent, now) {
            tracing::warn!(%agent, "browser phone login refused: too many wrong passwords");
            return None;
        }
        if !known.is_empty() && same(known.as_bytes(), password.as_bytes()) {
            Some(agent)
        } else {
            failures.failed(agent, now);
            None
        }
    })
}

async fn phone_socket(
    State(routes): State<Routes>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    let Some(agent) = (routes.auth)(&headers) else {
        return (
            StatusCode::UNAUTHORIZED,
            [(header::CONTENT_TYPE, "application/json")],
            r#"{"error":"unauthorized","detail":"no valid session or token for the phone"}"#,
        )
            .into_response();
    };
    let phones = routes.phones.clone();
    ws.protocols([PHONE_PROTOCOL])
        .on_upgrade(move |socket| serve(socket, phones.connect(agent)))
}

/// Relays between one browser's WebSocket and its session until either ends.
async fn serve(mut socket: WebSocket, mut phone: BrowserSession) {
    tracing::info!(agent = %phone.agent(), "browser phone online");
    loop {
        tokio::select! {
            out = phone.next() => {
                let Some(out) = out else { break };
                let Ok(text) = serde_json::to_string(&out) else { continue };
                if socket.send(Message::Text(text.into())).await.is_err() {
                    break;
                }
            }
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Text(text))) => match serde_json::from_str::<FromBrowser>(&text) {
                    Ok(message) => phone.send(message),
                    Err(e) => {
                        let error = serde_json::json!({"type": "error", "detail": e.to_string()});
                        if socket.send(Message::Text(error.to_string().into())).await.is_err() {
                            break;
                        }
                    }
                },
                Some(Ok(Message::Close(_)) | Err(_)) | None => break,
                Some(Ok(_)) => {}
            },
        }
    }
    tracing::info!(agent = %phone.agent(), "browser phone offline");
}

async fn page() -> Html<&'static str> {
    Html(include_str!("../assets/phone.html"))
}

async fn script() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        include_str!("../assets/phone.js"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_token_names_its_agent_and_nothing_else_does() {
        let auth = password_auth(HashMap::from([(
            AgentId::new("1001"),
            "alice1001".to_owned(),
        )]));
        let with = |protocols: &str| {
            let mut h = HeaderMap::new();
            h.insert(
                header::SEC_WEBSOCKET_PROTOCOL,
                protocols.parse().expect("header"),
            );
            auth(&h)
        };
        let good = format!("callcore-phone, token.{}", hex("1001:alice1001"));
        assert_eq!(with(&good), Some(AgentId::new("1001")));
        assert_eq!(
            with(&format!("callcore-phone, token.{}", hex("1001:wrong"))),
            None
        );
        assert_eq!(with(&format!("token.{}", hex("1002:alice1001"))), None);
        assert_eq!(with("callcore-phone, token.zz"), None);
        assert_eq!(with("callcore-phone"), None);
        assert_eq!(auth(&HeaderMap::new()), None);
    }

    #[test]
    fn wrong_passwords_lock_the_agent_out_for_a_while() {
        let auth = password_auth(HashMap::from([(
            AgentId::new("1001"),
            "alice1001".to_owned(),
        )]));
        let with = |password: &str| {
            let mut h = HeaderMap::new();
            let value = format!("callcore-phone, token.{}", hex(&format!("1001:{password}")));
            h.insert(
                header::SEC_WEBSOCKET_PROTOCOL,
                value.parse().expect("header"),
            );
            auth(&h)
        };
        for _ in 0..FAILURES_BEFORE_LOCKOUT - 1 {
            assert_eq!(with("guess"), None);
        }
        // still below the limit: the right password works, and does not reset
        assert_eq!(with("alice1001"), Some(AgentId::new("1001")));
        assert_eq!(with("guess"), None);
        // locked out: even the right password is refused within the window
        assert_eq!(with("alice1001"), None);
    }
}
