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

use clap::Parser;

/// One simulated day of an outbound campaign (callcore-dialer's simulator).
#[derive(Debug, Parser)]
#[command(
    name = "dialer_sim",
    args_override_self = true,
    after_help = "Examples:\n  cargo run --release --example dialer_sim -- --mode predictive --seed 1 --json"
)]
struct Args {
    /// pacing mode
    #[arg(
        long,
        value_name = "preview|progressive|power|predictive",
        default_value = "predictive",
        value_parser = ["preview", "progressive", "power", "predictive"]
    )]
    mode: String,
    /// seed of every random draw
    #[arg(long, value_name = "N", default_value_t = 1)]
    seed: u64,
    /// print the report as one JSON object [default: off]
    #[arg(long)]
    json: bool,
    /// agents on the campaign
    #[arg(long, value_name = "N", default_value_t = 50)]
    agents: u32,
    /// probability that a dialled number answers
    #[arg(long, value_name = "P", default_value_t = 0.3)]
    answer_prob: f64,
    /// the answer probability drifts linearly to P over the day [default: off]
    #[arg(long, value_name = "P")]
    answer_prob_end: Option<f64>,
    /// mean talk time (its spread is half of it)
    #[arg(long, value_name = "S", default_value_t = 120.0)]
    talk_mean_secs: f64,
    /// length of the day
    #[arg(long, value_name = "H", default_value_t = 8.0)]
    hours: f64,
}

fn run() -> Result<(), String> {
    let args = Args::parse();
    let mode = match args.mode.as_str() {
        "preview" => DialMode::Preview,
        "progressive" => DialMode::Progressive,
        "power" => DialMode::Power,
        _ => DialMode::Predictive,
    };
    let (seed, json) = (args.seed, args.json);
    let scenario = Scenario {
        agents: args.agents,
        answer_prob: args.answer_prob,
        answer_prob_end: args.answer_prob_end,
        talk_mean_secs: args.talk_mean_secs,
        talk_sd_secs: args.talk_mean_secs / 2.0,
        hours: args.hours,
        ..Scenario::default()
    };
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
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("dialer_sim: {e}");
            ExitCode::from(2)
        }
    }
}
