//! AMD on real SIP calls: the dialer places a notification campaign through
//! callcore-sip's `Transport` with callcore-media's `RtpMedia` as its media
//! engine (behind callcore's leg-media port), to a
//! SIPp UAS acting as the carrier whose callees talk over RTP
//! (`tests/sipp/carrier_media.xml`, `<exec rtp_stream>`): the number ending
//! 0201 answers with a long espeak-ng voicemail greeting (a machine), the
//! others with a short "Hello?" and then a quiet line (people). The
//! `MediaClassifier` hears each line through the leg's audio tap
//! (`TappedLines`: decoded received RTP) and the dispositions are stored. Skipped with a notice when `sipp` or `espeak-ng`
//! is absent, failing instead when `CALLCORE_REQUIRE_PEERS=1`.
#![allow(clippy::unwrap_used, clippy::expect_used)]
// A real peer runs in wall-clock time.
#![allow(clippy::disallowed_methods)]

use callcore::{CampaignStore, DialMode, Disposition, MemoryStore, TenantId};
use callcore_dialer::media::{MediaClassifier, TappedLines};
use callcore_dialer::rules::{
    CallingWindows, CampaignConfig, DncLists, ImportSettings, LeadBook, import_csv,
};
use callcore_dialer::{CampaignRunner, Pacer, strategy_for};
use callcore_media::leg_port::{RtpMedia, RtpMediaConfig};
use callcore_runtime::SystemClock;
use callcore_sip::center::{SipCenterConfig, SipTransport};
use callcore_sip::trunk::{Trunk, TrunkKind};
use callcore_sip::ua::UaConfig;
use std::collections::HashMap;
use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;
use tokio::process::Command;

mod common;

fn peer_available(bin: &str, version_arg: &str, package: &str) -> bool {
    common::peer_available(bin, version_arg, package, "the dialer AMD-over-SIP test")
}

use common::free_port;

/// `text` spoken by espeak-ng after `lead_ms` of quiet line and followed by
/// `tail_ms` of it, written to `dir/name.ul` as raw 8 kHz µ-law (SIPp's rtp_stream).
fn spoken_ulaw(dir: &Path, name: &str, text: &str, lead_ms: usize, tail_ms: usize) {
    let ulaw = common::spoken_line_ulaw(text, lead_ms, tail_ms);
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
    // RTP ports for our legs (this test's share of 28000-29999)
    let base = 29200 + (std::process::id() % 10) as u16 * 16;
    let mut rtp = RtpMediaConfig::loopback(base..=base + 15);
    rtp.prompts_dir = dir.join("prompts");
    rtp.recordings_dir = dir.join("recordings");
    let media = Arc::new(RtpMedia::new(rtp));
    let sip = SipTransport::start(
        SipCenterConfig {
            ua: UaConfig::new("127.0.0.1:0".parse().unwrap()),
            seed: 19.into(),
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
    let runner = CampaignRunner::new(pacer, Arc::new(sip), store.clone(), clock).classifier(
        Arc::new(MediaClassifier::new(Arc::new(TappedLines::default()))),
    );
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
