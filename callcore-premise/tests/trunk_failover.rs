//! Trunk failover through the premise center, against two SIPp "carriers": the
//! first (`carrier_503.xml`) is out of service and answers every INVITE with 503,
//! the second (`carrier_answer.xml`) answers with 200 and plays speech (Debian's
//! `g711a.pcap`). The config's dial plan sends `+49*` to `[first, second]`; the
//! center dials a German number with [`Premise::place_call`]. Asserted: the call
//! is answered through the second carrier after the first's 503, the leg's
//! trunk attempts say so (`first:503 second:answered`), the second carrier saw
//! the trunk's caller id, and the carrier's speech reaches the center's leg.
//!
//! A second test takes the same failover through the whole center: a SIPp
//! caller dials a DID that leads straight to the billing queue, agent 2001's
//! phone (callcore-sip's `agent_refer.xml` SIPp scenario) answers and
//! blind-transfers the caller with REFER to `+4940555123`; the center places the
//! transfer through the dial plan (503 from the first carrier, answered by the
//! second) and bridges the caller out: the journal shows the trunks tried
//! (`trunk_attempts`: `first:503 second:answered`) and the transfer to the
//! number, the record the agent and `Transferred`.
//!
//! Skipped with a notice without sipp or root (SIPp plays pcaps over a raw
//! socket), failing instead when `CALLCORE_REQUIRE_PEERS=1`.

#![allow(clippy::unwrap_used, clippy::expect_used)]
// Real peers run in wall-clock time.
#![allow(clippy::disallowed_methods)]

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use callcore::{AgentId, EndReason, Endpoint, EventKind, HangupCause};
use callcore_premise::{Premise, PremiseConfig};
use callcore_sip::center::SipLeg;
use callcore_sip::dial_plan::TrunkAttempt;
use callcore_sip::trunk::CallOutcome;

use support::{peers_ready, port_in, sipp_uas};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_fails_over_from_a_503_carrier_to_the_next_trunk() {
    if !peers_ready() {
        return;
    }
    let dir = std::env::temp_dir().join(format!("callcore-trunk-failover-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let first = port_in(34000, 34250, 1);
    let second = port_in(34250, 34500, 2);
    let rtp = 34500 + (std::process::id() % 10) as u16 * 20;
    let toml = format!(
        "[sip]\nbind = \"127.0.0.1:0\"\n\
         [media]\nrtp_first = {rtp}\nrtp_last = {}\n\
         [storage]\ndata_dir = \"{}\"\n\
         [[trunks]]\nname = \"first\"\nhost = \"127.0.0.1:{first}\"\noptions_interval_secs = 0\n\
         [[trunks]]\nname = \"second\"\nhost = \"127.0.0.1:{second}\"\noptions_interval_secs = 0\n\
         caller_id = \"+4930123456\"\n\
         [[dial_plan]]\npattern = \"+1??????????\"\ntrunks = [\"second\"]\n\
         [[dial_plan]]\npattern = \"+49*\"\ntrunks = [\"first\", \"second\"]\n\
         [[dids]]\nnumber = \"+4930123456\"\nqueue = \"billing\"\n",
        rtp + 9,
        dir.join("data").display()
    );
    let premise = Premise::start(
        PremiseConfig::from_toml(&callcore_premise::with_demo_agents(&toml)).unwrap(),
    )
    .await
    .unwrap();

    let out_of_service = sipp_uas("carrier_503.xml", first, &dir, &[])
        .spawn()
        .unwrap();
    let log = dir.join("carrier_answer.log");
    let answering = sipp_uas(
        "carrier_answer.xml",
        second,
        &dir,
        &["-trace_logs", "-log_file", log.to_str().unwrap()],
    )
    .spawn()
    .unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;

    let leg = premise
        .place_call(
            Endpoint::Phone("+4940555123".into()),
            "1001",
            Duration::from_secs(20),
        )
        .await
        .expect("answered through the second trunk");
    let sip = leg.as_any().downcast_ref::<SipLeg>().expect("a SIP leg");
    assert_eq!(
        sip.trunk_attempts(),
        [
            TrunkAttempt {
                trunk: "first".into(),
                outcome: CallOutcome::Status(503)
            },
            TrunkAttempt {
                trunk: "second".into(),
                outcome: CallOutcome::Answered
            },
        ]
    );
    assert_eq!(
        callcore_sip::dial_plan::summary(sip.trunk_attempts(), &[]),
        "first:503 second:answered"
    );

    // the carrier's speech reaches the leg
    let energy = Arc::new(AtomicU64::new(0));
    let e = energy.clone();
    leg.tap(Box::new(move |_dir, samples: &[i16]| {
        let sum: u64 = samples.iter().map(|s| u64::from(s.unsigned_abs())).sum();
        e.fetch_add(sum, Ordering::Relaxed);
        true
    }))
    .unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let heard = energy.load(Ordering::Relaxed);
    assert!(heard > 1_000_000, "little sound from the carrier: {heard}");
    leg.hangup(HangupCause::Local).await.unwrap();

    for (child, who) in [
        (out_of_service, "503 carrier"),
        (answering, "answering carrier"),
    ] {
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
    let said = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(
        said.contains("caller-id +4930123456"),
        "the second trunk's caller id was presented: {said}"
    );
    premise.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_number_no_rule_matches_is_unreachable() {
    let dir = std::env::temp_dir().join(format!("callcore-trunk-norule-{}", std::process::id()));
    let rtp = 34680;
    let toml = format!(
        "[sip]\nbind = \"127.0.0.1:0\"\n\
         [media]\nrtp_first = {rtp}\nrtp_last = {}\n\
         [storage]\ndata_dir = \"{}\"\n\
         [[trunks]]\nname = \"only\"\nhost = \"127.0.0.1:34499\"\noptions_interval_secs = 0\n\
         [[dial_plan]]\npattern = \"+49*\"\ntrunks = [\"only\"]\n",
        rtp + 9,
        dir.display()
    );
    let premise = Premise::start(
        PremiseConfig::from_toml(&callcore_premise::with_demo_agents(&toml)).unwrap(),
    )
    .await
    .unwrap();
    let e = premise
        .place_call(
            Endpoint::Phone("+33123456789".into()),
            "1001",
            Duration::from_secs(2),
        )
        .await
        .err()
        .map(|e| e.to_string());
    assert!(
        e.as_deref()
            .is_some_and(|e| e.contains("no trunk routes this number")),
        "{e:?}"
    );
    premise.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agents_blind_transfer_to_a_number_fails_over_through_the_center() {
    if !peers_ready() {
        return;
    }
    let dir = std::env::temp_dir().join(format!("callcore-trunk-refer-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let first = port_in(34000, 34150, 31);
    let second = port_in(34150, 34300, 32);
    let agent = port_in(34300, 34400, 33);
    let rtp = 34500 + (std::process::id() % 10) as u16 * 20 + 800;
    let toml = format!(
        "[sip]\nbind = \"127.0.0.1:0\"\n\
         [media]\nrtp_first = {rtp}\nrtp_last = {}\n\
         [storage]\ndata_dir = \"{}\"\n\
         [[agents]]\nid = \"2001\"\ncontact = \"sip:2001@127.0.0.1:{agent}\"\nskills = [\"billing\"]\n\
         [[trunks]]\nname = \"first\"\nhost = \"127.0.0.1:{first}\"\noptions_interval_secs = 0\n\
         [[trunks]]\nname = \"second\"\nhost = \"127.0.0.1:{second}\"\noptions_interval_secs = 0\n\
         [[dial_plan]]\npattern = \"+49*\"\ntrunks = [\"first\", \"second\"]\n\
         [[dids]]\nnumber = \"+4930123456\"\nqueue = \"billing\"\n",
        rtp + 19,
        dir.join("data").display()
    );
    let premise = Premise::start(
        PremiseConfig::from_toml(&callcore_premise::with_demo_agents(&toml)).unwrap(),
    )
    .await
    .unwrap();
    let center = premise.sip_addr().to_string();
    let mut events = premise.center().subscribe();
    let out_of_service = sipp_uas("carrier_503.xml", first, &dir, &[])
        .spawn()
        .unwrap();
    let answering = sipp_uas("carrier_answer.xml", second, &dir, &[])
        .spawn()
        .unwrap();
    let phone = sipp_uas(
        "../callcore-sip/tests/sipp/agent_refer.xml",
        agent,
        &dir,
        &["-key", "target", "+4940555123", "-key", "center", &center],
    )
    .spawn()
    .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let caller = tokio::process::Command::new("sipp")
        .arg(&center)
        .args(["-sn", "uac", "-s", "+4930123456", "-d", "6000"])
        .args(["-i", "127.0.0.1", "-p"])
        .arg(port_in(34000, 34400, 34).to_string())
        .args(["-mi", "127.0.0.1", "-mp"])
        .arg(port_in(34700, 35000, 35).to_string())
        .args(["-cp"])
        .arg(port_in(34400, 34500, 36).to_string())
        .args(["-m", "1", "-nostdin", "-timeout", "40s", "-timeout_error"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .output();
    let caller = tokio::time::timeout(Duration::from_secs(50), caller)
        .await
        .expect("the caller finished")
        .unwrap();
    let mut failed = Vec::new();
    if !caller.status.success() {
        failed.push(format!(
            "caller: {}",
            String::from_utf8_lossy(&caller.stderr)
        ));
    }
    for (child, who) in [
        (phone, "agent's phone"),
        (out_of_service, "503 carrier"),
        (answering, "answering carrier"),
    ] {
        let out = tokio::time::timeout(Duration::from_secs(30), child.wait_with_output())
            .await
            .expect("sipp finished")
            .unwrap();
        if !out.status.success() {
            failed.push(format!("{who}: {}", String::from_utf8_lossy(&out.stderr)));
        }
    }
    let mut kinds = Vec::new();
    let mut target = None;
    let mut trunks = None;
    while let Ok(Ok(e)) = tokio::time::timeout(Duration::from_millis(300), events.recv()).await {
        if let EventKind::Transferred { target: t, .. } = &e.kind {
            target = Some(t.clone());
        }
        if let EventKind::FlowStep { step, detail, .. } = &e.kind
            && step == "trunk_attempts"
        {
            trunks = Some(detail.clone());
        }
        kinds.push(e.kind.name().to_owned());
    }
    assert!(failed.is_empty(), "{failed:?}\nevents: {kinds:?}");
    assert_eq!(target.as_deref(), Some("+4940555123"), "{kinds:?}");
    // the journal says which trunks the transfer went out through
    assert_eq!(
        trunks.as_deref(),
        Some("first:503 second:answered"),
        "{kinds:?}"
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
    assert_eq!(records[0].agent, Some(AgentId::new("2001")));
    assert_eq!(
        records[0].end_reason,
        Some(EndReason::Transferred),
        "{:?}",
        records[0]
    );
    premise.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}
