//! The on-premise callcore center in one process: SIP (UDP+TCP) where agents' phones
//! register with digest auth, an IVR DTMF menu queueing to the ACD, RTP media with
//! prompts and stereo call recording to a local folder, SQLite storage.
//!
//! ```text
//! cargo run --release --example premise                       # runs until Ctrl-C
//! cargo run --release --example premise -- --demo-calls 4     # self-driven calls, summary, exit
//! cargo run --release --example premise -- --config my.toml   # override the embedded defaults
//! cargo run --release --example premise -- --print-config     # the defaults, as TOML
//! cargo run --release --example premise -- --web 127.0.0.1:8080 # web API + operations listener (or `off`)
//! cargo run --release --example premise -- --log-format json  # one JSON object per log line
//! ```
//! SIGTERM or Ctrl-C drains the center (new calls get 503, calls in progress go on
//! for up to `drain_secs`, then are hung up with their records written) and exits 0.
//! `--web ADDR` sets the one HTTP listener serving the web API (`/api/v1`,
//! `/api/openapi.json`) and the operations routes (`/metrics`, `/healthz`,
//! `/readyz`); `--http ADDR` is its older name, kept. Details in docs/premise.md
//! and docs/web.md.

use std::path::PathBuf;

use callcore_premise::demo::run_demo_calls;
use callcore_premise::{DEFAULT_CONFIG, Premise, PremiseConfig};

#[path = "cli.rs"]
mod cli;

const CLI: cli::Cli = cli::Cli {
    name: "premise",
    about: "the on-premise callcore center in one process (SIP, RTP media, IVR, ACD, SQLite, \
            recordings); SIGTERM or Ctrl-C drains it",
    flags: &[
        cli::opt(
            "--config",
            "FILE",
            "the embedded defaults, see --print-config",
            "the center's TOML config",
        ),
        cli::opt(
            "--demo-calls",
            "N",
            "off: run until Ctrl-C",
            "place N self-driven calls, print a summary, exit",
        ),
        cli::switch(
            "--print-config",
            "print the embedded default config (TOML) and exit",
        ),
        cli::opt(
            "--web",
            "ADDR|off",
            "the config's [http] bind, 127.0.0.1:8080",
            "the HTTP listener: web API (/api/v1, /api/openapi.json), browser phone, \
             /metrics, /healthz, /readyz",
        ),
        cli::opt("--http", "ADDR|off", "as --web", "the older name of --web"),
        cli::opt(
            "--log-format",
            "text|json",
            "text",
            "log lines as text or one JSON object each",
        ),
    ],
    examples: &[
        "cargo run --release --example premise -- --demo-calls 3",
        "cargo run --release --example premise -- --config my.toml --http 0.0.0.0:9100 --log-format json",
    ],
};

/// `--http`: an address, or off.
enum HttpArg {
    Off,
    At(std::net::SocketAddr),
}

struct Args {
    config: Option<PathBuf>,
    demo_calls: Option<usize>,
    print_config: bool,
    http: Option<HttpArg>,
    json_logs: bool,
}

const USAGE: &str = "usage: premise [--config FILE] [--demo-calls N] [--print-config] \
                     [--web ADDR|off] [--http ADDR|off] [--log-format text|json]";

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        config: None,
        demo_calls: None,
        print_config: false,
        http: None,
        json_logs: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--config" => args.config = Some(it.next().ok_or("--config needs a file")?.into()),
            "--demo-calls" => {
                let n = it.next().ok_or("--demo-calls needs a number")?;
                args.demo_calls = Some(
                    n.parse()
                        .map_err(|_| format!("--demo-calls: `{n}` is not a number"))?,
                );
            }
            "--print-config" => args.print_config = true,
            // one listener: `--web` (the web API's name for it) and `--http`
            flag @ ("--web" | "--http") => {
                let v = it
                    .next()
                    .ok_or_else(|| format!("{flag} needs an address or `off`"))?;
                args.http = Some(if v == "off" {
                    HttpArg::Off
                } else {
                    HttpArg::At(v.parse().map_err(|_| {
                        format!("{flag}: `{v}` is not an address (IP:port) or `off`")
                    })?)
                });
            }
            "--log-format" => match it.next().as_deref() {
                Some("json") => args.json_logs = true,
                Some("text") => args.json_logs = false,
                _ => return Err("--log-format needs `text` or `json`".into()),
            },
            "-h" | "--help" => return Err(USAGE.into()),
            other => return Err(format!("unknown argument `{other}` (try --help)")),
        }
    }
    Ok(args)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    CLI.check();
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    if args.print_config {
        print!("{DEFAULT_CONFIG}");
        return;
    }
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,callcore_premise=info"));
    if args.json_logs {
        // one JSON object per line on stderr, for a log shipper (stdout keeps the
        // banner and the summaries); fields as in text logs
        tracing_subscriber::fmt()
            .json()
            .with_writer(std::io::stderr)
            .with_current_span(false)
            .with_env_filter(filter)
            .init();
    } else {
        tracing_subscriber::fmt().with_env_filter(filter).init();
    }
    let mut config = match PremiseConfig::load(args.config.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    match args.http {
        Some(HttpArg::Off) => config.http.enabled = false,
        Some(HttpArg::At(addr)) => {
            config.http.enabled = true;
            config.http.bind = Some(addr);
        }
        None => {}
    }
    let premise = match Premise::start(config).await {
        Ok(p) => p,
        Err(e) => {
            eprintln!("cannot start the center: {e}");
            std::process::exit(1);
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
        return;
    }
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
                println!("{}", callcore_premise::console::command(&premise, &line).await);
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

/// The events an operator at the console is told about.
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
