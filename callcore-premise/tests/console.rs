//! The operator's commands on a running premise center (no peer needed): agent
//! states by reason code, after-call work refused when there is none, live
//! figures, the Prometheus text, an agent report from the journal, and the
//! `queue_log` lines the same session wrote, and the Prometheus file.

#![allow(clippy::unwrap_used, clippy::expect_used)]
#![allow(clippy::disallowed_methods)]

mod ops_support;

use std::time::Duration;

use callcore_premise::console::command;
use callcore_premise::{Premise, PremiseConfig};
use ops_support::{data_dir, rtp_port, sip_port};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_sets_states_and_reads_figures_and_reports() {
    let dir = data_dir("console");
    let rtp = rtp_port(31);
    let toml = format!(
        r#"[sip]
bind = "127.0.0.1:{}"
tcp = false
[media]
rtp_first = {rtp}
rtp_last = {}
[storage]
data_dir = "{}"
[analytics]
live_log_secs = 1
prometheus_file = "{}/metrics.prom"
[[agents]]
id = "2001"
contact = "sip:2001@127.0.0.1:5999"
skills = ["support"]
login = "offline"
"#,
        sip_port(31),
        rtp + 19,
        dir.display(),
        dir.display()
    );
    let premise = Premise::start(
        PremiseConfig::from_toml(&callcore_premise::with_demo_agents(&toml)).unwrap(),
    )
    .await
    .unwrap();
    let agents = command(&premise, "agents").await;
    assert!(agents.starts_with("2001     offline"), "{agents}");
    assert!(agents.contains(" reachable"), "{agents}");
    assert_eq!(
        command(&premise, "state 2001 not_ready:lunch").await,
        "2001: not_ready:lunch"
    );
    let refused = command(&premise, "state 2001 not_ready:nap").await;
    assert!(refused.starts_with("error: "), "{refused}");
    assert!(
        command(&premise, "wrapup-end 2001")
            .await
            .contains("after-call work of agent not found")
    );
    command(&premise, "state 2001 available").await;
    assert!(
        command(&premise, "agents")
            .await
            .starts_with("2001     available")
    );

    // the live figures follow the events (fed asynchronously)
    let mut live = String::new();
    for _ in 0..50 {
        live = command(&premise, "live").await;
        if live.contains("available=1") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(live.contains("agents available=1"), "{live}");
    let prom = command(&premise, "prometheus").await;
    assert!(prom.contains("# TYPE"), "{prom}");

    tokio::time::sleep(Duration::from_millis(300)).await;
    let report = command(&premise, "report agent hour 1").await;
    let header = report.lines().next().unwrap();
    assert!(
        header.starts_with("interval_start,interval_end,dimension"),
        "{report}"
    );
    assert!(report.lines().any(|l| l.contains(",2001,")), "{report}");
    assert!(
        command(&premise, "report nope hour")
            .await
            .starts_with("error")
    );
    assert!(
        command(&premise, "campaign none")
            .await
            .contains("no campaign")
    );

    let log = std::fs::read_to_string(premise.queue_log_path().unwrap()).unwrap();
    let verbs: Vec<String> = log
        .lines()
        .map(|l| l.split('|').skip(3).collect::<Vec<_>>().join("|"))
        .collect();
    assert_eq!(verbs[0], "NONE|QUEUESTART|");
    for expected in ["2001|AGENTLOGIN|", "2001|PAUSE|lunch", "2001|UNPAUSE|lunch"] {
        assert!(verbs.iter().any(|v| v == expected), "{expected}: {log}");
    }
    // the Prometheus file, rewritten every live_log_secs
    let prom_file = dir.join("metrics.prom");
    let mut text = String::new();
    for _ in 0..40 {
        text = std::fs::read_to_string(&prom_file).unwrap_or_default();
        if text.contains("agent=\"2001\"") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        text.contains("# TYPE callcore_contacts_waiting gauge"),
        "{text}"
    );
    premise.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}
