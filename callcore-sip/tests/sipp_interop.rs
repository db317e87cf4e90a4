//! Interop with SIPp (package `sip-tester`): SIPp's built-in `uac` calls our UAS and
//! completes; our UAC calls SIPp's built-in `uas`. Skipped with a notice when `sipp` is
//! absent, failing instead when `CALLCORE_REQUIRE_PEERS=1`.

#![cfg(feature = "tokio")]
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

fn scenario(name: &str) -> String {
    format!("{}/tests/sipp/{name}", env!("CARGO_MANIFEST_DIR"))
}

async fn run_sipp_scenario(
    file: &str,
    target: std::net::SocketAddr,
    extra: &[&str],
) -> std::process::Output {
    let mut cmd = Command::new("sipp");
    cmd.args(["-sf", &scenario(file), &target.to_string(), "-m", "1"])
        .args(extra);
    sipp_common(&mut cmd, free_port());
    cmd.output().await.unwrap()
}

fn registrar_config(realm: &str) -> UaConfig {
    let mut cfg = UaConfig::new("127.0.0.1:0".parse().unwrap());
    cfg.registrar = true;
    let mut digest = callcore_sip::auth::DigestConfig::new(realm);
    // SIPp 3.6 answers MD5 challenges only.
    digest.algorithms = vec![callcore_sip::auth::DigestAlgorithm::Md5];
    let store: std::collections::HashMap<String, String> =
        [("1001".to_owned(), "s3cret".to_owned())].into();
    cfg.auth = Some((digest, std::sync::Arc::new(store)));
    cfg
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sipp_registers_with_digest_auth() {
    if !sipp_available() {
        return;
    }
    let (sip, mut events) = driver::start(registrar_config("callcore"), 23, false)
        .await
        .unwrap();
    let out = run_sipp_scenario("register_auth.xml", sip.local_addr(), &["-ap", "s3cret"]).await;
    assert!(
        out.status.success(),
        "sipp register failed: {:?} {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let ev = tokio::time::timeout(Duration::from_secs(5), events.recv())
        .await
        .unwrap()
        .unwrap();
    match ev {
        UaEvent::Registered {
            aor,
            contacts,
            user,
        } => {
            assert_eq!(aor, "sip:1001@127.0.0.1");
            assert_eq!(user.as_deref(), Some("1001"));
            assert_eq!(contacts.len(), 1);
        }
        other => panic!("expected Registered, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sipp_wrong_password_is_rechallenged() {
    if !sipp_available() {
        return;
    }
    let (sip, mut events) = driver::start(registrar_config("callcore"), 24, false)
        .await
        .unwrap();
    let out = run_sipp_scenario("register_wrong_password.xml", sip.local_addr(), &[]).await;
    assert!(
        out.status.success(),
        "sipp failed: {:?} {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(events.try_recv().is_err(), "no registration may happen");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sipp_cancels_before_answer() {
    if !sipp_available() {
        return;
    }
    let (sip, mut events) = driver::start(UaConfig::new("127.0.0.1:0".parse().unwrap()), 25, false)
        .await
        .unwrap();
    let handle = sip.clone();
    let watcher = tokio::spawn(async move {
        let mut seen = Vec::new();
        while let Ok(Some(ev)) = tokio::time::timeout(Duration::from_secs(15), events.recv()).await
        {
            if let UaEvent::IncomingCall { call, .. } = &ev {
                handle.ring(*call);
            }
            let done = matches!(ev, UaEvent::Ended { .. });
            seen.push(ev);
            if done {
                break;
            }
        }
        seen
    });
    let out = run_sipp_scenario("uac_cancel.xml", sip.local_addr(), &[]).await;
    assert!(
        out.status.success(),
        "sipp cancel failed: {:?} {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let seen = watcher.await.unwrap();
    assert!(
        seen.iter().any(|e| matches!(e, UaEvent::Cancelled { .. })),
        "{seen:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sipp_uac_over_tcp_calls_our_uas() {
    if !sipp_available() {
        return;
    }
    let (sip, mut events) = driver::start(UaConfig::new("127.0.0.1:0".parse().unwrap()), 26, true)
        .await
        .unwrap();
    let ours = sip.local_addr();
    let calls = 5;
    let handle = sip.clone();
    let answering = tokio::spawn(async move {
        let mut ended = 0;
        while let Ok(Some(ev)) = tokio::time::timeout(Duration::from_secs(20), events.recv()).await
        {
            match ev {
                UaEvent::IncomingCall { call, .. } => {
                    handle.ring(call);
                    let media = LocalMedia::g711("127.0.0.1:41000".parse().unwrap(), call.0);
                    handle.answer(call, media).await.unwrap();
                }
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
        ended
    });
    let mut cmd = Command::new("sipp");
    cmd.args([
        "-sn",
        "uac",
        &ours.to_string(),
        "-t",
        "t1",
        "-m",
        &calls.to_string(),
        "-r",
        "5",
    ]);
    sipp_common(&mut cmd, free_port());
    let out = cmd.output().await.unwrap();
    assert!(
        out.status.success(),
        "sipp uac over TCP failed: {:?} {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(answering.await.unwrap(), calls);
}
