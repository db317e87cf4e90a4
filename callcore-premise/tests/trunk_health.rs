//! Failover without a 503 on the call itself, against SIPp carriers:
//!
//! - a trunk whose OPTIONS probes fail (a SIPp answering them 503) is marked down
//!   and passed over: the call goes straight to the next trunk of the dial plan,
//!   the first carrier never sees an INVITE;
//! - a TCP trunk whose connection is refused fails at once (as a 503) and the next
//!   trunk takes the call, well before any SIP timer;
//! - a silent UDP trunk (no 100 Trying) fails over after the trying timeout;
//! - a registering trunk registers with a SIPp carrier registrar that checks its
//!   digest credentials (`verifyauth`), and a call through it answers the
//!   carrier's 401 with them.
//!
//! Skipped with a notice without sipp or root, unless `CALLCORE_REQUIRE_PEERS=1`.

#![allow(clippy::unwrap_used, clippy::expect_used)]
// Real peers run in wall-clock time.
#![allow(clippy::disallowed_methods)]

mod support;

use std::time::{Duration, Instant};

use callcore::{Endpoint, HangupCause};
use callcore_premise::{Premise, PremiseConfig};
use callcore_sip::center::SipLeg;
use callcore_sip::dial_plan::summary;

use support::{peers_ready, port_in, sipp_uas};

fn config(dir: &std::path::Path, rtp: u16, first: &str, second: u16) -> PremiseConfig {
    let toml = format!(
        "[sip]\nbind = \"127.0.0.1:0\"\n\
         [media]\nrtp_first = {rtp}\nrtp_last = {}\n\
         [storage]\ndata_dir = \"{}\"\n\
         [[trunks]]\nname = \"first\"\n{first}\n\
         [[trunks]]\nname = \"second\"\nhost = \"127.0.0.1:{second}\"\noptions_interval_secs = 0\n\
         [[dial_plan]]\npattern = \"+49*\"\ntrunks = [\"first\", \"second\"]\n",
        rtp + 9,
        dir.join("data").display()
    );
    PremiseConfig::from_toml(&callcore_premise::with_demo_agents(&toml)).unwrap()
}

async fn dial(premise: &Premise) -> String {
    let leg = premise
        .place_call(
            Endpoint::Phone("+4940555123".into()),
            "1001",
            Duration::from_secs(15),
        )
        .await
        .expect("answered through the second trunk");
    let attempts = summary(
        leg.as_any()
            .downcast_ref::<SipLeg>()
            .expect("a SIP leg")
            .trunk_attempts(),
        &[],
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    leg.hangup(HangupCause::Local).await.unwrap();
    attempts
}

async fn passed(child: tokio::process::Child, who: &str) {
    let out = tokio::time::timeout(Duration::from_secs(30), child.wait_with_output())
        .await
        .expect("sipp finished")
        .unwrap();
    assert!(
        out.status.success(),
        "{who}: {:?} {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trunk_down_by_its_probes_is_passed_over() {
    if !peers_ready() {
        return;
    }
    let dir = std::env::temp_dir().join(format!("callcore-trunk-probe-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let first = port_in(34000, 34200, 41);
    let second = port_in(34200, 34400, 42);
    let rtp = 34500 + (std::process::id() % 10) as u16 * 20 + 1000;
    let probes = sipp_uas("options_503.xml", first, &dir, &["-m", "3"])
        .spawn()
        .unwrap();
    let answering = sipp_uas("carrier_answer.xml", second, &dir, &[])
        .spawn()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let premise = Premise::start(config(
        &dir,
        rtp,
        &format!("host = \"127.0.0.1:{first}\"\noptions_interval_secs = 1"),
        second,
    ))
    .await
    .unwrap();
    // three failed probes in a row mark it down
    let mut down = false;
    for _ in 0..50 {
        let health = premise.sip().sip().trunk_health().await;
        if health.iter().any(|(t, up)| t == "first" && !up) {
            down = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(down, "the first trunk's failed probes did not mark it down");
    passed(probes, "probed carrier (OPTIONS only, never an INVITE)").await;
    assert_eq!(dial(&premise).await, "second:answered");
    passed(answering, "answering carrier").await;
    premise.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_tcp_trunk_fails_over_at_once() {
    if !peers_ready() {
        return;
    }
    let dir = std::env::temp_dir().join(format!("callcore-trunk-tcp-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    // nothing listens on `refused` (a free port, checked by port_in)
    let refused = port_in(34000, 34200, 51);
    let second = port_in(34200, 34400, 52);
    let rtp = 34500 + (std::process::id() % 10) as u16 * 20 + 1200;
    let answering = sipp_uas("carrier_answer.xml", second, &dir, &[])
        .spawn()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let premise = Premise::start(config(
        &dir,
        rtp,
        &format!("host = \"127.0.0.1:{refused}\"\ntransport = \"tcp\"\noptions_interval_secs = 0"),
        second,
    ))
    .await
    .unwrap();
    let started = Instant::now();
    assert_eq!(dial(&premise).await, "first:503 second:answered");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "failed over at once, not at a SIP timer: {:?}",
        started.elapsed()
    );
    passed(answering, "answering carrier").await;
    premise.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_udp_trunk_fails_over_when_it_sends_no_trying() {
    if !peers_ready() {
        return;
    }
    let dir = std::env::temp_dir().join(format!("callcore-trunk-silent-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    // nothing answers on `silent` (a free port, checked by port_in)
    let silent = port_in(34000, 34200, 61);
    let second = port_in(34200, 34400, 62);
    let rtp = 34500 + (std::process::id() % 10) as u16 * 20 + 1400;
    let answering = sipp_uas("carrier_answer.xml", second, &dir, &[])
        .spawn()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let premise = Premise::start(config(
        &dir,
        rtp,
        &format!("host = \"127.0.0.1:{silent}\"\noptions_interval_secs = 0"),
        second,
    ))
    .await
    .unwrap();
    premise
        .sip()
        .set_trunk_trying_timeout(Duration::from_secs(2));
    let started = Instant::now();
    assert_eq!(dial(&premise).await, "first:timeout second:answered");
    let took = started.elapsed();
    assert!(
        took >= Duration::from_secs(2) && took < Duration::from_secs(6),
        "failed over after the 2 s trying timeout, not at Timer B: {took:?}"
    );
    passed(answering, "answering carrier").await;
    premise.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registering_trunk_registers_and_answers_its_carriers_challenges() {
    if !peers_ready() {
        return;
    }
    let dir = std::env::temp_dir().join(format!("callcore-trunk-reg-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let carrier = port_in(34000, 34200, 71);
    let rtp = 34500 + (std::process::id() % 10) as u16 * 20 + 1600;
    let registrar = sipp_uas(
        "carrier_registrar.xml",
        carrier,
        &dir,
        &[
            "-m",
            "2",
            "-key",
            "user",
            "centre42",
            "-key",
            "pass",
            "s3cret-trunk",
        ],
    )
    .spawn()
    .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let toml = format!(
        "[sip]\nbind = \"127.0.0.1:0\"\n\
         [media]\nrtp_first = {rtp}\nrtp_last = {}\n\
         [storage]\ndata_dir = \"{}\"\n\
         [[trunks]]\nname = \"carrier\"\nhost = \"127.0.0.1:{carrier}\"\n\
         username = \"centre42\"\npassword = \"s3cret-trunk\"\nrealm = \"carrier.example\"\n\
         options_interval_secs = 0\n\
         [[dial_plan]]\npattern = \"*\"\ntrunks = [\"carrier\"]\n",
        rtp + 9,
        dir.join("data").display()
    );
    let premise = Premise::start(
        PremiseConfig::from_toml(&callcore_premise::with_demo_agents(&toml)).unwrap(),
    )
    .await
    .unwrap();
    // the registration runs at start; then a call, challenged with 401
    tokio::time::sleep(Duration::from_millis(700)).await;
    let leg = premise
        .place_call(
            Endpoint::Phone("+4940555123".into()),
            "1001",
            Duration::from_secs(10),
        )
        .await
        .expect("answered once the challenge was answered");
    tokio::time::sleep(Duration::from_millis(300)).await;
    leg.hangup(HangupCause::Local).await.unwrap();
    passed(
        registrar,
        "carrier registrar (REGISTER and INVITE authenticated)",
    )
    .await;
    premise.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}
