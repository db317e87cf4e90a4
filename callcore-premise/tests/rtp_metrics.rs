//! RTP packets, loss and jitter in the premise's `/metrics`, fed by the media
//! engine of the running center. SIPp callers of the IVR play Debian's speech
//! pcap (`play_pcap_audio`, 236 packets of G.711 A-law):
//! - as recorded: the center counts the packets it received and expected and
//!   none lost;
//! - with every 10th packet cut out of the pcap (sequence gaps, as a lossy
//!   network leaves them): the center counts one in ten of the packets the
//!   sequence numbers span lost;
//! - the same lossy caller bridged to an agent (a DID straight to the queue,
//!   SIPp answering as the agent's phone and echoing RTP): the relay worker that
//!   carries the bridged call counts the loss the same way.
//!
//! Needs `sipp` (package `sip-tester`), its pcaps and root (raw sockets):
//! skipped with a notice otherwise, failing under `CALLCORE_REQUIRE_PEERS=1`.

#![allow(clippy::unwrap_used, clippy::expect_used)]
// Real peers run in wall-clock time.
#![allow(clippy::disallowed_methods)]

mod support;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use callcore_premise::{Premise, PremiseConfig};
use support::{SPEECH, peers_ready, port_in};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::Command;

/// Packets in Debian's g711a.pcap.
const PCAP_PACKETS: usize = 236;

/// `SPEECH` without every 10th packet (records 10, 20 ... 230): 23 gaps.
fn gapped_pcap(to: &Path) -> usize {
    let raw = std::fs::read(SPEECH).unwrap();
    let mut out = raw[..24].to_vec();
    let (mut at, mut n, mut dropped) = (24, 0, 0);
    while at + 16 <= raw.len() {
        let len = u32::from_le_bytes(raw[at + 8..at + 12].try_into().unwrap()) as usize;
        let record = &raw[at..at + 16 + len];
        n += 1;
        if n % 10 == 0 {
            dropped += 1;
        } else {
            out.extend_from_slice(record);
        }
        at += 16 + len;
    }
    assert_eq!(n, PCAP_PACKETS, "the pcap Debian ships");
    std::fs::write(to, out).unwrap();
    dropped
}

/// The caller of `ops_caller.xml`, speaking A-law from `pcap` for 5.5 s after
/// `lead_in_ms` of silence.
fn caller_xml(dir: &Path, name: &str, pcap: &Path, lead_in_ms: u32) -> String {
    let scenario = std::fs::read_to_string(format!(
        "{}/tests/sipp/ops_caller.xml",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
    .replace("RTP/AVP 0 101", "RTP/AVP 8 101")
    .replace("a=rtpmap:0 PCMU/8000", "a=rtpmap:8 PCMA/8000")
    .replace(
        "<pause milliseconds=\"3000\"/>",
        &format!(
            "{}<nop><action><exec play_pcap_audio=\"{}\"/></action></nop>\n  <pause milliseconds=\"5500\"/>",
            if lead_in_ms > 0 {
                format!("<pause milliseconds=\"{lead_in_ms}\"/>\n  ")
            } else {
                String::new()
            },
            pcap.display()
        ),
    );
    assert!(scenario.contains("play_pcap_audio"));
    let path = dir.join(name);
    std::fs::write(&path, scenario).unwrap();
    path.display().to_string()
}

async fn call(center: SocketAddr, xml: &str, service: &str, salt: u16) {
    let out = Command::new("sipp")
        .arg(center.to_string())
        .args(["-sf", xml, "-s", service, "-m", "1"])
        .args([
            "-i",
            "127.0.0.1",
            "-p",
            &port_in(23000, 23099, salt).to_string(),
        ])
        .args(["-mi", "127.0.0.1", "-mp"])
        .arg((port_in(23100, 23198, salt) & !1).to_string())
        .args(["-nostdin", "-timeout", "60s", "-timeout_error"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(70), out)
        .await
        .expect("sipp finished")
        .unwrap();
    assert!(
        out.status.success(),
        "sipp failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `/metrics` as `name{labels}` → value.
async fn scrape(addr: SocketAddr) -> HashMap<String, f64> {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let req = format!("GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut raw))
        .await
        .expect("an HTTP answer")
        .unwrap();
    let text = String::from_utf8(raw).unwrap();
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    text.lines()
        .filter(|l| l.starts_with("callcore_rtp"))
        .filter_map(|l| l.rsplit_once(' '))
        .filter_map(|(k, v)| Some((k.to_owned(), v.parse().ok()?)))
        .collect()
}

fn get(m: &HashMap<String, f64>, k: &str) -> f64 {
    m.get(k).copied().unwrap_or(0.0)
}

/// Scrapes until the legs of the last call are retired (no live leg).
async fn settled(addr: SocketAddr) -> HashMap<String, f64> {
    let mut m = scrape(addr).await;
    for _ in 0..50 {
        if get(&m, "callcore_rtp_legs") == 0.0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        m = scrape(addr).await;
    }
    m
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_rtp_received_expected_and_lost() {
    if !peers_ready() {
        return;
    }
    let dir = std::env::temp_dir().join(format!("callcore-rtp-metrics-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let rtp = port_in(23200, 23280, 1) & !1;
    let toml = format!(
        "[http]\nbind = \"127.0.0.1:0\"\n[sip]\nbind = \"127.0.0.1:0\"\ntcp = false\n\
         [media]\nrtp_first = {rtp}\nrtp_last = {}\n\
         [storage]\ndata_dir = \"{}\"\nrecord_calls = false\n",
        rtp + 19,
        dir.display()
    );
    let premise = Premise::start(
        PremiseConfig::from_toml(&callcore_premise::with_demo_agents(&toml)).unwrap(),
    )
    .await
    .unwrap();
    let http = premise.http_addr().unwrap();
    let sip = premise.sip_addr();
    let before = scrape(http).await;
    assert_eq!(get(&before, "callcore_rtp_packets_lost_total"), 0.0);

    // the pcap as recorded: nothing lost
    let clean = caller_xml(&dir, "clean.xml", Path::new(SPEECH), 0);
    call(sip, &clean, "ivr", 1).await;
    let one = settled(http).await;
    eprintln!("after the clean call: {one:?}");
    let received = get(&one, "callcore_rtp_packets_received_total");
    let expected = get(&one, "callcore_rtp_packets_expected_total");
    // the center hears the caller from when its leg's media starts, a little
    // after the answer: most of the pcap, not all of it
    assert!(
        received >= (PCAP_PACKETS / 2) as f64 && received <= PCAP_PACKETS as f64,
        "the caller's packets were counted: {one:?}"
    );
    // the first packet of a source opens its probation (RFC 3550 A.1)
    assert_eq!(expected, received - 1.0, "{one:?}");
    assert_eq!(get(&one, "callcore_rtp_packets_lost_total"), 0.0, "{one:?}");
    assert!(
        get(&one, "callcore_rtp_packets_sent_total") > 20.0,
        "{one:?}"
    );
    let legs = "callcore_rtp_leg_jitter_seconds_count";
    assert_eq!(get(&one, legs), 1.0, "the ended leg's jitter: {one:?}");
    assert_eq!(
        get(&one, "callcore_rtp_leg_jitter_seconds_bucket{le=\"+Inf\"}"),
        1.0
    );

    // every 10th packet missing
    let pcap = dir.join("gapped.pcap");
    let dropped = gapped_pcap(&pcap);
    assert_eq!(dropped, 23);
    let lossy = caller_xml(&dir, "lossy.xml", &pcap, 0);
    call(sip, &lossy, "ivr", 2).await;
    let two = settled(http).await;
    eprintln!("after the lossy call: {two:?}");
    let lost =
        get(&two, "callcore_rtp_packets_lost_total") - get(&one, "callcore_rtp_packets_lost_total");
    let got = get(&two, "callcore_rtp_packets_received_total") - received;
    let exp = get(&two, "callcore_rtp_packets_expected_total") - expected;
    // one packet in ten of those the sequence numbers span is missing
    assert!(
        lost >= (dropped / 2) as f64 && (lost - exp / 10.0).abs() <= 2.0,
        "{lost} lost of {exp} expected ({dropped} cut out of the whole pcap): {two:?}"
    );
    assert_eq!(exp - (got - 1.0), lost, "expected − received = lost");
    assert_eq!(get(&two, legs), 2.0, "{two:?}");
    premise.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bridged_call_counts_its_loss_in_the_relay() {
    if !peers_ready() {
        return;
    }
    let dir = std::env::temp_dir().join(format!("callcore-rtp-bridged-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let rtp = port_in(23300, 23380, 3) & !1;
    let phone = port_in(23400, 23450, 4);
    let toml = format!(
        "[http]\nbind = \"127.0.0.1:0\"\n[sip]\nbind = \"127.0.0.1:0\"\ntcp = false\n\
         [media]\nrtp_first = {rtp}\nrtp_last = {}\n\
         [storage]\ndata_dir = \"{}\"\nrecord_calls = false\n\
         [[queues]]\nid = \"support\"\nskill = \"support\"\n[[queues]]\nid = \"billing\"\nskill = \"billing\"\n\
         [[agents]]\nid = \"2001\"\ncontact = \"sip:2001@127.0.0.1:{phone}\"\nskills = [\"support\"]\n\
         [[dids]]\nnumber = \"+4930100200\"\nqueue = \"support\"\n",
        rtp + 19,
        dir.display()
    );
    let premise = Premise::start(
        PremiseConfig::from_toml(&callcore_premise::with_demo_agents(&toml)).unwrap(),
    )
    .await
    .unwrap();
    let agent_phone = Command::new("sipp")
        .args(["-sn", "uas", "-rtp_echo", "-m", "1"])
        .args(["-i", "127.0.0.1", "-p", &phone.to_string()])
        .args(["-mi", "127.0.0.1", "-mp"])
        .arg((port_in(23452, 23498, 5) & !1).to_string())
        .args(["-nostdin", "-timeout", "60s"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let http = premise.http_addr().unwrap();
    let pcap = dir.join("gapped.pcap");
    gapped_pcap(&pcap);
    // the agent answers within a second or two; the caller speaks after 3 s
    let lossy = caller_xml(&dir, "bridged.xml", &pcap, 3000);
    call(premise.sip_addr(), &lossy, "+4930100200", 6).await;
    let m = settled(http).await;
    eprintln!("after the bridged call: {m:?}");
    assert_eq!(
        premise.ops().calls().answered.values().sum::<u64>(),
        1,
        "the caller reached the agent"
    );
    assert!(
        get(&m, "callcore_rtp_packets_relayed_total") > 100.0,
        "the relay carried the caller's audio: {m:?}"
    );
    let lost = get(&m, "callcore_rtp_packets_lost_total");
    let expected = get(&m, "callcore_rtp_packets_expected_total");
    // the caller's leg lost one in ten; the relay passes the gaps on to the
    // agent's phone and SIPp's echo brings them back: the agent's leg too
    assert!(
        lost >= 15.0 && (lost - expected / 10.0).abs() <= 3.0,
        "{lost} lost of {expected}: {m:?}"
    );
    drop(agent_phone);
    premise.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}
