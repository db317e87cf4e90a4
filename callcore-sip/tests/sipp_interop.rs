//! Interop with SIPp (package `sip-tester`): SIPp's built-in `uac` calls our UAS and
//! completes; our UAC calls SIPp's built-in `uas`. Skipped with a notice when `sipp` is
//! absent, failing instead when `CALLCORE_REQUIRE_PEERS=1`.

#![allow(clippy::unwrap_used, clippy::expect_used)]
// Real peers and sockets run in wall-clock time: the test waits for them.
#![allow(clippy::disallowed_methods)]

use std::net::UdpSocket;
use std::process::Stdio;
use std::time::Duration;
use tokio::process::Command;

use callcore_sip::session::LocalMedia;
use callcore_sip::transaction::Peer;
use callcore_sip::ua::{UaConfig, UaEvent, driver};

fn sipp_available() -> bool {
    let found = std::process::Command::new("sipp")
        .arg("-v")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    if !found {
        if std::env::var("CALLCORE_REQUIRE_PEERS").as_deref() == Ok("1") {
            panic!(
                "sipp is required (CALLCORE_REQUIRE_PEERS=1) but not installed: apt-get install -y sip-tester"
            );
        }
        eprintln!(
            "NOTICE: sipp not found; skipping SIPp interop test (apt-get install -y sip-tester)"
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

fn sipp_common(cmd: &mut Command, port: u16) {
    cmd.args(["-i", "127.0.0.1", "-p", &port.to_string()])
        .args(["-mi", "127.0.0.1", "-mp", &free_port().to_string()])
        .args(["-ci", "127.0.0.1", "-cp", &free_port().to_string()])
        .args(["-nostdin", "-timeout", "30s", "-timeout_error"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sipp_uac_calls_our_uas_and_completes() {
    if !sipp_available() {
        return;
    }
    let (sip, mut events) = driver::start(UaConfig::new("127.0.0.1:0".parse().unwrap()), 21, true)
        .await
        .unwrap();
    let ours = sip.local_addr();
    let calls = 10;
    let handle = sip.clone();
    let answering = tokio::spawn(async move {
        let (mut confirmed, mut ended) = (0, 0);
        while let Ok(Some(ev)) = tokio::time::timeout(Duration::from_secs(20), events.recv()).await
        {
            match ev {
                UaEvent::IncomingCall { call, offer, .. } => {
                    assert!(offer.is_some(), "SIPp offers SDP");
                    handle.ring(call);
                    let media = LocalMedia::g711("127.0.0.1:41000".parse().unwrap(), call.0);
                    let audio = handle.answer(call, media).await.unwrap().unwrap();
                    assert_eq!(audio.codec, callcore_sip::session::AudioCodec::Pcmu);
                }
                UaEvent::Confirmed { .. } => confirmed += 1,
                UaEvent::Ended {
                    by_remote: true, ..
                } => {
                    ended += 1;
                    if ended == calls {
                        break;
                    }
                }
                _ => {}
            }
        }
        (confirmed, ended)
    });
    let mut cmd = Command::new("sipp");
    cmd.args([
        "-sn",
        "uac",
        &ours.to_string(),
        "-m",
        &calls.to_string(),
        "-r",
        "10",
    ]);
    sipp_common(&mut cmd, free_port());
    let out = cmd.output().await.unwrap();
    assert!(
        out.status.success(),
        "sipp uac failed: {:?} {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let (confirmed, ended) = answering.await.unwrap();
    assert_eq!((confirmed, ended), (calls, calls));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_uac_calls_sipp_uas() {
    if !sipp_available() {
        return;
    }
    let sipp_port = free_port();
    let mut cmd = Command::new("sipp");
    cmd.args(["-sn", "uas", "-m", "1"]);
    sipp_common(&mut cmd, sipp_port);
    let child = cmd.spawn().unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;

    let (sip, mut events) = driver::start(UaConfig::new("127.0.0.1:0".parse().unwrap()), 22, false)
        .await
        .unwrap();
    let peer = Peer::udp(format!("127.0.0.1:{sipp_port}").parse().unwrap());
    let media = LocalMedia::g711("127.0.0.1:42000".parse().unwrap(), 9);
    let call = sip
        .place_call(
            &format!("sip:service@127.0.0.1:{sipp_port}"),
            peer,
            &format!("sip:callcore@{}", sip.local_addr()),
            media,
        )
        .await
        .unwrap();
    let mut seen = Vec::new();
    while let Ok(Some(ev)) = tokio::time::timeout(Duration::from_secs(10), events.recv()).await {
        match &ev {
            UaEvent::Answered { audio, .. } => {
                assert!(
                    audio.is_some_and(|a| a.remote_rtp.is_some()),
                    "SIPp answers with SDP"
                );
                tokio::time::sleep(Duration::from_millis(300)).await;
                sip.hangup(call);
            }
            UaEvent::Ended { .. } | UaEvent::Failed { .. } => {
                seen.push(ev);
                break;
            }
            _ => {}
        }
        seen.push(ev);
    }
    assert!(
        seen.iter()
            .any(|e| matches!(e, UaEvent::Ringing { status: 180, .. })),
        "{seen:?}"
    );
    assert!(
        seen.iter().any(|e| matches!(e, UaEvent::Answered { .. })),
        "{seen:?}"
    );
    assert!(
        matches!(
            seen.last(),
            Some(UaEvent::Ended {
                by_remote: false,
                ..
            })
        ),
        "{seen:?}"
    );
    let out = child.wait_with_output().await.unwrap();
    assert!(
        out.status.success(),
        "sipp uas failed: {:?} {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}
