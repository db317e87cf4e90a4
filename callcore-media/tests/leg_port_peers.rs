//! callcore's leg-media port against real peers, at the `Leg` level the runtime
//! and the dialer use (no `Center`): callcore-sip's `SipTransport` with
//! callcore-media's `RtpMedia` as its engine.
//! - SIPp's built-in `uac_pcap` calls in and plays Debian's `g711a.pcap` (7 s of
//!   A-law speech): `Leg::tap` hands the decoded frames to a sink, as loud as the
//!   pcap itself, with our own (silent) frames as outbound, and the sink is
//!   dropped when the call ends.
//! - The same caller bridged to a SIPp UAS that echoes RTP (placed through a
//!   trunk, as a dialer's line or an agent's phone): `Leg::bridge_recorded`
//!   reports the recording's start, then its stop with the length of the
//!   complete stereo file, which is filed under the requested interaction.
//!
//! Skipped with a notice when `sipp` is missing, unless `CALLCORE_REQUIRE_PEERS=1`.
//! SIPp's `play_pcap_audio` needs root or CAP_NET_RAW.

#![cfg(feature = "callcore-control")]
#![allow(clippy::unwrap_used, clippy::expect_used)]
// Real peers run in wall-clock time.
#![allow(clippy::disallowed_methods)]

mod sip_support;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use callcore::{
    Channel, Endpoint, FrameDirection, HangupCause, InteractionId, Leg, MixRole, PlaceRequest,
    RecordingRequest, Stores, TenantId, Transport,
};
use callcore_media::g711::Law;
use callcore_media::leg_port::{RtpMedia, RtpMediaConfig};
use callcore_media::level::{mean_power, power_to_dbm0};
use callcore_media::rtp::RtpPacket;
use callcore_runtime::SystemClock;
use callcore_sip::center::{SipCenterConfig, SipTransport};
use callcore_sip::trunk::{Trunk, TrunkKind};
use callcore_sip::ua::UaConfig;
use sip_support::{free_port, peer_available, temp_dir, wav_channel_power};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;

const PCAPS: &str = "/usr/share/sip-tester";

fn ready() -> bool {
    if !peer_available("sipp", "-v", "sip-tester") {
        return false;
    }
    let found = Path::new(PCAPS).join("g711a.pcap").exists();
    if !found {
        assert!(
            std::env::var("CALLCORE_REQUIRE_PEERS").as_deref() != Ok("1"),
            "{PCAPS}/g711a.pcap missing (package sip-tester)"
        );
        eprintln!("NOTICE: {PCAPS}/g711a.pcap missing; skipping (apt-get install -y sip-tester)");
    }
    found
}

/// The A-law audio of a pcap of one RTP stream (Ethernet, IPv4, UDP).
fn pcap_audio(path: &Path) -> Vec<i16> {
    let bytes = std::fs::read(path).unwrap();
    let mut at = 24;
    let mut pcm = Vec::new();
    while at + 16 <= bytes.len() {
        let len = u32::from_le_bytes(bytes[at + 8..at + 12].try_into().unwrap()) as usize;
        let frame = &bytes[at + 16..(at + 16 + len).min(bytes.len())];
        at += 16 + len;
        let Some(ip) = frame.get(14..) else { continue };
        let ihl = usize::from(ip.first().copied().unwrap_or(0x45) & 0x0F) * 4;
        let Some(udp) = ip.get(ihl..) else { continue };
        let Some(rtp) = udp.get(8..).and_then(|d| RtpPacket::parse(d).ok()) else {
            continue;
        };
        if rtp.payload_type == 8 {
            pcm.extend(rtp.payload.iter().map(|&c| Law::Alaw.decode(c)));
        }
    }
    pcm
}

/// Mean power in dBm0 of `pcm` between its first and last loud 20 ms frame.
fn speech_power(pcm: &[i16]) -> (f64, usize) {
    let loud: Vec<bool> = pcm
        .chunks(160)
        .map(|f| power_to_dbm0(mean_power(f)) > -45.0)
        .collect();
    let first = loud.iter().position(|&l| l).unwrap_or(0);
    let last = loud.iter().rposition(|&l| l).unwrap_or(0);
    let span = &pcm[first * 160..((last + 1) * 160).min(pcm.len())];
    (
        power_to_dbm0(mean_power(span)),
        loud.iter().filter(|&&l| l).count(),
    )
}

fn sip_config(trunks: Vec<Trunk>) -> SipCenterConfig {
    SipCenterConfig {
        ua: UaConfig::new(format!("127.0.0.1:{}", free_port()).parse().unwrap()),
        seed: 23.into(),
        tcp: false,
        tenant: TenantId::new("t1"),
        media_addr: "127.0.0.1:9".parse().unwrap(),
        trunks,
        from_domain: "127.0.0.1".into(),
    }
}

/// RTP ports for one test: 28800-28959, 29000-29159.
fn rtp_range(slot: u16) -> std::ops::RangeInclusive<u16> {
    let base = 28800 + slot * 200 + (std::process::id() % 10) as u16 * 16;
    base..=base + 15
}

/// SIPp's `uac_pcap` calling `target` once, from `dir` (where `pcap/` must be).
fn sipp_uac_pcap(target: u16, dir: &Path) -> Child {
    std::os::unix::fs::symlink(PCAPS, dir.join("pcap")).unwrap();
    Command::new("sipp")
        .arg(format!("127.0.0.1:{target}"))
        .args(["-sn", "uac_pcap", "-s", "ivr", "-m", "1", "-nostdin"])
        .args(["-i", "127.0.0.1", "-p", &free_port().to_string()])
        .args(["-mi", "127.0.0.1", "-mp", &free_port().to_string()])
        .args(["-ci", "127.0.0.1", "-cp", &free_port().to_string()])
        .args(["-timeout", "40s", "-timeout_error", "-trace_err"])
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap()
}

async fn succeeded(child: Child, what: &str) {
    let out = tokio::time::timeout(Duration::from_secs(30), child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("{what} did not finish"))
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{what} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Everything a sink received, by direction.
#[derive(Debug, Default)]
struct Heard {
    inbound: Vec<i16>,
    outbound: Vec<i16>,
    frames: usize,
}

/// Taps `leg` into a channel; the returned task completes when the sink is
/// dropped (the leg's media ended).
fn tap(leg: &dyn Leg) -> tokio::task::JoinHandle<Heard> {
    let (tx, mut rx) = mpsc::unbounded_channel::<(FrameDirection, Vec<i16>)>();
    leg.tap(Box::new(move |dir: FrameDirection, pcm: &[i16]| {
        tx.send((dir, pcm.to_vec())).is_ok()
    }))
    .expect("a SIP leg with RtpMedia can be tapped");
    tokio::spawn(async move {
        let mut heard = Heard::default();
        while let Some((dir, pcm)) = rx.recv().await {
            assert_eq!(pcm.len(), 160, "20 ms frames at 8 kHz");
            heard.frames += 1;
            match dir {
                FrameDirection::Inbound => heard.inbound.extend(pcm),
                _ => heard.outbound.extend(pcm),
            }
        }
        heard
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tap_hears_the_decoded_speech_sipp_plays() {
    if !ready() {
        return;
    }
    let dir = temp_dir("tap-pcap");
    let media = RtpMedia::new(RtpMediaConfig::loopback(rtp_range(0)));
    let sip = SipTransport::start(
        sip_config(Vec::new()),
        Arc::new(SystemClock),
        Some(Arc::new(media)),
    )
    .await
    .unwrap();
    let uac = sipp_uac_pcap(sip.local_addr().port(), &dir);
    let call = tokio::time::timeout(Duration::from_secs(10), sip.accept())
        .await
        .expect("SIPp called")
        .unwrap();
    let heard = tap(call.leg.as_ref());
    call.leg.answer().await.unwrap();
    let cause = tokio::time::timeout(Duration::from_secs(30), call.leg.ended())
        .await
        .expect("SIPp hung up");
    assert_eq!(cause, HangupCause::Remote);
    let heard = tokio::time::timeout(Duration::from_secs(5), heard)
        .await
        .expect("the sink is dropped when the leg's media ends")
        .unwrap();
    succeeded(uac, "sipp uac_pcap").await;

    let (want_db, want_loud) = speech_power(&pcap_audio(&Path::new(PCAPS).join("g711a.pcap")));
    let (got_db, got_loud) = speech_power(&heard.inbound);
    eprintln!(
        "tap: {} frames, {} ms in, {} ms out; speech {got_db:.1} dBm0 in {got_loud} loud frames \
         (pcap: {want_db:.1} dBm0 in {want_loud})",
        heard.frames,
        heard.inbound.len() / 8,
        heard.outbound.len() / 8
    );
    assert!(heard.inbound.len() >= 8000 * 7, "about 9 s of call");
    assert!(
        got_loud * 10 >= want_loud * 8,
        "the tap lost speech: {got_loud} loud frames of {want_loud}"
    );
    assert!((got_db - want_db).abs() < 3.0, "{got_db} vs {want_db} dBm0");
    // our side sent nothing but silence, frame for frame
    assert!(heard.outbound.len().abs_diff(heard.inbound.len()) <= 160 * 5);
    assert!(power_to_dbm0(mean_power(&heard.outbound)) < -60.0);
    let _ = std::fs::remove_dir_all(&dir);
}

fn sipp_echo_uas(port: u16, dir: &Path) -> Child {
    Command::new("sipp")
        .args(["-sn", "uas", "-rtp_echo", "-m", "1", "-nostdin"])
        .args(["-i", "127.0.0.1", "-p", &port.to_string()])
        .args(["-mi", "127.0.0.1", "-mp", &free_port().to_string()])
        .args(["-ci", "127.0.0.1", "-cp", &free_port().to_string()])
        .args(["-timeout", "40s", "-timeout_error", "-trace_err"])
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recorded_bridge_reports_its_start_and_its_complete_file() {
    if !ready() {
        return;
    }
    let dir = temp_dir("bridge-rec");
    let recordings: PathBuf = dir.join("rec");
    let clock = Arc::new(SystemClock);
    let stores = Stores::in_memory();
    let mut config = RtpMediaConfig::loopback(rtp_range(1));
    config.recordings_dir = recordings.clone();
    let media =
        RtpMedia::new(config).with_recording_store(stores.recordings.clone(), clock.clone());
    let uas_port = free_port();
    let uas = sipp_echo_uas(uas_port, &dir);
    let trunk = Trunk::new(
        "echo",
        TrunkKind::Carrier,
        format!("127.0.0.1:{uas_port}").parse().unwrap(),
        &["+1"],
    );
    let sip = SipTransport::start(
        sip_config(vec![trunk]),
        clock.clone(),
        Some(Arc::new(media)),
    )
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await; // the UAS binds
    let uac = sipp_uac_pcap(sip.local_addr().port(), &dir);
    let caller = tokio::time::timeout(Duration::from_secs(10), sip.accept())
        .await
        .expect("SIPp called")
        .unwrap();
    caller.leg.answer().await.unwrap();
    let line = sip
        .place(PlaceRequest {
            to: Endpoint::Phone("+15550100".into()),
            from: "100".into(),
            channel: Channel::Voice,
            ring_timeout_secs: 10,
        })
        .await
        .expect("the echo UAS answers");
    let heard = tap(line.as_ref());
    // an interaction the legs were not reserved for (a dialer's line has none)
    let request = RecordingRequest::new(TenantId::new("t9"), InteractionId::new("campaign-7"));
    let recording = caller
        .leg
        .bridge_recorded(line.as_ref(), &request)
        .await
        .unwrap()
        .expect("RtpMedia records");
    let started = recording.started.clone();
    assert_eq!(started.interaction.as_str(), "campaign-7");
    assert_eq!(started.channels, 2);
    assert!(started.path.starts_with(recordings.to_str().unwrap()));

    caller.leg.ended().await;
    let stopped = tokio::time::timeout(Duration::from_secs(5), recording.stopped)
        .await
        .expect("the recording ends with the bridge")
        .expect("a complete file");
    line.hangup(HangupCause::Local).await.unwrap();
    let heard = tokio::time::timeout(Duration::from_secs(5), heard)
        .await
        .unwrap()
        .unwrap();
    succeeded(uac, "sipp uac_pcap").await;
    succeeded(uas, "sipp uas -rtp_echo").await;

    let wav = std::fs::read(&stopped.path).unwrap();
    let power = wav_channel_power(&wav, 2);
    let file_ms = (wav.len() as u64 - 44) / 32;
    eprintln!("{stopped:?}: {file_ms} ms in the file, channel power {power:?} dB");
    assert_eq!(
        (stopped.id.clone(), stopped.channels),
        (started.id.clone(), 2)
    );
    assert_eq!(stopped.duration_ms, file_ms, "the report matches the file");
    assert!(stopped.duration_ms >= 6000, "{stopped:?}");
    // left: the caller's speech; right: its echo through the line
    assert!(power[0] > -45.0 && power[1] > -45.0, "{power:?}");
    // the line's tap heard the caller's speech going out and its echo coming in
    let (out_db, _) = speech_power(&heard.outbound);
    let (in_db, _) = speech_power(&heard.inbound);
    eprintln!("line tap: out {out_db:.1} dBm0, in {in_db:.1} dBm0");
    assert!(out_db > -40.0 && in_db > -40.0, "{out_db} {in_db}");
    // filed under the requested tenant and interaction, with the reported length
    let filed = stores
        .recordings
        .for_interaction(&TenantId::new("t9"), &InteractionId::new("campaign-7"))
        .await
        .unwrap();
    assert_eq!(filed.len(), 1, "{filed:?}");
    assert_eq!(filed[0].duration_ms, stopped.duration_ms);
    assert_eq!(filed[0].path, stopped.path);
    let _ = std::fs::remove_dir_all(&dir);
}

/// SIP legs meet in a mixing room through `Leg::media_port`, with real peers:
/// SIPp's `uac_pcap` caller (speech) and a line to a SIPp UAS that echoes RTP,
/// both Party members of a room opened on the caller's port. The line's far end
/// hears the caller (the room's mix for it), the caller hears the echo (not
/// itself directly), and the room's recording (caller left, what it hears
/// right) is reported complete and filed when the room closes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sip_legs_meet_in_a_mixing_room_through_their_media_ports() {
    if !ready() {
        return;
    }
    let dir = temp_dir("mix-room");
    let clock = Arc::new(SystemClock);
    let stores = Stores::in_memory();
    let mut config = RtpMediaConfig::loopback(31200..=31231);
    config.recordings_dir = dir.join("rec");
    let media =
        RtpMedia::new(config).with_recording_store(stores.recordings.clone(), clock.clone());
    let uas_port = free_port();
    let uas = sipp_echo_uas(uas_port, &dir);
    let trunk = Trunk::new(
        "echo",
        TrunkKind::Carrier,
        format!("127.0.0.1:{uas_port}").parse().unwrap(),
        &["+1"],
    );
    let sip = SipTransport::start(sip_config(vec![trunk]), clock, Some(Arc::new(media)))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await; // the UAS binds
    let uac = sipp_uac_pcap(sip.local_addr().port(), &dir);
    let caller = tokio::time::timeout(Duration::from_secs(10), sip.accept())
        .await
        .expect("SIPp called")
        .unwrap();
    caller.leg.answer().await.unwrap();
    let line = sip
        .place(PlaceRequest {
            to: Endpoint::Phone("+15550101".into()),
            from: "100".into(),
            channel: Channel::Voice,
            ring_timeout_secs: 10,
        })
        .await
        .expect("the echo UAS answers");
    let caller_port = caller.leg.media_port().expect("SIP legs have a media port");
    let line_port = line.media_port().expect("SIP legs have a media port");
    let caller_heard = tap(caller.leg.as_ref());
    let line_heard = tap(line.as_ref());
    let room = caller_port.open_room().expect("RtpMedia mixes");
    room.join(caller.leg.id(), caller_port.as_ref(), MixRole::Party)
        .unwrap();
    room.join(line.id(), line_port.as_ref(), MixRole::Party)
        .unwrap();
    let request = RecordingRequest::new(TenantId::new("t1"), InteractionId::new("conf-1"));
    let recording = room.record(&request).unwrap();
    assert_eq!(room.members().len(), 2);

    let cause = tokio::time::timeout(Duration::from_secs(30), caller.leg.ended())
        .await
        .expect("SIPp hung up");
    assert_eq!(cause, HangupCause::Remote);
    room.close();
    let stopped = tokio::time::timeout(Duration::from_secs(5), recording.stopped)
        .await
        .expect("the recording ends with the room")
        .expect("a complete file");
    line.hangup(HangupCause::Local).await.unwrap();
    let caller_heard = tokio::time::timeout(Duration::from_secs(5), caller_heard)
        .await
        .unwrap()
        .unwrap();
    let line_heard = tokio::time::timeout(Duration::from_secs(5), line_heard)
        .await
        .unwrap()
        .unwrap();
    succeeded(uac, "sipp uac_pcap").await;
    succeeded(uas, "sipp uas -rtp_echo").await;

    let (caller_says, _) = speech_power(&caller_heard.inbound);
    let (caller_hears, _) = speech_power(&caller_heard.outbound);
    let (line_gets, _) = speech_power(&line_heard.outbound);
    let (echo, _) = speech_power(&line_heard.inbound);
    eprintln!(
        "room: caller says {caller_says:.1}, hears {caller_hears:.1}; the line gets \
         {line_gets:.1}, echoes {echo:.1} dBm0"
    );
    for (what, db) in [
        ("the caller's speech", caller_says),
        ("the room's mix to the line", line_gets),
        ("the echo", echo),
        ("the echo in the caller's mix", caller_hears),
    ] {
        assert!(db > -40.0, "{what}: {db:.1} dBm0");
    }
    let wav = std::fs::read(&stopped.path).unwrap();
    let power = wav_channel_power(&wav, 2);
    eprintln!("{stopped:?}: channel power {power:?} dB");
    assert!(stopped.duration_ms >= 6000, "{stopped:?}");
    assert!(power[0] > -45.0 && power[1] > -45.0, "{power:?}");
    let filed = stores
        .recordings
        .for_interaction(&TenantId::new("t1"), &InteractionId::new("conf-1"))
        .await
        .unwrap();
    assert_eq!(filed.len(), 1, "{filed:?}");
    assert_eq!(filed[0].path, stopped.path);
    let _ = std::fs::remove_dir_all(&dir);
}
