//! Command-line helpers shared by the examples (each includes this file with
//! `#[path = "cli.rs"] mod cli;`); the command lines themselves are `clap` derive
//! structs in each example.
//!
//! The examples' flags are interfaces that users, scripts and tests run as written:
//! their names, values and checks stay as they were. Conventions every example follows
//! (`examples/tests/help.rs` checks them on the built binaries):
//!
//! - `-h`/`--help` prints the usage, every flag with its default (`[default: …]`, or
//!   `[default: off]` for a switch, or the flag is marked required) and example
//!   command lines, and exits 0;
//! - an unknown flag, or a flag without its value, is named on stderr and the process
//!   exits 2;
//! - a flag given twice keeps its last value (`args_override_self`), as the
//!   hand-written parsers did.
#![allow(dead_code)] // each example uses the part of this module it needs

/// A finite number above zero (`--aht 180`, `--hours 0.5`).
pub fn positive(value: &str) -> Result<f64, String> {
    value
        .parse::<f64>()
        .ok()
        .filter(|x| x.is_finite() && *x > 0.0)
        .ok_or_else(|| format!("`{value}` is not a positive number"))
}

/// A whole number above zero (`--agents 12`).
pub fn positive_u32(value: &str) -> Result<u32, String> {
    value
        .parse::<u32>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| format!("`{value}` is not a positive integer"))
}

/// A whole number above zero, as a count (`--calls 100`).
pub fn positive_usize(value: &str) -> Result<usize, String> {
    value
        .parse::<usize>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| format!("`{value}` is not a positive integer"))
}

/// A finite number (`--service-level 0.8`).
pub fn finite(value: &str) -> Result<f64, String> {
    value
        .parse::<f64>()
        .ok()
        .filter(|x| x.is_finite())
        .ok_or_else(|| format!("`{value}` is not a number"))
}
