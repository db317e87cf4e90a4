//! Every metric against a hand-computed event sequence.
//!
//! The scenario (tenant `default`, times in seconds after 09:00 UTC, queue
//! `support` with a 20 s service-level threshold, short abandons under 5 s):
//!
//! | contact | events                                                        |
//! |---------|---------------------------------------------------------------|
//! | c1      | voice; queued 0; alice answers 12; hold 40–70; ends 130; ACW 130–145; CSAT 5 |
//! | c2      | voice; queued 5; abandons 8 (3 s: short, within T)            |
//! | c3      | chat; queued 10; abandons 40 (30 s)                            |
//! | c4      | voice; queued 20; bob answers 50 (30 s); transferred 100; ends 110; ACW 110–120; CSAT 3 |
//! | c5      | voice; queued 30; times out 45 (15 s, within T)                |
//! | c6      | voice; queued 60; overflows to `sales` 90; carol answers 95; ends 155 |
//! | c7      | voice; queued 100; dave answers 105 (5 s); ends 200; CSAT 4    |
//! | c8, c9  | voice; queued in `billing` 250 and 280, still waiting at 300   |
#![allow(clippy::unwrap_used, clippy::float_cmp)]

use callcore::{
    AgentProfile, AgentState, Channel, Destination, Direction, Disposition, EndReason, Event,
    EventKind, Interaction, QueueDefinition, Timestamp,
};
use callcore_analytics::{Dimension, MetricsConfig, MetricsEngine, ServiceLevelFormula};
use std::time::Duration;

const MIDNIGHT: i64 = 1_700_006_400; // 2023-11-15T00:00:00Z
const BASE: i64 = MIDNIGHT + 9 * 3600;

fn at(s: i64) -> Timestamp {
    Timestamp::from_secs(BASE + s)
}

struct Script {
    events: Vec<Event>,
}

impl Script {
    fn push(&mut self, s: i64, kind: EventKind) {
        let seq = self.events.len() as u64 + 1;
        self.events.push(Event {
            seq,
            at: at(s),
            tenant: "default".into(),
            kind,
        });
    }
    fn created(&mut self, s: i64, id: &str, channel: Channel) {
        let i = Interaction::new(
            id.into(),
            "default".into(),
            channel,
            Direction::Inbound,
            "+1",
            "100",
            at(s),
        );
        self.push(
            s,
            EventKind::InteractionCreated {
                interaction: Box::new(i),
            },
        );
    }
    fn queued(&mut self, s: i64, id: &str, q: &str) {
        self.push(
            s,
            EventKind::Queued {
                interaction: id.into(),
                queue: q.into(),
                position: 1,
                estimated_wait_secs: None,
            },
        );
    }
    fn connected(&mut self, s: i64, id: &str, agent: &str, q: &str) {
        self.push(
            s,
            EventKind::Connected {
                interaction: id.into(),
                agent: agent.into(),
                queue: q.into(),
            },
        );
    }
    fn ended(&mut self, s: i64, id: &str, reason: EndReason) {
        self.push(
            s,
            EventKind::Ended {
                interaction: id.into(),
                reason,
            },
        );
    }
    fn state(&mut self, s: i64, agent: &str, from: AgentState, to: AgentState) {
        self.push(
            s,
            EventKind::AgentStateChanged {
                agent: agent.into(),
                from,
                to,
            },
        );
    }
    fn wrap(&mut self, from: i64, to: i64, id: &str, agent: &str) {
        self.push(
            from,
            EventKind::WrapUpStarted {
                interaction: id.into(),
                agent: agent.into(),
                duration_secs: 0,
            },
        );
        self.push(
            to,
            EventKind::WrapUpEnded {
                interaction: id.into(),
                agent: agent.into(),
            },
        );
    }
    fn csat(&mut self, s: i64, id: &str, score: &str) {
        self.push(
            s,
            EventKind::FlowStep {
                interaction: id.into(),
                step: "csat".into(),
                detail: score.into(),
            },
        );
    }
    fn abandon(&mut self, s: i64, id: &str, q: &str) {
        self.push(
            s,
            EventKind::Abandoned {
                interaction: id.into(),
                queue: q.into(),
            },
        );
        self.ended(s, id, EndReason::Abandoned);
    }
}

fn scenario() -> Vec<Event> {
    use AgentState::*;
    let mut s = Script { events: Vec::new() };
    let mut support = QueueDefinition::new("support");
    support.service_level_secs = 20;
    s.push(
        -3600,
        EventKind::QueueAdded {
            definition: Box::new(support),
        },
    );
    s.push(
        -3600,
        EventKind::AgentAdded {
            profile: Box::new(AgentProfile::new("alice")),
        },
    );
    s.state(-60, "alice", Offline, Available);
    s.state(-60, "bob", Offline, Available);
    // c1
    s.created(0, "c1", Channel::Voice);
    s.queued(0, "c1", "support");
    s.state(0, "alice", Available, Reserved);
    s.push(
        0,
        EventKind::Offered {
            interaction: "c1".into(),
            queue: "support".into(),
            agent: "alice".into(),
            reservation: "r1".into(),
            expires_at: at(20),
        },
    );
    s.created(5, "c2", Channel::Voice);
    s.queued(5, "c2", "support");
    s.abandon(8, "c2", "support");
    s.created(10, "c3", Channel::Chat);
    s.queued(10, "c3", "support");
    s.state(12, "alice", Reserved, Busy);
    s.connected(12, "c1", "alice", "support");
    s.created(20, "c4", Channel::Voice);
    s.queued(20, "c4", "support");
    s.created(30, "c5", Channel::Voice);
    s.queued(30, "c5", "support");
    s.abandon(40, "c3", "support");
    s.push(
        40,
        EventKind::Held {
            interaction: "c1".into(),
        },
    );
    s.push(
        45,
        EventKind::QueueExited {
            interaction: "c5".into(),
            queue: "support".into(),
            reason: "timeout".into(),
        },
    );
    s.ended(45, "c5", EndReason::QueueTimeout);
    s.state(50, "bob", Available, Busy);
    s.connected(50, "c4", "bob", "support");
    s.created(60, "c6", Channel::Voice);
    s.queued(60, "c6", "support");
    s.push(
        70,
        EventKind::Resumed {
            interaction: "c1".into(),
        },
    );
    s.push(
        90,
        EventKind::Overflowed {
            interaction: "c6".into(),
            queue: "support".into(),
            destination: Destination::Queue("sales".into()),
        },
    );
    s.queued(90, "c6", "sales");
    s.connected(95, "c6", "carol", "sales");
    s.created(100, "c7", Channel::Voice);
    s.queued(100, "c7", "support");
    s.push(
        100,
        EventKind::Transferred {
            interaction: "c4".into(),
            target: "supervisor".into(),
        },
    );
    s.connected(105, "c7", "dave", "support");
    s.ended(110, "c4", EndReason::Transferred);
    s.wrap(110, 120, "c4", "bob");
    s.state(110, "bob", Busy, NotReady("lunch".into()));
    s.ended(130, "c1", EndReason::CustomerHangup);
    s.state(130, "alice", Busy, WrapUp);
    s.wrap(130, 145, "c1", "alice");
    s.state(145, "alice", WrapUp, Available);
    s.csat(146, "c1", "5");
    s.csat(121, "c4", "3");
    s.ended(155, "c6", EndReason::CustomerHangup);
    s.ended(200, "c7", EndReason::AgentHangup);
    s.csat(201, "c7", "4");
    s.csat(202, "c7", "9"); // out of range: ignored
    s.created(250, "c8", Channel::Voice);
    s.queued(250, "c8", "billing");
    s.created(280, "c9", Channel::Voice);
    s.queued(280, "c9", "billing");
    // The dialer.
    for (n, d) in [
        Disposition::AnsweredPerson,
        Disposition::AnsweringMachine,
        Disposition::Busy,
        Disposition::Abandoned,
    ]
    .into_iter()
    .enumerate()
    {
        s.push(
            290,
            EventKind::DialAttempted {
                interaction: format!("o{n}").into(),
                campaign: "renewals".into(),
                lead: format!("l{n}").into(),
                disposition: d,
            },
        );
    }
    s.events.sort_by_key(|e| e.at); // csat answers were pushed out of order
    s.events
}

fn engine(formula: ServiceLevelFormula) -> MetricsEngine {
    let mut e = MetricsEngine::new(MetricsConfig {
        service_level: formula,
        ..MetricsConfig::default()
    })
    .unwrap();
    e.apply_all(&scenario());
    e.advance(at(300));
    e
}

fn support() -> Dimension {
    Dimension::queue("default", "support")
}

fn close(a: Option<f64>, b: f64) {
    let a = a.unwrap();
    assert!((a - b).abs() < 1e-9, "{a} != {b}");
}

#[test]
fn offered_answered_abandoned_and_short_abandons() {
    let c = engine(ServiceLevelFormula::default()).since_midnight(&support(), at(300));
    assert_eq!(
        c.offered, 7,
        "c1..c7 entered support (c6 once, though it left)"
    );
    assert_eq!(c.answered, 3, "c1, c4, c7");
    assert_eq!(
        c.abandoned, 2,
        "c2, c3 (their `ended` does not count again)"
    );
    assert_eq!(c.short_abandoned, 1, "c2 after 3 s");
    assert_eq!(c.exited, 2, "c5 timed out, c6 overflowed");
    let s = c.summary(ServiceLevelFormula::default());
    close(s.answer_rate, 3.0 / 7.0);
    close(s.abandonment_rate, 2.0 / 7.0);
    close(s.avg_abandon_secs, (3.0 + 30.0) / 2.0);
}

#[test]
fn service_level_by_each_formula() {
    // answered within 20 s: c1 (12 s), c7 (5 s); c4 waited 30 s.
    // abandoned within 20 s: c2. removed within 20 s: c1, c2, c5, c7.
    for (formula, expected) in [
        (
            ServiceLevelFormula::OfferedLessShortAbandons,
            2.0 / (7.0 - 1.0),
        ),
        (ServiceLevelFormula::AnsweredOnly, 2.0 / 3.0),
        (
            ServiceLevelFormula::AnsweredOrAbandonedWithin,
            (2.0 + 1.0) / (3.0 + 2.0),
        ),
        (ServiceLevelFormula::RemovedFromQueue, 4.0 / 7.0),
    ] {
        let e = engine(formula);
        close(
            e.since_midnight(&support(), at(300))
                .summary(formula)
                .service_level,
            expected,
        );
    }
}

#[test]
fn average_speed_of_answer_and_handle_times() {
    let s = engine(ServiceLevelFormula::default())
        .since_midnight(&support(), at(300))
        .summary(ServiceLevelFormula::default());
    close(s.asa_secs, (12.0 + 30.0 + 5.0) / 3.0);
    // talk: c1 130-12-30 = 88, c4 110-50 = 60, c7 200-105 = 95; hold: c1 30;
    // after-call work: c1 15, c4 10.
    assert_eq!(s.counters.handled, 3);
    assert_eq!(
        (
            s.counters.talk_ms,
            s.counters.hold_ms,
            s.counters.wrap_up_ms
        ),
        (243_000, 30_000, 25_000)
    );
    assert_eq!(s.counters.held, 1);
    close(s.aht_secs, (243.0 + 30.0 + 25.0) / 3.0);
    close(s.avg_talk_secs, 81.0);
    close(s.avg_hold_secs, 10.0);
    close(s.avg_wrap_up_secs, 25.0 / 3.0);
    assert_eq!(s.counters.transferred, 1);
}

#[test]
fn transfers_between_queues_count_once_in_each_queue() {
    let e = engine(ServiceLevelFormula::default());
    let sales = e.since_midnight(&Dimension::queue("default", "sales"), at(300));
    assert_eq!(
        (
            sales.offered,
            sales.answered,
            sales.answered_within_sl,
            sales.handled
        ),
        (1, 1, 1, 1)
    );
    assert_eq!(sales.talk_ms, 60_000);
    let tenant = e.since_midnight(&Dimension::tenant_of("default"), at(300));
    assert_eq!(tenant.offered, 7 + 1 + 2, "support + sales + billing");
    assert_eq!(tenant.answered, 4);
    assert_eq!(tenant.arrived, 9);
}

#[test]
fn occupancy_and_agent_figures() {
    let e = engine(ServiceLevelFormula::default());
    let alice = e.since_midnight(&Dimension::agent("default", "alice"), at(300));
    // available -60..0 and 145..300 = 215 s; reserved 0..12; busy 12..130;
    // after-call work 130..145.
    assert_eq!(
        (
            alice.available_ms,
            alice.reserved_ms,
            alice.busy_ms,
            alice.wrap_up_state_ms
        ),
        (215_000, 12_000, 118_000, 15_000)
    );
    let s = alice.summary(ServiceLevelFormula::default());
    close(s.occupancy, (118.0 + 15.0) / (118.0 + 15.0 + 215.0 + 12.0));
    assert_eq!((alice.answered, alice.handled), (1, 1));
    close(s.aht_secs, 88.0 + 30.0 + 15.0);
    let bob = e.since_midnight(&Dimension::agent("default", "bob"), at(300));
    assert_eq!(bob.not_ready_ms, 190_000);
    close(
        bob.summary(ServiceLevelFormula::default()).occupancy,
        60.0 / (60.0 + 110.0),
    );
}

#[test]
fn customer_satisfaction_is_the_share_of_4_and_5() {
    let e = engine(ServiceLevelFormula::default());
    let s = e
        .since_midnight(&support(), at(300))
        .summary(ServiceLevelFormula::default());
    assert_eq!(s.counters.csat_responses, 3);
    close(s.csat, 2.0 / 3.0);
    let bob = e.since_midnight(&Dimension::agent("default", "bob"), at(300));
    assert_eq!((bob.csat_responses, bob.csat_satisfied), (1, 0));
}

#[test]
fn per_channel_figures() {
    let e = engine(ServiceLevelFormula::default());
    let chat = e.since_midnight(&Dimension::channel("default", Channel::Chat), at(300));
    assert_eq!(
        (chat.arrived, chat.offered, chat.abandoned, chat.answered),
        (1, 1, 1, 0)
    );
    let voice = e.since_midnight(&Dimension::channel("default", Channel::Voice), at(300));
    assert_eq!((voice.arrived, voice.answered), (8, 4));
}

#[test]
fn sliding_windows_cover_whole_buckets() {
    let e = engine(ServiceLevelFormula::default());
    // 60 s window at +100: the minute bucket [60, 120): c6 and c7 entered,
    // c6 left, c7 was answered (at 105).
    let w = e.window(&support(), at(100), Duration::from_secs(60));
    assert_eq!((w.offered, w.exited, w.answered), (2, 1, 1));
    // 120 s window: [0, 120): all seven entered, c1, c4 and c7 answered.
    let w = e.window(&support(), at(100), Duration::from_secs(120));
    assert_eq!((w.offered, w.answered, w.abandoned), (7, 3, 2));
}

#[test]
fn live_snapshot_has_waiting_contacts_longest_wait_and_agents_by_state() {
    let mut e = engine(ServiceLevelFormula::default());
    let snap = e.snapshot(at(300), &[Duration::from_secs(900)]);
    let billing = snap.row(&Dimension::queue("default", "billing")).unwrap();
    assert_eq!(billing.waiting, 2);
    assert_eq!(billing.longest_wait_secs, 50.0);
    assert_eq!(
        snap.row(&Dimension::tenant_of("default")).unwrap().waiting,
        2
    );
    assert_eq!(snap.row(&support()).unwrap().waiting, 0);
    let states = &snap.agents_by_state["default"];
    assert_eq!(states.get("available"), Some(&1));
    assert_eq!(states.get("not_ready"), Some(&1));
    let bob = snap
        .agents
        .iter()
        .find(|a| a.agent.as_str() == "bob")
        .unwrap();
    assert_eq!(
        (bob.state.as_str(), bob.reason.as_deref(), bob.in_state_secs),
        ("not_ready", Some("lunch"), 190)
    );
    let row = snap.row(&support()).unwrap();
    assert_eq!(row.windows[0].0, 900);
    assert_eq!(row.windows[0].1.counters.offered, 7);
    assert_eq!(row.today.counters.offered, 7);
}

#[test]
fn dialer_campaign_rates() {
    let e = engine(ServiceLevelFormula::default());
    let c = e.since_midnight(&Dimension::campaign("default", "renewals"), at(300));
    assert_eq!(
        (
            c.dial_attempts,
            c.dial_answered_person,
            c.dial_machine,
            c.dial_not_reached,
            c.dial_abandoned
        ),
        (4, 1, 1, 1, 1)
    );
    let s = c.summary(ServiceLevelFormula::default());
    close(s.dial_contact_rate, 0.25);
    close(s.dial_abandon_rate, 0.5);
}

#[test]
fn since_midnight_resets_at_local_midnight() {
    let mut e = engine(ServiceLevelFormula::default());
    let next_day = Timestamp::from_secs(MIDNIGHT + 86_400 + 60);
    assert_eq!(e.since_midnight(&support(), next_day).offered, 0);
    // China Standard Time: local midnight is 16:00 UTC, so 09:00 UTC is the
    // same local day as 15:00 UTC but not 17:00 UTC.
    let mut cst = MetricsEngine::new(MetricsConfig {
        utc_offset: Duration::from_secs(8 * 3600),
        ..MetricsConfig::default()
    })
    .unwrap();
    cst.apply_all(&scenario());
    assert_eq!(
        cst.since_midnight(&support(), Timestamp::from_secs(MIDNIGHT + 15 * 3600))
            .offered,
        7
    );
    assert_eq!(
        cst.since_midnight(&support(), Timestamp::from_secs(MIDNIGHT + 17 * 3600))
            .offered,
        0
    );
    e.advance(next_day);
}

#[test]
fn bad_config_is_refused_with_the_field_named() {
    let err = MetricsEngine::new(MetricsConfig {
        bucket: Duration::from_secs(7),
        ..MetricsConfig::default()
    })
    .unwrap_err();
    assert!(err.to_string().contains("bucket"), "{err}");
    let err = MetricsEngine::new(MetricsConfig {
        utc_offset: Duration::from_secs(100),
        ..MetricsConfig::default()
    })
    .unwrap_err();
    assert!(err.to_string().contains("utc_offset"), "{err}");
}

#[test]
fn prometheus_exposition_of_the_live_snapshot() {
    let mut e = engine(ServiceLevelFormula::AnsweredOnly);
    let text =
        callcore_analytics::prometheus::render(&e.snapshot(at(300), &[Duration::from_secs(900)]));
    for expected in [
        "callcore_contacts_offered{tenant=\"default\",queue=\"support\",window=\"today\"} 7",
        "callcore_contacts_offered{tenant=\"default\",queue=\"support\",window=\"900s\"} 7",
        "callcore_service_level{tenant=\"default\",queue=\"support\",window=\"today\",formula=\"answered_only\"} 0.6666666666666666",
        "callcore_asa_seconds{tenant=\"default\",queue=\"support\",window=\"today\"} 15.666666666666666",
        "callcore_contacts_waiting{tenant=\"default\",queue=\"billing\"} 2",
        "callcore_longest_wait_seconds{tenant=\"default\",queue=\"billing\"} 50",
        "callcore_agents{tenant=\"default\",state=\"not_ready\"} 1",
        "callcore_occupancy{tenant=\"default\",agent=\"alice\",window=\"today\"} 0.36944444444444446",
        "callcore_contacts_offered{tenant=\"default\",window=\"today\"} 10",
        "# TYPE callcore_csat gauge",
    ] {
        assert!(
            text.lines().any(|l| l == expected),
            "missing {expected}\n{text}"
        );
    }
    // No figure without a denominator: billing answered nobody yet.
    assert!(!text.contains("callcore_asa_seconds{tenant=\"default\",queue=\"billing\""));
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let (series, value) = line.rsplit_once(' ').unwrap();
        assert!(value.parse::<f64>().is_ok(), "{line}");
        assert!(
            series.starts_with("callcore_") && series.ends_with('}'),
            "{line}"
        );
    }
}

#[test]
fn prometheus_label_values_are_escaped() {
    let mut e = MetricsEngine::new(MetricsConfig::default()).unwrap();
    e.apply(&Event {
        seq: 1,
        at: at(0),
        tenant: "default".into(),
        kind: EventKind::Queued {
            interaction: "x".into(),
            queue: "a\"b\\c\nd".into(),
            position: 1,
            estimated_wait_secs: None,
        },
    });
    let text = callcore_analytics::prometheus::render(&e.snapshot(at(10), &[]));
    assert!(text.contains("queue=\"a\\\"b\\\\c\\nd\""), "{text}");
}

#[test]
fn hourly_queue_report_exports_to_csv_and_json() {
    use callcore_analytics::report::{IntervalLength, ReportKind, build_report};
    let report = build_report(
        &scenario(),
        MetricsConfig::default(),
        ReportKind::QueueService,
        IntervalLength::Hour,
        at(0),
        at(3600),
    )
    .unwrap();
    let csv = report.to_csv();
    let lines: Vec<&str> = csv.split("\r\n").filter(|l| !l.is_empty()).collect();
    assert_eq!(
        lines[0],
        "interval_start,interval_end,dimension,tenant,key,offered,answered,answered_within_sl,abandoned,short_abandoned,exited,answer_rate,abandonment_rate,service_level,asa_secs,aht_secs,avg_talk_secs,avg_hold_secs,avg_wrap_up_secs,csat"
    );
    assert_eq!(lines.len(), 4, "billing, sales, support");
    assert_eq!(
        lines[3],
        "2023-11-15T09:00:00.000Z,2023-11-15T10:00:00.000Z,queue,default,support,7,3,2,2,1,2,0.4286,0.2857,0.3333,15.6667,99.3333,81.0000,10.0000,8.3333,0.6667"
    );
    assert!(
        lines[1].ends_with(",billing,2,0,0,0,0,0,0.0000,0.0000,0.0000,,,,,,"),
        "{}",
        lines[1]
    );
    let json: serde_json::Value = serde_json::from_str(&report.to_json().unwrap()).unwrap();
    assert_eq!(json["kind"], "queue_service");
    assert_eq!(json["rows"][2]["dimension"]["queue"], "support");
    assert_eq!(json["rows"][2]["figures"]["counters"]["offered"], 7);
}

#[test]
fn csv_quotes_fields_that_need_it() {
    use callcore_analytics::report::{IntervalLength, ReportKind};
    let mut e = MetricsEngine::for_reports(MetricsConfig::default()).unwrap();
    e.apply(&Event {
        seq: 1,
        at: at(0),
        tenant: "default".into(),
        kind: EventKind::Queued {
            interaction: "x".into(),
            queue: "sales, \"emea\"".into(),
            position: 1,
            estimated_wait_secs: None,
        },
    });
    let csv = e
        .report(ReportKind::QueueService, IntervalLength::Day, at(0), at(1))
        .to_csv();
    assert!(csv.contains(",default,\"sales, \"\"emea\"\"\",1,"), "{csv}");
}

#[test]
fn csv_export_reads_back_with_a_csv_reader() {
    use callcore_analytics::report::{IntervalLength, ReportKind};
    let mut e = MetricsEngine::for_reports(MetricsConfig::default()).unwrap();
    let name = "line one,\r\nline \"two\"; three";
    e.apply(&Event {
        seq: 1,
        at: at(0),
        tenant: "default".into(),
        kind: EventKind::Queued {
            interaction: "x".into(),
            queue: name.into(),
            position: 1,
            estimated_wait_secs: None,
        },
    });
    let report = e.report(ReportKind::QueueService, IntervalLength::Day, at(0), at(1));
    let mut out = Vec::new();
    report.write_csv(&mut out).unwrap();
    assert_eq!(String::from_utf8(out.clone()).unwrap(), report.to_csv());
    let mut reader = csv::Reader::from_reader(&out[..]);
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 1);
    assert_eq!(&rows[0][4], name);
    assert_eq!(&rows[0][5], "1", "offered");
    assert_eq!(reader.headers().unwrap().len(), rows[0].len());
}

/// After an attended (or blind) transfer to another agent, each agent is
/// credited with its own part of the call, and the queue with the call once.
#[test]
fn a_transfer_credits_each_agent_with_its_own_part() {
    let mut s = Script { events: Vec::new() };
    s.state(-10, "alice", AgentState::Offline, AgentState::Available);
    s.state(-10, "bob", AgentState::Offline, AgentState::Available);
    s.created(0, "t1", Channel::Voice);
    s.queued(0, "t1", "support");
    s.connected(10, "t1", "alice", "support");
    s.push(
        20,
        EventKind::Held {
            interaction: "t1".into(),
        },
    );
    s.push(
        25,
        EventKind::Resumed {
            interaction: "t1".into(),
        },
    );
    s.push(
        40,
        EventKind::Transferred {
            interaction: "t1".into(),
            target: "agent:bob".into(),
        },
    );
    s.connected(40, "t1", "bob", "support");
    s.ended(100, "t1", EndReason::AgentHangup);
    let mut e = MetricsEngine::new(MetricsConfig::default()).unwrap();
    e.apply_all(&s.events);
    e.advance(at(300));
    let alice = e.since_midnight(&Dimension::agent("default", "alice"), at(300));
    let bob = e.since_midnight(&Dimension::agent("default", "bob"), at(300));
    let queue = e.since_midnight(&support(), at(300));
    // alice: 30 s connected, 5 s of it on hold; bob: 60 s
    assert_eq!(
        (alice.answered, alice.handled, alice.talk_ms, alice.hold_ms),
        (1, 1, 25_000, 5_000)
    );
    assert_eq!(
        (bob.answered, bob.handled, bob.talk_ms, bob.hold_ms),
        (0, 1, 60_000, 0)
    );
    assert_eq!(
        (
            queue.answered,
            queue.handled,
            queue.talk_ms,
            queue.hold_ms,
            queue.transferred
        ),
        (1, 1, 85_000, 5_000, 1)
    );
}
