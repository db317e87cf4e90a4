//! Historical reports equal the live metrics: a center runs an hour and a
//! quarter of calls in virtual time, journaling to SQLite; a live engine fed
//! from the event bus records what it said at the end of every 15 minutes;
//! then reports built from the stored journal are compared with it.
#![allow(clippy::unwrap_used)]

use async_trait::async_trait;
use callcore::{
    AgentProfile, AgentState, Clock, CoreError, Endpoint, EventJournal, QueueDefinition, TenantId,
    Timestamp, VirtualClock,
};
use callcore_analytics::report::{IntervalLength, ReportKind, build_report};
use callcore_analytics::{Counters, Dimension, MetricsConfig, MetricsEngine};
use callcore_runtime::memory::{MemoryTransport, PhoneBehavior};
use callcore_runtime::{Center, Flow, FlowContext, FlowOutcome};
use callcore_store::SqliteStore;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

const START: i64 = 1_700_006_400 + 9 * 3600; // 09:00 UTC
const QUARTER: i64 = 900;

#[derive(Debug)]
struct Support;

#[async_trait]
impl Flow for Support {
    async fn run(&self, call: &mut FlowContext) -> Result<FlowOutcome, CoreError> {
        let outcome = call.enqueue("support").await?;
        Ok(FlowOutcome::Done(outcome.end_reason()))
    }
}

/// Virtual time that waits a little real time for the database before
/// jumping to the next timer (the call path awaits the store).
async fn drive<F: std::future::Future>(
    clock: &VirtualClock,
    fut: F,
    limit: Timestamp,
) -> F::Output {
    let mut fut = std::pin::pin!(fut);
    let mut idle_rounds = 0u32;
    loop {
        for round in 0..6 {
            for _ in 0..64 {
                if let std::task::Poll::Ready(out) = futures::poll!(fut.as_mut()) {
                    return out;
                }
                tokio::task::yield_now().await;
            }
            if round > 0 {
                #[allow(clippy::disallowed_methods)] // real time for real I/O
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
        match clock.next_timer() {
            Some(t) if t <= limit => {
                idle_rounds = 0;
                clock.advance_to(t);
            }
            // Nothing armed: a query may still be on its way (loaded machine).
            _ if idle_rounds < 2_000 => idle_rounds += 1,
            _ => panic!("stalled at {}", clock.now()),
        }
    }
}

type Said = BTreeMap<(i64, Dimension), Counters>;

#[tokio::test(flavor = "current_thread")]
async fn reports_from_the_journal_equal_what_the_live_metrics_said() {
    let dir = std::env::temp_dir().join(format!("cc-analytics-replay-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let store = Arc::new(SqliteStore::open(dir.join("center.db")).unwrap());
    let clock = VirtualClock::new(Timestamp::from_secs(START));
    let transport = MemoryTransport::new(Arc::new(clock.clone()));
    let center = Center::builder()
        .clock(Arc::new(clock.clone()))
        .transport(transport.clone())
        .stores(callcore::Stores::all_in(store.clone()))
        .flow("support", Arc::new(Support))
        .route("*", "support")
        .build()
        .unwrap()
        .start()
        .await
        .unwrap();
    let mut live_events = center.subscribe();
    let mut q = QueueDefinition::new("support").with_wrap_up_secs(30);
    q.service_level_secs = 30;
    center.add_queue(q).await.unwrap();
    for (name, answer) in [("alice", 2), ("bob", 4)] {
        let address = format!("sip:{name}@pbx");
        transport.add_phone(
            &address,
            PhoneBehavior::AnswerAfter(Duration::from_secs(answer)),
        );
        center
            .add_agent(AgentProfile::new(name).with_endpoint(Endpoint::Sip(address)))
            .await
            .unwrap();
        center
            .set_agent_state(&name.into(), AgentState::Available)
            .await
            .unwrap();
    }

    let config = MetricsConfig::default();
    let mut live = MetricsEngine::new(config.clone()).unwrap();
    let end = Timestamp::from_secs(START + 5 * QUARTER);
    let mut said: Said = BTreeMap::new();

    // Callers: one every 3 minutes, each staying `patience` seconds in all;
    // those who find both agents busy for too long abandon.
    let patience = [
        300, 45, 600, 20, 240, 90, 500, 10, 360, 120, 60, 420, 30, 200, 150, 700, 25, 330, 80, 260,
    ];
    let callers = async {
        let mut tasks = Vec::new();
        for (n, stay) in patience.iter().enumerate() {
            let (clock, transport) = (clock.clone(), transport.clone());
            let arrival = Timestamp::from_secs(START + 60 + 180 * i64::try_from(n).unwrap());
            let stay = Duration::from_secs(*stay);
            tasks.push(tokio::spawn(async move {
                clock.sleep_until(arrival).await;
                let far = transport.call(&format!("+49301{n:03}"), "100");
                clock.sleep(stay).await;
                far.hangup();
            }));
        }
        // Bob takes a break from 20 to 38 minutes.
        clock.sleep_until(Timestamp::from_secs(START + 1200)).await;
        let _ = center
            .set_agent_state(&"bob".into(), AgentState::NotReady("break".into()))
            .await;
        clock.sleep_until(Timestamp::from_secs(START + 2280)).await;
        let _ = center
            .set_agent_state(&"bob".into(), AgentState::Available)
            .await;
        for t in tasks {
            t.await.unwrap();
        }
    };
    let wallboard = async {
        let mut boundary = START + QUARTER;
        while boundary <= end.as_millis() / 1000 {
            tokio::select! {
                e = live_events.recv() => live.apply(&e.unwrap()),
                () = clock.sleep_until(Timestamp::from_secs(boundary)) => {
                    while let Some(e) = live_events.try_recv().unwrap() {
                        live.apply(&e);
                    }
                    let at = Timestamp::from_secs(boundary);
                    live.advance(at);
                    // What the live metrics say about the quarter just over.
                    let snap = live.snapshot(at, &[Duration::from_secs(900)]);
                    for row in snap.rows {
                        let c = live.totals(&row.dimension, at - Duration::from_secs(900), at);
                        if c != Counters::default() {
                            said.insert((boundary - QUARTER, row.dimension), c);
                        }
                    }
                    boundary += QUARTER;
                }
            }
        }
    };
    drive(
        &clock,
        async { tokio::join!(callers, wallboard) },
        end + Duration::from_secs(3600),
    )
    .await;
    center.flush().await;

    let tenant = TenantId::default();
    let journal = EventJournal::between(&*store, &tenant, Timestamp::from_secs(START - 60), end)
        .await
        .unwrap();
    let from = Timestamp::from_secs(START);
    let mut replayed: Said = BTreeMap::new();
    for kind in [
        ReportKind::QueueService,
        ReportKind::AgentPerformance,
        ReportKind::CallVolume,
    ] {
        let report = build_report(
            &journal,
            config.clone(),
            kind,
            IntervalLength::QuarterHour,
            from,
            end,
        )
        .unwrap();
        assert_eq!(report.rows.first().map(|r| r.interval_start), Some(from));
        assert_eq!(report.to_csv().lines().count(), report.rows.len() + 1);
        for row in report.rows {
            // the queue's channels, each against its own target
            if let Dimension::Queue { tenant, queue } = &row.dimension {
                for (name, figures) in &row.channels {
                    let channel: callcore::Channel =
                        serde_json::from_value(serde_json::Value::String(name.clone())).unwrap();
                    replayed.insert(
                        (
                            row.interval_start.as_millis() / 1000,
                            Dimension::queue_channel(tenant.clone(), queue.clone(), channel),
                        ),
                        figures.counters,
                    );
                }
            }
            replayed.insert(
                (row.interval_start.as_millis() / 1000, row.dimension),
                row.figures.counters,
            );
        }
    }
    let said_here: Said = said
        .into_iter()
        .filter(|((_, d), _)| !matches!(d, Dimension::Campaign { .. }))
        .collect();
    assert!(said_here.len() >= 20, "{} rows", said_here.len());
    eprintln!("{} quarter-hour rows compared", said_here.len());
    assert_eq!(replayed, said_here, "every quarter hour, every dimension");

    // Reading only the kinds the engine uses gives the same report.
    let filtered = callcore_store::StoreExt::events_of_kinds(
        &*store,
        &tenant,
        Timestamp::from_secs(START - 60),
        end,
        MetricsEngine::EVENT_KINDS,
    )
    .await
    .unwrap();
    assert!(filtered.len() < journal.len());
    for kind in [ReportKind::QueueService, ReportKind::AgentPerformance] {
        let a = build_report(
            &journal,
            config.clone(),
            kind,
            IntervalLength::QuarterHour,
            from,
            end,
        )
        .unwrap();
        let b = build_report(
            &filtered,
            config.clone(),
            kind,
            IntervalLength::QuarterHour,
            from,
            end,
        )
        .unwrap();
        assert_eq!(a, b);
    }

    // The activity was real: calls answered, some abandoned, bob on a break.
    let support = Dimension::queue("default", "support");
    let day = build_report(
        &journal,
        config.clone(),
        ReportKind::QueueService,
        IntervalLength::Day,
        from,
        end,
    )
    .unwrap();
    let row = day.rows.iter().find(|r| r.dimension == support).unwrap();
    let c = row.figures.counters;
    assert_eq!(c.offered, 20);
    assert!(c.answered >= 10 && c.abandoned >= 2, "{c:?}");
    assert_eq!(c.offered, c.answered + c.abandoned);
    eprintln!("support over the period: {c:?}");
    // The hour and day agree with the live engine's own totals.
    for (length, start) in [
        (IntervalLength::Hour, from),
        (
            IntervalLength::Day,
            live.interval_start(IntervalLength::Day, from),
        ),
    ] {
        let report = build_report(
            &journal,
            config.clone(),
            ReportKind::AgentPerformance,
            length,
            from,
            end,
        )
        .unwrap();
        for row in report.rows.iter().filter(|r| r.interval_start == start) {
            assert_eq!(
                row.figures.counters,
                live.totals(&row.dimension, row.interval_start, row.interval_end),
                "{length:?} {:?}",
                row.dimension
            );
        }
    }
    let bob = live.totals(&Dimension::agent("default", "bob"), from, end);
    assert_eq!(bob.not_ready_ms, 1_080_000);
    center.shutdown().await;
    drop(store);
    std::fs::remove_dir_all(&dir).unwrap();
}
