//! The premise center on PostgreSQL (`[storage] database_url`): a SIPp
//! caller's record lands in PostgreSQL, and a call left in progress by a
//! stopped center is closed as interrupted by the next start on the same
//! database, as on SQLite.
//!
//! Needs `DATABASE_URL` (a PostgreSQL the test may create a schema in) and
//! `sipp`: skipped with a notice otherwise, failing instead when
//! `CALLCORE_REQUIRE_PEERS=1`. Each run makes its own schema and drops it.

#![allow(clippy::unwrap_used, clippy::expect_used)]
// Real peers run in wall-clock time: the test waits for them.
#![allow(clippy::disallowed_methods)]

use std::net::{SocketAddr, UdpSocket};
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use callcore::{EndReason, InteractionStore, TenantId, Timestamp};
use callcore_premise::{Premise, PremiseConfig};
use callcore_store::PgStore;
use tokio::process::Command;

/// This helper's RTP range (25000-25999 is the cloud work's).
const RTP_FIRST: u16 = 25_100;

fn ready() -> Option<String> {
    let sipp = std::process::Command::new("sipp")
        .arg("-v")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    let url = std::env::var("DATABASE_URL").ok().filter(|u| !u.is_empty());
    let why = match (&url, sipp) {
        (Some(url), true) => return Some(url.clone()),
        (None, _) => "DATABASE_URL is not set",
        (_, false) => "sipp is not installed (apt-get install -y sip-tester)",
    };
    assert!(
        std::env::var("CALLCORE_REQUIRE_PEERS").as_deref() != Ok("1"),
        "peers required (CALLCORE_REQUIRE_PEERS=1): {why}"
    );
    eprintln!("NOTICE: skipping the premise-on-PostgreSQL test: {why}");
    None
}

fn free_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn caller(center: SocketAddr, file: &str) -> Command {
    let scenario = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/sipp")
        .join(file);
    let mut cmd = Command::new("sipp");
    cmd.arg(center.to_string())
        .arg("-sf")
        .arg(scenario)
        .args(["-s", "ivr", "-m", "1"])
        .args(["-i", "127.0.0.1", "-p", &free_port().to_string()])
        .args(["-mi", "127.0.0.1", "-mp", &free_port().to_string()])
        .args(["-ci", "127.0.0.1", "-cp", &free_port().to_string()])
        .args(["-nostdin", "-timeout", "60s", "-timeout_error"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    cmd
}

fn config(url: &str, schema: &str, data_dir: &Path) -> PremiseConfig {
    let toml = format!(
        "[sip]\nbind = \"127.0.0.1:0\"\n[http]\nenabled = false\n\
         [media]\nrtp_first = {RTP_FIRST}\nrtp_last = {}\n\
         [storage]\ndata_dir = \"{}\"\ndatabase_url = \"{url}\"\ndatabase_schema = \"{schema}\"\n",
        RTP_FIRST + 39,
        data_dir.display()
    );
    PremiseConfig::from_toml(&callcore_premise::with_demo_agents(&toml)).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_premise_on_postgres_records_calls_there_and_closes_interrupted_ones_at_restart() {
    let Some(url) = ready() else { return };
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    let schema = format!("premise_pg_{}_{nanos}", std::process::id());
    let data_dir = std::env::temp_dir().join(format!("callcore-{schema}"));
    let _ = std::fs::remove_dir_all(&data_dir);

    // 1. a caller who listens to the IVR for 3 s and hangs up
    let premise = Premise::start(config(&url, &schema, &data_dir))
        .await
        .unwrap();
    assert!(
        premise.banner().contains("PostgreSQL"),
        "{}",
        premise.banner()
    );
    let out = tokio::time::timeout(
        Duration::from_secs(60),
        caller(premise.sip_addr(), "ops_caller.xml")
            .spawn()
            .unwrap()
            .wait_with_output(),
    )
    .await
    .expect("the caller finished")
    .unwrap();
    assert!(
        out.status.success(),
        "sipp: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut records = premise.records().await.unwrap();
    for _ in 0..50 {
        if records.iter().any(|r| r.ended_at.is_some()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        records = premise.records().await.unwrap();
    }
    assert_eq!(records.len(), 1, "{records:?}");
    let hung_up = records[0].clone();
    assert_eq!(hung_up.end_reason, Some(EndReason::CustomerHangup));

    // 2. a caller who stays; the center stops with the call in progress
    let stays = caller(premise.sip_addr(), "ops_stays.xml").spawn().unwrap();
    let mut live = 0;
    for _ in 0..200 {
        live = premise.ops().calls().active;
        if live == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(live, 1, "the second call is in progress");
    premise.center().flush().await;
    premise.shutdown().await;
    drop(stays);

    // 3. the next start on the same database closes it as interrupted
    let again = Premise::start(config(&url, &schema, &data_dir))
        .await
        .unwrap();
    again.center().flush().await;
    again.shutdown().await;

    // read straight from PostgreSQL, not through a center
    let store = PgStore::connect_in_schema(&url, &schema).await.unwrap();
    let all = store
        .between(
            &TenantId::new("default"),
            Timestamp::from_secs(0),
            Timestamp::from_secs(i64::from(u32::MAX)),
        )
        .await
        .unwrap();
    assert_eq!(all.len(), 2, "{all:?}");
    assert!(
        all.iter()
            .any(|r| r.id == hung_up.id && r.end_reason == Some(EndReason::CustomerHangup))
    );
    let interrupted: Vec<_> = all
        .iter()
        .filter(|r| r.end_reason == Some(EndReason::Interrupted))
        .collect();
    assert_eq!(interrupted.len(), 1, "{all:?}");
    assert_ne!(interrupted[0].id, hung_up.id);

    // nothing of it in SQLite
    assert!(
        !data_dir.join("center.db").exists(),
        "no center.db on PostgreSQL"
    );
    let admin = sqlx::PgPool::connect(&url).await.unwrap();
    sqlx::query(&format!("DROP SCHEMA {schema} CASCADE"))
        .execute(&admin)
        .await
        .unwrap();
    let _ = std::fs::remove_dir_all(&data_dir);
}
