//! A caller waiting in queue through the premise center, with SIPp as the
//! caller's signalling and the test's own RTP socket as the caller's media
//! (the SDP SIPp offers names it): the caller picks the support queue with an
//! RFC 4733 key, hears music on hold while no agent is there (RTP with
//! energy), presses the callback key, hears the confirmation and is hung up
//! on; the ACD keeps the caller's place for the call back.
//!
//! Skipped with a notice without sipp, unless `CALLCORE_REQUIRE_PEERS=1`.
//! Ports: 33000-33999 on 127.0.0.1.

#![allow(clippy::unwrap_used, clippy::expect_used)]
// Real peers run in wall-clock time.
#![allow(clippy::disallowed_methods)]

use std::net::{SocketAddr, UdpSocket};
use std::process::Stdio;
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use callcore::{AgentId, AgentState, Destination, EndReason, EventKind};
use callcore_premise::{Premise, PremiseConfig};
use tokio::process::Command;

fn sipp_available() -> bool {
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
            "NOTICE: sipp not found; skipping the queue-wait test (apt-get install -y sip-tester)"
        );
    }
    found
}

/// A free UDP port in `lo..hi` (even when `even`), starting at a place that
/// depends on the process.
fn port_in(lo: u16, hi: u16, salt: u16, even: bool) -> u16 {
    let span = hi - lo;
    let start = (std::process::id() as u16)
        .wrapping_mul(13)
        .wrapping_add(salt.wrapping_mul(97))
        % span;
    (0..span)
        .map(|i| lo + (start + i) % span)
        .filter(|p| !even || p % 2 == 0)
        .find(|p| UdpSocket::bind(("127.0.0.1", *p)).is_ok())
        .expect("a free port")
}

/// SIPp's caller: its SDP names `media` (the test's socket) for RTP; it waits
/// for the center's BYE.
fn caller_scenario(media: u16) -> String {
    format!(
        r#"<?xml version="1.0" encoding="ISO-8859-1" ?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<scenario name="waiting_caller">
  <send retrans="500">
    <![CDATA[
      INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: "sipp" <sip:+4930123456@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>
      Call-ID: [call_id]
      CSeq: 1 INVITE
      Contact: <sip:caller@[local_ip]:[local_port]>
      Max-Forwards: 70
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=caller 1 1 IN IP4 127.0.0.1
      s=-
      c=IN IP4 127.0.0.1
      t=0 0
      m=audio {media} RTP/AVP 0 101
      a=rtpmap:0 PCMU/8000
      a=rtpmap:101 telephone-event/8000
      a=fmtp:101 0-16
      a=sendrecv
    ]]>
  </send>
  <recv response="100" optional="true"/>
  <recv response="180" optional="true"/>
  <recv response="200" rtd="true" rrs="true"/>
  <send>
    <![CDATA[
      ACK [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: "sipp" <sip:+4930123456@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 1 ACK
      [routes]
      Contact: <sip:caller@[local_ip]:[local_port]>
      Max-Forwards: 70
      Content-Length: 0
    ]]>
  </send>
  <recv request="BYE" timeout="50000"/>
  <send>
    <![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0
    ]]>
  </send>
</scenario>
"#
    )
}

/// The caller's media: receives the center's RTP and measures it; a thread
/// sends like a phone does (a frame every 20 ms: silence, "speech" or an
/// RFC 4733 key) once it knows where the center's RTP comes from.
struct Media {
    socket: UdpSocket,
    center: Arc<Mutex<Option<SocketAddr>>>,
    out: mpsc::Sender<Out>,
}

/// What the sending thread is asked to send.
enum Out {
    Speak(u32),
    Press(u8),
}

/// µ-law to linear (G.711).
fn ulaw(b: u8) -> i16 {
    let b = !b;
    let sign = b & 0x80;
    let exponent = (b >> 4) & 0x07;
    let mantissa = i32::from(b & 0x0F);
    let magnitude = (((mantissa << 3) + 0x84) << exponent) - 0x84;
    let v = if sign != 0 { -magnitude } else { magnitude };
    i16::try_from(v).unwrap_or(0)
}

fn rtp(seq: u16, pt: u8, marker: bool, ts: u32, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0x80, (u8::from(marker) << 7) | pt];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&ts.to_be_bytes());
    p.extend_from_slice(&0x0BAD_CAFEu32.to_be_bytes());
    p.extend_from_slice(payload);
    p
}

/// The phone's sending side: ends when the [`Media`] is dropped.
fn send_like_a_phone(
    socket: UdpSocket,
    center: Arc<Mutex<Option<SocketAddr>>>,
    out: mpsc::Receiver<Out>,
) {
    let silence = [0xFFu8; 160];
    let speech: Vec<u8> = (0..160)
        .map(|i| if i % 8 < 4 { 0x10 } else { 0x90 })
        .collect();
    let (mut seq, mut ts) = (1u16, 0u32);
    let mut speak = 0u32;
    let mut key: Option<(u8, u16)> = None;
    loop {
        std::thread::sleep(Duration::from_millis(20));
        match out.try_recv() {
            Ok(Out::Speak(n)) => speak = n,
            Ok(Out::Press(d)) => key = Some((d, 0)),
            Err(mpsc::TryRecvError::Disconnected) => return,
            Err(mpsc::TryRecvError::Empty) => {}
        }
        let Some(to) = *center.lock().unwrap() else {
            continue;
        };
        let mut packets = Vec::new();
        if let Some((d, i)) = key {
            // 160 ms of the key, then its end three times; then audio again
            if i < 8 {
                let dur = ((i + 1) * 160).to_be_bytes();
                packets.push(rtp(seq, 101, i == 0, ts, &[d, 10, dur[0], dur[1]]));
                key = Some((d, i + 1));
            } else {
                let dur = 1280u16.to_be_bytes();
                for _ in 0..3 {
                    packets.push(rtp(seq, 101, false, ts, &[d, 0x80 | 10, dur[0], dur[1]]));
                    seq = seq.wrapping_add(1);
                }
                seq = seq.wrapping_sub(1);
                ts = ts.wrapping_add(1280 + 160);
                key = None;
            }
        } else {
            let payload = if speak > 0 { &speech[..] } else { &silence[..] };
            speak = speak.saturating_sub(1);
            packets.push(rtp(seq, 0, false, ts, payload));
            ts = ts.wrapping_add(160);
        }
        seq = seq.wrapping_add(1);
        for p in packets {
            let _ = socket.send_to(&p, to);
        }
    }
}

impl Media {
    fn bind(port: u16) -> Self {
        let socket = UdpSocket::bind(("127.0.0.1", port)).unwrap();
        socket
            .set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        let center = Arc::new(Mutex::new(None));
        let (out, rx) = mpsc::channel();
        let sender = socket.try_clone().unwrap();
        let c = center.clone();
        std::thread::spawn(move || send_like_a_phone(sender, c, rx));
        Media {
            socket,
            center,
            out,
        }
    }

    /// Reads RTP for `d`: (packets, loudest 20 ms frame as mean |sample|,
    /// frames above 300).
    fn listen(&mut self, d: Duration) -> (u32, f64, u32) {
        let until = Instant::now() + d;
        let (mut packets, mut loudest, mut loud) = (0, 0.0f64, 0);
        let mut buf = [0u8; 2048];
        while Instant::now() < until {
            let Some(level) = self.frame(&mut buf) else {
                continue;
            };
            packets += 1;
            loudest = loudest.max(level);
            loud += u32::from(level > 300.0);
        }
        (packets, loudest, loud)
    }

    /// The next audio frame's level (mean |sample|), if one came.
    fn frame(&mut self, buf: &mut [u8]) -> Option<f64> {
        let (n, from) = self.socket.recv_from(buf).ok()?;
        if n <= 12 || buf[1] & 0x7F != 0 {
            return None;
        }
        *self.center.lock().unwrap() = Some(from);
        let payload = &buf[12..n];
        Some(
            payload
                .iter()
                .map(|b| f64::from(ulaw(*b)).abs())
                .sum::<f64>()
                / payload.len() as f64,
        )
    }

    /// Reads RTP until the center has been loud and then quiet for 800 ms
    /// (a prompt ended), at most `d`.
    fn until_prompt_ends(&mut self, d: Duration) {
        let until = Instant::now() + d;
        let mut buf = [0u8; 2048];
        // what came while nobody read is the past
        self.socket.set_nonblocking(true).unwrap();
        while self.socket.recv_from(&mut buf).is_ok() {}
        self.socket.set_nonblocking(false).unwrap();
        let (mut loud, mut quiet) = (false, 0u32);
        while Instant::now() < until {
            let Some(level) = self.frame(&mut buf) else {
                continue;
            };
            if level > 300.0 {
                loud = true;
                quiet = 0;
            } else if loud {
                quiet += 1;
                if quiet >= 40 {
                    return;
                }
            }
        }
    }

    /// Speaks (a loud µ-law square wave) for `frames` × 20 ms.
    fn speak(&mut self, frames: u32) {
        self.out.send(Out::Speak(frames)).unwrap();
        let _ = self.listen(Duration::from_millis(20 * u64::from(frames) + 40));
    }

    /// Presses `digit` (RFC 4733, payload type 101).
    fn press(&mut self, digit: u8) {
        self.out.send(Out::Press(digit)).unwrap();
        let _ = self.listen(Duration::from_millis(300));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waiting_caller_hears_music_on_hold_and_asks_for_a_callback_with_a_key() {
    if !sipp_available() {
        return;
    }
    let dir = std::env::temp_dir().join(format!("callcore-queue-wait-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let sip_port = port_in(33000, 33099, 1, false);
    let rtp = port_in(33100, 33400, 1, true);
    let toml = format!(
        r#"[sip]
bind = "127.0.0.1:{sip_port}"
tcp = false
[media]
rtp_first = {rtp}
rtp_last = {}
[http]
enabled = false
[storage]
data_dir = "{}"
record_calls = false
[ivr]
greeting = "Hello."
menu = [{{ key = "2", label = "support", queue = "support" }}]
default_queue = "support"
[[queues]]
id = "support"
skill = "support"
announce_every_secs = 60
callback_key = "1"
[callbacks]
allow = ["+4930*"]
[[agents]]
id = "1001"
name = "Alice"
password = "alice1001"
skills = ["support"]
"#,
        rtp + 39,
        dir.display()
    );
    let premise = Premise::start(
        PremiseConfig::from_toml(&callcore_premise::with_demo_agents(&toml)).unwrap(),
    )
    .await
    .unwrap();
    let mut events = premise.center().subscribe();

    let probe = port_in(33500, 33599, 2, true);
    let mut media = Media::bind(probe);
    let caller_xml = dir.join("caller.xml");
    std::fs::write(&caller_xml, caller_scenario(probe)).unwrap();
    let caller = Command::new("sipp")
        .args(["-sf", caller_xml.to_str().unwrap(), "-s", "ivr"])
        .arg(format!("127.0.0.1:{sip_port}"))
        .args(["-i", "127.0.0.1", "-p"])
        .arg(port_in(33600, 33699, 3, false).to_string())
        .args(["-m", "1", "-nostdin", "-timeout", "60s", "-timeout_error"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();

    // The greeting and the menu: press 2 for support once the center is heard.
    let media = tokio::task::spawn_blocking(move || {
        let (packets, ..) = media.listen(Duration::from_secs(2));
        assert!(packets > 0, "the center sends RTP");
        media.press(2);
        media
    })
    .await
    .unwrap();
    let queued = async {
        loop {
            let e = events.recv().await.unwrap();
            if matches!(e.kind, EventKind::Queued { .. }) {
                return e.interaction().cloned().unwrap();
            }
        }
    };
    let id = tokio::time::timeout(Duration::from_secs(20), queued)
        .await
        .expect("queued for support");

    // Waiting: the callback offer, then music on hold (the transport's
    // built-in music); then the callback key.
    let (media, music) = tokio::task::spawn_blocking(move || {
        let mut media = media;
        let _offer = media.listen(Duration::from_secs(6));
        let music = media.listen(Duration::from_millis(4500));
        media.press(1);
        let _confirmation = media.listen(Duration::from_secs(1));
        (media, music)
    })
    .await
    .unwrap();
    let (packets, loudest, loud) = music;
    eprintln!("waiting: {packets} RTP packets in 4.5 s, {loud} loud frames, loudest {loudest:.0}");
    assert!(
        packets > 150,
        "a steady RTP stream while waiting: {packets}"
    );
    assert!(
        loudest > 300.0,
        "music on hold has energy (loudest frame's mean |sample| {loudest:.0})"
    );

    let ended = async {
        let mut exited = false;
        loop {
            let e = events.recv().await.unwrap();
            if e.interaction() != Some(&id) {
                continue;
            }
            match &e.kind {
                EventKind::QueueExited { reason, .. } if reason == "callback" => exited = true,
                EventKind::Ended { reason, .. } => return (exited, reason.clone()),
                _ => {}
            }
        }
    };
    let (exited, reason) = tokio::time::timeout(Duration::from_secs(30), ended)
        .await
        .expect("the call ended");
    assert!(exited, "the caller left the queue for a callback");
    assert_eq!(reason, EndReason::CallbackRequested);
    let out = tokio::time::timeout(Duration::from_secs(30), caller.wait_with_output())
        .await
        .expect("sipp finished")
        .unwrap();
    assert!(
        out.status.success(),
        "caller: sipp failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    drop(media);
    // the ACD keeps the caller's place (a callback, no abandonment); the
    // center calls back when an agent takes it: nothing in the flow's book
    let booked = premise.callbacks().lock().unwrap().waiting().to_vec();
    assert!(booked.is_empty(), "{booked:?}");
    let snapshot = premise.center().snapshot().await.unwrap();
    let support = snapshot
        .queues
        .iter()
        .find(|q| q.queue.as_str() == "support")
        .unwrap();
    assert_eq!(
        support.waiting,
        std::slice::from_ref(&id),
        "the place is kept"
    );
    premise.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

fn harness(file: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../scripts/premise-load")
        .join(file)
}

/// Mean absolute sample of a 16-bit mono WAV's data.
fn wav_level(wav: &[u8]) -> f64 {
    let data = wav
        .windows(4)
        .position(|w| w == b"data")
        .map_or(44, |p| p + 8);
    let samples: Vec<i16> = wav[data..]
        .chunks_exact(2)
        .map(|c| i16::from_le_bytes([c[0], c[1]]))
        .collect();
    samples.iter().map(|s| f64::from(*s).abs()).sum::<f64>() / samples.len().max(1) as f64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_the_maximum_wait_a_caller_leaves_a_voicemail_that_reaches_an_agents_phone() {
    if !sipp_available() {
        return;
    }
    let dir = std::env::temp_dir().join(format!("callcore-voicemail-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let sip_port = port_in(33000, 33099, 11, false);
    let rtp = port_in(33100, 33400, 11, true);
    let uas_port = port_in(33800, 33899, 11, false);
    let toml = format!(
        r#"[sip]
bind = "127.0.0.1:{sip_port}"
tcp = false
[media]
rtp_first = {rtp}
rtp_last = {}
[http]
enabled = false
[storage]
data_dir = "{}"
record_calls = false
[ivr]
greeting = "Hello."
menu = [{{ key = "2", label = "support", queue = "support" }}]
default_queue = "support"
[[queues]]
id = "support"
skill = "support"
max_wait_secs = 3
overflow = "voicemail"
[[agents]]
id = "2001"
contact = "sip:2001@127.0.0.1:{uas_port}"
skills = ["support"]
"#,
        rtp + 39,
        dir.display()
    );
    let premise = Premise::start(
        PremiseConfig::from_toml(&callcore_premise::with_demo_agents(&toml)).unwrap(),
    )
    .await
    .unwrap();
    let center = premise.center().clone();
    // the agent is on a break while the caller waits
    center
        .set_agent_state(&AgentId::new("2001"), AgentState::NotReady("break".into()))
        .await
        .unwrap();
    let mut events = center.subscribe();
    let uas = Command::new("sipp")
        .arg("-sf")
        .arg(harness("agents.xml"))
        .arg("-rtp_echo")
        .args(["-i", "127.0.0.1", "-p", &uas_port.to_string()])
        .args(["-mi", "127.0.0.1", "-mp"])
        .arg(port_in(33900, 33998, 12, true).to_string())
        .args(["-m", "1", "-nostdin", "-timeout", "60s", "-timeout_error"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();

    let probe = port_in(33500, 33599, 12, true);
    let mut media = Media::bind(probe);
    let caller_xml = dir.join("caller.xml");
    std::fs::write(&caller_xml, caller_scenario(probe)).unwrap();
    let caller = Command::new("sipp")
        .args(["-sf", caller_xml.to_str().unwrap(), "-s", "ivr"])
        .arg(format!("127.0.0.1:{sip_port}"))
        .args(["-i", "127.0.0.1", "-p"])
        .arg(port_in(33600, 33699, 13, false).to_string())
        .args(["-m", "1", "-nostdin", "-timeout", "60s", "-timeout_error"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let media = tokio::task::spawn_blocking(move || {
        let (packets, ..) = media.listen(Duration::from_secs(2));
        assert!(packets > 0, "the center sends RTP");
        media.press(2);
        media
    })
    .await
    .unwrap();
    let overflowed = async {
        loop {
            let e = events.recv().await.unwrap();
            if let EventKind::Overflowed {
                interaction,
                destination: Destination::Voicemail,
                ..
            } = &e.kind
            {
                return interaction.clone();
            }
        }
    };
    let id = tokio::time::timeout(Duration::from_secs(20), overflowed)
        .await
        .expect("overflowed to voicemail after the maximum wait");
    // the voicemail prompt starts (the music's chime must not pass for it)
    let prompt = async {
        loop {
            let e = events.recv().await.unwrap();
            if let EventKind::FlowStep {
                interaction, step, ..
            } = &e.kind
                && *interaction == id
                && step == "say"
            {
                return;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(10), prompt)
        .await
        .expect("the voicemail prompt");
    // the prompt, then two seconds of message, then '#'
    let media = tokio::task::spawn_blocking(move || {
        let mut media = media;
        media.until_prompt_ends(Duration::from_secs(15));
        media.speak(100);
        media.press(11); // '#'
        let _ = media.listen(Duration::from_secs(1));
        media
    })
    .await
    .unwrap();
    let out = tokio::time::timeout(Duration::from_secs(30), caller.wait_with_output())
        .await
        .expect("the caller's sipp finished")
        .unwrap();
    assert!(
        out.status.success(),
        "caller: sipp failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    drop(media);

    // back from the break: the message rings the agent's phone
    center
        .set_agent_state(&AgentId::new("2001"), AgentState::Available)
        .await
        .unwrap();
    let message = callcore::InteractionId::from(format!("{id}-voicemail"));
    let delivered = async {
        loop {
            let e = events.recv().await.unwrap();
            if let EventKind::Ended {
                interaction,
                reason,
            } = &e.kind
                && *interaction == message
            {
                return reason.clone();
            }
        }
    };
    let reason = tokio::time::timeout(Duration::from_secs(40), delivered)
        .await
        .expect("the voicemail was delivered");
    assert_eq!(reason, EndReason::Completed);
    let uas = tokio::time::timeout(Duration::from_secs(30), uas.wait_with_output())
        .await
        .expect("the agent's sipp finished")
        .unwrap();
    assert!(
        uas.status.success(),
        "agent: sipp failed: {}",
        String::from_utf8_lossy(&uas.stderr)
    );
    let records = premise.records().await.unwrap();
    let message_record = records.iter().find(|r| r.id == message).expect("record");
    assert_eq!(message_record.agent, Some(AgentId::new("2001")));
    let caller_record = records
        .iter()
        .find(|r| r.id == id)
        .expect("caller's record");
    let recordings = premise
        .recordings(std::slice::from_ref(caller_record))
        .await
        .unwrap();
    assert_eq!(recordings.len(), 1, "{recordings:?}");
    let level = wav_level(&std::fs::read(&recordings[0].path).unwrap());
    eprintln!(
        "voicemail: {} ms, mean |sample| {level:.0}",
        recordings[0].duration_ms
    );
    assert!(
        level > 500.0,
        "the message has the caller's sound: {level:.0}"
    );
    premise.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}
