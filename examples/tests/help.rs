//! Every example answers `--help` with its usage (exit 0) and refuses an unknown flag by
//! name (non-zero exit).
//!
//! The examples are the binaries `cargo test -p examples` builds beside this test
//! (`target/<profile>/examples/<name>`); the list comes from `examples/Cargo.toml`, so a
//! new example is checked as soon as it is declared there.

#[path = "../cli.rs"]
mod cli;

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
    // A binary older than its source (or the shared cli.rs) was not rebuilt by this run.
    let built = modified(&path);
    for source in [format!("{name}.rs"), "cli.rs".to_owned()] {
        let source = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(source);
        if source.exists() {
            assert!(
                modified(&source) <= built,
                "{} is older than {}: run `cargo test -p examples` (it rebuilds the examples)",
                path.display(),
                source.display()
            );
        }
    }
    path
}

fn modified(path: &std::path::Path) -> std::time::SystemTime {
    std::fs::metadata(path)
        .and_then(|m| m.modified())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn every_example_prints_its_help_and_exits_0() {
    for name in example_names() {
        let out = Command::new(binary(&name))
            .arg("--help")
            .output()
            .unwrap_or_else(|e| panic!("running {name} --help: {e}"));
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{name} --help exited with {}: {stdout}{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            stdout.contains(&format!("usage: {name}")),
            "{name} --help prints no usage line:\n{stdout}"
        );
        // Every flag line says its default (or that it is required).
        for line in stdout.lines().filter(|l| l.trim_start().starts_with("--")) {
            assert!(
                line.contains("(default: ") || line.contains("(required)"),
                "{name} --help: a flag without its default: {line}"
            );
        }
        assert!(
            stdout.contains("example:"),
            "{name} --help gives no example command line"
        );
    }
}

/// The flags an example's own parser matches on (`"--seed" => ...` arms).
fn parser_flags(name: &str) -> Vec<String> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("{name}.rs"));
    let source = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    let mut flags = Vec::new();
    for line in source.lines().map(str::trim) {
        let Some((pattern, _)) = line.split_once("=>") else {
            continue;
        };
        if !line.starts_with("\"--") {
            continue;
        }
        let pattern = pattern.split(" if ").next().unwrap_or(pattern);
        for alt in pattern.split('|') {
            let flag = alt.trim().trim_matches('"');
            if flag.starts_with("--") && flag != "--help" && !flags.iter().any(|f| f == flag) {
                flags.push(flag.to_owned());
            }
        }
    }
    flags
}

/// A flag the parser takes but the help table lacks would be refused by the check
/// before the parser sees it (e.g. a flag added to a parser only).
#[test]
fn every_flag_an_example_parses_is_in_its_help() {
    for name in example_names() {
        let out = Command::new(binary(&name))
            .arg("--help")
            .output()
            .unwrap_or_else(|e| panic!("running {name} --help: {e}"));
        let stdout = String::from_utf8_lossy(&out.stdout);
        for flag in parser_flags(&name) {
            let listed = stdout.lines().any(|l| {
                let l = l.trim_start();
                l.strip_prefix(flag.as_str())
                    .is_some_and(|rest| rest.is_empty() || rest.starts_with(' '))
            });
            assert!(
                listed,
                "{name} parses {flag} but its --help (the CLI table in examples/{name}.rs) \
                 does not list it, so the check refuses it"
            );
        }
    }
}

#[test]
fn every_example_names_an_unknown_flag_and_fails() {
    for name in example_names() {
        let out = Command::new(binary(&name))
            .arg("--no-such-flag")
            .output()
            .unwrap_or_else(|e| panic!("running {name} --no-such-flag: {e}"));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{name} accepted --no-such-flag");
        assert!(
            stderr.contains("--no-such-flag"),
            "{name} does not name the bad flag:\n{stderr}"
        );
    }
}

#[test]
fn a_flag_missing_its_value_is_named() {
    let out = Command::new(binary("simulate"))
        .args(["--agents", "12", "--hours"])
        .output()
        .unwrap_or_else(|e| panic!("running simulate: {e}"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("`--hours` needs a value"), "{stderr}");
}

const SAMPLE: cli::Cli = cli::Cli {
    name: "sample",
    about: "a sample",
    flags: &[
        cli::opt("--seed", "N", "42", "seed"),
        cli::required("--model", "FILE", "model"),
        cli::switch("--json", "json"),
    ],
    examples: &["sample --model m.json"],
};

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

#[test]
fn the_check_passes_known_flags_and_values_through() {
    // A value that looks like a flag belongs to the flag before it.
    let checked = SAMPLE.check_args(&args(&["--model", "--json", "--seed", "7", "--json"]));
    assert_eq!(checked, Ok(cli::Checked::Run));
    assert_eq!(SAMPLE.check_args(&args(&["-h"])), Ok(cli::Checked::Help));
    assert_eq!(
        SAMPLE.check_args(&args(&["--seed"])),
        Err("`--seed` needs a value: N".to_owned())
    );
    assert_eq!(
        SAMPLE.check_args(&args(&["--seed=3"])),
        Err("unknown flag `--seed=3`".to_owned())
    );
    assert!(SAMPLE.check_args(&args(&["stray"])).is_err());
}

#[test]
fn the_help_lists_every_flag_with_its_default() {
    let help = SAMPLE.help();
    assert!(
        help.contains("usage: sample [--seed N] --model FILE [--json]"),
        "{help}"
    );
    assert!(help.contains("--seed N"), "{help}");
    assert!(help.contains("(default: 42)"), "{help}");
    assert!(help.contains("(required)"), "{help}");
    assert!(help.contains("(default: off)"), "{help}");
    assert!(help.contains("sample --model m.json"), "{help}");
}
