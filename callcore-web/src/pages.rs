//! The pages the crate serves beside the API: the agent desktop at
//! `/desktop` (hand-written HTML, JavaScript and CSS in `assets/desktop.*`,
//! no build step, nothing fetched from elsewhere), and `/`, which leads to it.
//!
//! The desktop talks to the API like any client (cookie session, CSRF
//! header, the event feed) and takes calls in the browser through the
//! browser phone of `callcore-webrtc` (`/phone.js`, WebSocket
//! `/api/v1/phone`) when the assembly mounts it. Pages are not API
//! operations: they need no session to load (the page logs in) and are not
//! in the OpenAPI document.

use axum::Router;
use axum::http::header;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;

/// Content-Security-Policy of the pages: everything from this origin only.
const CSP: &str = "default-src 'self'; connect-src 'self'; img-src 'self' data:; \
                   style-src 'self'; script-src 'self'; media-src 'self' blob:; \
                   frame-ancestors 'none'";

pub(crate) fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CONTENT_SECURITY_POLICY, CSP),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

async fn desktop() -> Response {
    asset(
        "text/html; charset=utf-8",
        include_str!("../assets/desktop.html"),
    )
}

async fn desktop_js() -> Response {
    asset(
        "text/javascript; charset=utf-8",
        include_str!("../assets/desktop.js"),
    )
}

async fn desktop_chat_js() -> Response {
    asset(
        "text/javascript; charset=utf-8",
        include_str!("../assets/desktop-chat.js"),
    )
}

async fn desktop_assist_js() -> Response {
    asset(
        "text/javascript; charset=utf-8",
        include_str!("../assets/desktop-assist.js"),
    )
}

async fn desktop_scorecard_js() -> Response {
    asset(
        "text/javascript; charset=utf-8",
        include_str!("../assets/desktop-scorecard.js"),
    )
}

async fn desktop_css() -> Response {
    asset(
        "text/css; charset=utf-8",
        include_str!("../assets/desktop.css"),
    )
}

/// The pages' routes: `/desktop`, `/desktop.js`, `/desktop-chat.js`,
/// `/desktop-assist.js`, `/desktop-scorecard.js` (the agent's own
/// scorecard), `/desktop.css`, and `/`
/// redirecting to `/desktop`.
pub(crate) fn routes() -> Router {
    Router::new()
        .route("/", get(|| async { Redirect::to("/desktop") }))
        .route("/desktop", get(desktop))
        .route("/desktop.js", get(desktop_js))
        .route("/desktop-chat.js", get(desktop_chat_js))
        .route("/desktop-assist.js", get(desktop_assist_js))
        .route("/desktop-scorecard.js", get(desktop_scorecard_js))
        .route("/desktop.css", get(desktop_css))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tower::ServiceExt as _;

    async fn get_page(path: &str) -> (u16, String, String) {
        let req = axum::http::Request::get(path)
            .body(axum::body::Body::empty())
            .unwrap_or_default();
        let r = routes()
            .oneshot(req)
            .await
            .unwrap_or_else(|never| match never {});
        let status = r.status().as_u16();
        let kind = r
            .headers()
            .get(header::CONTENT_TYPE)
            .or_else(|| r.headers().get(header::LOCATION))
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let body = http_body_util::BodyExt::collect(r.into_body())
            .await
            .map(|b| String::from_utf8_lossy(&b.to_bytes()).into_owned())
            .unwrap_or_default();
        (status, kind, body)
    }

    #[tokio::test]
    async fn the_desktop_is_served_with_its_test_ids_and_the_root_leads_to_it() {
        let (status, kind, page) = get_page("/desktop").await;
        assert_eq!(status, 200);
        assert!(kind.starts_with("text/html"), "{kind}");
        for id in [
            "login-user",
            "login-password",
            "login-submit",
            "agent-state",
            "offer",
            "offer-accept",
            "offer-decline",
            "screen-pop",
            "call",
            "call-hold",
            "call-mute",
            "call-transfer",
            "call-hangup",
            "wrapup-code",
            "wrapup-submit",
            "chats",
            "chat-count",
            "assist",
            "assist-list",
            "my-scorecard",
            "my-scorecard-mean",
            "my-scorecard-refresh",
        ] {
            assert!(
                page.contains(&format!("data-testid=\"{id}\"")),
                "the page has data-testid {id}"
            );
        }
        assert!(page.contains("<option value=\"ready\""));
        assert!(page.contains("<option value=\"not_ready\""));
        // nothing from elsewhere: every script and style is this origin's
        assert!(!page.contains("http://") && !page.contains("https://"));
        let (status, kind, _) = get_page("/desktop.js").await;
        assert_eq!((status, kind.starts_with("text/javascript")), (200, true));
        let (status, kind, _) = get_page("/desktop-chat.js").await;
        assert_eq!((status, kind.starts_with("text/javascript")), (200, true));
        let (status, kind, js) = get_page("/desktop-scorecard.js").await;
        assert_eq!((status, kind.starts_with("text/javascript")), (200, true));
        assert!(js.contains("/scorecard?from="), "the agent's own scorecard");
        let (status, kind, js) = get_page("/desktop-assist.js").await;
        assert_eq!((status, kind.starts_with("text/javascript")), (200, true));
        assert!(js.contains("agent_assist"));
        let (status, kind, _) = get_page("/desktop.css").await;
        assert_eq!((status, kind.starts_with("text/css")), (200, true));
        let (status, location, _) = get_page("/").await;
        assert_eq!((status, location.as_str()), (303, "/desktop"));
    }
}
