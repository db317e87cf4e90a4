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

/// dnsmasq on 127.0.0.1:`port` serving only `records` (dnsmasq options such as
/// `--srv-host=…`), TTL 30 s, its queries logged to `dir/dnsmasq-PORT.log`.
fn dnsmasq(dir: &std::path::Path, port: u16, records: &[String]) -> Command {
    let mut cmd = Command::new("dnsmasq");
    cmd.args([
        "--no-daemon",
        "--no-resolv",
        "--no-hosts",
        "--conf-file=/dev/null",
    ])
    .arg(format!("--port={port}"))
    .args(["--listen-address=127.0.0.1", "--bind-interfaces"])
    .arg("--pid-file=")
    .arg("--local-ttl=30")
    .arg("--log-queries")
    .args(records)
    .stdout(Stdio::null())
    .stderr(std::fs::File::create(dir.join(format!("dnsmasq-{port}.log"))).unwrap())
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
    let records = [
        "--naptr-record=carrier.test,10,10,s,SIP+D2U,,_sip._udp.carrier.test".to_owned(),
        format!("--srv-host=_sip._udp.carrier.test,a.carrier.test,{FIRST},10,10"),
        format!("--srv-host=_sip._udp.carrier.test,b.carrier.test,{SECOND},20,10"),
        "--host-record=a.carrier.test,127.0.0.1".to_owned(),
        "--host-record=b.carrier.test,127.0.0.1".to_owned(),
    ];
    let mut dns = dnsmasq(&dir, DNS_PORT, &records).spawn().unwrap();
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
    let said =
        || std::fs::read_to_string(dir.join(format!("dnsmasq-{DNS_PORT}.log"))).unwrap_or_default();

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

/// (CA PEM, certificate PEM for `name`, its key PEM)
fn ca_and_cert(name: &str) -> (String, String, String) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca.self_signed(&ca_key).unwrap();
    let key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec![name.to_owned()])
        .unwrap()
        .signed_by(&key, &ca, &ca_key)
        .unwrap();
    (ca.pem(), leaf.pem(), key.serialize_pem())
}

/// NAPTR prefers `SIPS+D2T` (order 10) over `SIP+D2U` (order 20): the trunk
/// `host = "carrier.test"` registers over TLS at the SRV target of
/// `_sips._tcp.carrier.test`, and the carrier's certificate is checked against
/// the domain `carrier.test` (made at test time; the carrier is callcore-sip's
/// registrar behind a TLS listener, the DNS server dnsmasq).
/// Returns whether the trunk registered, with a carrier certificate for `cert_name`.
async fn registers_over_tls_via_naptr(
    cert_name: &str,
    dns_port: u16,
    carrier_tls: u16,
    rtp: u16,
) -> bool {
    use callcore_sip::ua::tls::TlsOptions;
    use callcore_sip::ua::{UaConfig, driver};
    let dir = std::env::temp_dir().join(format!(
        "callcore-trunk-dns-tls-{}-{dns_port}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let records = [
        "--naptr-record=carrier.test,20,10,s,SIP+D2U,,_sip._udp.carrier.test".to_owned(),
        "--naptr-record=carrier.test,10,10,s,SIPS+D2T,,_sips._tcp.carrier.test".to_owned(),
        format!(
            "--srv-host=_sip._udp.carrier.test,udp.carrier.test,{},10,10",
            carrier_tls + 1
        ),
        format!("--srv-host=_sips._tcp.carrier.test,tls.carrier.test,{carrier_tls},10,10"),
        "--host-record=udp.carrier.test,127.0.0.1".to_owned(),
        "--host-record=tls.carrier.test,127.0.0.1".to_owned(),
    ];
    let mut dns = dnsmasq(&dir, dns_port, &records).spawn().unwrap();

    let (ca, cert, key) = ca_and_cert(cert_name);
    let ca_file = dir.join("carrier-ca.pem");
    std::fs::write(&ca_file, &ca).unwrap();
    let tls = TlsOptions::new(
        Some(format!("127.0.0.1:{carrier_tls}").parse().unwrap()),
        Some((&cert, &key)),
        &ca,
    )
    .unwrap();
    let mut cfg = UaConfig::new("127.0.0.1:0".parse().unwrap());
    cfg.registrar = true;
    let (carrier, _events) = driver::start_with(
        cfg,
        63,
        driver::DriverOptions {
            tcp: false,
            tls: Some(tls),
        },
    )
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;

    let toml = format!(
        "[sip]\nbind = \"127.0.0.1:0\"\ndns = \"127.0.0.1:{dns_port}\"\n\
         [http]\nenabled = false\n\
         [media]\nrtp_first = {rtp}\nrtp_last = {}\n\
         [storage]\ndata_dir = \"{}\"\n\
         [[agents]]\nid = \"2001\"\ncontact = \"sip:2001@127.0.0.1:22599\"\n\
         [[trunks]]\nname = \"carrier\"\nhost = \"carrier.test\"\ntransport = \"tls\"\n\
         tls_ca_file = \"{}\"\nusername = \"centre\"\npassword = \"trunk-pw\"\n\
         options_interval_secs = 0\n",
        rtp + 9,
        dir.join("data").display(),
        ca_file.display()
    );
    let premise = Premise::start(PremiseConfig::from_toml(&toml).unwrap())
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(8);
    let mut registered = false;
    while tokio::time::Instant::now() < deadline && !registered {
        registered = !carrier.lookup("sip:centre@127.0.0.1").await.is_empty();
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let log =
        std::fs::read_to_string(dir.join(format!("dnsmasq-{dns_port}.log"))).unwrap_or_default();
    assert!(log.contains("query[SRV] _sips._tcp.carrier.test"), "{log}");
    eprintln!("certificate for {cert_name}: registered {registered}");
    premise.shutdown().await;
    let _ = dns.kill().await;
    let _ = std::fs::remove_dir_all(&dir);
    registered
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn naptr_chooses_tls_and_the_certificate_is_checked_against_the_domain() {
    if !dnsmasq_here() {
        return;
    }
    assert!(
        registers_over_tls_via_naptr("carrier.test", 22554, 22575, 22580).await,
        "the trunk registers over TLS at the NAPTR/SRV target"
    );
    assert!(
        !registers_over_tls_via_naptr("other.test", 22555, 22577, 22590).await,
        "a carrier certificate for another name is refused"
    );
}
