//! A caller waiting in queue through the premise center, with SIPp as the
//! caller's signalling and the test's own RTP socket as the caller's media
//! (the SDP SIPp offers names it): the caller picks the support queue with an
//! RFC 4733 key, hears music on hold while no agent is there (RTP with
//! energy), presses the callback key, hears the confirmation and is hung up
//! on; the callback is booked keeping the caller's place.
//!
//! Skipped with a notice without sipp, unless `CALLCORE_REQUIRE_PEERS=1`.
//! Ports: 33000-33999 on 127.0.0.1.

#![allow(clippy::unwrap_used, clippy::expect_used)]
// Real peers run in wall-clock time.
#![allow(clippy::disallowed_methods)]

use std::net::{SocketAddr, UdpSocket};
use std::process::Stdio;
use std::time::{Duration, Instant};

use callcore::{EndReason, EventKind};
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

/// The caller's media: receives the center's RTP, measures it, sends keys.
struct Media {
    socket: UdpSocket,
    center: Option<SocketAddr>,
    seq: u16,
    ts: u32,
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

impl Media {
    fn bind(port: u16) -> Self {
        let socket = UdpSocket::bind(("127.0.0.1", port)).unwrap();
        socket
            .set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        Media {
            socket,
            center: None,
            seq: 1,
            ts: 0,
        }
    }

    /// Reads RTP for `d`: (packets, loudest 20 ms frame as mean |sample|,
    /// frames above 300).
    fn listen(&mut self, d: Duration) -> (u32, f64, u32) {
        let until = Instant::now() + d;
        let (mut packets, mut loudest, mut loud) = (0, 0.0f64, 0);
        let mut buf = [0u8; 2048];
        while Instant::now() < until {
            let Ok((n, from)) = self.socket.recv_from(&mut buf) else {
                continue;
            };
            if n <= 12 || buf[1] & 0x7F != 0 {
                continue;
            }
            self.center = Some(from);
            packets += 1;
            let payload = &buf[12..n];
            let level = payload
                .iter()
                .map(|b| f64::from(ulaw(*b)).abs())
                .sum::<f64>()
                / payload.len() as f64;
            loudest = loudest.max(level);
            loud += u32::from(level > 300.0);
        }
        (packets, loudest, loud)
    }

    fn rtp(&mut self, pt: u8, marker: bool, ts: u32, payload: &[u8]) {
        let mut p = vec![0x80, (u8::from(marker) << 7) | pt];
        p.extend_from_slice(&self.seq.to_be_bytes());
        p.extend_from_slice(&ts.to_be_bytes());
        p.extend_from_slice(&0x0BAD_CAFEu32.to_be_bytes());
        p.extend_from_slice(payload);
        self.seq = self.seq.wrapping_add(1);
        let to = self
            .center
            .expect("the center's RTP address (heard it first)");
        self.socket.send_to(&p, to).unwrap();
    }

    /// Presses `digit` (RFC 4733, payload type 101): 160 ms, then the end
    /// packet three times.
    fn press(&mut self, digit: u8) {
        let start = self.ts;
        for i in 1..=8u16 {
            let dur = (i * 160).to_be_bytes();
            self.rtp(101, i == 1, start, &[digit, 10, dur[0], dur[1]]);
            std::thread::sleep(Duration::from_millis(20));
        }
        let dur = 1280u16.to_be_bytes();
        for _ in 0..3 {
            self.rtp(101, false, start, &[digit, 0x80 | 10, dur[0], dur[1]]);
        }
        self.ts = self.ts.wrapping_add(1280 + 160);
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
[[agents]]
id = "1001"
name = "Alice"
password = "alice1001"
skills = ["support"]
"#,
        rtp + 39,
        dir.display()
    );
    let premise = Premise::start(PremiseConfig::from_toml(&toml).unwrap())
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

    // Waiting: the callback offer, then music on hold (the built-in chime
    // sounds for 0.8 s every 4 s); then the callback key.
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
    let booked = premise.callbacks().lock().unwrap().waiting().to_vec();
    assert_eq!(booked.len(), 1, "{booked:?}");
    assert_eq!(booked[0].queue.as_str(), "support");
    assert!(
        booked[0].number.contains("4930123456"),
        "{}",
        booked[0].number
    );
    premise.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}
