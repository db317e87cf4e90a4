//! The premise center as a program: the `callcore-premise` binary
//! (`cargo install callcore-premise`) and the `premise` example
//! (`cargo run --release --example premise`) both run [`run`].
//!
//! ```text
//! callcore-premise                          # the embedded defaults, until SIGTERM or Ctrl-C
//! callcore-premise --config /etc/callcore-premise/center.toml
//! callcore-premise --config center.toml --check-config   # validate, print a summary, exit
//! callcore-premise --print-config > center.toml          # the defaults, as TOML
//! callcore-premise --demo-calls 3                        # self-driven calls, summary, exit
//! callcore-premise --web 0.0.0.0:8080 --log-format json
//! ```
//!
//! SIGTERM or Ctrl-C drains the center (new calls get 503, calls in progress go
//! on for up to `drain_secs`, then are hung up with their records written) and
//! the program exits 0. Exit codes: 0 done, 1 the center could not start, 2 a
//! wrong command line or config (the field at fault is named on stderr).
//!
//! Your own strategy or flows in the same program: build a binary of your own
//! that calls [`run_with`] with a [`PremiseBuilder`] maker.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches, Parser};

use crate::demo::run_demo_calls;
use crate::{DEFAULT_CONFIG, Premise, PremiseBuilder, PremiseConfig};

/// The program's command line (every flag of the `premise` example).
#[derive(Debug, Clone, Parser)]
#[command(
    name = "callcore-premise",
    version,
    args_override_self = true,
    about = "The on-premise callcore center in one process (SIP, RTP media, IVR, ACD, \
             SQLite, recordings); SIGTERM or Ctrl-C drains it",
    after_help = "Examples:\n  \
        callcore-premise --demo-calls 3\n  \
        callcore-premise --config center.toml --check-config\n  \
        callcore-premise --config center.toml --http 0.0.0.0:9100 --log-format json"
)]
#[non_exhaustive]
pub struct CenterArgs {
    /// the center's TOML config [default: the embedded defaults, see --print-config]
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// check the config (with this build's drivers and strategies) and exit: 0 when it is valid, 2 naming the field at fault [default: off]
    #[arg(long)]
    pub check_config: bool,
    /// place N self-driven calls, print a summary, exit [default: off: run until Ctrl-C]
    #[arg(long, value_name = "N")]
    pub demo_calls: Option<usize>,
    /// print the embedded default config (TOML) and exit [default: off]
    #[arg(long)]
    pub print_config: bool,
    /// the HTTP listener: web API (/api/v1, /api/openapi.json), browser phone, /metrics, /healthz, /readyz [default: the config's [http] bind, 127.0.0.1:8080]
    #[arg(long, value_name = "ADDR|off", value_parser = listener, overrides_with = "http")]
    pub web: Option<Listener>,
    /// the older name of --web [default: as --web]
    #[arg(long, value_name = "ADDR|off", value_parser = listener, overrides_with = "web")]
    pub http: Option<Listener>,
    /// log lines as text or one JSON object each
    #[arg(long, value_name = "text|json", default_value = "text", value_parser = ["text", "json"])]
    pub log_format: String,
}

/// `--web`/`--http`: an address, or `off`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listener {
    /// No HTTP listener.
    Off,
    /// Listen here.
    At(std::net::SocketAddr),
}

fn listener(value: &str) -> Result<Listener, String> {
    if value == "off" {
        return Ok(Listener::Off);
    }
    value
        .parse()
        .map(Listener::At)
        .map_err(|_| format!("`{value}` is not an address (IP:port) or `off`"))
}

impl CenterArgs {
    /// The process's command line, with `name` in the usage and help (`premise`
    /// for the example, `callcore-premise` for the program); prints the help or
    /// the error (exit 2) and exits when the command line asks or is wrong.
    #[must_use]
    pub fn parse_as(name: &'static str) -> CenterArgs {
        let run = if name == "callcore-premise" {
            name.to_owned()
        } else {
            format!("cargo run --release --example {name} --")
        };
        let matches = CenterArgs::command()
            .name(name)
            .bin_name(name)
            .after_help(format!(
                "Examples:\n  {run} --demo-calls 3\n  {run} --config center.toml --check-config\n  \
                 {run} --config center.toml --http 0.0.0.0:9100 --log-format json"
            ))
            .get_matches();
        CenterArgs::from_arg_matches(&matches).unwrap_or_else(|e| e.exit())
    }

    /// The listener the command line sets (`--web` or `--http`, the later one).
    #[must_use]
    pub fn listener(&self) -> Option<Listener> {
        self.web.or(self.http)
    }
}

/// Runs the center of the command line with callcore-acd's strategies and the IVR.
pub async fn run(args: CenterArgs) -> ExitCode {
    run_with(args, Premise::builder).await
}

/// Runs the center of the command line, assembled by `builder` from its config
/// (your strategies, router or flows: [`crate::builder`]).
pub async fn run_with(
    args: CenterArgs,
    builder: impl FnOnce(PremiseConfig) -> PremiseBuilder,
) -> ExitCode {
    if args.print_config {
        print!("{DEFAULT_CONFIG}");
        return ExitCode::SUCCESS;
    }
    let mut config = match PremiseConfig::load(args.config.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    match args.listener() {
        Some(Listener::Off) => config.http.enabled = false,
        Some(Listener::At(addr)) => {
            config.http.enabled = true;
            config.http.bind = Some(addr);
        }
        None => {}
    }
    let builder = builder(config);
    if args.check_config {
        return match builder.check() {
            Ok(()) => {
                let c = builder.config();
                println!(
                    "config OK: {} queue(s), {} agent(s), SIP on {}, data in {}",
                    c.queues.len(),
                    c.agents.len(),
                    c.sip.bind,
                    c.storage.data_dir.display()
                );
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("{e}");
                ExitCode::from(2)
            }
        };
    }
    init_logs(args.log_format == "json");
    let premise = match builder.start().await {
        Ok(p) => p,
        Err(e @ crate::PremiseError::Config { .. }) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
        Err(e) => {
            eprintln!("cannot start the center: {e}");
            return ExitCode::from(1);
        }
    };
    println!("{}", premise.banner());
    if let Some(n) = args.demo_calls {
        println!("placing {n} self-driven demo call(s) ...");
        match run_demo_calls(&premise, n).await {
            Ok(summary) => println!("{summary}"),
            Err(e) => eprintln!("demo failed: {e}"),
        }
        premise.shutdown().await;
        return ExitCode::SUCCESS;
    }
    serve(premise).await;
    ExitCode::SUCCESS
}

/// Logs as text (on stdout, with the banner and summaries), or one JSON object
/// per line on stderr for a log shipper; `RUST_LOG` overrides the filter.
fn init_logs(json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,callcore_premise=info"));
    let done = if json {
        tracing_subscriber::fmt()
            .json()
            .with_writer(std::io::stderr)
            .with_current_span(false)
            .with_env_filter(filter)
            .try_init()
    } else {
        // text on stdout, as the example always wrote it
        tracing_subscriber::fmt().with_env_filter(filter).try_init()
    };
    if done.is_err() {
        // a subscriber is already installed (a program embedding run_with): keep it
    }
}

/// Runs until SIGTERM or Ctrl-C with operator commands on stdin, then drains.
async fn serve(premise: Premise) {
    println!(
        "running; SIGTERM or Ctrl-C drains and stops. Operator commands on stdin (`help` lists them)"
    );
    // operator commands, one per line (agent states, live figures, reports, campaigns)
    let (lines_tx, mut lines) = tokio::sync::mpsc::unbounded_channel::<String>();
    std::thread::spawn(move || {
        for line in std::io::stdin().lines().map_while(Result::ok) {
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    // the calls' control events on the console: what a command did once the
    // phones answered (a party joined, a supervisor is on), the legs `kick`
    // names, and placements that failed
    let mut events = premise.center().subscribe();
    tokio::spawn(async move {
        loop {
            match events.recv().await {
                Ok(event) if console_event(&event.kind) => {
                    match serde_json::to_value(&event.kind) {
                        Ok(json) => println!("event {}", masked_targets(json)),
                        Err(_) => println!("event {}", event.kind.name()),
                    }
                }
                Ok(_) | Err(callcore_runtime::BusError::Lagged(_)) => {}
                Err(_) => break,
            }
        }
    });
    let stop = stop_signal();
    tokio::pin!(stop);
    loop {
        tokio::select! {
            () = &mut stop => break,
            Some(line) = lines.recv() => {
                println!("{}", crate::console::command(&premise, &line).await);
            }
        }
    }
    let deadline = std::time::Duration::from_secs(u64::from(premise.config().drain_secs));
    println!(
        "draining: new calls refused, calls in progress get up to {} s",
        deadline.as_secs()
    );
    let report = premise.drain(deadline).await;
    println!("{report}");
    match premise.records().await {
        Ok(records) => println!(
            "{} call(s) stored, {} answered by an agent",
            records.len(),
            records.iter().filter(|r| r.agent.is_some()).count()
        ),
        Err(e) => eprintln!("reading records: {e}"),
    }
    premise.shutdown().await;
}

/// SIGTERM (a service manager stopping us) or Ctrl-C.
async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
                return;
            }
            Err(e) => eprintln!("SIGTERM not handled ({e}); Ctrl-C still drains"),
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

/// The console (often teed to a log file) shows transfer targets and parties
/// that are numbers masked (`+49…89`); agents and queues as they are.
fn masked_targets(mut json: serde_json::Value) -> serde_json::Value {
    if let Some(fields) = json.as_object_mut() {
        for key in ["target", "party"] {
            if let Some(serde_json::Value::String(v)) = fields.get_mut(key)
                && !v.starts_with("agent:")
                && !v.starts_with("queue:")
                && v.chars().filter(char::is_ascii_digit).count() >= 3
            {
                *v = match v.strip_prefix("number:") {
                    Some(n) => format!("number:{}", callcore::Masked(n)),
                    None => callcore::Masked(v).to_string(),
                };
            }
        }
    }
    json
}

/// The events an operator at the console is told about.
fn console_event(kind: &callcore::EventKind) -> bool {
    use callcore::EventKind as E;
    match kind {
        E::FlowStep { step, .. } => step.ends_with("failed"),
        other => matches!(
            other.name(),
            "connected"
                | "held"
                | "resumed"
                | "muted"
                | "transferred"
                | "consult_started"
                | "consult_answered"
                | "consult_swapped"
                | "consult_ended"
                | "conference_joined"
                | "conference_left"
                | "monitor_started"
                | "monitor_mode_changed"
                | "monitor_ended"
                | "ended"
                | "disposition_set"
        ),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn parse(args: &[&str]) -> Result<CenterArgs, clap::Error> {
        CenterArgs::try_parse_from(std::iter::once("premise").chain(args.iter().copied()))
    }

    #[test]
    fn the_example_flags_keep_their_meaning() {
        let a = parse(&[
            "--config",
            "my.toml",
            "--demo-calls",
            "4",
            "--log-format",
            "json",
        ])
        .unwrap();
        assert_eq!(a.config.as_deref(), Some(std::path::Path::new("my.toml")));
        assert_eq!(a.demo_calls, Some(4));
        assert_eq!(a.log_format, "json");
        // one listener, two names; the later flag wins
        let a = parse(&["--web", "127.0.0.1:9000", "--http", "off"]).unwrap();
        assert_eq!(a.listener(), Some(Listener::Off));
        let a = parse(&["--http", "off", "--web", "127.0.0.1:9000"]).unwrap();
        assert_eq!(
            a.listener(),
            Some(Listener::At("127.0.0.1:9000".parse().unwrap()))
        );
        assert!(parse(&["--web", "nowhere"]).is_err());
        assert!(parse(&["--demo-calls"]).is_err());
        assert!(parse(&["--log-format", "xml"]).is_err());
        assert!(parse(&["--no-such-flag"]).is_err());
        assert!(parse(&["--check-config"]).unwrap().check_config);
    }

    #[test]
    fn the_help_gives_every_flag_its_default() {
        let help = CenterArgs::command().render_long_help().to_string();
        for flag in [
            "--config",
            "--check-config",
            "--demo-calls",
            "--print-config",
            "--web",
            "--http",
            "--log-format",
        ] {
            assert!(help.contains(flag), "{flag} missing:\n{help}");
        }
        assert!(help.contains("[default: text]"), "{help}");
        assert!(help.contains("[default: the embedded defaults"), "{help}");
    }
}
