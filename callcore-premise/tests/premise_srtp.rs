//! SRTP (SDES, RFC 4568) through the premise center against real peers.
//!
//! - A Debian baresip caller with `mediaenc=srtp-mand` (RTP/SAVP, SRTP only) calls
//!   the IVR of a center with `[sip] srtp = "require"`, presses 1 (RFC 4733 over
//!   SRTP: the IVR must decrypt it to queue the call in `billing`), and is
//!   connected to agent 1001, a second baresip with `srtp-mand` rung with our
//!   RTP/SAVP offer. Both play a tone: the stereo recording of the bridge (made
//!   from what the relay pool decrypted) has the caller's tone left and the
//!   agent's right; both baresips report SRTP enabled, and no packet failed
//!   authentication but baresip's closing RTCP BYE, which it sends in the clear.
//! - A SIPp caller offers RTP/SAVP with a key but sends plain RTP (digit 1, as a
//!   stranger without the key would): every packet is refused and counted
//!   (`callcore_srtp_packets_rejected_total`), the IVR hears no digit.
//! - The same SIPp offer to a center with SRTP off gets 488.
//!
//! Ports from this suite's range, 22000-22499. Skipped with a notice without
//! baresip or SIPp, unless `CALLCORE_REQUIRE_PEERS=1`.

#![allow(clippy::unwrap_used, clippy::expect_used)]
// Real peers run in wall-clock time.
#![allow(clippy::disallowed_methods)]

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use callcore::EventKind;
use callcore_premise::{Premise, PremiseConfig};
use tokio::process::Command;

/// The DTMF pcap of Debian's sip-tester: RFC 4733 digit 1.
const DTMF1: &str = "/usr/share/sip-tester/dtmf_2833_1.pcap";

fn required() -> bool {
    std::env::var("CALLCORE_REQUIRE_PEERS").as_deref() == Ok("1")
}

/// Whether `bin` runs; a notice (or, when peers are required, a failure) if not.
fn have(bin: &str, arg: &str, apt: &str) -> bool {
    let ok = std::process::Command::new(bin)
        .arg(arg)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    if !ok {
        assert!(!required(), "{bin} is required (CALLCORE_REQUIRE_PEERS=1)");
        eprintln!("NOTICE: {bin} not found; skipping (apt-get install -y {apt})");
    }
    ok
}

/// baresip with its SRTP module.
fn baresip_ready() -> bool {
    if !have("baresip", "-h", "baresip") {
        return false;
    }
    let srtp = Path::new("/usr/lib/baresip/modules/srtp.so").exists();
    if !srtp {
        assert!(!required(), "baresip's srtp module is required");
        eprintln!("NOTICE: baresip has no srtp module; skipping");
    }
    srtp
}

/// SIPp, its DTMF pcap and root (raw sockets for `play_pcap_audio`).
fn sipp_ready() -> bool {
    if !have("sipp", "-v", "sip-tester") {
        return false;
    }
    let root = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(2) == Some("0"))
        })
        .unwrap_or(false);
    let ok = root && Path::new(DTMF1).exists();
    if !ok {
        assert!(!required(), "SIPp needs root and {DTMF1}");
        eprintln!("NOTICE: SIPp cannot play pcaps here; skipping");
    }
    ok
}

/// A free UDP+TCP port of `lo..hi` (and the next one, for RTCP), from where the
/// process id and `salt` say.
fn port_in(lo: u16, hi: u16, salt: u16) -> u16 {
    let span = hi - lo;
    let start = (std::process::id() as u16)
        .wrapping_mul(31)
        .wrapping_add(salt.wrapping_mul(7))
        % span;
    (0..span)
        .map(|i| lo + (start + i) % span)
        .filter(|p| p + 1 < hi)
        .find(|&p| {
            std::net::UdpSocket::bind(("127.0.0.1", p)).is_ok()
                && std::net::TcpListener::bind(("127.0.0.1", p)).is_ok()
                && std::net::UdpSocket::bind(("127.0.0.1", p + 1)).is_ok()
        })
        .expect("a free port")
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("callcore-srtp-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn premise(dir: &Path, rtp: u16, srtp: &str) -> Premise {
    let toml = format!(
        "[sip]\nbind = \"127.0.0.1:0\"\ntcp = true\nsrtp = \"{srtp}\"\n\
         [media]\nrtp_first = {rtp}\nrtp_last = {}\n\
         [storage]\ndata_dir = \"{}\"\nrecord_calls = true\n\
         [http]\nbind = \"127.0.0.1:0\"\n\
         [[agents]]\nid = \"1001\"\npassword = \"alice1001\"\nskills = [\"billing\", \"support\"]\n",
        rtp + 19,
        dir.join("data").display()
    );
    Premise::start(PremiseConfig::from_toml(&toml).unwrap())
        .await
        .unwrap()
}

/// A minute of a `hz` sine as an 8 kHz mono WAV (baresip's `aufile` source).
fn tone_wav(path: &Path, hz: u32) {
    let n: u32 = 8000 * 60;
    let mut b = Vec::with_capacity(44 + n as usize * 2);
    b.extend_from_slice(b"RIFF");
    b.extend_from_slice(&(36 + n * 2).to_le_bytes());
    b.extend_from_slice(b"WAVEfmt ");
    b.extend_from_slice(&16u32.to_le_bytes());
    b.extend_from_slice(&1u16.to_le_bytes());
    b.extend_from_slice(&1u16.to_le_bytes());
    b.extend_from_slice(&8000u32.to_le_bytes());
    b.extend_from_slice(&16000u32.to_le_bytes());
    b.extend_from_slice(&2u16.to_le_bytes());
    b.extend_from_slice(&16u16.to_le_bytes());
    b.extend_from_slice(b"data");
    b.extend_from_slice(&(n * 2).to_le_bytes());
    for i in 0..n {
        let t = f64::from(i) / 8000.0;
        let v = (8000.0 * (2.0 * std::f64::consts::PI * f64::from(hz) * t).sin()) as i16;
        b.extend_from_slice(&v.to_le_bytes());
    }
    std::fs::write(path, b).unwrap();
}

/// A headless baresip in `dir` playing a `tone` Hz sine, SRTP module loaded.
fn baresip(dir: &Path, account: &str, tone: u32, rtp: u16, ctrl: Option<u16>) -> Command {
    std::fs::create_dir_all(dir).unwrap();
    tone_wav(&dir.join("tone.wav"), tone);
    let mut config = format!(
        "poll_method epoll\nsip_listen 127.0.0.1:{}\nnet_interface 127.0.0.1\n\
         audio_source aufile,tone.wav\naudio_player aubridge,nil\naudio_alert aubridge,nil\n\
         ausrc_srate 8000\nauplay_srate 8000\nausrc_channels 1\nauplay_channels 1\n\
         rtp_ports {rtp}-{}\nrtcp_mux no\nmodule_path /usr/lib/baresip/modules\n\
         module g711.so\nmodule aufile.so\nmodule aubridge.so\nmodule srtp.so\n\
         module_tmp uuid.so\nmodule_tmp account.so\n",
        port_in(22300, 22400, tone as u16),
        rtp + 9,
    );
    if let Some(port) = ctrl {
        config.push_str(&format!(
            "module_app menu.so\nmodule_app ctrl_tcp.so\nctrl_tcp_listen 127.0.0.1:{port}\n"
        ));
    }
    std::fs::write(dir.join("config"), config).unwrap();
    std::fs::write(dir.join("accounts"), format!("{account}\n")).unwrap();
    let log = std::fs::File::create(dir.join("baresip.log")).unwrap();
    let mut cmd = Command::new("baresip");
    cmd.args(["-f", dir.to_str().unwrap(), "-t", "60"])
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .kill_on_drop(true);
    cmd
}

/// Sends one ctrl_tcp command (netstring-framed JSON) to baresip.
fn ctrl(port: u16, command: &str, params: &str) {
    let mut s = None;
    for _ in 0..50 {
        if let Ok(c) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            s = Some(c);
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let mut s = s.expect("baresip's ctrl_tcp");
    let msg = format!(r#"{{"command":"{command}","params":"{params}","token":"t"}}"#);
    s.write_all(format!("{}:{msg},", msg.len()).as_bytes())
        .unwrap();
    s.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let mut buf = [0u8; 4096];
    let _ = s.read(&mut buf);
}

/// Mean power of each channel of a 16-bit stereo WAV.
fn channel_power(path: &Path) -> (f64, f64) {
    let bytes = std::fs::read(path).unwrap();
    let data = bytes
        .windows(4)
        .position(|w| w == b"data")
        .map(|i| &bytes[i + 8..])
        .expect("a data chunk");
    let (mut l, mut r, mut n) = (0f64, 0f64, 0f64);
    for frame in data.chunks_exact(4) {
        let a = f64::from(i16::from_le_bytes([frame[0], frame[1]]));
        let b = f64::from(i16::from_le_bytes([frame[2], frame[3]]));
        l += a * a;
        r += b * b;
        n += 1.0;
    }
    (l / n.max(1.0), r / n.max(1.0))
}

fn wav_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "wav") {
                out.push(p);
            }
        }
    }
    out
}

/// `/metrics` of the premise.
fn metric(premise: &Premise, name: &str) -> u64 {
    let addr = premise.http_addr().expect("http on");
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.write_all(b"GET /metrics HTTP/1.0\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut text = String::new();
    let _ = s.read_to_string(&mut text);
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.trim().parse().ok())
        .unwrap_or_else(|| panic!("{name} in /metrics:\n{text}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_srtp_caller_reaches_an_srtp_agent_through_the_ivr_with_audio_both_ways() {
    if !baresip_ready() {
        return;
    }
    let dir = scratch("bridge");
    let premise = premise(&dir, 22100, "require").await;
    let sip = premise.sip_addr();
    let mut events = premise.center().subscribe();

    // agent 1001: registers, answers by itself, SRTP only
    let agent_account = format!(
        "<sip:1001@127.0.0.1>;auth_pass=alice1001;outbound=\"sip:{sip}\";regint=60;\
         answermode=auto;mediaenc=srtp-mand;audio_codecs=PCMU"
    );
    let mut agent = baresip(&dir.join("agent"), &agent_account, 440, 22220, None)
        .spawn()
        .unwrap();
    let reachable = tokio::time::timeout(Duration::from_secs(15), async {
        while let Ok(e) = events.recv().await {
            if matches!(&e.kind, EventKind::AgentReachabilityChanged { agent, reachable: true, .. } if agent.as_str() == "1001")
            {
                return;
            }
        }
    })
    .await;
    let agent_log = || std::fs::read_to_string(dir.join("agent/baresip.log")).unwrap_or_default();
    assert!(reachable.is_ok(), "agent did not register: {}", agent_log());

    // the caller: SRTP only, driven over ctrl_tcp
    let ctrl_port = port_in(22400, 22500, 1);
    let caller_account = "<sip:caller@127.0.0.1>;regint=0;mediaenc=srtp-mand;audio_codecs=PCMU";
    let mut caller = baresip(
        &dir.join("caller"),
        caller_account,
        1000,
        22200,
        Some(ctrl_port),
    )
    .spawn()
    .unwrap();
    let caller_log = || std::fs::read_to_string(dir.join("caller/baresip.log")).unwrap_or_default();
    tokio::task::spawn_blocking(move || ctrl(ctrl_port, "dial", &format!("sip:ivr@{sip}")))
        .await
        .unwrap();

    // press 1 until the IVR has heard it (its greeting may be playing)
    let mut queue = None;
    let mut connected = false;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(40);
    let mut next_press = tokio::time::Instant::now() + Duration::from_secs(2);
    while tokio::time::Instant::now() < deadline && !connected {
        if queue.is_none() && tokio::time::Instant::now() >= next_press {
            tokio::task::spawn_blocking(move || ctrl(ctrl_port, "sndcode", "1"))
                .await
                .unwrap();
            next_press += Duration::from_millis(2500);
        }
        if let Ok(Ok(e)) = tokio::time::timeout(Duration::from_millis(200), events.recv()).await {
            match &e.kind {
                EventKind::Queued { queue: q, .. } => queue = Some(q.as_str().to_owned()),
                EventKind::Connected { agent, .. } if agent.as_str() == "1001" => connected = true,
                _ => {}
            }
        }
    }
    assert!(
        connected,
        "caller not connected to 1001 (queue {queue:?})\ncaller:\n{}\nagent:\n{}",
        caller_log(),
        agent_log()
    );
    assert_eq!(
        queue.as_deref(),
        Some("billing"),
        "the IVR heard the digit 1 sent over SRTP"
    );

    // both talk (tones) for a while through the relay pool, then the caller hangs up
    tokio::time::sleep(Duration::from_secs(3)).await;
    tokio::task::spawn_blocking(move || ctrl(ctrl_port, "hangup", ""))
        .await
        .unwrap();
    let stopped = tokio::time::timeout(Duration::from_secs(15), async {
        while let Ok(e) = events.recv().await {
            if matches!(e.kind, EventKind::RecordingStopped { .. }) {
                return;
            }
        }
    })
    .await;
    assert!(stopped.is_ok(), "the recording was not finished");
    let rejected = metric(&premise, "callcore_srtp_packets_rejected_total");
    let _ = caller.kill().await;
    let _ = agent.kill().await;

    let stereo: Vec<_> = wav_files(&dir.join("data"))
        .into_iter()
        .map(|p| channel_power(&p))
        .collect();
    // the caller's 1000 Hz tone left, the agent's 440 Hz right, both decrypted
    assert!(
        stereo.iter().any(|&(l, r)| l > 1e5 && r > 1e5),
        "a recording with both sides' audio: {stereo:?}"
    );
    // baresip 1.0 sends its closing RTCP BYE in the clear (after tearing its SRTP
    // down): that packet, and only that, is rightly refused on an SRTP leg
    assert!(
        rejected <= 2,
        "only the peers' clear closing RTCP BYEs failed authentication: {rejected}"
    );
    for (who, log) in [("caller", caller_log()), ("agent", agent_log())] {
        assert!(
            log.contains("SRTP is Enabled"),
            "{who}'s media was SRTP:\n{log}"
        );
    }
    premise.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// A SIPp caller running `scenario` (tests/sipp) against `sip`.
fn sipp_caller(scenario: &str, dir: &Path, sip: std::net::SocketAddr) -> Command {
    let src = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/sipp")
        .join(scenario);
    let text = std::fs::read_to_string(src)
        .unwrap()
        .replace("@DTMF1@", DTMF1);
    let file = dir.join(scenario);
    std::fs::write(&file, text).unwrap();
    let mut cmd = Command::new("sipp");
    cmd.arg(sip.to_string())
        .arg("-sf")
        .arg(&file)
        .args(["-s", "ivr", "-i", "127.0.0.1", "-p"])
        .arg(port_in(22300, 22400, 50).to_string())
        .args(["-mi", "127.0.0.1", "-mp"])
        .arg(port_in(22240, 22300, 51).to_string())
        .args(["-cp"])
        .arg(port_in(22400, 22500, 52).to_string())
        .args(["-m", "1", "-nostdin", "-timeout", "30s", "-timeout_error"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    cmd
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn media_without_the_key_is_refused_and_srtp_offers_get_488_when_off() {
    if !sipp_ready() {
        return;
    }
    let dir = scratch("refused");
    let premise = premise(&dir, 22140, "offer").await;
    let mut events = premise.center().subscribe();
    let out = tokio::time::timeout(
        Duration::from_secs(40),
        sipp_caller("srtp_unauthentic_caller.xml", &dir, premise.sip_addr()).output(),
    )
    .await
    .expect("sipp finished")
    .unwrap();
    assert!(
        out.status.success(),
        "the call went through: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut heard = Vec::new();
    while let Ok(Some(e)) = events.try_recv() {
        if let EventKind::Queued { queue, .. } = &e.kind {
            heard.push(queue.as_str().to_owned());
        }
    }
    assert!(
        !heard.iter().any(|q| q == "billing"),
        "digit 1 sent without the key reached the IVR: {heard:?}"
    );
    let rejected = metric(&premise, "callcore_srtp_packets_rejected_total");
    assert!(
        rejected >= 5,
        "the plain packets were refused and counted: {rejected}"
    );
    premise.shutdown().await;

    // SRTP off: an RTP/SAVP offer cannot be met
    let off = premise_off(&dir).await;
    let out = tokio::time::timeout(
        Duration::from_secs(20),
        sipp_caller("srtp_refused_caller.xml", &dir, off.sip_addr()).output(),
    )
    .await
    .expect("sipp finished")
    .unwrap();
    assert!(
        out.status.success(),
        "488 for RTP/SAVP with SRTP off: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    off.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

async fn premise_off(dir: &Path) -> Premise {
    premise(&dir.join("off"), 22160, "off").await
}
