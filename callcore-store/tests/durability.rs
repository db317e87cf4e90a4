//! A finished interaction's record survives `kill -9` right after the call
//! ends.
//!
//! The parent test starts this same test binary as a child running
//! `child_center`: a center on the store under test that takes one call, and
//! prints `ENDED <id>` as soon as the call has ended and the center's recorder
//! has processed it (`CenterHandle::flush`); then it starts more calls. The
//! parent kills the child with SIGKILL the moment it reads that line, reopens
//! the database and checks the record and the journal.
#![allow(clippy::unwrap_used)]

mod common;

use callcore::{EventJournal, EventKind, InteractionStore, Stores};
use common::*;
use futures::FutureExt;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

const DB_ENV: &str = "CALLCORE_DURABILITY_SQLITE";
const PG_ENV: &str = "CALLCORE_DURABILITY_PG_SCHEMA";

/// Runs the child and kills it with SIGKILL right after it reports the end of
/// the call; returns the interaction id it reported.
fn run_and_kill(env: (&str, &str)) -> String {
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
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut id = None;
    for line in BufReader::new(stdout).lines() {
        let line = line.unwrap();
        // libtest prints `test child_center ... ` before the child's output.
        if let Some((_, rest)) = line.split_once("ENDED ") {
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

#[tokio::test(flavor = "current_thread")]
async fn sqlite_record_survives_kill_9_right_after_the_call_ends() {
    let dir = std::env::temp_dir().join(unique("cc_durability"));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("center.db");
    let id = run_and_kill((DB_ENV, path.to_str().unwrap()));
    let store = Arc::new(callcore_store::SqliteStore::open(&path).unwrap());
    check_survivor(&store, &id).await;
    drop(store);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test(flavor = "current_thread")]
async fn postgres_record_survives_kill_9_right_after_the_call_ends() {
    let Some(url) = database_url() else { return };
    let schema = unique("cc_durability");
    // Create the schema first, so that it is dropped whatever happens.
    let store = Arc::new(
        callcore_store::PgStore::connect_in_schema(&url, &schema)
            .await
            .unwrap(),
    );
    let result = std::panic::AssertUnwindSafe(async {
        let id = run_and_kill((PG_ENV, &schema));
        check_survivor(&store, &id).await;
    })
    .catch_unwind()
    .await;
    (*store).clone().drop_schema().await.unwrap();
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
    let (clock, transport, center) = center(stores).await;
    let id = one_call(
        &clock,
        &transport,
        &center,
        "+4930222",
        Duration::from_secs(42),
    )
    .await;
    center.flush().await;
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
