//! Staffing calculator: Erlang C (or Erlang A with `--patience`) around the
//! answer, with the smallest agent count that meets the service-level target.
//!
//! ```text
//! cargo run --release --example staffing -- --calls-per-hour 200 --aht 180 \
//!     --target-answer-secs 20 --service-level 0.8 [--patience SECS] [--json] [--simulate]
//! ```
//!
//! `--json` prints exactly one JSON object:
//! `{"recommended": N, "rows": [{"agents": N, "p_wait": f, "asa_secs": f,
//! "service_level": f, "occupancy": f}, ...]}` (plus `p_abandon` with
//! `--patience`); under Erlang C rows where N ≤ A have `p_wait` 1 and the
//! others `null`; with `--patience` (Erlang A) every row has its figures.
//! `--simulate` also runs callcore-sim (the real ACD engine in virtual time,
//! 200 simulated hours per row) and prints its figures beside the formula's.

use callcore_sim::erlang::{StaffingInput, StaffingRow, StaffingTable, staffing_table};
use callcore_sim::{Scenario, SimReport, simulate};
use serde_json::{Value, json};

#[path = "cli.rs"]
mod cli;

use clap::Parser;

/// Staffing calculator: Erlang C (Erlang A with --patience) around the answer, with the
/// smallest agent count that meets the service-level target.
#[derive(Debug, Parser)]
#[command(
    name = "staffing",
    args_override_self = true,
    after_help = "Examples:\n  cargo run --release --example staffing -- --calls-per-hour 200 --aht 180 --target-answer-secs 20 --service-level 0.8"
)]
struct Cmd {
    /// offered calls per hour
    #[arg(long, value_name = "N", required = true, value_parser = cli::finite)]
    calls_per_hour: f64,
    /// mean handle time
    #[arg(long, value_name = "SECS", required = true, value_parser = cli::finite)]
    aht: f64,
    /// answer-time target of the service level
    #[arg(long, value_name = "SECS", required = true, value_parser = cli::finite)]
    target_answer_secs: f64,
    /// share of calls to answer within the target (0.8)
    #[arg(long, value_name = "FRACTION", required = true, value_parser = cli::finite)]
    service_level: f64,
    /// mean caller patience: Erlang A [default: off: Erlang C]
    #[arg(long, value_name = "SECS", value_parser = cli::finite)]
    patience: Option<f64>,
    /// print exactly one JSON object [default: off]
    #[arg(long)]
    json: bool,
    /// also run callcore-sim for each row (200 simulated hours) [default: off]
    #[arg(long)]
    simulate: bool,
}

#[derive(Debug)]
struct Args {
    input: StaffingInput,
    json: bool,
    simulate: bool,
}

fn parse() -> Args {
    let cmd = Cmd::parse();
    Args {
        input: StaffingInput {
            calls_per_hour: cmd.calls_per_hour,
            aht_secs: cmd.aht,
            target_answer_secs: cmd.target_answer_secs,
            service_level: cmd.service_level,
            patience_secs: cmd.patience,
        },
        json: cmd.json,
        simulate: cmd.simulate,
    }
}

fn simulated(input: &StaffingInput, agents: u32) -> Result<SimReport, callcore_sim::SimError> {
    let mut scenario = Scenario::single_queue(
        agents,
        input.calls_per_hour,
        input.aht_secs,
        input.patience_secs,
        200.0,
        u64::from(agents),
    );
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    {
        scenario.queues[0].definition.service_level_secs = input.target_answer_secs.round() as u32;
    }
    simulate(scenario)
}

fn row_json(r: &StaffingRow, erlang_a: bool, sim: Option<&SimReport>) -> Value {
    let mut v = json!({
        "agents": r.agents,
        "p_wait": r.p_wait,
        "asa_secs": r.asa_secs,
        "service_level": r.service_level,
        "occupancy": r.occupancy,
    });
    if erlang_a {
        v["p_abandon"] = json!(r.p_abandon);
    }
    if let Some(s) = sim {
        let mut sim_v = json!({
            "p_wait": s.total.p_wait,
            "asa_secs": s.total.asa_secs,
            "service_level": s.total.service_level,
            "occupancy": s.occupancy,
        });
        if erlang_a {
            sim_v["p_abandon"] = json!(s.total.abandon_rate);
            sim_v["mean_wait_secs"] = json!(s.total.mean_wait_secs);
        }
        v["simulated"] = sim_v;
    }
    v
}

fn opt(v: Option<f64>, scale: f64, digits: usize) -> String {
    v.map_or_else(|| "-".to_owned(), |x| format!("{:.*}", digits, x * scale))
}

fn print_table(args: &Args, table: &StaffingTable, sims: &[Option<SimReport>]) -> std::fmt::Result {
    use std::fmt::Write as _;
    let mut out = String::new();
    let i = &args.input;
    let a = i.calls_per_hour * i.aht_secs / 3600.0;
    let model = if i.patience_secs.is_some() {
        "Erlang A"
    } else {
        "Erlang C"
    };
    writeln!(
        out,
        "{model}: {} calls/h, AHT {} s, offered load {a:.2} erlangs, target {:.0}% in {} s{}",
        i.calls_per_hour,
        i.aht_secs,
        i.service_level * 100.0,
        i.target_answer_secs,
        i.patience_secs
            .map_or(String::new(), |p| format!(", mean patience {p} s"))
    )?;
    let abandon = i.patience_secs.is_some();
    write!(out, "  agents  P(wait)   ASA(s)    SL%   occupancy")?;
    if abandon {
        write!(out, "  P(abandon)")?;
    }
    if args.simulate {
        write!(
            out,
            "   | simulated: P(wait)  ASA(s)   SL%{}",
            if abandon { "  P(abandon)" } else { "" }
        )?;
    }
    writeln!(out)?;
    for (k, r) in table.rows.iter().enumerate() {
        let mark = if r.agents == table.recommended {
            "→"
        } else {
            " "
        };
        write!(
            out,
            "{mark} {:>6}  {:>7.4} {:>8} {:>6} {:>10}",
            r.agents,
            r.p_wait,
            opt(r.asa_secs, 1.0, 1),
            opt(r.service_level, 100.0, 1),
            opt(r.occupancy, 100.0, 1),
        )?;
        if abandon {
            write!(out, "  {:>10}", opt(r.p_abandon, 1.0, 4))?;
        }
        if let Some(Some(s)) = sims.get(k) {
            write!(
                out,
                "   |            {:>6.4} {:>7.1} {:>5.1}",
                s.total.p_wait,
                s.total.asa_secs,
                s.total.service_level * 100.0
            )?;
            if abandon {
                write!(out, "  {:>10.4}", s.total.abandon_rate)?;
            }
        }
        writeln!(out)?;
    }
    writeln!(out, "recommended: {} agents (→)", table.recommended)?;
    if args.simulate {
        writeln!(
            out,
            "simulated: callcore-sim running the callcore-acd engine, 200 simulated hours per row"
        )?;
    }
    emit(&out);
    Ok(())
}

/// Writes the report to stdout; a reader that went away (`| head`) is no error.
fn emit(text: &str) {
    use std::io::Write as _;
    let mut stdout = std::io::stdout().lock();
    if let Err(e) = stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
        && e.kind() != std::io::ErrorKind::BrokenPipe
    {
        eprintln!("staffing: {e}");
    }
}

fn main() {
    let args = parse();
    let table = match staffing_table(&args.input) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("staffing: {e}");
            std::process::exit(2);
        }
    };
    let a = args.input.calls_per_hour * args.input.aht_secs / 3600.0;
    let sims: Vec<Option<SimReport>> = table
        .rows
        .iter()
        .map(|r| {
            // Without patience a row with N ≤ A has no steady state to simulate.
            let stable = args.input.patience_secs.is_some() || f64::from(r.agents) > a;
            (args.simulate && stable)
                .then(|| simulated(&args.input, r.agents))
                .transpose()
        })
        .collect::<Result<_, _>>()
        .unwrap_or_else(|e| {
            eprintln!("staffing: simulation failed: {e}");
            std::process::exit(1);
        });
    if args.json {
        let rows: Vec<Value> = table
            .rows
            .iter()
            .zip(&sims)
            .map(|(r, s)| row_json(r, args.input.patience_secs.is_some(), s.as_ref()))
            .collect();
        emit(&format!(
            "{}\n",
            json!({ "recommended": table.recommended, "rows": rows })
        ));
    } else if print_table(&args, &table, &sims).is_err() {
        eprintln!("staffing: the report could not be formatted");
    }
}
