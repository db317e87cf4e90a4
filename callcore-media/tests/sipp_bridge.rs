//! A bridged call between two real SIPp peers, through `LegMedia::bridge` (the path
//! the center uses): SIPp's caller plays Debian's `g711a.pcap` (A-law speech, 30 ms
//! packets) into leg A, and a SIPp UAS with `-rtp_echo` (µ-law) answers leg B and
//! echoes whatever it hears. The bridge transcodes A-law ⇄ µ-law and records the
//! conversation in stereo: both channels must carry the speech (the caller's left,
//! the agent's echo right).
//!
//! Needs `sipp` (apt `sip-tester`) and root or CAP_NET_RAW for `play_pcap_audio`;
//! skipped with a notice when absent, failing instead when CALLCORE_REQUIRE_PEERS=1.
#![cfg(feature = "callcore-control")]

mod support;

use std::path::Path;

use callcore_media::g711::Law;
use callcore_media::level::{mean_power, power_to_dbm0};
use callcore_media::sip_leg::{LegMedia, LegMediaConfig, Negotiated};
use callcore_media::udp::PortAllocator;
use callcore_media::wav::read_wav;
use support::scratch;
use support::sipp::{SippUac, SippUas, pcaps_ready};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sipp_caller_bridged_to_an_echoing_sipp_agent_is_recorded_on_both_channels() {
    if !pcaps_ready() {
        return;
    }
    let dir = scratch("sipp-bridge");
    let ports = PortAllocator::new("127.0.0.1".parse().unwrap(), 30100..=30199);
    let caller = LegMedia::reserve(
        &ports,
        LegMediaConfig {
            ssrc: 0xCA11,
            ..LegMediaConfig::default()
        },
    )
    .await
    .unwrap();
    let agent = LegMedia::reserve(
        &ports,
        LegMediaConfig {
            ssrc: 0xA6E7,
            ..LegMediaConfig::default()
        },
    )
    .await
    .unwrap();

    // the agent: SIPp's built-in UAS answering PCMU and echoing RTP
    let uas = SippUas::start(&dir, 30290).expect("sipp uas");
    let agent_far = uas
        .call(agent.local_rtp())
        .await
        .expect("the SIPp agent answered");
    let _agent_session = agent
        .start_session(Negotiated {
            remote: Some(agent_far),
            law: Law::Ulaw,
            telephone_event: None,
            send: true,
            srtp: None,
        })
        .unwrap();

    // the caller: SIPp playing A-law speech into leg A, once to the "IVR" (the leg's
    // own session) and again once bridged to the agent
    let mut uac = SippUac::start(
        &dir,
        caller.local_rtp(),
        &[("g711a.pcap", 7500), ("g711a.pcap", 7500)],
        30280,
    );
    let caller_far = uac.answered().await.expect("the SIPp caller's INVITE");
    let _caller_session = caller
        .start_session(Negotiated {
            remote: Some(caller_far),
            law: Law::Alaw,
            telephone_event: Some(101),
            send: true,
            srtp: None,
        })
        .unwrap();
    support::pause(7600).await;
    let wav_path = dir.join("bridged.wav");
    caller.bridge(&agent, Some(&wav_path)).unwrap();

    let sipp_ok = uac.finished().await;
    assert!(sipp_ok, "the SIPp caller reported a failed call");
    caller.unbridge();
    // the bridge's report comes once the recording is finished
    let report = tokio::time::timeout(std::time::Duration::from_secs(5), caller.bridge_ended())
        .await
        .expect("the bridge ends")
        .expect("a report");
    eprintln!("bridge: {report:?}");
    let info = report.recording.as_ref().expect("the recording's figures");
    assert_eq!(info.path.as_deref(), Some(wav_path.as_path()));
    assert!(
        report.forwarded[0] >= 200 && report.forwarded[1] >= 200,
        "{report:?}"
    );
    assert!(report.transcoded[0] >= 200, "A-law to µ-law: {report:?}");
    assert_eq!(
        agent.bridge_report().map(|r| r.forwarded),
        Some(report.forwarded)
    );
    caller.close();
    agent.close();
    uas.hang_up().await;

    let (left, right) = channels(&wav_path);
    let secs = left.len() as f64 / 8000.0;
    assert_eq!(
        info.duration_ms,
        left.len() as u64 / 8,
        "the header covers the data"
    );
    let (l, r) = (
        power_to_dbm0(mean_power(&left)),
        power_to_dbm0(mean_power(&right)),
    );
    eprintln!("recording {secs:.2} s: caller {l:.1} dBm0, agent {r:.1} dBm0");
    assert!((6.5..9.5).contains(&secs), "recording lasts {secs:.2} s");
    assert!(
        l > -40.0,
        "the caller's channel holds the speech: {l:.1} dBm0"
    );
    assert!(r > -40.0, "the agent's channel holds the echo: {r:.1} dBm0");
    let _ = std::fs::remove_dir_all(&dir);
}

fn channels(path: &Path) -> (Vec<i16>, Vec<i16>) {
    let bytes = std::fs::read(path).expect("the recording exists");
    let wav = read_wav(&bytes).expect("a readable WAV");
    assert_eq!((wav.sample_rate, wav.channels), (8000, 2));
    let left = wav.samples.chunks(2).map(|lr| lr[0]).collect();
    let right = wav.samples.chunks(2).map(|lr| lr[1]).collect();
    (left, right)
}
