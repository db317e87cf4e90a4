//! The supervisor wallboard: a page served by the crate (`/wallboard`, its
//! script `/wallboard.js` and style `/wallboard.css`; hand-written, no build
//! step, nothing fetched from another origin).
//!
//! The page is a client of the API only: a supervisor logs in
//! (`POST /api/v1/login`), opens the event feed (`/api/v1/events`) and, on
//! each event that changes a figure, reads `/api/v1/queues`, `/api/v1/agents`
//! and `/api/v1/calls` again (coalesced; no polling), and today's answered,
//! abandoned and service level from `/api/v1/reports/queue_service` (the
//! analytics engine's figures, read again when a call is answered, abandoned
//! or ends). Time in state and longest wait tick in the page. Charts (SVG):
//! contacts waiting per queue over the last ten minutes, service level per
//! queue. An agent's state is set with `PUT /api/v1/agents/{id}/state`.
//!
//! Listen, whisper and barge use the supervisor's own browser phone: the page
//! connects to the assembly's phone WebSocket (`/api/v1/phone`, served by
//! callcore-webrtc with its `/phone.js`) with its session, asks
//! `POST /api/v1/calls/{id}/monitor` (or `…/monitor/mode` to switch), and
//! answers the monitoring leg the center then places to that browser with
//! the microphone. The assembly must give the supervisor a WebRTC endpoint
//! (the premise does for `[[users]]` supervisors).
//!
//! Stable `data-testid`s: `login-user`, `login-password`, `login-submit`,
//! `wallboard`, `alert-list` (live quality alerts, `/wallboard-alerts.js`),
//! `coaching` (the coaching panel, `/wallboard-coaching.js`: scorecards over a
//! chosen period, coaching items with their calls, the review queue with a
//! note to complete a review; its ids are listed in the script's header),
//! `queue-<queue id>-waiting`, `agent-<agent id>-state` (a
//! `<select>` of `ready`, `not_ready`, `offline`; its `data-state` is the
//! agent's state as the API names it), `listen-<agent id>`,
//! `whisper-<agent id>`, `barge-<agent id>`.

use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;

/// The page's path.
pub(crate) const PATH: &str = "/wallboard";

const HTML: &str = include_str!("../assets/wallboard.html");
const JS: &str = include_str!("../assets/wallboard.js");
const CSS: &str = include_str!("../assets/wallboard.css");
const ALERTS_JS: &str = include_str!("../assets/wallboard-alerts.js");
const COACHING_JS: &str = include_str!("../assets/wallboard-coaching.js");

/// Headers of every asset: never cached across versions of the center, and
/// a policy that lets the page reach only its own origin.
fn asset(content_type: &'static str, body: &'static str) -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'self'; connect-src 'self'; img-src 'self' data:; \
                 style-src 'self'; script-src 'self'; media-src 'self' blob: mediastream:",
            ),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::X_FRAME_OPTIONS, "DENY"),
        ],
        body,
    )
}

/// The wallboard's routes (no state: the page reaches the API itself).
pub(crate) fn routes() -> Router {
    Router::new()
        .route(
            PATH,
            get(|| async { asset("text/html; charset=utf-8", HTML) }),
        )
        .route(
            "/wallboard.js",
            get(|| async { asset("text/javascript; charset=utf-8", JS) }),
        )
        .route(
            "/wallboard-alerts.js",
            get(|| async { asset("text/javascript; charset=utf-8", ALERTS_JS) }),
        )
        .route(
            "/wallboard-coaching.js",
            get(|| async { asset("text/javascript; charset=utf-8", COACHING_JS) }),
        )
        .route(
            "/wallboard.css",
            get(|| async { asset("text/css; charset=utf-8", CSS) }),
        )
}

#[cfg(test)]
mod tests {
    use super::*;
    use tower::ServiceExt as _;

    #[test]
    fn the_page_carries_the_stable_test_ids() {
        for id in [
            "login-user",
            "login-password",
            "login-submit",
            "\"wallboard\"",
        ] {
            assert!(HTML.contains(id), "{id} missing from the page");
        }
        // the per-queue and per-agent ids are made by the script
        for id in ["'queue-'", "'-waiting'", "'agent-'", "'-state'"] {
            assert!(JS.contains(id), "{id} missing from the script");
        }
        for mode in ["listen", "whisper", "barge"] {
            assert!(JS.contains(&format!("'{mode}'")), "{mode} button");
        }
        // nothing from another origin (the SVG namespace is a name, not fetched)
        assert!(HTML.contains("data-testid=\"alert-list\""));
        assert!(ALERTS_JS.contains("quality_alert"));
        // the coaching panel: its fixed ids in the page, the made ones in the script
        for id in [
            "\"coaching\"",
            "\"coaching-period\"",
            "\"coaching-queue\"",
            "\"scorecards\"",
            "\"coaching-items\"",
            "\"reviews\"",
            "/wallboard-coaching.js",
        ] {
            assert!(HTML.contains(id), "{id} missing from the page");
        }
        for id in [
            "'scorecard-'",
            "'-mean'",
            "'-rank'",
            "'-rule-'",
            "'coaching-item'",
            "'coaching-call'",
            "'review-'",
            "'-complete'",
            "/api/v1/reviews/",
        ] {
            assert!(
                COACHING_JS.contains(id),
                "{id} missing from the coaching script"
            );
        }
        for text in [HTML, JS, CSS, ALERTS_JS, COACHING_JS] {
            let text = text.replace("'http://www.w3.org/2000/svg'", "");
            assert!(!text.contains("http://") && !text.contains("https://"));
        }
    }

    #[tokio::test]
    async fn the_assets_are_served_with_their_types() {
        let app = routes();
        for (path, kind) in [
            ("/wallboard", "text/html"),
            ("/wallboard.js", "text/javascript"),
            ("/wallboard-alerts.js", "text/javascript"),
            ("/wallboard-coaching.js", "text/javascript"),
            ("/wallboard.css", "text/css"),
        ] {
            let req = axum::http::Request::get(path)
                .body(axum::body::Body::empty())
                .unwrap_or_default();
            let Ok(r) = app.clone().oneshot(req).await;
            assert_eq!(r.status(), 200, "{path}");
            let ct = r
                .headers()
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default();
            assert!(ct.starts_with(kind), "{path}: {ct}");
        }
    }
}
