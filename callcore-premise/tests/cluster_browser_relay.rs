//! A browser agent connected to one node answers a caller who arrived on
//! another node, through the offer relay (`callcore_premise::cluster_offers`,
//! docs/cloud.md "Offers through the agent's node"), against real peers:
//! PostgreSQL, Redis, a SIPp caller playing speech (Debian's `g711a.pcap`)
//! and headless Chromium (`playwright-core`, `tests/webrtc/phone_driver.js`)
//! whose fake microphone plays a 440 Hz tone.
//!
//! `a_browser_agent_on_another_node_answers_through_it`: node A takes the
//! shard's lease and the caller (IVR, digit 2: support); agent 3001 is a
//! browser agent (`contact = "webrtc"`) whose page is connected to node B
//! only, so the owner offers the caller through B (a ticket); A sends its
//! INVITE to B, B claims the ticket, rings the browser over WebRTC, answers
//! A and bridges. Asserted: audio both ways — the page measures the caller's
//! speech (caller → A → B → browser) and the browser's tone is on the
//! agent's side of A's stereo recording (browser → B → A) —, exactly one
//! record (A's: agent 3001, `support`, offered once, talked), B relayed one
//! offer and A none, no ticket left.
//!
//! Chromium connects ICE over loopback only inside a private network
//! namespace with just `lo` (`browser_support::in_private_network`), where
//! the machine's PostgreSQL and Redis are not reachable: the test bridges
//! them in — the outer process serves a UNIX socket per service forwarding
//! to its TCP address, and the re-run inside the namespace listens on the
//! same `127.0.0.1` address forwarding to that socket — so `DATABASE_URL`
//! and `REDIS_URL` work unchanged in there. Needs the browser tests' peers
//! (root, sipp, chromium, node, playwright-core) and `DATABASE_URL`,
//! `REDIS_URL`: skipped with a notice otherwise, failing when
//! `CALLCORE_REQUIRE_PEERS=1`. Own schema (dropped after) and Redis prefix.
//! Ports (inside the namespace): RTP 26800-26879 (A) and 26900-26979 (B),
//! B's HTTP 26990.

#![allow(clippy::unwrap_used, clippy::expect_used)]
// Real peers run in wall-clock time: the test waits for them.
#![allow(clippy::disallowed_methods)]

#[path = "browser_support/mod.rs"]
mod browser;
#[path = "cluster_support/mod.rs"]
mod cluster_support;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use browser::{channel_levels, in_private_network_env, playwright, sipp_caller, tone_wav};
use callcore::{AgentId, EventKind};
use callcore_premise::{Premise, PremiseConfig};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::{TcpListener, TcpStream, UnixListener, UnixStream};
use tokio::process::Command;
use tokio::task::JoinHandle;

const TEST: &str = "a_browser_agent_on_another_node_answers_through_it";
const AGENT: &str = "3001";
const PASSWORD: &str = "carol3001";
/// Where the bridges' UNIX sockets are, for the re-run in the namespace.
const BRIDGE_DIR: &str = "CALLCORE_TEST_BRIDGE_DIR";
const B_HTTP: u16 = 26_990;

/// `host:port` of a service URL (`scheme://[user@]host[:port]/…`).
fn service_addr(url: &str, default_port: u16) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?']).next().unwrap_or(rest);
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = host.replace("localhost", "127.0.0.1");
    if host.contains(':') {
        host
    } else {
        format!("{host}:{default_port}")
    }
}

/// Outside the namespace: connections to the UNIX socket `path` go to `tcp`.
fn unix_to_tcp(path: PathBuf, tcp: String) -> JoinHandle<()> {
    let _ = std::fs::remove_file(&path);
    let listener = UnixListener::bind(&path).expect("the bridge's socket");
    tokio::spawn(async move {
        while let Ok((mut inner, _)) = listener.accept().await {
            let tcp = tcp.clone();
            tokio::spawn(async move {
                if let Ok(mut outer) = TcpStream::connect(&tcp).await {
                    let _ = tokio::io::copy_bidirectional(&mut inner, &mut outer).await;
                }
            });
        }
    })
}

/// Inside the namespace: connections to `tcp` go to the UNIX socket `path`.
async fn tcp_to_unix(tcp: String, path: PathBuf) -> JoinHandle<()> {
    let listener = TcpListener::bind(&tcp)
        .await
        .unwrap_or_else(|e| panic!("{tcp} inside the namespace (a loopback URL?): {e}"));
    tokio::spawn(async move {
        while let Ok((mut inner, _)) = listener.accept().await {
            let path = path.clone();
            tokio::spawn(async move {
                if let Ok(mut outer) = UnixStream::connect(&path).await {
                    let _ = tokio::io::copy_bidirectional(&mut inner, &mut outer).await;
                }
            });
        }
    })
}

fn node_toml(node: &str, db: &str, redis: &str, schema: &str, rtp_first: u16) -> String {
    let dir = std::env::temp_dir().join(format!("callcore-{schema}-{node}"));
    let http = if node == "nb" {
        format!("[http]\nbind = \"127.0.0.1:{B_HTTP}\"\n")
    } else {
        "[http]\nenabled = false\n".to_owned()
    };
    let toml = format!(
        "[sip]\nbind = \"127.0.0.1:0\"\n{http}\
         [media]\nrtp_first = {rtp_first}\nrtp_last = {}\n\
         [storage]\ndata_dir = \"{}\"\ndatabase_url = \"{db}\"\ndatabase_schema = \"{schema}\"\n\
         [cluster]\nnode = \"{node}\"\nredis_url = \"{redis}\"\nprefix = \"{schema}\"\n\
         [[agents]]\nid = \"{AGENT}\"\nname = \"Browser\"\npassword = \"{PASSWORD}\"\n\
         contact = \"webrtc\"\nskills = [\"support\"]\n",
        rtp_first + 79,
        dir.display(),
    );
    toml
}

async fn start(node: &str, db: &str, redis: &str, schema: &str, rtp_first: u16) -> Premise {
    let toml = callcore_premise::with_demo_agents(&node_toml(node, db, redis, schema, rtp_first));
    Premise::start(PremiseConfig::from_toml(&toml).unwrap())
        .await
        .unwrap()
}

async fn until(what: &str, within: Duration, mut ok: impl AsyncFnMut() -> bool) -> Duration {
    let t0 = Instant::now();
    while t0.elapsed() < within {
        if ok().await {
            return t0.elapsed();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{what}: not within {within:?}");
}

async fn routing_epoch(p: &Premise) -> Option<u64> {
    p.cluster()
        .and_then(|c| c.owner_status())
        .and_then(|s| s.routing)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_browser_agent_on_another_node_answers_through_it() {
    let Some((db, redis)) = cluster_support::ready("the browser relay test") else {
        return;
    };
    if !browser::peers_ready("the browser relay test") {
        return;
    }
    let (db_addr, redis_addr) = (service_addr(&db, 5432), service_addr(&redis, 6379));
    let Some(bridges) = std::env::var_os(BRIDGE_DIR).map(PathBuf::from) else {
        // outside: serve the bridges while the test runs again inside
        let dir = std::env::temp_dir().join(format!("callcore-bridge-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let served = [
            unix_to_tcp(dir.join("pg.sock"), db_addr),
            unix_to_tcp(dir.join("redis.sock"), redis_addr),
        ];
        let dir_env = dir.display().to_string();
        in_private_network_env(TEST, &[(BRIDGE_DIR, dir_env)]).await;
        served.iter().for_each(JoinHandle::abort);
        let _ = std::fs::remove_dir_all(&dir);
        return;
    };
    let _pg = tcp_to_unix(db_addr, bridges.join("pg.sock")).await;
    let _redis = tcp_to_unix(redis_addr, bridges.join("redis.sock")).await;
    relayed_browser_call(&db, &redis).await;
}

async fn relayed_browser_call(db: &str, redis: &str) {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    let schema = format!("cluster_browser_{}_{nanos}", std::process::id());
    let dir = std::env::temp_dir().join(&schema);
    std::fs::create_dir_all(&dir).unwrap();

    // A first: it takes the shard's lease and will hold the caller
    let a = start("na", db, redis, &schema, 26_800).await;
    until("A routes the shard", Duration::from_secs(15), async || {
        routing_epoch(&a).await.is_some()
    })
    .await;
    let b = start("nb", db, redis, &schema, 26_900).await;
    let http = b.http_addr().expect("B's HTTP listener");

    // the browser phone on B, answering by itself with a tone as its microphone
    let wav = dir.join("tone.wav");
    tone_wav(&wav, 10, 440.0);
    let url = format!("http://{http}/phone.html#agent={AGENT}&password={PASSWORD}&auto=1");
    let mut browser = Command::new("node")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/webrtc/phone_driver.js"))
        .arg(&url)
        .arg(&wav)
        .arg(dir.join("profile"))
        .arg("0")
        .env("NODE_PATH", playwright())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("node runs the phone driver");
    let mut lines = BufReader::new(browser.stdout.take().unwrap()).lines();
    let mut next_event = async || -> serde_json::Value {
        let line = tokio::time::timeout(Duration::from_secs(120), lines.next_line())
            .await
            .expect("the browser reports in time")
            .unwrap()
            .expect("the browser reports");
        eprintln!("browser: {line}");
        serde_json::from_str(&line).unwrap()
    };
    assert_eq!(next_event().await["event"], "online", "the page logged in");
    // the owner (A) sees the browser on B, and only there
    let cluster_db = a.cluster().unwrap().db().clone();
    let shard = a.cluster().unwrap().shard().unwrap().to_owned();
    let seen =
        until(
            "the agent's browser is on B",
            Duration::from_secs(10),
            async || {
                cluster_db.seats(&shard).await.unwrap().iter().any(|s| {
                    s.id == AGENT && s.reachable_on.as_deref() == Some(&["nb".to_owned()][..])
                })
            },
        )
        .await;
    eprintln!(
        "the owner saw the browser on B {} ms after it logged in",
        seen.as_millis()
    );

    // the caller, on A: IVR, digit 2 (support), 8 s of speech, hangs up
    let caller_xml = browser::write_caller(&dir, 8, false);
    let mut events = a.center().subscribe();
    let caller = tokio::spawn(sipp_caller(a.sip_addr(), &caller_xml).output());

    assert_eq!(
        next_event().await["event"],
        "answered",
        "the browser answered"
    );
    let level = next_event().await;
    assert_eq!(level["event"], "level");
    let heard = level["max"].as_f64().unwrap();
    let ended = next_event().await;
    assert_eq!(ended["event"], "ended");
    assert_eq!(
        ended["by"], "remote",
        "the caller's hang-up reached the page"
    );
    let caller = tokio::time::timeout(Duration::from_secs(60), caller)
        .await
        .expect("the caller finished")
        .unwrap()
        .unwrap();
    assert!(
        caller.status.success(),
        "caller: {:?} {}",
        caller.status,
        String::from_utf8_lossy(&caller.stderr)
    );
    let browser = tokio::time::timeout(Duration::from_secs(30), browser.wait())
        .await
        .expect("the browser closed")
        .unwrap();
    assert!(browser.success(), "phone driver: {browser:?}");

    let mut records = Vec::new();
    until("the call's record", Duration::from_secs(20), async || {
        records = a.records().await.unwrap();
        records.iter().any(|r| r.ended_at.is_some())
    })
    .await;
    // A and B share the store: one record in all, A's
    assert_eq!(records.len(), 1, "{records:#?}");
    let record = &records[0];
    assert_eq!(record.agent, Some(AgentId::new(AGENT)), "{record:#?}");
    assert_eq!(record.queue.as_ref().map(|q| q.as_str()), Some("support"));
    assert_eq!(record.offers, 1, "offered once: {record:#?}");
    assert!(record.talk_ms >= 4000, "{record:#?}");
    let mut offered = 0;
    while let Ok(Some(e)) = events.try_recv() {
        if matches!(e.kind, EventKind::Offered { .. }) {
            offered += 1;
        }
    }
    assert_eq!(offered, 1, "A placed the one offer");
    assert_eq!(
        b.cluster().unwrap().offers_relayed(),
        1,
        "B rang the browser once"
    );
    assert_eq!(a.cluster().unwrap().offers_relayed(), 0);
    assert!(
        cluster_db.offer_tickets(&shard).await.unwrap().is_empty(),
        "the ticket was claimed"
    );
    // audio both ways, across both relays
    let recordings = a.recordings(&records).await.unwrap();
    assert_eq!(recordings.len(), 1, "A recorded the call: {recordings:?}");
    let (caller_level, agent_level) = channel_levels(&std::fs::read(&recordings[0].path).unwrap());
    println!(
        "browser on B, caller on A: record {:?}, talk {} ms; A's recording: caller {caller_level:.0}, \
         browser {agent_level:.0}; the page heard the caller at RMS {heard:.3}",
        record.end_reason, record.talk_ms
    );
    assert!(caller_level > 100.0, "caller side silent: {caller_level}");
    assert!(
        agent_level > 300.0,
        "the browser's tone did not reach A: {agent_level}"
    );
    assert!(heard > 0.01, "the page heard the caller at RMS {heard}");

    a.shutdown().await;
    b.shutdown().await;
    let pool = sqlx::PgPool::connect(db).await.unwrap();
    sqlx::query(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
        .execute(&pool)
        .await
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    for node in ["na", "nb"] {
        let _ =
            std::fs::remove_dir_all(std::env::temp_dir().join(format!("callcore-{schema}-{node}")));
    }
}
