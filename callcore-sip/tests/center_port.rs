//! callcore's Transport/Leg ports over SIP, driven by SIPp: an inbound call becomes an
//! interaction whose leg answers and ends when the caller hangs up; `place` reaches a
//! number through a trunk (a SIPp UAS). Skipped without sipp unless
//! CALLCORE_REQUIRE_PEERS=1.

#![cfg(feature = "center")]
#![allow(clippy::unwrap_used, clippy::expect_used)]
// Real peers run in wall-clock time.
#![allow(clippy::disallowed_methods)]

use std::net::UdpSocket;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;
use tokio::process::Command;

use callcore::{Channel, Endpoint, HangupCause, PlaceRequest, TenantId, Transport};
use callcore_runtime::SystemClock;
use callcore_sip::center::{SipCenterConfig, SipTransport};
use callcore_sip::trunk::{Trunk, TrunkKind};
use callcore_sip::ua::UaConfig;

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
            "NOTICE: sipp not found; skipping center port test (apt-get install -y sip-tester)"
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

fn sipp(args: &[&str], port: u16) -> Command {
    let mut cmd = Command::new("sipp");
    cmd.args(args)
        .args([
            "-i",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-mi",
            "127.0.0.1",
            "-mp",
            &free_port().to_string(),
        ])
        .args([
            "-ci",
            "127.0.0.1",
            "-cp",
            &free_port().to_string(),
            "-nostdin",
            "-timeout",
            "30s",
            "-timeout_error",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    cmd
}

fn config(trunks: Vec<Trunk>) -> SipCenterConfig {
    SipCenterConfig {
        ua: UaConfig::new("127.0.0.1:0".parse().unwrap()),
        seed: 31.into(),
        tcp: false,
        tenant: TenantId::new("acme"),
        media_addr: "127.0.0.1:44000".parse().unwrap(),
        trunks,
        from_domain: "cc.example.com".into(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inbound_sipp_call_becomes_an_interaction_and_ends_on_bye() {
    if !sipp_available() {
        return;
    }
    let transport = SipTransport::start(config(Vec::new()), Arc::new(SystemClock), None)
        .await
        .unwrap();
    let target = transport.local_addr().to_string();
    let child = sipp(&["-sn", "uac", &target, "-m", "1"], free_port())
        .spawn()
        .unwrap();
    let inbound = tokio::time::timeout(Duration::from_secs(10), transport.accept())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(inbound.interaction.channel, Channel::Voice);
    assert_eq!(inbound.interaction.to, "service");
    inbound.leg.answer().await.unwrap();
    inbound.leg.answer().await.unwrap(); // idempotent
    let cause = tokio::time::timeout(Duration::from_secs(10), inbound.leg.ended())
        .await
        .unwrap();
    assert_eq!(cause, HangupCause::Remote);
    assert!(
        inbound.leg.hold().await.is_err(),
        "an ended leg refuses call control"
    );
    let out = child.wait_with_output().await.unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn place_reaches_a_number_through_a_trunk() {
    if !sipp_available() {
        return;
    }
    let port = free_port();
    let child = sipp(&["-sn", "uas", "-m", "1"], port).spawn().unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let trunk = Trunk::new(
        "sipp",
        TrunkKind::Virtual,
        format!("127.0.0.1:{port}").parse().unwrap(),
        &["+1"],
    );
    let transport = SipTransport::start(config(vec![trunk]), Arc::new(SystemClock), None)
        .await
        .unwrap();
    assert!(transport.can_reach(&Endpoint::Phone("+15551234".into())));
    assert!(!transport.can_reach(&Endpoint::Phone("+44".into())));
    let request = PlaceRequest {
        to: Endpoint::Phone("+15551234".into()),
        from: "+15550000".into(),
        channel: Channel::Voice,
        ring_timeout_secs: 10,
    };
    let leg = transport.place(request).await.unwrap();
    leg.hangup(HangupCause::Local).await.unwrap();
    let cause = tokio::time::timeout(Duration::from_secs(10), leg.ended())
        .await
        .unwrap();
    assert_eq!(cause, HangupCause::Local);
    let out = child.wait_with_output().await.unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // An unregistered agent is unreachable.
    let err = transport
        .place(PlaceRequest {
            to: Endpoint::Sip("sip:9999@127.0.0.1".into()),
            from: "x".into(),
            channel: Channel::Voice,
            ring_timeout_secs: 1,
        })
        .await;
    assert!(
        matches!(err, Err(callcore::CoreError::Unreachable(_))),
        "{err:?}"
    );
}
