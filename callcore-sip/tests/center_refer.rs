//! An agent's phone transfers the caller with REFER, through a running
//! `Center` on the SIP transport, against SIPp: a SIPp caller reaches the
//! queue, the center rings the agent (a SIPp UAS behind a trunk), and the
//! agent's phone sends REFER — first to a name nobody knows (refused with 404,
//! the call goes on), then to a real target: a queue (the caller waits there
//! again) or a number (the center places it through a trunk to another SIPp
//! UAS and bridges the caller to it). SIPp checks the wire (404, 202, NOTIFY
//! sipfrag 100 then 200, then the center's BYE); the test checks the events.
//! Skipped without sipp unless CALLCORE_REQUIRE_PEERS=1.

#![cfg(feature = "center")]
#![allow(clippy::unwrap_used, clippy::expect_used)]
// Real peers run in wall-clock time.
#![allow(clippy::disallowed_methods)]

use std::net::UdpSocket;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use callcore::{
    AgentProfile, AgentState, CoreError, EndReason, Endpoint, Event, EventKind, QueueDefinition,
    TenantId,
};
use callcore_runtime::{Center, Flow, FlowContext, FlowOutcome, SystemClock};
use callcore_sip::center::{SipCenterConfig, SipTransport};
use callcore_sip::trunk::{Trunk, TrunkKind};
use callcore_sip::ua::UaConfig;
use tokio::process::Command;

fn sipp_available() -> bool {
    let found = std::process::Command::new("sipp")
        .arg("-v")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    if !found {
        assert!(
            std::env::var("CALLCORE_REQUIRE_PEERS").as_deref() != Ok("1"),
            "sipp is required (CALLCORE_REQUIRE_PEERS=1) but not installed"
        );
        eprintln!(
            "NOTICE: sipp not found; skipping the REFER test (apt-get install -y sip-tester)"
        );
    }
    found
}

/// A free UDP port in `lo..hi` (the test ranges: SIP 21000-21999, RTP
/// 22000-23999), starting at a place that depends on the process.
fn port_in(lo: u16, hi: u16, salt: u16) -> u16 {
    let span = hi - lo;
    let start = (std::process::id() as u16)
        .wrapping_mul(7)
        .wrapping_add(salt.wrapping_mul(131))
        % span;
    (0..span)
        .map(|i| lo + (start + i) % span)
        .find(|p| UdpSocket::bind(("127.0.0.1", *p)).is_ok())
        .expect("a free port")
}

fn scenario(name: &str) -> String {
    format!("{}/tests/sipp/{name}", env!("CARGO_MANIFEST_DIR"))
}

fn sipp(port: u16, media: u16, args: &[&str]) -> Command {
    let mut cmd = Command::new("sipp");
    cmd.args(args)
        .args(["-i", "127.0.0.1", "-p", &port.to_string()])
        .args(["-mi", "127.0.0.1", "-mp", &media.to_string()])
        .args(["-m", "1", "-nostdin", "-timeout", "40s", "-timeout_error"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    cmd
}

async fn passed(child: tokio::process::Child, who: &str) {
    let out = tokio::time::timeout(Duration::from_secs(45), child.wait_with_output())
        .await
        .expect("sipp finished")
        .unwrap();
    assert!(
        out.status.success(),
        "{who}: sipp failed ({:?}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

#[derive(Debug)]
struct Support;

#[async_trait]
impl Flow for Support {
    async fn run(&self, call: &mut FlowContext) -> Result<FlowOutcome, CoreError> {
        let outcome = call.enqueue("support").await?;
        Ok(FlowOutcome::Done(outcome.end_reason()))
    }
}

/// Runs one call whose agent transfers it to `target`; returns the events of
/// the interaction.
async fn transfer_to(target: &str, salt: u16) -> Vec<Arc<Event>> {
    let agent_port = port_in(21000, 21999, salt);
    let outside_port = port_in(21000, 21999, salt + 1);
    let caller_port = port_in(21000, 21999, salt + 2);
    let center_port = port_in(21000, 21999, salt + 3);
    let center_addr = format!("127.0.0.1:{center_port}");
    let agent = sipp(
        agent_port,
        port_in(22000, 23999, salt),
        &[
            "-sf",
            &scenario("agent_refer.xml"),
            "-key",
            "target",
            target,
            "-key",
            "center",
            &center_addr,
        ],
    )
    .spawn()
    .unwrap();
    // the number a transfer dials: a plain SIPp UAS that answers and waits
    let outside = sipp(
        outside_port,
        port_in(22000, 23999, salt + 1),
        &["-sn", "uas"],
    )
    .spawn()
    .unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let trunk = |name: &str, port: u16, prefix: &str| {
        let mut t = Trunk::new(
            name,
            TrunkKind::Virtual,
            format!("127.0.0.1:{port}").parse().unwrap(),
            &[prefix],
        );
        // no OPTIONS probes: the SIPp peers expect exactly their scenario
        t.keepalive = None;
        t
    };
    let trunks = vec![
        trunk("agents", agent_port, "1"),
        trunk("carrier", outside_port, "+49"),
    ];
    let transport = SipTransport::start(
        SipCenterConfig {
            ua: UaConfig::new(format!("127.0.0.1:{center_port}").parse().unwrap()),
            seed: u64::from(salt).into(),
            tcp: false,
            tenant: TenantId::default(),
            media_addr: format!("127.0.0.1:{}", port_in(22000, 23999, salt + 2))
                .parse()
                .unwrap(),
            trunks,
            from_domain: "127.0.0.1".into(),
        },
        Arc::new(SystemClock),
        None,
    )
    .await
    .unwrap();
    let center = Center::builder()
        .transport(Arc::new(transport))
        .flow("support", Arc::new(Support))
        .build()
        .unwrap()
        .start()
        .await
        .unwrap();
    center
        .add_queue(QueueDefinition::new("support"))
        .await
        .unwrap();
    center
        .add_queue(QueueDefinition::new("sales"))
        .await
        .unwrap();
    let mut a1 = AgentProfile::new("a1").with_endpoint(Endpoint::Phone("1001".into()));
    a1.queues = vec!["support".into()];
    center.add_agent(a1).await.unwrap();
    center
        .set_agent_state(&"a1".into(), AgentState::Available)
        .await
        .unwrap();
    let mut events = center.subscribe();
    // the caller stays 4 s after the answer, then hangs up
    let caller = sipp(
        caller_port,
        port_in(22000, 23999, salt + 3),
        &[
            "-sf",
            &scenario("uac_talk.xml"),
            "-s",
            "support",
            "-d",
            "4000",
            &format!("127.0.0.1:{center_port}"),
        ],
    )
    .spawn()
    .unwrap();
    passed(caller, "caller").await;
    passed(agent, "agent").await;
    let mut seen = Vec::new();
    let collect = async {
        loop {
            let e = events.recv().await.unwrap();
            seen.push(e.clone());
            if matches!(e.kind, EventKind::Usage { .. }) {
                break;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(10), collect)
        .await
        .expect("the call ended");
    if target.starts_with('+') {
        passed(outside, "outside").await;
    }
    center.shutdown().await;
    seen
}

fn kinds(seen: &[Arc<Event>]) -> Vec<&'static str> {
    seen.iter()
        .filter(|e| e.interaction().is_some())
        .map(|e| e.kind.name())
        .filter(|n| *n != "flow_step")
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refer_from_the_agents_phone_to_a_queue_requeues_the_caller() {
    if !sipp_available() {
        return;
    }
    let seen = transfer_to("sales", 10).await;
    let k = kinds(&seen);
    let at = k
        .iter()
        .position(|n| *n == "transferred")
        .expect("transferred");
    assert_eq!(k[at - 1], "connected", "{k:?}");
    assert_eq!(&k[at + 1..], ["queued", "abandoned", "ended"], "{k:?}");
    assert!(seen.iter().any(|e| matches!(&e.kind,
        EventKind::Transferred { target, .. } if target == "queue:sales")));
    assert!(seen.iter().any(|e| matches!(&e.kind,
        EventKind::Queued { queue, .. } if queue.as_str() == "sales")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refer_from_the_agents_phone_to_a_number_bridges_the_caller_out() {
    if !sipp_available() {
        return;
    }
    let seen = transfer_to("+4930999", 20).await;
    let k = kinds(&seen);
    let at = k
        .iter()
        .position(|n| *n == "transferred")
        .expect("transferred");
    assert_eq!(k[at - 1], "connected", "{k:?}");
    assert_eq!(&k[at + 1..], ["ended"], "{k:?}");
    assert!(seen.iter().any(|e| matches!(
        &e.kind,
        EventKind::Ended {
            reason: EndReason::Transferred,
            ..
        }
    )));
}
