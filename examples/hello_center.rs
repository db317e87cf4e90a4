//! The smallest call center over real SIP, to copy into your own program: one
//! queue, two agents whose SIP phones register with a password, and the IVR
//! menu in front — the premise assembly (callcore-premise) started from a config
//! written in the program, with SQLite records and recordings in a folder.
//!
//! ```text
//! cargo run --example hello_center
//! cargo run --example hello_center -- --sip 0.0.0.0:5070 --data /var/lib/hello
//! ```
//!
//! Register a softphone (baresip, Linphone, a desk phone) as `sip:1001@HOST`
//! with password `alice-secret`, go ready by registering, and call any number at
//! the center: the menu answers, key 1 (or waiting) queues you for the agent.
//! Ctrl-C stops the center; every finished call's record is in `<data>/center.db`.
//! In your own crate: `callcore-premise` and `tokio` (`rt-multi-thread`,
//! `macros`, `signal`) as dependencies, and this `main`.

use std::net::SocketAddr;
use std::path::PathBuf;

use callcore_premise::{Premise, PremiseConfig};
use clap::Parser;

/// The smallest call center over real SIP: one queue, two registering agents, the IVR.
#[derive(Debug, Parser)]
#[command(
    name = "hello_center",
    args_override_self = true,
    after_help = "Examples:\n  cargo run --example hello_center\n  \
                  cargo run --example hello_center -- --sip 0.0.0.0:5070 --data /var/lib/hello"
)]
struct Args {
    /// where phones and callers reach the center (UDP and TCP)
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:5070")]
    sip: SocketAddr,
    /// the folder of the records (SQLite) and recordings
    #[arg(long, value_name = "DIR", default_value = "hello-center-data")]
    data: PathBuf,
}

/// The whole center, in the premise's config format (docs/premise.md lists every field).
fn config(args: &Args) -> Result<PremiseConfig, callcore_premise::PremiseError> {
    PremiseConfig::from_toml(&format!(
        r#"
[sip]
bind = "{sip}"
[http]
enabled = false
[storage]
data_dir = "{data}"
[ivr]
greeting = "Hello, thank you for calling."
menu = [{{ key = "1", label = "support", queue = "support" }}]
default_queue = "support"
[[queues]]
id = "support"
skill = "support"
wrap_up_secs = 5
[[agents]]
id = "1001"
name = "Alice"
password = "alice-secret"
skills = ["support"]
[[agents]]
id = "1002"
name = "Bob"
password = "bob-secret"
skills = ["support"]
"#,
        sip = args.sip,
        data = args.data.display(),
    ))
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let premise = match config(&args) {
        Ok(c) => Premise::start(c).await,
        Err(e) => Err(e),
    };
    let premise = match premise {
        Ok(p) => p,
        Err(e) => {
            eprintln!("hello_center: {e}");
            std::process::exit(1);
        }
    };
    println!("{}", premise.banner());
    let _ = tokio::signal::ctrl_c().await;
    premise.shutdown().await;
}
