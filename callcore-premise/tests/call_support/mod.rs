//! Shared pieces of the call-control tests over real SIP: SIPp does the
//! signalling of every party (a caller dialling the IVR, phones at fixed
//! contacts answering), and each party's audio is a [`RtpPhone`] of the test —
//! a UDP socket named in SIPp's SDP that sends a tone of its own frequency
//! (and the menu digit, RFC 4733) and keeps what it receives, so the test
//! measures who hears whom (Goertzel amplitude of each party's tone).
//!
//! Ports: SIP 40000-40499, RTP 40500-40999 on 127.0.0.1, handed out in blocks
//! so that the tests of one binary, running at once, never share one. With
//! `CALLCORE_TEST_PORTS=first-last` or `=first` (500 ports; a shared machine's own block):
//! the first half SIP, the second RTP.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]
#![allow(clippy::disallowed_methods)]

use std::net::{SocketAddr, UdpSocket as StdUdp};
use std::process::Stdio;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use callcore::{EventKind, InteractionId};
use callcore_media::g711::{ulaw_decode, ulaw_encode};
use callcore_premise::{Premise, PremiseConfig};
use callcore_runtime::{BusError, EventSubscriber};
use tokio::net::UdpSocket;
use tokio::process::{Child, Command};

/// Whether SIPp is installed; without it the test is skipped with a notice
/// (or fails when `CALLCORE_REQUIRE_PEERS=1`).
pub fn sipp_ready(test: &str) -> bool {
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
        eprintln!("NOTICE: sipp not found; skipping {test} (apt-get install -y sip-tester)");
    }
    found
}

static NEXT_SIP: AtomicU16 = AtomicU16::new(0);
static NEXT_RTP: AtomicU16 = AtomicU16::new(0);

/// A free port in `lo..lo+span`, going round from the last one handed out.
fn free_in(lo: u16, span: u16, next: &AtomicU16, step: u16) -> u16 {
    let salt = (std::process::id() as u16).wrapping_mul(31) % span;
    for _ in 0..span / step {
        // whole blocks only: the last one ends inside the range
        let offset = (next.fetch_add(step, Ordering::Relaxed).wrapping_add(salt)
            % (span / step * step))
            / step
            * step;
        let port = lo + offset;
        if (0..step).all(|i| StdUdp::bind(("127.0.0.1", port + i)).is_ok()) {
            return port;
        }
    }
    panic!("no free port block of {step} in {lo}..{}", lo + span);
}

/// The test ports: 40000-40999, or the range `CALLCORE_TEST_PORTS` names
/// (`first-last`, e.g. `14000-14499`, or `first` for the 500 from it, for runs
/// that share a machine), its first half for SIP and the second for RTP.
fn port_range() -> (u16, u16) {
    std::env::var("CALLCORE_TEST_PORTS")
        .ok()
        .and_then(|v| {
            let (a, b) = match v.split_once('-') {
                Some((a, b)) => (a.trim().parse::<u16>().ok()?, b.trim().parse::<u16>().ok()?),
                None => {
                    let a = v.trim().parse::<u16>().ok()?;
                    (a, a.checked_add(499)?)
                }
            };
            (b > a.saturating_add(100)).then_some((a, (b - a).div_ceil(2)))
        })
        .unwrap_or((40000, 500))
}

/// A free SIP port (40000-40499, or the first half of `CALLCORE_TEST_PORTS`).
pub fn sip_port() -> u16 {
    let (lo, half) = port_range();
    free_in(lo, half, &NEXT_SIP, 1)
}

/// A free even block of `n` RTP ports (40500-40999, or the second half of
/// `CALLCORE_TEST_PORTS`).
pub fn rtp_block(n: u16) -> u16 {
    let (lo, half) = port_range();
    free_in(lo + half, half, &NEXT_RTP, n)
}

fn scenario(name: &str) -> String {
    format!("{}/tests/sipp/{name}", env!("CARGO_MANIFEST_DIR"))
}

fn sipp(rtp_port: u16, args: &[&str]) -> Child {
    let media = rtp_block(4);
    Command::new("sipp")
        .args(args)
        .args(["-i", "127.0.0.1", "-p", &sip_port().to_string()])
        .args(["-mi", "127.0.0.1", "-mp", &media.to_string()])
        .args(["-key", "rtp_port", &rtp_port.to_string()])
        .args(["-nostdin", "-timeout", "120s"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("sipp starts")
}

/// A phone at a fixed contact: SIPp answering up to `calls` calls, its audio
/// the [`RtpPhone`] returned.
pub struct Desk {
    /// The fixed contact to configure.
    pub contact: String,
    /// What the phone sends and hears.
    pub phone: RtpPhone,
    invites: std::path::PathBuf,
    _sipp: Child,
}

impl Desk {
    /// When each INVITE reached the phone (seconds since the epoch).
    pub fn invited_at(&self) -> Vec<f64> {
        std::fs::read_to_string(&self.invites)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.trim().parse().ok())
            .collect()
    }

    /// Starts SIPp answering at a free port, with a phone sending `tone_hz`.
    pub async fn start(user: &str, tone_hz: f64, calls: u32) -> Desk {
        Desk::start_for(user, tone_hz, calls, 120).await
    }

    /// As [`start`](Self::start), SIPp running at most `secs` seconds (a
    /// test of many calls in a row).
    pub async fn start_for(user: &str, tone_hz: f64, calls: u32, secs: u32) -> Desk {
        let phone = RtpPhone::start(tone_hz).await;
        let port = sip_port();
        let invites = std::env::temp_dir().join(format!(
            "callcore-ctl-invites-{}-{port}",
            std::process::id()
        ));
        let _ = std::fs::remove_file(&invites);
        let mut cmd = Command::new("sipp");
        cmd.args(["-sf", &scenario("party_answer.xml")])
            .args(["-i", "127.0.0.1", "-p", &port.to_string()])
            .args(["-mi", "127.0.0.1", "-mp", &rtp_block(4).to_string()])
            .args(["-key", "rtp_port", &phone.port().to_string()])
            .args(["-key", "invite_log", invites.to_str().unwrap()])
            .args(["-m", &calls.to_string()])
            .args(["-nostdin", "-timeout", &format!("{secs}s")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true);
        let sipp = cmd.spawn().expect("sipp starts");
        Desk {
            contact: format!("sip:{user}@127.0.0.1:{port}"),
            phone,
            invites,
            _sipp: sipp,
        }
    }
}

impl Drop for Desk {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.invites);
    }
}

/// A caller: SIPp dialling `service` at the center, its audio the
/// [`RtpPhone`] returned; the phone presses `digit` once the center speaks.
pub struct Caller {
    /// What the caller sends and hears.
    pub phone: RtpPhone,
    _sipp: Child,
}

impl Caller {
    /// Calls `ivr` at `center`, presses `digit` (RFC 4733) after the first
    /// second of the IVR's audio.
    pub async fn call(center: SocketAddr, tone_hz: f64, digit: u8) -> Caller {
        let phone = RtpPhone::start(tone_hz).await;
        phone.press_after_audio(digit);
        Caller::dial(center, phone)
    }

    /// SIPp dialling `ivr` at `center` with `phone` as its audio.
    fn dial(center: SocketAddr, phone: RtpPhone) -> Caller {
        let sipp = sipp(
            phone.port(),
            &[
                "-sf",
                &scenario("party_call.xml"),
                "-s",
                "ivr",
                "-m",
                "1",
                &center.to_string(),
            ],
        );
        Caller { phone, _sipp: sipp }
    }

    /// Calls `ivr` at `center` with a phone that sends silence until told to
    /// speak ([`RtpPhone::say`]) or press a key ([`RtpPhone::press`]).
    pub async fn silent(center: SocketAddr) -> Caller {
        let phone = RtpPhone::start(0.0).await;
        phone.speak(false);
        Caller::dial(center, phone)
    }

    /// Calls `ivr` at `center` with a phone that sends silence until told to
    /// [`speak`](RtpPhone::speak) its `tone_hz`, and presses keys when told.
    pub async fn quiet(center: SocketAddr, tone_hz: f64) -> Caller {
        let phone = RtpPhone::start(tone_hz).await;
        phone.speak(false);
        Caller::dial(center, phone)
    }

    /// As [`call`](Self::call), the phone sending `speech` (8 kHz samples,
    /// looped) instead of a tone.
    pub async fn call_speaking(center: SocketAddr, speech: Vec<i16>, digit: u8) -> Caller {
        let caller = Caller::call(center, 0.0, digit).await;
        caller.phone.state.lock().unwrap().speech = Some((Arc::new(speech), 0));
        caller
    }
}

#[derive(Default)]
struct PhoneState {
    peer: Option<SocketAddr>,
    tone_hz: f64,
    speaking: bool,
    first_audio: Option<Instant>,
    digit_after_audio: Option<u8>,
    /// A key to press at the next packet.
    digit_now: Option<u8>,
    /// Speech being sent (8 kHz samples) and how far.
    clip: Option<(Vec<i16>, usize)>,
    dtmf: Option<(u8, u32, u16)>,
    received: Vec<(Instant, Vec<i16>)>,
    /// Speech sent instead of the tone, looped, and where it is.
    speech: Option<(Arc<Vec<i16>>, usize)>,
}

/// The audio side of a party: sends its tone (µ-law, 20 ms packets) to
/// whoever sent it RTP first (the center's port for this leg), keeps every
/// frame it receives with its arrival time.
#[derive(Clone)]
pub struct RtpPhone {
    port: u16,
    state: Arc<Mutex<PhoneState>>,
    task: Arc<tokio::task::JoinHandle<()>>,
}

/// Amplitude of the tones the phones send.
pub const TONE: f64 = 6000.0;

impl RtpPhone {
    /// Binds a free RTP port and starts sending `tone_hz` once the center
    /// sent something.
    pub async fn start(tone_hz: f64) -> RtpPhone {
        let port = rtp_block(2);
        let socket = UdpSocket::bind(("127.0.0.1", port))
            .await
            .expect("rtp port");
        let state = Arc::new(Mutex::new(PhoneState {
            tone_hz,
            speaking: true,
            ..PhoneState::default()
        }));
        let task = tokio::spawn(run_phone(socket, state.clone()));
        RtpPhone {
            port,
            state,
            task: Arc::new(task),
        }
    }

    /// The RTP port named in the SDP.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Presses `digit` one second after the first audio from the center.
    /// `digit` is the RFC 4733 event code (0-9, 10 = `*`, 11 = `#`), not
    /// its ASCII character.
    pub fn press_after_audio(&self, digit: u8) {
        assert!(digit <= 15, "an RFC 4733 event code, not ASCII: {digit}");
        self.state.lock().unwrap().digit_after_audio = Some(digit);
    }

    /// Sends `samples` (8 kHz speech) now, then goes back to the tone or silence.
    pub fn say(&self, samples: Vec<i16>) {
        self.state.lock().unwrap().clip = Some((samples, 0));
    }

    /// Whether the clip given to [`RtpPhone::say`] is still being sent.
    pub fn saying(&self) -> bool {
        self.state.lock().unwrap().clip.is_some()
    }

    /// Presses `digit` (its RFC 4733 event code) now.
    pub fn press(&self, digit: u8) {
        assert!(digit <= 15, "an RFC 4733 event code, not ASCII: {digit}");
        self.state.lock().unwrap().digit_now = Some(digit);
    }

    /// Starts or stops sending the tone (silence is sent meanwhile).
    pub fn speak(&self, on: bool) {
        self.state.lock().unwrap().speaking = on;
    }

    /// What was received between `from` and `to`, as one stream of samples.
    pub fn heard(&self, from: Instant, to: Instant) -> Vec<i16> {
        self.state
            .lock()
            .unwrap()
            .received
            .iter()
            .filter(|(at, _)| *at >= from && *at < to)
            .flat_map(|(_, f)| f.iter().copied())
            .collect()
    }

    /// Waits (up to `limit`) until the last 300 ms received carry `hz`.
    pub async fn wait_hearing(&self, hz: f64, limit: Duration) -> bool {
        let until = Instant::now() + limit;
        while Instant::now() < until {
            let now = Instant::now();
            let pcm = self.heard(now - Duration::from_millis(300), now);
            if pcm.len() >= 1600 && amplitude(&pcm, hz) > HEARD {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        false
    }

    /// When the phone first received audio.
    pub fn first_audio(&self) -> Option<Instant> {
        self.state.lock().unwrap().first_audio
    }

    /// Waits until the phone has received audio (up to `limit`).
    pub async fn wait_audio(&self, limit: Duration) -> bool {
        let until = Instant::now() + limit;
        while Instant::now() < until {
            if self.state.lock().unwrap().first_audio.is_some() {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        false
    }
}

impl Drop for RtpPhone {
    fn drop(&mut self) {
        if Arc::strong_count(&self.task) == 1 {
            self.task.abort();
        }
    }
}

async fn run_phone(socket: UdpSocket, state: Arc<Mutex<PhoneState>>) {
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut buf = [0u8; 2048];
    let (mut seq, mut ts, mut phase) = (1u16, 0u32, 0f64);
    loop {
        tokio::select! {
            got = socket.recv_from(&mut buf) => {
                let Ok((n, from)) = got else { return };
                if n < 12 || buf[0] >> 6 != 2 {
                    continue;
                }
                let cc = usize::from(buf[0] & 0x0F);
                let start = 12 + 4 * cc;
                let pt = buf[1] & 0x7F;
                let mut s = state.lock().unwrap();
                // the latest leg that sent to us (a phone answering a second call
                // hears from another port)
                s.peer = Some(from);
                if pt != 0 || n <= start {
                    continue; // telephone-event or comfort noise
                }
                let now = Instant::now();
                s.first_audio.get_or_insert(now);
                s.received.push((now, buf[start..n].iter().map(|&c| ulaw_decode(c)).collect()));
            }
            _ = tick.tick() => {
                let packet = {
                    let mut s = state.lock().unwrap();
                    let Some(peer) = s.peer else { continue };
                    if let (Some(first), Some(d)) = (s.first_audio, s.digit_after_audio)
                        && first.elapsed() > Duration::from_secs(1)
                    {
                        s.digit_after_audio = None;
                        s.dtmf = Some((d, ts, 0));
                    }
                    if let Some(d) = s.digit_now.take() {
                        s.dtmf = Some((d, ts, 0));
                    }
                    let packet = if let Some((digit, start, n)) = s.dtmf {
                        let end = n >= 8;
                        let dur = (u32::from(n.min(7)) + 1) * 160;
                        let mut p = header(101, n == 0, seq, start);
                        p.extend_from_slice(&[digit, if end { 0x80 | 10 } else { 10 }]);
                        p.extend_from_slice(&(dur as u16).to_be_bytes());
                        s.dtmf = (n < 10).then_some((digit, start, n + 1));
                        p
                    } else if let Some((clip, at)) = s.clip.take() {
                        let mut p = header(0, false, seq, ts);
                        let end = (at + 160).min(clip.len());
                        p.extend(clip[at..end].iter().map(|&x| ulaw_encode(x)));
                        p.resize(12 + 160, 0xFF);
                        if end < clip.len() {
                            s.clip = Some((clip, end));
                        }
                        p
                    } else {
                        let mut p = header(0, false, seq, ts);
                        let step = 2.0 * std::f64::consts::PI * s.tone_hz / 8000.0;
                        let speaking = s.speaking;
                        if let Some((speech, at)) = s.speech.as_mut().filter(|(v, _)| !v.is_empty()) {
                            for _ in 0..160 {
                                let x = if speaking { speech[*at % speech.len()] } else { 0 };
                                *at = (*at + 1) % speech.len();
                                p.push(ulaw_encode(x));
                            }
                        } else {
                            for _ in 0..160 {
                                let x = if speaking { TONE * phase.sin() } else { 0.0 };
                                phase = (phase + step) % (2.0 * std::f64::consts::PI);
                                p.push(ulaw_encode(x as i16));
                            }
                        }
                        p
                    };
                    (peer, packet)
                };
                seq = seq.wrapping_add(1);
                ts = ts.wrapping_add(160);
                let _ = socket.send_to(&packet.1, packet.0).await;
            }
        }
    }
}

fn header(pt: u8, marker: bool, seq: u16, ts: u32) -> Vec<u8> {
    let mut p = vec![0x80, (u8::from(marker) << 7) | pt];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&ts.to_be_bytes());
    p.extend_from_slice(&0x5EED_0001u32.to_be_bytes());
    p
}

/// Amplitude of `hz` in `pcm` (Goertzel; a sine of amplitude A gives about A).
pub fn amplitude(pcm: &[i16], hz: f64) -> f64 {
    if pcm.is_empty() {
        return 0.0;
    }
    let w = 2.0 * std::f64::consts::PI * hz / 8000.0;
    let coeff = 2.0 * w.cos();
    let (mut s1, mut s2) = (0.0f64, 0.0f64);
    for &x in pcm {
        let s0 = f64::from(x) + coeff * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    let power = s1 * s1 + s2 * s2 - coeff * s1 * s2;
    2.0 * power.max(0.0).sqrt() / pcm.len() as f64
}

/// Root mean square of `pcm`.
pub fn rms(pcm: &[i16]) -> f64 {
    if pcm.is_empty() {
        return 0.0;
    }
    (pcm.iter().map(|&x| f64::from(x).powi(2)).sum::<f64>() / pcm.len() as f64).sqrt()
}

/// Heard (a tone at well over a third of its sent level reached the party).
pub const HEARD: f64 = TONE / 3.0;
/// Not heard (under a twentieth of the sent level).
pub const UNHEARD: f64 = TONE / 20.0;

/// Lets audio settle after an action, then measures `secs` of it: returns
/// the window's start and end.
pub async fn window(settle_ms: u64, secs: f64) -> (Instant, Instant) {
    tokio::time::sleep(Duration::from_millis(settle_ms)).await;
    let from = Instant::now();
    tokio::time::sleep(Duration::from_secs_f64(secs)).await;
    (from, Instant::now())
}

/// A premise config: SIP on a free port, RTP on a free block, the IVR with
/// a one-word greeting and key 2 for `support`, queue `support` (no wrap-up),
/// then `agents` (TOML `[[agents]]` tables). No HTTP listener: the default
/// address (127.0.0.1:8080) made tests running side by side fail to start.
pub fn config(dir: &std::path::Path, agents: &str) -> PremiseConfig {
    let rtp = rtp_block(40);
    let toml = format!(
        r#"[http]
enabled = false
[sip]
bind = "127.0.0.1:{}"
tcp = false
[media]
rtp_first = {rtp}
rtp_last = {}
[storage]
data_dir = "{}"
record_calls = true
[ivr]
greeting = "Hello."
menu = [{{ key = "2", label = "support", queue = "support" }}]
default_queue = "support"
[[queues]]
id = "support"
skill = "support"
[[queues]]
id = "sales"
skill = "sales"
{agents}"#,
        sip_port(),
        rtp + 39,
        dir.display()
    );
    PremiseConfig::from_toml(&callcore_premise::with_demo_agents(&toml)).unwrap()
}

/// A fresh data directory for `name`.
pub fn data_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("callcore-ctl-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Waits (up to `secs`) for an event `pick` accepts, returning what it gave.
pub async fn wait_for<T>(
    events: &mut EventSubscriber,
    secs: u64,
    what: &str,
    mut pick: impl FnMut(&EventKind) -> Option<T>,
) -> T {
    let found = async {
        loop {
            match events.recv().await {
                Ok(e) => {
                    eprintln!("event: {:?}", e.kind);
                    if let Some(t) = pick(&e.kind) {
                        return t;
                    }
                }
                Err(BusError::Lagged(_)) => {}
                Err(e) => panic!("event stream ended: {e}"),
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(secs), found)
        .await
        .unwrap_or_else(|_| panic!("no {what} within {secs} s"))
}

/// Waits for the caller to be connected to an agent; returns the
/// interaction and the agent.
pub async fn connected(events: &mut EventSubscriber) -> (InteractionId, callcore::AgentId) {
    wait_for(events, 40, "connected", |k| match k {
        EventKind::Connected {
            interaction, agent, ..
        } => Some((interaction.clone(), agent.clone())),
        _ => None,
    })
    .await
}

/// The stored record of `id` once it has ended (waits up to 10 s).
pub async fn ended_record(premise: &Premise, id: &InteractionId) -> callcore::InteractionRecord {
    for _ in 0..50 {
        let records = premise.records().await.unwrap();
        if let Some(r) = records.iter().find(|r| r.id == *id && r.ended_at.is_some()) {
            return r.clone();
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("no ended record of {id}");
}

/// Frequencies of the parties' tones, apart from each other and from the
/// notes of the default music on hold.
pub mod tones {
    /// The caller.
    pub const CALLER: f64 = 500.0;
    /// The first agent.
    pub const AGENT: f64 = 900.0;
    /// A second agent (transfer target, consulted).
    pub const OTHER: f64 = 1300.0;
    /// The supervisor.
    pub const SUPERVISOR: f64 = 1700.0;
}

/// What `phone` heard of each tone of `hz` in `w`.
pub fn heard(phone: &RtpPhone, w: (Instant, Instant), hz: &[f64]) -> Vec<f64> {
    let pcm = phone.heard(w.0, w.1);
    hz.iter().map(|&f| amplitude(&pcm, f).round()).collect()
}

/// `[[agents]]` at a fixed contact (`skills` as TOML list items).
pub fn agent_toml(id: &str, desk: &Desk, skills: &str, supervisor: bool) -> String {
    format!(
        "[[agents]]\nid = \"{id}\"\nname = \"Agent {id}\"\ncontact = \"{}\"\nskills = [{skills}]\nsupervisor = {supervisor}\n",
        desk.contact
    )
}
