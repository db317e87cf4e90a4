//! Peers of the message-channel tests: `mail-devel` (SMTP + IMAP in one
//! process) and `smpp34` (an SMPP message centre) from PyPI, run from the
//! venv `.ci/run` makes (`.cache/peers-venv`, or `CALLCORE_PEERS_VENV`), and
//! a customer's mail client on Python's smtplib/imaplib.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::process::{Child, Command};

/// The venv's python, when it has `module`; otherwise `None` after a notice
/// (a failure under `CALLCORE_REQUIRE_PEERS=1`).
pub fn python_with(module: &str, test: &str) -> Option<PathBuf> {
    let venv = std::env::var_os("CALLCORE_PEERS_VENV").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.cache/peers-venv"),
        PathBuf::from,
    );
    let python = venv.join("bin/python");
    let ok = std::process::Command::new(&python)
        .args(["-c", &format!("import {module}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        assert!(
            std::env::var("CALLCORE_REQUIRE_PEERS").as_deref() != Ok("1"),
            "{module} is required (CALLCORE_REQUIRE_PEERS=1) but not in {}",
            venv.display()
        );
        eprintln!(
            "NOTICE: {module} not found in {}; skipping {test} (.ci/run installs it)",
            venv.display()
        );
        return None;
    }
    Some(python)
}

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Waits until something listens on `port` (up to 10 s).
pub async fn wait_listening(port: u16) {
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

/// A running `mail-devel` in multi-user mode: every address has its own
/// mailbox, every login's password is `secret`.
pub struct MailServer {
    child: Child,
    pub smtp: u16,
    pub imap: u16,
    python: PathBuf,
}

impl MailServer {
    pub async fn start(python: PathBuf) -> Self {
        Self::start_on(python, free_port(), free_port()).await
    }

    /// On fixed ports (a test's own block, checked unused by other tests).
    pub async fn start_on(python: PathBuf, smtp: u16, imap: u16) -> Self {
        let log = std::env::temp_dir().join(format!("callcore-mail-devel-{smtp}.log"));
        let child = Command::new(&python)
            .args([
                "-m",
                "mail_devel",
                "--host",
                "127.0.0.1",
                "--no-http",
                "--multi-user",
                "--user",
                "support@center.test",
                "--password",
                "secret",
                "--smtp-port",
                &smtp.to_string(),
                "--imap-port",
                &imap.to_string(),
            ])
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&log).unwrap())
            .stderr(std::fs::File::create(log.with_extension("err")).unwrap())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        wait_listening(smtp).await;
        wait_listening(imap).await;
        Self {
            child,
            smtp,
            imap,
            python,
        }
    }

    /// Sends `raw` from `from` to `to` through SMTP.
    pub async fn send(&self, from: &str, to: &str, raw: &str) {
        let mut child = Command::new(&self.python)
            .arg(script())
            .args(["send", &self.smtp.to_string(), from, to])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(raw.as_bytes()).await.unwrap();
        drop(stdin);
        let out = child.wait_with_output().await.unwrap();
        assert!(
            out.status.success(),
            "send failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// The mailbox of `user`, oldest first.
    pub async fn mailbox(&self, user: &str) -> Vec<serde_json::Value> {
        let out = Command::new(&self.python)
            .arg(script())
            .args(["fetch", &self.imap.to_string(), user, "secret"])
            .stdin(Stdio::null())
            .output()
            .await
            .unwrap();
        assert!(
            out.status.success(),
            "fetch failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice::<Vec<serde_json::Value>>(&out.stdout).unwrap()
    }

    /// Waits (up to `secs`) until `user`'s mailbox has `n` messages.
    pub async fn wait_mailbox(&self, user: &str, n: usize, secs: u64) -> Vec<serde_json::Value> {
        let mut last = Vec::new();
        for _ in 0..secs * 5 {
            last = self.mailbox(user).await;
            if last.len() >= n {
                return last;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        panic!("{user} has {} messages, not {n}: {last:?}", last.len());
    }
}

impl Drop for MailServer {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/channels_support/mail_client.py")
}

/// A running message centre (`smpp34`, driven by `smsc.py`).
pub struct Smsc {
    child: Child,
    pub port: u16,
    log: PathBuf,
}

impl Smsc {
    pub async fn start(python: PathBuf) -> Self {
        let port = free_port();
        let log = std::env::temp_dir().join(format!("callcore-smsc-{port}.jsonl"));
        let _ = std::fs::remove_file(&log);
        let child = Command::new(&python)
            .arg(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/channels_support/smsc.py"))
            .arg(port.to_string())
            .arg(&log)
            .stdin(Stdio::piped())
            .stdout(std::fs::File::create(log.with_extension("out")).unwrap())
            .stderr(std::fs::File::create(log.with_extension("err")).unwrap())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        wait_listening(port).await;
        Self { child, port, log }
    }

    /// Delivers a mobile-originated message (`octets` in `dc`, `esm_class`).
    pub async fn deliver(&mut self, from: &str, octets: &[u8], dc: u8, esm: u8) {
        let hex: String = octets.iter().map(|b| format!("{b:02x}")).collect();
        let line =
            serde_json::json!({"from": from, "to": "12345", "dc": dc, "esm": esm, "hex": hex})
                .to_string()
                + "\n";
        let stdin = self.child.stdin.as_mut().unwrap();
        stdin.write_all(line.as_bytes()).await.unwrap();
        stdin.flush().await.unwrap();
    }

    /// Its log so far.
    pub fn log(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// The submits so far.
    pub fn submits(&self) -> Vec<serde_json::Value> {
        self.log()
            .into_iter()
            .filter(|e| e["op"] == "submit")
            .collect()
    }

    /// Waits (up to `secs`) until the log has `n` entries of `op`.
    pub async fn wait_for(&self, op: &str, n: usize, secs: u64) -> Vec<serde_json::Value> {
        let mut last = Vec::new();
        for _ in 0..secs * 20 {
            last = self.log().into_iter().filter(|e| e["op"] == op).collect();
            if last.len() >= n {
                return last;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "the message centre logged {} `{op}`, not {n}: {:?}",
            last.len(),
            self.log()
        );
    }
}

impl Drop for Smsc {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

/// Hex octets as bytes.
pub fn unhex(hex: &str) -> Vec<u8> {
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect()
}
