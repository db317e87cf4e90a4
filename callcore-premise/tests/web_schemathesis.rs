//! schemathesis (PyPI), a property-based API tester nobody here wrote, runs
//! against the running premise's `/api/openapi.json` with an administrator's
//! API token: every operation with generated input, checking that no answer
//! is a 5xx and that statuses, content types and bodies match the document.
//!
//! Skipped with a notice without `st` (pip install schemathesis), unless
//! `CALLCORE_REQUIRE_PEERS=1`.

#![allow(clippy::unwrap_used, clippy::expect_used)]
#![allow(clippy::disallowed_methods)]

#[path = "call_support/mod.rs"]
mod support;
#[path = "web_support/mod.rs"]
mod web;

use std::process::Stdio;

use callcore_premise::Premise;
use support::{config, data_dir};
use web::{http, login};

fn schemathesis_ready() -> bool {
    let found = std::process::Command::new("st")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        assert!(
            std::env::var("CALLCORE_REQUIRE_PEERS").as_deref() != Ok("1"),
            "schemathesis is required (CALLCORE_REQUIRE_PEERS=1) but `st` is not installed"
        );
        eprintln!("NOTICE: schemathesis not found; skipping (pip install schemathesis)");
    }
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_no_server_error_and_no_answer_off_the_document() {
    if !schemathesis_ready() {
        return;
    }
    let dir = data_dir("web-schemathesis");
    let accounts = "[[agents]]\nid = \"1001\"\nname = \"Alice\"\npassword = \"alice1001\"\nskills = [\"support\"]\n\
         [[users]]\nid = \"admin\"\npassword = \"admin-password\"\nrole = \"administrator\"\n";
    let mut cfg = config(&dir, accounts);
    cfg.http.enabled = true;
    cfg.http.bind = Some("127.0.0.1:0".parse().unwrap());
    let premise = Premise::start(cfg).await.unwrap();
    let addr = premise.http_addr().unwrap();
    let admin = login(addr, "admin", "admin-password").await;
    let token = http(addr, "POST", "/api/v1/tokens", Some(&admin), None).await;
    assert_eq!(token.status, 201, "{}", token.body);
    let token = token.json()["token"].as_str().unwrap().to_owned();
    let out = tokio::process::Command::new("st")
        .arg("run")
        .arg(format!("http://{addr}/api/openapi.json"))
        .args(["--header", &format!("Authorization: Bearer {token}")])
        .args([
            "--checks",
            "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance",
        ])
        .args(["--max-examples", "12", "--request-timeout", "10", "--no-color"])
        .env("SCHEMATHESIS_HOOKS", "")
        .kill_on_drop(true)
        .output()
        .await
        .expect("st runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    eprintln!("{stdout}\n{stderr}");
    premise.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        out.status.success(),
        "schemathesis found failures (output above)"
    );
}
