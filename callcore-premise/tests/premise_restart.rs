//! Two runs of the premise center on one data directory: the second run's
//! calls get new ids, so the first run's records and recordings survive and
//! each recording stays linked to its own call (issue: ids were `sip-1`,
//! `sip-2`… per process, and the second run overwrote the first).

#![allow(clippy::unwrap_used, clippy::expect_used)]
// Wall-clock test of a real-time center.
#![allow(clippy::disallowed_methods)]

use callcore::{InteractionStore, RecordingStore, TenantId, Timestamp};
use callcore_premise::demo::run_demo_calls;
use callcore_premise::{Premise, PremiseConfig};
use callcore_store::SqliteStore;
use std::collections::HashSet;
use std::path::Path;

/// The demo agents (a config file must list its agents).
const AGENTS: &str = "[[agents]]\nid = \"1001\"\nname = \"Alice\"\npassword = \"alice1001\"\nskills = [\"billing\", \"support\"]\n\
                      [[agents]]\nid = \"1002\"\nname = \"Bob\"\npassword = \"bob1002\"\nskills = [\"support\"]\n";

async fn one_run(dir: &Path, base: u16, calls: usize) {
    let toml = format!(
        "[sip]\nbind = \"127.0.0.1:0\"\n[media]\nrtp_first = {base}\nrtp_last = {}\n[storage]\ndata_dir = \"{}\"\n{AGENTS}",
        base + 9,
        dir.display()
    );
    let config = PremiseConfig::from_toml(&callcore_premise::with_demo_agents(&toml)).unwrap();
    let premise = Premise::start(config).await.unwrap();
    let summary = tokio::time::timeout(
        std::time::Duration::from_secs(120),
        run_demo_calls(&premise, calls),
    )
    .await
    .expect("demo finished")
    .unwrap();
    assert_eq!(summary.answered, calls, "{summary}");
    premise.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_on_the_same_data_directory_keeps_every_record_and_recording() {
    let dir = std::env::temp_dir().join(format!("callcore-premise-restart-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    // a port range apart from the demo test's (which uses 30000 + 10·(pid mod 200))
    let base = 32000 + (std::process::id() % 200) as u16 * 10;
    one_run(&dir, base, 2).await;
    one_run(&dir, base, 2).await;

    let store = SqliteStore::open(dir.join("center.db")).unwrap();
    let tenant = TenantId::new("default");
    let records = store
        .between(
            &tenant,
            Timestamp::from_secs(0),
            Timestamp::from_secs(i64::from(u32::MAX)),
        )
        .await
        .unwrap();
    let ids: HashSet<_> = records.iter().map(|r| r.id.clone()).collect();
    assert_eq!(records.len(), 4, "both runs' records: {ids:?}");
    assert_eq!(ids.len(), 4, "four distinct interaction ids");
    let mut paths = HashSet::new();
    for r in &records {
        assert!(r.agent.is_some() && r.answered_at.is_some(), "{r:?}");
        let recs = store.for_interaction(&tenant, &r.id).await.unwrap();
        assert_eq!(recs.len(), 1, "one recording for {}", r.id);
        let meta = &recs[0];
        assert_eq!(
            meta.interaction, r.id,
            "the recording is linked to its own call"
        );
        assert!(Path::new(&meta.path).exists(), "{} exists", meta.path);
        assert!(
            paths.insert(meta.path.clone()),
            "recording paths are distinct"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
