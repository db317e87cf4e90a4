//! The cost of the event path every call takes: stamping and publishing an
//! event on the bus, and folding events into an interaction record, each beside
//! a baseline measured in the same run (a bare `tokio::sync::broadcast` send;
//! cloning the event without folding).
//!
//! `cargo bench --bench events`

use callcore::{Channel, Direction, Event, EventKind, Interaction, InteractionRecord, Timestamp};
use callcore_runtime::EventBus;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use std::sync::Arc;

fn call_events() -> (Interaction, Vec<Event>) {
    let t = |s| Timestamp::from_secs(1_700_000_000 + s);
    let interaction = Interaction::new(
        "int-1".into(),
        "default".into(),
        Channel::Voice,
        Direction::Inbound,
        "+4930123456",
        "100",
        t(0),
    );
    let kinds = vec![
        EventKind::InteractionCreated {
            interaction: Box::new(interaction.clone()),
        },
        EventKind::Queued {
            interaction: "int-1".into(),
            queue: "support".into(),
            position: 1,
            estimated_wait_secs: None,
        },
        EventKind::Offered {
            interaction: "int-1".into(),
            queue: "support".into(),
            agent: "alice".into(),
            reservation: "res-1".into(),
            expires_at: t(20),
        },
        EventKind::OfferAccepted {
            interaction: "int-1".into(),
            agent: "alice".into(),
            reservation: "res-1".into(),
        },
        EventKind::Connected {
            interaction: "int-1".into(),
            agent: "alice".into(),
            queue: "support".into(),
        },
        EventKind::Ended {
            interaction: "int-1".into(),
            reason: callcore::EndReason::CustomerHangup,
        },
        EventKind::WrapUpStarted {
            interaction: "int-1".into(),
            agent: "alice".into(),
            duration_secs: 10,
        },
        EventKind::WrapUpEnded {
            interaction: "int-1".into(),
            agent: "alice".into(),
        },
    ];
    let events = kinds
        .into_iter()
        .zip(0u64..)
        .map(|(kind, i)| Event {
            seq: i + 1,
            at: t(i64::try_from(i).unwrap_or(0) * 10),
            tenant: "default".into(),
            kind,
        })
        .collect();
    (interaction, events)
}

fn bench(c: &mut Criterion) {
    let (interaction, events) = call_events();
    let event = Arc::new(events[4].clone());
    let mut g = c.benchmark_group("events");
    g.throughput(Throughput::Elements(1));

    // Publishing with four live subscribers that keep up.
    let bus = EventBus::new(1024);
    let mut subs: Vec<_> = (0..4).map(|_| bus.subscribe()).collect();
    g.bench_function("bus_publish_4_subscribers", |b| {
        b.iter(|| {
            bus.publish(black_box(event.clone()));
            for s in &mut subs {
                black_box(s.try_recv().ok());
            }
        });
    });
    let (tx, _) = tokio::sync::broadcast::channel::<Arc<Event>>(1024);
    let mut raw: Vec<_> = (0..4).map(|_| tx.subscribe()).collect();
    g.bench_function("baseline_broadcast_4_subscribers", |b| {
        b.iter(|| {
            let _ = tx.send(black_box(event.clone()));
            for r in &mut raw {
                black_box(r.try_recv().ok());
            }
        });
    });

    // Folding one call's events into its record (per event).
    g.throughput(Throughput::Elements(events.len() as u64));
    g.bench_function("record_fold_per_call", |b| {
        b.iter(|| {
            let mut r = InteractionRecord::new(black_box(&interaction));
            r.apply_all(black_box(&events));
            black_box(r.handle_ms())
        });
    });
    g.bench_function("baseline_clone_events_per_call", |b| {
        b.iter(|| black_box(black_box(&events).clone()));
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
