//! A routing strategy and a flow of the user's own, plugged into the premise center
//! through `Premise::builder`, route a real call: a SIPp caller dials the center,
//! the user's flow (not the IVR menu) queues it, and the user's strategy (not
//! callcore-acd's default `longest_idle`) chooses which of two agents gets it.
//!
//! Two agents at fixed contacts, each a SIPp UAS (the load harness's
//! `scripts/premise-load/agents.xml`, echoing RTP): 2001 joins first, so
//! `longest_idle` would offer the call to 2001; the strategy "newest_desk" ranks
//! 2002 first. Asserted: the flow ran, the strategy's `pick` chose the offer, the
//! record says 2002 talked, and 2002's phone answered while 2001's never rang.
//!
//! Needs `sipp` (package `sip-tester`): skipped with a notice otherwise, failing
//! instead when `CALLCORE_REQUIRE_PEERS=1`.

#![allow(clippy::unwrap_used, clippy::expect_used)]
// Real peers and sockets run in wall-clock time: the test waits for them.
#![allow(clippy::disallowed_methods)]

use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use callcore::{AgentId, CoreError, SeededRng};
use callcore_acd::{AgentPool, AgentView, LaneView, PoolEntry, Rank, RoutingStrategy};
use callcore_premise::{Premise, PremiseConfig};
use callcore_runtime::{Flow, FlowContext, FlowOutcome};
use tokio::process::Command;

fn sipp_ready() -> bool {
    let found = std::process::Command::new("sipp")
        .arg("-v")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    if !found {
        if std::env::var("CALLCORE_REQUIRE_PEERS").as_deref() == Ok("1") {
            panic!("CALLCORE_REQUIRE_PEERS=1 but sipp is not installed");
        }
        eprintln!(
            "NOTICE: sipp not found; skipping the custom-strategy test (apt-get install -y sip-tester)"
        );
    }
    found
}

fn free_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

static NEXT_MEDIA: std::sync::atomic::AtomicU16 = std::sync::atomic::AtomicU16::new(0);

/// A block of four free UDP ports for one SIPp's media (`-mp`: audio RTP and
/// RTCP, video RTP and RTCP), below the kernel's ephemeral range so that no
/// socket bound to port 0 (the other SIPps' signalling, the center's) can take
/// one of them between this check and SIPp's bind (CI saw `errno = 98` when
/// `-mp` was an ephemeral port picked by binding port 0).
fn media_block() -> u16 {
    const LO: u16 = 24000;
    const SPAN: u16 = 4000;
    let salt = (std::process::id() as u16).wrapping_mul(37) % SPAN;
    for _ in 0..SPAN / 4 {
        let offset = (NEXT_MEDIA
            .fetch_add(4, std::sync::atomic::Ordering::Relaxed)
            .wrapping_add(salt)
            % SPAN)
            / 4
            * 4;
        let port = LO + offset;
        if (0..4).all(|i| UdpSocket::bind(("127.0.0.1", port + i)).is_ok()) {
            return port;
        }
    }
    panic!("no free block of four UDP ports in {LO}..{}", LO + SPAN);
}

fn harness(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../scripts/premise-load")
        .join(file)
}

/// Desk 2002 first, whoever has waited longest; counts its picks.
#[derive(Debug)]
struct NewestDesk {
    picks: Arc<AtomicUsize>,
}

impl RoutingStrategy for NewestDesk {
    fn name(&self) -> &str {
        "newest_desk"
    }

    fn rank(&self, agent: &AgentView<'_>, _: &LaneView<'_>, _: &mut SeededRng) -> Rank {
        Rank(i64::from(agent.id().as_str() != "2002"), 0)
    }

    fn pick(&mut self, pool: &AgentPool<'_>) -> Option<PoolEntry> {
        self.picks.fetch_add(1, Ordering::SeqCst);
        pool.first()
    }
}

/// Every caller straight into `support`, no menu; counts its calls.
#[derive(Debug)]
struct StraightToSupport {
    calls: Arc<AtomicUsize>,
}

#[async_trait]
impl Flow for StraightToSupport {
    async fn run(&self, call: &mut FlowContext) -> Result<FlowOutcome, CoreError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        call.record_step("straight_to_support", "the user's flow");
        let outcome = call.enqueue("support").await?;
        Ok(FlowOutcome::Done(outcome.end_reason()))
    }
}

fn agent_uas(port: u16) -> tokio::process::Child {
    Command::new("sipp")
        .arg("-sf")
        .arg(harness("agents.xml"))
        .args(["-i", "127.0.0.1", "-p", &port.to_string()])
        .args(["-t", "u1"])
        .args([
            "-mi",
            "127.0.0.1",
            "-mp",
            &media_block().to_string(),
            "-rtp_echo",
        ])
        .args(["-ci", "127.0.0.1", "-cp", &free_port().to_string()])
        .args(["-m", "1", "-nostdin", "-timeout", "60s", "-timeout_error"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("sipp UAS")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_users_strategy_and_flow_route_a_real_sip_call() {
    if !sipp_ready() {
        return;
    }
    let dir = std::env::temp_dir().join(format!(
        "callcore-premise-custom-strategy-{}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let (uas_2001, uas_2002) = (free_port(), free_port());
    let base = 34000 + (std::process::id() % 100) as u16 * 20;
    let toml = format!(
        "[sip]\nbind = \"127.0.0.1:0\"\ntcp = false\n\
         [media]\nrtp_first = {base}\nrtp_last = {}\n\
         [http]\nenabled = false\n\
         [storage]\ndata_dir = \"{}\"\n\
         [[agents]]\nid = \"2001\"\nname = \"First\"\n\
         contact = \"sip:2001@127.0.0.1:{uas_2001}\"\nskills = [\"support\"]\n\
         [[agents]]\nid = \"2002\"\nname = \"Second\"\n\
         contact = \"sip:2002@127.0.0.1:{uas_2002}\"\nskills = [\"support\"]\n",
        base + 19,
        dir.display()
    );
    let config = PremiseConfig::from_toml(&toml).unwrap();
    let picks = Arc::new(AtomicUsize::new(0));
    let calls = Arc::new(AtomicUsize::new(0));
    let strategy_picks = picks.clone();
    let premise = Premise::builder(config)
        .strategy("newest_desk", move || {
            Box::new(NewestDesk {
                picks: strategy_picks.clone(),
            })
        })
        .flow(
            "straight",
            Arc::new(StraightToSupport {
                calls: calls.clone(),
            }),
        )
        .route("*", "straight")
        .start()
        .await
        .unwrap();
    let center = premise.sip_addr();

    let first = agent_uas(uas_2001);
    let second = agent_uas(uas_2002);
    // a caller: INVITE, ACK, 6 s on the line (the agent answers in the meantime), BYE
    let scenario = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sipp/ops_caller.xml"),
    )
    .unwrap()
    .replace(
        "<pause milliseconds=\"3000\"/>",
        "<pause milliseconds=\"6000\"/>",
    );
    let caller_xml = dir.join("caller.xml");
    std::fs::write(&caller_xml, scenario).unwrap();
    let caller = Command::new("sipp")
        .arg(center.to_string())
        .arg("-sf")
        .arg(&caller_xml)
        .args(["-s", "support", "-m", "1"])
        .args(["-i", "127.0.0.1", "-p", &free_port().to_string()])
        .args(["-mi", "127.0.0.1", "-mp", &media_block().to_string()])
        .args(["-ci", "127.0.0.1", "-cp", &free_port().to_string()])
        .args(["-nostdin", "-timeout", "60s", "-timeout_error"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .output();
    let caller = tokio::time::timeout(Duration::from_secs(90), caller)
        .await
        .expect("the caller finished")
        .unwrap();
    assert!(
        caller.status.success(),
        "caller: {:?} {}",
        caller.status,
        String::from_utf8_lossy(&caller.stderr)
    );
    let second = tokio::time::timeout(Duration::from_secs(30), second.wait_with_output())
        .await
        .expect("2002's phone finished its call")
        .unwrap();
    assert!(
        second.status.success(),
        "2002's phone: {:?} {}",
        second.status,
        String::from_utf8_lossy(&second.stderr)
    );

    let mut records = Vec::new();
    for _ in 0..50 {
        records = premise.records().await.unwrap();
        if records.iter().any(|r| r.ended_at.is_some()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(records.len(), 1, "{records:?}");
    let record = &records[0];
    assert_eq!(
        record.agent,
        Some(AgentId::new("2002")),
        "the user's strategy chose 2002 (longest_idle would take 2001): {record:?}"
    );
    assert_eq!(record.queue.as_ref().map(|q| q.as_str()), Some("support"));
    assert!(record.talk_ms > 0, "{record:?}");
    assert_eq!(
        calls.load(Ordering::SeqCst),
        1,
        "the user's flow took the call"
    );
    assert!(
        picks.load(Ordering::SeqCst) >= 1,
        "the user's strategy made the offer"
    );
    // 2001's phone never rang: its SIPp is still waiting for an INVITE
    let mut first = first;
    assert!(
        first.try_wait().unwrap().is_none(),
        "2001's phone finished a call it should not have had"
    );
    let _ = first.kill().await;
    premise.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}
