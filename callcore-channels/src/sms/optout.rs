//! Opt-out: a customer who texts STOP (or UNSUBSCRIBE, 退订 ...) receives
//! nothing more on this channel until they text START. Kept in a file (one
//! `out <number>` / `in <number>` line per change, replayed at start), so it
//! survives restarts.

use std::collections::HashSet;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Mutex;

use crate::ChannelError;

/// What a message asks for, when it is only a keyword.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keyword {
    /// Stop sending to me.
    Stop,
    /// Send to me again.
    Start,
}

const STOP: [&str; 9] = [
    "STOP",
    "STOPALL",
    "UNSUBSCRIBE",
    "CANCEL",
    "END",
    "QUIT",
    "OPTOUT",
    "退订",
    "TD",
];
const START: [&str; 4] = ["START", "UNSTOP", "SUBSCRIBE", "YES"];

/// The keyword `text` is, if it is nothing else (case, spaces and a final
/// full stop or exclamation mark aside).
pub fn keyword(text: &str) -> Option<Keyword> {
    let t = text
        .trim()
        .trim_end_matches(['.', '!', '。', '！'])
        .trim()
        .to_uppercase();
    if STOP.contains(&t.as_str()) {
        Some(Keyword::Stop)
    } else if START.contains(&t.as_str()) {
        Some(Keyword::Start)
    } else {
        None
    }
}

/// A number as stored: digits, with a leading `+` when it had one.
pub fn normalise(number: &str) -> String {
    let plus = number.trim_start().starts_with('+');
    let digits: String = number.chars().filter(char::is_ascii_digit).collect();
    if plus { format!("+{digits}") } else { digits }
}

/// The numbers that opted out.
#[derive(Debug)]
pub struct OptOuts {
    file: Option<PathBuf>,
    numbers: Mutex<HashSet<String>>,
}

impl OptOuts {
    /// Opt-outs kept only in memory.
    pub fn in_memory() -> Self {
        Self {
            file: None,
            numbers: Mutex::new(HashSet::new()),
        }
    }

    /// Opt-outs kept in `file` (created when missing).
    ///
    /// # Errors
    /// [`ChannelError::Config`] (`sms.opt_out_file`) when it cannot be read.
    pub fn open(file: PathBuf) -> Result<Self, ChannelError> {
        let mut numbers = HashSet::new();
        match std::fs::read_to_string(&file) {
            Ok(text) => {
                for line in text.lines() {
                    match line.split_once(' ') {
                        Some(("out", n)) => {
                            numbers.insert(n.to_owned());
                        }
                        Some(("in", n)) => {
                            numbers.remove(n);
                        }
                        _ => {}
                    }
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(ChannelError::Config {
                    field: "sms.opt_out_file".into(),
                    detail: e.to_string(),
                });
            }
        }
        Ok(Self {
            file: Some(file),
            numbers: Mutex::new(numbers),
        })
    }

    fn numbers(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        self.numbers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Whether `number` opted out.
    pub fn is_out(&self, number: &str) -> bool {
        self.numbers().contains(&normalise(number))
    }

    /// How many numbers opted out.
    pub fn len(&self) -> usize {
        self.numbers().len()
    }

    /// Whether nobody opted out.
    pub fn is_empty(&self) -> bool {
        self.numbers().is_empty()
    }

    /// Records `keyword` from `number`; whether it changed anything.
    ///
    /// # Errors
    /// [`ChannelError::Unsendable`] when the file cannot be written (the
    /// change holds in memory).
    pub fn apply(&self, number: &str, keyword: Keyword) -> Result<bool, ChannelError> {
        let n = normalise(number);
        let changed = match keyword {
            Keyword::Stop => self.numbers().insert(n.clone()),
            Keyword::Start => self.numbers().remove(&n),
        };
        if changed && let Some(file) = &self.file {
            let line = match keyword {
                Keyword::Stop => format!("out {n}\n"),
                Keyword::Start => format!("in {n}\n"),
            };
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(file)
                .and_then(|mut f| f.write_all(line.as_bytes()).and_then(|()| f.sync_data()))
                .map_err(|e| ChannelError::Unsendable(format!("opt-out file: {e}")))?;
        }
        Ok(changed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keywords_in_any_case_and_language() {
        assert_eq!(keyword(" stop "), Some(Keyword::Stop));
        assert_eq!(keyword("Unsubscribe."), Some(Keyword::Stop));
        assert_eq!(keyword("退订"), Some(Keyword::Stop));
        assert_eq!(keyword("START"), Some(Keyword::Start));
        assert_eq!(keyword("please stop calling me"), None);
    }

    #[test]
    fn opt_outs_survive_a_restart() {
        let file = std::env::temp_dir().join(format!("callcore-optout-{}.txt", std::process::id()));
        let _ = std::fs::remove_file(&file);
        let o = OptOuts::open(file.clone()).unwrap();
        assert!(o.apply("+49 170 1234", Keyword::Stop).unwrap());
        assert!(!o.apply("+491701234", Keyword::Stop).unwrap());
        assert!(o.apply("+33 1", Keyword::Stop).unwrap());
        assert!(o.apply("+33 1", Keyword::Start).unwrap());
        let again = OptOuts::open(file.clone()).unwrap();
        assert!(again.is_out("+491701234"));
        assert!(!again.is_out("+331"));
        let _ = std::fs::remove_file(&file);
    }
}
