//! A node killed with `kill -9` and started again with the same id takes
//! its agents and its share of the shard back (the restart gap of
//! docs/cloud.md), against real PostgreSQL, Redis, SIPp callers, a SIPp
//! phone and a SIPp registering that phone every 2 s (as a phone with a short
//! registration period does).
//!
//! `a_restarted_node_serves_calls_and_its_agents_take_offers_again`: node n1
//! (a child process, SIP at a fixed port its phone registers to) owns the
//! shard; agent 2001's phone registers on n1 only. n2 (this process) joins; a
//! caller on n2 reaches 2001 through n1 (the offer relay); a caller on n1
//! talks to 2001 when n1 is killed. n1 is started again 1 s later with the
//! same config: it joins at a new liveness epoch, contends for the shard's
//! lease, and its agent is reachable again once the phone's next REGISTER
//! lands. Measured and printed: the shard's takeover, the time until the
//! restarted node takes a call and until 2001 takes an offer again, through
//! n1 and from n2 through n1. Asserted: exactly one record per caller (the
//! call cut by the kill closed once, `node_failure` or `interrupted`), the
//! later callers answered by 2001, and the restarted node routes the shard
//! once n2 leaves (if n2 held it).
//!
//! Needs `DATABASE_URL`, `REDIS_URL` and `sipp`: skipped with a notice
//! otherwise, failing when `CALLCORE_REQUIRE_PEERS=1`. Own schema (dropped
//! after) and Redis prefix. Ports: RTP 19400-19479 (n1), 19500-19579 (n2),
//! n1's SIP 19590, the phone 19591; SIPp's own other ports are OS-picked.

#![allow(clippy::unwrap_used, clippy::expect_used)]
// Real peers and processes run in wall-clock time: the test waits for them.
#![allow(clippy::disallowed_methods)]

#[path = "cluster_support/mod.rs"]
mod cluster_support;
use cluster_support::{free_port, ready};

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use callcore::{AgentId, EndReason, EventKind, InteractionRecord};
use callcore_premise::{Premise, PremiseConfig};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;

const CONFIG_ENV: &str = "CALLCORE_CLUSTER_RESTART_TOML";
const DID: &str = "+15550100";
const AGENT: &str = "2001";
const PASSWORD: &str = "restart2001pw";
const N1_SIP: u16 = 19_590;
const PHONE: u16 = 19_591;

fn toml(db: &str, redis: &str, schema: &str, node: &str) -> String {
    let (sip, rtp_first) = match node {
        "n1" => (N1_SIP, 19_400),
        _ => (0, 19_500),
    };
    let dir = std::env::temp_dir().join(format!("callcore-{schema}-{node}"));
    format!(
        "[sip]\nbind = \"127.0.0.1:{sip}\"\ndigest = [\"MD5\"]\n[http]\nenabled = false\n\
         [media]\nrtp_first = {rtp_first}\nrtp_last = {}\n\
         [storage]\ndata_dir = \"{}\"\ndatabase_url = \"{db}\"\ndatabase_schema = \"{schema}\"\n\
         [cluster]\nnode = \"{node}\"\nredis_url = \"{redis}\"\nprefix = \"{schema}\"\n\
         [[dids]]\nnumber = \"{DID}\"\nqueue = \"support\"\n\
         [[agents]]\nid = \"{AGENT}\"\nname = \"Restarted\"\npassword = \"{PASSWORD}\"\n\
         skills = [\"support\"]\n",
        rtp_first + 79,
        dir.display(),
    )
}

fn sipp(port: u16) -> Command {
    let mut c = Command::new("sipp");
    c.args(["-i", "127.0.0.1", "-p", &port.to_string()])
        .args(["-mi", "127.0.0.1", "-mp", &free_port().to_string()])
        .args(["-ci", "127.0.0.1", "-cp", &free_port().to_string()])
        .args(["-nostdin"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true);
    c
}

fn sipp_file(file: &str, replace: &[(&str, &str)], dir: &Path) -> PathBuf {
    let mut text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/sipp")
            .join(file),
    )
    .unwrap();
    for (from, to) in replace {
        text = text.replace(from, to);
    }
    std::fs::create_dir_all(dir).unwrap();
    let path = dir.join(format!("{}-{file}", free_port()));
    std::fs::write(&path, text).unwrap();
    path
}

/// A SIPp caller from `number` to the DID's queue at `node_sip`; hangs up
/// `talk_ms` after the node answers (`ops_caller.xml`), or stays until the
/// node hangs up (`talk_ms` 0: `ops_stays.xml`).
fn caller(node_sip: &str, number: &str, talk_ms: u32, dir: &Path) -> Child {
    let (file, pause) = if talk_ms == 0 {
        ("ops_stays.xml", String::new())
    } else {
        (
            "ops_caller.xml",
            format!("<pause milliseconds=\"{talk_ms}\"/>"),
        )
    };
    let mut replace = vec![
        ("caller[call_number]", number),
        ("+4930555012[call_number]", number),
    ];
    if talk_ms > 0 {
        replace.push(("<pause milliseconds=\"3000\"/>", pause.as_str()));
    }
    let scenario = sipp_file(file, &replace, dir);
    sipp(free_port())
        .arg(node_sip)
        .arg("-sf")
        .arg(scenario)
        .args(["-s", DID, "-m", "1", "-timeout", "90s"])
        .spawn()
        .expect("sipp caller")
}

/// Node n1 in a child process: what it reports, each line with when it came.
struct ChildNode {
    child: Child,
    reports: mpsc::UnboundedReceiver<(Instant, String)>,
}

impl ChildNode {
    fn spawn(config: &str) -> ChildNode {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "child_node", "--ignored", "--nocapture"])
            .env(CONFIG_ENV, config)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let (tx, reports) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some((_, report)) = line.split_once("NODE-TEST ") {
                    let _ = tx.send((Instant::now(), report.trim().to_owned()));
                }
            }
        });
        ChildNode { child, reports }
    }

    /// The first report that starts with `prefix`, and when it came.
    async fn report(&mut self, prefix: &str, within: Duration) -> (Instant, String) {
        tokio::time::timeout(within, async {
            loop {
                let (at, r) = self.reports.recv().await.expect("n1 reports");
                if r.starts_with(prefix) {
                    return (at, r);
                }
            }
        })
        .await
        .unwrap_or_else(|_| panic!("n1 did not report {prefix} within {within:?}"))
    }
}

/// n1: starts from the config in the environment and reports its SIP
/// address, its calls, its agents' accepted offers and its routing epoch.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "run by a_restarted_node_serves_calls_and_its_agents_take_offers_again"]
async fn child_node() {
    let Ok(config) = std::env::var(CONFIG_ENV) else {
        return;
    };
    let premise = Premise::start(PremiseConfig::from_toml(&config).unwrap())
        .await
        .unwrap();
    let mut events = premise.center().subscribe();
    println!("NODE-TEST READY {}", premise.sip_addr());
    let cluster = premise.cluster().unwrap();
    let mut routing = None;
    let until = Instant::now() + Duration::from_secs(240);
    while Instant::now() < until {
        tokio::select! {
            event = events.recv() => match event.as_deref().map(|e| &e.kind) {
                Ok(EventKind::InteractionCreated { .. }) => println!("NODE-TEST CREATED"),
                Ok(EventKind::OfferAccepted { agent, .. }) => println!("NODE-TEST ACCEPTED {agent}"),
                Ok(_) => {}
                Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            },
            () = tokio::time::sleep(Duration::from_millis(20)) => {}
        }
        let now = cluster.owner_status().and_then(|s| s.routing);
        if now != routing {
            println!("NODE-TEST ROUTING {}", now.unwrap_or(0));
            routing = now;
        }
    }
}

async fn until(what: &str, within: Duration, mut ok: impl AsyncFnMut() -> bool) -> Duration {
    let t0 = Instant::now();
    while t0.elapsed() < within {
        if ok().await {
            return t0.elapsed();
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("{what}: not within {within:?}");
}

/// The records of callers `+1555010N`, by N.
fn by_caller(records: &[InteractionRecord]) -> Vec<(u32, &InteractionRecord)> {
    records
        .iter()
        .filter_map(|r| {
            let n = r.from.expose().strip_prefix("+1555010")?.parse().ok()?;
            Some((n, r))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_node_serves_calls_and_its_agents_take_offers_again() {
    let Some((db, redis)) = ready("the node restart test") else {
        return;
    };
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    let schema = format!("cluster_restart_{}_{nanos}", std::process::id());
    let dir = std::env::temp_dir().join(&schema);
    let n1_config = toml(&db, &redis, &schema, "n1");
    let n1_sip = format!("127.0.0.1:{N1_SIP}");

    // n1 first: it owns the shard
    let mut n1 = ChildNode::spawn(&n1_config);
    n1.report("READY", Duration::from_secs(60)).await;
    let (_, routing) = n1.report("ROUTING", Duration::from_secs(15)).await;
    assert_ne!(routing, "ROUTING 0", "n1 routes the shard");

    // agent 2001's phone (a SIPp UAS) registers on n1 every 2 s
    let _phone = sipp(PHONE)
        .arg("-sf")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/premise-load/agents.xml"))
        .arg("-rtp_echo")
        .args(["-m", "50", "-timeout", "200s"])
        .spawn()
        .expect("sipp phone");
    let register = sipp_file("agent_register.xml", &[("1001", AGENT)], &dir);
    let _registering = sipp(free_port())
        .arg(&n1_sip)
        .arg("-sf")
        .arg(&register)
        .args(["-ap", PASSWORD, "-key", "uas_port", &PHONE.to_string()])
        .args(["-r", "1", "-rp", "2000", "-m", "1000", "-timeout", "200s"])
        .spawn()
        .expect("sipp registering the phone");

    let n2 = Premise::start(PremiseConfig::from_toml(&toml(&db, &redis, &schema, "n2")).unwrap())
        .await
        .unwrap();
    let cdb = n2.cluster().unwrap().db().clone();
    let shard = n2.cluster().unwrap().shard().unwrap().to_owned();
    let on_n1 = async || {
        cdb.seats(&shard)
            .await
            .unwrap()
            .iter()
            .any(|s| s.id == AGENT && s.reachable_on.as_deref() == Some(&["n1".to_owned()][..]))
    };
    until("the phone is on n1", Duration::from_secs(15), on_n1).await;

    // caller 1 on n2 reaches 2001 through n1 (the caller's node n2 sees the
    // offer accepted; n1 only relays it)
    let mut n2_events = n2.center().subscribe();
    let mut c1 = caller(&n2.sip_addr().to_string(), "+15550101", 4000, &dir);
    accepted_on(&mut n2_events, Duration::from_secs(30)).await;
    assert!(c1.wait().await.unwrap().success(), "caller 1");
    // caller 2 on n1 talks to 2001 when n1 is killed (2001 is in wrap-up first)
    let _c2 = caller(&n1_sip, "+15550102", 0, &dir);
    n1.report(&format!("ACCEPTED {AGENT}"), Duration::from_secs(30))
        .await;
    let epoch_before: i64 = node_epoch(&db, &schema).await;
    let lease_before = cdb.lease(&shard).await.unwrap().unwrap();

    n1.child.start_kill().unwrap(); // SIGKILL
    n1.child.wait().await.unwrap();
    let killed = Instant::now();
    // started again a second later, as a supervisor would
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mut n1 = ChildNode::spawn(&n1_config);
    let restarted = Instant::now();
    let (ready_at, _) = n1.report("READY", Duration::from_secs(60)).await;
    // caller 3 dials the restarted node at once
    let mut c3 = caller(&n1_sip, "+15550103", 10_000, &dir);
    let (created_at, _) = n1.report("CREATED", Duration::from_secs(30)).await;
    let (accepted_at, _) = n1
        .report(&format!("ACCEPTED {AGENT}"), Duration::from_secs(30))
        .await;
    let lease = cdb.lease(&shard).await.unwrap().unwrap();
    let took = until(
        "the shard routes again",
        Duration::from_secs(10),
        async || {
            cdb.lease(&shard)
                .await
                .unwrap()
                .is_some_and(|l| l.epoch > lease_before.epoch)
        },
    )
    .await;
    let epoch_after = node_epoch(&db, &schema).await;
    let ms = |at: Instant| at.duration_since(restarted).as_millis();
    println!(
        "kill -9 of n1, restarted 1 s later: ready {} ms after the restart; its first call \
         taken {} ms, its agent 2001 took an offer again {} ms after the restart \
         ({} ms after the kill); the shard at epoch {} ({}) then {} ({}); n1's liveness epoch \
         {epoch_before} -> {epoch_after}",
        ms(ready_at),
        ms(created_at),
        ms(accepted_at),
        accepted_at.duration_since(killed).as_millis(),
        lease_before.epoch,
        lease_before.owner,
        lease.epoch,
        lease.owner,
    );
    assert!(took < Duration::from_secs(10));
    assert!(epoch_after > epoch_before, "n1 rejoined at a new epoch");
    assert!(c3.wait().await.unwrap().success(), "caller 3");

    // caller 4 on n2 reaches 2001 through the restarted n1
    let mut n2_events = n2.center().subscribe();
    let dialled = Instant::now();
    let mut c4 = caller(&n2.sip_addr().to_string(), "+15550104", 4000, &dir);
    let relayed_at = accepted_on(&mut n2_events, Duration::from_secs(30)).await;
    assert!(c4.wait().await.unwrap().success(), "caller 4");
    println!(
        "a caller on n2 reached 2001 through the restarted n1 ({} ms from its INVITE to the \
         agent's answer)",
        relayed_at.duration_since(dialled).as_millis()
    );

    // exactly one record per caller
    let mut records = Vec::new();
    until(
        "every caller's record",
        Duration::from_secs(30),
        async || {
            records = n2.records().await.unwrap();
            let ended = by_caller(&records)
                .iter()
                .filter(|(_, r)| r.end_reason.is_some())
                .count();
            ended >= 4
        },
    )
    .await;
    let mine = by_caller(&records);
    for n in 1..=4 {
        let of: Vec<&InteractionRecord> = mine
            .iter()
            .filter(|(k, _)| *k == n)
            .map(|(_, r)| *r)
            .collect();
        assert_eq!(of.len(), 1, "caller {n}: {of:#?}");
        let r = of[0];
        if n == 2 {
            assert!(
                matches!(
                    r.end_reason,
                    Some(EndReason::NodeFailure | EndReason::Interrupted)
                ),
                "the call cut by the kill: {r:#?}"
            );
        } else {
            assert_eq!(r.agent, Some(AgentId::new(AGENT)), "caller {n}: {r:#?}");
            assert!(r.answered_at.is_some(), "caller {n}: {r:#?}");
        }
    }
    assert_eq!(mine.len(), records.len(), "{records:#?}");
    println!(
        "records: {:?}",
        mine.iter()
            .map(|(n, r)| (n, r.end_reason.clone()))
            .collect::<Vec<_>>()
    );

    // n2 leaves: the restarted n1 routes the shard (if it did not already)
    let owner = cdb.lease(&shard).await.unwrap().unwrap().owner;
    n2.shutdown().await;
    if owner == "n2" {
        let left = Instant::now();
        let (at, _) = loop {
            let (at, r) = n1.report("ROUTING", Duration::from_secs(10)).await;
            if r != "ROUTING 0" {
                break (at, r);
            }
        };
        println!(
            "n2 stopped: the restarted n1 routes the shard {} ms later",
            at.duration_since(left).as_millis()
        );
    } else {
        println!("the restarted n1 took the shard back itself");
    }
    n1.child.start_kill().unwrap();
    let _ = n1.child.wait().await;
    let admin = sqlx::PgPool::connect(&db).await.unwrap();
    sqlx::query(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
        .execute(&admin)
        .await
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    for n in ["n1", "n2"] {
        let _ =
            std::fs::remove_dir_all(std::env::temp_dir().join(format!("callcore-{schema}-{n}")));
    }
}

/// When agent 2001 accepted an offer on this node's center.
async fn accepted_on(events: &mut callcore_runtime::EventSubscriber, within: Duration) -> Instant {
    tokio::time::timeout(within, async {
        loop {
            let e = events.recv().await.expect("the node's events");
            if let EventKind::OfferAccepted { agent, .. } = &e.kind
                && agent.as_str() == AGENT
            {
                return Instant::now();
            }
        }
    })
    .await
    .expect("2001 accepted the offer in time")
}

/// n1's liveness epoch (`cluster_nodes`).
async fn node_epoch(db: &str, schema: &str) -> i64 {
    let pool = sqlx::PgPool::connect(db).await.unwrap();
    let (epoch,): (i64,) = sqlx::query_as(&format!(
        "SELECT epoch FROM {schema}.cluster_nodes WHERE node = 'n1'"
    ))
    .fetch_one(&pool)
    .await
    .unwrap();
    epoch
}
