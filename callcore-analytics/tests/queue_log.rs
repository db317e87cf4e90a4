//! The `queue_log` journal: exact lines for a call's life, parsing back, and a
//! file that another reader tails while it is written.
#![allow(clippy::unwrap_used)]

use callcore::{AgentState, EndReason, Event, EventKind, OfferEnd, QueueDefinition, Timestamp};
use callcore_analytics::queue_log::{QueueLog, QueueLogLine, QueueLogWriter, parse};
use std::io::{BufRead, BufReader};

const T: i64 = 1_700_038_800;

fn ev(s: i64, kind: EventKind) -> Event {
    Event {
        seq: 0,
        at: Timestamp::from_secs(T + s),
        tenant: "default".into(),
        kind,
    }
}

fn call() -> Vec<Event> {
    use AgentState::*;
    let state = |agent: &str, from, to| EventKind::AgentStateChanged {
        agent: agent.into(),
        from,
        to,
    };
    vec![
        ev(
            -10,
            EventKind::QueueAdded {
                definition: Box::new(QueueDefinition::new("support")),
            },
        ),
        ev(-5, state("alice", Offline, Available)),
        ev(
            0,
            EventKind::Queued {
                interaction: "c1".into(),
                queue: "support".into(),
                position: 2,
                estimated_wait_secs: None,
            },
        ),
        ev(
            1,
            EventKind::Offered {
                interaction: "c1".into(),
                queue: "support".into(),
                agent: "bob".into(),
                reservation: "r1".into(),
                expires_at: Timestamp::from_secs(T + 16),
            },
        ),
        ev(
            16,
            EventKind::OfferEnded {
                interaction: "c1".into(),
                agent: "bob".into(),
                reservation: "r1".into(),
                outcome: OfferEnd::TimedOut,
            },
        ),
        ev(
            16,
            EventKind::Offered {
                interaction: "c1".into(),
                queue: "support".into(),
                agent: "alice".into(),
                reservation: "r2".into(),
                expires_at: Timestamp::from_secs(T + 31),
            },
        ),
        ev(
            19,
            EventKind::OfferAccepted {
                interaction: "c1".into(),
                agent: "alice".into(),
                reservation: "r2".into(),
            },
        ),
        ev(
            19,
            EventKind::Connected {
                interaction: "c1".into(),
                agent: "alice".into(),
                queue: "support".into(),
            },
        ),
        ev(
            30,
            EventKind::Held {
                interaction: "c1".into(),
            },
        ),
        ev(
            40,
            EventKind::Resumed {
                interaction: "c1".into(),
            },
        ),
        ev(
            139,
            EventKind::Ended {
                interaction: "c1".into(),
                reason: EndReason::CustomerHangup,
            },
        ),
        ev(
            139,
            EventKind::WrapUpStarted {
                interaction: "c1".into(),
                agent: "alice".into(),
                duration_secs: 10,
            },
        ),
        ev(
            149,
            EventKind::WrapUpEnded {
                interaction: "c1".into(),
                agent: "alice".into(),
            },
        ),
        ev(150, state("alice", WrapUp, NotReady("lunch|break".into()))),
        ev(
            200,
            EventKind::Queued {
                interaction: "c2".into(),
                queue: "support".into(),
                position: 1,
                estimated_wait_secs: None,
            },
        ),
        ev(
            245,
            EventKind::Abandoned {
                interaction: "c2".into(),
                queue: "support".into(),
            },
        ),
        ev(
            245,
            EventKind::Ended {
                interaction: "c2".into(),
                reason: EndReason::Abandoned,
            },
        ),
        ev(
            300,
            EventKind::Queued {
                interaction: "c3".into(),
                queue: "support".into(),
                position: 1,
                estimated_wait_secs: None,
            },
        ),
        ev(
            420,
            EventKind::QueueExited {
                interaction: "c3".into(),
                queue: "support".into(),
                reason: "timeout".into(),
            },
        ),
        ev(500, state("alice", NotReady("lunch".into()), Offline)),
    ]
}

#[test]
fn a_call_life_in_asterisk_queue_log_lines() {
    let mut log = QueueLog::new();
    let lines: Vec<String> = call()
        .iter()
        .flat_map(|e| log.lines(e))
        .map(|l| l.to_string())
        .collect();
    let t = |s: i64| T + s;
    let expected = vec![
        format!("{}|NONE|support|NONE|QUEUEADD", t(-10)),
        format!("{}|NONE|NONE|alice|AGENTLOGIN|", t(-5)),
        format!("{}|c1|support|NONE|ENTERQUEUE|||2", t(0)),
        format!("{}|c1|support|bob|OFFER|r1", t(1)),
        format!("{}|c1|support|bob|RINGNOANSWER|15000", t(16)),
        format!("{}|c1|support|alice|OFFER|r2", t(16)),
        format!("{}|c1|support|alice|ACCEPT|r2", t(19)),
        format!("{}|c1|support|alice|CONNECT|19||3", t(19)),
        format!("{}|c1|support|alice|HOLD", t(30)),
        format!("{}|c1|support|alice|UNHOLD", t(40)),
        format!("{}|c1|support|alice|COMPLETECALLER|19|120|2", t(139)),
        format!("{}|c1|NONE|alice|WRAPUPSTART|10", t(139)),
        format!("{}|c1|NONE|alice|WRAPUPEND", t(149)),
        format!("{}|NONE|NONE|alice|PAUSE|lunch_break", t(150)),
        format!("{}|c2|support|NONE|ENTERQUEUE|||1", t(200)),
        format!("{}|c2|support|NONE|ABANDON|1|1|45", t(245)),
        format!("{}|c3|support|NONE|ENTERQUEUE|||1", t(300)),
        format!("{}|c3|support|NONE|EXITWITHTIMEOUT|1|1|120", t(420)),
        format!("{}|NONE|NONE|alice|AGENTLOGOFF||505", t(500)),
    ];
    assert_eq!(lines, expected);
    // And back.
    let parsed = parse(&lines.join("\n")).unwrap();
    assert_eq!(parsed.len(), lines.len());
    assert_eq!(parsed[15].event, "ABANDON");
    assert_eq!(parsed[15].data, vec!["1", "1", "45"]);
}

#[test]
fn bad_lines_are_refused_with_their_line_number() {
    let err = parse("1700000000|c1|q|NONE|ENTERQUEUE\nnot-a-time|c1|q|NONE|X\n").unwrap_err();
    assert!(err.to_string().contains("line 2"), "{err}");
    assert!("1700000000|c1|q".parse::<QueueLogLine>().is_err());
    assert!("1700000000|c1|q|a|".parse::<QueueLogLine>().is_err());
}

#[test]
fn another_process_can_tail_the_file_while_it_is_written() {
    let path = std::env::temp_dir().join(format!("cc-queue-log-{}.log", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let mut writer = QueueLogWriter::append_to(&path).unwrap();
    let mut tail = BufReader::new(std::fs::File::open(&path).unwrap());
    let mut seen = Vec::new();
    for e in call() {
        let n = writer.write_event(&e).unwrap();
        // Every line is readable as soon as write_event returns.
        for _ in 0..n {
            let mut line = String::new();
            assert!(tail.read_line(&mut line).unwrap() > 0);
            seen.push(line.parse::<QueueLogLine>().unwrap());
        }
    }
    assert_eq!(seen.len(), 19);
    assert_eq!(seen.last().unwrap().event, "AGENTLOGOFF");
    drop(writer);
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn pauses_name_their_reason_and_a_run_opens_with_queuestart() {
    use AgentState::*;
    let mut log = QueueLog::new();
    let state = |from, to| {
        ev(
            0,
            EventKind::AgentStateChanged {
                agent: "alice".into(),
                from,
                to,
            },
        )
    };
    let lines: Vec<String> = [
        state(Offline, NotReady("training".into())),
        state(NotReady("training".into()), NotReady("lunch".into())),
        state(NotReady("lunch".into()), Available),
    ]
    .iter()
    .flat_map(|e| log.lines(e))
    .map(|l| l.to_string())
    .collect();
    // as Asterisk: the login, then each pause with its reason, and the
    // unpause naming the reason of the pause it ends
    assert_eq!(
        lines,
        vec![
            format!("{T}|NONE|NONE|alice|AGENTLOGIN|"),
            format!("{T}|NONE|NONE|alice|PAUSE|training"),
            format!("{T}|NONE|NONE|alice|PAUSE|lunch"),
            format!("{T}|NONE|NONE|alice|UNPAUSE|lunch"),
        ]
    );
    assert_eq!(
        QueueLog::start_line(Timestamp::from_secs(T)).to_string(),
        format!("{T}|NONE|NONE|NONE|QUEUESTART|")
    );
}

#[cfg(unix)]
#[test]
fn a_new_queue_log_is_not_readable_by_every_user() {
    use std::os::unix::fs::PermissionsExt;
    let path = std::env::temp_dir().join(format!("cc-queue-log-mode-{}.log", std::process::id()));
    let _ = std::fs::remove_file(&path);
    drop(QueueLogWriter::append_to(&path).unwrap());
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o640, "owner and group only");
    std::fs::remove_file(&path).unwrap();
}
