//! The tokio glue dialing a list through callcore's in-memory transport, in
//! virtual time: phones that answer, are busy, never answer; the people who
//! answer reach agents through a callcore `Center`; every attempt and lead
//! ends up in the campaign store.
#![allow(clippy::unwrap_used)]

use callcore::{
    AgentProfile, AgentState, CampaignStore, Clock, DialMode, Disposition, Endpoint, EventKind,
    LeadStatus, MemoryStore, QueueDefinition, Timestamp, VirtualClock,
};
use callcore_dialer::rules::{
    CallingWindows, CampaignConfig, DncLists, ImportSettings, LeadBook, import_csv,
};
use callcore_dialer::{CampaignRunner, Pacer, strategy_for};
use callcore_runtime::memory::{MemoryTransport, PhoneBehavior};
use callcore_runtime::{Center, CenterHandle};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

const START: i64 = 1_767_632_400;

fn book(mode: DialMode, csv: &str) -> LeadBook {
    let mut config = CampaignConfig::new("spring", mode);
    config.windows = CallingWindows::always();
    config.max_attempts = 2;
    config.power_ratio = 3.0;
    let dnc = DncLists::default();
    dnc.global.add("+14155550199");
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
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    let mut book = LeadBook::new(config, dnc);
    book.add_imported(report.leads).unwrap();
    book
}

/// A center on `transport` with queue "spring" (wrap-up `wrap_secs`) and
/// the given agents logged in, each with a phone that answers in 1 s.
async fn center(
    clock: &VirtualClock,
    transport: &Arc<MemoryTransport>,
    agents: &[&str],
    wrap_secs: u32,
) -> CenterHandle {
    let center = Center::builder()
        .clock(Arc::new(clock.clone()))
        .transport(transport.clone())
        .build()
        .unwrap()
        .start()
        .await
        .unwrap();
    center
        .add_queue(QueueDefinition::new("spring").with_wrap_up_secs(wrap_secs))
        .await
        .unwrap();
    for name in agents {
        let address = format!("sip:{name}@pbx");
        transport.add_phone(&address, PhoneBehavior::AnswerAfter(Duration::from_secs(1)));
        center
            .add_agent(AgentProfile::new(*name).with_endpoint(Endpoint::Sip(address)))
            .await
            .unwrap();
        center
            .set_agent_state(&(*name).into(), AgentState::Available)
            .await
            .unwrap();
    }
    center
}

/// Hangs up every answered customer after `talk`, as the customer would.
async fn customers_hang_up(
    transport: Arc<MemoryTransport>,
    clock: VirtualClock,
    numbers: Vec<&'static str>,
    talk: Duration,
) {
    let mut seen: HashMap<&str, callcore::LegId> = HashMap::new();
    loop {
        for n in &numbers {
            if let Some(far) = transport.phone(n)
                && seen.get(n) != Some(far.id())
            {
                seen.insert(n, far.id().clone());
                let clock = clock.clone();
                tokio::spawn(async move {
                    clock.sleep(talk).await;
                    far.hangup();
                });
            }
        }
        clock.sleep(Duration::from_secs(2)).await;
    }
}

#[tokio::test(flavor = "current_thread")]
async fn progressive_dials_the_list_and_stores_every_attempt() {
    let clock = VirtualClock::new(Timestamp::from_secs(START));
    let transport = MemoryTransport::new(Arc::new(clock.clone()));
    transport.add_phone(
        "+14155550100",
        PhoneBehavior::AnswerAfter(Duration::from_secs(4)),
    );
    transport.add_phone("+14155550101", PhoneBehavior::Busy);
    transport.add_phone("+14155550102", PhoneBehavior::NoAnswer);
    transport.add_phone(
        "+14155550103",
        PhoneBehavior::AnswerAfter(Duration::from_secs(2)),
    );
    let center = center(&clock, &transport, &["alice"], 5).await;
    let store = Arc::new(MemoryStore::default());
    let csv = "id,phone\nanswers,415 555 0100\nbusy,415 555 0101\nsilent,415 555 0102\nlate,415 555 0103\ndnc,415 555 0199\n";
    let mut pacer = Pacer::new(
        book(DialMode::Progressive, csv),
        strategy_for(DialMode::Progressive).unwrap(),
    );
    // Nothing to re-decide between events in progressive mode: tick slowly.
    pacer.set_tick(Duration::from_secs(30));
    let (events_tx, mut events_rx) = tokio::sync::mpsc::unbounded_channel();
    let runner = CampaignRunner::new(
        pacer,
        transport.clone(),
        store.clone(),
        Arc::new(clock.clone()),
    )
    .center(center.clone(), "spring")
    .events(events_tx);
    let hangups = tokio::spawn(customers_hang_up(
        transport.clone(),
        clock.clone(),
        vec!["+14155550100", "+14155550103"],
        Duration::from_secs(60),
    ));
    let until = Timestamp::from_secs(START + 4 * 3600);
    let summary = clock
        .drive(runner.run(until), until + Duration::from_secs(600))
        .await
        .unwrap()
        .unwrap();
    hangups.abort();

    let attempts = store
        .attempts(&"default".into(), &"spring".into())
        .await
        .unwrap();
    let by_lead = |id: &str| -> Vec<Disposition> {
        attempts
            .iter()
            .filter(|a| a.lead.as_str() == id)
            .map(|a| a.disposition.clone())
            .collect()
    };
    assert_eq!(by_lead("answers"), vec![Disposition::AnsweredPerson]);
    assert_eq!(by_lead("late"), vec![Disposition::AnsweredPerson]);
    assert_eq!(by_lead("busy"), vec![Disposition::Busy, Disposition::Busy]);
    assert_eq!(
        by_lead("silent"),
        vec![Disposition::NoAnswer, Disposition::NoAnswer]
    );
    assert!(by_lead("dnc").is_empty(), "a DNC number was dialed");
    // Busy retried after 5 minutes, no answer after 2 hours.
    let busy: Vec<_> = attempts
        .iter()
        .filter(|a| a.lead.as_str() == "busy")
        .map(|a| a.started_at)
        .collect();
    assert!(busy[1].duration_since(busy[0]) >= Duration::from_secs(300));
    let silent: Vec<_> = attempts
        .iter()
        .filter(|a| a.lead.as_str() == "silent")
        .map(|a| a.started_at)
        .collect();
    assert!(silent[1].duration_since(silent[0]) >= Duration::from_secs(7200));

    let leads = store
        .leads(&"default".into(), &"spring".into())
        .await
        .unwrap();
    let status: HashMap<_, _> = leads
        .iter()
        .map(|l| (l.id.as_str().to_owned(), l.status))
        .collect();
    assert_eq!(status["answers"], LeadStatus::Done);
    assert_eq!(status["busy"], LeadStatus::Closed);
    assert_eq!(status["silent"], LeadStatus::Closed);
    assert_eq!(status["dnc"], LeadStatus::Closed);
    assert!(
        store
            .campaign(&"default".into(), &"spring".into())
            .await
            .unwrap()
            .is_some()
    );
    assert_eq!(summary.counters.abandoned, 0);
    assert_eq!(summary.counters.connected, 2);
    // The agent's phone was bridged to the customer.
    assert!(
        transport
            .phone("sip:alice@pbx")
            .unwrap()
            .bridged_to()
            .is_some()
    );
    let mut dial_events = 0;
    while let Ok((_, _, kind)) = events_rx.try_recv() {
        assert!(matches!(kind, EventKind::DialAttempted { .. }));
        dial_events += 1;
    }
    assert_eq!(dial_events, attempts.len());
    // The Center recorded both conversations as outbound interactions.
    center.flush().await;
    for a in attempts
        .iter()
        .filter(|a| a.disposition == Disposition::AnsweredPerson)
    {
        let record = center
            .stores()
            .interactions
            .get(&"default".into(), &a.interaction)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(record.direction, callcore::Direction::Outbound);
        assert_eq!(record.agent.as_ref().map(|x| x.as_str()), Some("alice"));
    }
}

#[tokio::test(flavor = "current_thread")]
async fn a_person_no_agent_can_take_hears_the_safe_harbor_message() {
    let clock = VirtualClock::new(Timestamp::from_secs(START));
    let transport = MemoryTransport::new(Arc::new(clock.clone()));
    for n in ["+14155550110", "+14155550111", "+14155550112"] {
        transport.add_phone(n, PhoneBehavior::AnswerAfter(Duration::from_secs(3)));
    }
    let center = center(&clock, &transport, &["bob"], 10).await;
    let store = Arc::new(MemoryStore::default());
    let csv = "phone\n415 555 0110\n415 555 0111\n415 555 0112\n";
    let pacer = Pacer::new(
        book(DialMode::Power, csv),
        strategy_for(DialMode::Power).unwrap(),
    );
    let runner = CampaignRunner::new(
        pacer,
        transport.clone(),
        store.clone(),
        Arc::new(clock.clone()),
    )
    .center(center, "spring");
    let hangups = tokio::spawn(customers_hang_up(
        transport.clone(),
        clock.clone(),
        vec!["+14155550110", "+14155550111", "+14155550112"],
        Duration::from_secs(30),
    ));
    let until = Timestamp::from_secs(START + 600);
    let summary = clock
        .drive(runner.run(until), until + Duration::from_secs(600))
        .await
        .unwrap()
        .unwrap();
    hangups.abort();
    // Power mode dialed three lines for one agent; all three answered at once.
    assert_eq!(summary.counters.answered_by_person, 3);
    assert_eq!(summary.counters.abandoned, 2);
    let heard: Vec<_> = ["+14155550110", "+14155550111", "+14155550112"]
        .iter()
        .filter_map(|n| transport.phone(n))
        .filter(|f| f.heard().iter().any(|h| h.contains("opt out")))
        .collect();
    assert_eq!(
        heard.len(),
        2,
        "the two people no agent could take heard the message"
    );
    let attempts = store
        .attempts(&"default".into(), &"spring".into())
        .await
        .unwrap();
    assert_eq!(
        attempts
            .iter()
            .filter(|a| a.disposition == Disposition::Abandoned)
            .count(),
        2
    );
    assert!(clock.now() < until + Duration::from_secs(600));
}

#[tokio::test(flavor = "current_thread")]
async fn a_notification_campaign_plays_its_message_and_stops_when_the_list_is_done() {
    let clock = VirtualClock::new(Timestamp::from_secs(START));
    let transport = MemoryTransport::new(Arc::new(clock.clone()));
    transport.add_phone(
        "+14155550120",
        PhoneBehavior::AnswerAfter(Duration::from_secs(5)),
    );
    transport.add_phone("+14155550121", PhoneBehavior::Busy);
    let store = Arc::new(MemoryStore::default());
    let book = book(
        DialMode::Notification,
        "phone\n415 555 0120\n415 555 0121\n",
    );
    let pacer = Pacer::new(book, strategy_for(DialMode::Notification).unwrap());
    let runner = CampaignRunner::new(
        pacer,
        transport.clone(),
        store.clone(),
        Arc::new(clock.clone()),
    );
    let until = Timestamp::from_secs(START + 3600);
    let summary = clock
        .drive(runner.run(until), until + Duration::from_secs(600))
        .await
        .unwrap()
        .unwrap();
    let far = transport.phone("+14155550120").unwrap();
    assert!(
        far.heard().iter().any(|h| h.contains("reminder")),
        "{:?}",
        far.heard()
    );
    assert_eq!(summary.counters.answered_by_person, 1);
    // Busy is retried once after 5 minutes (max 2 attempts), then the run stops.
    let attempts = store
        .attempts(&"default".into(), &"spring".into())
        .await
        .unwrap();
    assert_eq!(attempts.len(), 3, "{attempts:?}");
    assert!(
        summary.stopped_at < Timestamp::from_secs(START + 400),
        "{:?}",
        summary.stopped_at
    );
}

#[tokio::test(flavor = "current_thread")]
async fn an_agent_campaign_without_a_center_is_refused() {
    let clock = VirtualClock::new(Timestamp::from_secs(START));
    let transport = MemoryTransport::new(Arc::new(clock.clone()));
    let pacer = Pacer::new(
        book(DialMode::Predictive, "phone\n415 555 0130\n"),
        strategy_for(DialMode::Predictive).unwrap(),
    );
    let runner = CampaignRunner::new(
        pacer,
        transport,
        Arc::new(MemoryStore::default()),
        Arc::new(clock.clone()),
    );
    let err = runner
        .run(Timestamp::from_secs(START + 60))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("center"), "{err}");
}

#[tokio::test(flavor = "current_thread")]
async fn an_agent_whose_phone_is_unreachable_is_not_dialed_for() {
    let clock = VirtualClock::new(Timestamp::from_secs(START));
    let transport = MemoryTransport::new(Arc::new(clock.clone()));
    transport.add_phone(
        "+14155550100",
        PhoneBehavior::AnswerAfter(Duration::from_secs(2)),
    );
    let center = center(&clock, &transport, &["alice"], 0).await;
    // available by choice, but the phone is gone until ten minutes in
    center
        .set_agent_reachable(&"alice".into(), false)
        .await
        .unwrap();
    let back = {
        let (center, clock) = (center.clone(), clock.clone());
        tokio::spawn(async move {
            clock.sleep_until(Timestamp::from_secs(START + 600)).await;
            center
                .set_agent_reachable(&"alice".into(), true)
                .await
                .unwrap();
        })
    };
    let store = Arc::new(MemoryStore::default());
    let mut pacer = Pacer::new(
        book(DialMode::Progressive, "id,phone\nanswers,415 555 0100\n"),
        strategy_for(DialMode::Progressive).unwrap(),
    );
    pacer.set_tick(Duration::from_secs(30));
    let runner = CampaignRunner::new(
        pacer,
        transport.clone(),
        store.clone(),
        Arc::new(clock.clone()),
    )
    .center(center.clone(), "spring");
    let hangups = tokio::spawn(customers_hang_up(
        transport.clone(),
        clock.clone(),
        vec!["+14155550100"],
        Duration::from_secs(30),
    ));
    let until = Timestamp::from_secs(START + 3600);
    let summary = clock
        .drive(runner.run(until), until + Duration::from_secs(600))
        .await
        .unwrap()
        .unwrap();
    hangups.abort();
    back.abort();
    assert_eq!(summary.counters.connected, 1, "{summary:?}");
    let attempts = store
        .attempts(&"default".into(), &"spring".into())
        .await
        .unwrap();
    assert_eq!(attempts.len(), 1, "{attempts:?}");
    assert!(
        attempts[0].started_at >= Timestamp::from_secs(START + 600),
        "dialed at {} while the agent was unreachable",
        attempts[0].started_at
    );
}
