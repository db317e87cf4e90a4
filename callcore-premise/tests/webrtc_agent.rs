//! A browser agent (`[[agents]] contact = "webrtc"`) against real peers: headless
//! Chromium (driven by `playwright-core`, `tests/webrtc/phone_driver.js`) opens the
//! premise's `/phone.html`, logs in as agent 3001 and answers by itself with a fake
//! microphone playing a 440 Hz tone; a SIPp caller (the load harness's `caller.xml`
//! playing Debian's `g711a.pcap` speech and the `dtmf_2833_2.pcap` digit) calls the
//! IVR, picks the support queue and is offered to the browser over WebRTC
//! (webrtc-rs, DTLS-SRTP, PCMU), bridged by callcore-media to the caller (PCMA).
//! Asserted: audio both ways — the page measures the caller's speech (AnalyserNode)
//! and the browser's tone is on the agent's side of the stereo recording — and the
//! hang-up from either side ends both legs with the record stored, its talk time
//! the conversation's. The talk phase counts from the connection, however long the
//! browser takes to answer (seconds on a loaded machine): the browser hangs up 5 s
//! after its connection is up, or the caller 8 s after the test's cue, sent when
//! the center connected the call (`cued_caller_scenario`).
//!
//! Chromium connects ICE over loopback only inside a private network namespace with
//! just `lo` (see `../shared/peers/README.md`): the test re-runs itself under
//! `unshare -n`. Needs root, `sipp` (package `sip-tester`), `python3`, `chromium`,
//! `node`, and `playwright-core` in `.cache/node` (`npm install --prefix .cache/node
//! playwright-core`): skipped with a notice otherwise, failing instead when
//! `CALLCORE_REQUIRE_PEERS=1`.

#![allow(clippy::unwrap_used, clippy::expect_used)]
// Real peers and sockets run in wall-clock time: the test waits for them.
#![allow(clippy::disallowed_methods)]

#[path = "browser_support/mod.rs"]
mod browser;

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use browser::{
    CUED_CALL_ID, DIGIT, SPEECH, caller_scenario, channel_levels, cue_caller, cued_caller_scenario,
    free_port, harness, in_private_network, playwright, tone_wav,
};
use callcore::{AgentId, EventKind};
use callcore_premise::{Premise, PremiseConfig};
use callcore_runtime::BusError;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

/// How long the caller talks after the center connected it to the browser.
const TALK_MS: u32 = 8000;

fn peers_ready() -> bool {
    browser::peers_ready("the browser agent test")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_browser_agent_talks_with_a_sip_caller_who_hangs_up() {
    if !peers_ready()
        || !in_private_network("a_browser_agent_talks_with_a_sip_caller_who_hangs_up").await
    {
        return;
    }
    browser_call(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_browser_agent_hangs_up_on_a_sip_caller() {
    if !peers_ready() || !in_private_network("a_browser_agent_hangs_up_on_a_sip_caller").await {
        return;
    }
    browser_call(true).await;
}

/// With the `webrtc-opus` feature the browser legs talk Opus (asserted in
/// [`browser_call`] from the page's `getStats()`), transcoded to the center's
/// PCMU: the caller still hears the browser and the browser the caller.
#[cfg(feature = "webrtc-opus")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_browser_agent_talks_opus_with_a_sip_caller() {
    if !peers_ready() || !in_private_network("a_browser_agent_talks_opus_with_a_sip_caller").await {
        return;
    }
    browser_call(false).await;
}

/// One call through the IVR to browser agent 3001; the caller hangs up after its
/// talk, or (`agent_hangs_up`) the browser does, 5 s into the conversation.
async fn browser_call(agent_hangs_up: bool) {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    let dir = std::env::temp_dir().join(format!(
        "callcore-premise-webrtc-{}-{}",
        if agent_hangs_up { "agent" } else { "caller" },
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let base = 24_000 + (std::process::id() % 20) as u16 * 20 + if agent_hangs_up { 10 } else { 0 };
    let toml = format!(
        "[sip]\nbind = \"127.0.0.1:0\"\n\
         [media]\nrtp_first = {base}\nrtp_last = {}\n\
         [storage]\ndata_dir = \"{}\"\n\
         [[agents]]\nid = \"3001\"\nname = \"Browser\"\npassword = \"carol3001\"\n\
         contact = \"webrtc\"\nskills = [\"support\"]\n",
        base + 9,
        dir.display()
    );
    let config = PremiseConfig::from_toml(&callcore_premise::with_demo_agents(&toml)).unwrap();
    let premise = Premise::start(config).await.unwrap();
    let http = premise.http_addr().expect("the HTTP listener");
    assert!(
        premise.banner().contains("in a browser at http://"),
        "{}",
        premise.banner()
    );
    let agent = AgentId::new("3001");
    let reachable = |premise: &Premise| {
        let center = premise.center().clone();
        let agent = agent.clone();
        async move {
            center
                .snapshot()
                .await
                .unwrap()
                .agents
                .iter()
                .any(|a| a.agent == agent && a.reachable)
        }
    };
    assert!(!reachable(&premise).await, "no browser yet: not reachable");

    // the browser phone, answering by itself with a tone as its microphone
    let wav = dir.join("tone.wav");
    tone_wav(&wav, 10, 440.0);
    let url = format!("http://{http}/phone.html#agent=3001&password=carol3001&auto=1");
    let driver = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/webrtc/phone_driver.js");
    let mut browser = Command::new("node")
        .arg(&driver)
        .arg(&url)
        .arg(&wav)
        .arg(dir.join("profile"))
        .arg(if agent_hangs_up { "5000" } else { "0" })
        .env("NODE_PATH", playwright())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("node runs the phone driver");
    let mut lines = BufReader::new(browser.stdout.take().unwrap()).lines();
    let mut next_event = async || -> serde_json::Value {
        let line = tokio::time::timeout(Duration::from_secs(90), lines.next_line())
            .await
            .expect("the browser reports in time")
            .unwrap()
            .expect("the browser reports");
        eprintln!("browser: {line}");
        serde_json::from_str(&line).unwrap()
    };
    assert_eq!(next_event().await["event"], "online", "the page logged in");
    let mut online = false;
    for _ in 0..50 {
        if reachable(&premise).await {
            online = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(online, "reachable once the browser is connected");

    // the caller: IVR, digit 2 (support), then talk — speech for as long as the
    // browser may take to answer and the talk phase after it (the pcap's timeline
    // runs from the IVR's answer, whenever the agent's comes)
    let pcap = dir.join("caller.pcap");
    let made = std::process::Command::new("python3")
        .arg(harness("caller_pcap.py"))
        .arg(&pcap)
        .args(["--speech", SPEECH, "--digit", DIGIT])
        .args(["--ivr-ms", "12500", "--talk-secs", "60"])
        .output()
        .expect("python3 runs caller_pcap.py");
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    // the caller hangs up TALK_MS after the test's cue, sent once the center
    // connected the call; or it waits for the browser's hang-up
    let caller_xml = dir.join("caller.xml");
    let scenario = if agent_hangs_up {
        caller_scenario(&pcap, 0, true)
    } else {
        cued_caller_scenario(&pcap, TALK_MS)
    };
    std::fs::write(&caller_xml, scenario).unwrap();
    let mut events = premise.center().subscribe();
    let caller_port = free_port();
    let mut uac = Command::new("sipp");
    uac.arg(premise.sip_addr().to_string())
        .arg("-sf")
        .arg(&caller_xml)
        .args(["-s", "ivr", "-m", "1", "-cid_str", CUED_CALL_ID])
        .args(["-i", "127.0.0.1", "-p", &caller_port.to_string()])
        .args(["-mi", "127.0.0.1", "-mp", &free_port().to_string()])
        .args(["-ci", "127.0.0.1", "-cp", &free_port().to_string()])
        .args(["-nostdin", "-timeout", "80s", "-timeout_error"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let caller = tokio::spawn(uac.output());

    assert_eq!(
        next_event().await["event"],
        "answered",
        "the browser answered"
    );
    // the conversation begins where the center connects the call to the agent
    let connected = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            match events.recv().await {
                Ok(e) if matches!(e.kind, EventKind::Connected { .. }) => return e.at,
                Ok(_) | Err(BusError::Lagged(_)) => {}
                Err(e) => panic!("event stream ended: {e}"),
            }
        }
    })
    .await
    .expect("the center connected the call");
    eprintln!("connected at {}", connected.as_millis());
    if !agent_hangs_up {
        cue_caller(caller_port);
    }
    let level = next_event().await;
    assert_eq!(level["event"], "level");
    let heard = level["max"].as_f64().unwrap();
    // the codec the browser negotiated (getStats() mimeType), both ways
    let codec = if cfg!(feature = "webrtc-opus") {
        "audio/opus"
    } else {
        "audio/PCMU"
    };
    for way in ["codec", "sentCodec"] {
        assert_eq!(
            level[way].as_str().map(str::to_ascii_lowercase),
            Some(codec.to_ascii_lowercase()),
            "{way}: {level}"
        );
    }
    let ended = next_event().await;
    assert_eq!(ended["event"], "ended");
    assert_eq!(
        ended["by"],
        if agent_hangs_up { "local" } else { "remote" },
        "who ended the call, as the page saw it"
    );
    let caller = tokio::time::timeout(Duration::from_secs(60), caller)
        .await
        .expect("the caller finished")
        .unwrap()
        .unwrap();
    assert!(
        caller.status.success(),
        "caller: {:?} {}",
        caller.status,
        String::from_utf8_lossy(&caller.stderr)
    );
    let browser = tokio::time::timeout(Duration::from_secs(30), browser.wait())
        .await
        .expect("the browser closed")
        .unwrap();
    assert!(browser.success(), "phone driver: {browser:?}");

    let mut records = Vec::new();
    for _ in 0..50 {
        records = premise.records().await.unwrap();
        if records.iter().any(|r| r.ended_at.is_some()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(records.len(), 1, "{records:?}");
    let record = &records[0];
    assert_eq!(record.agent, Some(agent.clone()), "{record:?}");
    assert_eq!(record.queue.as_ref().map(|q| q.as_str()), Some("support"));
    // the talk phase after the connection: the caller's TALK_MS from its cue (sent
    // after the connection), or the browser's 5 s from its connection (less the
    // moment the center takes to see it)
    let talk = if agent_hangs_up {
        4000
    } else {
        u64::from(TALK_MS)
    };
    assert!(record.talk_ms >= talk, "{record:?}");
    let recordings = premise.recordings(&records).await.unwrap();
    assert_eq!(recordings.len(), 1, "{recordings:?}");
    let (caller_level, agent_level) = channel_levels(&std::fs::read(&recordings[0].path).unwrap());
    eprintln!("recording levels: caller {caller_level}, browser {agent_level}; page heard {heard}");
    // the caller's speech on the left; the browser's tone on the right
    assert!(caller_level > 100.0, "caller side silent: {caller_level}");
    assert!(agent_level > 300.0, "browser side silent: {agent_level}");
    // the caller's speech reached the browser: RMS of a PCMU speech clip, far above silence
    assert!(heard > 0.01, "the page heard the caller at RMS {heard}");
    // the browser closed: the agent is no longer reachable
    let mut offline = false;
    for _ in 0..50 {
        if !reachable(&premise).await {
            offline = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(offline, "unreachable once the browser closed");
    premise.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// CPU time of this process (the premise) so far.
fn process_cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    // after the command's closing parenthesis: fields 3.. ; utime and stime are 14 and 15
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<u64> = rest
        .split_whitespace()
        .map(|f| f.parse().unwrap_or(0))
        .collect();
    Duration::from_millis((fields[11] + fields[12]) * 10) // 100 ticks a second
}

/// The premise's CPU over `window`, as a share of one core.
async fn cpu_share(window: Duration) -> f64 {
    let before = process_cpu();
    tokio::time::sleep(window).await;
    (process_cpu() - before).as_secs_f64() / window.as_secs_f64()
}

/// Load figures (docs/webrtc.md): N concurrent callers talking to N agents, once
/// with SIP agents (a SIPp UAS echoing RTP) and once with browser agents (N pages
/// of one headless Chromium), the premise's CPU measured over the same window of
/// the conversations, minus the idle premise's. N from `CALLCORE_WEBRTC_CALLS`
/// (default 5).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "load figures: run by hand (docs/webrtc.md)"]
async fn browser_agents_load() {
    if !peers_ready() || !in_private_network("browser_agents_load").await {
        return;
    }
    let calls: usize = std::env::var("CALLCORE_WEBRTC_CALLS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(5);
    let sip = load_phase(calls, false).await;
    let browser = load_phase(calls, true).await;
    // per call actually talking in the window
    let per = |(idle, busy, on): (f64, f64, usize)| (busy - idle) / on.max(1) as f64 * 100.0;
    println!(
        "LOAD {calls} calls: SIP agents {:.2}% of a core per call, browser agents {:.2}% \
         per call ({:.1}x); premise idle {:.2}% / {:.2}%",
        per(sip),
        per(browser),
        per(browser) / per(sip).max(0.01),
        sip.0 * 100.0,
        browser.0 * 100.0
    );
    assert_eq!(
        browser.2, calls,
        "every browser agent was on a call in the window"
    );
}

/// One phase of [`browser_agents_load`]: the premise's idle and busy CPU shares,
/// and how many agents were on calls while it was busy.
async fn load_phase(calls: usize, browsers: bool) -> (f64, f64, usize) {
    let name = if browsers { "browser" } else { "sip" };
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    let dir = std::env::temp_dir().join(format!(
        "callcore-webrtc-load-{name}-{}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let uas_port = free_port();
    let mut toml = format!(
        "[sip]\nbind = \"127.0.0.1:0\"\n[media]\nrtp_first = 24100\nrtp_last = {}\n\
         [storage]\ndata_dir = \"{}\"\nrecord_calls = false\n",
        24_100 + 4 * calls + 20,
        dir.display()
    );
    for i in 0..calls {
        let contact = if browsers {
            "webrtc".to_owned()
        } else {
            format!("sip:s{i}@127.0.0.1:{uas_port}")
        };
        toml.push_str(&format!(
            "[[agents]]\nid = \"w{i}\"\npassword = \"secret{i}x\"\ncontact = \"{contact}\"\n\
             skills = [\"support\"]\n"
        ));
    }
    let config = PremiseConfig::from_toml(&callcore_premise::with_demo_agents(&toml)).unwrap();
    let premise = Premise::start(config).await.unwrap();
    let http = premise.http_addr().expect("the HTTP listener");
    let mut agents = if browsers {
        let wav = dir.join("tone.wav");
        tone_wav(&wav, 10, 440.0);
        let url = format!("http://{http}/phone.html#agent=w{{i}}&password=secret{{i}}x&auto=1");
        Command::new("node")
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/webrtc/phone_driver.js"))
            .arg(&url)
            .arg(&wav)
            .arg(dir.join("profile"))
            .arg("0")
            .arg(calls.to_string())
            .env("NODE_PATH", playwright())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("node runs the phone driver")
    } else {
        Command::new("sipp")
            .arg("-sf")
            .arg(harness("agents.xml"))
            .args(["-i", "127.0.0.1", "-p", &uas_port.to_string()])
            .args([
                "-mi",
                "127.0.0.1",
                "-mp",
                &free_port().to_string(),
                "-rtp_echo",
            ])
            .args(["-ci", "127.0.0.1", "-cp", &free_port().to_string()])
            .args(["-m", &calls.to_string(), "-nostdin", "-timeout", "120s"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("sipp UAS")
    };
    // every agent reachable (the browsers logged in)
    let mut reachable = 0;
    for _ in 0..600 {
        let snap = premise.center().snapshot().await.unwrap();
        reachable = snap
            .agents
            .iter()
            .filter(|a| a.reachable && a.agent.as_str().starts_with('w'))
            .count();
        if reachable == calls {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    println!("{name}: {reachable}/{calls} agents reachable");
    // the browsers' answers, counted as they come
    let answered = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    if let Some(out) = agents.stdout.take() {
        let answered = answered.clone();
        tokio::spawn(async move {
            let mut lines = BufReader::new(out).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                if line.contains("\"answered\"") {
                    answered.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
            }
        });
    }
    let idle = cpu_share(Duration::from_secs(4)).await;
    let pcap = dir.join("caller.pcap");
    let made = std::process::Command::new("python3")
        .arg(harness("caller_pcap.py"))
        .arg(&pcap)
        .args(["--speech", SPEECH, "--digit", DIGIT])
        .args(["--ivr-ms", "12500", "--talk-secs", "20"])
        .output()
        .unwrap();
    assert!(made.status.success());
    let caller_xml = dir.join("caller.xml");
    std::fs::write(&caller_xml, caller_scenario(&pcap, 20_000, false)).unwrap();
    let mut uac = Command::new("sipp");
    uac.arg(premise.sip_addr().to_string())
        .arg("-sf")
        .arg(&caller_xml)
        .args([
            "-s",
            "ivr",
            "-m",
            &calls.to_string(),
            "-l",
            &calls.to_string(),
        ])
        .args(["-r", &calls.to_string(), "-rp", "1000"])
        .args(["-i", "127.0.0.1", "-p", &free_port().to_string()])
        .args(["-mi", "127.0.0.1", "-mp", &free_port().to_string()])
        .args(["-ci", "127.0.0.1", "-cp", &free_port().to_string()])
        .args(["-nostdin", "-timeout", "120s"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true);
    let caller = tokio::spawn(uac.output());
    // the conversations: after the IVR (12.5 s), the digit and the offers
    tokio::time::sleep(Duration::from_secs(19)).await;
    let talking = premise.center().snapshot().await.unwrap();
    let busy = cpu_share(Duration::from_secs(8)).await;
    let on_calls = talking
        .agents
        .iter()
        .filter(|a| a.agent.as_str().starts_with('w') && a.state != callcore::AgentState::Available)
        .count();
    println!(
        "{name}: {on_calls}/{calls} agents on calls ({} pages answered); premise CPU idle \
         {:.1}%, talking {:.1}%",
        answered.load(std::sync::atomic::Ordering::Relaxed),
        idle * 100.0,
        busy * 100.0
    );
    let _ = tokio::time::timeout(Duration::from_secs(60), caller).await;
    if browsers {
        let _ = tokio::time::timeout(Duration::from_secs(20), agents.wait()).await;
    }
    let _ = agents.kill().await;
    premise.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
    (idle, busy, on_calls)
}
