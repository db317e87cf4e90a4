//! A day of calls through the `queue_log` translator, checked against what
//! Asterisk's app_queue writes for the same events (docs/queue_log.md): every
//! Asterisk verb carries Asterisk's data fields in Asterisk's order, times are
//! the ones Asterisk computes (hold time from entering the queue, call time
//! from the connection, ring time in milliseconds), and the lines callcore adds
//! use verbs Asterisk never writes, so tools reading the file skip them.
#![allow(clippy::unwrap_used)]

use callcore::{AgentState, EndReason, Event, EventKind, OfferEnd, QueueDefinition, Timestamp};
use callcore_analytics::queue_log::{QueueLog, QueueLogLine};

const T: i64 = 1_700_038_800;

fn ev(s: i64, kind: EventKind) -> Event {
    Event {
        seq: 0,
        at: Timestamp::from_secs(T + s),
        tenant: "default".into(),
        kind,
    }
}

fn queued(s: i64, call: &str, position: u32) -> Event {
    ev(
        s,
        EventKind::Queued {
            interaction: call.into(),
            queue: "support".into(),
            position,
            estimated_wait_secs: None,
        },
    )
}

fn offered(s: i64, call: &str, agent: &str, r: &str) -> Event {
    ev(
        s,
        EventKind::Offered {
            interaction: call.into(),
            queue: "support".into(),
            agent: agent.into(),
            reservation: r.into(),
            expires_at: Timestamp::from_secs(T + s + 15),
        },
    )
}

fn connected(s: i64, call: &str, agent: &str) -> Event {
    ev(
        s,
        EventKind::Connected {
            interaction: call.into(),
            agent: agent.into(),
            queue: "support".into(),
        },
    )
}

fn ended(s: i64, call: &str, reason: EndReason) -> Event {
    ev(
        s,
        EventKind::Ended {
            interaction: call.into(),
            reason,
        },
    )
}

fn state(s: i64, agent: &str, from: AgentState, to: AgentState) -> Event {
    ev(
        s,
        EventKind::AgentStateChanged {
            agent: agent.into(),
            from,
            to,
        },
    )
}

fn day() -> Vec<Event> {
    use AgentState::*;
    let lunch = || NotReady("lunch".into());
    vec![
        ev(
            0,
            EventKind::QueueAdded {
                definition: Box::new(QueueDefinition::new("support")),
            },
        ),
        state(10, "alice", Offline, Available),
        state(11, "bob", Offline, lunch()),
        // c1: answered by alice after 12 s, the caller hangs up after 100 s
        queued(100, "c1", 1),
        offered(104, "c1", "alice", "r1"),
        connected(112, "c1", "alice"),
        ended(212, "c1", EndReason::CustomerHangup),
        // c2: bob does not answer (15 s), alice takes it, then hangs up herself
        state(300, "bob", lunch(), Available),
        queued(400, "c2", 1),
        offered(400, "c2", "bob", "r2"),
        ev(
            415,
            EventKind::OfferEnded {
                interaction: "c2".into(),
                agent: "bob".into(),
                reservation: "r2".into(),
                outcome: OfferEnd::TimedOut,
            },
        ),
        offered(415, "c2", "alice", "r3"),
        connected(420, "c2", "alice"),
        ended(480, "c2", EndReason::AgentHangup),
        // c3: the caller hangs up while alice's phone rings
        queued(500, "c3", 1),
        offered(502, "c3", "alice", "r4"),
        ev(
            505,
            EventKind::OfferEnded {
                interaction: "c3".into(),
                agent: "alice".into(),
                reservation: "r4".into(),
                outcome: OfferEnd::Canceled,
            },
        ),
        ev(
            505,
            EventKind::Abandoned {
                interaction: "c3".into(),
                queue: "support".into(),
            },
        ),
        // c4: answered by bob, transferred blind to sales after 30 s
        queued(600, "c4", 1),
        connected(603, "c4", "bob"),
        ev(
            633,
            EventKind::Transferred {
                interaction: "c4".into(),
                target: "sales".into(),
            },
        ),
        // c5: nobody logged in any more: the queue empties it out
        state(700, "alice", Available, Offline),
        state(701, "bob", Available, Offline),
        queued(800, "c5", 1),
        ev(
            801,
            EventKind::QueueExited {
                interaction: "c5".into(),
                queue: "support".into(),
                reason: "no_agents".into(),
            },
        ),
        // c6: alice back; she answers, consults bob and completes an
        // attended transfer to him; bob ends the call (Asterisk writes no
        // more lines for a transferred call)
        state(900, "alice", Offline, Available),
        state(901, "bob", Offline, Available),
        queued(910, "c6", 1),
        connected(914, "c6", "alice"),
        ev(
            930,
            EventKind::ConsultStarted {
                interaction: "c6".into(),
                agent: "alice".into(),
                target: "agent:bob".into(),
            },
        ),
        ev(
            950,
            EventKind::ConsultEnded {
                interaction: "c6".into(),
                target: "agent:bob".into(),
                outcome: "completed".into(),
            },
        ),
        ev(
            950,
            EventKind::Transferred {
                interaction: "c6".into(),
                target: "agent:bob".into(),
            },
        ),
        connected(950, "c6", "bob"),
        ended(990, "c6", EndReason::AgentHangup),
        // c7: the caller presses the callback key after 20 s
        queued(1000, "c7", 1),
        ev(
            1020,
            EventKind::QueueExited {
                interaction: "c7".into(),
                queue: "support".into(),
                reason: "callback".into(),
            },
        ),
    ]
}

/// Asterisk's data fields per verb, as app_queue.c formats them.
const ASTERISK: &[(&str, &[&str])] = &[
    ("ENTERQUEUE", &["url", "callerid", "position"]),
    ("CONNECT", &["holdtime", "bridged_uniqueid", "ringtime"]),
    ("COMPLETECALLER", &["holdtime", "calltime", "origposition"]),
    ("COMPLETEAGENT", &["holdtime", "calltime", "origposition"]),
    ("ABANDON", &["position", "origposition", "waittime"]),
    ("EXITEMPTY", &["position", "origposition", "waittime"]),
    ("EXITWITHTIMEOUT", &["position", "origposition", "waittime"]),
    (
        "EXITWITHKEY",
        &["key", "position", "origposition", "waittime"],
    ),
    (
        "ATTENDEDTRANSFER",
        &[
            "method",
            "method-data",
            "holdtime",
            "calltime",
            "origposition",
        ],
    ),
    ("RINGNOANSWER", &["ringtime_ms"]),
    ("RINGCANCELED", &["ringtime_ms"]),
    (
        "BLINDTRANSFER",
        &[
            "extension",
            "context",
            "holdtime",
            "calltime",
            "origposition",
        ],
    ),
    ("AGENTLOGIN", &["channel"]),
    ("AGENTLOGOFF", &["channel", "logintime"]),
    ("PAUSE", &["reason"]),
    ("UNPAUSE", &["reason"]),
    ("ADDMEMBER", &["paused"]),
    ("REMOVEMEMBER", &["empty"]),
    ("QUEUESTART", &["empty"]),
];

/// Verbs only callcore writes (Asterisk tools skip unknown verbs).
const EXTRA: &[&str] = &[
    "OFFER",
    "ACCEPT",
    "HOLD",
    "UNHOLD",
    "WRAPUPSTART",
    "WRAPUPEND",
    "DISPOSITION",
    "AGENTSTATE",
    "QUEUEADD",
    "QUEUEREMOVE",
];

fn lines() -> Vec<QueueLogLine> {
    let mut log = QueueLog::new();
    let mut out = vec![QueueLog::start_line(Timestamp::from_secs(T))];
    out.extend(day().iter().flat_map(|e| log.lines(e)));
    out
}

#[test]
fn every_asterisk_verb_has_asterisks_fields() {
    for l in lines() {
        match ASTERISK.iter().find(|(v, _)| *v == l.event) {
            Some((verb, fields)) => {
                assert_eq!(l.data.len(), fields.len(), "{verb} {fields:?}: {l}");
            }
            None => assert!(EXTRA.contains(&l.event.as_str()), "unknown verb: {l}"),
        }
    }
}

#[test]
fn the_day_reads_as_asterisk_writes_it() {
    let ours: Vec<String> = lines()
        .into_iter()
        .filter(|l| ASTERISK.iter().any(|(v, _)| *v == l.event))
        .map(|l| l.to_string())
        .collect();
    let t = |s: i64| T + s;
    // What app_queue writes for the same day, with callcore's call ids for
    // Asterisk's channel unique ids and agent ids for member names. The
    // channel fields (CONNECT's bridged channel, AGENTLOGIN's) stay empty:
    // callcore has no such channels.
    let asterisk = vec![
        format!("{}|NONE|NONE|NONE|QUEUESTART|", t(0)),
        format!("{}|NONE|NONE|alice|AGENTLOGIN|", t(10)),
        format!("{}|NONE|NONE|bob|AGENTLOGIN|", t(11)),
        format!("{}|NONE|NONE|bob|PAUSE|lunch", t(11)),
        format!("{}|c1|support|NONE|ENTERQUEUE|||1", t(100)),
        format!("{}|c1|support|alice|CONNECT|12||8", t(112)),
        format!("{}|c1|support|alice|COMPLETECALLER|12|100|1", t(212)),
        format!("{}|NONE|NONE|bob|UNPAUSE|lunch", t(300)),
        format!("{}|c2|support|NONE|ENTERQUEUE|||1", t(400)),
        format!("{}|c2|support|bob|RINGNOANSWER|15000", t(415)),
        format!("{}|c2|support|alice|CONNECT|20||5", t(420)),
        format!("{}|c2|support|alice|COMPLETEAGENT|20|60|1", t(480)),
        format!("{}|c3|support|NONE|ENTERQUEUE|||1", t(500)),
        format!("{}|c3|support|alice|RINGCANCELED|3000", t(505)),
        format!("{}|c3|support|NONE|ABANDON|1|1|5", t(505)),
        format!("{}|c4|support|NONE|ENTERQUEUE|||1", t(600)),
        format!("{}|c4|support|bob|CONNECT|3||0", t(603)),
        format!("{}|c4|support|bob|BLINDTRANSFER|sales||3|30|1", t(633)),
        format!("{}|NONE|NONE|alice|AGENTLOGOFF||690", t(700)),
        format!("{}|NONE|NONE|bob|AGENTLOGOFF||690", t(701)),
        format!("{}|c5|support|NONE|ENTERQUEUE|||1", t(800)),
        format!("{}|c5|support|NONE|EXITEMPTY|1|1|1", t(801)),
        format!("{}|NONE|NONE|alice|AGENTLOGIN|", t(900)),
        format!("{}|NONE|NONE|bob|AGENTLOGIN|", t(901)),
        format!("{}|c6|support|NONE|ENTERQUEUE|||1", t(910)),
        format!("{}|c6|support|alice|CONNECT|4||0", t(914)),
        format!(
            "{}|c6|support|alice|ATTENDEDTRANSFER|BRIDGE|agent:bob|4|36|1",
            t(950)
        ),
        format!("{}|c7|support|NONE|ENTERQUEUE|||1", t(1000)),
        format!("{}|c7|support|NONE|EXITWITHKEY||1|1|20", t(1020)),
    ];
    assert_eq!(ours, asterisk);
}
