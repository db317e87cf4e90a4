//! Agents' states in the premise, independent of their phones' registration,
//! against a real phone: SIPp registers agent 1001 (digest auth) and later takes
//! the registration back. Asserted: the agent logs in with the state of the
//! config (`login = "not_ready:training"`), the registration makes them
//! reachable without changing that state, states are set by name with the
//! configured reason codes (an unknown one is refused), the lapse makes them
//! unreachable while still available, and the `queue_log` and the live figures
//! show the agent's login, pause with its reason and unpause.
//!
//! Needs `sipp` (package `sip-tester`): skipped with a notice otherwise,
//! failing instead when `CALLCORE_REQUIRE_PEERS=1`.

#![allow(clippy::unwrap_used, clippy::expect_used)]
// Real peers run in wall-clock time.
#![allow(clippy::disallowed_methods)]

mod ops_support;

use std::time::Duration;

use callcore::{AgentId, AgentSnapshot, AgentState, EventKind};
use callcore_premise::{Premise, PremiseConfig};
use ops_support::{data_dir, passed, peer_available, rtp_port, scenario, sip_port, sipp};

async fn agent(premise: &Premise, id: &str) -> AgentSnapshot {
    premise
        .center()
        .snapshot()
        .await
        .unwrap()
        .agents
        .into_iter()
        .find(|a| a.agent.as_str() == id)
        .unwrap()
}

/// Runs the registration scenario for `expires` seconds (0: unregister).
async fn register(premise: &Premise, uas_port: u16, expires: u32, salt: u16) {
    let sip = premise.sip_addr().to_string();
    let expires = expires.to_string();
    let uas = uas_port.to_string();
    let child = sipp(
        sip_port(salt),
        rtp_port(salt),
        &[
            "-sf",
            &scenario("agent_registration.xml"),
            "-m",
            "1",
            "-ap",
            "alice1001",
            "-key",
            "uas_port",
            &uas,
            "-key",
            "expires",
            &expires,
            &sip,
        ],
    )
    .spawn()
    .unwrap();
    passed(child, "register").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_chosen_state_survives_registration_and_its_lapse() {
    if !peer_available("sipp", "-v", "sip-tester", "the premise agent-state test") {
        return;
    }
    let dir = data_dir("agent-states");
    let rtp = rtp_port(1);
    let toml = format!(
        r#"[sip]
bind = "127.0.0.1:{}"
tcp = false
[media]
rtp_first = {rtp}
rtp_last = {}
[storage]
data_dir = "{}"
record_calls = false
[ivr]
greeting = "Hello."
menu = [{{ key = "2", label = "support", queue = "support" }}]
default_queue = "support"
[analytics]
live_log_secs = 0
[agent_states]
reasons = ["break", "lunch", "training"]
[[queues]]
id = "support"
skill = "support"
[[agents]]
id = "1001"
name = "Alice"
password = "alice1001"
skills = ["support"]
login = "not_ready:training"
[[agents]]
id = "1002"
name = "Bob"
password = "bob10022"
skills = ["support"]
login = "offline"
"#,
        sip_port(1),
        rtp + 19,
        dir.display()
    );
    let premise = Premise::start(
        PremiseConfig::from_toml(&callcore_premise::with_demo_agents(&toml)).unwrap(),
    )
    .await
    .unwrap();
    let mut events = premise.center().subscribe();

    // logged in as the config says, unreachable until the phone registers
    let alice = agent(&premise, "1001").await;
    assert_eq!(alice.state, AgentState::NotReady("training".into()));
    assert!(!alice.reachable);
    assert_eq!(agent(&premise, "1002").await.state, AgentState::Offline);

    let uas_port = sip_port(2);
    register(&premise, uas_port, 300, 3).await;
    let reachable = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            let e = events.recv().await.unwrap();
            if let EventKind::AgentReachabilityChanged { agent, reachable } = &e.kind
                && agent.as_str() == "1001"
            {
                return *reachable;
            }
        }
    })
    .await;
    assert_eq!(reachable, Ok(true));
    let alice = agent(&premise, "1001").await;
    assert_eq!(alice.state, AgentState::NotReady("training".into()));
    assert!(alice.reachable);

    // states by name and the configured reason codes
    let refused = premise.set_agent_state("1001", "not_ready:nap").await;
    assert!(
        refused
            .as_ref()
            .is_err_and(|e| e.to_string().contains("`nap` is not a reason code")),
        "{refused:?}"
    );
    premise
        .set_agent_state("1001", "not_ready:lunch")
        .await
        .unwrap();
    premise.set_agent_state("1001", "available").await.unwrap();
    assert_eq!(agent(&premise, "1001").await.state, AgentState::Available);

    // the phone goes away: unreachable, still available by choice
    register(&premise, uas_port, 0, 4).await;
    let gone = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            let a = agent(&premise, "1001").await;
            if !a.reachable {
                return a.state;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
    assert_eq!(gone, Ok(AgentState::Available));
    // the live figures show it too
    let mut line = String::new();
    for _ in 0..50 {
        line = callcore_premise::analytics::summary_line(&premise.live());
        if line.contains("(unreachable 1)") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        line.ends_with("available=1,offline=1 (unreachable 1)"),
        "{line}"
    );
    assert!(
        premise
            .live()
            .agents
            .iter()
            .any(|a| a.agent.as_str() == "1001" && !a.reachable)
    );
    // and back
    register(&premise, uas_port, 300, 5).await;
    let back = tokio::time::timeout(Duration::from_secs(5), async {
        while !agent(&premise, "1001").await.reachable {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
    assert!(back.is_ok(), "reachable again after registering");

    // the queue_log: login, pauses with their reasons, unpause
    let path = premise.queue_log_path().unwrap().to_owned();
    let mut log = String::new();
    for _ in 0..50 {
        log = std::fs::read_to_string(&path).unwrap_or_default();
        if log.contains("|UNPAUSE|") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!("{log}");
    let verbs: Vec<(String, String, Vec<String>)> = log
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split('|').collect();
            (
                f[3].to_owned(),
                f[4].to_owned(),
                f[5..].iter().map(|s| (*s).to_owned()).collect(),
            )
        })
        .filter(|(a, _, _)| a == "1001")
        .collect();
    let alice: Vec<(&str, Vec<&str>)> = verbs
        .iter()
        .filter(|(_, v, _)| v != "ADDMEMBER")
        .map(|(_, v, d)| (v.as_str(), d.iter().map(String::as_str).collect()))
        .collect();
    assert_eq!(
        alice,
        vec![
            ("AGENTLOGIN", vec![""]),
            ("PAUSE", vec!["training"]),
            ("PAUSE", vec!["lunch"]),
            ("UNPAUSE", vec!["lunch"]),
        ],
        "{log}"
    );
    // live figures: one agent logged in, available
    let live = premise.live();
    let alice = live
        .agents
        .iter()
        .find(|a| a.agent == AgentId::new("1001"))
        .unwrap();
    assert_eq!(alice.state, "available");
    premise.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}
