//! The on-premise callcore center in one process: SIP (UDP+TCP) where agents' phones
//! register with digest auth, an IVR DTMF menu queueing to the ACD, RTP media with
//! prompts and stereo call recording to a local folder, SQLite storage.
//!
//! ```text
//! cargo run --release --example premise                       # runs until Ctrl-C
//! cargo run --release --example premise -- --demo-calls 4     # self-driven calls, summary, exit
//! cargo run --release --example premise -- --config my.toml   # override the embedded defaults
//! cargo run --release --example premise -- --print-config     # the defaults, as TOML
//! ```
//! Details in docs/premise.md.

use std::path::PathBuf;

use callcore_premise::demo::run_demo_calls;
use callcore_premise::{DEFAULT_CONFIG, Premise, PremiseConfig};

struct Args {
    config: Option<PathBuf>,
    demo_calls: Option<usize>,
    print_config: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        config: None,
        demo_calls: None,
        print_config: false,
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
            "-h" | "--help" => {
                return Err(
                    "usage: premise [--config FILE] [--demo-calls N] [--print-config]".into(),
                );
            }
            other => return Err(format!("unknown argument `{other}` (try --help)")),
        }
    }
    Ok(args)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
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
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
                tracing_subscriber::EnvFilter::new("warn,callcore_premise=info")
            }),
        )
        .init();
    let config = match PremiseConfig::load(args.config.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
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
    println!("running; Ctrl-C stops. Operator commands on stdin (`help` lists them)");
    // operator commands, one per line (agent states, live figures, reports, campaigns)
    let (lines_tx, mut lines) = tokio::sync::mpsc::unbounded_channel::<String>();
    std::thread::spawn(move || {
        for line in std::io::stdin().lines().map_while(Result::ok) {
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => break,
            Some(line) = lines.recv() => {
                println!("{}", callcore_premise::console::command(&premise, &line).await);
            }
        }
    }
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
