//! Command-line help shared by the examples (each includes it with
//! `#[path = "cli.rs"] mod cli;`).
//!
//! Every example keeps its own small parser: its flags are interfaces that users,
//! scripts and tests run as written, so their spelling, values and checks stay
//! exactly as they were. Before that parser runs, [`Cli::check`] walks the command
//! line against the example's flag table:
//!
//! - `-h` or `--help` anywhere prints the usage line, every flag with its default and
//!   example command lines to stdout, and exits 0;
//! - a flag the example does not know, or a flag missing its value, is named on
//!   stderr with the usage line, and the process exits 2.
//!
//! The table is the one place a new flag is documented: add it there and in the
//! example's parser (`examples/tests/help.rs` checks that `--help` lists it and an
//! unknown flag is refused).
#![allow(dead_code)] // each example uses the part of this module it needs

/// One flag of an example.
#[derive(Debug, Clone, Copy)]
pub struct Flag {
    /// `--seed`.
    pub name: &'static str,
    /// The value's placeholder (`N`, `FILE`, `acd|basic`), `None` for a switch.
    pub value: Option<&'static str>,
    /// What applies when the flag is not given; `None` for a required flag.
    pub default: Option<&'static str>,
    /// One line on what it does.
    pub help: &'static str,
}

/// A flag taking a value, with the default that applies without it.
pub const fn opt(
    name: &'static str,
    value: &'static str,
    default: &'static str,
    help: &'static str,
) -> Flag {
    Flag {
        name,
        value: Some(value),
        default: Some(default),
        help,
    }
}

/// A flag that must be given, with its value.
pub const fn required(name: &'static str, value: &'static str, help: &'static str) -> Flag {
    Flag {
        name,
        value: Some(value),
        default: None,
        help,
    }
}

/// A switch (no value); off unless given.
pub const fn switch(name: &'static str, help: &'static str) -> Flag {
    Flag {
        name,
        value: None,
        default: Some("off"),
        help,
    }
}

/// An example's command line: its name, what it does, its flags and sample runs.
#[derive(Debug)]
pub struct Cli {
    /// The example's name (`simulate`).
    pub name: &'static str,
    /// One or two sentences on what it does.
    pub about: &'static str,
    /// Every flag the example's parser accepts.
    pub flags: &'static [Flag],
    /// Sample command lines (`cargo run --release --example ...`).
    pub examples: &'static [&'static str],
}

/// What the command line asks for, before the example's own parser runs.
#[derive(Debug, PartialEq, Eq)]
pub enum Checked {
    /// Run: every flag is known and has its value.
    Run,
    /// Print the help and exit 0.
    Help,
}

impl Cli {
    /// Checks the process's arguments: prints the help and exits 0 on `-h`/`--help`,
    /// names a bad flag and exits 2; returns when the example's parser may run.
    pub fn check(&self) {
        let args: Vec<String> = std::env::args().skip(1).collect();
        match self.check_args(&args) {
            Ok(Checked::Run) => {}
            Ok(Checked::Help) => {
                print!("{}", self.help());
                std::process::exit(0);
            }
            Err(e) => {
                eprintln!("{}: {e}\n{}\n(see --help)", self.name, self.usage());
                std::process::exit(2);
            }
        }
    }

    /// The check of [`Cli::check`] on a given command line (without the program name).
    pub fn check_args(&self, args: &[String]) -> Result<Checked, String> {
        if args.iter().any(|a| a == "-h" || a == "--help") {
            return Ok(Checked::Help);
        }
        let mut it = args.iter();
        while let Some(arg) = it.next() {
            let Some(flag) = self.flags.iter().find(|f| f.name == arg) else {
                return Err(if arg.starts_with('-') {
                    format!("unknown flag `{arg}`")
                } else {
                    format!("unexpected argument `{arg}` (every value follows its flag)")
                });
            };
            if let Some(value) = flag.value
                && it.next().is_none()
            {
                return Err(format!("`{}` needs a value: {value}", flag.name));
            }
        }
        Ok(Checked::Run)
    }

    /// `usage: NAME --required X [--opt Y] [--switch]`.
    pub fn usage(&self) -> String {
        let mut line = format!("usage: {}", self.name);
        for f in self.flags {
            let text = match f.value {
                Some(v) => format!("{} {v}", f.name),
                None => f.name.to_owned(),
            };
            if f.default.is_some() {
                line.push_str(&format!(" [{text}]"));
            } else {
                line.push_str(&format!(" {text}"));
            }
        }
        line
    }

    /// The whole help text.
    pub fn help(&self) -> String {
        let mut out = format!("{}: {}\n\n{}\n\n", self.name, self.about, self.usage());
        out.push_str("flags:\n");
        let width = self
            .flags
            .iter()
            .map(|f| f.name.len() + f.value.map_or(0, |v| v.len() + 1))
            .max()
            .unwrap_or(0)
            .max("-h, --help".len());
        for f in self.flags {
            let text = match f.value {
                Some(v) => format!("{} {v}", f.name),
                None => f.name.to_owned(),
            };
            let default = match f.default {
                Some(d) => format!(" (default: {d})"),
                None => " (required)".to_owned(),
            };
            out.push_str(&format!("  {text:<width$}  {}{default}\n", f.help));
        }
        out.push_str(&format!("  {:<width$}  print this help\n", "-h, --help"));
        if !self.examples.is_empty() {
            out.push_str("\nexample:\n");
            for e in self.examples {
                out.push_str(&format!("  {e}\n"));
            }
        }
        out
    }
}
