//! The e-mail channel over TLS against a real mail server (`mail-devel`:
//! aiosmtpd for SMTP/SMTPS, pymap for IMAP) with a certificate made at test
//! time (rcgen) by a test CA: a customer's mail is taken over IMAPS (TLS by
//! `socat`, OpenSSL, in front of mail-devel's IMAP) or IMAP STARTTLS
//! (pymap's own), and the acknowledgement goes out over SMTPS or STARTTLS,
//! each server's certificate verified against `ca_file`. A different CA is
//! refused on both sides with a clear error, and the mail stays unread in
//! the mailbox until a channel with the right CA takes it.
//!
//! Skipped with a notice without the venv (or socat), unless
//! `CALLCORE_REQUIRE_PEERS=1`. Fixed ports 23600-23619 (this test's block).

#![allow(clippy::unwrap_used, clippy::expect_used)]
#![allow(clippy::disallowed_methods)]

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use callcore::{Channel, UuidV7Ids};
use callcore_channels::email::{EmailChannel, EmailConfig, SmtpOutbox};
use callcore_channels::{Inbox, Outbox, Outgoing};
use callcore_runtime::SystemClock;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
use tokio::io::AsyncWriteExt;
use tokio::process::{Child, Command};

const CENTER: &str = "support@center.test";
const CUSTOMER: &str = "ann@example.org";
const ACK: &str = "We received your message over TLS.";

fn require_peers() -> bool {
    std::env::var("CALLCORE_REQUIRE_PEERS").as_deref() == Ok("1")
}

/// The venv's python with mail_devel, or `None` after a notice.
fn python() -> Option<PathBuf> {
    let venv = std::env::var_os("CALLCORE_PEERS_VENV").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.cache/peers-venv"),
        PathBuf::from,
    );
    let python = venv.join("bin/python");
    let ok = std::process::Command::new(&python)
        .args(["-c", "import mail_devel"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        assert!(!require_peers(), "mail_devel required but not in {venv:?}");
        eprintln!("NOTICE: mail_devel not in {venv:?}; skipping (.ci/run installs it)");
        return None;
    }
    Some(python)
}

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/email_tls_peer.py")
}

/// A test CA named `ca_name` and a server certificate of it for 127.0.0.1 and localhost,
/// written to `dir`: (ca.pem, server.pem, server.key).
fn certificates(dir: &Path, ca_name: &str) -> (PathBuf, PathBuf, PathBuf) {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    // distinct names: OpenSSL takes a leaf named as its issuer for self-signed
    ca.distinguished_name.push(DnType::CommonName, ca_name);
    let ca = ca.self_signed(&ca_key).unwrap();
    let key = KeyPair::generate().unwrap();
    let mut leaf =
        CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()]).unwrap();
    leaf.distinguished_name
        .push(DnType::CommonName, "mail.center.test");
    let leaf = leaf.signed_by(&key, &ca, &ca_key).unwrap();
    let paths = (
        dir.join("ca.pem"),
        dir.join("server.pem"),
        dir.join("server.key"),
    );
    std::fs::write(&paths.0, ca.pem()).unwrap();
    std::fs::write(&paths.1, leaf.pem()).unwrap();
    std::fs::write(&paths.2, key.serialize_pem()).unwrap();
    (paths.0, paths.1, paths.2)
}

/// A fresh directory of this test.
fn dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("callcore-email-tls-{name}-{}", std::process::id()));
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

/// mail-devel with TLS: IMAP on `imap` (with pymap's STARTTLS when
/// `imap_starttls`), SMTP (+STARTTLS) on `smtp`, SMTPS on `smtps`.
async fn mail_devel(
    python: &Path,
    dir: &Path,
    (cert, key): (&Path, &Path),
    imap_starttls: bool,
    [imap, smtp, smtps]: [u16; 3],
) -> Child {
    let mut cmd = Command::new(python);
    cmd.arg(script()).arg("serve");
    if imap_starttls {
        cmd.arg("--imap-starttls");
    }
    let child = cmd
        .args(["--host", "127.0.0.1", "--no-http", "--multi-user"])
        .args(["--user", CENTER, "--password", "secret"])
        .args([
            "--imap-port",
            &imap.to_string(),
            "--smtp-port",
            &smtp.to_string(),
        ])
        .args(["--smtps-port", &smtps.to_string()])
        .arg("--cert")
        .arg(cert)
        .arg("--key")
        .arg(key)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(dir.join("mail-devel.log")).unwrap())
        .stderr(std::fs::File::create(dir.join("mail-devel.err")).unwrap())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    for p in [imap, smtp, smtps] {
        wait_listening(p).await;
    }
    child
}

/// The customer writes to the center (SMTP with STARTTLS, Python's smtplib).
async fn customer_writes(python: &Path, smtp: u16, ca: &Path) {
    let raw = format!(
        "From: Ann <{CUSTOMER}>\r\nTo: {CENTER}\r\nSubject: My order\r\n\
         Message-ID: <order-1@example.org>\r\n\r\nWhere is my order?\r\n"
    );
    let mut child = Command::new(python)
        .arg(script())
        .args(["send", &smtp.to_string(), CUSTOMER, CENTER])
        .arg(ca)
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(raw.as_bytes()).await.unwrap();
    drop(stdin);
    let out = child.wait_with_output().await.unwrap();
    assert!(
        out.status.success(),
        "send: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `user`'s mailbox (Python's imaplib), each with its `seen` flag.
async fn mailbox(
    python: &Path,
    imap: u16,
    user: &str,
    ca: &Path,
    starttls: bool,
) -> Vec<serde_json::Value> {
    let out = Command::new(python)
        .arg(script())
        .args(["fetch", &imap.to_string(), user])
        .arg(ca)
        .arg(if starttls { "starttls" } else { "plain" })
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "fetch: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn config(imap: String, imap_tls: &str, smtp: String, smtp_tls: &str, ca: &Path) -> EmailConfig {
    toml::from_str(&format!(
        "address = \"{CENTER}\"\nimap = \"{imap}\"\nimap_tls = \"{imap_tls}\"\n\
         smtp = \"{smtp}\"\nsmtp_tls = \"{smtp_tls}\"\nca_file = {ca:?}\n\
         user = \"{CENTER}\"\npassword = \"secret\"\nqueue = \"support\"\npoll_ms = 200\n\
         acknowledgement = \"{ACK}\"\n"
    ))
    .unwrap()
}

fn start(config: EmailConfig) -> (EmailChannel, Arc<Inbox>) {
    let clock: Arc<dyn callcore::Clock> = Arc::new(SystemClock);
    let ids: Arc<dyn callcore::IdSource> = Arc::new(UuidV7Ids::random(clock.clone()));
    let inbox = Inbox::new(
        Channel::Email,
        "default".into(),
        "email",
        clock.clone(),
        ids.clone(),
    );
    (
        EmailChannel::start(config, inbox.clone(), ids, clock).unwrap(),
        inbox,
    )
}

/// Waits (up to 20 s) until the channel routed `n` mails.
async fn routed(channel: &EmailChannel, n: u64) {
    for _ in 0..100 {
        if channel.counters().counts().0 >= n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!(
        "routed {:?}, mailbox failure {:?}",
        channel.counters().counts(),
        channel.counters().mailbox_failure()
    );
}

/// Waits (up to 20 s) for the acknowledgement in the customer's mailbox.
async fn acknowledged(python: &Path, imap: u16, ca: &Path, starttls: bool) {
    for _ in 0..100 {
        let mails = mailbox(python, imap, CUSTOMER, ca, starttls).await;
        if let Some(m) = mails.first() {
            assert_eq!(m["text"].as_str().unwrap().trim(), ACK);
            assert!(m["from"].as_str().unwrap().contains(CENTER));
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("no acknowledgement in {CUSTOMER}'s mailbox");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mail_comes_in_over_imaps_and_the_answer_leaves_over_smtps() {
    let Some(python) = python() else { return };
    if std::process::Command::new("socat")
        .arg("-V")
        .output()
        .is_err()
    {
        assert!(!require_peers(), "socat required");
        eprintln!("NOTICE: socat not installed; skipping");
        return;
    }
    let dir = dir("implicit");
    let (ca, cert, key) = certificates(&dir, "callcore test mail CA");
    let [imap, smtp, smtps, imaps] = [23600, 23601, 23602, 23603];
    let _server = mail_devel(&python, &dir, (&cert, &key), false, [imap, smtp, smtps]).await;
    // IMAPS: OpenSSL (socat) terminating TLS in front of mail-devel's IMAP
    let _imaps = Command::new("socat")
        .arg(format!(
            "OPENSSL-LISTEN:{imaps},bind=127.0.0.1,reuseaddr,fork,cert={},key={},verify=0",
            cert.display(),
            key.display()
        ))
        .arg(format!("TCP:127.0.0.1:{imap}"))
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    wait_listening(imaps).await;

    customer_writes(&python, smtp, &ca).await;
    let (channel, inbox) = start(config(
        format!("127.0.0.1:{imaps}"),
        "implicit",
        format!("127.0.0.1:{smtps}"),
        "implicit",
        &ca,
    ));
    routed(&channel, 1).await;
    assert_eq!(inbox.open_count(), 1);
    acknowledged(&python, imap, &ca, false).await;
    let center = mailbox(&python, imap, CENTER, &ca, false).await;
    assert_eq!(center.len(), 1);
    assert_eq!(center[0]["seen"], true, "taken mail is marked seen");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mail_comes_in_and_the_answer_leaves_over_starttls() {
    let Some(python) = python() else { return };
    let dir = dir("starttls");
    let (ca, cert, key) = certificates(&dir, "callcore test mail CA");
    let [imap, smtp, smtps] = [23604, 23605, 23606];
    let _server = mail_devel(&python, &dir, (&cert, &key), true, [imap, smtp, smtps]).await;
    customer_writes(&python, smtp, &ca).await;
    let (channel, _inbox) = start(config(
        format!("127.0.0.1:{imap}"),
        "starttls",
        format!("127.0.0.1:{smtp}"),
        "starttls",
        &ca,
    ));
    routed(&channel, 1).await;
    acknowledged(&python, imap, &ca, true).await;
    assert_eq!(
        mailbox(&python, imap, CENTER, &ca, true).await[0]["seen"],
        true
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_certificate_of_another_ca_is_refused_and_the_mail_stays_unread() {
    let Some(python) = python() else { return };
    let dir = dir("wrong-ca");
    let (ca, cert, key) = certificates(&dir, "callcore test mail CA");
    let other = dir.join("other");
    std::fs::create_dir_all(&other).unwrap();
    let (wrong_ca, _, _) = certificates(&other, "another CA");
    let [imap, smtp, smtps] = [23607, 23608, 23609];
    let _server = mail_devel(&python, &dir, (&cert, &key), true, [imap, smtp, smtps]).await;
    customer_writes(&python, smtp, &ca).await;

    // IMAP: the poll fails on the certificate, nothing is taken
    let wrong = config(
        format!("127.0.0.1:{imap}"),
        "starttls",
        format!("127.0.0.1:{smtps}"),
        "implicit",
        &wrong_ca,
    );
    let (channel, _inbox) = start(wrong.clone());
    let mut failure = None;
    for _ in 0..100 {
        failure = channel.counters().mailbox_failure();
        if failure.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let failure = failure.expect("the poll fails");
    eprintln!("IMAP refused: {failure}");
    assert!(
        failure.contains("imap") && failure.contains("certificate"),
        "a clear error: {failure}"
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(channel.counters().counts(), (0, 0, 0));
    drop(channel);
    let center = mailbox(&python, imap, CENTER, &ca, true).await;
    assert_eq!(center.len(), 1);
    assert_eq!(center[0]["seen"], false, "the mail stays unread");

    // SMTP: the send fails on the certificate, and says so
    let clock: Arc<dyn callcore::Clock> = Arc::new(SystemClock);
    let outbox = SmtpOutbox::new(&wrong, Arc::new(UuidV7Ids::random(clock))).unwrap();
    let reply = Outgoing {
        customer: CUSTOMER.into(),
        subject: Some("Re: My order".into()),
        text: "never sent".into(),
        in_reply_to: None,
        references: Vec::new(),
        auto: false,
    };
    let err = outbox.send(&reply).await.unwrap_err().to_string();
    eprintln!("SMTP refused: {err}");
    assert!(
        err.contains("smtp") && err.contains("certificate"),
        "a clear error: {err}"
    );
    assert!(mailbox(&python, imap, CUSTOMER, &ca, true).await.is_empty());

    // nothing lost: with the right CA the same mail is taken and answered
    let (channel, _inbox) = start(config(
        format!("127.0.0.1:{imap}"),
        "starttls",
        format!("127.0.0.1:{smtps}"),
        "implicit",
        &ca,
    ));
    routed(&channel, 1).await;
    acknowledged(&python, imap, &ca, true).await;
}
