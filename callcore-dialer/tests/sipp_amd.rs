//! AMD on real SIP calls: the dialer places a notification campaign through
//! callcore-sip's `Transport` with `DialerRtpMedia` as its media engine, to a
//! SIPp UAS acting as the carrier whose callees talk over RTP
//! (`tests/sipp/carrier_media.xml`, `<exec rtp_stream>`): the number ending
//! 0201 answers with a long espeak-ng voicemail greeting (a machine), the
//! others with a short "Hello?" and then a quiet line (people). The
//! `MediaClassifier` hears each line through the leg's received RTP and the
//! dispositions are stored. Skipped with a notice when `sipp` or `espeak-ng`
//! is absent, failing instead when `CALLCORE_REQUIRE_PEERS=1`.
#![allow(clippy::unwrap_used, clippy::expect_used)]
// A real peer runs in wall-clock time.
#![allow(clippy::disallowed_methods)]

use callcore::{CampaignStore, DialMode, Disposition, MemoryStore, SystemClock, TenantId};
use callcore_dialer::media::{DialerRtpMedia, MediaClassifier};
use callcore_dialer::rules::{
    CallingWindows, CampaignConfig, DncLists, ImportSettings, LeadBook, import_csv,
};
use callcore_dialer::{CampaignRunner, Pacer, strategy_for};
use callcore_media::g711::Law;
use callcore_media::resample::{resample, to_i16};
use callcore_media::wav::read_wav;
use callcore_sip::center::{SipCenterConfig, SipTransport};
use callcore_sip::center_media::RtpMediaConfig;
use callcore_sip::trunk::{Trunk, TrunkKind};
use callcore_sip::ua::UaConfig;
use std::collections::HashMap;
use std::net::UdpSocket;
use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;
use tokio::process::Command;

fn peer_available(bin: &str, version_arg: &str, package: &str) -> bool {
    let found = std::process::Command::new(bin)
        .arg(version_arg)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    if !found {
        assert!(
            std::env::var("CALLCORE_REQUIRE_PEERS").as_deref() != Ok("1"),
            "{bin} is required (CALLCORE_REQUIRE_PEERS=1) but not installed"
        );
        eprintln!(
            "NOTICE: {bin} not found; skipping the dialer AMD-over-SIP test (apt-get install -y {package})"
        );
    }
    found
}

fn free_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `text` spoken by espeak-ng after `lead_ms` of quiet line and followed by
/// `tail_ms` of it, written to `path` as raw 8 kHz µ-law (SIPp's rtp_stream).
fn spoken_ulaw(dir: &Path, name: &str, text: &str, lead_ms: usize, tail_ms: usize) {
    let wav_path = dir.join(format!("{name}.wav"));
    let status = std::process::Command::new("espeak-ng")
        .args(["-v", "en-us", "-s", "160", "-w"])
        .arg(&wav_path)
        .arg(text)
        .status()
        .unwrap();
    assert!(status.success());
    let wav = read_wav(&std::fs::read(&wav_path).unwrap()).unwrap();
    assert_eq!(wav.channels, 1);
    let float: Vec<f32> = wav
        .samples
        .iter()
        .map(|&s| f32::from(s) / 32768.0)
        .collect();
    let speech = to_i16(&resample(&float, wav.sample_rate, 8000));
    // A quiet line: a little noise rather than digital silence.
    let mut noise = 12345u32;
    let mut hiss = |n: usize| -> Vec<i16> {
        (0..n)
            .map(|_| {
                noise = noise.wrapping_mul(1_103_515_245).wrapping_add(12345);
                ((noise >> 16) % 41) as i16 - 20
            })
            .collect()
    };
    let mut line = hiss(lead_ms * 8);
    line.extend(speech);
    line.extend(hiss(tail_ms * 8));
    let mut ulaw = Vec::new();
    Law::Ulaw.encode_into(&line, &mut ulaw);
    std::fs::write(dir.join(format!("{name}.ul")), ulaw).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answering_machines_are_told_from_people_on_real_sip_calls() {
    if !peer_available("sipp", "-v", "sip-tester")
        || !peer_available("espeak-ng", "--version", "espeak-ng")
    {
        return;
    }
    let dir = std::env::temp_dir().join(format!("callcore-dialer-sipp-amd-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    spoken_ulaw(&dir, "person", "Hello?", 400, 6000);
    spoken_ulaw(
        &dir,
        "machine",
        "Hi, you have reached the voicemail of Jordan Smith. I am not able to take \
         your call right now. Please leave your name, your number and a short message \
         after the tone, and I will call you back as soon as I can.",
        300,
        1000,
    );

    let port = free_port();
    let scenario = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/sipp/carrier_media.xml");
    let sipp = Command::new("sipp")
        .current_dir(&dir)
        .args(["-sf", scenario, "-m", "3", "-i", "127.0.0.1"])
        .args(["-p", &port.to_string()])
        .args(["-mi", "127.0.0.1", "-mp", &free_port().to_string()])
        .args(["-cp", &free_port().to_string(), "-nostdin"])
        .args(["-timeout", "60s", "-timeout_error"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;

    let trunk = Trunk::new(
        "carrier",
        TrunkKind::Carrier,
        format!("127.0.0.1:{port}").parse().unwrap(),
        &["+1"],
    );
    // RTP ports for our legs: a free range near an ephemeral port.
    let base = free_port() & !1;
    let base = base.clamp(20000, 60000);
    let mut rtp = RtpMediaConfig::loopback(base..=base + 99);
    rtp.prompts_dir = dir.join("prompts");
    rtp.recordings_dir = dir.join("recordings");
    let media = Arc::new(DialerRtpMedia::new(rtp));
    let sip = SipTransport::start(
        SipCenterConfig {
            ua: UaConfig::new("127.0.0.1:0".parse().unwrap()),
            seed: 19,
            tcp: false,
            tenant: TenantId::default(),
            media_addr: "127.0.0.1:45000".parse().unwrap(),
            trunks: vec![trunk],
            from_domain: "dialer.example.com".into(),
        },
        Arc::new(SystemClock),
        Some(media.clone()),
    )
    .await
    .unwrap();

    let mut config = CampaignConfig::new("reminders", DialMode::Notification);
    config.windows = CallingWindows::always();
    config.max_attempts = 1;
    let dnc = DncLists::default();
    let csv = "id,phone\nperson,415 555 0200\nvoicemail,415 555 0201\nperson-too,415 555 0202\n";
    let report = import_csv(
        csv,
        &ImportSettings {
            tenant: config.tenant.clone(),
            campaign: config.id.clone(),
            number_plan: &config.number_plan,
            dnc: &dnc,
        },
    )
    .unwrap();
    let mut book = LeadBook::new(config, dnc);
    book.add_imported(report.leads).unwrap();
    let pacer = Pacer::new(book, strategy_for(DialMode::Notification).unwrap());
    let store = Arc::new(MemoryStore::default());
    let clock = Arc::new(SystemClock);
    let until = callcore::Clock::now(clock.as_ref()) + Duration::from_secs(40);
    let runner = CampaignRunner::new(pacer, Arc::new(sip), store.clone(), clock)
        .classifier(Arc::new(MediaClassifier::new(media)));
    let summary = tokio::time::timeout(Duration::from_secs(50), runner.run(until))
        .await
        .unwrap()
        .unwrap();

    let attempts = store
        .attempts(&TenantId::default(), &"reminders".into())
        .await
        .unwrap();
    let by_lead: HashMap<_, _> = attempts
        .iter()
        .map(|a| (a.lead.as_str().to_owned(), a.disposition.clone()))
        .collect();
    assert_eq!(by_lead.len(), 3, "{attempts:?}");
    assert_eq!(
        by_lead["voicemail"],
        Disposition::AnsweringMachine,
        "{attempts:?}"
    );
    assert_eq!(
        by_lead["person"],
        Disposition::AnsweredPerson,
        "{attempts:?}"
    );
    assert_eq!(
        by_lead["person-too"],
        Disposition::AnsweredPerson,
        "{attempts:?}"
    );
    assert_eq!(summary.counters.dialed, 3);
    assert!(summary.stopped_at < until, "{summary:?}");

    let out = tokio::time::timeout(Duration::from_secs(20), sipp.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    assert!(
        out.status.success(),
        "sipp: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let _ = std::fs::remove_dir_all(&dir);
}
