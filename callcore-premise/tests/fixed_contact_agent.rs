//! An agent with a fixed `contact` (`[[agents]] contact = "sip:…"`), against real
//! peers: a SIPp UAS (the load harness's `scripts/premise-load/agents.xml`, echoing
//! RTP) is the agent's phone and never registers; a SIPp caller (the harness's
//! `caller.xml` playing what `caller_pcap.py` makes of Debian's `g711a.pcap` speech
//! and `dtmf_2833_2.pcap` digit) calls the IVR, picks the support queue and talks.
//! Asserted: the agent was available without registering, the call was answered by
//! it, and the stereo recording has sound on both sides; once over UDP, once with
//! `;transport=tcp` and the UAS on TCP.
//!
//! Needs `sipp` (package `sip-tester`, which ships the pcaps), `python3` and root
//! (SIPp plays pcaps over a raw socket): skipped with a notice otherwise, failing instead when
//! `CALLCORE_REQUIRE_PEERS=1`.

#![allow(clippy::unwrap_used, clippy::expect_used)]
// Real peers and sockets run in wall-clock time: the test waits for them.
#![allow(clippy::disallowed_methods)]

use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use callcore::{AgentId, AgentState};
use callcore_premise::{Premise, PremiseConfig};
use tokio::process::Command;

const SPEECH: &str = "/usr/share/sip-tester/g711a.pcap";
const DIGIT: &str = "/usr/share/sip-tester/dtmf_2833_2.pcap";

fn peers_ready() -> bool {
    let sipp = std::process::Command::new("sipp")
        .arg("-v")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    let root = std::env::var("USER").as_deref() == Ok("root")
        || std::fs::read_to_string("/proc/self/status").is_ok_and(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .is_some_and(|l| l.split_whitespace().nth(2) == Some("0"))
        });
    let pcaps = Path::new(SPEECH).exists() && Path::new(DIGIT).exists();
    let python = std::process::Command::new("python3")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    let why = match (sipp, pcaps, root, python) {
        (true, true, true, true) => return true,
        (false, ..) => "sipp is not installed (apt-get install -y sip-tester)",
        (_, false, ..) => "the sip-tester pcaps are missing",
        (_, _, false, _) => "SIPp plays pcaps over a raw socket, which needs root",
        (.., false) => "python3 (which writes the caller's pcap) is missing",
    };
    if std::env::var("CALLCORE_REQUIRE_PEERS").as_deref() == Ok("1") {
        panic!("CALLCORE_REQUIRE_PEERS=1 but {why}");
    }
    eprintln!("NOTICE: skipping the fixed-contact agent test: {why}");
    false
}

fn free_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn harness(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../scripts/premise-load")
        .join(file)
}

/// Mean absolute sample of each channel of a 16-bit stereo WAV.
fn channel_levels(wav: &[u8]) -> (f64, f64) {
    assert_eq!(&wav[0..4], b"RIFF");
    assert_eq!(u16::from_le_bytes([wav[22], wav[23]]), 2, "stereo");
    assert_eq!(u16::from_le_bytes([wav[34], wav[35]]), 16, "16-bit");
    let data = wav
        .windows(4)
        .position(|w| w == b"data")
        .expect("data chunk")
        + 8;
    let (mut left, mut right, mut frames) = (0f64, 0f64, 0f64);
    for frame in wav[data..].chunks_exact(4) {
        left += f64::from(i16::from_le_bytes([frame[0], frame[1]])).abs();
        right += f64::from(i16::from_le_bytes([frame[2], frame[3]])).abs();
        frames += 1.0;
    }
    (left / frames, right / frames)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_at_a_fixed_contact_answers_without_registering() {
    fixed_contact_call(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_at_a_fixed_tcp_contact_is_rung_over_tcp() {
    fixed_contact_call(true).await;
}

/// One call through the IVR to agent 2001, whose phone is a SIPp UAS at a fixed
/// contact (`;transport=tcp` and SIPp on TCP when `tcp`).
async fn fixed_contact_call(tcp: bool) {
    if !peers_ready() {
        return;
    }
    let name = if tcp { "tcp" } else { "udp" };
    let dir = std::env::temp_dir().join(format!(
        "callcore-premise-contact-{name}-{}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    let uas_port = free_port();
    let base = 32000 + (std::process::id() % 100) as u16 * 20 + if tcp { 10 } else { 0 };
    let transport = if tcp { ";transport=tcp" } else { "" };
    let toml = format!(
        "[sip]\nbind = \"127.0.0.1:0\"\ntcp = {tcp}\n\
         [media]\nrtp_first = {base}\nrtp_last = {}\n\
         [storage]\ndata_dir = \"{}\"\n\
         [[agents]]\nid = \"2001\"\nname = \"Desk\"\n\
         contact = \"sip:2001@127.0.0.1:{uas_port}{transport}\"\nskills = [\"support\"]\n",
        base + 9,
        dir.display()
    );
    let config = PremiseConfig::from_toml(&callcore_premise::with_demo_agents(&toml)).unwrap();
    let premise = Premise::start(config).await.unwrap();
    let center = premise.sip_addr();
    assert!(premise.banner().contains("rung at sip:2001@127.0.0.1"));
    let snapshot = premise.center().snapshot().await.unwrap();
    let agent = snapshot
        .agents
        .iter()
        .find(|a| a.agent == AgentId::new("2001"))
        .expect("agent 2001 configured");
    assert_eq!(
        agent.state,
        AgentState::Available,
        "available from the start, no registration"
    );
    assert!(
        premise
            .config()
            .agents
            .iter()
            .all(|a| a.password.is_empty()),
        "no password, so no registration is possible"
    );

    let mut uas = Command::new("sipp");
    uas.arg("-sf")
        .arg(harness("agents.xml"))
        .args(["-i", "127.0.0.1", "-p", &uas_port.to_string()])
        .args(["-t", if tcp { "t1" } else { "u1" }])
        .args([
            "-mi",
            "127.0.0.1",
            "-mp",
            &free_port().to_string(),
            "-rtp_echo",
        ])
        .args(["-ci", "127.0.0.1", "-cp", &free_port().to_string()])
        .args(["-m", "1", "-nostdin", "-timeout", "60s", "-timeout_error"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let uas = uas.spawn().expect("sipp UAS");

    // the harness's caller: speech, digit 2 after the IVR's greeting and menu, 7 s of talk
    std::fs::create_dir_all(&dir).unwrap();
    let pcap = dir.join("caller.pcap");
    let made = std::process::Command::new("python3")
        .arg(harness("caller_pcap.py"))
        .arg(&pcap)
        .args(["--speech", SPEECH, "--digit", DIGIT])
        .args(["--ivr-ms", "12500", "--talk-secs", "7"])
        .output()
        .expect("python3 runs caller_pcap.py");
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    // the harness's `pcap` caller mode: the whole call as one pcap
    let speak = format!(
        "  <nop><action><exec play_pcap_audio=\"{}\"/></action></nop>\n  <pause milliseconds=\"{}\"/>",
        pcap.display(),
        12_500 + 1_200 + 7_000
    );
    let scenario = std::fs::read_to_string(harness("caller.xml"))
        .unwrap()
        .replace("@SPEAK@", &speak)
        .replace("@MEDIA_PORT@", "[media_port]");
    let caller_xml = dir.join("caller.xml");
    std::fs::write(&caller_xml, scenario).unwrap();
    let mut uac = Command::new("sipp");
    uac.arg(center.to_string())
        .arg("-sf")
        .arg(&caller_xml)
        .args(["-s", "ivr", "-m", "1"])
        .args(["-i", "127.0.0.1", "-p", &free_port().to_string()])
        .args(["-mi", "127.0.0.1", "-mp", &free_port().to_string()])
        .args(["-ci", "127.0.0.1", "-cp", &free_port().to_string()])
        .args(["-nostdin", "-timeout", "60s", "-timeout_error"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let caller = tokio::time::timeout(Duration::from_secs(90), uac.output())
        .await
        .expect("the caller finished")
        .unwrap();
    let uas = tokio::time::timeout(Duration::from_secs(30), uas.wait_with_output())
        .await
        .expect("the agent's UAS finished")
        .unwrap();
    assert!(
        caller.status.success(),
        "caller: {:?} {}",
        caller.status,
        String::from_utf8_lossy(&caller.stderr)
    );
    assert!(
        uas.status.success(),
        "agent's UAS: {:?} {}",
        uas.status,
        String::from_utf8_lossy(&uas.stderr)
    );

    // the record and the recording land once the center has seen both BYEs
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
    assert_eq!(record.agent, Some(AgentId::new("2001")), "{record:?}");
    assert_eq!(
        record.queue.as_ref().map(|q| q.as_str()),
        Some("support"),
        "digit 2 chose support"
    );
    assert!(record.talk_ms >= 5000, "{record:?}");
    let recordings = premise.recordings(&records).await.unwrap();
    assert_eq!(recordings.len(), 1, "{recordings:?}");
    let wav = std::fs::read(&recordings[0].path).unwrap();
    let (caller_level, agent_level) = channel_levels(&wav);
    // the caller's speech on the left; the agent's phone echoes it back on the right
    assert!(caller_level > 100.0, "caller side silent: {caller_level}");
    assert!(agent_level > 100.0, "agent side silent: {agent_level}");
    premise.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}
