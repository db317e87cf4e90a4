//! SMPP over TLS against a real message centre: `smpp34` from PyPI (driven
//! by callcore-premise's `smsc.py`) behind `socat`'s OpenSSL listener with a
//! certificate made at test time (rcgen) by a test CA. The link binds over
//! TLS with the certificate verified against `ca_file`, a customer's text
//! comes in and a notification goes out through it; a message centre whose
//! certificate is of another CA is refused with a clear error and never bound.
//!
//! Skipped with a notice without the venv or socat, unless
//! `CALLCORE_REQUIRE_PEERS=1`. Fixed ports 23610-23613 (this block is shared
//! with `email_tls.rs`: 23600-23619).

#![allow(clippy::unwrap_used, clippy::expect_used)]
#![allow(clippy::disallowed_methods)]

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use callcore::{Channel, UuidV7Ids};
use callcore_channels::Inbox;
use callcore_channels::sms::{SmsChannel, SmsConfig};
use callcore_runtime::SystemClock;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
use tokio::io::AsyncWriteExt;
use tokio::process::{Child, Command};

/// The venv's python with smpp34 and socat, or `None` after a notice.
fn peers() -> Option<PathBuf> {
    let require = std::env::var("CALLCORE_REQUIRE_PEERS").as_deref() == Ok("1");
    let venv = std::env::var_os("CALLCORE_PEERS_VENV").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.cache/peers-venv"),
        PathBuf::from,
    );
    let python = venv.join("bin/python");
    let ok = std::process::Command::new(&python)
        .args(["-c", "import smpp34"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
        && std::process::Command::new("socat")
            .arg("-V")
            .output()
            .is_ok();
    if !ok {
        assert!(!require, "smpp34 (in {venv:?}) and socat are required");
        eprintln!("NOTICE: smpp34 or socat missing; skipping (.ci/run installs smpp34)");
        return None;
    }
    Some(python)
}

/// A test CA named `ca_name` and a server certificate of it for 127.0.0.1,
/// written to `dir`: (ca.pem, server.pem, server.key).
fn certificates(dir: &Path, ca_name: &str) -> (PathBuf, PathBuf, PathBuf) {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name.push(DnType::CommonName, ca_name);
    let ca = ca.self_signed(&ca_key).unwrap();
    let key = KeyPair::generate().unwrap();
    let mut leaf = CertificateParams::new(vec!["127.0.0.1".to_owned()]).unwrap();
    leaf.distinguished_name
        .push(DnType::CommonName, "smsc.carrier.test");
    let leaf = leaf.signed_by(&key, &ca, &ca_key).unwrap();
    let paths = (
        dir.join("ca.pem"),
        dir.join("server.pem"),
        dir.join("server.key"),
    );
    std::fs::write(&paths.0, ca.pem()).unwrap();
    std::fs::write(&paths.1, leaf.pem()).unwrap();
    std::fs::write(&paths.2, key.serialize_pem()).unwrap();
    paths
}

fn dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("callcore-sms-tls-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

async fn wait_listening(port: u16) {
    for _ in 0..200 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("nothing listens on {port}");
}

/// The message centre on `plain`, behind socat's TLS on `tls`: (smsc, socat, log).
async fn smsc_behind_tls(
    python: &Path,
    dir: &Path,
    (cert, key): (&Path, &Path),
    [plain, tls]: [u16; 2],
) -> (Child, Child, PathBuf) {
    let log = dir.join("smsc.jsonl");
    let smsc = Command::new(python)
        .arg(
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../callcore-premise/tests/channels_support/smsc.py"),
        )
        .arg(plain.to_string())
        .arg(&log)
        .stdin(Stdio::piped())
        .stdout(std::fs::File::create(dir.join("smsc.out")).unwrap())
        .stderr(std::fs::File::create(dir.join("smsc.err")).unwrap())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    wait_listening(plain).await;
    let socat = Command::new("socat")
        .arg(format!(
            "OPENSSL-LISTEN:{tls},bind=127.0.0.1,reuseaddr,fork,cert={},key={},verify=0",
            cert.display(),
            key.display()
        ))
        .arg(format!("TCP:127.0.0.1:{plain}"))
        .stdin(Stdio::null())
        .stderr(std::fs::File::create(dir.join("socat.err")).unwrap())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    wait_listening(tls).await;
    (smsc, socat, log)
}

fn logged(log: &Path, op: &str) -> Vec<serde_json::Value> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|e| e["op"] == op)
        .collect()
}

fn start(port: u16, ca: &Path) -> (SmsChannel, Arc<Inbox>) {
    let config: SmsConfig = toml::from_str(&format!(
        "smsc = \"127.0.0.1:{port}\"\ntls = true\nca_file = {ca:?}\nsystem_id = \"center\"\n\
         password = \"secret\"\nsource_addr = \"12345\"\nqueue = \"support\"\nreconnect_ms = 200\n"
    ))
    .unwrap();
    let clock: Arc<dyn callcore::Clock> = Arc::new(SystemClock);
    let ids: Arc<dyn callcore::IdSource> = Arc::new(UuidV7Ids::random(clock.clone()));
    let inbox = Inbox::new(Channel::Sms, "default".into(), "sms", clock.clone(), ids);
    (
        SmsChannel::start(config, inbox.clone(), clock).unwrap(),
        inbox,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_link_binds_over_tls_and_texts_cross_it_both_ways() {
    let Some(python) = peers() else { return };
    let dir = dir("ok");
    let (ca, cert, key) = certificates(&dir, "callcore test SMSC CA");
    let (mut smsc, _socat, log) =
        smsc_behind_tls(&python, &dir, (&cert, &key), [23610, 23611]).await;
    let (channel, inbox) = start(23611, &ca);
    for _ in 0..100 {
        if !logged(&log, "bound").is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        logged(&log, "bound").len(),
        1,
        "bound over TLS: {:?}",
        channel.counters().bind_failure()
    );
    // a customer's text in
    let line = serde_json::json!({"from": "4915112345678", "to": "12345", "dc": 0, "esm": 0,
        "hex": "Where is my order?".bytes().map(|b| format!("{b:02x}")).collect::<String>()});
    let stdin = smsc.stdin.as_mut().unwrap();
    stdin
        .write_all(format!("{line}\n").as_bytes())
        .await
        .unwrap();
    stdin.flush().await.unwrap();
    for _ in 0..100 {
        if channel.counters().counts().0 >= 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(channel.counters().counts().0, 1, "the text routed");
    assert_eq!(inbox.open_count(), 1);
    // a text out
    inbox
        .notify("4915112345678", None, "Your order ships today.")
        .await
        .unwrap();
    let submits = logged(&log, "submit");
    assert_eq!(submits.len(), 1);
    assert_eq!(submits[0]["to"], "4915112345678");
    let text: Vec<u8> = (0..submits[0]["hex"].as_str().unwrap().len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&submits[0]["hex"].as_str().unwrap()[i..i + 2], 16).unwrap())
        .collect();
    assert_eq!(text, b"Your order ships today.");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_centre_certificate_of_another_ca_is_refused() {
    let Some(python) = peers() else { return };
    let dir = dir("wrong-ca");
    let (_, cert, key) = certificates(&dir, "callcore test SMSC CA");
    let other = dir.join("other");
    std::fs::create_dir_all(&other).unwrap();
    let (wrong_ca, _, _) = certificates(&other, "another CA");
    let (_smsc, _socat, log) = smsc_behind_tls(&python, &dir, (&cert, &key), [23612, 23613]).await;
    let (channel, _inbox) = start(23613, &wrong_ca);
    let mut failure = None;
    for _ in 0..100 {
        failure = channel.counters().bind_failure();
        if failure.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let failure = failure.expect("the bind fails");
    eprintln!("SMPP refused: {failure}");
    assert!(
        failure.contains("smpp") && failure.contains("UnknownIssuer"),
        "a clear error: {failure}"
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        channel
            .counters()
            .binds
            .load(std::sync::atomic::Ordering::Relaxed),
        0
    );
    assert!(logged(&log, "bound").is_empty(), "never bound");
}
