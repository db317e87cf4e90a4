//! Agents are rung over the transport they registered with, at every phone they
//! registered: against real peers.
//!
//! - Debian's baresip registers agent 1001 over TCP (`;transport=tcp`, digest
//!   auth) and answers automatically; the center rings it over that TCP
//!   connection (the contact's route is the registering connection) and the
//!   call is answered.
//! - A SIPp registers agent 1002 with two contacts, two SIPp phones: one rings
//!   and never answers, the other answers; the center rings both at once, the
//!   answering phone wins and the other gets CANCEL (both SIPp scenarios pass).
//!
//! Skipped with a notice without the peers, unless `CALLCORE_REQUIRE_PEERS=1`.

#![allow(clippy::unwrap_used, clippy::expect_used)]
// Real peers run in wall-clock time.
#![allow(clippy::disallowed_methods)]

mod support;

use std::process::Stdio;
use std::time::Duration;

use callcore::{AgentState, Endpoint, EventKind, HangupCause};
use callcore_premise::{Premise, PremiseConfig};
use callcore_sip::transaction::TransportKind;
use tokio::process::Command;

use support::{peers_ready, port_in, sipp_uas};

fn premise_toml(dir: &std::path::Path, rtp: u16) -> String {
    format!(
        "[sip]\nbind = \"127.0.0.1:0\"\ntcp = true\n\
         [media]\nrtp_first = {rtp}\nrtp_last = {}\n\
         [storage]\ndata_dir = \"{}\"\n",
        rtp + 9,
        dir.join("data").display()
    )
}

async fn wait_available(premise: &Premise, agent: &str) -> bool {
    // agents log in at start; their phone's registration makes them reachable
    let mut events = premise.center().subscribe();
    let snapshot = premise.center().snapshot().await.unwrap();
    if snapshot
        .agents
        .iter()
        .any(|a| a.agent.as_str() == agent && a.state == AgentState::Available && a.reachable)
    {
        return true;
    }
    tokio::time::timeout(Duration::from_secs(15), async {
        while let Ok(e) = events.recv().await {
            if let EventKind::AgentReachabilityChanged {
                agent: a,
                reachable: true,
                ..
            } = &e.kind
                && a.as_str() == agent
            {
                return true;
            }
        }
        false
    })
    .await
    .unwrap_or(false)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_phone_registered_over_tcp_is_rung_over_its_connection() {
    let found = std::process::Command::new("baresip")
        .arg("-h")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    if !found {
        assert!(
            std::env::var("CALLCORE_REQUIRE_PEERS").as_deref() != Ok("1"),
            "baresip is required (CALLCORE_REQUIRE_PEERS=1)"
        );
        eprintln!("NOTICE: baresip not found; skipping (apt-get install -y baresip)");
        return;
    }
    let dir = std::env::temp_dir().join(format!("callcore-agent-tcp-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("baresip")).unwrap();
    let rtp = 34500 + (std::process::id() % 10) as u16 * 20 + 200;
    let premise = Premise::start(
        PremiseConfig::from_toml(&callcore_premise::with_demo_agents(&premise_toml(
            &dir, rtp,
        )))
        .unwrap(),
    )
    .await
    .unwrap();
    let sip = premise.sip_addr();

    let bdir = dir.join("baresip");
    let config = format!(
        "poll_method epoll\nsip_listen 127.0.0.1:{}\nnet_interface 127.0.0.1\n\
         audio_source aubridge,nil\naudio_player aubridge,nil\naudio_alert aubridge,nil\n\
         rtp_ports {}-{}\nmodule_path /usr/lib/baresip/modules\n\
         module g711.so\nmodule ausine.so\nmodule aubridge.so\n\
         module_tmp uuid.so\nmodule_tmp account.so\n",
        port_in(34000, 34400, 7),
        rtp + 10,
        rtp + 19,
    );
    std::fs::write(bdir.join("config"), config).unwrap();
    let account = format!(
        "<sip:1001@127.0.0.1;transport=tcp>;auth_pass=alice1001;\
         outbound=\"sip:{sip};transport=tcp\";regint=60;answermode=auto\n"
    );
    std::fs::write(bdir.join("accounts"), account).unwrap();
    let log = std::fs::File::create(bdir.join("baresip.log")).unwrap();
    let mut baresip = Command::new("baresip")
        .args(["-f", bdir.to_str().unwrap(), "-t", "40"])
        .current_dir(&bdir)
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .kill_on_drop(true)
        .spawn()
        .unwrap();

    let available = wait_available(&premise, "1001").await;
    let said = || std::fs::read_to_string(bdir.join("baresip.log")).unwrap_or_default();
    assert!(available, "1001 did not register: {}", said());
    let aor = format!("sip:1001@{}", sip.ip());
    let routes = premise.sip().sip().contact_routes(&aor).await;
    assert_eq!(routes.len(), 1, "{routes:?}");
    assert_eq!(
        routes[0].peer.transport,
        TransportKind::Tcp,
        "rung over the TCP connection it registered on: {routes:?}"
    );

    let leg = premise
        .place_call(Endpoint::Sip(aor), "center", Duration::from_secs(10))
        .await;
    let answered = leg.is_ok();
    if let Ok(leg) = &leg {
        tokio::time::sleep(Duration::from_millis(500)).await;
        leg.hangup(HangupCause::Local).await.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let _ = baresip.kill().await;
    let log = said();
    assert!(answered, "baresip did not answer: {:?}\n{log}", leg.err());
    assert!(
        log.contains("Call established"),
        "baresip saw the call: {log}"
    );
    // libre reports the center's BYE as the session closed by the peer
    assert!(
        log.contains("session closed"),
        "the center's BYE reached baresip: {log}"
    );
    premise.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_with_two_phones_is_rung_at_both_and_the_other_is_cancelled() {
    if !peers_ready() {
        return;
    }
    let dir = std::env::temp_dir().join(format!("callcore-agent-fork-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let rtp = 34500 + (std::process::id() % 10) as u16 * 20 + 400;
    let premise = Premise::start(
        PremiseConfig::from_toml(&callcore_premise::with_demo_agents(&premise_toml(
            &dir, rtp,
        )))
        .unwrap(),
    )
    .await
    .unwrap();
    let sip = premise.sip_addr();

    let ringing_port = port_in(34000, 34200, 11);
    let answering_port = port_in(34200, 34400, 12);
    let ringing = sipp_uas("phone_rings_cancelled.xml", ringing_port, &dir, &[])
        .spawn()
        .unwrap();
    let answering = sipp_uas("carrier_answer.xml", answering_port, &dir, &[])
        .spawn()
        .unwrap();
    let register = sipp_uas(
        "agent_register_two.xml",
        port_in(34000, 34400, 13),
        &dir,
        &[
            &sip.to_string(),
            "-ap",
            "bob1002",
            "-key",
            "phone_a",
            &ringing_port.to_string(),
            "-key",
            "phone_b",
            &answering_port.to_string(),
        ],
    )
    .output();
    let register = tokio::time::timeout(Duration::from_secs(20), register)
        .await
        .expect("REGISTER done")
        .unwrap();
    assert!(
        register.status.success(),
        "REGISTER: {}",
        String::from_utf8_lossy(&register.stderr)
    );
    let aor = format!("sip:1002@{}", sip.ip());
    let routes = premise.sip().sip().contact_routes(&aor).await;
    assert_eq!(routes.len(), 2, "{routes:?}");

    let leg = premise
        .place_call(Endpoint::Sip(aor), "center", Duration::from_secs(10))
        .await
        .expect("the answering phone wins");
    tokio::time::sleep(Duration::from_secs(1)).await;
    leg.hangup(HangupCause::Local).await.unwrap();
    for (child, who) in [(ringing, "ringing phone"), (answering, "answering phone")] {
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
    premise.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}
