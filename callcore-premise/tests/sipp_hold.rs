//! A held call through the premise center, against SIPp on both sides: agent
//! 1001's phone registers with digest auth (one SIPp) and answers on a SIPp
//! UAS; a SIPp caller dials the IVR and presses 2 (RFC 4733) for support; the
//! agent's phone puts the caller on hold with a re-INVITE (`a=sendonly`),
//! resumes (`a=sendrecv`) and hangs up; the disposition is set through
//! `CenterHandle::set_disposition` while they talk. Asserted: the
//! interaction's event sequence, and the record read back from SQLite —
//! `queued_at`, `hold_ms`, `recordings`, `disposition`.
//!
//! Skipped with a notice without sipp, unless `CALLCORE_REQUIRE_PEERS=1`.
//! SIPp's `play_pcap_audio` needs root or CAP_NET_RAW.

#![allow(clippy::unwrap_used, clippy::expect_used)]
// Real peers run in wall-clock time.
#![allow(clippy::disallowed_methods)]

use std::net::UdpSocket;
use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use callcore::{Disposition, EndReason, Event, EventKind, Timestamp};
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
            "NOTICE: sipp not found; skipping the premise hold test (apt-get install -y sip-tester)"
        );
    }
    found
}

/// A free UDP port in `lo..hi` (the test ranges: SIP 21000-21999, RTP
/// 22000-23999), starting at a place that depends on the process.
fn port_in(lo: u16, hi: u16, salt: u16) -> u16 {
    let span = hi - lo;
    let start = (std::process::id() as u16)
        .wrapping_mul(13)
        .wrapping_add(salt.wrapping_mul(97))
        % span;
    (0..span)
        .map(|i| lo + (start + i) % span)
        .find(|p| UdpSocket::bind(("127.0.0.1", *p)).is_ok())
        .expect("a free port")
}

fn sipp(port: u16, media: u16, args: &[&str]) -> Command {
    let mut cmd = Command::new("sipp");
    cmd.args(args)
        .args(["-i", "127.0.0.1", "-p", &port.to_string()])
        .args(["-mi", "127.0.0.1", "-mp", &media.to_string()])
        .args(["-m", "1", "-nostdin", "-timeout", "60s", "-timeout_error"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    cmd
}

async fn passed(child: tokio::process::Child, who: &str) {
    let out = tokio::time::timeout(Duration::from_secs(70), child.wait_with_output())
        .await
        .expect("sipp finished")
        .unwrap();
    assert!(
        out.status.success(),
        "{who}: sipp failed ({:?}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

fn scenario(name: &str) -> String {
    format!("{}/tests/sipp/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// The caller: dials, presses the digits of `pcap` once answered, stays until
/// the center hangs up.
fn caller_scenario(pcap: &Path) -> String {
    format!(
        r#"<?xml version="1.0" encoding="ISO-8859-1" ?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<scenario name="caller_dtmf">
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
      o=caller 1 1 IN IP[local_ip_type] [media_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP 0 101
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
  <pause milliseconds="500"/>
  <nop>
    <action>
      <exec play_pcap_audio="{}"/>
    </action>
  </nop>
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
"#,
        pcap.display()
    )
}

fn rtp(pt: u8, marker: bool, seq: u16, ts: u32, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0x80, (u8::from(marker) << 7) | pt];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&ts.to_be_bytes());
    p.extend_from_slice(&0x00C0_FFEEu32.to_be_bytes());
    p.extend_from_slice(payload);
    p
}

/// An Ethernet/IPv4/UDP pcap of µ-law silence with one RFC 4733 `digit`
/// (payload type 101) for SIPp's `play_pcap_audio` (it rewrites addresses and
/// keeps the timing).
fn dtmf_pcap(digit: u8) -> Vec<u8> {
    let mut packets: Vec<(u64, Vec<u8>)> = Vec::new();
    let (mut seq, mut ts, mut t_us) = (1u16, 0u32, 0u64);
    let mut silence = |n: usize, seq: &mut u16, ts: &mut u32, t: &mut u64| {
        for _ in 0..n {
            packets.push((*t, rtp(0, false, *seq, *ts, &[0xFF; 160])));
            *seq = seq.wrapping_add(1);
            *ts = ts.wrapping_add(160);
            *t += 20_000;
        }
    };
    silence(10, &mut seq, &mut ts, &mut t_us);
    let mut events = Vec::new();
    for i in 1..=8u16 {
        let dur = (i * 160).to_be_bytes();
        events.push((
            t_us,
            rtp(101, i == 1, seq, ts, &[digit, 10, dur[0], dur[1]]),
        ));
        seq = seq.wrapping_add(1);
        t_us += 20_000;
    }
    let dur = 1280u16.to_be_bytes();
    for _ in 0..3 {
        events.push((
            t_us,
            rtp(101, false, seq, ts, &[digit, 0x80 | 10, dur[0], dur[1]]),
        ));
        seq = seq.wrapping_add(1);
    }
    ts = ts.wrapping_add(1280);
    let mut silence_after = Vec::new();
    for _ in 0..10 {
        silence_after.push((t_us, rtp(0, false, seq, ts, &[0xFF; 160])));
        seq = seq.wrapping_add(1);
        ts = ts.wrapping_add(160);
        t_us += 20_000;
    }
    packets.extend(events);
    packets.extend(silence_after);
    let mut out = Vec::new();
    out.extend_from_slice(&0xA1B2_C3D4u32.to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&4u16.to_le_bytes());
    out.extend_from_slice(&[0; 8]);
    out.extend_from_slice(&65535u32.to_le_bytes());
    out.extend_from_slice(&1u32.to_le_bytes());
    for (t, payload) in packets {
        let udp_len = (8 + payload.len()) as u16;
        let mut ip = vec![0x45, 0];
        ip.extend_from_slice(&(20 + udp_len).to_be_bytes());
        ip.extend_from_slice(&[0, 0, 0x40, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2]);
        let mut sum: u32 = ip
            .chunks(2)
            .map(|c| u32::from(u16::from_be_bytes([c[0], c[1]])))
            .sum();
        while sum > 0xFFFF {
            sum = (sum >> 16) + (sum & 0xFFFF);
        }
        let c = (!(sum as u16)).to_be_bytes();
        ip[10] = c[0];
        ip[11] = c[1];
        let mut frame = vec![0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 1, 8, 0];
        frame.extend_from_slice(&ip);
        frame.extend_from_slice(&40000u16.to_be_bytes());
        frame.extend_from_slice(&20000u16.to_be_bytes());
        frame.extend_from_slice(&udp_len.to_be_bytes());
        frame.extend_from_slice(&[0, 0]);
        frame.extend_from_slice(&payload);
        out.extend_from_slice(&((t / 1_000_000) as u32).to_le_bytes());
        out.extend_from_slice(&((t % 1_000_000) as u32).to_le_bytes());
        out.extend_from_slice(&(frame.len() as u32).to_le_bytes());
        out.extend_from_slice(&(frame.len() as u32).to_le_bytes());
        out.extend_from_slice(&frame);
    }
    out
}

fn at_of(seen: &[Arc<Event>], name: &str) -> Timestamp {
    seen.iter()
        .find(|e| e.kind.name() == name)
        .unwrap_or_else(|| panic!("no {name} event"))
        .at
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_held_and_resumed_by_the_agents_phone_is_recorded_with_its_disposition() {
    if !sipp_available() {
        return;
    }
    let dir = std::env::temp_dir().join(format!("callcore-premise-hold-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let sip_port = port_in(21000, 21999, 1);
    let rtp = port_in(22000, 23900, 1) & !1;
    let toml = format!(
        r#"[sip]
bind = "127.0.0.1:{sip_port}"
tcp = false
digest = ["MD5"]
[media]
rtp_first = {rtp}
rtp_last = {}
[http]
bind = "127.0.0.1:0"
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
wrap_up_secs = 1
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
    let center = premise.center().clone();
    let mut events = center.subscribe();

    // Agent 1001: a UAS that holds and resumes, registered by a second SIPp.
    let uas_port = port_in(21000, 21999, 2);
    let agent = sipp(
        uas_port,
        port_in(22000, 23999, 2),
        &["-sf", &scenario("agent_hold.xml"), "-rtp_echo"],
    )
    .spawn()
    .unwrap();
    let register = sipp(
        port_in(21000, 21999, 3),
        port_in(22000, 23999, 3),
        &[
            "-sf",
            &scenario("agent_register.xml"),
            "-ap",
            "alice1001",
            "-key",
            "uas_port",
            &uas_port.to_string(),
            &format!("127.0.0.1:{sip_port}"),
        ],
    )
    .spawn()
    .unwrap();
    passed(register, "register").await;
    // the agent (logged in available) is reachable once the presence loop sees
    // the registration
    let available = async {
        loop {
            let e = events.recv().await.unwrap();
            if let EventKind::AgentReachabilityChanged {
                reachable: true, ..
            } = &e.kind
            {
                return;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(10), available)
        .await
        .expect("agent 1001 available");

    let pcap = dir.join("press2.pcap");
    std::fs::write(&pcap, dtmf_pcap(2)).unwrap();
    let caller_xml = dir.join("caller.xml");
    std::fs::write(&caller_xml, caller_scenario(&pcap)).unwrap();
    let caller = sipp(
        port_in(21000, 21999, 4),
        port_in(22000, 23999, 4),
        &[
            "-sf",
            caller_xml.to_str().unwrap(),
            "-s",
            "ivr",
            &format!("127.0.0.1:{sip_port}"),
        ],
    )
    .spawn()
    .unwrap();

    // Follow the call; set the disposition while the agent talks.
    let mut seen: Vec<Arc<Event>> = Vec::new();
    let follow = async {
        let mut stopped = false;
        let mut usage = false;
        while !(stopped && usage) {
            let e = events.recv().await.unwrap();
            match &e.kind {
                EventKind::Connected { interaction, .. } => {
                    center
                        .set_disposition(interaction, Disposition::Agent("resolved".into()))
                        .await
                        .unwrap();
                }
                EventKind::RecordingStopped { .. } => stopped = true,
                EventKind::Usage { .. } => usage = true,
                _ => {}
            }
            seen.push(e);
        }
    };
    tokio::time::timeout(Duration::from_secs(60), follow)
        .await
        .expect("the call ended and its recording stopped");
    passed(caller, "caller").await;
    passed(agent, "agent").await;

    let id = seen
        .iter()
        .find_map(|e| match &e.kind {
            EventKind::Connected { interaction, .. } => Some(interaction.clone()),
            _ => None,
        })
        .unwrap();
    let mine: Vec<Arc<Event>> = seen
        .iter()
        .filter(|e| e.interaction() == Some(&id))
        .cloned()
        .collect();
    // up to the end (after-call work and the recording's end may follow)
    let names: Vec<&str> = mine
        .iter()
        .map(|e| e.kind.name())
        .filter(|n| !matches!(*n, "flow_step" | "context_shared" | "recording_stopped"))
        .take_while(|n| !n.starts_with("wrap_up"))
        .collect();
    assert_eq!(
        names,
        [
            "interaction_created",
            "queued",
            "offered",
            "offer_accepted",
            "connected",
            "recording_started",
            "disposition_set",
            "held",
            "resumed",
            "ended"
        ],
        "{names:?}"
    );
    assert!(mine.iter().any(|e| matches!(
        &e.kind,
        EventKind::Ended {
            reason: EndReason::AgentHangup,
            ..
        }
    )));
    let hold = at_of(&mine, "resumed").duration_since(at_of(&mine, "held"));
    assert!(
        hold >= Duration::from_millis(1500) && hold <= Duration::from_millis(3500),
        "the phone held about 2 s: {hold:?}"
    );

    // The record, read back from SQLite.
    let records = premise.records().await.unwrap();
    let record = records
        .iter()
        .find(|r| r.id == id)
        .expect("record in SQLite");
    assert_eq!(record.queued_at, Some(at_of(&mine, "queued")));
    assert_eq!(
        u128::from(record.hold_ms),
        hold.as_millis(),
        "hold_ms from Held to Resumed"
    );
    let recording = mine
        .iter()
        .find_map(|e| match &e.kind {
            EventKind::RecordingStarted { recording, .. } => Some(recording.clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!(record.recordings, vec![recording.clone()]);
    assert_eq!(
        record.disposition,
        Some(Disposition::Agent("resolved".into()))
    );
    assert_eq!(record.end_reason, Some(EndReason::AgentHangup));
    assert!(record.wait_ms > 0 && record.talk_ms > 0, "{record:?}");
    // the recording's file is filed, as long as the conversation
    let files = premise.recordings(&records).await.unwrap();
    let file = files
        .iter()
        .find(|m| m.id == recording)
        .expect("recording filed");
    assert!(file.duration_ms >= 3_000, "{file:?}");
    let stopped = mine
        .iter()
        .find_map(|e| match &e.kind {
            EventKind::RecordingStopped { duration_ms, .. } => Some(*duration_ms),
            _ => None,
        })
        .unwrap();
    assert_eq!(stopped, file.duration_ms);
    premise.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}
