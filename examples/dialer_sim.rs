//! One simulated day of an outbound campaign (callcore-dialer's simulator).
//!
//! ```text
//! cargo run --release --example dialer_sim -- --mode predictive --seed 1 --json
//! ```
//!
//! Options: `--mode <preview|progressive|power|predictive>` (default predictive),
//! `--seed N` (1), `--json`, and the scenario: `--agents N` (50),
//! `--answer-prob P` (0.3), `--talk-mean-secs S` (120), `--hours H` (8),
//! `--answer-prob-end P` (the answer probability drifts linearly to P over the
//! day; off by default).

use callcore::DialMode;
use callcore_dialer::sim::{Scenario, simulate};
use std::process::ExitCode;

#[path = "cli.rs"]
mod cli;

const CLI: cli::Cli = cli::Cli {
    name: "dialer_sim",
    about: "one simulated day of an outbound campaign (callcore-dialer's simulator)",
    flags: &[
        cli::opt(
            "--mode",
            "preview|progressive|power|predictive",
            "predictive",
            "pacing mode",
        ),
        cli::opt("--seed", "N", "1", "seed of every random draw"),
        cli::switch("--json", "print the report as one JSON object"),
        cli::opt("--agents", "N", "50", "agents on the campaign"),
        cli::opt(
            "--answer-prob",
            "P",
            "0.3",
            "probability that a dialled number answers",
        ),
        cli::opt(
            "--answer-prob-end",
            "P",
            "off",
            "the answer probability drifts linearly to P over the day",
        ),
        cli::opt(
            "--talk-mean-secs",
            "S",
            "120",
            "mean talk time (its spread is half of it)",
        ),
        cli::opt("--hours", "H", "8", "length of the day"),
    ],
    examples: &["cargo run --release --example dialer_sim -- --mode predictive --seed 1 --json"],
};

fn parse<T: std::str::FromStr>(flag: &str, value: Option<String>) -> Result<T, String> {
    let v = value.ok_or_else(|| format!("{flag} needs a value"))?;
    v.parse().map_err(|_| format!("{flag}: cannot read {v:?}"))
}

fn run() -> Result<(), String> {
    let mut scenario = Scenario::default();
    let mut mode = DialMode::Predictive;
    let mut seed = 1u64;
    let mut json = false;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        match flag.as_str() {
            "--mode" => {
                mode = match args.next().as_deref() {
                    Some("preview") => DialMode::Preview,
                    Some("progressive") => DialMode::Progressive,
                    Some("power") => DialMode::Power,
                    Some("predictive") => DialMode::Predictive,
                    other => {
                        return Err(format!(
                            "--mode: expected preview, progressive, power or predictive, got {other:?}"
                        ));
                    }
                };
            }
            "--seed" => seed = parse(&flag, args.next())?,
            "--json" => json = true,
            "--agents" => scenario.agents = parse(&flag, args.next())?,
            "--answer-prob" => scenario.answer_prob = parse(&flag, args.next())?,
            "--answer-prob-end" => scenario.answer_prob_end = Some(parse(&flag, args.next())?),
            "--talk-mean-secs" => {
                scenario.talk_mean_secs = parse(&flag, args.next())?;
                scenario.talk_sd_secs = scenario.talk_mean_secs / 2.0;
            }
            "--hours" => scenario.hours = parse(&flag, args.next())?,
            "-h" | "--help" => {
                println!(
                    "dialer_sim --mode <preview|progressive|power|predictive> --seed N [--json] [--agents N] [--answer-prob P] [--answer-prob-end P] [--talk-mean-secs S] [--hours H]"
                );
                return Ok(());
            }
            other => return Err(format!("unknown option {other:?} (try --help)")),
        }
    }
    let report = simulate(&scenario, mode, seed).map_err(|e| e.to_string())?;
    if json {
        println!(
            "{}",
            serde_json::to_string(&report).map_err(|e| e.to_string())?
        );
    } else {
        println!(
            "{:<12} seed {seed}: occupancy {:.3}, abandonment {:.2}% ({} of {} answered by a person), {:.2} connects/agent-hour, {} attempts",
            report.mode,
            report.occupancy,
            report.abandonment_rate * 100.0,
            report.abandoned,
            report.answered_by_person,
            report.connects_per_agent_hour,
            report.attempts
        );
    }
    Ok(())
}

fn main() -> ExitCode {
    CLI.check();
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("dialer_sim: {e}");
            ExitCode::from(2)
        }
    }
}
