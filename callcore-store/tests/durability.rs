//! A finished interaction's record survives `kill -9` right after the call
//! ends.
//!
//! The parent test starts this same test binary as a child running
//! `child_center`: a center on the store under test that takes one call, and
//! prints `ENDED <id>` as soon as the call has ended and either the center's
//! recorder has processed it (`CenterHandle::flush`, mode `flush`) or, earlier,
//! the `ended` event is in the journal (mode `journal`: the record may not be
//! saved yet when the kill lands); then it starts more calls. The parent kills
//! the child with SIGKILL the moment it reads that line, reopens the database
//! and checks the record (times, agent) and the journal.
//!
//! The record must survive in both modes: a record the recorder had no time
//! to save is rebuilt from the journal when the store is opened, which the
//! `*_is_rebuilt_on_open` tests check deterministically.
#![allow(clippy::unwrap_used)]

mod common;

use callcore::{EndReason, EventJournal, EventKind, InteractionRecord, InteractionStore, Stores};
use common::*;
use futures::FutureExt;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

const DB_ENV: &str = "CALLCORE_DURABILITY_SQLITE";
const PG_ENV: &str = "CALLCORE_DURABILITY_PG_SCHEMA";
const MODE_ENV: &str = "CALLCORE_DURABILITY_MODE";

/// Runs the child and kills it with SIGKILL right after it reports the end of
/// the call; returns the interaction id it reported.
fn run_and_kill(env: (&str, &str), mode: &str) -> String {
    let exe = std::env::current_exe().unwrap();
    let mut child = Command::new(exe)
        .args([
            "--exact",
            "child_center",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(env.0, env.1)
        .env(MODE_ENV, mode)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut id = None;
    for line in BufReader::new(stdout).lines() {
        let line = line.unwrap();
        // libtest prints `test child_center ... ` before the child's output.
        let report = line
            .split_once("ENDED ")
            .or_else(|| line.split_once("TALKING "));
        if let Some((_, rest)) = report {
            child.kill().unwrap(); // SIGKILL on Unix
            id = Some(rest.trim().to_owned());
            break;
        }
    }
    let status = child.wait().unwrap();
    assert!(
        !status.success(),
        "the child was killed, not finished: {status}"
    );
    id.expect("the child reported the end of its call")
}

async fn check_survivor<S: Backend>(store: &Arc<S>, id: &str) {
    let record = InteractionStore::get(&**store, &"default".into(), &id.into())
        .await
        .unwrap()
        .expect("the record survived kill -9");
    assert!(record.ended_at.is_some());
    assert_eq!(record.talk_ms, 42_000);
    assert_eq!(record.agent.as_ref().map(|a| a.as_str()), Some("alice"));
    let journal = EventJournal::for_interaction(&**store, &"default".into(), &id.into())
        .await
        .unwrap();
    assert!(
        journal
            .iter()
            .any(|e| matches!(e.kind, EventKind::Ended { .. })),
        "the journal holds the end of the call"
    );
}

async fn sqlite_kill_test(mode: &str) {
    let dir = std::env::temp_dir().join(unique("cc_durability"));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("center.db");
    let id = run_and_kill((DB_ENV, path.to_str().unwrap()), mode);
    let store = Arc::new(callcore_store::SqliteStore::open(&path).unwrap());
    check_survivor(&store, &id).await;
    drop(store);
    std::fs::remove_dir_all(&dir).unwrap();
}

async fn pg_kill_test(mode: &str) {
    let Some(url) = database_url() else { return };
    let schema = unique("cc_durability");
    // Create the schema first, so that it is dropped whatever happens.
    let store = callcore_store::PgStore::connect_in_schema(&url, &schema)
        .await
        .unwrap();
    let result = std::panic::AssertUnwindSafe(async {
        let id = run_and_kill((PG_ENV, &schema), mode);
        // Reconnect, as a restarted center would.
        let reopened = Arc::new(
            callcore_store::PgStore::connect_in_schema(&url, &schema)
                .await
                .unwrap(),
        );
        check_survivor(&reopened, &id).await;
    })
    .catch_unwind()
    .await;
    store.drop_schema().await.unwrap();
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
}

#[tokio::test(flavor = "current_thread")]
async fn sqlite_record_survives_kill_9_right_after_the_call_ends() {
    sqlite_kill_test("flush").await;
}

#[tokio::test(flavor = "current_thread")]
async fn sqlite_record_survives_kill_9_as_soon_as_the_end_is_journaled() {
    sqlite_kill_test("journal").await;
}

#[tokio::test(flavor = "current_thread")]
async fn postgres_record_survives_kill_9_right_after_the_call_ends() {
    pg_kill_test("flush").await;
}

#[tokio::test(flavor = "current_thread")]
async fn postgres_record_survives_kill_9_as_soon_as_the_end_is_journaled() {
    pg_kill_test("journal").await;
}

/// After `kill -9` during a conversation, a center started on the same store
/// closes the call as interrupted, at the time of its last journaled event;
/// a second start changes nothing.
async fn check_interrupted(stores: Stores, id: &str) {
    let t = tenant("default");
    let journaled = stores.events.for_interaction(&t, &id.into()).await.unwrap();
    assert!(
        journaled
            .iter()
            .any(|e| matches!(e.kind, EventKind::Connected { .. })),
        "the child was killed while talking"
    );
    let last = journaled.iter().map(|e| e.at).max().unwrap();
    for start in 0..2 {
        let (_clock, _transport, center) = center(stores.clone()).await;
        center.flush().await;
        let record = stores
            .interactions
            .get(&t, &id.into())
            .await
            .unwrap()
            .expect("the interrupted call has a record");
        assert_eq!(
            record.end_reason,
            Some(EndReason::Interrupted),
            "start {start}"
        );
        assert_eq!(record.ended_at, Some(last), "closed at its last event");
        assert_eq!(record.agent.as_ref().map(|a| a.as_str()), Some("alice"));
        assert!(record.answered_at.is_some() && record.complete);
        let ends = stores
            .events
            .for_interaction(&t, &id.into())
            .await
            .unwrap()
            .into_iter()
            .filter(|e| matches!(e.kind, EventKind::Ended { .. }))
            .count();
        assert_eq!(ends, 1, "closed once, start {start}");
        center.shutdown().await;
    }
}

#[tokio::test(flavor = "current_thread")]
async fn sqlite_a_call_killed_mid_conversation_is_recorded_as_interrupted_on_restart() {
    let dir = std::env::temp_dir().join(unique("cc_interrupted"));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("center.db");
    let id = run_and_kill((DB_ENV, path.to_str().unwrap()), "mid_call");
    let store = Arc::new(callcore_store::SqliteStore::open(&path).unwrap());
    check_interrupted(Stores::all_in(store.clone()), &id).await;
    drop(store);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test(flavor = "current_thread")]
async fn postgres_a_call_killed_mid_conversation_is_recorded_as_interrupted_on_restart() {
    let Some(url) = database_url() else { return };
    let schema = unique("cc_interrupted");
    let store = callcore_store::PgStore::connect_in_schema(&url, &schema)
        .await
        .unwrap();
    let result = std::panic::AssertUnwindSafe(async {
        let id = run_and_kill((PG_ENV, &schema), "mid_call");
        let reopened = Arc::new(
            callcore_store::PgStore::connect_in_schema(&url, &schema)
                .await
                .unwrap(),
        );
        check_interrupted(Stores::all_in(reopened), &id).await;
    })
    .catch_unwind()
    .await;
    store.drop_schema().await.unwrap();
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
}

/// What a crash between the recorder's two commits leaves: two calls whose
/// end is journaled without a record, one call still going, and one call
/// whose record exists and was changed since (a customer merge).
async fn journal_without_records<S: Backend>(store: &S) {
    let t = tenant("default");
    let call = |id: &str, first_seq| {
        callcore_store::synthetic::answered_call(
            &t,
            first_seq,
            id,
            "alice",
            "support",
            ts(T0),
            Duration::from_secs(7),
            Duration::from_secs(42),
            Duration::from_secs(5),
        )
    };
    let (lost, also_lost, kept) = (call("lost", 1), call("also-lost", 13), call("kept", 25));
    let mut going = call("going", 37);
    going.truncate(7); // connected, not ended
    let mut record = InteractionRecord::new(match &kept[0].kind {
        EventKind::InteractionCreated { interaction } => interaction,
        _ => unreachable!("a call starts with interaction_created"),
    });
    record.apply_all(&kept);
    record.customer = Some("merged-customer".into());
    InteractionStore::save(store, &record).await.unwrap();
    for events in [&lost, &also_lost, &kept, &going] {
        store.append(events).await.unwrap();
    }
}

async fn check_rebuilt<S: Backend>(store: &S) {
    let t = tenant("default");
    for id in ["lost", "also-lost"] {
        let record = InteractionStore::get(store, &t, &id.into())
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("{id} was rebuilt from the journal"));
        assert_eq!(
            (record.wait_ms, record.talk_ms, record.wrap_up_ms),
            (7_000, 42_000, 5_000)
        );
        assert_eq!(record.agent.as_ref().map(|a| a.as_str()), Some("alice"));
        assert!(record.complete && record.ended_at.is_some());
    }
    let kept = InteractionStore::get(store, &t, &"kept".into())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        kept.customer.as_ref().map(|c| c.as_str()),
        Some("merged-customer"),
        "an existing record is left as it is"
    );
    assert!(
        InteractionStore::get(store, &t, &"going".into())
            .await
            .unwrap()
            .is_none(),
        "a call that has not ended gets no record"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn sqlite_a_journaled_end_without_its_record_is_rebuilt_on_open() {
    let dir = std::env::temp_dir().join(unique("cc_rebuild"));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("center.db");
    let store = callcore_store::SqliteStore::open(&path).unwrap();
    journal_without_records(&store).await;
    drop(store);
    let store = callcore_store::SqliteStore::open(&path).unwrap();
    check_rebuilt(&store).await;
    drop(store);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test(flavor = "current_thread")]
async fn postgres_a_journaled_end_without_its_record_is_rebuilt_on_open() {
    let Some(url) = database_url() else { return };
    let schema = unique("cc_rebuild");
    let store = callcore_store::PgStore::connect_in_schema(&url, &schema)
        .await
        .unwrap();
    let result = std::panic::AssertUnwindSafe(async {
        journal_without_records(&store).await;
        let reopened = callcore_store::PgStore::connect_in_schema(&url, &schema)
            .await
            .unwrap();
        check_rebuilt(&reopened).await;
    })
    .catch_unwind()
    .await;
    store.drop_schema().await.unwrap();
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
}

/// The child: only does something when started by the tests above.
#[tokio::test(flavor = "current_thread")]
#[ignore = "run as a child process by the durability tests"]
async fn child_center() {
    let stores = if let Ok(path) = std::env::var(DB_ENV) {
        Stores::all_in(Arc::new(callcore_store::SqliteStore::open(path).unwrap()))
    } else if let Ok(schema) = std::env::var(PG_ENV) {
        let url = std::env::var("DATABASE_URL").unwrap();
        Stores::all_in(Arc::new(
            callcore_store::PgStore::connect_in_schema(&url, &schema)
                .await
                .unwrap(),
        ))
    } else {
        return;
    };
    let journal = stores.events.clone();
    let (clock, transport, center) = center(stores).await;
    if std::env::var(MODE_ENV).as_deref() == Ok("mid_call") {
        // Connected to alice, journaled, then talking until killed.
        let mut events = center.subscribe();
        let _far = transport.call("+4930777", "100");
        let connected = async {
            let mut id = None;
            loop {
                let e = events.recv().await.unwrap();
                if let EventKind::InteractionCreated { interaction } = &e.kind {
                    id.get_or_insert(interaction.id.clone());
                }
                if matches!(e.kind, EventKind::Connected { .. }) {
                    break id.unwrap();
                }
            }
        };
        let limit = callcore::Clock::now(&clock) + Duration::from_secs(600);
        let id = drive(&clock, connected, limit).await;
        center.flush().await;
        println!("TALKING {id}");
        #[allow(clippy::disallowed_methods)] // real time: waiting to be killed
        tokio::time::sleep(Duration::from_secs(60)).await;
        return;
    }
    let id = one_call(
        &clock,
        &transport,
        &center,
        "+4930222",
        Duration::from_secs(42),
    )
    .await;
    if std::env::var(MODE_ENV).as_deref() == Ok("journal") {
        // Report as soon as the end is committed to the journal, without
        // waiting for the recorder to save the record.
        for _ in 0..10_000 {
            let events = journal
                .for_interaction(&"default".into(), &id)
                .await
                .unwrap();
            if events
                .iter()
                .any(|e| matches!(e.kind, EventKind::Ended { .. }))
            {
                break;
            }
            #[allow(clippy::disallowed_methods)] // real time: waiting for real I/O
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    } else {
        center.flush().await;
    }
    println!("ENDED {id}");
    // Keep working until killed: more calls, more writes in flight.
    for n in 0..1000 {
        one_call(
            &clock,
            &transport,
            &center,
            &format!("+49303{n}"),
            Duration::from_secs(5),
        )
        .await;
    }
}
