//! Role and tenant checks of every route, generated from the OpenAPI
//! document the router is built from: a route that declares no minimum
//! role, or does not enforce the one it declares, or lets another tenant's
//! user see or act on this tenant's agents, queues and calls, fails here.

#![allow(clippy::unwrap_used, clippy::expect_used)]
#![allow(clippy::disallowed_methods)]

mod support;

use axum::http::{Method, StatusCode};
use serde_json::Value;
use support::{Auth, login, request, rig};

/// Every operation of the document: method, path, declared minimum role.
fn operations(doc: &Value) -> Vec<(Method, String, Option<String>)> {
    let mut ops = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let role = op["security"]
                .as_array()
                .and_then(|s| s.first())
                .and_then(|s| s["session"].as_array())
                .and_then(|r| r.first())
                .and_then(Value::as_str)
                .map(str::to_owned);
            ops.push((method.to_uppercase().parse().unwrap(), path.clone(), role));
        }
    }
    ops
}

fn rank(role: &str) -> u8 {
    match role {
        "agent" => 0,
        "supervisor" => 1,
        "administrator" => 2,
        other => panic!("unknown role {other}"),
    }
}

/// `path` with this tenant's (acme's) ids in it.
fn fill(path: &str, call: &str) -> String {
    path.replace("{agent}", "1001")
        .replace("{queue}", "acme-support")
        .replace("{interaction}", call)
        .replace("{reservation}", "no-such-offer")
        .replace("{recording}", "no-such-recording")
        .replace("{token}", "no-such-token")
        .replace("{kind}", "queue_service")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_declares_a_minimum_role_and_enforces_it() {
    let rig = rig().await;
    let doc = request(
        &rig.app,
        Method::GET,
        "/api/openapi.json",
        &Auth::none(),
        None,
    )
    .await
    .body;
    let ops = operations(&doc);
    assert!(ops.len() >= 40, "{} operations", ops.len());
    let (call, _caller) = support::connected_call(&rig, "1001").await;
    let users = [("1001", 0u8), ("super", 1), ("admin", 2)];
    for (method, path, role) in ops {
        if path == "/api/v1/login" {
            assert!(role.is_none(), "login is public");
            continue;
        }
        let role = role.unwrap_or_else(|| panic!("{method} {path} declares no minimum role"));
        let url = fill(&path, &call);
        let r = request(&rig.app, method.clone(), &url, &Auth::none(), None).await;
        assert_eq!(
            r.status,
            StatusCode::UNAUTHORIZED,
            "{method} {path} without credentials: {}",
            r.text
        );
        assert_eq!(r.body["error"]["code"], "unauthenticated");
        for (user, level) in users {
            // a fresh session each time: some routes end it (logout)
            let auth = login(&rig.app, user).await;
            let r = request(&rig.app, method.clone(), &url, &auth, None).await;
            if level < rank(&role) {
                assert_eq!(
                    r.status,
                    StatusCode::FORBIDDEN,
                    "{method} {path} as {user}: {}",
                    r.text
                );
                assert_eq!(
                    r.body["error"]["code"], "forbidden",
                    "{method} {path} as {user}"
                );
            } else {
                assert!(
                    r.status != StatusCode::UNAUTHORIZED && r.status != StatusCode::FORBIDDEN,
                    "{method} {path} as {user} ({role} route): {} {}",
                    r.status,
                    r.text
                );
            }
            assert!(
                r.status.as_u16() < 500,
                "{method} {path} as {user}: {}",
                r.text
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_tenants_users_never_see_or_touch_this_tenants_agents_queues_and_calls() {
    let rig = rig().await;
    let doc = request(
        &rig.app,
        Method::GET,
        "/api/openapi.json",
        &Auth::none(),
        None,
    )
    .await
    .body;
    let (call, _caller) = support::connected_call(&rig, "1001").await;
    let secrets = [
        "1001",
        "1002",
        "acme-support",
        "acme-skill",
        "lunch",
        call.as_str(),
    ];
    for user in ["2001", "bsuper", "badmin"] {
        for (method, path, _) in operations(&doc) {
            if matches!(
                path.as_str(),
                "/api/v1/login" | "/api/v1/logout" | "/api/v1/tokens" | "/api/v1/me"
            ) {
                continue;
            }
            let auth = login(&rig.app, user).await;
            let url = fill(&path, &call);
            let body = Some(serde_json::json!({}));
            let r = request(&rig.app, method.clone(), &url, &auth, body).await;
            // a report's path names no resource of a tenant: its content is checked below
            let names_a_resource = path.contains('{') && !path.starts_with("/api/v1/reports/");
            assert!(
                !names_a_resource || !r.status.is_success(),
                "{user}: {method} {url} of another tenant answered {} {}",
                r.status,
                r.text
            );
            for s in secrets {
                assert!(
                    !mentions(&r.text, s),
                    "{user}: {method} {url} shows `{s}`: {}",
                    r.text
                );
            }
            // lists answer, without this tenant's items (the sockets are no lists)
            let socket = matches!(path.as_str(), "/api/v1/events" | "/api/v1/chats");
            if !path.contains('{') && method == Method::GET && !socket {
                let r = request(&rig.app, method.clone(), &path, &auth, None).await;
                // a search without its criterion is refused (400), not listed
                let search = path == "/api/v1/customers" && r.status == StatusCode::BAD_REQUEST;
                assert!(
                    r.status.is_success() || r.status == StatusCode::FORBIDDEN || search,
                    "{user}: {path}: {}",
                    r.text
                );
                for s in secrets {
                    assert!(
                        !mentions(&r.text, s),
                        "{user}: {path} lists `{s}`: {}",
                        r.text
                    );
                }
            }
        }
    }
    // and the call is still there, untouched
    let auth = login(&rig.app, "super").await;
    let r = request(
        &rig.app,
        Method::GET,
        &format!("/api/v1/calls/{call}"),
        &auth,
        None,
    )
    .await;
    assert_eq!(r.body["state"], "connected", "{}", r.text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsafe_requests_of_a_cookie_session_need_the_csrf_token_api_tokens_do_not() {
    let rig = rig().await;
    let doc = request(
        &rig.app,
        Method::GET,
        "/api/openapi.json",
        &Auth::none(),
        None,
    )
    .await
    .body;
    let admin = login(&rig.app, "admin").await;
    let token = request(&rig.app, Method::POST, "/api/v1/tokens", &admin, None).await;
    assert_eq!(token.status, StatusCode::CREATED, "{}", token.text);
    let bearer = Auth {
        bearer: token.body["token"].as_str().map(str::to_owned),
        ..Auth::default()
    };
    let mut checked = 0;
    for (method, path, _) in operations(&doc) {
        if method == Method::GET || path == "/api/v1/login" {
            continue;
        }
        let url = fill(&path, "no-such-call");
        let no_csrf = Auth {
            csrf: None,
            ..admin.clone()
        };
        let r = request(&rig.app, method.clone(), &url, &no_csrf, None).await;
        assert_eq!(
            r.status,
            StatusCode::FORBIDDEN,
            "{method} {path} without CSRF: {}",
            r.text
        );
        assert_eq!(r.body["error"]["code"], "csrf");
        assert_eq!(r.body["error"]["field"], "x-csrf-token");
        let wrong = Auth {
            csrf: Some("0".repeat(64)),
            ..admin.clone()
        };
        let r = request(&rig.app, method.clone(), &url, &wrong, None).await;
        assert_eq!(
            r.body["error"]["code"], "csrf",
            "{method} {path} with a wrong CSRF token"
        );
        if path != "/api/v1/logout" {
            let r = request(&rig.app, method.clone(), &url, &bearer, None).await;
            assert!(
                r.status != StatusCode::FORBIDDEN && r.status != StatusCode::UNAUTHORIZED,
                "{method} {path} with an API token: {}",
                r.text
            );
        }
        checked += 1;
    }
    assert!(checked >= 24, "{checked} unsafe routes");
}

/// Whether `text` names `secret` as a word of its own: not inside a longer
/// number or name (an agent id such as `1001` also occurs inside a
/// millisecond timestamp such as `1796610014745`, which leaks nothing).
fn mentions(text: &str, secret: &str) -> bool {
    let word = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
    text.match_indices(secret).any(|(at, _)| {
        !word(text[..at].chars().next_back()) && !word(text[at + secret.len()..].chars().next())
    })
}
