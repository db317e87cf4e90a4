//! Service levels per channel of a queue, from journaled events: voice
//! against 20 s, chat against 60 s, e-mail against 4 hours counted in the
//! queue's business hours (Monday–Friday 09:00–17:00 London, 2026-12-25
//! closed), in the `queue_service` report's `channels`.
//!
//! | contact | channel | queued                 | answered                | waited (business) | met |
//! |---------|---------|------------------------|-------------------------|-------------------|-----|
//! | v1      | voice   | Tue 1 Dec 10:00:00     | 10:00:15                | 15 s              | yes |
//! | v2      | voice   | Tue 10:01:00           | 10:01:40                | 40 s              | no  |
//! | c1      | chat    | Tue 10:02:00           | 10:02:50                | 50 s              | yes |
//! | c2      | chat    | Tue 10:03:00           | abandons 10:05:00       | 120 s             | no  |
//! | e1      | e-mail  | Fri 4 Dec 15:00        | Mon 7 Dec 11:00         | 4 h (66 h wall)   | yes |
//! | e2      | e-mail  | Thu 24 Dec 16:30       | Mon 28 Dec 13:00        | 4.5 h (Christmas) | no  |
//! | e3      | e-mail  | Sat 5 Dec 08:00        | Mon 7 Dec 12:59         | 3 h 59 min        | yes |
#![allow(clippy::unwrap_used, clippy::float_cmp)]

use callcore::{
    Channel, ChannelServiceLevel, Direction, EndReason, Event, EventKind, Interaction,
    QueueDefinition, TenantId, Timestamp, WorkingHours, WorkingSpan,
};
use callcore_analytics::report::{
    IntervalLength, ReportKind, build_report, build_report_of_queues,
};
use callcore_analytics::{Dimension, MetricsConfig, MetricsEngine};

fn at(rfc3339: &str) -> Timestamp {
    // A small parser for "YYYY-MM-DDTHH:MM:SSZ" (UTC), to keep jiff out of the test.
    let d: Vec<i64> = rfc3339
        .trim_end_matches('Z')
        .split(['-', 'T', ':'])
        .map(|p| p.parse().unwrap())
        .collect();
    let (y, m, day) = (d[0], d[1], d[2]);
    // days from civil (H. Hinnant)
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Timestamp::from_secs(days * 86_400 + d[3] * 3600 + d[4] * 60 + d[5])
}

fn queue() -> QueueDefinition {
    let mut q = QueueDefinition::new("support");
    q.tenant = "default".into();
    q.channel_service_levels = vec![
        ChannelServiceLevel {
            channel: Channel::Voice,
            target_secs: 20,
            goal: Some(0.8),
            business_hours: false,
        },
        ChannelServiceLevel {
            channel: Channel::Chat,
            target_secs: 60,
            goal: None,
            business_hours: false,
        },
        ChannelServiceLevel {
            channel: Channel::Email,
            target_secs: 4 * 3600,
            goal: Some(0.6),
            business_hours: true,
        },
    ];
    q.hours = Some(WorkingHours {
        time_zone: Some("Europe/London".into()),
        utc_offset_minutes: 0,
        weekly: vec![WorkingSpan {
            days: vec![1, 2, 3, 4, 5],
            open: "09:00".into(),
            close: "17:00".into(),
        }],
        holidays: vec!["2026-12-25".into()],
    });
    q
}

#[derive(Default)]
struct Journal(Vec<Event>);

impl Journal {
    fn push(&mut self, when: Timestamp, kind: EventKind) {
        let seq = self.0.len() as u64 + 1;
        self.0.push(Event {
            seq,
            at: when,
            tenant: "default".into(),
            kind,
        });
    }

    /// Created and queued at `from`; answered (or abandoned) at `to`.
    fn contact(&mut self, id: &str, channel: Channel, from: &str, to: &str, answered: bool) {
        let (from, to) = (at(from), at(to));
        let i = Interaction::new(
            id.into(),
            "default".into(),
            channel,
            Direction::Inbound,
            "+1",
            "100",
            from,
        );
        self.push(
            from,
            EventKind::InteractionCreated {
                interaction: Box::new(i),
            },
        );
        self.push(
            from,
            EventKind::Queued {
                interaction: id.into(),
                queue: "support".into(),
                position: 1,
                estimated_wait_secs: None,
            },
        );
        if answered {
            self.push(
                to,
                EventKind::Connected {
                    interaction: id.into(),
                    agent: "alice".into(),
                    queue: "support".into(),
                },
            );
            self.push(
                to,
                EventKind::Ended {
                    interaction: id.into(),
                    reason: EndReason::Completed,
                },
            );
        } else {
            self.push(
                to,
                EventKind::Abandoned {
                    interaction: id.into(),
                    queue: "support".into(),
                },
            );
        }
    }
}

fn journal(with_queue_added: bool) -> Vec<Event> {
    let mut j = Journal::default();
    if with_queue_added {
        j.push(
            at("2026-11-30T08:00:00Z"),
            EventKind::QueueAdded {
                definition: Box::new(queue()),
            },
        );
    }
    j.contact(
        "v1",
        Channel::Voice,
        "2026-12-01T10:00:00Z",
        "2026-12-01T10:00:15Z",
        true,
    );
    j.contact(
        "v2",
        Channel::Voice,
        "2026-12-01T10:01:00Z",
        "2026-12-01T10:01:40Z",
        true,
    );
    j.contact(
        "c1",
        Channel::Chat,
        "2026-12-01T10:02:00Z",
        "2026-12-01T10:02:50Z",
        true,
    );
    j.contact(
        "c2",
        Channel::Chat,
        "2026-12-01T10:03:00Z",
        "2026-12-01T10:05:00Z",
        false,
    );
    j.contact(
        "e1",
        Channel::Email,
        "2026-12-04T15:00:00Z",
        "2026-12-07T11:00:00Z",
        true,
    );
    j.contact(
        "e3",
        Channel::Email,
        "2026-12-05T08:00:00Z",
        "2026-12-07T12:59:00Z",
        true,
    );
    j.contact(
        "e2",
        Channel::Email,
        "2026-12-24T16:30:00Z",
        "2026-12-28T13:00:00Z",
        true,
    );
    j.0.sort_by_key(|e| e.at);
    j.0
}

fn check(report: &callcore_analytics::report::Report) {
    let rows: Vec<_> = report
        .rows
        .iter()
        .filter(|r| matches!(r.dimension, Dimension::Queue { .. }))
        .collect();
    assert!(!rows.is_empty());
    let sum = |ch: &str, f: fn(&callcore_analytics::ChannelServiceFigures) -> u64| -> u64 {
        rows.iter().filter_map(|r| r.channels.get(ch)).map(f).sum()
    };
    assert_eq!(sum("voice", |f| f.offered), 2);
    assert_eq!(sum("voice", |f| f.answered_within_target), 1);
    assert_eq!(sum("chat", |f| f.offered), 2);
    assert_eq!(sum("chat", |f| f.abandoned), 1);
    assert_eq!(sum("chat", |f| f.answered_within_target), 1);
    assert_eq!(sum("email", |f| f.answered), 3);
    assert_eq!(
        sum("email", |f| f.answered_within_target),
        2,
        "e1 and e3 met, e2 not"
    );
    let email = rows.iter().find_map(|r| r.channels.get("email")).unwrap();
    assert_eq!((email.target_secs, email.business_hours), (14_400, true));
    // The queue's own figure still uses its 20 s threshold for every channel:
    // only the 15 s voice call met it.
    let queue_within: u64 = rows
        .iter()
        .map(|r| r.figures.counters.answered_within_sl)
        .sum();
    assert_eq!(queue_within, 1);
}

#[test]
fn each_channel_is_measured_against_its_own_target_and_email_in_business_hours() {
    let events = journal(true);
    let report = build_report(
        &events,
        MetricsConfig::default(),
        ReportKind::QueueService,
        IntervalLength::Day,
        at("2026-12-01T00:00:00Z"),
        at("2026-12-29T00:00:00Z"),
    )
    .unwrap();
    check(&report);
    // Tuesday's row alone: voice 1 of 2 (goal 80 %: not met), chat 1 of 2.
    let tuesday = report
        .rows
        .iter()
        .find(|r| {
            matches!(r.dimension, Dimension::Queue { .. })
                && r.interval_start == at("2026-12-01T00:00:00Z")
        })
        .unwrap();
    let voice = &tuesday.channels["voice"];
    assert_eq!(voice.service_level, Some(0.5));
    assert_eq!(voice.goal_met, Some(false));
    assert_eq!(tuesday.channels["chat"].goal_met, None);
    // The JSON keeps the queue's fields and adds `channels`.
    let json = serde_json::to_value(tuesday).unwrap();
    assert!(
        json["figures"]["service_level"].is_number() || json["figures"]["service_level"].is_null()
    );
    assert_eq!(json["channels"]["email"], serde_json::Value::Null);
    assert_eq!(json["channels"]["voice"]["target_secs"], 20);
}

#[test]
fn a_journal_without_queue_added_uses_the_definitions_given() {
    let events = journal(false);
    let queues = [(TenantId::from("default"), queue())];
    let report = build_report_of_queues(
        &events,
        &queues,
        MetricsConfig::default(),
        ReportKind::QueueService,
        IntervalLength::Day,
        at("2026-12-01T00:00:00Z"),
        at("2026-12-29T00:00:00Z"),
    )
    .unwrap();
    check(&report);
}

#[test]
fn the_live_snapshot_has_a_row_per_queue_channel() {
    let mut engine = MetricsEngine::new(MetricsConfig {
        retention: None,
        ..MetricsConfig::default()
    })
    .unwrap();
    let events = journal(true);
    engine.apply_all(&events[..5]); // queue added, v1 created, queued, answered, ended
    let now = at("2026-12-01T10:00:30Z");
    let snap = engine.snapshot(now, &[]);
    let row = snap
        .row(&Dimension::queue_channel(
            "default",
            "support",
            Channel::Voice,
        ))
        .unwrap();
    assert_eq!(row.today.counters.answered_within_sl, 1);
    let text = callcore_analytics::prometheus::render(&snap);
    assert!(
        text.contains("callcore_contacts_answered{tenant=\"default\",queue=\"support\",channel=\"voice\",window=\"today\"} 1"),
        "{text}"
    );
}
