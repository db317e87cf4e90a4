//! Nodes join and leave the running `cloud` example under load (issue 17,
//! "nodes join and leave at run time"): Kamailio and 2 nodes take SIPp
//! callers at 10 calls/s (a DID straight into a queue, 3 s on the line, BYE;
//! 30 agents at fixed contacts, one SIPp UAS); `add` on the cloud's stdin
//! starts n3, which Kamailio's dispatcher list gets (reloaded over its `ctl`
//! socket) once n3 is up; later `remove` of the node holding the shard's
//! lease takes it out of the list and makes it leave gracefully. Checked:
//!
//! - n3 takes calls through Kamailio (its figures), and an agent whose phone
//!   registers on n3 (SIPp, digest) is in the shard's seats as reachable on
//!   n3 within a second of the registration (what the owner's next pass
//!   reads; measured);
//! - the leaving owner gives its lease up (another node routes the shard at
//!   a later epoch; measured), withdraws its phones (an agent registered on
//!   both first nodes is reachable on the other one only) and finishes its
//!   calls (`{"left":…}` with none hung up at the drain's deadline);
//! - **no call fails** (SIPp's `-trace_logs`, call by call), every caller has
//!   exactly one record and none is `node_failure`.
//!
//! Needs `DATABASE_URL`, `REDIS_URL`, `kamailio` (with `kamcmd`) and `sipp`:
//! skipped with a notice otherwise, failing when `CALLCORE_REQUIRE_PEERS=1`.
//! Own schema and Redis prefix; ports as `cloud_kamailio.rs` (proxy and SIPps
//! 27000-28999, nodes 30000-32699). About 50 s.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]
// Real processes run in wall-clock time: the test waits for them.
#![allow(clippy::disallowed_methods)]

#[path = "cloud_support/mod.rs"]
mod cloud_support;
use cloud_support::{StopCloud, calls_of, cloud_binary, free_port};

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use callcore::{EndReason, InteractionStore, TenantId, Timestamp};
use callcore_store::PgStore;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::Command;
use tokio::sync::mpsc;

const RATE: u32 = 10;
const CALLS: u32 = 400;
const ADD_AFTER: Duration = Duration::from_secs(5);
const REMOVE_AFTER: Duration = Duration::from_secs(20);
const AGENTS: usize = 30;
const DID: &str = "+15550100";
const TENANT: &str = "elastic";
const PASSWORD: &str = "elastic-phone-pw";

fn config(schema: &str, agents_port: u16) -> String {
    let mut toml = format!(
        "tenant = \"{TENANT}\"\ndrain_secs = 20\n\
         [sip]\nbind = \"127.0.0.1:0\"\ntcp = false\ndigest = [\"MD5\"]\n\
         [storage]\ndatabase = \"postgres\"\ndatabase_schema = \"{schema}\"\n\
         [cluster]\nnode = \"set-by-cloud\"\nprefix = \"{schema}\"\n\
         [ivr]\ndefault_queue = \"support\"\n\
         menu = [{{ key = \"1\", label = \"support\", queue = \"support\" }}]\n\
         [[queues]]\nid = \"support\"\nskill = \"support\"\nwrap_up_secs = 0\n\
         [[dids]]\nnumber = \"{DID}\"\nqueue = \"support\"\n"
    );
    for i in 1..=AGENTS {
        toml.push_str(&format!(
            "[[agents]]\nid = \"a{i}\"\ncontact = \"sip:a{i}@127.0.0.1:{agents_port}\"\n\
             skills = [\"support\"]\n"
        ));
    }
    // phones that register: r1 on the node that joins, r2 on both first nodes
    for id in ["r1", "r2"] {
        toml.push_str(&format!(
            "[[agents]]\nid = \"{id}\"\npassword = \"{PASSWORD}\"\nskills = [\"support\"]\n"
        ));
    }
    toml
}

/// The nodes holding `agent`'s phone, as the shard's seats say.
async fn reachable_on(admin: &sqlx::PgPool, schema: &str, agent: &str) -> Vec<String> {
    let row: Option<(Option<Vec<String>>,)> = sqlx::query_as(&format!(
        "SELECT reachable_on FROM {schema}.cluster_seats WHERE shard = $1 AND id = $2"
    ))
    .bind(TENANT)
    .bind(agent)
    .fetch_optional(admin)
    .await
    .unwrap();
    row.and_then(|(r,)| r).unwrap_or_default()
}

async fn lease(admin: &sqlx::PgPool, schema: &str) -> Option<(String, i64)> {
    sqlx::query_as(&format!(
        "SELECT owner, epoch FROM {schema}.cluster_leases WHERE shard = $1 \
         AND expires_at >= clock_timestamp()"
    ))
    .bind(TENANT)
    .fetch_optional(admin)
    .await
    .unwrap()
}

/// Registers `agent`'s phone (the agents' UAS at `uas_port`) at `node_sip`
/// once (SIPp, digest).
async fn register(agent: &str, node_sip: &str, uas_port: u16, dir: &Path) {
    let xml = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../callcore-premise/tests/sipp/agent_register.xml");
    let scenario = std::fs::read_to_string(xml).unwrap().replace("1001", agent);
    let file = dir.join(format!("register-{agent}-{}.xml", free_port()));
    std::fs::write(&file, scenario).unwrap();
    let status = Command::new("sipp")
        .arg(node_sip)
        .arg("-sf")
        .arg(&file)
        .args(["-ap", PASSWORD, "-key", "uas_port", &uas_port.to_string()])
        .args(["-m", "1", "-timeout", "15s", "-nostdin"])
        .args(["-i", "127.0.0.1", "-p", &free_port().to_string()])
        .args(["-mi", "127.0.0.1", "-mp", &free_port().to_string()])
        .args(["-cp", &free_port().to_string()])
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .await
        .unwrap();
    assert!(status.success(), "{agent}'s phone registered at {node_sip}");
}

/// The cloud's JSON lines, each with when it came.
struct Lines(mpsc::UnboundedReceiver<(Instant, serde_json::Value)>);

impl Lines {
    async fn until(
        &mut self,
        what: &str,
        within: Duration,
        mut seen: impl FnMut(&serde_json::Value) -> bool,
        all: &mut Vec<(Instant, serde_json::Value)>,
    ) -> (Instant, serde_json::Value) {
        let deadline = Instant::now() + within;
        loop {
            let (at, v) = tokio::time::timeout_at(deadline.into(), self.0.recv())
                .await
                .unwrap_or_else(|_| panic!("{what}: not within {within:?}"))
                .expect("cloud runs");
            all.push((at, v.clone()));
            if seen(&v) {
                return (at, v);
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[allow(clippy::too_many_lines)]
async fn nodes_join_and_leave_under_load_and_no_call_fails() {
    let Some(db) = cloud_support::ready("the cloud elastic test") else {
        return;
    };
    let bin = cloud_binary();
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    let schema = format!("cloud_elastic_{}_{nanos}", std::process::id());
    let dir: PathBuf = std::env::temp_dir().join(&schema);
    std::fs::create_dir_all(&dir).unwrap();
    let scripts = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts");

    // every agent's phone: one SIPp UAS (fixed contacts and registered ones)
    let agents_port = free_port();
    let _agents = Command::new("sipp")
        .arg("-sf")
        .arg(scripts.join("premise-load/agents.xml"))
        .args(["-i", "127.0.0.1", "-p", &agents_port.to_string()])
        .args(["-mi", "127.0.0.1", "-mp", &free_port().to_string()])
        .args(["-cp", &free_port().to_string()])
        .args(["-nostdin", "-timeout", "150s"])
        .current_dir(&dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let cfg = dir.join("cloud.toml");
    std::fs::write(&cfg, config(&schema, agents_port)).unwrap();
    let admin = sqlx::PgPool::connect(&db).await.unwrap();

    let proxy_port = free_port();
    let rtp = 30_000 + u16::try_from(std::process::id() % 8).unwrap() * 1_200;
    let mut cloud = Command::new(&bin)
        .args(["--nodes", "2", "--sip", &proxy_port.to_string()])
        .args(["--rtp", &rtp.to_string()])
        .arg("--config")
        .arg(&cfg)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let _stop = StopCloud(cloud.id().unwrap());
    let mut stdin = cloud.stdin.take().unwrap();
    let out = cloud.stdout.take().unwrap();
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut lines = BufReader::new(out).lines();
        while let Ok(Some(l)) = lines.next_line().await {
            if let Ok(v) = serde_json::from_str::<serde_json::Value>(&l) {
                let _ = tx.send((Instant::now(), v));
            }
        }
    });
    let mut lines = Lines(rx);
    let mut seen = Vec::new();
    let mut sips: HashMap<String, String> = HashMap::new();
    let mut up = std::collections::HashSet::new();
    while up.len() < 2 {
        let (_, v) = lines
            .until(
                "the first nodes start",
                Duration::from_secs(90),
                |_| true,
                &mut seen,
            )
            .await;
        if v["role"] == "node" {
            sips.insert(
                v["id"].as_str().unwrap().into(),
                v["sip"].as_str().unwrap().into(),
            );
        }
        if let Some(id) = v["figures"]["id"].as_str() {
            up.insert(id.to_owned());
        }
    }
    // r2's phone registers on both first nodes
    for node in ["n1", "n2"] {
        register("r2", &sips[node], agents_port, &dir).await;
    }
    // Kamailio's OPTIONS probes see every node
    tokio::time::sleep(Duration::from_secs(2)).await;

    let sipp_started = Instant::now();
    let mut callers = Command::new("sipp")
        .arg(format!("127.0.0.1:{proxy_port}"))
        .arg("-sf")
        .arg(scripts.join("cloud-kill/caller.xml"))
        .args(["-s", DID, "-m", &CALLS.to_string(), "-r", &RATE.to_string()])
        .args(["-i", "127.0.0.1", "-p", &free_port().to_string()])
        .args(["-mi", "127.0.0.1", "-mp", &free_port().to_string()])
        .args(["-cp", &free_port().to_string()])
        .args(["-nostdin", "-timeout", "120s", "-trace_logs", "-trace_err"])
        .current_dir(&dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let caller_pid = callers.id().unwrap();

    // a node joins under the calls
    tokio::time::sleep_until((sipp_started + ADD_AFTER).into()).await;
    stdin.write_all(b"add\n").await.unwrap();
    let added = Instant::now();
    let (_, line) = lines
        .until(
            "n3's JSON line",
            Duration::from_secs(10),
            |v| v["role"] == "node",
            &mut seen,
        )
        .await;
    assert_eq!(line["id"], "n3", "{line}");
    let n3_sip = line["sip"].as_str().unwrap().to_owned();
    assert!(
        line["pid"].as_u64().is_some() && line["http"].is_string(),
        "{line}"
    );
    let took_calls = |v: &serde_json::Value| {
        v["figures"]["id"] == "n3"
            && ["active", "answered", "abandoned"]
                .iter()
                .any(|k| v["figures"][k].as_u64().unwrap_or(0) > 0)
    };
    let (calls_at, _) = lines
        .until(
            "n3 takes calls through Kamailio",
            Duration::from_secs(20),
            took_calls,
            &mut seen,
        )
        .await;
    println!(
        "add: n3 took calls through Kamailio {} ms after the command",
        calls_at.duration_since(added).as_millis()
    );
    // r1's phone registers on n3: seen in the shard's seats within a second
    register("r1", &n3_sip, agents_port, &dir).await;
    let registered = Instant::now();
    let mut seats_ms = None;
    while registered.elapsed() < Duration::from_secs(5) {
        if reachable_on(&admin, &schema, "r1").await == ["n3"] {
            seats_ms = Some(registered.elapsed());
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let seats_ms = seats_ms.expect("r1 reachable on n3 in the seats");
    println!(
        "r1 registered on n3: reachable on n3 in the shard's seats {} ms later",
        seats_ms.as_millis()
    );
    assert!(seats_ms < Duration::from_secs(1), "{seats_ms:?}");

    // the shard's owner leaves under the calls
    tokio::time::sleep_until((sipp_started + REMOVE_AFTER).into()).await;
    let (owner, epoch) = lease(&admin, &schema)
        .await
        .expect("a node holds the lease");
    assert_eq!(
        reachable_on(&admin, &schema, "r2").await.len(),
        2,
        "r2's phone on n1 and n2"
    );
    stdin
        .write_all(format!("remove {owner}\n").as_bytes())
        .await
        .unwrap();
    let removed = Instant::now();
    let mut handover = None;
    while removed.elapsed() < Duration::from_secs(10) {
        if let Some((o, e)) = lease(&admin, &schema).await
            && o != owner
            && e > epoch
        {
            handover = Some((removed.elapsed(), o, e));
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let (handover, new_owner, new_epoch) = handover.expect("another node took the lease");
    println!(
        "remove {owner} (the shard's owner at epoch {epoch}): {new_owner} routes at epoch \
         {new_epoch} {} ms after the command",
        handover.as_millis()
    );
    let r2 = reachable_on(&admin, &schema, "r2").await;
    assert!(
        r2.len() == 1 && r2[0] != owner,
        "r2's phone withdrawn from {owner}: {r2:?}"
    );
    let (left_at, left) = lines
        .until(
            "the owner leaves",
            Duration::from_secs(40),
            |v| v["left"]["id"] == owner.as_str(),
            &mut seen,
        )
        .await;
    println!(
        "{owner} left {} ms after the command: {}",
        left_at.duration_since(removed).as_millis(),
        left["left"]
    );
    assert_eq!(left["left"]["hung_up_at_deadline"], 0, "{left}");

    let done = tokio::time::timeout(Duration::from_secs(90), callers.wait())
        .await
        .expect("SIPp ended")
        .unwrap();
    let log = std::fs::read_to_string(dir.join(format!("caller_{caller_pid}_logs.log")))
        .expect("SIPp's -trace_logs file");
    let calls = calls_of(&log);
    // the records (the last calls end 3 s after they start)
    let store = PgStore::connect_in_schema(&db, &schema).await.unwrap();
    let mut records = Vec::new();
    let settle = Instant::now() + Duration::from_secs(20);
    while Instant::now() < settle {
        records = store
            .between(
                &TenantId::new(TENANT),
                Timestamp::from_secs(0),
                Timestamp::from_secs(i64::from(u32::MAX)),
            )
            .await
            .unwrap();
        if records.len() >= calls.len() && records.iter().all(|r| r.ended_at.is_some()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let mut by_caller: HashMap<u32, usize> = HashMap::new();
    let mut outcomes: BTreeMap<String, usize> = BTreeMap::new();
    for r in &records {
        if let Some(n) = r
            .from
            .expose()
            .strip_prefix("+4930555")
            .and_then(|n| n.parse().ok())
        {
            *by_caller.entry(n).or_default() += 1;
        }
        let o = match (&r.end_reason, r.agent.is_some(), r.abandoned) {
            (Some(EndReason::NodeFailure), ..) => "node_failure".to_owned(),
            (_, true, _) => "answered".to_owned(),
            (_, _, true) => "abandoned".to_owned(),
            (reason, ..) => format!("{reason:?}"),
        };
        *outcomes.entry(o).or_default() += 1;
    }
    let failed: Vec<u32> = calls.values().filter(|c| !c.ok).map(|c| c.number).collect();
    let lost: Vec<u32> = calls
        .keys()
        .filter(|n| !by_caller.contains_key(n))
        .copied()
        .collect();
    let doubled: Vec<u32> = by_caller
        .iter()
        .filter(|(_, k)| **k > 1)
        .map(|(n, _)| *n)
        .collect();
    let mut per_node: BTreeMap<String, serde_json::Value> = BTreeMap::new();
    while let Ok((at, v)) = lines.0.try_recv() {
        seen.push((at, v));
    }
    for (_, v) in &seen {
        if let Some(id) = v["figures"]["id"].as_str() {
            per_node.insert(id.to_owned(), v["figures"].clone());
        }
    }
    println!(
        "callers: {} started, {} failed; records {} ({} lost, {} doubled), by outcome \
         {outcomes:?}; SIPp {done:?}; nodes' last figures {per_node:?}",
        calls.len(),
        failed.len(),
        records.len(),
        lost.len(),
        doubled.len()
    );
    assert_eq!(calls.len(), CALLS as usize, "every call started");
    assert!(failed.is_empty(), "failed calls: {failed:?}");
    assert!(lost.is_empty(), "callers without a record: {lost:?}");
    assert!(doubled.is_empty(), "callers with two records: {doubled:?}");
    assert_eq!(records.len(), calls.len(), "records of no caller");
    assert!(
        !outcomes.contains_key("node_failure"),
        "nothing closed as node_failure: {outcomes:?}"
    );
    assert!(
        records.iter().all(|r| r.ended_at.is_some()),
        "every record is closed"
    );

    let _ = std::process::Command::new("kill")
        .args(["-TERM", &cloud.id().unwrap().to_string()])
        .status();
    let _ = tokio::time::timeout(Duration::from_secs(15), cloud.wait()).await;
    if let Err(e) = sqlx::query(&format!("DROP SCHEMA {schema} CASCADE"))
        .execute(&admin)
        .await
    {
        eprintln!("NOTICE: schema {schema} not dropped: {e}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
