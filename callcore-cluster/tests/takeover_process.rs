//! Two node processes contend for a shard over the real PostgreSQL
//! (`DATABASE_URL`). The owner is paused with `kill -STOP` (it stops
//! renewing, its clock runs on); the other takes over within 4 s (measured
//! and printed); the stale owner's fenced write fails; resumed with
//! `kill -CONT`, it learns it lost, its own write at the old epoch is
//! refused, and it never routes again while the other holds the shard.
//!
//! The node processes are this test binary run again with only the
//! `node_child` test and `CC_CLUSTER_NODE` set; they print one JSON line per
//! event on stdout.
#![allow(
    clippy::unwrap_used,
    clippy::panic,
    missing_docs,
    clippy::disallowed_methods
)]

mod common;

use callcore_cluster::{ClusterDb, ClusterError, Fence, LeaseHandle, LeaseTiming, Ownership};
use common::{TestDb, database_url};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const SHARD: &str = "tenant-a";

fn emit(v: &Value) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{v}");
    let _ = out.flush();
}

async fn routing_write(db: &ClusterDb, fence: &Fence) -> Result<(), ClusterError> {
    let mut tx = db.begin_fenced(fence).await?;
    sqlx::query("INSERT INTO routing_log (owner, epoch) VALUES ($1, $2)")
        .bind(&fence.owner)
        .bind(i64::try_from(fence.epoch).unwrap())
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

/// A node: holds or contends for the shard, and while it owns it makes a
/// fenced routing write every 100 ms. Does nothing unless run as a child.
#[test]
fn node_child() {
    let Ok(node) = std::env::var("CC_CLUSTER_NODE") else {
        return;
    };
    let url = std::env::var("DATABASE_URL").unwrap();
    let schema = std::env::var("CC_CLUSTER_SCHEMA").unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let db = ClusterDb::connect(&url, Some(&schema)).await.unwrap();
        let mut lease = LeaseHandle::spawn(db.clone(), SHARD, &node, LeaseTiming::default()).unwrap();
        emit(&json!({"event": "ready"}));
        let mut tick = tokio::time::interval(Duration::from_millis(100));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            tokio::select! {
                _ = tick.tick() => {
                    if let Some(fence) = lease.fence_now() {
                        match routing_write(&db, &fence).await {
                            Ok(()) => {}
                            Err(ClusterError::Fenced { epoch, .. }) => {
                                emit(&json!({"event": "fenced", "epoch": epoch}));
                                lease.report_fenced(epoch);
                            }
                            Err(e) => emit(&json!({"event": "error", "error": e.to_string()})),
                        }
                    }
                }
                alive = lease.changed() => {
                    if !alive {
                        return;
                    }
                    match lease.ownership() {
                        Ownership::Owner { epoch, .. } => emit(&json!({"event": "owner", "epoch": epoch})),
                        Ownership::NotOwner { lost: Some((epoch, reason)) } => {
                            emit(&json!({"event": "lost", "epoch": epoch, "reason": format!("{reason:?}")}));
                            // Prove the fence from the stale side: a write at the lost epoch.
                            let r = routing_write(&db, &Fence::new(SHARD, &*node, epoch)).await;
                            emit(&json!({
                                "event": "stale_write",
                                "epoch": epoch,
                                "ok": r.is_ok(),
                                "fenced": matches!(r, Err(ClusterError::Fenced { .. })),
                            }));
                        }
                        _ => {}
                    }
                }
            }
        }
    });
}

struct Nodes {
    children: Vec<Child>,
    events: mpsc::Receiver<(String, Instant, Value)>,
    tx: mpsc::Sender<(String, Instant, Value)>,
    seen: Vec<(String, Instant, Value)>,
}

impl Drop for Nodes {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = Command::new("kill")
                .args(["-CONT", &c.id().to_string()])
                .status();
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Nodes {
    fn new() -> Self {
        let (tx, events) = mpsc::channel();
        Self {
            children: Vec::new(),
            events,
            tx,
            seen: Vec::new(),
        }
    }

    fn spawn(&mut self, node: &str, schema: &str) -> u32 {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["node_child", "--exact", "--nocapture", "--test-threads=1"])
            .env("CC_CLUSTER_NODE", node)
            .env("CC_CLUSTER_SCHEMA", schema)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let out = child.stdout.take().unwrap();
        let (tx, name) = (self.tx.clone(), node.to_owned());
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                // The harness may print "test node_child ... " before the first line.
                let json = line.find('{').map_or("", |i| &line[i..]);
                if let Ok(v) = serde_json::from_str::<Value>(json) {
                    let _ = tx.send((name.clone(), Instant::now(), v));
                }
            }
        });
        let pid = child.id();
        self.children.push(child);
        pid
    }

    /// The first event of `node` named `event` (seen already or arriving
    /// within `within`).
    fn wait_for(&mut self, node: &str, event: &str, within: Duration) -> (Instant, Value) {
        let is = |(n, _, v): &(String, Instant, Value)| n == node && v["event"] == event;
        if let Some((_, at, v)) = self.seen.iter().find(|e| is(e)) {
            return (*at, v.clone());
        }
        let deadline = Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let e = self.events.recv_timeout(left).unwrap_or_else(|_| {
                panic!(
                    "{node} did not report {event} within {within:?}; saw {:?}",
                    self.seen
                )
            });
            let hit = is(&e);
            self.seen.push(e.clone());
            if hit {
                return (e.1, e.2);
            }
        }
    }

    /// The `n`th event of `node` named `event` (1-based).
    fn wait_for_nth(
        &mut self,
        node: &str,
        event: &str,
        n: usize,
        within: Duration,
    ) -> (Instant, Value) {
        let deadline = Instant::now() + within;
        loop {
            let hits: Vec<_> = self
                .seen
                .iter()
                .filter(|(m, _, v)| m == node && v["event"] == event)
                .collect();
            if let Some((_, at, v)) = hits.get(n - 1) {
                return (*at, v.clone());
            }
            let left = deadline.saturating_duration_since(Instant::now());
            let e = self.events.recv_timeout(left).unwrap_or_else(|_| {
                panic!(
                    "{node} did not report {event} #{n} within {within:?}; saw {:?}",
                    self.seen
                )
            });
            self.seen.push(e);
        }
    }

    fn drain(&mut self) {
        while let Ok(e) = self.events.try_recv() {
            self.seen.push(e);
        }
    }

    fn count(&self, node: &str, event: &str) -> usize {
        self.seen
            .iter()
            .filter(|(n, _, v)| n == node && v["event"] == event)
            .count()
    }
}

fn signal(sig: &str, pid: u32) {
    let ok = Command::new("kill")
        .args([sig, &pid.to_string()])
        .status()
        .unwrap();
    assert!(ok.success(), "kill {sig} {pid}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_owner_is_replaced_within_four_seconds_and_fenced() {
    let Some(url) = database_url() else { return };
    let t = TestDb::open(&url).await;
    sqlx::query(
        "CREATE TABLE routing_log (owner TEXT NOT NULL, epoch BIGINT NOT NULL,
                                   at TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp())",
    )
    .execute(t.db.pool())
    .await
    .unwrap();
    let mut nodes = Nodes::new();
    let a = nodes.spawn("a", &t.schema);
    let (_, owner) = nodes.wait_for("a", "owner", Duration::from_secs(30));
    let ea = owner["epoch"].as_u64().unwrap();
    nodes.spawn("b", &t.schema);
    nodes.wait_for("b", "ready", Duration::from_secs(30));
    // b contends (every 0.5 s) and is refused while a renews (past its TTL).
    tokio::time::sleep(Duration::from_millis(3500)).await;
    nodes.drain();
    assert_eq!(
        nodes.count("b", "owner"),
        0,
        "b took a live lease: {:?}",
        nodes.seen
    );
    assert_eq!(
        nodes.count("a", "lost"),
        0,
        "a stopped renewing: {:?}",
        nodes.seen
    );

    signal("-STOP", a);
    let stopped = Instant::now();
    let (took_at, owner_b) = nodes.wait_for("b", "owner", Duration::from_secs(10));
    let takeover = took_at.duration_since(stopped);
    let eb = owner_b["epoch"].as_u64().unwrap();
    println!(
        "takeover: b owns the shard {} ms after a was paused (epoch {ea} -> {eb})",
        takeover.as_millis()
    );
    assert!(
        takeover < Duration::from_secs(4),
        "takeover took {takeover:?}"
    );
    assert!(eb > ea);

    // The stale owner's write fails, whoever sends it.
    let stale = t.db.begin_fenced(&Fence::new(SHARD, "a", ea)).await;
    assert!(
        matches!(stale, Err(ClusterError::Fenced { .. })),
        "{stale:?}"
    );

    tokio::time::sleep(Duration::from_millis(500)).await;
    signal("-CONT", a);
    let (_, lost) = nodes.wait_for("a", "lost", Duration::from_secs(5));
    assert_eq!(lost["epoch"].as_u64(), Some(ea));
    let (_, probe) = nodes.wait_for("a", "stale_write", Duration::from_secs(5));
    assert_eq!(
        (probe["ok"].as_bool(), probe["fenced"].as_bool()),
        (Some(false), Some(true)),
        "{probe}"
    );
    println!("a resumed: {lost}, then {probe}");
    // a contends again but never routes while b renews.
    tokio::time::sleep(Duration::from_millis(3000)).await;
    nodes.drain();
    assert_eq!(nodes.count("a", "owner"), 1, "{:?}", nodes.seen);
    assert_eq!(nodes.count("b", "lost"), 0, "{:?}", nodes.seen);

    // kill -9 of the new owner: the old one, contending again, takes over.
    let b = nodes.children[1].id();
    signal("-KILL", b);
    let killed = Instant::now();
    let (took_at, owner_a) = nodes.wait_for_nth("a", "owner", 2, Duration::from_secs(10));
    let takeover_kill = took_at.duration_since(killed);
    let ea2 = owner_a["epoch"].as_u64().unwrap();
    println!(
        "takeover: a owns the shard again {} ms after b was killed (epoch {eb} -> {ea2})",
        takeover_kill.as_millis()
    );
    assert!(
        takeover_kill < Duration::from_secs(4),
        "takeover took {takeover_kill:?}"
    );
    assert!(ea2 > eb);
    tokio::time::sleep(Duration::from_millis(300)).await;
    drop(nodes);

    // Every routing write that landed: a's at its epoch, all before b's first.
    let rows: Vec<(String, i64, String)> =
        sqlx::query_as("SELECT owner, epoch, at::text FROM routing_log ORDER BY at")
            .fetch_all(t.db.pool())
            .await
            .unwrap();
    let a_rows = rows.iter().filter(|r| r.0 == "a").count();
    let b_rows = rows.iter().filter(|r| r.0 == "b").count();
    assert!(a_rows > 0 && b_rows > 0, "{rows:?}");
    // The writes in the order they landed: a at ea, then b at eb, then a at ea2.
    let epoch = |e: u64| i64::try_from(e).unwrap();
    let phases: Vec<(String, i64)> = rows.iter().fold(Vec::new(), |mut acc, r| {
        if acc.last() != Some(&(r.0.clone(), r.1)) {
            acc.push((r.0.clone(), r.1));
        }
        acc
    });
    assert_eq!(
        phases,
        [
            ("a".to_owned(), epoch(ea)),
            ("b".to_owned(), epoch(eb)),
            ("a".to_owned(), epoch(ea2))
        ],
        "{rows:?}"
    );
    println!(
        "routing writes: a {a_rows}, b {b_rows}, in three phases at epochs {ea}, {eb}, {ea2}; none interleaved"
    );
    t.drop_schema().await;
}
