//! A node whose Redis heartbeat lapses, or that is paused for less than its
//! TTL, keeps its calls; one paused for longer is declared dead in
//! PostgreSQL, its call is closed as `node_failure` by the survivor, and when
//! it resumes it learns it was declared dead and writes nothing more.
//!
//! Nodes n1 (this test binary re-run as `paused_node`, so it can be stopped
//! with `kill -STOP`) and n2 (in this process) share a schema and a Redis
//! prefix; a SIPp caller on n1 stays on the line. Then, in order:
//!
//! 1. n1's Redis heartbeat is deleted every 100 ms for 3 s (Redis restarted,
//!    a blip): n2 closes nothing;
//! 2. `kill -STOP` of n1 for 1.2 s (< the 2 s TTL), then `kill -CONT`: n2
//!    closes nothing, n1 still has its call;
//! 3. `kill -STOP` of n1 for 5 s: n2 closes the call as `node_failure` (time
//!    printed); `kill -CONT`: n1 reports it was declared dead by n2, and the
//!    call's journal has exactly one end and no event after it.
//!
//! Needs `DATABASE_URL`, `REDIS_URL` and `sipp`: skipped with a notice
//! otherwise, failing when `CALLCORE_REQUIRE_PEERS=1`.

#![allow(clippy::unwrap_used, clippy::expect_used)]
// Real peers and processes run in wall-clock time: the test waits for them.
#![allow(clippy::disallowed_methods)]

#[path = "cluster_support/mod.rs"]
mod cluster_support;
use cluster_support::{free_port, node_toml, ready};

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use callcore::{EndReason, EventJournal, EventKind, InteractionStore, TenantId, Timestamp};
use callcore_cluster::Presence;
use callcore_premise::{Premise, PremiseConfig};
use callcore_store::PgStore;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

const CONFIG_ENV: &str = "CALLCORE_CLUSTER_PAUSED_TOML";

fn signal(pid: u32, sig: &str) {
    let ok = std::process::Command::new("kill")
        .args([sig, &pid.to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill {sig} {pid}");
}

/// The node the parent pauses: reports its SIP address, the call, whether
/// it still has it when asked (a line on stdin), and that it was declared dead.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "run by a_paused_node_keeps_its_calls_until_declared_dead_in_postgres"]
async fn paused_node() {
    let Ok(toml) = std::env::var(CONFIG_ENV) else {
        return;
    };
    let premise = Premise::start(PremiseConfig::from_toml(&toml).unwrap())
        .await
        .unwrap();
    println!("NODE-TEST READY {}", premise.sip_addr());
    let mut dead = premise.cluster().unwrap().declared_dead();
    for _ in 0..1200 {
        if premise.ops().calls().active == 1 {
            premise.center().flush().await;
            println!("NODE-TEST CALLING");
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // the parent's questions, one a line on stdin (read by a thread)
    let (asked, mut questions) = tokio::sync::mpsc::unbounded_channel();
    std::thread::spawn(move || {
        for line in std::io::stdin().lines() {
            if line.is_err() || asked.send(()).is_err() {
                return;
            }
        }
    });
    loop {
        tokio::select! {
            q = questions.recv() => {
                if q.is_none() { return; }
                println!("NODE-TEST ACTIVE {}", premise.ops().calls().active);
            }
            told = dead.wait_for(Option::is_some) => {
                let by = told.map(|b| b.clone().unwrap_or_default()).unwrap_or_default();
                println!("NODE-TEST DEAD {by}");
                tokio::time::sleep(Duration::from_secs(60)).await;
                return;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_node_keeps_its_calls_until_declared_dead_in_postgres() {
    let Some((db, redis)) = ready("the cluster node-pause test") else {
        return;
    };
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    let schema = format!("cluster_pause_{}_{nanos}", std::process::id());
    let prefix = schema.clone();

    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "paused_node", "--ignored", "--nocapture"])
        .env(
            CONFIG_ENV,
            node_toml("n1", 25_400, &db, &schema, &redis, &prefix),
        )
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let pid = child.id().unwrap();
    let mut ask = child.stdin.take().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut next_report = async || -> String {
        loop {
            let line = lines.next_line().await.unwrap().expect("the child reports");
            if let Some((_, report)) = line.split_once("NODE-TEST ") {
                return report.trim().to_owned();
            }
        }
    };
    let ready = tokio::time::timeout(Duration::from_secs(60), next_report())
        .await
        .expect("n1 started");
    let n1_sip = ready.strip_prefix("READY ").expect("READY").to_owned();

    let n2 = Premise::start(
        PremiseConfig::from_toml(&node_toml("n2", 25_500, &db, &schema, &redis, &prefix)).unwrap(),
    )
    .await
    .unwrap();
    let cluster = n2.cluster().unwrap();

    let scenario = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sipp/ops_stays.xml");
    let _caller = Command::new("sipp")
        .arg(&n1_sip)
        .arg("-sf")
        .arg(scenario)
        .args(["-s", "ivr", "-m", "1"])
        .args(["-i", "127.0.0.1", "-p", &free_port().to_string()])
        .args(["-mi", "127.0.0.1", "-mp", &free_port().to_string()])
        .args(["-ci", "127.0.0.1", "-cp", &free_port().to_string()])
        .args(["-nostdin", "-timeout", "60s"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let calling = tokio::time::timeout(Duration::from_secs(60), next_report())
        .await
        .expect("the call reached n1");
    assert_eq!(calling, "CALLING");
    let mut still_calling = async || {
        use tokio::io::AsyncWriteExt;
        ask.write_all(b"?\n").await.unwrap();
        tokio::time::timeout(Duration::from_secs(10), next_report())
            .await
            .expect("n1 answers")
    };

    // 1. Redis loses n1's heartbeat, again and again, for 3 s
    let presence = Presence::connect(&redis, &prefix).await.unwrap();
    let mut absent = 0;
    for _ in 0..30 {
        presence.remove_node("n1").await.unwrap();
        if presence
            .live_nodes()
            .await
            .unwrap()
            .iter()
            .all(|n| n.node != "n1")
        {
            absent += 1;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        absent > 20,
        "n1 absent from Redis most of the time ({absent}/30)"
    );
    assert!(
        cluster.take_closed().is_empty(),
        "a lapsed Redis heartbeat closes nothing"
    );
    assert_eq!(still_calling().await, "ACTIVE 1");

    // 2. a pause shorter than the TTL
    signal(pid, "-STOP");
    tokio::time::sleep(Duration::from_millis(1200)).await;
    signal(pid, "-CONT");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(
        cluster.take_closed().is_empty(),
        "a 1.2 s pause closes nothing"
    );
    assert_eq!(still_calling().await, "ACTIVE 1");

    // 3. a pause longer than the TTL
    signal(pid, "-STOP");
    let stopped = Instant::now();
    let mut closed = Vec::new();
    while closed.is_empty() && stopped.elapsed() < Duration::from_secs(5) {
        tokio::time::sleep(Duration::from_millis(50)).await;
        closed = cluster.take_closed();
    }
    let took = stopped.elapsed();
    println!(
        "n2 closed paused n1's call as node_failure {} ms after kill -STOP (TTL {} ms)",
        took.as_millis(),
        callcore_cluster::LivenessTiming::default().ttl.as_millis()
    );
    assert_eq!(closed.len(), 1, "{closed:?}");
    let id = closed[0].0.clone();
    let store = PgStore::connect_in_schema(&db, &schema).await.unwrap();
    let tenant = TenantId::new("default");
    let events_at_close = store.for_interaction(&tenant, &id).await.unwrap().len();
    tokio::time::sleep(Duration::from_secs(5).saturating_sub(stopped.elapsed())).await;
    signal(pid, "-CONT");
    let dead = tokio::time::timeout(Duration::from_secs(10), next_report())
        .await
        .expect("n1 learns it was declared dead");
    assert_eq!(dead, "DEAD n2");
    // n1 ran again for a while (its IVR, its timers): nothing of it landed
    tokio::time::sleep(Duration::from_secs(2)).await;
    let events = store.for_interaction(&tenant, &id).await.unwrap();
    assert_eq!(events.len(), events_at_close, "no event after the close");
    let ends: Vec<_> = events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::Ended { reason, .. } => Some(reason.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(ends, vec![EndReason::NodeFailure]);
    assert!(matches!(
        events.last().map(|e| &e.kind),
        Some(EventKind::Ended { .. })
    ));
    let all = InteractionStore::between(
        &store,
        &tenant,
        Timestamp::from_secs(0),
        Timestamp::from_secs(i64::from(u32::MAX)),
    )
    .await
    .unwrap();
    assert_eq!(all.len(), 1, "{all:?}");
    assert_eq!(all[0].end_reason, Some(EndReason::NodeFailure));
    assert!(cluster.take_closed().is_empty(), "closed once");

    n2.shutdown().await;
    child.start_kill().unwrap();
    child.wait().await.unwrap();
    let admin = sqlx::PgPool::connect(&db).await.unwrap();
    sqlx::query(&format!("DROP SCHEMA {schema} CASCADE"))
        .execute(&admin)
        .await
        .unwrap();
    for n in ["n1", "n2"] {
        let _ =
            std::fs::remove_dir_all(std::env::temp_dir().join(format!("callcore-{schema}-{n}")));
    }
}
