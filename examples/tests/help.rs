//! Every example answers `--help` with its usage, every flag with its default and an
//! example command line (exit 0), refuses an unknown flag by name (exit 2), and keeps
//! the flag names users, scripts and tests run (their command lines are `clap` derive
//! structs; conventions in examples/cli.rs).
//!
//! The examples are the binaries `cargo test -p examples` builds beside this test
//! (`target/<profile>/examples/<name>`); the list comes from `examples/Cargo.toml`, so a
//! new example is checked as soon as it is declared there.

use std::path::PathBuf;
use std::process::Command;

/// The `[[example]]` names of examples/Cargo.toml.
fn example_names() -> Vec<String> {
    let manifest = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml"))
        .unwrap_or_else(|e| panic!("reading examples/Cargo.toml: {e}"));
    let mut names = Vec::new();
    let mut in_example = false;
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            in_example = line == "[[example]]";
        } else if in_example && let Some(rest) = line.strip_prefix("name") {
            let name = rest
                .trim_start()
                .trim_start_matches('=')
                .trim()
                .trim_matches('"');
            names.push(name.to_owned());
        }
    }
    assert!(
        names.len() >= 8,
        "found only {names:?} in examples/Cargo.toml"
    );
    names
}

/// `target/<profile>/examples/<name>`, next to this test's `deps` folder.
fn binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap_or_else(|e| panic!("current_exe: {e}"));
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .unwrap_or_else(|| panic!("no target folder above {}", exe.display()));
    let path = profile_dir.join("examples").join(name);
    assert!(
        path.exists(),
        "{} is missing: run `cargo test -p examples` (it builds the examples), \
         not only `--test help`",
        path.display()
    );
    // A binary older than its source (or the shared cli.rs it includes) was not
    // rebuilt by this run.
    let built = modified(&path);
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let own = dir.join(format!("{name}.rs"));
    let includes_cli = std::fs::read_to_string(&own).is_ok_and(|s| s.contains("mod cli;"));
    let mut sources = vec![own];
    if includes_cli {
        sources.push(dir.join("cli.rs"));
    }
    for source in sources {
        assert!(
            modified(&source) <= built,
            "{} is older than {}: run `cargo test -p examples` (it rebuilds the examples)",
            path.display(),
            source.display()
        );
    }
    path
}

fn modified(path: &std::path::Path) -> std::time::SystemTime {
    std::fs::metadata(path)
        .and_then(|m| m.modified())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn help_of(name: &str) -> String {
    let out = Command::new(binary(name))
        .arg("--help")
        .output()
        .unwrap_or_else(|e| panic!("running {name} --help: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{name} --help exited with {}: {stdout}{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// The flags of a help text's options list, each with its whole entry (the
/// flag's line and the lines under it up to the next flag).
fn flag_entries(help: &str) -> Vec<(String, String)> {
    let mut entries: Vec<(String, String)> = Vec::new();
    let mut in_options = false;
    for line in help.lines() {
        if line.starts_with("Options:") {
            in_options = true;
            continue;
        }
        if !in_options {
            continue;
        }
        if !line.is_empty() && !line.starts_with(' ') {
            break; // the next section (Examples:)
        }
        let trimmed = line.trim_start();
        if trimmed.starts_with('-') {
            let flag = trimmed
                .split([',', ' ', '='])
                .find(|w| w.starts_with("--"))
                .unwrap_or(trimmed)
                .to_owned();
            entries.push((flag, trimmed.to_owned()));
        } else if let Some((_, text)) = entries.last_mut() {
            text.push(' ');
            text.push_str(trimmed);
        }
    }
    entries
}

#[test]
fn every_example_prints_its_help_with_every_default_and_exits_0() {
    for name in example_names() {
        let help = help_of(&name);
        let usage = help
            .lines()
            .find(|l| l.starts_with("Usage: "))
            .unwrap_or_else(|| panic!("{name} --help prints no usage line:\n{help}"));
        assert!(
            usage.starts_with(&format!("Usage: {name}")),
            "{name}: {usage}"
        );
        let entries = flag_entries(&help);
        assert!(
            entries.iter().any(|(f, _)| f == "--help"),
            "{name}: no options list:\n{help}"
        );
        // Every flag says its default, or the usage line shows it is required.
        for (flag, text) in entries
            .iter()
            .filter(|(f, _)| f != "--help" && f != "--version")
        {
            let required = usage.contains(&format!("{flag} <"));
            assert!(
                text.contains("[default: ") || required,
                "{name} --help: {flag} without its default: {text}"
            );
        }
        assert!(
            help.contains("Examples:\n  "),
            "{name} --help gives no example command line"
        );
    }
}

/// The flags users, scripts, tests and docs run, per example: each keeps its name.
const KEPT: &[(&str, &[&str])] = &[
    (
        "premise",
        &[
            "--config",
            "--demo-calls",
            "--print-config",
            "--web",
            "--http",
            "--log-format",
            "--check-config",
        ],
    ),
    ("cloud", &["--nodes", "--config", "--sip", "--node"]),
    (
        "simulate",
        &[
            "--seed",
            "--agents",
            "--calls-per-hour",
            "--aht",
            "--patience",
            "--hours",
            "--router",
            "--strategies",
            "--compare-agents",
            "--day-agents",
        ],
    ),
    ("nlu", &["--model"]),
    (
        "nlu_eval",
        &[
            "--model",
            "--test",
            "--cv",
            "--ood",
            "--no-embeddings",
            "--set",
            "--sweep",
            "--errors",
        ],
    ),
    (
        "media_load",
        &[
            "--calls",
            "--secs",
            "--transcode",
            "--json",
            "--path",
            "--task-per-call",
            "--record",
            "--relay-threads",
            "--gen-threads",
        ],
    ),
    ("sip_uas", &["--bind", "--reply", "--quiet"]),
    (
        "dialer_sim",
        &[
            "--mode",
            "--seed",
            "--json",
            "--agents",
            "--answer-prob",
            "--answer-prob-end",
            "--talk-mean-secs",
            "--hours",
        ],
    ),
    (
        "staffing",
        &[
            "--calls-per-hour",
            "--aht",
            "--target-answer-secs",
            "--service-level",
            "--patience",
            "--json",
            "--simulate",
        ],
    ),
    ("custom_strategy", &[]),
];

#[test]
fn every_example_keeps_its_flag_names() {
    let names = example_names();
    for (name, flags) in KEPT {
        assert!(names.iter().any(|n| n == name), "{name} is not declared");
        let listed: Vec<String> = flag_entries(&help_of(name))
            .into_iter()
            .map(|(f, _)| f)
            .collect();
        for flag in *flags {
            assert!(
                listed.iter().any(|l| l == flag),
                "{name} lost {flag}: {listed:?}"
            );
        }
    }
}

#[test]
fn every_example_names_an_unknown_flag_and_exits_2() {
    for name in example_names() {
        let out = Command::new(binary(&name))
            .arg("--no-such-flag")
            .output()
            .unwrap_or_else(|e| panic!("running {name} --no-such-flag: {e}"));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{name}: {stderr}");
        assert!(
            stderr.contains("--no-such-flag"),
            "{name} does not name the bad flag:\n{stderr}"
        );
    }
}

#[test]
fn a_flag_missing_its_value_or_a_bad_value_is_named() {
    for (args, named) in [
        (&["--agents", "12", "--hours"][..], "--hours"),
        (&["--router", "fastest"][..], "--router"),
        (&["--agents", "0"][..], "--agents"),
    ] {
        let out = Command::new(binary("simulate"))
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("running simulate: {e}"));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(named), "{args:?}: {stderr}");
    }
}

#[test]
fn the_premise_checks_a_config_without_starting() {
    let dir = std::env::temp_dir().join(format!("callcore-check-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    let good = dir.join("good.toml");
    std::fs::write(
        &good,
        "[sip]\nbind = \"127.0.0.1:5999\"\n\
         [[agents]]\nid = \"2001\"\ncontact = \"sip:2001@127.0.0.1:5998\"\nskills = [\"support\"]\n",
    ).unwrap_or_else(|e| panic!("{e}"));
    let out = Command::new(binary("premise"))
        .args(["--check-config", "--config"])
        .arg(&good)
        .output()
        .unwrap_or_else(|e| panic!("running premise: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.starts_with("config OK"), "{stdout}");
    assert!(stdout.contains("127.0.0.1:5999"), "{stdout}");
    // a wrong value: exit 2 naming the field
    let bad = dir.join("bad.toml");
    std::fs::write(
        &bad,
        "[media]\nrtp_first = 80\n\
         [[agents]]\nid = \"2001\"\ncontact = \"sip:2001@127.0.0.1:5998\"\nskills = [\"support\"]\n",
    ).unwrap_or_else(|e| panic!("{e}"));
    let out = Command::new(binary("premise"))
        .args(["--check-config", "--config"])
        .arg(&bad)
        .output()
        .unwrap_or_else(|e| panic!("running premise: {e}"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("media.rtp_first"), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}
