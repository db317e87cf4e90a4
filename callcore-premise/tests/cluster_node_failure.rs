//! Two premise centers as nodes of one cluster (`[cluster]`, PostgreSQL and
//! Redis shared): `kill -9` of the node holding a SIPp call, and the other
//! node closes that call's record as `node_failure`, exactly once, about
//! when the dead node's heartbeat expires (the time is printed).
//!
//! The dead node is this test binary re-run as `child_node`. Needs
//! `DATABASE_URL`, `REDIS_URL` and `sipp`: skipped with a notice otherwise,
//! failing when `CALLCORE_REQUIRE_PEERS=1`. Its own schema and key prefix.

#![allow(clippy::unwrap_used, clippy::expect_used)]
// Real peers and processes run in wall-clock time: the test waits for them.
#![allow(clippy::disallowed_methods)]

#[path = "cluster_support/mod.rs"]
mod cluster_support;
use cluster_support::{free_port, node_toml, ready};

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use callcore::{EndReason, EventKind, InteractionStore, TenantId, Timestamp};
use callcore_premise::{Premise, PremiseConfig};
use callcore_store::PgStore;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

const CONFIG_ENV: &str = "CALLCORE_CLUSTER_NODE_TOML";

/// The node the parent kills: reports its SIP address, then the call.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "run by a_dead_nodes_call_is_closed_as_node_failure_by_a_survivor"]
async fn child_node() {
    let Ok(toml) = std::env::var(CONFIG_ENV) else {
        return;
    };
    let premise = Premise::start(PremiseConfig::from_toml(&toml).unwrap())
        .await
        .unwrap();
    println!("NODE-TEST READY {}", premise.sip_addr());
    for _ in 0..1200 {
        if premise.ops().calls().active == 1 {
            premise.center().flush().await;
            println!("NODE-TEST CALLING");
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_secs(120)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_nodes_call_is_closed_as_node_failure_by_a_survivor() {
    let Some((db, redis)) = ready("the cluster node-failure test") else {
        return;
    };
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    let schema = format!("cluster_nf_{}_{nanos}", std::process::id());
    let prefix = schema.clone();

    // n1, the node that dies, in a child process
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child_node", "--ignored", "--nocapture"])
        .env(
            CONFIG_ENV,
            node_toml("n1", 25_200, &db, &schema, &redis, &prefix),
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
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

    // n2, the survivor, in this process
    let n2 = Premise::start(
        PremiseConfig::from_toml(&node_toml("n2", 25_300, &db, &schema, &redis, &prefix)).unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(n2.cluster().map(|c| c.node()), Some("n2"));

    // a caller on n1 who stays on the line
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

    child.start_kill().unwrap(); // SIGKILL
    child.wait().await.unwrap();
    let killed = Instant::now();
    let cluster = n2.cluster().unwrap();
    let mut closed = Vec::new();
    while closed.is_empty() && killed.elapsed() < Duration::from_secs(15) {
        tokio::time::sleep(Duration::from_millis(50)).await;
        closed = cluster.take_closed();
    }
    let took = killed.elapsed();
    println!(
        "n2 closed n1's call as node_failure {} ms after kill -9 (heartbeat TTL {} ms)",
        took.as_millis(),
        callcore_premise::cluster_node::HEARTBEAT_TTL.as_millis()
    );
    assert_eq!(closed.len(), 1, "{closed:?}");
    assert_eq!(closed[0].1, "n1");
    let id = closed[0].0.clone();
    // a few more sweeps: never closed twice
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(cluster.take_closed().is_empty());
    n2.shutdown().await;

    let store = PgStore::connect_in_schema(&db, &schema).await.unwrap();
    let tenant = TenantId::new("default");
    let all = store
        .between(
            &tenant,
            Timestamp::from_secs(0),
            Timestamp::from_secs(i64::from(u32::MAX)),
        )
        .await
        .unwrap();
    assert_eq!(all.len(), 1, "{all:?}");
    assert_eq!(all[0].id, id);
    assert_eq!(all[0].end_reason, Some(EndReason::NodeFailure));
    let ends = callcore::EventJournal::for_interaction(&store, &tenant, &id)
        .await
        .unwrap()
        .iter()
        .filter(|e| matches!(e.kind, EventKind::Ended { .. }))
        .count();
    assert_eq!(ends, 1, "one end journaled");

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
