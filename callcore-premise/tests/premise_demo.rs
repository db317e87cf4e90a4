//! The premise assembly end to end, with no external peer: the center starts on
//! embedded defaults (SIP on a free port, SQLite and recordings in a temporary
//! folder), demo softphones register as the two agents with their passwords (Alice's
//! phone with MD5, Bob's with SHA-256 digest), and three self-driven callers go
//! through the IVR menu to the ACD and talk to an agent. Asserted: what each side
//! heard over RTP, the records in SQLite, the recordings.

#![allow(clippy::unwrap_used, clippy::expect_used)]
// Wall-clock test of a real-time center.
#![allow(clippy::disallowed_methods)]

use callcore_premise::demo::run_demo_calls;
use callcore_premise::{Premise, PremiseConfig};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn premise_center_serves_demo_calls_end_to_end() {
    let dir = std::env::temp_dir().join(format!("callcore-premise-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let base = 30000 + (std::process::id() % 200) as u16 * 10;
    // the demo agents, Bob's phone on SHA-256 only (RFC 8760): his demo phone must
    // register with it, Alice's with the default MD5
    let agents = "[[agents]]\nid = \"1001\"\nname = \"Alice\"\npassword = \"alice1001\"\nskills = [\"billing\", \"support\"]\n\
                  [[agents]]\nid = \"1002\"\nname = \"Bob\"\npassword = \"bob1002\"\nskills = [\"support\"]\ndigest = [\"SHA-256\"]\n";
    let toml = format!(
        "[sip]\nbind = \"127.0.0.1:0\"\n[media]\nrtp_first = {base}\nrtp_last = {}\n[storage]\ndata_dir = \"{}\"\n{agents}",
        base + 9,
        dir.display()
    );
    let config = PremiseConfig::from_toml(&callcore_premise::with_demo_agents(&toml)).unwrap();
    let premise = Premise::start(config).await.unwrap();
    let banner = premise.banner();
    assert!(
        banner.contains("1001") && banner.contains("digest SHA-256\n"),
        "{banner}"
    );
    let summary = tokio::time::timeout(
        std::time::Duration::from_secs(120),
        run_demo_calls(&premise, 3),
    )
    .await
    .expect("demo finished")
    .unwrap();
    eprintln!("{summary}");
    assert_eq!(summary.calls, 3);
    assert_eq!(summary.heard_menu, 3, "every caller heard the IVR menu");
    assert_eq!(summary.heard_agent, 3, "every caller heard an agent");
    assert_eq!(
        summary.agent_heard_caller, 3,
        "every agent heard the caller"
    );
    assert_eq!(summary.records, 3, "records in SQLite");
    assert_eq!(summary.answered, 3);
    assert_eq!(summary.per_agent.values().sum::<usize>(), 3);
    assert!(summary.mean_talk_ms >= 2000, "{summary:?}");
    assert_eq!(summary.recordings.len(), 3, "one stereo recording per call");
    for (path, ms) in &summary.recordings {
        assert!(*ms >= 2000, "{path}: {ms} ms");
        let wav = std::fs::read(path).unwrap();
        assert_eq!(&wav[0..4], b"RIFF");
        assert_eq!(u16::from_le_bytes([wav[22], wav[23]]), 2, "stereo");
    }
    assert!(dir.join("center.db").exists());
    premise.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}
