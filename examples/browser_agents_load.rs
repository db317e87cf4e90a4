//! Concurrent browser agents per node: the premise's CPU per concurrent call
//! with N browser agents (WebRTC legs bridged to SIP callers) against N SIP
//! agents, measured in the same run.
//!
//! ```text
//! cargo run --release --example browser_agents_load -- --agents 25 [--talk-secs 30]
//! ```
//!
//! Two phases, each with a fresh premise center in this process (the library's
//! `Premise::start`, as the `callcore-premise` program runs it; SQLite, call
//! recording on) and N SIPp callers (the load harness's caller: the IVR, digit 2
//! for support, then `--talk-secs` of Debian's g711a.pcap speech) started
//! within one second:
//!
//! 1. SIP agents: N `[[agents]]` with fixed contacts on one SIPp UAS that
//!    echoes the center's RTP (`scripts/premise-load/agents.xml`, `-rtp_echo`);
//! 2. browser agents: N `contact = "webrtc"` agents, taken by the load client,
//!    this program again as a separate process (`--client-of ADDR`,
//!    `examples/browser_agents_load/client.rs`): it logs each agent in over the
//!    web API as the agent desktop does (login, ready, the event feed, the
//!    phone's WebSocket) and answers every offer with a webrtc-rs peer
//!    connection (PCMU, ICE over loopback, DTLS-SRTP) that sends a 440 Hz tone
//!    back and measures what it receives. No callcore code runs in the client.
//!
//! CPU is this process's (the premise's): utime + stime from `/proc/self/stat`,
//! over an 8 s window once every agent is on a call (or when the talk is half
//! over), minus the idle premise's over 4 s before the calls. SIPp and the load
//! client are other processes, not counted. Audio both ways, per call: the
//! client's packets and mean |sample| of the caller's speech, and the call's
//! stereo recording (the caller on the left; on the right what the relay sends
//! the caller: the browser's tone, or the SIP agent's echo).
//!
//! Needs root (SIPp plays pcaps over a raw socket), `sipp` (sip-tester with its
//! pcaps) and `python3`. Ports: 17000-17999 (SIPp's fixed ports and the
//! premise's RTP range; no test uses that block).

#![allow(clippy::disallowed_methods)] // real peers in wall-clock time

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use callcore_premise::{Premise, PremiseConfig};
use clap::Parser;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

#[path = "cli.rs"]
mod cli;

#[path = "browser_agents_load/client.rs"]
mod client;

/// Concurrent browser agents (WebRTC legs bridged to SIP) against SIP agents: the
/// premise's CPU per call, same run.
#[derive(Debug, Parser)]
#[command(
    name = "browser_agents_load",
    args_override_self = true,
    after_help = "Examples:\n  cargo run --release --example browser_agents_load -- --agents 25\n  \
                  cargo run --release --example browser_agents_load -- --agents 100 --talk-secs 40\n  \
                  browser_agents_load --client-of 127.0.0.1:8080 --agents 10   (the load client alone)"
)]
struct Args {
    /// Concurrent calls: N callers, N SIP agents, then N browser agents (1-100).
    #[arg(long, default_value_t = 10, value_parser = agents_count)]
    agents: usize,
    /// Seconds each caller talks after the IVR (the window is measured in it).
    #[arg(long, default_value_t = 30, value_parser = talk_secs)]
    talk_secs: u32,
    /// Measure the browser agents only (no SIP baseline) [default: off].
    #[arg(long)]
    browser_only: bool,
    /// Run only the load client: log in `--agents` browser agents (b000…,
    /// password load-b000…) at the premise's HTTP listener ADDR and answer their
    /// calls, until stdin closes [default: off: start a premise and measure].
    #[arg(long, value_name = "ADDR")]
    client_of: Option<SocketAddr>,
}

fn agents_count(value: &str) -> Result<usize, String> {
    cli::positive_usize(value)?;
    value
        .parse::<usize>()
        .ok()
        .filter(|n| *n <= 100)
        .ok_or_else(|| format!("`{value}` is above 100 (the port block holds 100 calls)"))
}

fn talk_secs(value: &str) -> Result<u32, String> {
    value
        .parse::<u32>()
        .ok()
        .filter(|n| (16..=600).contains(n))
        .ok_or_else(|| format!("`{value}` is not a number of seconds in 16-600"))
}

/// The fixed ports (block 17000-17999).
const UAS_SIP: u16 = 17_001;
const UAS_MEDIA: u16 = 17_010;
const UAS_CONTROL: u16 = 17_020;
const CALLER_SIP: u16 = 17_031;
const CALLER_MEDIA: u16 = 17_040;
const CALLER_CONTROL: u16 = 17_050;
const RTP_FIRST: u16 = 17_100;

/// The SIP load harness's files and sip-tester's pcaps.
const SPEECH: &str = "/usr/share/sip-tester/g711a.pcap";
const DIGIT: &str = "/usr/share/sip-tester/dtmf_2833_2.pcap";
/// When the caller presses its digit, after the answer (the IVR's greeting and menu).
const IVR_MS: u32 = 12_500;

fn harness(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../scripts/premise-load")
        .join(file)
}

fn main() {
    let args = Args::parse();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    if let Some(http) = args.client_of {
        rt.block_on(client::run(http, args.agents, 3600));
        return;
    }
    rt.block_on(run(args));
}

async fn run(args: Args) {
    let n = args.agents;
    let load = |label: &str| {
        let avg = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
        let avg: Vec<&str> = avg.split_whitespace().take(3).collect();
        println!("{label}: load average {}", avg.join(" "));
    };
    load("start");
    let sip = if args.browser_only {
        None
    } else {
        Some(phase(n, args.talk_secs, false).await)
    };
    let browser = phase(n, args.talk_secs, true).await;
    load("end");
    println!(
        "\n| agents | kind | on calls in the window | legs connected | both ways (recording) | \
         both ways (client) | premise idle | premise busy | % of a core per call |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for p in sip.iter().chain(Some(&browser)) {
        println!(
            "| {n} | {} | {} | {} | {} | {} | {:.1}% | {:.1}% | {:.2} |",
            p.kind,
            p.on_calls,
            p.connected.map_or("-".into(), |c| c.to_string()),
            p.both_ways_recorded,
            p.both_ways_client.map_or("-".into(), |c| c.to_string()),
            p.idle * 100.0,
            p.busy * 100.0,
            p.per_call()
        );
    }
    if let Some(sip) = &sip {
        println!(
            "\nbrowser/SIP CPU per call: {:.1}x (load average during the windows: SIP {}, browser {})",
            browser.per_call() / sip.per_call().max(0.001),
            sip.load,
            browser.load
        );
    }
}

/// What one phase measured.
struct Phase {
    kind: &'static str,
    idle: f64,
    busy: f64,
    on_calls: usize,
    connected: Option<usize>,
    both_ways_recorded: usize,
    both_ways_client: Option<usize>,
    load: String,
}

impl Phase {
    /// The premise's CPU per call on the line, % of a core.
    fn per_call(&self) -> f64 {
        (self.busy - self.idle) / self.on_calls.max(1) as f64 * 100.0
    }
}

/// CPU time of this process so far (utime + stime of /proc/self/stat).
fn process_cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let Some(close) = stat.rfind(')') else {
        return Duration::ZERO;
    };
    let fields: Vec<u64> = stat[close + 2..]
        .split_whitespace()
        .map(|f| f.parse().unwrap_or(0))
        .collect();
    // fields 14 and 15 of the file; clock ticks of 1/100 s on Linux
    Duration::from_millis((fields.get(11).unwrap_or(&0) + fields.get(12).unwrap_or(&0)) * 10)
}

/// This process's CPU over `window`, as a share of one core.
async fn cpu_share(window: Duration) -> f64 {
    let (before, t) = (process_cpu(), Instant::now());
    tokio::time::sleep(window).await;
    (process_cpu() - before).as_secs_f64() / t.elapsed().as_secs_f64()
}

/// What the load client reported.
#[derive(Default)]
struct ClientLog {
    online: usize,
    connected: usize,
    ended: Vec<serde_json::Value>,
    errors: Vec<String>,
}

async fn phase(n: usize, talk_secs: u32, browsers: bool) -> Phase {
    let kind = if browsers { "browser" } else { "SIP" };
    let dir = std::env::temp_dir().join(format!(
        "callcore-browser-agents-load-{kind}-{}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a scratch folder");
    let mut toml = format!(
        "[sip]\nbind = \"127.0.0.1:0\"\n[media]\nrtp_first = {RTP_FIRST}\nrtp_last = {}\n\
         [storage]\ndata_dir = \"{}\"\nrecord_calls = true\n",
        usize::from(RTP_FIRST) + 8 * n + 40,
        dir.display()
    );
    for i in 0..n {
        let id = client::agent_id(i);
        let contact = if browsers {
            "webrtc".to_owned()
        } else {
            format!("sip:{id}@127.0.0.1:{UAS_SIP}")
        };
        toml.push_str(&format!(
            "[[agents]]\nid = \"{id}\"\npassword = \"{}\"\ncontact = \"{contact}\"\n\
             skills = [\"support\"]\n",
            client::agent_password(i)
        ));
    }
    let config = PremiseConfig::from_toml(&callcore_premise::with_demo_agents(&toml))
        .expect("the load's config");
    let premise = Premise::start(config).await.expect("the premise starts");
    let http = premise.http_addr().expect("the HTTP listener");
    let log = Arc::new(Mutex::new(ClientLog::default()));
    let mut agents = if browsers {
        client_process(http, n, log.clone())
    } else {
        sipp_agents(n)
    };
    // every agent reachable (the browsers logged in)
    let started = Instant::now();
    let mut reachable = 0;
    while started.elapsed() < Duration::from_secs(180) {
        reachable = on_line(&premise, false).await;
        if reachable == n {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    println!(
        "{kind}: {reachable}/{n} agents reachable after {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let idle = cpu_share(Duration::from_secs(4)).await;
    let callers = tokio::spawn(sipp_callers(&dir, premise.sip_addr(), n, talk_secs).output());
    // the conversations: after the IVR and the offers, every agent on a call, or
    // half the talk gone
    let calls_started = Instant::now();
    let latest = Duration::from_millis(u64::from(IVR_MS + 1_200 + talk_secs * 1000 / 2));
    let mut on_calls = 0;
    while calls_started.elapsed() < latest {
        on_calls = on_line(&premise, true).await;
        if on_calls == n {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    println!(
        "{kind}: {on_calls}/{n} agents on calls {:.1} s after the callers started",
        calls_started.elapsed().as_secs_f64()
    );
    // the media settles (DTLS, the first packets), then the window
    tokio::time::sleep(Duration::from_secs(2)).await;
    let busy = cpu_share(Duration::from_secs(8)).await;
    let load = std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .next()
        .unwrap_or("?")
        .to_owned();
    on_calls = on_calls.min(on_line(&premise, true).await);
    println!(
        "{kind}: premise CPU idle {:.1}%, talking {:.1}% of a core; {on_calls} on calls; load {load}",
        idle * 100.0,
        busy * 100.0
    );
    let callers = tokio::time::timeout(
        Duration::from_millis(u64::from(IVR_MS + talk_secs * 1000) + 60_000),
        callers,
    )
    .await;
    match callers {
        Ok(Ok(Ok(out))) if out.status.success() => println!("{kind}: every SIPp caller completed"),
        Ok(Ok(Ok(out))) => println!(
            "{kind}: SIPp callers: {:?} {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
                .lines()
                .take(3)
                .collect::<Vec<_>>()
                .join(" / ")
        ),
        _ => println!("{kind}: the SIPp callers did not finish in time"),
    }
    // the center's hang-ups reach the client; then it is told to stop
    tokio::time::sleep(Duration::from_secs(3)).await;
    drop(agents.stdin.take());
    let _ = tokio::time::timeout(Duration::from_secs(10), agents.wait()).await;
    let _ = agents.kill().await;
    // audio both ways per call: the recordings
    let mut records = Vec::new();
    for _ in 0..50 {
        records = premise.records().await.unwrap_or_default();
        if records.len() >= n && records.iter().all(|r| r.ended_at.is_some()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let recordings = premise.recordings(&records).await.unwrap_or_default();
    let mut both_ways_recorded = 0;
    let mut levels = Vec::new();
    for r in &recordings {
        if let Ok(wav) = std::fs::read(&r.path)
            && let Some((caller, agent)) = channel_levels(&wav)
        {
            levels.push((caller, agent));
            if caller > 100.0 && agent > 100.0 {
                both_ways_recorded += 1;
            }
        }
    }
    let quietest = |f: fn(&(f64, f64)) -> f64| levels.iter().map(f).fold(f64::INFINITY, f64::min);
    println!(
        "{kind}: {} records, {} recordings, {both_ways_recorded} with both sides heard \
         (quietest caller side {:.0}, agent side {:.0})",
        records.len(),
        recordings.len(),
        quietest(|l| l.0),
        quietest(|l| l.1)
    );
    let log = std::mem::take(
        &mut *log
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner),
    );
    let (connected, both_ways_client) = if browsers {
        let heard = log
            .ended
            .iter()
            .filter(|e| {
                e["received"].as_u64().unwrap_or(0) > 100
                    && e["sent"].as_u64().unwrap_or(0) > 100
                    && e["level"].as_f64().unwrap_or(0.0) > 100.0
            })
            .count();
        println!(
            "browser: client: {} online, {} legs connected, {} calls ended, {heard} heard the \
             caller and sent the tone; {} errors{}",
            log.online,
            log.connected,
            log.ended.len(),
            log.errors.len(),
            log.errors
                .first()
                .map(|e| format!(" (first: {e})"))
                .unwrap_or_default()
        );
        (Some(log.connected), Some(heard))
    } else {
        (None, None)
    };
    premise.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
    Phase {
        kind,
        idle,
        busy,
        on_calls,
        connected,
        both_ways_recorded,
        both_ways_client,
        load,
    }
}

/// Load agents reachable (`on_call`: and not available, i.e. on a call or in
/// its wrap-up).
async fn on_line(premise: &Premise, on_call: bool) -> usize {
    let Ok(snap) = premise.center().snapshot().await else {
        return 0;
    };
    snap.agents
        .iter()
        .filter(|a| a.agent.as_str().starts_with('b') && a.reachable)
        .filter(|a| !on_call || a.state != callcore::AgentState::Available)
        .count()
}

/// This program again as the load client, its JSON lines read into `log`.
fn client_process(http: SocketAddr, n: usize, log: Arc<Mutex<ClientLog>>) -> Child {
    let mut child = Command::new(std::env::current_exe().expect("this program"))
        .args(["--client-of", &http.to_string(), "--agents", &n.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("the load client starts");
    if let Some(out) = child.stdout.take() {
        tokio::spawn(async move {
            let mut lines = BufReader::new(out).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) else {
                    continue;
                };
                let mut log = log
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                match v["event"].as_str() {
                    Some("online") => log.online += 1,
                    Some("connected") => log.connected += 1,
                    Some("ended") => log.ended.push(v),
                    Some("error") => log.errors.push(v["detail"].to_string()),
                    _ => {}
                }
            }
        });
    }
    child
}

/// One SIPp UAS answering every agent's calls, echoing their RTP.
fn sipp_agents(n: usize) -> Child {
    Command::new("sipp")
        .arg("-sf")
        .arg(harness("agents.xml"))
        .args(["-i", "127.0.0.1", "-p", &UAS_SIP.to_string()])
        .args([
            "-mi",
            "127.0.0.1",
            "-mp",
            &UAS_MEDIA.to_string(),
            "-rtp_echo",
        ])
        .args(["-ci", "127.0.0.1", "-cp", &UAS_CONTROL.to_string()])
        .args(["-m", &n.to_string(), "-nostdin", "-timeout", "300s"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("sipp runs (apt-get install sip-tester)")
}

/// N SIPp callers through the IVR to the support queue, within one second.
fn sipp_callers(dir: &Path, sip: SocketAddr, n: usize, talk_secs: u32) -> Command {
    let pcap = dir.join("caller.pcap");
    let made = std::process::Command::new("python3")
        .arg(harness("caller_pcap.py"))
        .arg(&pcap)
        .args(["--speech", SPEECH, "--digit", DIGIT])
        .args(["--ivr-ms", &IVR_MS.to_string()])
        .args(["--talk-secs", &talk_secs.to_string()])
        .output()
        .expect("python3 runs caller_pcap.py");
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let speak = format!(
        "  <nop><action><exec play_pcap_audio=\"{}\"/></action></nop>\n  <pause milliseconds=\"{}\"/>",
        pcap.display(),
        IVR_MS + 1_200 + talk_secs * 1000
    );
    let scenario = std::fs::read_to_string(harness("caller.xml"))
        .expect("the harness's caller.xml")
        .replace("@MEDIA_PORT@", "[media_port]")
        .replace("@SPEAK@", &speak);
    let xml = dir.join("caller.xml");
    std::fs::write(&xml, scenario).expect("the caller's scenario");
    let mut uac = Command::new("sipp");
    uac.arg(sip.to_string())
        .arg("-sf")
        .arg(&xml)
        .args(["-s", "ivr", "-m", &n.to_string(), "-l", &n.to_string()])
        .args(["-r", &n.to_string(), "-rp", "1000"])
        .args(["-i", "127.0.0.1", "-p", &CALLER_SIP.to_string()])
        .args(["-mi", "127.0.0.1", "-mp", &CALLER_MEDIA.to_string()])
        .args(["-ci", "127.0.0.1", "-cp", &CALLER_CONTROL.to_string()])
        .args(["-nostdin", "-timeout", "300s", "-timeout_error"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    uac
}

/// Mean |sample| of each channel of a 16-bit stereo WAV.
fn channel_levels(wav: &[u8]) -> Option<(f64, f64)> {
    if wav.get(0..4) != Some(b"RIFF") || wav.get(22..24) != Some(&[2, 0]) {
        return None;
    }
    let data = wav.windows(4).position(|w| w == b"data")? + 8;
    let (mut left, mut right, mut frames) = (0f64, 0f64, 0f64);
    for frame in wav.get(data..)?.chunks_exact(4) {
        left += f64::from(i16::from_le_bytes([frame[0], frame[1]])).abs();
        right += f64::from(i16::from_le_bytes([frame[2], frame[3]])).abs();
        frames += 1.0;
    }
    (frames > 0.0).then(|| (left / frames, right / frames))
}
