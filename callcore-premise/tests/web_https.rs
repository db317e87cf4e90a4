//! HTTPS on the premise's HTTP listener (`[http] tls`), checked with curl, a
//! client nobody here wrote: the operations route and the web API answer over
//! TLS with the configured certificate, the session cookie is `Secure`, plain
//! HTTP on the TLS port gets nothing, and a client that opens a connection and
//! never says hello holds up no one else.
//!
//! Skipped with a notice without curl, unless `CALLCORE_REQUIRE_PEERS=1`.

#![allow(clippy::unwrap_used, clippy::expect_used)]
#![allow(clippy::disallowed_methods)]

#[path = "call_support/mod.rs"]
mod support;

use std::process::{Command, Stdio};

use callcore_premise::Premise;
use support::{config, data_dir};

fn curl_ready() -> bool {
    let found = Command::new("curl")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .is_ok();
    if !found {
        assert!(
            std::env::var("CALLCORE_REQUIRE_PEERS").as_deref() != Ok("1"),
            "curl is required (CALLCORE_REQUIRE_PEERS=1) but not installed"
        );
        eprintln!("NOTICE: curl not found; skipping the HTTPS test");
    }
    found
}

/// Runs curl off the runtime's threads; returns (exit code, stdout).
async fn curl(args: Vec<String>) -> (i32, String) {
    tokio::task::spawn_blocking(move || {
        let out = Command::new("curl")
            .args(["-sS", "--max-time", "10"])
            .args(&args)
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_web_listener_speaks_tls_with_the_configured_certificate() {
    if !curl_ready() {
        return;
    }
    let dir = data_dir("web-https");
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let (cert_pem, key_pem) = (dir.join("web.pem"), dir.join("web.key"));
    std::fs::write(&cert_pem, cert.cert.pem()).unwrap();
    std::fs::write(&key_pem, cert.key_pair.serialize_pem()).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&key_pem, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let mut cfg = config(
        &dir,
        "[[users]]\nid = \"boss\"\npassword = \"boss-password\"\nrole = \"supervisor\"\n",
    );
    cfg.http.enabled = true;
    cfg.http.bind = Some("127.0.0.1:0".parse().unwrap());
    cfg.http.tls = Some(callcore_premise::web_tls::HttpTlsSection {
        cert: cert_pem.clone(),
        key: key_pem.clone(),
    });
    let premise = Premise::start(cfg).await.unwrap();
    let addr = premise.http_addr().unwrap();
    let base = format!("https://localhost:{}", addr.port());
    let resolve = format!("localhost:{}:127.0.0.1", addr.port());
    assert!(
        premise
            .banner()
            .contains(&format!("Web API: https://{addr}/api/v1")),
        "{}",
        premise.banner()
    );

    // a client that connects and never starts its handshake takes one slot only
    let silent = tokio::net::TcpStream::connect(addr).await.unwrap();

    let with_ca = |path: &str| {
        vec![
            "--cacert".into(),
            cert_pem.display().to_string(),
            "--resolve".into(),
            resolve.clone(),
            format!("{base}{path}"),
        ]
    };
    let (code, body) = curl(with_ca("/healthz")).await;
    assert_eq!(code, 0, "curl over TLS failed: {body}");
    assert!(body.contains("alive"), "{body}");

    // without our certificate the client refuses the server (the chain is ours)
    let (code, _) = curl(vec![
        "--resolve".into(),
        resolve.clone(),
        format!("{base}/healthz"),
    ])
    .await;
    assert_ne!(
        code, 0,
        "curl trusted a self-signed certificate it was not given"
    );

    // plain HTTP on the TLS port gets no HTTP answer
    let (code, body) = curl(vec![format!("http://{addr}/healthz")]).await;
    assert!(code != 0 && body.is_empty(), "plain HTTP answered: {body}");

    // the web API over TLS: the session cookie is Secure
    let mut login = with_ca("/api/v1/login");
    login.splice(
        0..0,
        [
            "-i".to_owned(),
            "-H".into(),
            "Content-Type: application/json".into(),
            "--data".into(),
            r#"{"user":"boss","password":"boss-password"}"#.into(),
        ],
    );
    let (code, answer) = curl(login).await;
    assert_eq!(code, 0, "{answer}");
    let cookie = answer
        .lines()
        .find(|l| l.to_ascii_lowercase().starts_with("set-cookie:"))
        .unwrap_or_else(|| panic!("no cookie in {answer}"));
    assert!(
        cookie.contains("; Secure") && cookie.contains("HttpOnly"),
        "{cookie}"
    );

    drop(silent);
    premise.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_world_readable_key_is_refused_naming_the_field() {
    let dir = data_dir("web-https-mode");
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let (cert_pem, key_pem) = (dir.join("web.pem"), dir.join("web.key"));
    std::fs::write(&cert_pem, cert.cert.pem()).unwrap();
    std::fs::write(&key_pem, cert.key_pair.serialize_pem()).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&key_pem, std::fs::Permissions::from_mode(0o644)).unwrap();
        let e =
            callcore_premise::web_tls::server_config(&callcore_premise::web_tls::HttpTlsSection {
                cert: cert_pem,
                key: key_pem,
            })
            .unwrap_err()
            .to_string();
        assert!(e.contains("http.tls.key") && e.contains("readable"), "{e}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
