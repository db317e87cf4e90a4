//! The on-premise callcore center in one process: SIP (UDP+TCP) where agents' phones
//! register with digest auth, an IVR DTMF menu queueing to the ACD, RTP media with
//! prompts and stereo call recording to a local folder, SQLite storage.
//!
//! ```text
//! cargo run --release --example premise                       # runs until Ctrl-C
//! cargo run --release --example premise -- --demo-calls 4     # self-driven calls, summary, exit
//! cargo run --release --example premise -- --config my.toml   # override the embedded defaults
//! cargo run --release --example premise -- --check-config --config my.toml  # validate, exit
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
//!
//! The same program installs as `callcore-premise` (`cargo install callcore-premise`,
//! docs/install.md): both run `callcore_premise::program::run`.

use std::process::ExitCode;

use callcore_premise::program::{CenterArgs, run};

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> ExitCode {
    run(CenterArgs::parse_as("premise")).await
}
