//! A dialer call keeps its bridged recording: a progressive campaign dials a
//! SIPp carrier (`tests/sipp/carrier_talk.xml`: the callee says "Hello?",
//! then talks, then hangs up) through callcore-sip's `Transport` with
//! callcore-media's `RtpMedia`; the AMD hears the line through the leg's tap
//! (`TappedLines`) and finds a person; the Center connects the call to agent
//! Ann, whose phone is a SIPp UAS echoing RTP, and — recording calls — asks the
//! same media engine to record the bridge. The stereo file (the customer left,
//! the agent right) is filed under the dialer's interaction. Skipped with a
//! notice when `sipp` or `espeak-ng` is absent, failing instead when
//! `CALLCORE_REQUIRE_PEERS=1`.
#![allow(clippy::unwrap_used, clippy::expect_used)]
// Real peers run in wall-clock time.
#![allow(clippy::disallowed_methods)]

use callcore::{
    AgentProfile, AgentState, DialMode, Disposition, Endpoint, EventKind, QueueDefinition, Stores,
    TenantId,
};
use callcore_dialer::media::{MediaClassifier, TappedLines};
use callcore_dialer::rules::{
    CallingWindows, CampaignConfig, DncLists, ImportSettings, LeadBook, import_csv,
};
use callcore_dialer::{CampaignRunner, Pacer, strategy_for};
use callcore_media::leg_port::{RtpMedia, RtpMediaConfig};
use callcore_media::level::{mean_power, power_to_dbm0};
use callcore_media::wav::read_wav;
use callcore_runtime::{Center, SystemClock};
use callcore_sip::center::{SipCenterConfig, SipTransport};
use callcore_sip::trunk::{Trunk, TrunkKind};
use callcore_sip::ua::UaConfig;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;
use tokio::process::{Child, Command};

mod common;

use common::free_port;

fn peer_available(bin: &str, version_arg: &str, package: &str) -> bool {
    common::peer_available(bin, version_arg, package, "the dialer's recorded-call test")
}

fn sipp(args: &[&str], dir: &std::path::Path) -> Child {
    Command::new("sipp")
        .current_dir(dir)
        .args(args)
        .args(["-m", "1", "-i", "127.0.0.1", "-nostdin"])
        .args(["-mi", "127.0.0.1", "-mp", &free_port().to_string()])
        .args(["-cp", &free_port().to_string()])
        .args(["-timeout", "60s", "-timeout_error", "-trace_err"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dialer_call_bridged_to_an_agent_is_recorded_in_stereo() {
    if !peer_available("sipp", "-v", "sip-tester")
        || !peer_available("espeak-ng", "--version", "espeak-ng")
    {
        return;
    }
    let dir = std::env::temp_dir().join(format!("callcore-dialer-recorded-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    // "Hello?", a pause the AMD takes for a person waiting, then talk
    let mut customer = common::spoken_line_ulaw("Hello?", 300, 1500);
    customer.extend(common::spoken_line_ulaw(
        "Yes, this is Jordan. I wanted to ask about my renewal, the letter said \
         the price goes up next month.",
        0,
        3000,
    ));
    std::fs::write(dir.join("customer.ul"), customer).unwrap();

    let carrier_port = free_port();
    let scenario = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/sipp/carrier_talk.xml");
    let carrier = sipp(&["-sf", scenario, "-p", &carrier_port.to_string()], &dir);
    let phone_port = free_port();
    let ann_phone = sipp(
        &["-sn", "uas", "-rtp_echo", "-p", &phone_port.to_string()],
        &dir,
    );
    tokio::time::sleep(Duration::from_millis(500)).await;

    let trunk = |name: &str, port: u16, prefix: &str| {
        Trunk::new(
            name,
            TrunkKind::Carrier,
            format!("127.0.0.1:{port}").parse().unwrap(),
            &[prefix],
        )
    };
    let clock = Arc::new(SystemClock);
    let stores = Stores::in_memory();
    let base = 29400 + (std::process::id() % 10) as u16 * 16;
    let mut rtp = RtpMediaConfig::loopback(base..=base + 15);
    rtp.prompts_dir = dir.join("prompts");
    rtp.recordings_dir = dir.join("recordings");
    let media = RtpMedia::new(rtp).with_recording_store(stores.recordings.clone(), clock.clone());
    let sip = Arc::new(
        SipTransport::start(
            SipCenterConfig {
                ua: UaConfig::new("127.0.0.1:0".parse().unwrap()),
                seed: 29.into(),
                tcp: false,
                tenant: TenantId::default(),
                media_addr: "127.0.0.1:9".parse().unwrap(),
                trunks: vec![
                    trunk("carrier", carrier_port, "+1415"),
                    trunk("agents", phone_port, "+1999"),
                ],
                from_domain: "dialer.example.com".into(),
            },
            clock.clone(),
            Some(Arc::new(media)),
        )
        .await
        .unwrap(),
    );
    let center = Center::builder()
        .clock(clock.clone())
        .stores(stores.clone())
        .transport(sip.clone())
        .record_calls(true)
        .build()
        .unwrap()
        .start()
        .await
        .unwrap();
    center
        .add_queue(QueueDefinition::new("renewals"))
        .await
        .unwrap();
    center
        .add_agent(AgentProfile::new("ann").with_endpoint(Endpoint::Phone("+19995550001".into())))
        .await
        .unwrap();
    center
        .set_agent_state(&"ann".into(), AgentState::Available)
        .await
        .unwrap();
    let mut events = center.subscribe();

    let mut config = CampaignConfig::new("renewals", DialMode::Progressive);
    config.windows = CallingWindows::always();
    config.max_attempts = 1;
    let dnc = DncLists::default();
    let report = import_csv(
        "id,phone\njordan,415 555 0200\n",
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
    let pacer = Pacer::new(book, strategy_for(DialMode::Progressive).unwrap());
    let until = callcore::Clock::now(clock.as_ref()) + Duration::from_secs(40);
    let runner = CampaignRunner::new(pacer, sip.clone(), stores.campaigns.clone(), clock)
        .center(center.clone(), "renewals")
        .classifier(Arc::new(MediaClassifier::new(Arc::new(
            TappedLines::default(),
        ))));
    let summary = tokio::time::timeout(Duration::from_secs(50), runner.run(until))
        .await
        .expect("the campaign ends")
        .unwrap();
    assert_eq!(summary.counters.connected, 1, "{summary:?}");

    let mut interaction = None;
    while let Ok(Ok(e)) = tokio::time::timeout(Duration::from_millis(200), events.recv()).await {
        if let EventKind::Connected {
            interaction: i,
            agent,
            ..
        } = &e.kind
        {
            assert_eq!(agent.as_str(), "ann");
            interaction = Some(i.clone());
        }
    }
    let interaction = interaction.expect("the customer was connected to Ann");
    let attempts = stores
        .campaigns
        .attempts(&TenantId::default(), &"renewals".into())
        .await
        .unwrap();
    assert_eq!(attempts.len(), 1, "{attempts:?}");
    assert_eq!(attempts[0].disposition, Disposition::AnsweredPerson);

    // the bridge's recording, filed once both legs let go of it
    let mut files = Vec::new();
    for _ in 0..50 {
        files = stores
            .recordings
            .for_interaction(&TenantId::default(), &interaction)
            .await
            .unwrap();
        if !files.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(files.len(), 1, "one recording for {interaction}: {files:?}");
    let wav = read_wav(&std::fs::read(&files[0].path).unwrap()).unwrap();
    assert_eq!((wav.channels, files[0].channels), (2, 2));
    let channel =
        |c: usize| -> Vec<i16> { wav.samples.iter().skip(c).step_by(2).copied().collect() };
    let loud = |pcm: &[i16]| {
        pcm.chunks(160)
            .filter(|f| power_to_dbm0(mean_power(f)) > -40.0)
            .count()
    };
    let (customer, agent) = (loud(&channel(0)), loud(&channel(1)));
    eprintln!(
        "{:?}: loud frames customer {customer}, agent {agent}",
        files[0]
    );
    assert!(files[0].duration_ms >= 4000, "{:?}", files[0]);
    // the customer talked for seconds; the agent's phone echoed it
    assert!(customer >= 100 && agent >= 100, "{customer} {agent}");

    for (child, what) in [(carrier, "carrier"), (ann_phone, "Ann's phone")] {
        let out = tokio::time::timeout(Duration::from_secs(20), child.wait_with_output())
            .await
            .unwrap()
            .unwrap();
        assert!(
            out.status.success(),
            "sipp ({what}): {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    center.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}
