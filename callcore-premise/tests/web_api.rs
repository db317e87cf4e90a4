//! The web API of the running premise center, over real HTTP: an agent logs
//! in with their phone's password and puts a real SIPp call on hold and
//! hangs it up through `/api/v1`; the session cookie's attributes, CSRF,
//! the OpenAPI document and the operations routes on the same listener.
//!
//! Skipped with a notice without sipp, unless `CALLCORE_REQUIRE_PEERS=1`.

#![allow(clippy::unwrap_used, clippy::expect_used)]
#![allow(clippy::disallowed_methods)]

#[path = "call_support/mod.rs"]
mod support;
#[path = "web_support/mod.rs"]
mod web;

use std::time::Duration;

use callcore::EventKind;
use callcore_premise::Premise;
use support::{Caller, Desk, config, connected, data_dir, tones, wait_for};
use web::{http, login};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_logs_in_over_http_and_holds_and_hangs_up_a_real_sip_call() {
    if !support::sipp_ready("the web API call-control test") {
        return;
    }
    let dir = data_dir("web-api");
    let desk = Desk::start("2001", tones::AGENT, 1).await;
    let agents = format!(
        "[[agents]]\nid = \"2001\"\nname = \"Alice\"\npassword = \"alice-2001\"\ncontact = \"{}\"\nskills = [\"support\"]\n\
         [[users]]\nid = \"boss\"\npassword = \"boss-password\"\nrole = \"supervisor\"\n",
        desk.contact
    );
    let mut cfg = config(&dir, &agents);
    cfg.http.enabled = true;
    cfg.http.bind = Some("127.0.0.1:0".parse().unwrap());
    let premise = Premise::start(cfg).await.unwrap();
    let addr = premise.http_addr().expect("the web listener");
    assert!(
        premise
            .banner()
            .contains(&format!("Web API: http://{addr}/api/v1"))
    );
    assert!(premise.web().is_some());

    // the operations routes and the document share the listener
    assert_eq!(http(addr, "GET", "/healthz", None, None).await.status, 200);
    let doc = http(addr, "GET", "/api/openapi.json", None, None).await;
    assert_eq!(doc.status, 200);
    assert!(doc.json()["paths"]["/api/v1/calls/{interaction}/hold"].is_object());

    // wrong password: 401 in the API's error shape
    let bad = http(
        addr,
        "POST",
        "/api/v1/login",
        None,
        Some(r#"{"user":"2001","password":"nope-nope"}"#),
    )
    .await;
    assert_eq!(bad.status, 401);
    assert_eq!(bad.json()["error"]["code"], "unauthenticated");
    let agent = login(addr, "2001", "alice-2001").await;
    let r = http(
        addr,
        "POST",
        "/api/v1/login",
        None,
        Some(r#"{"user":"2001","password":"alice-2001"}"#),
    )
    .await;
    let cookie = r.header("set-cookie").unwrap().to_owned();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let me = http(addr, "GET", "/api/v1/me", Some(&agent), None).await;
    assert_eq!(me.json()["role"], "agent", "{}", me.body);

    let mut events = premise.center().subscribe();
    let _caller = Caller::call(premise.sip_addr(), tones::CALLER, 2).await;
    let (id, who) = connected(&mut events).await;
    assert_eq!(who.as_str(), "2001");
    // the agent sees their call
    let mut listed = false;
    for _ in 0..100 {
        let calls = http(addr, "GET", "/api/v1/calls", Some(&agent), None).await;
        if calls.body.contains(id.as_str()) {
            listed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(listed, "the agent's call is listed");

    let hold = format!("/api/v1/calls/{id}/hold");
    // without the CSRF token the cookie session may not act
    let no_csrf = web::Session {
        csrf: String::new(),
        ..agent.clone()
    };
    let r = http(addr, "POST", &hold, Some(&no_csrf), None).await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert_eq!(r.json()["error"]["code"], "csrf");
    let r = http(addr, "POST", &hold, Some(&agent), None).await;
    assert_eq!(r.status, 204, "{}", r.body);
    wait_for(&mut events, 10, "held", |k| {
        matches!(k, EventKind::Held { .. }).then_some(())
    })
    .await;
    // holding twice does not fit the call's state: 409 naming the call
    let r = http(addr, "POST", &hold, Some(&agent), None).await;
    assert_eq!(r.status, 409, "{}", r.body);
    assert_eq!(r.json()["error"]["field"], "interaction");
    let r = http(
        addr,
        "POST",
        &format!("/api/v1/calls/{id}/resume"),
        Some(&agent),
        None,
    )
    .await;
    assert_eq!(r.status, 204, "{}", r.body);
    // the supervisor sees the agent busy
    let boss = login(addr, "boss", "boss-password").await;
    let a = http(addr, "GET", "/api/v1/agents/2001", Some(&boss), None).await;
    assert_eq!(a.json()["state"], "busy", "{}", a.body);
    let r = http(
        addr,
        "POST",
        &format!("/api/v1/calls/{id}/hang-up"),
        Some(&agent),
        None,
    )
    .await;
    assert_eq!(r.status, 204, "{}", r.body);
    wait_for(&mut events, 10, "ended", |k| {
        matches!(k, EventKind::Ended { .. }).then_some(())
    })
    .await;
    // wrap-up after the call, then the record shows it
    let r = http(
        addr,
        "POST",
        &format!("/api/v1/interactions/{id}/wrap-up"),
        Some(&agent),
        Some(r#"{"code":"resolved","notes":"done"}"#),
    )
    .await;
    assert_eq!(r.status, 204, "{}", r.body);
    let mut stored = String::new();
    for _ in 0..50 {
        let rec = http(
            addr,
            "GET",
            &format!("/api/v1/interactions/{id}"),
            Some(&boss),
            None,
        )
        .await;
        stored = rec.body;
        if stored.contains("resolved") && stored.contains("agent_hangup") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(stored.contains("resolved"), "{stored}");
    // logout ends the session
    let r = http(addr, "POST", "/api/v1/logout", Some(&agent), None).await;
    assert_eq!(r.status, 204);
    assert_eq!(
        http(addr, "GET", "/api/v1/me", Some(&agent), None)
            .await
            .status,
        401
    );
    premise.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}
