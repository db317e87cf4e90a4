//! A trunk found by DNS (RFC 3263), against a DNS server nobody here wrote:
//! Debian's dnsmasq serves `carrier.test` with a NAPTR record (`SIP+D2U` →
//! `_sip._udp.carrier.test`), two SRV records (priority 10 → `a.carrier.test`,
//! priority 20 → `b.carrier.test`) and their A records; the premise's trunk is
//! `host = "carrier.test"` with `[sip] dns` pointing at dnsmasq. Two SIPp carriers
//! stand at the two targets: the first answers 503, the second answers. The call
//! the center places through the trunk reaches the second target after the
//! first's 503 (both SIPp runs pass), within the one trunk; a second call within
//! the records' TTL (30 s) does the same without a new lookup (dnsmasq's log has
//! one NAPTR query).
//!
//! Fixed ports in 22540-22599 (helper range); the center's are OS-picked.
//! Skipped with a notice without dnsmasq, sipp or root, unless
//! `CALLCORE_REQUIRE_PEERS=1`.

#![allow(clippy::unwrap_used, clippy::expect_used)]
// Real peers run in wall-clock time.
#![allow(clippy::disallowed_methods)]

mod support;

use std::process::Stdio;
use std::time::Duration;

use callcore::{Endpoint, HangupCause};
use callcore_premise::{Premise, PremiseConfig};
use callcore_sip::center::SipLeg;
use callcore_sip::dial_plan::TrunkAttempt;
use callcore_sip::trunk::CallOutcome;
use tokio::process::Command;

use support::{peers_ready, scenario};

const DNS_PORT: u16 = 22553;
const FIRST: u16 = 22560;
const SECOND: u16 = 22563;

fn dnsmasq_here() -> bool {
    let found = std::process::Command::new("dnsmasq")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    if !found {
        assert!(
            std::env::var("CALLCORE_REQUIRE_PEERS").as_deref() != Ok("1"),
            "dnsmasq is required (CALLCORE_REQUIRE_PEERS=1)"
        );
        eprintln!("NOTICE: dnsmasq not found; skipping (apt-get install -y dnsmasq)");
    }
    found
}

/// dnsmasq on 127.0.0.1:[`DNS_PORT`] serving only `carrier.test`'s records.
fn dnsmasq(dir: &std::path::Path) -> Command {
    let mut cmd = Command::new("dnsmasq");
    cmd.args([
        "--no-daemon",
        "--no-resolv",
        "--no-hosts",
        "--conf-file=/dev/null",
    ])
    .arg(format!("--port={DNS_PORT}"))
    .args(["--listen-address=127.0.0.1", "--bind-interfaces"])
    .arg("--pid-file=")
    .arg("--local-ttl=30")
    .arg("--log-queries")
    .arg("--naptr-record=carrier.test,10,10,s,SIP+D2U,,_sip._udp.carrier.test")
    .arg(format!(
        "--srv-host=_sip._udp.carrier.test,a.carrier.test,{FIRST},10,10"
    ))
    .arg(format!(
        "--srv-host=_sip._udp.carrier.test,b.carrier.test,{SECOND},20,10"
    ))
    .arg("--host-record=a.carrier.test,127.0.0.1")
    .arg("--host-record=b.carrier.test,127.0.0.1")
    .stdout(Stdio::null())
    .stderr(std::fs::File::create(dir.join("dnsmasq.log")).unwrap())
    .kill_on_drop(true);
    cmd
}

fn carrier(name: &str, port: u16, dir: &std::path::Path) -> Command {
    let mut cmd = Command::new("sipp");
    cmd.arg("-sf")
        .arg(scenario(name, dir))
        .args(["-i", "127.0.0.1", "-p", &port.to_string()])
        .args(["-mi", "127.0.0.1", "-mp", &(port + 20).to_string()])
        .args(["-ci", "127.0.0.1", "-cp", &(port + 30).to_string()])
        .args(["-m", "2", "-nostdin", "-timeout", "40s", "-timeout_error"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    cmd
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trunk_found_by_naptr_and_srv_fails_over_to_its_second_target() {
    if !dnsmasq_here() || !peers_ready() {
        return;
    }
    let dir = std::env::temp_dir().join(format!("callcore-trunk-dns-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let mut dns = dnsmasq(&dir).spawn().unwrap();
    let out_of_service = carrier("carrier_503.xml", FIRST, &dir).spawn().unwrap();
    let answering = carrier("carrier_answer.xml", SECOND, &dir).spawn().unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;

    let toml = format!(
        "[sip]\nbind = \"127.0.0.1:0\"\ndns = \"127.0.0.1:{DNS_PORT}\"\n\
         [http]\nenabled = false\n\
         [media]\nrtp_first = 22520\nrtp_last = 22539\n\
         [storage]\ndata_dir = \"{}\"\n\
         [[agents]]\nid = \"2001\"\ncontact = \"sip:2001@127.0.0.1:22599\"\n\
         [[trunks]]\nname = \"carrier\"\nhost = \"carrier.test\"\noptions_interval_secs = 0\n\
         [[dial_plan]]\npattern = \"+49*\"\ntrunks = [\"carrier\"]\n",
        dir.join("data").display()
    );
    let premise = Premise::start(PremiseConfig::from_toml(&toml).unwrap())
        .await
        .unwrap();
    let said = || std::fs::read_to_string(dir.join("dnsmasq.log")).unwrap_or_default();

    // two calls, both within the records' TTL (30 s): looked up once, at start
    for _ in 0..2 {
        let leg = premise
            .place_call(
                Endpoint::Phone("+4940555123".into()),
                "2001",
                Duration::from_secs(20),
            )
            .await;
        let leg = match leg {
            Ok(l) => l,
            Err(e) => panic!(
                "not answered through the second target: {e}\ndnsmasq: {}",
                said()
            ),
        };
        let sip = leg.as_any().downcast_ref::<SipLeg>().expect("a SIP leg");
        assert_eq!(
            sip.trunk_attempts(),
            [TrunkAttempt {
                trunk: "carrier".into(),
                outcome: CallOutcome::Answered
            }],
            "one trunk, its second DNS target"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
        leg.hangup(HangupCause::Local).await.unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
    }

    for (child, who) in [
        (out_of_service, "first target (503)"),
        (answering, "second target"),
    ] {
        let out = tokio::time::timeout(Duration::from_secs(30), child.wait_with_output())
            .await
            .expect("sipp finished")
            .unwrap();
        assert!(
            out.status.success(),
            "{who}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let log = said();
    assert!(
        log.contains("query[NAPTR] carrier.test"),
        "the center asked for NAPTR first: {log}"
    );
    assert!(log.contains("query[SRV] _sip._udp.carrier.test"), "{log}");
    assert_eq!(
        log.matches("query[NAPTR] carrier.test").count(),
        1,
        "the targets are cached for their TTL: {log}"
    );
    premise.shutdown().await;
    let _ = dns.kill().await;
    let _ = std::fs::remove_dir_all(&dir);
}
