//! TLS host-name checks when we connect out (to trunks and phones): a CA made at test
//! time signs a certificate for `sip.carrier.test`; the far end presents it whatever
//! name is asked for and records the SNI it was sent. The configured name connects
//! (and is sent as SNI), a wrong name or a bare IP address is refused by our side, a
//! trunk's `tls_server_name` is used for its registrations, and a TLS handshake that
//! never comes is cut after the handshake timeout.
//!
//! Ports: picked by the OS (port 0).

#![cfg(feature = "tls")]
#![allow(clippy::unwrap_used, clippy::expect_used)]
// Real sockets run in wall-clock time: the test waits for them.
#![allow(clippy::disallowed_methods)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use callcore_sip::session::LocalMedia;
use callcore_sip::transaction::{Peer, TransportKind};
use callcore_sip::trunk::{Trunk, TrunkKind, TrunkRegistration};
use callcore_sip::ua::tls::TlsOptions;
use callcore_sip::ua::{UaConfig, UaEvent, driver};
use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
use tokio::io::AsyncReadExt;
use tokio::sync::mpsc::UnboundedReceiver;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::server::{ClientHello, ResolvesServerCert};
use tokio_rustls::rustls::sign::CertifiedKey;
use tokio_rustls::rustls::{self, ServerConfig};

const NAME: &str = "sip.carrier.test";

/// A CA (PEM) and a certificate for [`NAME`] it signed, with its key (PEM).
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

/// Presents one certificate to every client and notes the SNI each one sent.
#[derive(Debug)]
struct RecordingResolver {
    key: Arc<CertifiedKey>,
    sni: Mutex<Vec<Option<String>>>,
}

impl ResolvesServerCert for RecordingResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.sni
            .lock()
            .unwrap()
            .push(hello.server_name().map(str::to_owned));
        Some(self.key.clone())
    }
}

/// The far end: a TLS listener with the carrier's certificate and a registrar.
async fn carrier(
    cert: &str,
    key: &str,
    ca: &str,
) -> (
    driver::SipHandle,
    UnboundedReceiver<UaEvent>,
    Arc<RecordingResolver>,
) {
    let provider = rustls::crypto::ring::default_provider();
    let chain = vec![CertificateDer::from_pem_slice(cert.as_bytes()).unwrap()];
    let key = PrivateKeyDer::from_pem_slice(key.as_bytes()).unwrap();
    let resolver = Arc::new(RecordingResolver {
        key: Arc::new(CertifiedKey::from_der(chain, key, &provider).unwrap()),
        sni: Mutex::new(Vec::new()),
    });
    let server = ServerConfig::builder_with_provider(Arc::new(provider))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_cert_resolver(resolver.clone());
    let mut tls = TlsOptions::new(None, None, ca).unwrap();
    tls.listen = Some("127.0.0.1:0".parse().unwrap());
    tls.server = Some(Arc::new(server));
    let mut cfg = UaConfig::new("127.0.0.1:0".parse().unwrap());
    cfg.registrar = true;
    cfg.limits.streams.handshake_timeout = Duration::from_secs(1);
    let (sip, events) = driver::start_with(
        cfg,
        51,
        driver::DriverOptions {
            tcp: false,
            tls: Some(tls),
        },
    )
    .await
    .unwrap();
    (sip, events, resolver)
}

/// Our side: trusts the CA only, checks `addr` against `name` when given.
async fn center(
    ca: &str,
    addr: std::net::SocketAddr,
    name: Option<&str>,
) -> (driver::SipHandle, UnboundedReceiver<UaEvent>) {
    let mut tls = TlsOptions::new(None, None, ca).unwrap();
    if let Some(name) = name {
        tls = tls.with_server_name(addr, name);
    }
    let mut cfg = UaConfig::new("127.0.0.1:0".parse().unwrap());
    cfg.transport = TransportKind::Tls;
    driver::start_with(
        cfg,
        52,
        driver::DriverOptions {
            tcp: false,
            tls: Some(tls),
        },
    )
    .await
    .unwrap()
}

/// Places a call to the carrier: `Ok` when it arrived there, `Err(status)` when it
/// failed on our side.
async fn call_arrives(
    ours: &driver::SipHandle,
    our_events: &mut UnboundedReceiver<UaEvent>,
    theirs: &mut UnboundedReceiver<UaEvent>,
    addr: std::net::SocketAddr,
) -> Result<(), u16> {
    let media = LocalMedia::g711("127.0.0.1:41000".parse().unwrap(), 1);
    ours.place_call(
        &format!("sips:+15550100@{addr}"),
        Peer::tls(addr),
        "sips:cc@127.0.0.1",
        media,
    )
    .await
    .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        tokio::select! {
            ev = theirs.recv() => if let Some(UaEvent::IncomingCall { .. }) = ev { return Ok(()) },
            ev = our_events.recv() => if let Some(UaEvent::Failed { status, .. }) = ev { return Err(status) },
            () = tokio::time::sleep_until(deadline) => panic!("neither arrival nor failure"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_configured_name_connects_and_a_wrong_name_or_bare_ip_is_refused() {
    let (ca, cert, key) = ca_and_carrier_cert();
    let (far, mut far_events, resolver) = carrier(&cert, &key, &ca).await;
    let addr = far.tls_addr().unwrap();

    let (ok, mut ok_events) = center(&ca, addr, Some(NAME)).await;
    assert_eq!(
        call_arrives(&ok, &mut ok_events, &mut far_events, addr).await,
        Ok(())
    );
    assert_eq!(
        resolver.sni.lock().unwrap().as_slice(),
        [Some(NAME.to_owned())]
    );

    let (wrong, mut wrong_events) = center(&ca, addr, Some("other.carrier.test")).await;
    assert_eq!(
        call_arrives(&wrong, &mut wrong_events, &mut far_events, addr).await,
        Err(503),
        "a certificate for another name is refused"
    );
    let (bare, mut bare_events) = center(&ca, addr, None).await;
    assert_eq!(
        call_arrives(&bare, &mut bare_events, &mut far_events, addr).await,
        Err(503),
        "checked by IP address, the certificate does not match"
    );
    let sni = resolver.sni.lock().unwrap().clone();
    assert_eq!(sni[1].as_deref(), Some("other.carrier.test"));
    assert_eq!(sni[2], None, "no SNI for an IP address");
}

async fn registers(trunk_name: Option<&str>) -> bool {
    let (ca, cert, key) = ca_and_carrier_cert();
    let (far, _far_events, _) = carrier(&cert, &key, &ca).await;
    let addr = far.tls_addr().unwrap();
    let (ours, mut events) = center(&ca, addr, None).await;
    let mut trunk = Trunk::new("carrier", TrunkKind::Carrier, addr, &["+"]);
    trunk.peer = Peer::tls(addr);
    trunk.keepalive = None;
    trunk.tls_server_name = trunk_name.map(str::to_owned);
    trunk.registration = Some(TrunkRegistration::new("trunk7", "pw7", 300));
    ours.register(trunk);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
    while let Ok(Some(ev)) = tokio::time::timeout_at(deadline, events.recv()).await {
        if let UaEvent::TrunkRegistered { .. } = ev {
            return true;
        }
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trunk_is_checked_against_its_tls_server_name() {
    assert!(registers(Some(NAME)).await, "the right name registers");
    assert!(
        !registers(Some("other.carrier.test")).await,
        "a wrong name does not"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tls_handshake_that_never_comes_is_cut() {
    let (ca, cert, key) = ca_and_carrier_cert();
    let (far, _events, _) = carrier(&cert, &key, &ca).await;
    let mut s = tokio::net::TcpStream::connect(far.tls_addr().unwrap())
        .await
        .unwrap();
    let t0 = std::time::Instant::now();
    let mut buf = [0u8; 64];
    let r = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf)).await;
    assert!(
        matches!(r, Ok(Ok(0) | Err(_))),
        "closed by the far end: {r:?}"
    );
    assert!(
        t0.elapsed() < Duration::from_secs(3),
        "after the 1 s handshake timeout"
    );
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(far.connection_stats().open(), 0);
}
