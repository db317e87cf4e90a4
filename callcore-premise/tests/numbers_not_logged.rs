//! Phone numbers never reach a log line, on any path of the premise center.
//!
//! Every log line of this test process is captured at TRACE for the callcore
//! crates, formatted twice — as text and as JSON, the two `--log-format`s of the
//! `premise` example — while the running premise handles, from SIPp callers and
//! carriers with distinctive numbers:
//! - a caller through the IVR to a queue and an agent, then blind-transferred to
//!   an outside number through a trunk;
//! - a caller nobody answers, sent to voicemail after the queue's maximum wait;
//! - a caller on a DID who presses the callback key (`[callbacks] allow`);
//! - a power campaign dialling two leads through the carrier trunk;
//! - REGISTERs with a wrong password for an address that is a number;
//! - malformed INVITEs whose From, To and Request-URI carry numbers.
//!
//! Asserted: no number, nor any run of 6 of its subscriber digits, appears in
//! a log line (timestamps aside).
//!
//! Skipped with a notice without sipp, unless `CALLCORE_REQUIRE_PEERS=1`.

#![allow(clippy::unwrap_used, clippy::expect_used)]
// Real peers run in wall-clock time.
#![allow(clippy::disallowed_methods)]

#[path = "call_support/mod.rs"]
mod support;

use std::net::{SocketAddr, UdpSocket};
use std::process::Stdio;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use callcore::{AgentId, Destination, EventKind};
use callcore_premise::{Premise, PremiseConfig};
use callcore_runtime::CallTarget;
use support::{Desk, RtpPhone, data_dir, rtp_block, sip_port, tones, wait_for};
use tokio::process::{Child, Command};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// Through the IVR to the agent, then transferred.
const CALLER: &str = "+4930123456789";
/// Sent to voicemail.
const VOICEMAIL_CALLER: &str = "+4930871236459";
/// Asks for a callback.
const CALLBACK_CALLER: &str = "+4930762514938";
/// The blind transfer's outside number.
const TRANSFER_TO: &str = "+4930658143927";
/// The campaign's leads.
const LEADS: [&str; 2] = ["+4930547392816", "+4930436281705"];
/// A REGISTER's address of record.
const REGISTRANT: &str = "+4930325170694";
/// From and To of the malformed INVITEs.
const MALFORMED: [&str; 2] = ["+4930214069583", "+4930193958472"];
/// The DID of the callback queue (the center's own number).
const DID: &str = "+4930982847361";

fn all_numbers() -> Vec<&'static str> {
    let mut n = vec![CALLER, VOICEMAIL_CALLER, CALLBACK_CALLER, TRANSFER_TO];
    n.extend(LEADS);
    n.push(REGISTRANT);
    n.extend(MALFORMED);
    n.push(DID);
    n
}

struct Sink(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// What one log format wrote.
type Logs = Arc<Mutex<Vec<u8>>>;

/// Every log line of the process: (text, JSON), TRACE for callcore crates.
fn captured() -> (Logs, Logs) {
    static LOGS: OnceLock<(Logs, Logs)> = OnceLock::new();
    LOGS.get_or_init(|| {
        let text = Arc::new(Mutex::new(Vec::new()));
        let json = Arc::new(Mutex::new(Vec::new()));
        let (t, j) = (text.clone(), json.clone());
        let filter = tracing_subscriber::EnvFilter::new("debug,callcore=trace");
        let _ = tracing_subscriber::registry()
            .with(filter)
            .with(
                tracing_subscriber::fmt::layer()
                    .with_ansi(false)
                    .with_writer(move || Sink(t.clone())),
            )
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .with_current_span(true)
                    .with_span_list(true)
                    .with_writer(move || Sink(j.clone())),
            )
            .try_init();
        (text, json)
    })
    .clone()
}

fn scenario(name: &str) -> String {
    format!("{}/tests/sipp/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// A SIPp caller from `number` dialling `service`, its audio `phone`.
fn call_from(center: SocketAddr, number: &str, service: &str, phone: &RtpPhone) -> Child {
    Command::new("sipp")
        .args([
            "-sf",
            &scenario("number_call.xml"),
            "-s",
            service,
            "-m",
            "1",
        ])
        .arg(center.to_string())
        .args(["-i", "127.0.0.1", "-p", &sip_port().to_string()])
        .args(["-mi", "127.0.0.1", "-mp", &rtp_block(4).to_string()])
        .args(["-key", "rtp_port", &phone.port().to_string()])
        .args(["-key", "from_number", number])
        .args(["-nostdin", "-timeout", "120s"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("sipp starts")
}

/// A carrier whose callees answer, talk and hang up after 8 s.
fn carrier(port: u16, dir: &std::path::Path) -> Child {
    // line noise as the callees' voice
    let noise: Vec<u8> = (0..16_000u32)
        .map(|i| 0xF0 | (i * 7919 % 13) as u8)
        .collect();
    std::fs::write(dir.join("customer.ul"), noise).unwrap();
    Command::new("sipp")
        .args(["-sf", &scenario("carrier_speech.xml")])
        .current_dir(dir)
        .args(["-i", "127.0.0.1", "-p", &port.to_string()])
        .args(["-mi", "127.0.0.1", "-mp", &rtp_block(4).to_string()])
        .args(["-nostdin", "-timeout", "120s"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("sipp starts")
}

/// Sends `request` from a fresh socket; the first answer's status line, if any.
fn exchange(socket: &UdpSocket, center: SocketAddr, request: &str) -> Option<String> {
    socket.send_to(request.as_bytes(), center).unwrap();
    let mut buf = [0u8; 4096];
    let (n, _) = socket.recv_from(&mut buf).ok()?;
    Some(String::from_utf8_lossy(&buf[..n]).into_owned())
}

fn udp() -> UdpSocket {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    s
}

/// REGISTERs for `REGISTRANT` (a number), then with a wrong password; and agent
/// 1001 with a wrong password and a number as its contact.
fn wrong_passwords(center: SocketAddr) -> Vec<String> {
    let mut statuses = Vec::new();
    for (user, aor_user) in [(REGISTRANT, REGISTRANT), ("1001", "1001")] {
        let s = udp();
        let me = s.local_addr().unwrap();
        let register = |cseq: u32, auth: &str| {
            format!(
                "REGISTER sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch=z9hG4bKreg{cseq}{aor_user}x\r\n\
                 Max-Forwards: 70\r\nFrom: \"{REGISTRANT}\" <sip:{aor_user}@127.0.0.1>;tag=r{cseq}\r\n\
                 To: <sip:{aor_user}@127.0.0.1>\r\nCall-ID: reg-{aor_user}@127.0.0.1\r\nCSeq: {cseq} REGISTER\r\n\
                 Contact: <sip:{REGISTRANT}@{me}>\r\nExpires: 60\r\n{auth}Content-Length: 0\r\n\r\n"
            )
        };
        let Some(first) = exchange(&s, center, &register(1, "")) else {
            statuses.push("no answer".into());
            continue;
        };
        statuses.push(first.lines().next().unwrap_or_default().to_owned());
        let nonce = first
            .split("nonce=\"")
            .nth(1)
            .and_then(|r| r.split('"').next())
            .unwrap_or("none")
            .to_owned();
        let realm = first
            .split("realm=\"")
            .nth(1)
            .and_then(|r| r.split('"').next())
            .unwrap_or("callcore")
            .to_owned();
        let auth = format!(
            "Authorization: Digest username=\"{user}\", realm=\"{realm}\", nonce=\"{nonce}\", \
             uri=\"sip:127.0.0.1\", response=\"0123456789abcdef0123456789abcdef\", algorithm=MD5\r\n"
        );
        let second = exchange(&s, center, &register(2, &auth)).unwrap_or_default();
        statuses.push(second.lines().next().unwrap_or_default().to_owned());
    }
    statuses
}

/// INVITEs broken in several ways, numbers in the Request-URI, From and To.
fn malformed_invites(center: SocketAddr) -> Vec<String> {
    let [from, to] = MALFORMED;
    let s = udp();
    let me = s.local_addr().unwrap();
    let head = |uri: &str, branch: &str| {
        format!(
            "INVITE {uri} SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch=z9hG4bK{branch}\r\nMax-Forwards: 70\r\n"
        )
    };
    let ok_uri = format!("sip:{to}@127.0.0.1");
    let messages = [
        // a From without its closing bracket
        format!(
            "{}From: \"{from}\" <sip:{from}@127.0.0.1;tag=m1\r\nTo: <sip:{to}@127.0.0.1>\r\n\
             Call-ID: m1-{from}\r\nCSeq: 1 INVITE\r\nContact: <sip:{from}@{me}>\r\nContent-Length: 0\r\n\r\n",
            head(&ok_uri, "m1")
        ),
        // a CSeq that is not a number
        format!(
            "{}From: <sip:{from}@127.0.0.1>;tag=m2\r\nTo: \"{to}\" <sip:{to}@127.0.0.1>\r\n\
             Call-ID: m2-{to}\r\nCSeq: {from} INVITE\r\nContact: <sip:{from}@{me}>\r\nContent-Length: 0\r\n\r\n",
            head(&ok_uri, "m2")
        ),
        // a Request-URI broken after the number
        format!(
            "{}From: <sip:{from}@127.0.0.1>;tag=m3\r\nTo: <sip:{to}@127.0.0.1>\r\n\
             Call-ID: m3\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n",
            head(&format!("sip:{to}@@127.0.0.1:x"), "m3")
        ),
        // a body shorter than its Content-Length, a number in a To parameter
        format!(
            "{}From: <tel:{from}>;tag=m4\r\nTo: <sip:{to}@127.0.0.1;user=phone>;x={to}\r\n\
             Call-ID: m4\r\nCSeq: 1 INVITE\r\nContent-Type: application/sdp\r\nContent-Length: 500\r\n\r\nv=0\r\n",
            head(&format!("tel:{to}"), "m4")
        ),
        // an SDP that is not SDP
        format!(
            "{}From: <sip:{from}@127.0.0.1>;tag=m5\r\nTo: <sip:{to}@127.0.0.1>\r\n\
             Call-ID: m5\r\nCSeq: 1 INVITE\r\nContact: <sip:{from}@{me}>\r\nContent-Type: application/sdp\r\n\
             Content-Length: 16\r\n\r\nv=9\r\nc={from}\r\n",
            head(&ok_uri, "m5")
        ),
        // a header line without a colon
        format!(
            "{}From: <sip:{from}@127.0.0.1>;tag=m6\r\nTo: <sip:{to}@127.0.0.1>\r\n{from}\r\n\
             Call-ID: m6\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n",
            head(&ok_uri, "m6")
        ),
    ];
    messages
        .iter()
        .map(|m| {
            exchange(&s, center, m)
                .map(|r| r.lines().next().unwrap_or_default().to_owned())
                .unwrap_or_else(|| "no answer".into())
        })
        .collect()
}

/// The digit runs of `line` (its leading timestamp dropped) sharing 6 digits
/// with one of `numbers`.
fn leaks(line: &str, numbers: &[&str]) -> Vec<String> {
    // text lines start with the timestamp; JSON lines carry it in "timestamp"
    let body = match line.find("\"timestamp\":\"") {
        Some(at) => {
            let rest = &line[at + 13..];
            let end = rest.find('"').unwrap_or(0);
            format!("{}{}", &line[..at], &rest[end..])
        }
        None => line.split_once(' ').map_or(line, |(_, r)| r).to_owned(),
    };
    let mut found = Vec::new();
    for n in numbers {
        let digits: String = n.chars().filter(char::is_ascii_digit).collect();
        // the subscriber digits after +49 30, which no other number shares
        let own = &digits[4..];
        for w in 0..=own.len() - 6 {
            let window = &own[w..w + 6];
            if body.contains(window) {
                found.push(format!("{n} ({window})"));
                break;
            }
        }
    }
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_phone_number_reaches_a_log_line_on_any_path() {
    if !support::sipp_ready("the numbers-in-logs test") {
        return;
    }
    let (text_logs, json_logs) = captured();
    tracing::info!("capture check");
    let dir = data_dir("numbers-logs");
    let desks = [
        Desk::start("2001", tones::AGENT, 4).await,
        Desk::start("2003", tones::OTHER, 4).await,
    ];
    let carrier_port = sip_port();
    let _carrier = carrier(carrier_port, &dir);
    std::fs::write(
        dir.join("leads.csv"),
        format!("id,phone\nlead-a,{}\nlead-b,{}\n", LEADS[0], LEADS[1]),
    )
    .unwrap();
    let rtp = rtp_block(60);
    let toml = format!(
        r#"[http]
bind = "127.0.0.1:0"
[sip]
bind = "127.0.0.1:{}"
tcp = false
[media]
rtp_first = {rtp}
rtp_last = {}
[storage]
data_dir = "{dir}"
record_calls = true
[ivr]
greeting = "Hello."
menu = [{{ key = "2", label = "support", queue = "support" }}, {{ key = "3", label = "voicemail", queue = "vm" }}]
default_queue = "support"
[analytics]
live_log_secs = 0
[callbacks]
allow = ["+4930*"]
[[queues]]
id = "support"
skill = "support"
[[queues]]
id = "vm"
skill = "nobody"
max_wait_secs = 2
overflow = "voicemail"
[[queues]]
id = "cb"
skill = "nobody"
callback_key = "1"
announce_every_secs = 60
[[queues]]
id = "sales"
skill = "sales"
[[agents]]
id = "2001"
name = "Dana"
contact = "{}"
skills = ["support"]
[[agents]]
id = "2003"
name = "Kim"
contact = "{}"
skills = ["sales"]
[[trunks]]
name = "carrier"
host = "127.0.0.1:{carrier_port}"
options_interval_secs = 0
[[dial_plan]]
pattern = "+*"
trunks = ["carrier"]
[[dids]]
number = "{DID}"
queue = "cb"
[[campaigns]]
name = "renewals"
queue = "sales"
mode = "power"
power_ratio = 2.0
leads = "{dir}/leads.csv"
caller_id = "+14155550000"
trunk = "carrier"
max_attempts = 1
any_hour = true
run_minutes = 1
"#,
        sip_port(),
        rtp + 59,
        desks[0].contact,
        desks[1].contact,
        dir = dir.display()
    );
    let premise = Premise::start(
        PremiseConfig::from_toml(&callcore_premise::with_demo_agents(&toml)).unwrap(),
    )
    .await
    .unwrap();
    let center = premise.center().clone();
    let sip = premise.sip_addr();
    let mut events = center.subscribe();

    // registrations with a wrong password, malformed INVITEs
    let registered = tokio::task::spawn_blocking(move || wrong_passwords(sip))
        .await
        .unwrap();
    eprintln!("REGISTER answers: {registered:?}");
    assert!(
        registered.iter().any(|s| s.contains(" 401 ")),
        "{registered:?}"
    );
    let malformed = tokio::task::spawn_blocking(move || malformed_invites(sip))
        .await
        .unwrap();
    eprintln!("malformed INVITE answers: {malformed:?}");
    assert!(
        malformed.iter().filter(|s| s.contains(" 400 ")).count() >= 3,
        "{malformed:?}"
    );

    // through the IVR (key 2) to agent 2001, then blind-transferred to a number
    let phone = RtpPhone::start(tones::CALLER).await;
    phone.press_after_audio(2);
    let _caller = call_from(sip, CALLER, "ivr", &phone);
    let (id, agent) = wait_for(&mut events, 40, "the caller connected", |k| match k {
        EventKind::Connected {
            interaction, agent, ..
        } if agent.as_str() == "2001" => Some((interaction.clone(), agent.clone())),
        _ => None,
    })
    .await;
    assert_eq!(agent, AgentId::new("2001"));
    tokio::time::sleep(Duration::from_millis(500)).await;
    center
        .transfer(&id, CallTarget::Number(TRANSFER_TO.to_owned()))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let _ = center.hang_up(&id).await;

    // nobody answers: voicemail after the maximum wait (key 3)
    let vm_phone = RtpPhone::start(tones::CALLER).await;
    vm_phone.press_after_audio(3);
    let _vm_caller = call_from(sip, VOICEMAIL_CALLER, "ivr", &vm_phone);
    let vm = wait_for(&mut events, 40, "overflow to voicemail", |k| match k {
        EventKind::Overflowed {
            interaction,
            destination: Destination::Voicemail,
            ..
        } => Some(interaction.clone()),
        _ => None,
    })
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let _ = center.hang_up(&vm).await;

    // a DID caller presses the callback key while waiting
    let cb_phone = RtpPhone::start(tones::CALLER).await;
    cb_phone.press_after_audio(1);
    let _cb_caller = call_from(sip, CALLBACK_CALLER, DID, &cb_phone);
    let cb = wait_for(&mut events, 40, "the callback request", |k| match k {
        EventKind::QueueExited {
            interaction,
            reason,
            ..
        } if reason == "callback" => Some(interaction.clone()),
        _ => None,
    })
    .await;
    // the caller hears the confirmation and is hung up
    wait_for(&mut events, 30, "the callback caller's end", |k| match k {
        EventKind::Ended { interaction, .. } if *interaction == cb => Some(()),
        _ => None,
    })
    .await;

    // the campaign's leads are dialled through the carrier trunk
    let summary = premise
        .wait_campaign("renewals", Duration::from_secs(90))
        .await
        .expect("the campaign ends")
        .unwrap();
    eprintln!("campaign: {summary:?}");
    assert_eq!(summary.counters.dialed, 2, "{summary:?}");

    // every call ends; the center stops
    for r in premise.records().await.unwrap() {
        if r.ended_at.is_none() {
            let _ = center.hang_up(&r.id).await;
        }
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    premise.shutdown().await;

    let numbers = all_numbers();
    let mut found = Vec::new();
    for (format, sink) in [("text", &text_logs), ("json", &json_logs)] {
        let logs = String::from_utf8_lossy(&sink.lock().unwrap()).into_owned();
        let lines: Vec<&str> = logs.lines().collect();
        assert!(
            lines.len() > 30,
            "{format}: TRACE logs were captured ({} lines)",
            lines.len()
        );
        assert!(logs.contains("capture check"), "{format}");
        if let Ok(path) = std::env::var("CALLCORE_LOG_DUMP") {
            std::fs::write(format!("{path}.{format}"), &logs).unwrap();
        }
        if format == "json" {
            for line in &lines {
                let v: serde_json::Value =
                    serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
                assert!(v.get("level").is_some(), "{line}");
            }
        }
        for line in &lines {
            let hits = leaks(line, &numbers);
            if !hits.is_empty() {
                found.push(format!("[{format}] {hits:?}: {line}"));
            }
        }
    }
    assert!(
        found.is_empty(),
        "{} log lines carry numbers:\n{}",
        found.len(),
        found.join("\n")
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_leak_finder_finds_numbers_and_their_pieces_but_not_timestamps() {
    let n = all_numbers();
    let masked = callcore::Masked(CALLER).to_string();
    assert!(
        leaks(
            &format!("2026-01-01T00:00:00.123456Z  WARN x: to={masked}"),
            &n
        )
        .is_empty()
    );
    // a timestamp's fraction that happens to spell 6 of a number's digits
    assert!(leaks("2026-01-01T00:00:00.123456Z  INFO x: ok", &n).is_empty());
    assert!(
        leaks(
            r#"{"timestamp":"2026-01-01T00:00:00.123456Z","level":"INFO"}"#,
            &n
        )
        .is_empty()
    );
    for line in [
        format!("2026-01-01T00:00:00Z DEBUG x: from={CALLER}"),
        "2026-01-01T00:00:00Z DEBUG x: uri=sip:0123456789@h".to_owned(),
        format!(
            r#"{{"timestamp":"t","fields":{{"error":"no route for {}"}}}}"#,
            LEADS[1]
        ),
        "2026-01-01T00:00:00Z DEBUG x: tail 281705".to_owned(),
    ] {
        assert!(!leaks(&line, &n).is_empty(), "{line}");
    }
}
