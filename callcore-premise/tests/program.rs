//! The installed program, `callcore-premise` (the binary `cargo install
//! callcore-premise` gives), and its systemd unit `dist/callcore-premise.service`:
//! the flags of the `premise` example with their defaults, `--check-config` on a good
//! and a wrong file, `--print-config` giving a config `--check-config` accepts, and
//! the unit checked by systemd's own tools (`systemd-analyze verify` and
//! `security --offline`; skipped with a notice without systemd-analyze, failing
//! instead when `CALLCORE_REQUIRE_PEERS=1`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn center(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_callcore-premise"))
        .args(args)
        .output()
        .expect("callcore-premise runs")
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("callcore-program-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn the_program_has_the_examples_flags_with_their_defaults() {
    let out = center(&["--help"]);
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(help.contains("Usage: callcore-premise"), "{help}");
    for flag in [
        "--config <FILE>",
        "--check-config",
        "--demo-calls <N>",
        "--print-config",
        "--web <ADDR|off>",
        "--http <ADDR|off>",
        "--log-format <text|json>",
    ] {
        assert!(help.contains(flag), "{flag} missing:\n{help}");
    }
    assert!(help.contains("[default: text]"), "{help}");
    let out = center(&["--no-such-flag"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--no-such-flag"));
}

#[test]
fn check_config_accepts_the_printed_defaults_and_names_a_wrong_field() {
    let dir = scratch("check");
    let printed = center(&["--print-config"]);
    assert!(printed.status.success());
    let file = dir.join("center.toml");
    std::fs::write(&file, &printed.stdout).unwrap();
    let out = center(&["--config", file.to_str().unwrap(), "--check-config"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.starts_with("config OK: 2 queue(s), 2 agent(s), SIP on 127.0.0.1:5060"),
        "{stdout}"
    );
    // nothing was opened: no data folder appears
    assert!(!dir.join("premise-data").exists());

    for (toml, field) in [
        (
            "[[queues]]\nid = \"billing\"\nskill = \"billing\"\n\
             [[queues]]\nid = \"support\"\nskill = \"support\"\nstrategy = \"fastest\"\n",
            "queues[1].strategy",
        ),
        ("[storage]\ndatabase = \"mysql\"\n", "storage.database"),
        ("[media]\nrtp_first = 80\n", "media.rtp_first"),
    ] {
        let bad = dir.join("bad.toml");
        std::fs::write(&bad, format!("{toml}{AGENT}")).unwrap();
        let out = center(&["--check-config", "--config", bad.to_str().unwrap()]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{toml}: {stderr}");
        assert!(stderr.contains(field), "{toml}: {stderr}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// A file names its agents (only the embedded defaults have some of their own).
const AGENT: &str =
    "[[agents]]\nid = \"2001\"\ncontact = \"sip:2001@127.0.0.1:5999\"\nskills = [\"support\"]\n";

fn systemd_analyze() -> bool {
    let found = Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        if std::env::var("CALLCORE_REQUIRE_PEERS").as_deref() == Ok("1") {
            panic!("CALLCORE_REQUIRE_PEERS=1 but systemd-analyze is not installed");
        }
        eprintln!("NOTICE: systemd-analyze not found; skipping the unit-file check");
    }
    found
}

#[test]
fn the_service_unit_verifies_and_is_confined() {
    if !systemd_analyze() {
        return;
    }
    let dir = scratch("unit");
    let unit = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("dist/callcore-premise.service"),
    )
    .unwrap();
    for wanted in [
        "DynamicUser=yes",
        "StateDirectory=callcore-premise",
        "ProtectSystem=strict",
        "NoNewPrivileges=yes",
        "--check-config",
    ] {
        assert!(unit.contains(wanted), "the unit lacks {wanted}");
    }
    assert!(
        !unit
            .lines()
            .any(|l| l.trim_start().starts_with("AmbientCapabilities")),
        "no capability is needed above port 1024"
    );
    // the unit as installed, with the binary this test built where it expects one
    let path = dir.join("callcore-premise.service");
    std::fs::write(
        &path,
        unit.replace(
            "/usr/local/bin/callcore-premise",
            env!("CARGO_BIN_EXE_callcore-premise"),
        ),
    )
    .unwrap();
    let verify = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&path)
        .current_dir(&dir)
        .output()
        .unwrap();
    assert!(
        verify.status.success() && verify.stderr.is_empty(),
        "systemd-analyze verify: {}",
        String::from_utf8_lossy(&verify.stderr)
    );
    let security = Command::new("systemd-analyze")
        .args(["security", "--offline=true", "--no-pager"])
        .arg(&path)
        .current_dir(&dir)
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&security.stdout);
    let exposure: f64 = report
        .lines()
        .find_map(|l| {
            l.split("exposure level for callcore-premise.service: ")
                .nth(1)
        })
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|x| x.parse().ok())
        .unwrap_or_else(|| {
            panic!(
                "no exposure level in: {report}{}",
                String::from_utf8_lossy(&security.stderr)
            )
        });
    // systemd's scale: 0 (confined) to 10 (exposed); "OK" is below 2
    assert!(exposure < 2.0, "exposure {exposure}:\n{report}");
    let _ = std::fs::remove_dir_all(&dir);
}
