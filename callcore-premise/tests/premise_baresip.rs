//! The newcomer path: Debian's baresip registers as agent 1001 against the premise
//! center on its embedded defaults, with the `accounts` line of docs/premise.md taken
//! verbatim (only the port changed). Only the SIP and RTP addresses and the data
//! folder differ from the defaults (free loopback ports, a temporary folder).
//!
//! Skipped with a notice when baresip is missing, unless `CALLCORE_REQUIRE_PEERS=1`.

#![allow(clippy::unwrap_used, clippy::expect_used)]
// Wall-clock test against a real peer.
#![allow(clippy::disallowed_methods)]

use std::process::Stdio;
use std::time::Duration;

use callcore::{AgentState, EventKind};
use callcore_premise::{Premise, PremiseConfig};
use tokio::process::Command;

/// The guide's page, where the accounts line lives.
const GUIDE: &str = include_str!("../../docs/premise.md");

/// Whether `bin` runs; a notice and false when it does not, a failure under
/// `CALLCORE_REQUIRE_PEERS=1`.
fn peer_available(bin: &str, version_arg: &str, apt: &str) -> bool {
    let found = std::process::Command::new(bin)
        .arg(version_arg)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    if !found {
        assert!(
            std::env::var("CALLCORE_REQUIRE_PEERS").as_deref() != Ok("1"),
            "{bin} is required (CALLCORE_REQUIRE_PEERS=1) but not installed"
        );
        eprintln!("NOTICE: {bin} not found; skipping (apt-get install -y {apt})");
    }
    found
}

/// A port of `range` free for UDP and TCP on 127.0.0.1 (other engineers' tests run on
/// this machine: start somewhere that depends on the process id).
fn free_port(range: std::ops::Range<u16>, salt: u16) -> u16 {
    let span = range.end - range.start;
    let start = (std::process::id() as u16)
        .wrapping_mul(7)
        .wrapping_add(salt)
        % span;
    (0..span)
        .map(|i| range.start + (start + i) % span)
        .find(|&p| {
            std::net::UdpSocket::bind(("127.0.0.1", p)).is_ok()
                && std::net::TcpListener::bind(("127.0.0.1", p)).is_ok()
        })
        .expect("a free port")
}

/// The `accounts` line docs/premise.md gives for baresip (the line inside the code
/// block that follows "baresip's `accounts` file").
fn documented_accounts_line() -> String {
    let after = GUIDE
        .split_once("baresip's `accounts` file")
        .expect("docs/premise.md has the baresip accounts section")
        .1;
    after
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with("<sip:"))
        .expect("an accounts line in a code block")
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn baresip_registers_with_the_documented_accounts_line_on_the_defaults() {
    if !peer_available("baresip", "-h", "baresip") {
        return;
    }
    let line = documented_accounts_line();
    assert!(
        line.contains("127.0.0.1:5060"),
        "the documented line points at the default address: {line}"
    );

    let sip_port = free_port(25100..25900, 0);
    let rtp = 26100 + (std::process::id() % 40) as u16 * 20;
    let dir = std::env::temp_dir().join(format!("callcore-premise-baresip-{sip_port}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("baresip")).unwrap();

    let mut config = PremiseConfig::defaults();
    config.sip.bind = format!("127.0.0.1:{sip_port}").parse().unwrap();
    config.media.rtp_first = rtp;
    config.media.rtp_last = rtp + 9;
    config.storage.data_dir = dir.join("data");
    // the operations listener on a free port, not the default 8080
    config.http.bind = Some("127.0.0.1:0".parse().unwrap());
    let premise = Premise::start(config).await.unwrap();
    let mut events = premise.center().subscribe();

    // baresip, headless: no sound card, loopback only, its own SIP and RTP ports
    let bdir = dir.join("baresip");
    let config = format!(
        "poll_method epoll\nsip_listen 127.0.0.1:{}\nnet_interface 127.0.0.1\n\
         audio_source ausine,440\naudio_player aubridge,nil\naudio_alert aubridge,nil\n\
         rtp_ports {}-{}\nmodule_path /usr/lib/baresip/modules\n\
         module g711.so\nmodule ausine.so\nmodule aubridge.so\n\
         module_tmp uuid.so\nmodule_tmp account.so\n",
        free_port(25100..25900, 400),
        rtp + 10,
        rtp + 19,
    );
    std::fs::write(bdir.join("config"), config).unwrap();
    let account = line.replace("127.0.0.1:5060", &format!("127.0.0.1:{sip_port}"));
    std::fs::write(bdir.join("accounts"), format!("{account}\n")).unwrap();
    let log = std::fs::File::create(bdir.join("baresip.log")).unwrap();
    let mut baresip = Command::new("baresip")
        .args(["-f", bdir.to_str().unwrap(), "-t", "30"])
        .current_dir(&bdir)
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .kill_on_drop(true)
        .spawn()
        .unwrap();

    // registered with digest auth: agent 1001, logged in available, is reachable
    let available = tokio::time::timeout(Duration::from_secs(15), async {
        while let Ok(e) = events.recv().await {
            if let EventKind::AgentReachabilityChanged {
                agent,
                reachable: true,
            } = &e.kind
                && agent.as_str() == "1001"
            {
                return true;
            }
        }
        false
    })
    .await;
    let snapshot = premise.center().snapshot().await.unwrap();
    assert!(
        snapshot
            .agents
            .iter()
            .any(|a| a.agent.as_str() == "1001" && a.state == AgentState::Available)
    );
    let _ = baresip.kill().await;
    let baresip_log = std::fs::read_to_string(bdir.join("baresip.log")).unwrap_or_default();
    eprintln!("accounts line: {account}\nbaresip said:\n{baresip_log}");
    assert_eq!(available, Ok(true), "agent 1001 did not become available");
    assert!(
        !baresip_log.contains("Function not implemented"),
        "baresip refused a challenge"
    );
    assert!(
        baresip_log.contains("200 OK"),
        "baresip saw its REGISTER accepted"
    );
    premise.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}
