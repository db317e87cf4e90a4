//! A center with in-memory phones and callers (wall-clock time) and its web
//! API, driven through the router without a network; two tenants: `acme`
//! (agents 1001, 1002, queue acme-support, supervisor `super`, administrator
//! `admin`) and `other` (agent 2001, queue other-sales, supervisor `bsuper`,
//! administrator `badmin`). acme also has the queue acme-sales (nobody
//! serves it) and two supervisors limited to queues: `ssuper` (acme-support)
//! and `xsuper` (acme-sales).

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]
#![allow(clippy::disallowed_methods)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Method, Request, StatusCode, header};
use callcore::{
    AgentProfile, AgentState, CenterConfig, CoreError, Endpoint, QueueDefinition, TenantId,
};
use callcore_runtime::memory::{FarEnd, MemoryTransport, PhoneBehavior};
use callcore_runtime::{Center, CenterHandle, Flow, FlowContext, FlowOutcome, SystemClock};
use callcore_web::{Configuration, LoginLimits, QueueConfig, Role, UserAccount, WebApi};
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

#[derive(Debug)]
struct ToQueue(&'static str);

#[async_trait]
impl Flow for ToQueue {
    async fn run(&self, call: &mut FlowContext) -> Result<FlowOutcome, CoreError> {
        let outcome = call.enqueue(self.0).await?;
        Ok(FlowOutcome::Done(outcome.end_reason()))
    }
}

pub struct Rig {
    pub center: CenterHandle,
    pub transport: Arc<MemoryTransport>,
    pub api: WebApi,
    pub app: Router,
}

pub fn acme() -> TenantId {
    TenantId::new("acme")
}

pub fn other() -> TenantId {
    TenantId::new("other")
}

/// A rig whose tests log in often (no per-source limit to speak of).
pub async fn rig() -> Rig {
    rig_with(LoginLimits {
        attempts_per_source: 1_000_000,
        ..LoginLimits::default()
    })
    .await
}

pub async fn rig_with(limits: LoginLimits) -> Rig {
    let clock: Arc<dyn callcore::Clock> = Arc::new(SystemClock);
    let transport = MemoryTransport::for_tenant(clock.clone(), acme());
    let center = Center::builder()
        .config(CenterConfig {
            tenant: acme(),
            ..CenterConfig::default()
        })
        .clock(clock)
        .transport(transport.clone())
        .flow("support", Arc::new(ToQueue("acme-support")))
        .route("*", "support")
        .build()
        .unwrap()
        .start()
        .await
        .unwrap();
    let mut q = QueueDefinition::new("acme-support");
    q.tenant = acme();
    center.add_queue(q).await.unwrap();
    let mut q = QueueDefinition::new("acme-sales");
    q.tenant = acme();
    center.add_queue(q).await.unwrap();
    let mut q = QueueDefinition::new("other-sales");
    q.tenant = other();
    center.add_queue(q).await.unwrap();
    for (id, tenant, queue) in [
        ("1001", acme(), "acme-support"),
        ("1002", acme(), "acme-support"),
        ("2001", other(), "other-sales"),
    ] {
        let address = format!("sip:{id}@pbx");
        transport.add_phone(
            &address,
            PhoneBehavior::AnswerAfter(Duration::from_millis(20)),
        );
        let mut p = AgentProfile::new(id).with_endpoint(Endpoint::Sip(address));
        p.tenant = tenant;
        p.queues = vec![queue.into()];
        center.add_agent(p).await.unwrap();
    }
    let user = |id: &str, role: Role, t: TenantId| {
        UserAccount::with_password(id, role, t, &format!("{id}-password")).unwrap()
    };
    let api = WebApi::builder()
        .center(center.clone())
        .agent("1001", &acme())
        .agent("1002", &acme())
        .agent("2001", &other())
        .queue("acme-support", &acme())
        .queue("acme-sales", &acme())
        .queue("other-sales", &other())
        .serving("1001", &["acme-support"])
        .serving("1002", &["acme-support"])
        .serving("2001", &["other-sales"])
        .user(user("1001", Role::Agent, acme()))
        .user(user("1002", Role::Agent, acme()))
        .user(user("2001", Role::Agent, other()))
        .user(user("super", Role::Supervisor, acme()))
        .user(user("admin", Role::Administrator, acme()))
        .user(user("bsuper", Role::Supervisor, other()))
        .user(user("badmin", Role::Administrator, other()))
        .user(user("ssuper", Role::Supervisor, acme()).with_queues(["acme-support".into()]))
        .user(user("xsuper", Role::Supervisor, acme()).with_queues(["acme-sales".into()]))
        .configuration(
            &acme(),
            Configuration {
                queues: vec![QueueConfig {
                    id: "acme-support".into(),
                    ..QueueConfig::default()
                }],
                skills: vec!["acme-skill".into()],
                reason_codes: vec!["lunch".into(), "break".into()],
                ..Configuration::default()
            },
        )
        .login_limits(limits)
        .build()
        .unwrap();
    let app = api.router();
    Rig {
        center,
        transport,
        api,
        app,
    }
}

/// How a request authenticates.
#[derive(Debug, Clone, Default)]
pub struct Auth {
    pub cookie: Option<String>,
    pub csrf: Option<String>,
    pub bearer: Option<String>,
}

impl Auth {
    pub fn none() -> Auth {
        Auth::default()
    }
}

pub struct Answer {
    pub status: StatusCode,
    pub headers: axum::http::HeaderMap,
    pub body: Value,
    pub text: String,
}

pub async fn request(
    app: &Router,
    method: Method,
    path: &str,
    auth: &Auth,
    body: Option<Value>,
) -> Answer {
    let mut b = Request::builder().method(method).uri(path);
    if let Some(c) = &auth.cookie {
        b = b.header(header::COOKIE, format!("callcore_session={c}"));
    }
    if let Some(c) = &auth.csrf {
        b = b.header("x-csrf-token", c);
    }
    if let Some(t) = &auth.bearer {
        b = b.header(header::AUTHORIZATION, format!("Bearer {t}"));
    }
    let body = match body {
        Some(v) => {
            b = b.header(header::CONTENT_TYPE, "application/json");
            Body::from(v.to_string())
        }
        None => Body::empty(),
    };
    let mut req = b.body(body).unwrap();
    req.extensions_mut()
        .insert(ConnectInfo(SocketAddr::from(([127, 0, 0, 1], 40000))));
    let r = app.clone().oneshot(req).await.unwrap();
    let status = r.status();
    let headers = r.headers().clone();
    let bytes = r.into_body().collect().await.unwrap().to_bytes();
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    Answer {
        status,
        headers,
        body,
        text,
    }
}

/// Logs `user` in (password `<user>-password`): a cookie session with its
/// CSRF token.
pub async fn login(app: &Router, user: &str) -> Auth {
    let r = request(
        app,
        Method::POST,
        "/api/v1/login",
        &Auth::none(),
        Some(serde_json::json!({"user": user, "password": format!("{user}-password")})),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "login {user}: {}", r.text);
    let cookie = r
        .headers
        .get(header::SET_COOKIE)
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    let id = cookie
        .split(';')
        .next()
        .unwrap()
        .trim_start_matches("callcore_session=")
        .to_owned();
    Auth {
        cookie: Some(id),
        csrf: r.body["csrf_token"].as_str().map(str::to_owned),
        bearer: None,
    }
}

/// An agent available, and an in-memory caller connected to them: the
/// interaction id and the caller.
pub async fn connected_call(rig: &Rig, agent: &str) -> (String, FarEnd) {
    rig.center
        .set_agent_state(&agent.into(), AgentState::Available)
        .await
        .unwrap();
    let mut events = rig.center.subscribe();
    let caller = rig.transport.call("+4930123456", "100");
    let id = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let e = events.recv().await.unwrap();
            if e.kind.name() == "connected" {
                return e.interaction().unwrap().to_string();
            }
        }
    })
    .await
    .expect("the call reaches the agent");
    // the API's live view has folded it once GET /calls lists it
    let auth = login(&rig.app, "super").await;
    for _ in 0..200 {
        let r = request(
            &rig.app,
            Method::GET,
            &format!("/api/v1/calls/{id}"),
            &auth,
            None,
        )
        .await;
        if r.status == StatusCode::OK && r.body["state"] == "connected" {
            return (id, caller);
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the API never showed call {id}");
}
