//! The webhook variant of the task node against a real HTTP server on
//! 127.0.0.1 (hyper), directly and inside the bank flow on a `Center`.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use callcore::{Clock, QueueDefinition, Timestamp, VirtualClock};
use callcore_ivr::flow::{FlowSpec, IvrFlow, Node, Webhook, webhook};
use callcore_ivr::nlu::{IntentClassifier, IntentsFile};
use callcore_runtime::memory::MemoryTransport;
use callcore_runtime::{Center, Providers};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/data/");
const WEDNESDAY_10AM: i64 = 1_795_618_800;

type Seen = Arc<Mutex<Vec<(String, serde_json::Value)>>>;

/// A billing back end: POST /bill with {"account": ...}.
async fn billing(req: Request<Incoming>, seen: Seen) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = req.uri().path().to_string();
    let content_type = req
        .headers()
        .get(hyper::header::CONTENT_TYPE)
        .map(|v| v.to_str().unwrap().to_string());
    let body = req.into_body().collect().await.unwrap().to_bytes();
    let json: serde_json::Value = serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
    seen.lock().unwrap().push((path.clone(), json.clone()));
    assert_eq!(content_type.as_deref(), Some("application/json"));
    let reply = |status: StatusCode, body: &str| {
        Ok(Response::builder()
            .status(status)
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body.to_string())))
            .unwrap())
    };
    match path.as_str() {
        "/bill" if json["account"] == "12345678" => reply(
            StatusCode::OK,
            r#"{"balance": "42.50", "due": "December 1", "account_info": {"plan": "premium", "overdue": false}}"#,
        ),
        "/bill" => reply(StatusCode::NOT_FOUND, r#"{"error": "unknown account"}"#),
        "/slow" => {
            // Never answers: the caller's timeout must end the wait.
            std::future::pending::<()>().await;
            reply(StatusCode::OK, "{}")
        }
        "/html" => reply(StatusCode::OK, "<html>oops</html>"),
        _ => reply(StatusCode::NOT_FOUND, "{}"),
    }
}

async fn start_server() -> (SocketAddr, Seen) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen: Seen = Arc::default();
    let shared = seen.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let seen = shared.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req| billing(req, seen.clone()));
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    (addr, seen)
}

fn vars(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_posts_variables_and_merges_the_answer() {
    let (addr, seen) = start_server().await;
    let timeout = Duration::from_secs(5);
    let answer = webhook::call(
        &format!("http://{addr}/bill"),
        &vars(&[("account", "12345678"), ("intent", "check_balance")]),
        timeout,
    )
    .await
    .unwrap();
    assert_eq!(answer["balance"], "42.50");
    assert_eq!(answer["due"], "December 1");
    assert_eq!(answer["account_info.plan"], "premium");
    assert_eq!(answer["account_info.overdue"], "false");
    {
        let seen = seen.lock().unwrap();
        assert_eq!(seen[0].0, "/bill");
        assert_eq!(
            seen[0].1,
            serde_json::json!({"account": "12345678", "intent": "check_balance"})
        );
    }

    let err = webhook::call(
        &format!("http://{addr}/bill"),
        &vars(&[("account", "1")]),
        timeout,
    )
    .await
    .unwrap_err();
    assert!(err.contains("HTTP 404"), "{err}");

    let err = webhook::call(&format!("http://{addr}/html"), &vars(&[]), timeout)
        .await
        .unwrap_err();
    assert!(err.contains("not JSON"), "{err}");

    let err = webhook::call(
        &format!("http://{addr}/slow"),
        &vars(&[]),
        Duration::from_millis(300),
    )
    .await
    .unwrap_err();
    assert!(err.contains("no answer within 300 ms"), "{err}");

    // Nothing listens on a port we just released.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let err = webhook::call(&format!("http://{closed}/bill"), &vars(&[]), timeout)
        .await
        .unwrap_err();
    assert!(err.contains("connect"), "{err}");
}

/// The bank line with its `lookup_bill` task turned into a webhook.
fn bank_line_with_webhook(url: &str) -> FlowSpec {
    let mut spec = FlowSpec::from_json(
        &std::fs::read_to_string(format!("{DATA}flows/bank_line.json")).unwrap(),
    )
    .unwrap();
    let mut json = serde_json::to_value(&spec).unwrap();
    json["nodes"]["lookup_bill"] = serde_json::json!({
        "type": "task",
        "webhook": {"url": url, "timeout_ms": 2000, "send": ["account"]},
        "next": "say_bill",
        "on_error": "agents"
    });
    spec = FlowSpec::from_json(&json.to_string()).unwrap();
    match spec.nodes.get("lookup_bill") {
        Some(Node::Task {
            webhook: Some(w), ..
        }) => assert_eq!(
            w,
            &Webhook {
                url: url.to_string(),
                timeout_ms: 2000,
                send: vec!["account".to_string()],
            }
        ),
        other => panic!("{other:?}"),
    }
    spec
}

#[tokio::test(flavor = "current_thread")]
async fn bank_line_reads_the_bill_from_a_webhook_on_a_center() {
    let (addr, seen) = start_server().await;
    let spec = bank_line_with_webhook(&format!("http://{addr}/bill"));
    let intents = IntentsFile::load(format!("{DATA}intents_en.json")).unwrap();
    let clock = VirtualClock::new(Timestamp::from_secs(WEDNESDAY_10AM));
    let transport = MemoryTransport::new(Arc::new(clock.clone()));
    let center = Center::builder()
        .clock(Arc::new(clock.clone()))
        .transport(transport.clone())
        .flow("bank", Arc::new(IvrFlow::new(spec)))
        .providers(Providers {
            nlu: Some(Arc::new(IntentClassifier::train(&intents).unwrap())),
            ..Providers::default()
        })
        .build()
        .unwrap()
        .start()
        .await
        .unwrap();
    center
        .add_queue(QueueDefinition::new("support"))
        .await
        .unwrap();
    let caller = transport.call("+15550100", "100");
    caller.say("what's my balance");
    caller.press("12345678#");
    caller.press("2");
    let done = {
        let caller = caller.clone();
        let clock = clock.clone();
        async move {
            while !caller.heard().iter().any(|h| h.contains("Goodbye")) {
                clock.sleep(Duration::from_millis(200)).await;
            }
        }
    };
    clock
        .drive(done, Timestamp::from_secs(WEDNESDAY_10AM + 600))
        .await
        .unwrap();
    let heard = caller.heard();
    assert!(
        heard.contains(&"say:Your balance is 42.50 dollars, due on December 1.".to_string()),
        "{heard:?}"
    );
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 1);
    // Only the variables the node lists are sent.
    assert_eq!(seen[0].1, serde_json::json!({"account": "12345678"}));
}
