//! The premise's operations listener and drain, against SIPp callers:
//! - `/metrics` scraped before and after a SIPp call through the IVR parses as
//!   Prometheus text and its counters moved (calls, SIP, RTP, journal), and the
//!   JSON log lines of the whole process (debug level) never carry the caller's
//!   number;
//! - a drain: with a call in progress, `/readyz` turns 503 (`/healthz` stays 200), a
//!   new SIPp INVITE gets 503 with Retry-After, the live call is hung up with a BYE
//!   at the deadline and its record is stored, and the drain returns.
//!
//! Plain HTTP/1.1 over a `TcpStream` is the client. Needs `sipp` (package
//! `sip-tester`): skipped with a notice otherwise, failing instead when
//! `CALLCORE_REQUIRE_PEERS=1`.

#![allow(clippy::unwrap_used, clippy::expect_used)]
// Real peers and sockets run in wall-clock time: the test waits for them.
#![allow(clippy::disallowed_methods)]

use std::collections::HashMap;
use std::net::{SocketAddr, UdpSocket};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use callcore_premise::{Premise, PremiseConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::Command;

fn sipp_ready() -> bool {
    let found = std::process::Command::new("sipp")
        .arg("-v")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    if !found {
        assert!(
            std::env::var("CALLCORE_REQUIRE_PEERS").as_deref() != Ok("1"),
            "sipp is required (CALLCORE_REQUIRE_PEERS=1) but not installed"
        );
        eprintln!(
            "NOTICE: sipp not found; skipping the premise ops test (apt-get install -y sip-tester)"
        );
    }
    found
}

/// Every log line of this test process, as JSON, at debug level.
fn captured_logs() -> Arc<std::sync::Mutex<Vec<u8>>> {
    static LOGS: std::sync::OnceLock<Arc<std::sync::Mutex<Vec<u8>>>> = std::sync::OnceLock::new();
    LOGS.get_or_init(|| {
        let logs = Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = logs.clone();
        let _ = tracing_subscriber::fmt()
            .json()
            .with_max_level(tracing::Level::DEBUG)
            .with_writer(move || Sink(sink.clone()))
            .try_init();
        logs
    })
    .clone()
}

struct Sink(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn free_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// 60 RTP ports in 39500-39979 for this process: 20 per test.
fn rtp_base() -> u16 {
    39500 + (std::process::id() % 8) as u16 * 60
}

fn scenario(name: &str) -> String {
    format!("{}/tests/sipp/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// A premise on free SIP and HTTP ports, RTP in `rtp_first..rtp_first+19`.
async fn premise(name: &str, rtp_first: u16) -> (Premise, std::path::PathBuf) {
    let dir = std::env::temp_dir().join(format!("callcore-ops-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let toml = format!(
        "drain_secs = 3\n[sip]\nbind = \"127.0.0.1:0\"\n[media]\nrtp_first = {rtp_first}\nrtp_last = {}\n\
         [storage]\ndata_dir = \"{}\"\nrecord_calls = false\n",
        rtp_first + 19,
        dir.display()
    );
    let premise = Premise::start(
        PremiseConfig::from_toml(&callcore_premise::with_demo_agents(&toml)).unwrap(),
    )
    .await
    .unwrap();
    (premise, dir)
}

/// A SIPp caller of the IVR playing `file`.
fn caller(center: SocketAddr, file: &str) -> Command {
    let mut cmd = Command::new("sipp");
    cmd.arg(center.to_string())
        .args(["-sf", &scenario(file)])
        .args(["-s", "ivr", "-m", "1"])
        .args(["-i", "127.0.0.1", "-p", &free_port().to_string()])
        .args(["-mi", "127.0.0.1", "-mp", &free_port().to_string()])
        .args(["-ci", "127.0.0.1", "-cp", &free_port().to_string()])
        .args(["-nostdin", "-timeout", "60s", "-timeout_error"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    cmd
}

async fn finished(child: tokio::process::Child, who: &str) {
    let out = tokio::time::timeout(Duration::from_secs(70), child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("{who} finished"))
        .unwrap();
    assert!(
        out.status.success(),
        "{who}: sipp failed ({:?}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

/// GET `path` over HTTP/1.1: (status, body).
async fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut raw))
        .await
        .expect("HTTP answer")
        .unwrap();
    let text = String::from_utf8(raw).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").expect("an HTTP response");
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("a status");
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(body)
    } else {
        body.to_owned()
    };
    (status, body)
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap();
        if n == 0 {
            break;
        }
        out.push_str(&rest[..n]);
        body = &rest[n + 2..];
    }
    out
}

/// Parses the Prometheus text exposition strictly enough: every sample line is
/// `name{labels} value` with a valid name, quoted label values and a float, and its
/// family was declared by a `# TYPE` line. Returns `name{labels}` → value.
fn parse_exposition(text: &str) -> HashMap<String, f64> {
    let valid_name = |n: &str| {
        !n.is_empty()
            && n.chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
            && n.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
    };
    let mut typed = std::collections::HashSet::new();
    let mut samples = HashMap::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let mut it = rest.split_whitespace();
            let name = it.next().unwrap();
            let kind = it.next().unwrap();
            assert!(valid_name(name), "{line}");
            assert!(
                ["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind),
                "{line}"
            );
            typed.insert(name.to_owned());
            continue;
        }
        if line.starts_with("# HELP ") || line.is_empty() {
            continue;
        }
        assert!(!line.starts_with('#'), "unknown comment: {line}");
        let (series, value) = line.rsplit_once(' ').expect("name value");
        let name = series.split('{').next().unwrap();
        assert!(valid_name(name), "bad name: {line}");
        // a histogram's samples are its name's _bucket, _sum and _count
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| name.strip_suffix(s).filter(|f| typed.contains(*f)))
            .unwrap_or(name);
        assert!(typed.contains(family), "no # TYPE for {name}");
        if let Some(labels) = series.strip_prefix(name).filter(|l| !l.is_empty()) {
            let inner = labels
                .strip_prefix('{')
                .and_then(|l| l.strip_suffix('}'))
                .unwrap_or_else(|| panic!("bad labels: {line}"));
            for pair in inner.split("\",").filter(|p| !p.is_empty()) {
                let (k, v) = pair
                    .split_once('=')
                    .unwrap_or_else(|| panic!("bad label: {line}"));
                assert!(valid_name(k), "bad label name: {line}");
                assert!(v.starts_with('"'), "unquoted label value: {line}");
            }
        }
        let v: f64 = match value {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            "NaN" => f64::NAN,
            v => {
                assert!(
                    v.chars().all(|c| c.is_ascii_digit() || "+-.eE".contains(c)),
                    "bad value: {line}"
                );
                v.parse().unwrap_or_else(|_| panic!("bad value: {line}"))
            }
        };
        samples.insert(series.to_owned(), v);
    }
    samples
}

async fn scrape(addr: SocketAddr) -> HashMap<String, f64> {
    let (status, body) = get(addr, "/metrics").await;
    assert_eq!(status, 200, "{body}");
    parse_exposition(&body)
}

fn value(m: &HashMap<String, f64>, series: &str) -> f64 {
    m.get(series).copied().unwrap_or(0.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_move_with_a_sipp_call_and_parse_as_prometheus_text() {
    if !sipp_ready() {
        return;
    }
    let logs = captured_logs();
    let base = rtp_base();
    let (premise, dir) = premise("metrics", base).await;
    let http = premise.http_addr().expect("HTTP on by default");
    assert!(premise.banner().contains(&format!("http://{http}/metrics")));
    assert_eq!(get(http, "/healthz").await.0, 200);
    let (status, body) = get(http, "/readyz").await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"ready\""), "{body}");

    let before = scrape(http).await;
    assert_eq!(value(&before, "callcore_calls_offered_total"), 0.0);
    assert_eq!(value(&before, "callcore_sip_up"), 1.0);
    assert!(
        before.keys().any(|k| k.starts_with("callcore_agents{")),
        "agents by state from callcore-analytics: {before:?}"
    );

    let call = caller(premise.sip_addr(), "ops_caller.xml")
        .spawn()
        .unwrap();
    finished(call, "caller").await;
    // the center has seen the BYE; give the figures a moment to settle
    let mut after = scrape(http).await;
    for _ in 0..50 {
        if value(&after, "callcore_calls_active") == 0.0
            && value(&after, "callcore_journal_lag_events") == 0.0
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        after = scrape(http).await;
    }
    assert_eq!(value(&after, "callcore_calls_offered_total"), 1.0);
    assert_eq!(
        value(
            &after,
            "callcore_calls_ended_total{reason=\"customer_hangup\"}"
        ),
        1.0,
        "{after:?}"
    );
    assert_eq!(value(&after, "callcore_calls_active"), 0.0);
    let invites = "callcore_sip_requests_received_total{method=\"INVITE\"}";
    assert_eq!(value(&after, invites) - value(&before, invites), 1.0);
    let byes = "callcore_sip_requests_received_total{method=\"BYE\"}";
    assert!(value(&after, byes) >= 1.0);
    let ok = "callcore_sip_responses_sent_total{class=\"2xx\"}";
    assert!(
        value(&after, ok) >= value(&before, ok) + 2.0,
        "200 to INVITE and BYE"
    );
    // the IVR's greeting went to the caller as RTP
    assert!(
        value(&after, "callcore_rtp_packets_sent_total") > 20.0,
        "{after:?}"
    );
    let emitted = value(&after, "callcore_events_emitted_total");
    assert!(emitted > value(&before, "callcore_events_emitted_total"));
    assert_eq!(value(&after, "callcore_events_journaled_total"), emitted);
    assert_eq!(value(&after, "callcore_journal_lag_events"), 0.0);
    assert_eq!(value(&after, "callcore_draining"), 0.0);
    premise.shutdown().await;

    let logs = String::from_utf8(logs.lock().unwrap().clone()).unwrap();
    let lines: Vec<&str> = logs.lines().collect();
    assert!(lines.len() > 10, "debug logs were captured: {logs}");
    for line in &lines {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert!(
            v.get("level").is_some() && v.get("fields").is_some(),
            "{line}"
        );
    }
    assert!(
        !logs.contains("4930555012"),
        "the caller's number is in the logs: {}",
        lines
            .iter()
            .filter(|l| l.contains("4930555012"))
            .copied()
            .collect::<Vec<_>>()
            .join("\n")
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drain_refuses_new_calls_and_ends_live_ones_at_the_deadline() {
    if !sipp_ready() {
        return;
    }
    let base = rtp_base() + 20;
    let (premise, dir) = premise("drain", base).await;
    let premise = Arc::new(premise);
    let http = premise.http_addr().unwrap();
    let sip = premise.sip_addr();

    // a caller who stays on the line
    let stays = caller(sip, "ops_stays.xml").spawn().unwrap();
    let mut live = 0;
    for _ in 0..100 {
        live = premise.ops().calls().active;
        if live == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(live, 1, "the call is in progress");
    tokio::time::sleep(Duration::from_millis(500)).await;

    let deadline = Duration::from_secs(u64::from(premise.config().drain_secs));
    let draining = {
        let p = premise.clone();
        tokio::spawn(async move { p.drain(deadline).await })
    };
    for _ in 0..50 {
        if premise.ops().is_draining() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (status, body) = get(http, "/readyz").await;
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("\"reason\":\"draining\""), "{body}");
    assert_eq!(get(http, "/healthz").await.0, 200, "alive while draining");

    // a new caller is turned away with 503 and Retry-After (the scenario checks both)
    let refused = caller(sip, "ops_refused.xml").spawn().unwrap();
    finished(refused, "refused caller").await;
    assert_eq!(
        premise.ops().calls().offered,
        1,
        "no interaction for the refused call"
    );

    let report = tokio::time::timeout(deadline + Duration::from_secs(15), draining)
        .await
        .expect("the drain finished")
        .unwrap();
    assert_eq!(report.calls_at_start, 1, "{report}");
    assert_eq!(report.hung_up_at_deadline, 1, "{report}");
    assert_eq!(report.left_over, 0, "{report}");
    assert!(report.took >= deadline, "{report}");
    // the caller who stayed got the center's BYE (the scenario waits for it)
    finished(stays, "caller who stayed").await;

    let records = premise.records().await.unwrap();
    assert_eq!(records.len(), 1, "{records:?}");
    assert!(records[0].ended_at.is_some(), "{records:?}");
    let m = scrape(http).await;
    assert_eq!(value(&m, "callcore_draining"), 1.0);
    assert!(value(&m, "callcore_sip_responses_sent_total{class=\"5xx\"}") >= 1.0);
    assert_eq!(value(&m, "callcore_calls_active"), 0.0);

    let premise = Arc::try_unwrap(premise).expect("the drain task is done");
    tokio::time::timeout(Duration::from_secs(10), premise.shutdown())
        .await
        .expect("shutdown finished");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routes_mounted_later_are_served_beside_the_operations_ones() {
    let base = rtp_base() + 40;
    let (premise, dir) = premise("mount", base).await;
    let http = premise.http_addr().unwrap();
    assert_eq!(get(http, "/api/hello").await.0, 404);
    premise
        .mount_http(axum::Router::new().route("/api/hello", axum::routing::get(|| async { "hi" })))
        .unwrap();
    premise
        .mount_http(axum::Router::new().route("/api/bye", axum::routing::get(|| async { "bye" })))
        .unwrap();
    assert_eq!(get(http, "/api/hello").await, (200, "hi".to_owned()));
    assert_eq!(get(http, "/api/bye").await, (200, "bye".to_owned()));
    assert_eq!(
        get(http, "/healthz").await.0,
        200,
        "the operations routes stay"
    );
    premise.shutdown().await;
    assert!(
        tokio::net::TcpStream::connect(http).await.is_err(),
        "the listener closed with the center"
    );

    // `http.enabled = false`: no listener, and mounting says so
    let toml = format!(
        "[sip]\nbind = \"127.0.0.1:0\"\n[http]\nenabled = false\n[media]\nrtp_first = {base}\nrtp_last = {}\n\
         [storage]\ndata_dir = \"{}\"\n",
        base + 9,
        dir.display()
    );
    let premise = Premise::start(
        PremiseConfig::from_toml(&callcore_premise::with_demo_agents(&toml)).unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(premise.http_addr(), None);
    assert!(!premise.banner().contains("/metrics"));
    assert!(premise.mount_http(axum::Router::new()).is_err());
    premise.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// The script's agents' phone (SIPp UAS answering every INVITE, echoing RTP).
fn agent_phone(port: u16) -> Command {
    let harness = format!(
        "{}/../scripts/premise-load/agents.xml",
        env!("CARGO_MANIFEST_DIR")
    );
    let mut cmd = Command::new("sipp");
    cmd.args(["-sf", &harness])
        .args(["-i", "127.0.0.1", "-p", &port.to_string()])
        .args([
            "-mi",
            "127.0.0.1",
            "-mp",
            &free_port().to_string(),
            "-rtp_echo",
        ])
        .args(["-ci", "127.0.0.1", "-cp", &free_port().to_string()])
        .args(["-m", "1", "-nostdin", "-timeout", "90s", "-timeout_error"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    cmd
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drain_ends_a_call_with_an_agent_on_both_sides_and_keeps_its_record() {
    if !sipp_ready() {
        return;
    }
    let base = rtp_base() + 40 + 10;
    let dir = std::env::temp_dir().join(format!("callcore-ops-bridged-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let phone_port = free_port();
    let toml = format!(
        "drain_secs = 2\n[sip]\nbind = \"127.0.0.1:0\"\n[media]\nrtp_first = {base}\nrtp_last = {}\n\
         [storage]\ndata_dir = \"{}\"\nrecord_calls = false\n\
         [ivr]\ngreeting = \"Hello.\"\n\
         [[agents]]\nid = \"2001\"\ncontact = \"sip:2001@127.0.0.1:{phone_port}\"\nskills = [\"support\"]\n",
        base + 9,
        dir.display()
    );
    let premise = Arc::new(
        Premise::start(
            PremiseConfig::from_toml(&callcore_premise::with_demo_agents(&toml)).unwrap(),
        )
        .await
        .unwrap(),
    );
    let phone = agent_phone(phone_port).spawn().unwrap();
    // nothing pressed: the menu sends the caller to the support queue, agent 2001
    let stays = caller(premise.sip_addr(), "ops_stays.xml").spawn().unwrap();
    let mut answered = 0;
    for _ in 0..600 {
        answered = premise.ops().calls().answered.values().sum::<u64>();
        if answered == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(answered, 1, "the caller reached the agent");
    tokio::time::sleep(Duration::from_millis(500)).await;

    let report = premise.drain(Duration::from_secs(2)).await;
    assert_eq!(report.hung_up_at_deadline, 1, "{report}");
    assert_eq!(report.left_over, 0, "{report}");
    // both the caller and the agent's phone got the center's BYE
    finished(stays, "caller").await;
    finished(phone, "agent's phone").await;
    let records = premise.records().await.unwrap();
    assert_eq!(records.len(), 1, "{records:?}");
    let r = &records[0];
    assert_eq!(r.agent.as_ref().map(|a| a.as_str()), Some("2001"), "{r:?}");
    assert!(r.answered_at.is_some() && r.ended_at.is_some(), "{r:?}");

    let premise = Arc::try_unwrap(premise).expect("one owner");
    premise.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}
