//! Shared pieces of the browser tests (`webrtc_agent.rs`, `desktop_browser.rs`,
//! `wallboard_browser.rs`):
//! whether the real peers are there (SIPp, Chromium, node with
//! `playwright-core` in `.cache/node`, root for a network namespace), the
//! re-run of a test inside a private network namespace with only `lo` (Chromium
//! connects ICE over loopback only there), fake-microphone WAVs, the levels of
//! a stereo recording, the speech of a SIPp pcap, and [`PageDriver`]: Chromium
//! pages driven by `tests/webrtc/page_driver.js` one JSON command at a time; and
//! for the wallboard test the load harness's SIPp caller, tone blocks in a
//! recording and [`Page`], one page driven through `tests/webrtc/board_driver.js`.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]
#![allow(clippy::disallowed_methods)]

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

/// Speech from Debian's sip-tester (A-law RTP in an Ethernet pcap).
pub const SPEECH: &str = "/usr/share/sip-tester/g711a.pcap";
/// An RFC 4733 digit from Debian's sip-tester.
pub const DIGIT: &str = "/usr/share/sip-tester/dtmf_2833_2.pcap";
/// Set in the re-run inside the network namespace.
const IN_NETNS: &str = "CALLCORE_TEST_IN_NETNS";

/// The workspace's root.
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Where `playwright-core` is installed (`NODE_PATH`).
pub fn playwright() -> PathBuf {
    workspace().join(".cache/node/node_modules")
}

/// A file of `tests/webrtc/` (the node drivers).
pub fn driver_script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/webrtc")
        .join(name)
}

fn runs(cmd: &str, arg: &str) -> bool {
    std::process::Command::new(cmd)
        .arg(arg)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status").is_ok_and(|s| {
        s.lines()
            .find(|l| l.starts_with("Uid:"))
            .is_some_and(|l| l.split_whitespace().nth(2) == Some("0"))
    })
}

/// Whether every peer of the browser tests is there; otherwise the test
/// (`what`) is skipped with a notice, or fails under `CALLCORE_REQUIRE_PEERS=1`.
pub fn peers_ready(what: &str) -> bool {
    let why = if !runs("sipp", "-v") {
        "sipp is not installed (apt-get install -y sip-tester)"
    } else if !Path::new(SPEECH).exists() || !Path::new(DIGIT).exists() {
        "the sip-tester pcaps are missing"
    } else if !is_root() {
        "SIPp plays pcaps over a raw socket and the test needs a network namespace: root"
    } else if !runs("python3", "--version") {
        "python3 (which writes the caller's pcap) is missing"
    } else if !Path::new("/usr/bin/chromium").exists() {
        "chromium is not installed (apt-get install -y chromium)"
    } else if !runs("node", "--version") {
        "node is not installed (apt-get install -y nodejs npm)"
    } else if !playwright().join("playwright-core").exists() {
        "playwright-core is missing (npm install --prefix .cache/node playwright-core)"
    } else if !runs("unshare", "--help") || !runs("ip", "-V") {
        "unshare (util-linux) and ip (iproute2) are needed for a private network namespace"
    } else {
        return true;
    };
    if std::env::var("CALLCORE_REQUIRE_PEERS").as_deref() == Ok("1") {
        panic!("CALLCORE_REQUIRE_PEERS=1 but {why}");
    }
    eprintln!("NOTICE: skipping {what}: {why}");
    false
}

/// Whether headless Chromium can be driven (chromium, node, playwright-core
/// in `.cache/node`): the browser tests without SIP or WebRTC. Otherwise the
/// test (`what`) is skipped with a notice, or fails under
/// `CALLCORE_REQUIRE_PEERS=1`.
pub fn browser_ready(what: &str) -> bool {
    let why = if !Path::new("/usr/bin/chromium").exists() {
        "chromium is not installed (apt-get install -y chromium)"
    } else if !runs("node", "--version") {
        "node is not installed (apt-get install -y nodejs npm)"
    } else if !playwright().join("playwright-core").exists() {
        "playwright-core is missing (npm install --prefix .cache/node playwright-core)"
    } else {
        return true;
    };
    if std::env::var("CALLCORE_REQUIRE_PEERS").as_deref() == Ok("1") {
        panic!("CALLCORE_REQUIRE_PEERS=1 but {why}");
    }
    eprintln!("NOTICE: skipping {what}: {why}");
    false
}

/// Runs test `name` of this binary again inside a new network namespace with
/// only `lo` (up); true when this process is already that re-run.
pub async fn in_private_network(name: &str) -> bool {
    in_private_network_env(name, &[]).await
}

/// [`in_private_network`], with `env` set in the re-run (e.g. where the
/// bridges to services outside the namespace are).
pub async fn in_private_network_env(name: &str, env: &[(&str, String)]) -> bool {
    if std::env::var_os(IN_NETNS).is_some() {
        return true;
    }
    let exe = std::env::current_exe().unwrap();
    let status = Command::new("unshare")
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .args([
            "-n",
            "--",
            "sh",
            "-c",
            "ip link set lo up && exec \"$0\" \"$@\"",
        ])
        .arg(exe)
        .args([
            name,
            "--exact",
            "--nocapture",
            "--test-threads=1",
            "--include-ignored",
        ])
        .env(IN_NETNS, "1")
        .status()
        .await
        .expect("unshare runs");
    assert!(
        status.success(),
        "the test inside the namespace failed: {status:?}"
    );
    false
}

/// A free UDP port on 127.0.0.1.
pub fn free_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A file of the SIP load harness (`scripts/premise-load`).
pub fn harness(file: &str) -> PathBuf {
    workspace().join("scripts/premise-load").join(file)
}

/// A mono 16-bit 48 kHz WAV of a `hz` tone: a browser's fake microphone.
pub fn tone_wav(path: &Path, secs: u32, hz: f64) {
    let rate = 48_000u32;
    let samples: Vec<u8> = (0..rate * secs)
        .flat_map(|i| {
            let t = f64::from(i) / f64::from(rate);
            let v = (t * hz * std::f64::consts::TAU).sin() * 12_000.0;
            (v as i16).to_le_bytes()
        })
        .collect();
    let mut wav = Vec::with_capacity(44 + samples.len());
    wav.extend_from_slice(b"RIFF");
    wav.extend_from_slice(&(36 + samples.len() as u32).to_le_bytes());
    wav.extend_from_slice(b"WAVEfmt ");
    wav.extend_from_slice(&16u32.to_le_bytes());
    wav.extend_from_slice(&1u16.to_le_bytes()); // PCM
    wav.extend_from_slice(&1u16.to_le_bytes()); // mono
    wav.extend_from_slice(&rate.to_le_bytes());
    wav.extend_from_slice(&(rate * 2).to_le_bytes());
    wav.extend_from_slice(&2u16.to_le_bytes());
    wav.extend_from_slice(&16u16.to_le_bytes());
    wav.extend_from_slice(b"data");
    wav.extend_from_slice(&(samples.len() as u32).to_le_bytes());
    wav.extend_from_slice(&samples);
    std::fs::write(path, wav).unwrap();
}

/// Mean absolute sample of each channel of a 16-bit stereo WAV.
pub fn channel_levels(wav: &[u8]) -> (f64, f64) {
    assert_eq!(&wav[0..4], b"RIFF");
    assert_eq!(u16::from_le_bytes([wav[22], wav[23]]), 2, "stereo");
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

/// The speech of a sip-tester pcap (Ethernet, IPv4, UDP, RTP with A-law), as
/// 8 kHz linear samples.
pub fn pcap_speech(path: &Path) -> Vec<i16> {
    let d = std::fs::read(path).unwrap();
    assert_eq!(&d[0..4], &[0xd4, 0xc3, 0xb2, 0xa1], "a little-endian pcap");
    assert_eq!(
        u32::from_le_bytes([d[20], d[21], d[22], d[23]]),
        1,
        "Ethernet"
    );
    let mut out = Vec::new();
    let mut at = 24;
    while at + 16 <= d.len() {
        let len = u32::from_le_bytes([d[at + 8], d[at + 9], d[at + 10], d[at + 11]]) as usize;
        let packet = &d[at + 16..(at + 16 + len).min(d.len())];
        at += 16 + len;
        // Ethernet (14), IPv4 (IHL), UDP (8), RTP (12 + CSRCs)
        let Some(ip) = packet.get(14..) else { continue };
        let ihl = usize::from(ip.first().copied().unwrap_or(0) & 0x0f) * 4;
        let Some(rtp) = ip.get(ihl + 8..) else {
            continue;
        };
        if rtp.len() <= 12 || rtp[1] & 0x7f != 8 {
            continue;
        }
        let start = 12 + 4 * usize::from(rtp[0] & 0x0f);
        out.extend(
            rtp[start.min(rtp.len())..]
                .iter()
                .map(|&c| callcore_media::g711::alaw_decode(c)),
        );
    }
    out
}

/// Chromium pages driven by `tests/webrtc/page_driver.js` (playwright-core):
/// one JSON command per line in, one JSON answer per line out.
pub struct PageDriver {
    child: Child,
    stdin: ChildStdin,
    lines: Lines<BufReader<ChildStdout>>,
}

impl PageDriver {
    /// Starts the driver (no browser yet: `open` launches one per page).
    pub fn start() -> PageDriver {
        let mut child = Command::new("node")
            .arg(driver_script("page_driver.js"))
            .env("NODE_PATH", playwright())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("node runs the page driver");
        let stdin = child.stdin.take().unwrap();
        let lines = BufReader::new(child.stdout.take().unwrap()).lines();
        PageDriver {
            child,
            stdin,
            lines,
        }
    }

    /// Sends one command and returns its answer; panics when it failed or
    /// no answer came within `limit`.
    pub async fn send(&mut self, command: serde_json::Value, limit: Duration) -> serde_json::Value {
        let line = command.to_string();
        eprintln!("driver <- {line}");
        self.stdin.write_all(line.as_bytes()).await.unwrap();
        self.stdin.write_all(b"\n").await.unwrap();
        self.stdin.flush().await.unwrap();
        let answer = tokio::time::timeout(limit, self.lines.next_line())
            .await
            .unwrap_or_else(|_| panic!("no answer to {line} within {limit:?}"))
            .unwrap()
            .expect("the page driver answers");
        eprintln!("driver -> {answer}");
        let answer: serde_json::Value = serde_json::from_str(&answer).unwrap();
        assert_eq!(answer["ok"], true, "{line}: {answer}");
        answer
    }

    /// [`send`](Self::send) with 60 s to answer.
    pub async fn cmd(&mut self, command: serde_json::Value) -> serde_json::Value {
        self.send(command, Duration::from_secs(60)).await
    }

    /// Closes the browsers and waits for the driver to exit.
    pub async fn close(mut self) {
        let _ = self
            .send(serde_json::json!({"op": "close"}), Duration::from_secs(30))
            .await;
        let _ = tokio::time::timeout(Duration::from_secs(20), self.child.wait()).await;
    }
}

/// The frames of a 16-bit stereo WAV (left, right) and its sample rate.
pub fn stereo_frames(wav: &[u8]) -> (Vec<(i16, i16)>, u32) {
    assert_eq!(&wav[0..4], b"RIFF");
    assert_eq!(u16::from_le_bytes([wav[22], wav[23]]), 2, "stereo");
    let rate = u32::from_le_bytes([wav[24], wav[25], wav[26], wav[27]]);
    let data = wav
        .windows(4)
        .position(|w| w == b"data")
        .expect("data chunk")
        + 8;
    let frames = wav[data..]
        .chunks_exact(4)
        .map(|f| {
            (
                i16::from_le_bytes([f[0], f[1]]),
                i16::from_le_bytes([f[2], f[3]]),
            )
        })
        .collect();
    (frames, rate)
}

/// For each 100 ms block of `samples` (at `rate`): whether a tone of `hz`
/// dominates it (Goertzel: the tone holds at least a third of the block's
/// energy, and the block is not near silence).
pub fn tone_blocks(samples: &[i16], rate: u32, hz: f64) -> Vec<bool> {
    let block = (rate / 10) as usize;
    let coeff = 2.0 * (std::f64::consts::TAU * hz / f64::from(rate)).cos();
    samples
        .chunks_exact(block)
        .map(|b| {
            let (mut s1, mut s2, mut energy) = (0f64, 0f64, 0f64);
            for x in b {
                let x = f64::from(*x);
                let s = x + coeff * s1 - s2;
                s2 = s1;
                s1 = s;
                energy += x * x;
            }
            let power = s1 * s1 + s2 * s2 - coeff * s1 * s2;
            // a pure tone of amplitude A: power = (A N / 2)^2, energy = A^2 N / 2
            let tone_energy = 2.0 * power / block as f64;
            let rms = (energy / block as f64).sqrt();
            rms > 150.0 && tone_energy >= energy / 3.0
        })
        .collect()
}

/// The SIPp caller's scenario: the harness's caller, which hangs up after its
/// talk, or (`await_bye`) one that waits for the center's BYE instead.
pub fn caller_scenario(pcap: &Path, talk_ms: u32, await_bye: bool) -> String {
    let speak = format!(
        "  <nop><action><exec play_pcap_audio=\"{}\"/></action></nop>\n  <pause milliseconds=\"{}\"/>",
        pcap.display(),
        12_500 + 1_200 + talk_ms
    );
    let scenario = std::fs::read_to_string(harness("caller.xml"))
        .unwrap()
        .replace("@MEDIA_PORT@", "[media_port]");
    if !await_bye {
        return scenario.replace("@SPEAK@", &speak);
    }
    // the last @SPEAK@ (the first is in the scenario's comment)
    let (head, _) = scenario.rsplit_once("@SPEAK@").unwrap();
    // the BYE comes while the pcap plays (no pause: SIPp would take it as unexpected)
    let speak = format!(
        "  <nop><action><exec play_pcap_audio=\"{}\"/></action></nop>",
        pcap.display()
    );
    format!(
        "{head}{speak}\n  <recv request=\"BYE\" timeout=\"60000\"/>\n  <send>\n    <![CDATA[\n\n      \
         SIP/2.0 200 OK\n      [last_Via:]\n      [last_From:]\n      [last_To:]\n      [last_Call-ID:]\n      \
         [last_CSeq:]\n      Content-Length: 0\n\n    ]]>\n  </send>\n</scenario>\n"
    )
}

/// The Call-ID of a SIPp caller started with [`CUED_CALL_ID`]'s `-cid_str`
/// (its first call, on 127.0.0.1).
pub const CUED_CALL: &str = "callcore-cued-1@127.0.0.1";
/// SIPp's `-cid_str` giving its first call the Call-ID [`CUED_CALL`].
pub const CUED_CALL_ID: &str = "callcore-cued-%u@%s";

/// The caller's scenario when its talk phase is to begin once the call is
/// connected to an agent, whenever that is: the harness's caller plays `pcap`
/// from the IVR's answer (give it speech enough for any wait), then waits for
/// the test's cue ([`cue_caller`], sent once the center connected the call),
/// stays `talk_ms` more and hangs up. The caller's SIPp needs `-cid_str`
/// [`CUED_CALL_ID`]. The cue is the test's, not a peer's request: it gets no
/// answer (an answer would go to the center).
pub fn cued_caller_scenario(pcap: &Path, talk_ms: u32) -> String {
    let speak = format!(
        "  <nop><action><exec play_pcap_audio=\"{}\"/></action></nop>\n  \
         <recv request=\"INFO\" timeout=\"60000\"/>\n  <pause milliseconds=\"{talk_ms}\"/>",
        pcap.display()
    );
    let scenario = std::fs::read_to_string(harness("caller.xml"))
        .unwrap()
        .replace("@MEDIA_PORT@", "[media_port]");
    // the last @SPEAK@ (the first is in the scenario's comment)
    let (head, tail) = scenario.rsplit_once("@SPEAK@").unwrap();
    // the BYE's To is the dialog's (the center's tag), kept from the answer:
    // `[last_To:]` would be the cue's
    let answer = "<recv response=\"200\" rtd=\"true\" rrs=\"true\" timeout=\"32000\"/>";
    assert!(head.contains(answer), "the harness caller's answer");
    let head = head.replace(
        answer,
        &format!(
            "{}>\n    <action><ereg regexp=\".*\" search_in=\"hdr\" header=\"To:\" \
             assign_to=\"dialog_to\"/></action>\n  </recv>",
            answer.trim_end_matches("/>")
        ),
    );
    let tail = tail.replacen("[last_To:]", "To:[$dialog_to]", 1);
    format!("{head}{speak}{tail}")
}

/// Cues the SIPp caller of [`cued_caller_scenario`] listening on SIP port
/// `sipp_port`: its talk phase begins now.
pub fn cue_caller(sipp_port: u16) {
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let me = socket.local_addr().unwrap();
    let info = format!(
        "INFO sip:caller@127.0.0.1:{sipp_port} SIP/2.0\r\n\
         Via: SIP/2.0/UDP {me};branch=z9hG4bK-callcore-cue\r\n\
         From: <sip:test@127.0.0.1>;tag=cue\r\nTo: <sip:caller@127.0.0.1>\r\n\
         Call-ID: {CUED_CALL}\r\nCSeq: 1 INFO\r\nContent-Length: 0\r\n\r\n"
    );
    socket
        .send_to(info.as_bytes(), ("127.0.0.1", sipp_port))
        .unwrap();
}

/// Writes the caller's pcap (IVR wait, digit 2 for support, `talk_secs` of
/// speech) and scenario into `dir`; returns the scenario's path.
pub fn write_caller(dir: &Path, talk_secs: u32, await_bye: bool) -> PathBuf {
    let pcap = dir.join("caller.pcap");
    let made = std::process::Command::new("python3")
        .arg(harness("caller_pcap.py"))
        .arg(&pcap)
        .args(["--speech", SPEECH, "--digit", DIGIT])
        .args(["--ivr-ms", "12500", "--talk-secs", &talk_secs.to_string()])
        .output()
        .expect("python3 runs caller_pcap.py");
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let xml = dir.join("caller.xml");
    std::fs::write(&xml, caller_scenario(&pcap, talk_secs * 1000, await_bye)).unwrap();
    xml
}

/// One SIPp caller of `scenario` to the IVR at `sip`.
pub fn sipp_caller(sip: std::net::SocketAddr, scenario: &Path) -> Command {
    let mut uac = Command::new("sipp");
    uac.arg(sip.to_string())
        .arg("-sf")
        .arg(scenario)
        .args(["-s", "ivr", "-m", "1"])
        .args(["-i", "127.0.0.1", "-p", &free_port().to_string()])
        .args(["-mi", "127.0.0.1", "-mp", &free_port().to_string()])
        .args(["-ci", "127.0.0.1", "-cp", &free_port().to_string()])
        .args(["-nostdin", "-timeout", "80s", "-timeout_error"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    uac
}

/// One page of headless Chromium (fake microphone: a WAV) driven by
/// `tests/webrtc/board_driver.js`: each command is a JSON line, each answer too.
pub struct Page {
    child: Child,
    stdin: ChildStdin,
    lines: Lines<BufReader<ChildStdout>>,
}

impl Page {
    /// Opens `url` with `wav` as the microphone, the profile in `profile`.
    pub async fn open(url: &str, wav: &Path, profile: &Path) -> Page {
        let mut child = Command::new("node")
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/webrtc/board_driver.js"))
            .arg(url)
            .arg(wav)
            .arg(profile)
            .env("NODE_PATH", playwright())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("node runs the page driver");
        let stdin = child.stdin.take().unwrap();
        let lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut page = Page {
            child,
            stdin,
            lines,
        };
        let hello = page.answer().await;
        assert_eq!(hello["event"], "open", "the page opened: {hello}");
        page
    }

    async fn answer(&mut self) -> serde_json::Value {
        let line = tokio::time::timeout(Duration::from_secs(120), self.lines.next_line())
            .await
            .expect("the page driver answers in time")
            .unwrap()
            .expect("the page driver answers");
        serde_json::from_str(&line).unwrap_or_else(|_| panic!("not JSON: {line}"))
    }

    /// Sends a command; its answer (`{"ok":true,…}` or `{"ok":false,"error":…}`).
    pub async fn try_command(&mut self, command: serde_json::Value) -> serde_json::Value {
        let mut line = command.to_string();
        line.push('\n');
        self.stdin.write_all(line.as_bytes()).await.unwrap();
        self.stdin.flush().await.unwrap();
        self.answer().await
    }

    /// Sends a command that must succeed; its answer.
    pub async fn command(&mut self, command: serde_json::Value) -> serde_json::Value {
        let shown = command.to_string();
        let a = self.try_command(command).await;
        assert_eq!(a["ok"], true, "page command {shown}: {a}");
        a
    }

    pub async fn fill(&mut self, testid: &str, value: &str) {
        self.command(serde_json::json!({"cmd": "fill", "testid": testid, "value": value}))
            .await;
    }

    pub async fn click(&mut self, testid: &str) {
        self.command(serde_json::json!({"cmd": "click", "testid": testid}))
            .await;
    }

    pub async fn select(&mut self, testid: &str, value: &str) {
        self.command(serde_json::json!({"cmd": "select", "testid": testid, "value": value}))
            .await;
    }

    /// Waits until the element's text is `text`; the milliseconds it took, or
    /// `None` after `timeout`.
    pub async fn wait_text(&mut self, testid: &str, text: &str, timeout: Duration) -> Option<u64> {
        let a = self
            .try_command(
                serde_json::json!({"cmd": "wait_text", "testid": testid, "text": text,
                "timeout": timeout.as_millis() as u64}),
            )
            .await;
        (a["ok"] == true).then(|| a["ms"].as_u64().unwrap_or(0))
    }

    /// Waits until the expression is truthy (at most `timeout`).
    pub async fn wait_js(&mut self, js: &str, timeout: Duration) {
        self.command(serde_json::json!({"cmd": "wait_js", "js": js,
            "timeout": timeout.as_millis() as u64}))
            .await;
    }

    /// The value of a JavaScript expression.
    pub async fn eval(&mut self, js: &str) -> serde_json::Value {
        self.command(serde_json::json!({"cmd": "eval", "js": js}))
            .await["value"]
            .clone()
    }

    pub async fn screenshot(&mut self, path: &Path) {
        self.command(serde_json::json!({"cmd": "screenshot", "path": path}))
            .await;
    }

    /// Closes the browser.
    pub async fn close(mut self) {
        let _ = self.try_command(serde_json::json!({"cmd": "close"})).await;
        let _ = tokio::time::timeout(Duration::from_secs(20), self.child.wait()).await;
        let _ = self.child.kill().await;
    }
}
