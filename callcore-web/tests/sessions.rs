//! Logging in and out, the session cookie, login rate limits, API tokens,
//! errors naming the field, and an agent acting only on their own calls.

#![allow(clippy::unwrap_used, clippy::expect_used)]
#![allow(clippy::disallowed_methods)]

mod support;

use std::time::Duration;

use axum::http::{Method, StatusCode, header};
use callcore_web::LoginLimits;
use serde_json::json;
use support::{Auth, login, request, rig, rig_with};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_sets_a_strict_http_only_cookie_and_logout_ends_the_session() {
    let rig = rig().await;
    let r = request(
        &rig.app,
        Method::POST,
        "/api/v1/login",
        &Auth::none(),
        Some(json!({"user": "1001", "password": "1001-password"})),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let cookie = r.headers.get(header::SET_COOKIE).unwrap().to_str().unwrap();
    assert!(cookie.starts_with("callcore_session="), "{cookie}");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let id = cookie
        .split(';')
        .next()
        .unwrap()
        .trim_start_matches("callcore_session=");
    assert_eq!(id.len(), 64, "32 random bytes");
    assert_eq!(r.body["role"], "agent");
    assert_eq!(r.body["agent"], "1001");
    assert_eq!(r.body["tenant"], "acme");
    assert!(!r.text.contains("1001-password"));

    let auth = login(&rig.app, "1001").await;
    let me = request(&rig.app, Method::GET, "/api/v1/me", &auth, None).await;
    assert_eq!(me.body["user"], "1001");
    let out = request(&rig.app, Method::POST, "/api/v1/logout", &auth, None).await;
    assert_eq!(out.status, StatusCode::NO_CONTENT);
    let me = request(&rig.app, Method::GET, "/api/v1/me", &auth, None).await;
    assert_eq!(me.status, StatusCode::UNAUTHORIZED);
    assert_eq!(me.body["error"]["code"], "unauthenticated");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_wrong_passwords_lock_the_user_and_one_source_is_limited_too() {
    let rig = rig_with(LoginLimits {
        failures_per_user: 5,
        attempts_per_source: 12,
        window: Duration::from_secs(60),
    })
    .await;
    let try_login = |user: &'static str, password: &'static str| {
        let app = rig.app.clone();
        async move {
            request(
                &app,
                Method::POST,
                "/api/v1/login",
                &Auth::none(),
                Some(json!({"user": user, "password": password})),
            )
            .await
        }
    };
    for _ in 0..5 {
        let r = try_login("1001", "wrong-password").await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    }
    // the right password no longer helps within the window
    let r = try_login("1001", "1001-password").await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.text);
    assert_eq!(r.body["error"]["code"], "rate_limited");
    assert!(r.headers.contains_key(header::RETRY_AFTER));
    // another user is not locked...
    assert_eq!(
        try_login("1002", "1002-password").await.status,
        StatusCode::OK
    );
    // ...until the source has tried too often
    for _ in 0..5 {
        let _ = try_login("super", "wrong-password").await;
    }
    let r = try_login("admin", "admin-password").await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_tokens_are_for_administrators_and_can_be_revoked() {
    let rig = rig().await;
    let agent = login(&rig.app, "1001").await;
    let r = request(&rig.app, Method::POST, "/api/v1/tokens", &agent, None).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let admin = login(&rig.app, "admin").await;
    let r = request(&rig.app, Method::POST, "/api/v1/tokens", &admin, None).await;
    assert_eq!(r.status, StatusCode::CREATED);
    let token = Auth {
        bearer: r.body["token"].as_str().map(str::to_owned),
        ..Auth::default()
    };
    let me = request(&rig.app, Method::GET, "/api/v1/me", &token, None).await;
    assert_eq!(me.body["role"], "administrator");
    let trunks = request(&rig.app, Method::GET, "/api/v1/config/trunks", &token, None).await;
    assert_eq!(trunks.status, StatusCode::OK);
    let bogus = Auth {
        bearer: Some("f".repeat(64)),
        ..Auth::default()
    };
    assert_eq!(
        request(&rig.app, Method::GET, "/api/v1/me", &bogus, None)
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    let id = r.body["id"].as_str().unwrap();
    let del = request(
        &rig.app,
        Method::DELETE,
        &format!("/api/v1/tokens/{id}"),
        &admin,
        None,
    )
    .await;
    assert_eq!(del.status, StatusCode::NO_CONTENT);
    assert_eq!(
        request(&rig.app, Method::GET, "/api/v1/me", &token, None)
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_a_4xx_naming_the_field() {
    let rig = rig().await;
    let sup = login(&rig.app, "super").await;
    let cases = [
        (
            Method::POST,
            "/api/v1/login",
            json!({"user": "1001"}),
            "password",
        ),
        (
            Method::POST,
            "/api/v1/login",
            json!({"user": "", "password": "x"}),
            "user",
        ),
        (
            Method::PUT,
            "/api/v1/agents/1001/state",
            json!({"state": "sleeping"}),
            "state",
        ),
        (
            Method::PUT,
            "/api/v1/agents/1001/state",
            json!({"state": "not_ready", "reason": "nap"}),
            "reason",
        ),
        (
            Method::PUT,
            "/api/v1/agents/1001/state",
            json!({"state": 3}),
            "state",
        ),
        (
            Method::POST,
            "/api/v1/agents/1001/dial",
            json!({"number": "call me"}),
            "number",
        ),
        (
            Method::POST,
            "/api/v1/calls/x/mute",
            json!({"on": "yes"}),
            "on",
        ),
    ];
    for (method, path, body, field) in cases {
        let auth = if path == "/api/v1/login" {
            Auth::none()
        } else {
            sup.clone()
        };
        let r = request(&rig.app, method.clone(), path, &auth, Some(body)).await;
        assert!(r.status.is_client_error(), "{method} {path}: {}", r.text);
        assert_eq!(
            r.body["error"]["field"], field,
            "{method} {path}: {}",
            r.text
        );
    }
    for (query, field) in [
        ("limit=0", "limit"),
        ("limit=abc", "limit"),
        ("from=10&to=5", "to"),
        ("color=red", "color"),
    ] {
        let r = request(
            &rig.app,
            Method::GET,
            &format!("/api/v1/interactions?{query}"),
            &sup,
            None,
        )
        .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{query}: {}", r.text);
        assert_eq!(r.body["error"]["field"], field, "{query}: {}", r.text);
    }
    for (path, field) in [
        ("/api/v1/reports/nonsense", "kind"),
        ("/api/v1/reports/queue_service?interval=week", "interval"),
        ("/api/v1/reports/queue_service?from=10&to=5", "from"),
        ("/api/v1/reports/queue_service?from=0&to=99999999999", "to"),
    ] {
        let r = request(&rig.app, Method::GET, path, &sup, None).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{path}: {}", r.text);
        assert_eq!(r.body["error"]["field"], field, "{path}: {}", r.text);
    }
    let r = request(
        &rig.app,
        Method::GET,
        "/api/v1/reports/queue_service",
        &sup,
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["kind"], "queue_service");
    // a body that is not JSON
    let r = request(&rig.app, Method::POST, "/api/v1/login", &Auth::none(), None).await;
    assert_eq!(r.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(r.body["error"]["field"], "content-type");
    // a not-ready reason from the configured codes works
    let r = request(
        &rig.app,
        Method::PUT,
        "/api/v1/agents/1001/state",
        &sup,
        Some(json!({"state": "not_ready", "reason": "lunch"})),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["reason"], "lunch");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_acts_on_their_own_calls_and_state_only() {
    let rig = rig().await;
    let (call, _caller) = support::connected_call(&rig, "1001").await;
    let alice = login(&rig.app, "1001").await;
    let bob = login(&rig.app, "1002").await;
    // the screen pop's basics: who calls, on which channel, from which queue
    let r = request(
        &rig.app,
        Method::GET,
        &format!("/api/v1/calls/{call}"),
        &alice,
        None,
    )
    .await;
    assert_eq!(r.body["from"], "+4930123456", "{}", r.text);
    assert_eq!(r.body["channel"], "voice");
    assert_eq!(r.body["queue"], "acme-support");
    assert_eq!(r.body["agent"], "1001");
    let hold = format!("/api/v1/calls/{call}/hold");
    let r = request(&rig.app, Method::POST, &hold, &bob, None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text);
    let r = request(&rig.app, Method::GET, "/api/v1/calls", &bob, None).await;
    assert!(!r.text.contains(&call), "{}", r.text);
    let r = request(
        &rig.app,
        Method::PUT,
        "/api/v1/agents/1001/state",
        &bob,
        Some(json!({"state": "offline"})),
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
    let mut events = rig.center.subscribe();
    let r = request(&rig.app, Method::POST, &hold, &alice, None).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    tokio::time::timeout(Duration::from_secs(5), async {
        while events.recv().await.unwrap().kind.name() != "held" {}
    })
    .await
    .expect("held");
    let r = request(&rig.app, Method::POST, &hold, &alice, None).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text);
    let r = request(
        &rig.app,
        Method::POST,
        &format!("/api/v1/calls/{call}/transfer"),
        &alice,
        Some(json!({"kind": "agent", "to": "2001"})),
    )
    .await;
    assert_eq!(
        r.status,
        StatusCode::NOT_FOUND,
        "another tenant's agent: {}",
        r.text
    );
    assert_eq!(r.body["error"]["field"], "to");
}
