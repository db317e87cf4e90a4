//! `callcore-premise`: the on-premise callcore center as an installed program
//! (`cargo install callcore-premise`); the same center, flags and behaviour as
//! `cargo run --release --example premise`. See `callcore_premise::program`,
//! docs/install.md and `dist/callcore-premise.service`.

use std::process::ExitCode;

use callcore_premise::program::{CenterArgs, run};

#[tokio::main]
async fn main() -> ExitCode {
    run(CenterArgs::parse_as("callcore-premise")).await
}
