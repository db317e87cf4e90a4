//! Inbound numbers (DIDs) through the premise center, against real peers: a
//! SIPp caller stands for the carrier (IP-authenticated trunk on 127.0.0.1) and
//! calls the DID `+4930123456`, which the config maps straight to the billing
//! queue; agent 2001's phone is a SIPp UAS at a fixed contact. Asserted: the
//! interaction is tagged with the trunk it came from, it skipped the IVR menu,
//! and the record shows the billing queue and agent 2001.
//!
//! Skipped with a notice without sipp or root, unless `CALLCORE_REQUIRE_PEERS=1`.

#![allow(clippy::unwrap_used, clippy::expect_used)]
// Real peers run in wall-clock time.
#![allow(clippy::disallowed_methods)]

mod support;

use std::process::Stdio;
use std::time::Duration;

use callcore::{AgentId, EventKind};
use callcore_premise::{Premise, PremiseConfig};
use tokio::process::Command;

use support::{peers_ready, port_in, sipp_uas};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_did_reaches_its_queue_without_the_menu() {
    if !peers_ready() {
        return;
    }
    let dir = std::env::temp_dir().join(format!("callcore-trunk-dids-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let phone = port_in(34000, 34200, 21);
    let rtp = 34500 + (std::process::id() % 10) as u16 * 20 + 600;
    let toml = format!(
        "[sip]\nbind = \"127.0.0.1:0\"\n\
         [media]\nrtp_first = {rtp}\nrtp_last = {}\n\
         [storage]\ndata_dir = \"{}\"\n\
         [[agents]]\nid = \"2001\"\ncontact = \"sip:2001@127.0.0.1:{phone}\"\nskills = [\"billing\"]\n\
         [[trunks]]\nname = \"carrier\"\nhost = \"127.0.0.1:34499\"\noptions_interval_secs = 0\n\
         [[dids]]\nnumber = \"+4930123456\"\nqueue = \"billing\"\n",
        rtp + 9,
        dir.join("data").display()
    );
    let premise = Premise::start(
        PremiseConfig::from_toml(&callcore_premise::with_demo_agents(&toml)).unwrap(),
    )
    .await
    .unwrap();
    let mut events = premise.center().subscribe();
    let agent_phone = sipp_uas("carrier_answer.xml", phone, &dir, &[])
        .spawn()
        .unwrap();

    let caller = Command::new("sipp")
        .arg(premise.sip_addr().to_string())
        .args(["-sn", "uac", "-s", "+4930123456", "-d", "2000"])
        .args(["-i", "127.0.0.1", "-p"])
        .arg(port_in(34200, 34400, 22).to_string())
        .args(["-mi", "127.0.0.1", "-mp"])
        .arg(port_in(34700, 35000, 23).to_string())
        .args(["-cp"])
        .arg(port_in(34400, 34500, 24).to_string())
        .args(["-m", "1", "-nostdin", "-timeout", "30s", "-timeout_error"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .output();
    let caller = tokio::time::timeout(Duration::from_secs(40), caller)
        .await
        .expect("the caller finished")
        .unwrap();
    assert!(
        caller.status.success(),
        "caller: {}",
        String::from_utf8_lossy(&caller.stderr)
    );
    let phone = tokio::time::timeout(Duration::from_secs(20), agent_phone.wait_with_output())
        .await
        .expect("the agent's phone finished")
        .unwrap();
    assert!(
        phone.status.success(),
        "agent's phone: {}",
        String::from_utf8_lossy(&phone.stderr)
    );

    let mut trunk = None;
    let mut steps = Vec::new();
    while let Ok(Ok(e)) = tokio::time::timeout(Duration::from_millis(200), events.recv()).await {
        match &e.kind {
            EventKind::InteractionCreated { interaction } => {
                assert_eq!(interaction.to, "+4930123456");
                trunk = interaction
                    .attributes
                    .get(callcore_sip::center::TRUNK_ATTRIBUTE)
                    .cloned();
            }
            EventKind::FlowStep { step, .. } => steps.push(step.clone()),
            _ => {}
        }
    }
    assert_eq!(trunk.as_deref(), Some("carrier"), "IP-authenticated trunk");
    assert!(
        !steps.iter().any(|s| s == "menu" || s == "say"),
        "no menu on the DID: {steps:?}"
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
    assert_eq!(
        records[0].queue.as_ref().map(|q| q.as_str()),
        Some("billing")
    );
    assert_eq!(records[0].agent, Some(AgentId::new("2001")));
    assert_eq!(records[0].to, "+4930123456");
    premise.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}
