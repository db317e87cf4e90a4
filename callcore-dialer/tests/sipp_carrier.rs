//! The dialer placing a notification campaign through callcore-sip's
//! `Transport` to a SIPp UAS acting as the carrier: some numbers answer, one
//! is busy (486), one does not exist (404); every attempt is stored with its
//! disposition. Skipped with a notice when `sipp` is absent, failing instead
//! when `CALLCORE_REQUIRE_PEERS=1`.
#![allow(clippy::unwrap_used, clippy::expect_used)]
// A real peer runs in wall-clock time.
#![allow(clippy::disallowed_methods)]

use callcore::{CampaignStore, DialMode, Disposition, LeadStatus, MemoryStore, TenantId};
use callcore_dialer::rules::{
    CallingWindows, CampaignConfig, DncLists, ImportSettings, LeadBook, import_csv,
};
use callcore_dialer::{CampaignRunner, Pacer, strategy_for};
use callcore_runtime::SystemClock;
use callcore_sip::center::{SipCenterConfig, SipTransport};
use callcore_sip::trunk::{Trunk, TrunkKind};
use callcore_sip::ua::UaConfig;
use std::collections::HashMap;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;
use tokio::process::Command;

mod common;

use common::free_port;

fn sipp_available() -> bool {
    common::peer_available("sipp", "-v", "sip-tester", "the dialer carrier test")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dials_a_list_through_a_sipp_carrier_and_stores_the_dispositions() {
    if !sipp_available() {
        return;
    }
    let port = free_port();
    let scenario = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/sipp/carrier.xml");
    let sipp = Command::new("sipp")
        .args([
            "-sf",
            scenario,
            "-m",
            "4",
            "-i",
            "127.0.0.1",
            "-p",
            &port.to_string(),
        ])
        .args(["-mi", "127.0.0.1", "-mp", &free_port().to_string()])
        .args([
            "-cp",
            &free_port().to_string(),
            "-nostdin",
            "-timeout",
            "60s",
            "-timeout_error",
        ])
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
    let sip = SipTransport::start(
        SipCenterConfig {
            ua: UaConfig::new("127.0.0.1:0".parse().unwrap()),
            seed: 9.into(),
            tcp: false,
            tenant: TenantId::default(),
            media_addr: "127.0.0.1:45000".parse().unwrap(),
            trunks: vec![trunk],
            from_domain: "dialer.example.com".into(),
        },
        Arc::new(SystemClock),
        None,
    )
    .await
    .unwrap();

    let mut config = CampaignConfig::new("reminders", DialMode::Notification);
    config.windows = CallingWindows::always();
    config.max_attempts = 1;
    let dnc = DncLists::default();
    let csv = "id,phone\nanswers,415 555 0100\nbusy,415 555 0101\nunallocated,415 555 0104\nanswers-too,415 555 0105\n";
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
    let until = callcore::Clock::now(clock.as_ref()) + Duration::from_secs(30);
    let runner = CampaignRunner::new(pacer, Arc::new(sip), store.clone(), clock);
    let summary = tokio::time::timeout(Duration::from_secs(40), runner.run(until))
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
    assert_eq!(by_lead.len(), 4, "{attempts:?}");
    assert_eq!(by_lead["answers"], Disposition::AnsweredPerson);
    assert_eq!(by_lead["answers-too"], Disposition::AnsweredPerson);
    assert_eq!(by_lead["busy"], Disposition::Busy);
    assert_eq!(by_lead["unallocated"], Disposition::InvalidNumber);
    let leads = store
        .leads(&TenantId::default(), &"reminders".into())
        .await
        .unwrap();
    let status: HashMap<_, _> = leads
        .iter()
        .map(|l| (l.id.as_str().to_owned(), l.status))
        .collect();
    assert_eq!(status["answers"], LeadStatus::Done);
    assert_eq!(status["unallocated"], LeadStatus::Closed);
    assert_eq!(summary.counters.dialed, 4);
    // The list was done long before the 30 s limit.
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
}
