//! The cloud assembly on one machine: Kamailio's dispatcher in front of N
//! premise nodes that share PostgreSQL (`DATABASE_URL`) and Redis
//! (`REDIS_URL`), each with a `[cluster]` node id (docs/cloud.md).
//!
//! ```text
//! cargo run --release --example cloud -- --nodes 3 [--config FILE] [--sip PORT]
//! ```
//!
//! Prints one JSON line per process first — `{"role":"proxy",…}` then
//! `{"role":"node","id":"n1",…}` — then each node's figures and the total
//! every few seconds. Ctrl-C (or SIGTERM) stops every child. Nodes are this program
//! re-run with a hidden `--node` flag. `--demo-calls N` drives self-made
//! agents (one phone user agent at a fixed contact for every agent) and N
//! callers through Kamailio, prints a summary and stops.
//!
//! Nodes join and leave while it runs, by commands on its stdin, one a line:
//! `add` starts the next node (`nK`, its JSON line printed like the first
//! ones) and puts it in Kamailio's dispatcher list once it is up; `remove nK`
//! takes node K out of the list (Kamailio reloads it over its `ctl` socket,
//! `kamcmd dispatcher.reload`) and sends the node SIGTERM: it leaves
//! gracefully — gives the shard's lease up, withdraws its phones, finishes
//! its calls (up to `drain_secs`) — prints `{"left":{"id":"nK",…}}` and exits.

use std::collections::BTreeMap;
use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::Duration;

use callcore_premise::cluster_node::ClusterSection;
use callcore_premise::{Premise, PremiseConfig};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

/// RTP ports per node, from `--rtp` + 400·(K−1).
const RTP_PER_NODE: u16 = 400;

#[derive(Debug, Clone)]
struct NodeArgs {
    id: String,
    sip: u16,
    http: u16,
    rtp: u16,
}

/// A port free for UDP and TCP on 127.0.0.1 for a node's SIP or HTTP listener, from
/// 30000-32699: below the kernel's usual ephemeral range, so that no socket bound to
/// port 0 elsewhere takes it before the node binds it (a port picked by binding port 0
/// was once taken that way: "Address already in use" and a node that never started).
fn free_port() -> Result<u16, String> {
    static NEXT: AtomicU16 = AtomicU16::new(0);
    const LO: u16 = 30_000;
    const SPAN: u16 = 2_700;
    let salt = u16::try_from(std::process::id() % u32::from(SPAN)).unwrap_or(0);
    for _ in 0..SPAN {
        let port = LO + NEXT.fetch_add(1, Ordering::Relaxed).wrapping_add(salt) % SPAN;
        if UdpSocket::bind(("127.0.0.1", port)).is_ok()
            && std::net::TcpListener::bind(("127.0.0.1", port)).is_ok()
        {
            return Ok(port);
        }
    }
    Err(format!("no free port in {LO}..{}", LO + SPAN))
}

#[path = "cli.rs"]
mod cli;
#[path = "cloud_demo.rs"]
mod cloud_demo;
#[path = "cloud_proxy.rs"]
mod cloud_proxy;

use clap::Parser;

/// A cloud center on this machine: Kamailio (dispatcher, OPTIONS probing, failover) in
/// front of N premise nodes sharing DATABASE_URL (PostgreSQL) and REDIS_URL.
#[derive(Debug, Parser)]
#[command(
    name = "cloud",
    args_override_self = true,
    after_help = "Examples:\n  DATABASE_URL=postgres://postgres@127.0.0.1:5432/test REDIS_URL=redis://127.0.0.1:6379 cargo run --release --example cloud -- --nodes 3"
)]
struct Args {
    /// how many nodes (1 to 20)
    #[arg(long, value_name = "N", default_value_t = 3, value_parser = clap::value_parser!(u8).range(1..=20))]
    nodes: u8,
    /// the nodes' config (the premise's format plus [cluster]) [default: the premise's embedded defaults]
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Kamailio's SIP port on 127.0.0.1
    #[arg(long, value_name = "PORT", default_value_t = 5060)]
    sip: u16,
    /// the first node's RTP port; node K uses 400 ports from it + 400·(K−1)
    #[arg(long, value_name = "PORT", default_value_t = 25_100, value_parser = clap::value_parser!(u16).range(1024..=40_000))]
    rtp: u16,
    /// self-made callers through Kamailio and agents answering them, then a summary [default: off]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=500))]
    demo_calls: Option<u64>,
    /// internal: a node's agents are rung at the demo's phones on this port [default: off]
    #[arg(long, value_name = "PORT", hide = true)]
    demo_phones: Option<u16>,
    /// internal: run as one node (how the example starts its nodes) [default: off]
    #[arg(long, value_name = "ID,SIP,HTTP,RTP", value_parser = node_spec)]
    node: Option<NodeArgs>,
}

/// `--node id,sip,http,rtp`.
fn node_spec(spec: &str) -> Result<NodeArgs, String> {
    let p: Vec<&str> = spec.split(',').collect();
    let port = |i: usize| -> Result<u16, String> {
        p.get(i)
            .and_then(|v| v.parse().ok())
            .ok_or(format!("`{spec}`: id,sip,http,rtp"))
    };
    Ok(NodeArgs {
        id: p[0].to_owned(),
        sip: port(1)?,
        http: port(2)?,
        rtp: port(3)?,
    })
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    if let Err(e) = run(Args::parse()).await {
        eprintln!("{e}");
        std::process::exit(2);
    }
}

async fn run(args: Args) -> Result<(), String> {
    let Args {
        nodes,
        config,
        sip: proxy_port,
        rtp: rtp_base,
        demo_calls,
        demo_phones,
        node,
    } = args;
    let nodes = usize::from(nodes);
    let demo_calls = demo_calls.and_then(|n| usize::try_from(n).ok());
    for var in ["DATABASE_URL", "REDIS_URL"] {
        if std::env::var(var).map_or(true, |v| v.is_empty()) {
            return Err(format!("{var} must be set (the nodes share it)"));
        }
    }
    match node {
        Some(n) => run_node(n, config.as_deref(), demo_phones).await,
        None => run_cluster(nodes, config, proxy_port, rtp_base, demo_calls).await,
    }
}

async fn run_node(n: NodeArgs, file: Option<&Path>, phones: Option<u16>) -> Result<(), String> {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(filter)
        .init();
    let mut config = PremiseConfig::load(file).map_err(|e| e.to_string())?;
    config.sip.bind = SocketAddr::from(([127, 0, 0, 1], n.sip));
    config.http.enabled = true;
    config.http.bind = Some(SocketAddr::from(([127, 0, 0, 1], n.http)));
    config.media.rtp_first = n.rtp;
    config.media.rtp_last = n.rtp + RTP_PER_NODE - 1;
    config.storage.database = "postgres".into();
    if let Some(port) = phones {
        for a in &mut config.agents {
            a.contact = Some(format!("sip:{}@127.0.0.1:{port}", a.id));
        }
    }
    // one folder per cluster run and node (recordings)
    config.storage.data_dir = std::env::temp_dir().join(format!(
        "callcore-cloud-{}-{}",
        std::os::unix::process::parent_id(),
        n.id
    ));
    let mut cluster = config.cluster.clone().unwrap_or(ClusterSection {
        node: String::new(),
        redis_url: None,
        prefix: "callcore".into(),
    });
    cluster.node = n.id.clone();
    config.cluster = Some(cluster);
    let drain = Duration::from_secs(u64::from(config.drain_secs));
    let premise = Premise::start(config).await.map_err(|e| e.to_string())?;
    // SIGTERM (`remove nK`): leave the cluster, drain, stop
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(|e| e.to_string())?;
    // told when this node was declared dead (paused or cut off from
    // PostgreSQL past its TTL): the survivors closed its calls, so it stops
    let mut dead = premise
        .cluster()
        .map(callcore_premise::cluster_node::ClusterNode::declared_dead);
    let mut closed_total = 0usize;
    let mut peak = 0u64;
    let mut sample = tokio::time::interval(Duration::from_millis(200));
    let mut every = tokio::time::interval(Duration::from_secs(2));
    every.tick().await;
    loop {
        tokio::select! {
            _ = term.recv() => break,
            _ = sample.tick() => peak = peak.max(premise.ops().calls().active),
            _ = every.tick() => {
                let calls = premise.ops().calls();
                if let Some(c) = premise.cluster() {
                    closed_total += c.take_closed().len();
                }
                let answered: u64 = calls.answered.values().sum();
                let abandoned: u64 = calls.abandoned.values().sum();
                println!(
                    "{}",
                    serde_json::json!({"figures": {"id": n.id, "active": calls.active,
                        "peak_active": peak.max(calls.active), "offered": calls.offered,
                        "answered": answered, "abandoned": abandoned,
                        "closed_node_failure": closed_total}})
                );
                peak = 0;
            }
            by = async {
                match dead.as_mut() {
                    Some(rx) => {
                        let _ = rx.wait_for(Option::is_some).await;
                        rx.borrow().clone().unwrap_or_default()
                    }
                    None => std::future::pending().await,
                }
            } => {
                println!(
                    "{}",
                    serde_json::json!({"declared_dead": {"id": n.id, "by": by}})
                );
                eprintln!("node {} was declared dead by {by}: its calls were closed; stopping", n.id);
                std::process::exit(3);
            }
        }
    }
    // leaving: the lease and the phones first, then the calls end
    if let Some(c) = premise.cluster() {
        c.leave().await;
    }
    let report = premise.drain(drain).await;
    println!(
        "{}",
        serde_json::json!({"left": {"id": n.id, "calls_at_start": report.calls_at_start,
            "hung_up_at_deadline": report.hung_up_at_deadline,
            "took_ms": u64::try_from(report.took.as_millis()).unwrap_or(u64::MAX)}})
    );
    premise.shutdown().await;
    Ok(())
}

/// One node process of the cluster.
struct NodeProc {
    sip: u16,
    child: tokio::process::Child,
    /// In Kamailio's dispatcher list.
    listed: bool,
    /// Sent SIGTERM by `remove`: leaving.
    leaving: bool,
}

/// What starting one more node needs.
struct Spawner {
    me: PathBuf,
    config: Option<PathBuf>,
    demo_phones: Option<u16>,
    rtp_base: u16,
    lines: tokio::sync::mpsc::UnboundedSender<String>,
}

/// Node K's first RTP port: `--rtp` + 400·(K−1).
fn node_rtp(base: u16, k: usize) -> Result<u16, String> {
    u16::try_from(k.saturating_sub(1))
        .ok()
        .and_then(|k| k.checked_mul(RTP_PER_NODE))
        .and_then(|o| o.checked_add(base))
        .filter(|r| r.checked_add(RTP_PER_NODE).is_some())
        .ok_or_else(|| "--rtp: too high for this many nodes".to_owned())
}

impl Spawner {
    /// Starts node `id` on `sip`, `http` and RTP block `block`; prints its
    /// JSON line; its stdout goes to `lines`.
    fn spawn(&self, id: &str, sip: u16, http: u16, block: usize) -> Result<NodeProc, String> {
        let rtp = node_rtp(self.rtp_base, block)?;
        let mut cmd = Command::new(&self.me);
        cmd.arg("--node").arg(format!("{id},{sip},{http},{rtp}"));
        if let Some(c) = &self.config {
            cmd.arg("--config").arg(c);
        }
        if let Some(port) = self.demo_phones {
            cmd.arg("--demo-phones").arg(port.to_string());
        }
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| e.to_string())?;
        println!(
            "{}",
            serde_json::json!({"role": "node", "id": id, "sip": format!("127.0.0.1:{sip}"),
                "http": format!("127.0.0.1:{http}"), "pid": child.id()})
        );
        if let Some(out) = child.stdout.take() {
            let tx = self.lines.clone();
            tokio::spawn(async move {
                let mut lines = BufReader::new(out).lines();
                while let Ok(Some(l)) = lines.next_line().await {
                    let _ = tx.send(l);
                }
            });
        }
        Ok(NodeProc {
            sip,
            child,
            listed: false,
            leaving: false,
        })
    }
}

/// The commands on stdin (`add`, `remove nK`), read on a thread of their
/// own (a blocking read tokio could not cancel at exit).
fn commands() -> tokio::sync::mpsc::UnboundedReceiver<String> {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    std::thread::spawn(move || {
        for line in std::io::stdin().lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// The SIP ports of the nodes in the dispatcher list.
fn listed(nodes: &BTreeMap<String, NodeProc>) -> Vec<u16> {
    nodes.values().filter(|n| n.listed).map(|n| n.sip).collect()
}

#[allow(clippy::disallowed_methods)] // the demo starts after a wall-clock pause
#[allow(clippy::too_many_lines)]
async fn run_cluster(
    count: usize,
    config: Option<PathBuf>,
    port: u16,
    rtp_base: u16,
    demo_calls: Option<usize>,
) -> Result<(), String> {
    let dir = std::env::temp_dir().join(format!("callcore-cloud-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let me = std::env::current_exe().map_err(|e| e.to_string())?;
    let proxy = SocketAddr::from(([127, 0, 0, 1], port));
    let mut specs = Vec::new();
    for i in 1..=count {
        node_rtp(rtp_base, i)?;
        specs.push((format!("n{i}"), free_port()?, free_port()?));
    }
    // the demo's phones, before the nodes that ring them (the RTP block after
    // the first nodes'; nodes added later skip it)
    let demo = match demo_calls {
        Some(_) => Some(cloud_demo::Demo::start(node_rtp(rtp_base, count + 1)?).await?),
        None => None,
    };
    let dispatcher = cloud_proxy::Dispatcher::new(&dir);
    dispatcher.write(&specs.iter().map(|s| s.1).collect::<Vec<_>>())?;
    let cfg_path = dir.join("kamailio.cfg");
    std::fs::write(&cfg_path, cloud_proxy::kamailio_cfg(proxy, &dispatcher))
        .map_err(|e| e.to_string())?;
    let mut kamailio = Command::new("kamailio")
        .args(["-DD", "-E", "-m", "64", "-M", "8", "-f"])
        .arg(&cfg_path)
        .arg("-Y")
        .arg(&dir)
        .arg("-P")
        .arg(dir.join("kamailio.pid"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("kamailio (apt-get install -y kamailio): {e}"))?;
    println!(
        "{}",
        serde_json::json!({"role": "proxy", "sip": proxy.to_string(), "pid": kamailio.id()})
    );
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    let spawner = Spawner {
        me,
        config: config.clone(),
        demo_phones: demo.as_ref().map(|d| d.phones.port()),
        rtp_base,
        lines: tx,
    };
    let mut nodes: BTreeMap<String, NodeProc> = BTreeMap::new();
    for (k, (id, sip, http)) in specs.iter().enumerate() {
        let mut node = spawner.spawn(id, *sip, *http, k + 1)?;
        node.listed = true;
        nodes.insert(id.clone(), node);
    }
    eprintln!("cloud: type `add` to start one more node, `remove nK` to take node K out");
    let mut commands = commands();
    let mut stdin_open = true;
    let mut next = count + 1;
    let mut last: BTreeMap<String, serde_json::Value> = BTreeMap::new();
    let mut started = std::collections::BTreeSet::new();
    let mut demo = demo.map(|d| (d, demo_calls.unwrap_or(0)));
    let mut demo_run: Option<tokio::task::JoinHandle<serde_json::Value>> = None;
    let demo_config = match &demo {
        Some(_) => Some(PremiseConfig::load(config.as_deref()).map_err(|e| e.to_string())?),
        None => None,
    };
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(|e| e.to_string())?;
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => break,
            _ = term.recv() => break,
            summary = async {
                match demo_run.as_mut() {
                    Some(run) => run.await,
                    None => std::future::pending().await,
                }
            } => {
                match summary {
                    Ok(s) => println!("{s}"),
                    Err(e) => eprintln!("the demo failed: {e}"),
                }
                break;
            }
            command = commands.recv(), if stdin_open => {
                let Some(command) = command else {
                    stdin_open = false;
                    continue;
                };
                let words: Vec<&str> = command.split_whitespace().collect();
                match words.as_slice() {
                    ["add"] => {
                        // the demo's phones hold the block after the first nodes
                        let block = next + usize::from(spawner.demo_phones.is_some());
                        let id = format!("n{next}");
                        let spawned = free_port()
                            .and_then(|sip| Ok((sip, free_port()?)))
                            .and_then(|(sip, http)| spawner.spawn(&id, sip, http, block));
                        match spawned {
                            Ok(node) => {
                                next += 1;
                                nodes.insert(id, node);
                            }
                            Err(e) => eprintln!("add: {e}"),
                        }
                    }
                    ["remove", id] => match nodes.get_mut(*id) {
                        Some(node) if !node.leaving => {
                            node.leaving = true;
                            node.listed = false;
                            last.remove(*id);
                            if let Err(e) = dispatcher.update(&listed(&nodes)).await {
                                eprintln!("remove {id}: {e}");
                            }
                            if let Some(pid) = nodes.get(*id).and_then(|n| n.child.id()) {
                                let _ = Command::new("kill")
                                    .arg("-TERM")
                                    .arg(pid.to_string())
                                    .status()
                                    .await;
                            }
                        }
                        Some(_) => eprintln!("remove {id}: already leaving"),
                        None => eprintln!("remove {id}: no such node"),
                    },
                    [] => {}
                    _ => eprintln!("unknown command `{command}`: add | remove nK"),
                }
            }
            line = rx.recv() => {
                let Some(line) = line else { break };
                println!("{line}");
                let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) else {
                    continue;
                };
                if let Some(id) = v["left"]["id"].as_str()
                    && let Some(mut node) = nodes.remove(id)
                {
                    // it drained and stops by itself
                    tokio::spawn(async move { let _ = node.child.wait().await; });
                    continue;
                }
                let Some(f) = v.get("figures") else { continue };
                let Some(id) = f.get("id").and_then(|i| i.as_str()) else { continue };
                // a node that joined is up: into the dispatcher list
                if let Some(node) = nodes.get_mut(id)
                    && !node.listed
                    && !node.leaving
                {
                    node.listed = true;
                    if let Err(e) = dispatcher.update(&listed(&nodes)).await {
                        eprintln!("add {id}: {e}");
                    }
                }
                if nodes.get(id).is_some_and(|n| n.leaving) {
                    continue;
                }
                // a round ends when every node reported, or one reports
                // again (a dead node never does)
                if last.contains_key(id) {
                    print_total(&mut last);
                }
                last.insert(id.to_owned(), f.clone());
                started.insert(id.to_owned());
                // every first node is up: the demo's callers (once probed by Kamailio)
                if started.len() >= count
                    && let Some((d, calls)) = demo.take()
                {
                    let cfg = demo_config.clone().unwrap_or_else(PremiseConfig::defaults);
                    demo_run = Some(tokio::spawn(async move {
                        tokio::time::sleep(Duration::from_secs(2)).await;
                        d.run(proxy, calls, cfg).await
                    }));
                }
                if last.len() == nodes.values().filter(|n| !n.leaving).count() {
                    print_total(&mut last);
                }
            }
        }
    }
    // Kamailio first, with SIGTERM: its main process then stops its workers
    // (a SIGKILL would leave them running)
    if let Some(pid) = kamailio.id() {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(pid.to_string())
            .status()
            .await;
    }
    for n in nodes.values_mut() {
        let _ = n.child.start_kill();
    }
    let _ = kamailio.wait().await;
    for n in nodes.values_mut() {
        let _ = n.child.wait().await;
    }
    let _ = std::fs::remove_dir_all(&dir);
    // the nodes' data folders (recordings), temporary like the rest
    for k in 1..next {
        let _ = std::fs::remove_dir_all(
            std::env::temp_dir().join(format!("callcore-cloud-{}-n{k}", std::process::id())),
        );
    }
    Ok(())
}

/// Prints the sum of one round of node figures and starts the next.
fn print_total(last: &mut BTreeMap<String, serde_json::Value>) {
    let sum = |k: &str| {
        last.values()
            .filter_map(|f| f.get(k)?.as_u64())
            .sum::<u64>()
    };
    println!(
        "{}",
        serde_json::json!({"total": {"nodes": last.len(), "active": sum("active"),
            "peak_active": sum("peak_active"), "offered": sum("offered"),
            "answered": sum("answered"), "abandoned": sum("abandoned"),
            "closed_node_failure": sum("closed_node_failure")}})
    );
    last.clear();
}
