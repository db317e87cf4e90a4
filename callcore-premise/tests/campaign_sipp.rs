//! A campaign of the premise config over real SIP: SIPp is the carrier (its
//! callees answer and talk: espeak-ng speech streamed as PCMU), another SIPp is
//! agent 2001's phone at a fixed contact (echoing RTP). The campaign dials two
//! leads in power mode (two lines for the one agent) at
//! `sip:<number>@<carrier>`: both people answer, one is bridged to the agent
//! through the ACD within 2 s of answering, the other hears the safe-harbor
//! message and is counted abandoned. Asserted: the pacer's figures, the stored
//! attempts, the journal's timing, the live campaign figures, the `queue_log`
//! lines of both calls and an interval report.
//!
//! Needs `sipp` (package `sip-tester`) and `espeak-ng`: skipped with a notice
//! otherwise, failing instead when `CALLCORE_REQUIRE_PEERS=1`.

#![allow(clippy::unwrap_used, clippy::expect_used)]
// Real peers run in wall-clock time.
#![allow(clippy::disallowed_methods)]

mod ops_support;

use std::collections::HashMap;
use std::process::Command as StdCommand;
use std::time::Duration;

use callcore::{Disposition, EventKind, TenantId, Timestamp};
use callcore_analytics::Dimension;
use callcore_analytics::report::{IntervalLength, ReportKind};
use callcore_media::g711::Law;
use callcore_media::resample::{resample, to_i16};
use callcore_media::wav::read_wav;
use callcore_premise::{Premise, PremiseConfig};
use ops_support::{data_dir, passed, peer_available, rtp_port, scenario, sip_port, sipp};

/// espeak-ng's words as 8 kHz u-law, with a little line noise after.
fn spoken_ulaw(dir: &std::path::Path, text: &str) -> Vec<u8> {
    let wav = dir.join("speech.wav");
    let status = StdCommand::new("espeak-ng")
        .args(["-v", "en-us", "-s", "160", "-w"])
        .arg(&wav)
        .arg(text)
        .status()
        .unwrap();
    assert!(status.success());
    let audio = read_wav(&std::fs::read(&wav).unwrap()).unwrap();
    let float: Vec<f32> = audio
        .samples
        .iter()
        .map(|&s| f32::from(s) / 32768.0)
        .collect();
    let mut pcm = to_i16(&resample(&float, audio.sample_rate, 8000));
    pcm.extend((0..8000).map(|i| ((i * 7919) % 31) as i16 - 15));
    let mut out = Vec::new();
    Law::Ulaw.encode_into(&pcm, &mut out);
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_campaign_bridges_the_answered_to_an_agent_and_counts_the_abandoned() {
    if !peer_available("sipp", "-v", "sip-tester", "the premise campaign test")
        || !peer_available(
            "espeak-ng",
            "--version",
            "espeak-ng",
            "the premise campaign test",
        )
    {
        return;
    }
    let dir = data_dir("campaign");
    std::fs::write(
        dir.join("customer.ul"),
        spoken_ulaw(&dir, "Hello? Yes, this is Jordan speaking. How can I help?"),
    )
    .unwrap();
    std::fs::write(
        dir.join("leads.csv"),
        "id,phone\njordan,+1 415 555 0200\nkim,+1 415 555 0201\n",
    )
    .unwrap();

    let carrier_port = sip_port(11);
    let carrier = sipp(
        carrier_port,
        rtp_port(12),
        &["-sf", &scenario("carrier_speech.xml"), "-m", "2"],
    )
    .current_dir(&dir)
    .spawn()
    .unwrap();
    let phone_port = sip_port(13);
    let phone = sipp(
        phone_port,
        rtp_port(14),
        &["-sn", "uas", "-rtp_echo", "-m", "1"],
    )
    .current_dir(&dir)
    .spawn()
    .unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;

    let rtp = rtp_port(15);
    let toml = format!(
        r#"[sip]
bind = "127.0.0.1:{}"
tcp = false
[media]
rtp_first = {rtp}
rtp_last = {}
[storage]
data_dir = "{dir}"
record_calls = false
[ivr]
greeting = "Hello."
menu = [{{ key = "2", label = "sales", queue = "sales" }}]
default_queue = "sales"
[analytics]
live_log_secs = 0
[[queues]]
id = "sales"
skill = "sales"
wrap_up_secs = 60
[[agents]]
id = "2001"
name = "Dana"
contact = "sip:2001@127.0.0.1:{phone_port}"
skills = ["sales"]
[[campaigns]]
name = "renewals"
queue = "sales"
mode = "power"
power_ratio = 2.0
leads = "{dir}/leads.csv"
caller_id = "+14155550000"
carrier = "127.0.0.1:{carrier_port}"
max_attempts = 1
any_hour = true
run_minutes = 2
"#,
        sip_port(16),
        rtp + 39,
        dir = dir.display()
    );
    let config = PremiseConfig::from_toml(&callcore_premise::with_demo_agents(&toml)).unwrap();
    let premise = Premise::start(config).await.unwrap();
    let started = premise.center().clock().now();

    let summary = premise
        .wait_campaign("renewals", Duration::from_secs(60))
        .await
        .expect("the campaign ends")
        .unwrap();
    eprintln!("{summary:?}");
    let c = summary.counters;
    assert_eq!((c.dialed, c.answered_by_person), (2, 2), "{c:?}");
    assert_eq!((c.connected, c.abandoned), (1, 1), "{c:?}");

    let tenant = TenantId::default();
    let attempts = premise_attempts(&premise, &tenant).await;
    assert_eq!(attempts.len(), 2, "{attempts:?}");
    assert!(
        attempts
            .values()
            .all(|d| *d == Disposition::AnsweredPerson || *d == Disposition::Abandoned),
        "{attempts:?}"
    );

    // the answered person reached the agent within 2 s of being handed over
    premise.center().flush().await;
    let far = Timestamp::from_secs(i64::from(u32::MAX));
    let events = premise_journal(&premise, &tenant, started, far).await;
    let mut created = HashMap::new();
    let mut bridged = Vec::new();
    for e in &events {
        match &e.kind {
            EventKind::InteractionCreated { interaction } => {
                created.insert(interaction.id.clone(), e.at);
            }
            EventKind::Connected {
                interaction, agent, ..
            } => {
                assert_eq!(agent.as_str(), "2001");
                let waited = e.at.duration_since(created[interaction]);
                bridged.push(waited);
            }
            _ => {}
        }
    }
    eprintln!("answered to bridged: {bridged:?}");
    assert_eq!(bridged.len(), 1, "{events:#?}");
    assert!(bridged[0] < Duration::from_secs(2), "{bridged:?}");

    // live figures of the campaign: two attempts, one person talked to an
    // agent, one abandoned (an abandoned attempt is its own disposition)
    let live = premise.live();
    let row = live
        .row(&Dimension::campaign("default", "renewals"))
        .expect("a campaign row");
    let today = &row.today.counters;
    assert_eq!(
        (
            today.dial_attempts,
            today.dial_answered_person,
            today.dial_abandoned
        ),
        (2, 1, 1),
        "{today:?}"
    );

    // the queue's figures: two calls offered, one answered
    let sales = &live
        .row(&Dimension::queue("default", "sales"))
        .expect("a queue row")
        .today
        .counters;
    assert_eq!((sales.offered, sales.answered), (2, 1), "{sales:?}");

    // the agent is in after-call work (60 s) and ends it early
    let snapshot = premise.center().snapshot().await.unwrap();
    assert_eq!(snapshot.agents[0].state, callcore::AgentState::WrapUp);
    premise.center().end_wrap_up(&"2001".into()).await.unwrap();
    let snapshot = premise.center().snapshot().await.unwrap();
    assert_eq!(snapshot.agents[0].state, callcore::AgentState::Available);
    tokio::time::sleep(Duration::from_millis(300)).await;

    // the queue_log: both calls entered the queue; one was connected and
    // completed, the other left unanswered
    let log = std::fs::read_to_string(premise.queue_log_path().unwrap()).unwrap();
    eprintln!("{log}");
    let verbs: Vec<&str> = log.lines().filter_map(|l| l.split('|').nth(4)).collect();
    assert_eq!(verbs[0], "QUEUESTART");
    let count = |v: &str| verbs.iter().filter(|x| **x == v).count();
    assert_eq!(count("ENTERQUEUE"), 2, "{log}");
    assert_eq!(count("CONNECT"), 1, "{log}");
    assert_eq!(count("COMPLETECALLER") + count("COMPLETEAGENT"), 1, "{log}");
    assert_eq!(count("EXITWITHTIMEOUT") + count("ABANDON"), 1, "{log}");
    assert_eq!((count("WRAPUPSTART"), count("WRAPUPEND")), (1, 1), "{log}");

    // and the day's report per hour, from the journal
    let report = premise
        .report(
            ReportKind::Campaigns,
            started,
            premise.center().clock().now() + Duration::from_secs(1),
            IntervalLength::Hour,
        )
        .await
        .unwrap();
    let csv = report.to_csv();
    eprintln!("{csv}");
    assert!(
        csv.lines().count() >= 2 && csv.contains("renewals"),
        "{csv}"
    );
    let json = report.to_json().unwrap();
    assert!(json.contains("\"renewals\""), "{json}");

    for (child, who) in [(carrier, "carrier"), (phone, "agent phone")] {
        passed(child, who).await;
    }
    premise.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

async fn premise_attempts(premise: &Premise, tenant: &TenantId) -> HashMap<String, Disposition> {
    premise
        .center()
        .stores()
        .campaigns
        .attempts(tenant, &"renewals".into())
        .await
        .unwrap()
        .into_iter()
        .map(|a| (a.lead.as_str().to_owned(), a.disposition))
        .collect()
}

async fn premise_journal(
    premise: &Premise,
    tenant: &TenantId,
    from: Timestamp,
    to: Timestamp,
) -> Vec<callcore::Event> {
    premise
        .center()
        .stores()
        .events
        .between(tenant, from, to)
        .await
        .unwrap()
}

/// The same campaign through the center's trunks: `trunk = "carrier"` and a
/// dial plan instead of the campaign's own `carrier` address — the numbers
/// go to the SIP transport as phone numbers, its dial plan picks the trunk,
/// SIPp answers as that trunk's carrier.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_campaign_through_a_trunk_of_the_dial_plan_reaches_the_agent() {
    if !peer_available(
        "sipp",
        "-v",
        "sip-tester",
        "the premise trunk campaign test",
    ) || !peer_available(
        "espeak-ng",
        "--version",
        "espeak-ng",
        "the premise trunk campaign test",
    ) {
        return;
    }
    let dir = data_dir("campaign-trunk");
    std::fs::write(
        dir.join("customer.ul"),
        spoken_ulaw(&dir, "Hello? Yes, this is Jordan speaking. How can I help?"),
    )
    .unwrap();
    std::fs::write(
        dir.join("leads.csv"),
        "id,phone\njordan,+1 415 555 0200\nkim,+1 415 555 0201\n",
    )
    .unwrap();
    let carrier_port = sip_port(21);
    let carrier = sipp(
        carrier_port,
        rtp_port(22),
        &["-sf", &scenario("carrier_speech.xml"), "-m", "2"],
    )
    .current_dir(&dir)
    .spawn()
    .unwrap();
    let phone_port = sip_port(23);
    let phone = sipp(
        phone_port,
        rtp_port(24),
        &["-sn", "uas", "-rtp_echo", "-m", "1"],
    )
    .current_dir(&dir)
    .spawn()
    .unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;

    let rtp = rtp_port(25);
    let toml = format!(
        r#"[sip]
bind = "127.0.0.1:{}"
tcp = false
[media]
rtp_first = {rtp}
rtp_last = {}
[storage]
data_dir = "{dir}"
record_calls = false
[ivr]
greeting = "Hello."
menu = [{{ key = "2", label = "sales", queue = "sales" }}]
default_queue = "sales"
[http]
enabled = false
[analytics]
live_log_secs = 0
[[queues]]
id = "sales"
skill = "sales"
wrap_up_secs = 60
[[agents]]
id = "2001"
name = "Dana"
contact = "sip:2001@127.0.0.1:{phone_port}"
skills = ["sales"]
[[trunks]]
name = "carrier"
host = "127.0.0.1:{carrier_port}"
options_interval_secs = 0
[[dial_plan]]
pattern = "+1*"
trunks = ["carrier"]
[[campaigns]]
name = "renewals"
queue = "sales"
mode = "power"
power_ratio = 2.0
leads = "{dir}/leads.csv"
caller_id = "+14155550000"
trunk = "carrier"
max_attempts = 1
any_hour = true
run_minutes = 2
"#,
        sip_port(26),
        rtp + 39,
        dir = dir.display()
    );
    let config = PremiseConfig::from_toml(&callcore_premise::with_demo_agents(&toml)).unwrap();
    let premise = Premise::start(config).await.unwrap();
    let started = premise.center().clock().now();

    let summary = premise
        .wait_campaign("renewals", Duration::from_secs(60))
        .await
        .expect("the campaign ends")
        .unwrap();
    eprintln!("{summary:?}");
    let c = summary.counters;
    assert_eq!((c.dialed, c.answered_by_person), (2, 2), "{c:?}");
    assert_eq!((c.connected, c.abandoned), (1, 1), "{c:?}");

    // the answered person reached the agent through the ACD
    let tenant = TenantId::default();
    premise.center().flush().await;
    let far = Timestamp::from_secs(i64::from(u32::MAX));
    let events = premise_journal(&premise, &tenant, started, far).await;
    let connected: Vec<_> = events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::Connected { agent, .. } => Some(agent.to_string()),
            _ => None,
        })
        .collect();
    assert_eq!(connected, ["2001"], "{events:#?}");

    for (child, who) in [(carrier, "carrier"), (phone, "agent phone")] {
        passed(child, who).await;
    }
    premise.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}
