#![allow(clippy::unwrap_used)]

use super::*;

fn t(ms: i64) -> Timestamp {
    Timestamp::from_millis(1_700_000_000_000 + ms)
}

fn limits(workers: usize, lag_ms: Option<u64>, backlog_ms: u64) -> Limits {
    Limits {
        workers,
        max_lag: lag_ms.map(Duration::from_millis),
        max_backlog_ms: backlog_ms,
    }
}

/// Everything the backlog asks for at `now`, as (job, "run"/"late"/"full").
fn steps(b: &mut Backlog<u32>, now: Timestamp) -> Vec<(u32, &'static str)> {
    std::iter::from_fn(|| b.poll(now))
        .map(|s| match s {
            Step::Run { job, .. } => (job, "run"),
            Step::Shed {
                job,
                why: ShedReason::Late(_),
            } => (job, "late"),
            Step::Shed {
                job,
                why: ShedReason::Full,
            } => (job, "full"),
        })
        .collect()
}

#[test]
fn at_most_the_workers_run_and_the_oldest_goes_first() {
    let mut b = Backlog::new(limits(2, None, 1_000_000));
    for (i, at) in [(1, 0), (2, 10), (3, 20), (4, 30)] {
        b.push(i, 1000, t(at));
    }
    assert_eq!(steps(&mut b, t(40)), [(1, "run"), (2, "run")]);
    let f = b.figures();
    assert_eq!((f.running, f.waiting, f.waiting_ms), (2, 2, 2000));
    // nothing more until a worker is given back, then the oldest waiting
    assert_eq!(steps(&mut b, t(5000)), []);
    b.done();
    assert_eq!(steps(&mut b, t(5000)), [(3, "run")]);
    b.done();
    b.done();
    assert_eq!(steps(&mut b, t(6000)), [(4, "run")]);
    let f = b.figures();
    assert_eq!(
        (f.started, f.running, f.waiting, f.max_wait_ms),
        (4, 1, 0, 5970)
    );
    assert!(!b.is_idle());
    b.done();
    assert!(b.is_idle());
}

#[test]
fn zero_workers_still_means_one() {
    let mut b = Backlog::new(limits(0, None, 1_000_000));
    b.push(1, 100, t(0));
    b.push(2, 100, t(0));
    assert_eq!(steps(&mut b, t(0)), [(1, "run")]);
}

#[test]
fn an_utterance_waiting_past_the_lag_limit_is_shed_not_transcribed() {
    let mut b = Backlog::new(limits(1, Some(20_000), 1_000_000));
    b.push(1, 1000, t(0));
    b.push(2, 1000, t(1000));
    b.push(3, 1000, t(15_000));
    assert_eq!(steps(&mut b, t(15_000)), [(1, "run")]);
    // the oldest waiting one passes the limit 20 s after it arrived (+1 ms)
    assert_eq!(b.poll_timeout(), Some(t(21_001)));
    assert_eq!(
        steps(&mut b, t(21_000)),
        [],
        "exactly the limit is not late"
    );
    assert_eq!(steps(&mut b, t(21_001)), [(2, "late")]);
    assert_eq!(b.poll_timeout(), Some(t(35_001)));
    // the worker comes back in time for the next one
    b.done();
    assert_eq!(steps(&mut b, t(30_000)), [(3, "run")]);
    assert_eq!(b.poll_timeout(), None);
    let f = b.figures();
    assert_eq!((f.started, f.shed_late, f.shed_full), (2, 1, 0));
}

#[test]
fn a_late_utterance_reports_how_long_it_waited() {
    let mut b = Backlog::new(limits(1, Some(1000), 1_000_000));
    b.push(1, 100, t(0));
    b.push(2, 100, t(0));
    assert!(matches!(b.poll(t(0)), Some(Step::Run { job: 1, .. })));
    assert_eq!(
        b.poll(t(2500)),
        Some(Step::Shed {
            job: 2,
            why: ShedReason::Late(Duration::from_millis(2500))
        })
    );
}

#[test]
fn lag_zero_never_sheds_by_age() {
    let mut b = Backlog::new(limits(1, None, 1_000_000));
    b.push(1, 100, t(0));
    b.push(2, 100, t(0));
    assert_eq!(steps(&mut b, t(0)), [(1, "run")]);
    assert_eq!(b.poll_timeout(), None);
    assert_eq!(steps(&mut b, t(3_600_000)), []);
    b.done();
    assert_eq!(steps(&mut b, t(3_600_000)), [(2, "run")]);
}

#[test]
fn the_backlog_cap_sheds_the_oldest_waiting_and_keeps_the_newest() {
    // 5 s of audio may wait; no lag limit
    let mut b = Backlog::new(limits(1, None, 5000));
    b.push(1, 2000, t(0));
    assert_eq!(steps(&mut b, t(0)), [(1, "run")]);
    for (i, at) in [(2, 100), (3, 200), (4, 300)] {
        b.push(i, 2000, t(at));
    }
    // 6 s waiting: the oldest goes
    assert_eq!(steps(&mut b, t(300)), [(2, "full")]);
    assert_eq!(b.figures().waiting_ms, 4000);
    // one utterance longer than the cap alone is kept
    let mut b = Backlog::new(limits(1, None, 5000));
    b.push(1, 100, t(0));
    assert_eq!(steps(&mut b, t(0)), [(1, "run")]);
    b.push(2, 9000, t(1));
    assert_eq!(steps(&mut b, t(1)), []);
    b.push(3, 100, t(2));
    assert_eq!(steps(&mut b, t(2)), [(2, "full")]);
    b.done();
    assert_eq!(steps(&mut b, t(3)), [(3, "run")]);
    let f = b.figures();
    assert_eq!((f.shed_full, f.waiting, f.waiting_ms), (1, 0, 0));
}

#[test]
fn the_reasons_name_their_setting() {
    assert!(
        ShedReason::Late(Duration::from_millis(20_400))
            .to_string()
            .contains("20.4 s")
    );
    assert!(
        ShedReason::Full
            .to_string()
            .contains("max_transcription_backlog_secs")
    );
}
