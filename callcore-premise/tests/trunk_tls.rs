//! A TLS trunk in the premise config: the center registers with a carrier over TLS,
//! checking the carrier's certificate against the trunk's `tls_server_name` with the
//! CA bundle of `tls_ca_file` (both made at test time); with a wrong name it does not
//! register. The carrier is callcore-sip's registrar behind a TLS listener.
//!
//! Ports: the carriers' picked by the OS (port 0), the premise's RTP 42400-42419.

#![allow(clippy::unwrap_used, clippy::expect_used)]
// Real sockets run in wall-clock time.
#![allow(clippy::disallowed_methods)]

use std::time::Duration;

use callcore_premise::{Premise, PremiseConfig};
use callcore_sip::ua::tls::TlsOptions;
use callcore_sip::ua::{UaConfig, driver};
use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};

const NAME: &str = "sip.carrier.test";

/// (CA PEM, carrier certificate PEM for [`NAME`], its key PEM)
fn ca_and_carrier_cert() -> (String, String, String) {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca.self_signed(&ca_key).unwrap();
    let key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec![NAME.to_owned()])
        .unwrap()
        .signed_by(&key, &ca, &ca_key)
        .unwrap();
    (ca.pem(), leaf.pem(), key.serialize_pem())
}

/// Starts a premise with one TLS trunk to a carrier on `port` checked against
/// `server_name`; true when the carrier's registrar then holds its registration.
async fn registers(server_name: &str, port: u16, rtp: u16) -> bool {
    let dir =
        std::env::temp_dir().join(format!("callcore-trunk-tls-{}-{port}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let (ca, cert, key) = ca_and_carrier_cert();
    let ca_file = dir.join("carrier-ca.pem");
    std::fs::write(&ca_file, &ca).unwrap();

    let tls = TlsOptions::new(
        Some("127.0.0.1:0".parse().unwrap()),
        Some((&cert, &key)),
        &ca,
    )
    .unwrap();
    let mut cfg = UaConfig::new("127.0.0.1:0".parse().unwrap());
    cfg.registrar = true;
    let (carrier, _events) = driver::start_with(
        cfg,
        61,
        driver::DriverOptions {
            tcp: false,
            tls: Some(tls),
        },
    )
    .await
    .unwrap();
    let port = carrier.tls_addr().unwrap().port();

    let toml = format!(
        "[sip]\nbind = \"127.0.0.1:0\"\n\
         [media]\nrtp_first = {rtp}\nrtp_last = {}\n\
         [storage]\ndata_dir = \"{}\"\n\
         [[agents]]\nid = \"2001\"\ncontact = \"sip:2001@127.0.0.1:5090\"\n\
         [[trunks]]\nname = \"carrier\"\nhost = \"127.0.0.1:{port}\"\ntransport = \"tls\"\n\
         tls_server_name = \"{server_name}\"\ntls_ca_file = \"{}\"\n\
         username = \"centre\"\npassword = \"trunk-pw\"\noptions_interval_secs = 0\n",
        rtp + 9,
        dir.join("data").display(),
        ca_file.display()
    );
    let premise = Premise::start(PremiseConfig::from_toml(&toml).unwrap())
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(4);
    let mut registered = false;
    while tokio::time::Instant::now() < deadline && !registered {
        registered = !carrier.lookup("sip:centre@127.0.0.1").await.is_empty();
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let registers_seen = carrier.stats().snapshot().received.requests_of("REGISTER");
    eprintln!("{server_name}: registered {registered}, REGISTERs at the carrier {registers_seen}");
    drop(premise);
    let _ = std::fs::remove_dir_all(&dir);
    registered
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tls_trunk_registers_when_the_carrier_has_its_name() {
    assert!(
        registers(NAME, 42040, 42400).await,
        "the right name registers"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tls_trunk_refuses_a_carrier_with_another_name() {
    assert!(
        !registers("other.carrier.test", 42042, 42410).await,
        "a certificate for another name is refused"
    );
}
