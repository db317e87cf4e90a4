//! The outbound dial plan: E.164 number patterns mapped to an ordered list of
//! trunks, and the failover over that list (sans-IO).
//!
//! A pattern is the number as dialled, where `?` stands for one digit and a
//! trailing `*` for any rest (also none): `+49*` is every German number,
//! `+1??????????` a North American one, `*` everything, `+4930123456` exactly
//! that number. The first rule whose pattern matches wins (write specific rules
//! first). Its trunks are tried in order by a [`Failover`]: a trunk marked down by
//! its OPTIONS probe is passed over (unless every trunk of the list is down: then
//! they are all tried, in order), and an attempt that fails with a timeout (408),
//! a 5xx or a transport failure moves on to the next trunk
//! ([`crate::trunk::should_failover`]); a busy, declined or unknown number (4xx,
//! 6xx) is the callee's answer and ends the attempt.
//!
//! ```
//! use callcore_sip::dial_plan::{DialPlan, Failover, Step};
//! use callcore_sip::trunk::CallOutcome;
//! let plan = DialPlan::default()
//!     .rule("+49*", &["berlin", "backup"]).unwrap()
//!     .rule("*", &["backup"]).unwrap();
//! let trunks = plan.trunks_for("+493012345").unwrap();
//! assert_eq!(trunks, ["berlin", "backup"]);
//! let mut f = Failover::new(trunks, |_| true);
//! assert_eq!(f.next_trunk().as_deref(), Some("berlin"));
//! assert_eq!(f.record(CallOutcome::Status(503)), Step::TryNext);
//! assert_eq!(f.next_trunk().as_deref(), Some("backup"));
//! assert_eq!(f.record(CallOutcome::Answered), Step::Connected);
//! assert_eq!(f.attempts().len(), 2);
//! ```

use crate::trunk::{CallOutcome, should_failover};

/// Why a number pattern was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PatternError {
    /// The pattern is empty.
    #[error("the pattern is empty")]
    Empty,
    /// A character other than `+` (first), digits, `?`, and `*` (last).
    #[error("`{0}` is not allowed here: digits, `?` (one digit), `+` first, `*` last")]
    BadChar(char),
}

/// One element of a pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Element {
    Literal(char),
    AnyDigit,
}

/// An E.164 number pattern (`+49*`, `+1??????????`, `*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NumberPattern {
    text: String,
    elements: Vec<Element>,
    /// A trailing `*`: any rest matches.
    open: bool,
}

impl NumberPattern {
    /// Parses a pattern: `+` only first, digits, `?` for one digit, `*` only last.
    ///
    /// # Errors
    /// [`PatternError`] saying what is wrong.
    pub fn parse(text: &str) -> Result<NumberPattern, PatternError> {
        let t = text.trim();
        if t.is_empty() {
            return Err(PatternError::Empty);
        }
        let (body, open) = match t.strip_suffix('*') {
            Some(b) => (b, true),
            None => (t, false),
        };
        let mut elements = Vec::with_capacity(body.len());
        for (i, c) in body.chars().enumerate() {
            elements.push(match c {
                '+' if i == 0 => Element::Literal('+'),
                '0'..='9' => Element::Literal(c),
                '?' => Element::AnyDigit,
                other => return Err(PatternError::BadChar(other)),
            });
        }
        Ok(NumberPattern {
            text: t.to_owned(),
            elements,
            open,
        })
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether `number` matches.
    pub fn matches(&self, number: &str) -> bool {
        let chars: Vec<char> = number.chars().collect();
        if chars.len() < self.elements.len() || (!self.open && chars.len() != self.elements.len()) {
            return false;
        }
        self.elements.iter().zip(&chars).all(|(e, c)| match e {
            Element::Literal(l) => l == c,
            Element::AnyDigit => c.is_ascii_digit(),
        })
    }
}

/// One rule: numbers matching `pattern` go out through `trunks`, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DialRule {
    /// The numbers.
    pub pattern: NumberPattern,
    /// Trunk names, in failover order.
    pub trunks: Vec<String>,
}

/// The outbound dial plan: rules tried in order, the first match wins.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DialPlan {
    rules: Vec<DialRule>,
}

impl DialPlan {
    /// Adds a rule after the existing ones.
    ///
    /// # Errors
    /// The pattern does not parse.
    pub fn rule(mut self, pattern: &str, trunks: &[&str]) -> Result<DialPlan, PatternError> {
        self.push(DialRule {
            pattern: NumberPattern::parse(pattern)?,
            trunks: trunks.iter().map(|t| (*t).to_owned()).collect(),
        });
        Ok(self)
    }

    /// Adds a rule after the existing ones.
    pub fn push(&mut self, rule: DialRule) {
        self.rules.push(rule);
    }

    /// The rules, in order.
    pub fn rules(&self) -> &[DialRule] {
        &self.rules
    }

    /// True without rules.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The trunks of the first rule matching `number`.
    pub fn trunks_for(&self, number: &str) -> Option<&[String]> {
        self.rules
            .iter()
            .find(|r| r.pattern.matches(number))
            .map(|r| r.trunks.as_slice())
    }
}

/// One attempt of a call through a trunk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrunkAttempt {
    /// The trunk.
    pub trunk: String,
    /// What came of it.
    pub outcome: CallOutcome,
}

/// What to do after an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// The call is answered: stop.
    Connected,
    /// The trunk failed: try [`Failover::next_trunk`].
    TryNext,
    /// The callee's answer (busy, declined…) or no trunk left: stop, unanswered.
    GiveUp,
}

/// The failover over one rule's trunks for one call.
#[derive(Debug, Clone)]
pub struct Failover {
    order: Vec<String>,
    next: usize,
    skipped: Vec<String>,
    attempts: Vec<TrunkAttempt>,
    current: Option<String>,
}

impl Failover {
    /// Failover over `trunks` (in order); `is_up` says whether a trunk's OPTIONS
    /// probe currently has it up. Down trunks are passed over unless all are down.
    pub fn new(trunks: &[String], is_up: impl Fn(&str) -> bool) -> Failover {
        let (up, down): (Vec<String>, Vec<String>) = trunks.iter().cloned().partition(|t| is_up(t));
        let (order, skipped) = if up.is_empty() {
            (down, Vec::new())
        } else {
            (up, down)
        };
        Failover {
            order,
            next: 0,
            skipped,
            attempts: Vec::new(),
            current: None,
        }
    }

    /// The next trunk to try, `None` when every one was tried.
    pub fn next_trunk(&mut self) -> Option<String> {
        let t = self.order.get(self.next).cloned()?;
        self.next += 1;
        self.current = Some(t.clone());
        Some(t)
    }

    /// Records the outcome of the attempt through the trunk last returned by
    /// [`next_trunk`](Self::next_trunk), and says what to do next.
    pub fn record(&mut self, outcome: CallOutcome) -> Step {
        if let Some(t) = self.current.take() {
            self.attempts.push(TrunkAttempt { trunk: t, outcome });
        }
        if outcome == CallOutcome::Answered {
            Step::Connected
        } else if should_failover(outcome) && self.next < self.order.len() {
            Step::TryNext
        } else {
            Step::GiveUp
        }
    }

    /// The attempts so far, in order.
    pub fn attempts(&self) -> &[TrunkAttempt] {
        &self.attempts
    }

    /// Trunks passed over because their probe had them down.
    pub fn skipped(&self) -> &[String] {
        &self.skipped
    }

    /// The attempts in one line for logs and records: `a:503 b:answered`.
    pub fn summary(&self) -> String {
        summary(&self.attempts, &self.skipped)
    }
}

/// `a:503 b:answered` (and `c:down` for trunks passed over).
pub fn summary(attempts: &[TrunkAttempt], skipped: &[String]) -> String {
    let mut parts: Vec<String> = attempts
        .iter()
        .map(|a| {
            let o = match a.outcome {
                CallOutcome::Answered => "answered".to_owned(),
                CallOutcome::Status(s) => s.to_string(),
                CallOutcome::Timeout => "timeout".to_owned(),
                CallOutcome::TransportFailed => "transport-failed".to_owned(),
            };
            format!("{}:{o}", a.trunk)
        })
        .collect();
    parts.extend(skipped.iter().map(|s| format!("{s}:down")));
    parts.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> NumberPattern {
        NumberPattern::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn patterns_match_prefixes_digits_and_exact_numbers() {
        assert!(p("+49*").matches("+4930123456"));
        assert!(p("+49*").matches("+49"));
        assert!(!p("+49*").matches("+4830123456"));
        assert!(p("+1??????????").matches("+15551234567"));
        assert!(!p("+1??????????").matches("+1555123456"), "one digit short");
        assert!(!p("+1??????????").matches("+155512345678"), "one too many");
        assert!(!p("+1??????????").matches("+1555123456a"), "? is a digit");
        assert!(p("*").matches("+4930"));
        assert!(p("*").matches("2001"));
        assert!(p("+4930123456").matches("+4930123456"));
        assert!(!p("+4930123456").matches("+49301234567"));
        assert!(p("00??*").matches("0049"));
        assert!(!p("00??*").matches("004"));
    }

    #[test]
    fn bad_patterns_say_why() {
        assert_eq!(NumberPattern::parse(" "), Err(PatternError::Empty));
        assert_eq!(
            NumberPattern::parse("+49*1"),
            Err(PatternError::BadChar('*'))
        );
        assert_eq!(NumberPattern::parse("4+9"), Err(PatternError::BadChar('+')));
        assert_eq!(
            NumberPattern::parse("+49x"),
            Err(PatternError::BadChar('x'))
        );
    }

    #[test]
    fn the_first_matching_rule_wins() {
        let plan = DialPlan::default()
            .rule("+4930*", &["berlin"])
            .and_then(|p| p.rule("+49*", &["de", "intl"]))
            .and_then(|p| p.rule("*", &["intl"]))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            plan.trunks_for("+4930123"),
            Some(&["berlin".to_owned()][..])
        );
        assert_eq!(
            plan.trunks_for("+4940123").map(<[String]>::to_vec),
            Some(vec!["de".to_owned(), "intl".to_owned()])
        );
        assert_eq!(plan.trunks_for("+331"), Some(&["intl".to_owned()][..]));
        assert!(DialPlan::default().trunks_for("+331").is_none());
    }

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn failover_moves_on_for_trunk_faults_only() {
        for (outcome, step) in [
            (CallOutcome::Status(503), Step::TryNext),
            (CallOutcome::Status(500), Step::TryNext),
            (CallOutcome::Status(408), Step::TryNext),
            (CallOutcome::Timeout, Step::TryNext),
            (CallOutcome::TransportFailed, Step::TryNext),
            (CallOutcome::Status(486), Step::GiveUp),
            (CallOutcome::Status(404), Step::GiveUp),
            (CallOutcome::Status(603), Step::GiveUp),
            (CallOutcome::Answered, Step::Connected),
        ] {
            let mut f = Failover::new(&names(&["a", "b"]), |_| true);
            assert_eq!(f.next_trunk().as_deref(), Some("a"));
            assert_eq!(f.record(outcome), step, "{outcome:?}");
        }
    }

    #[test]
    fn the_last_trunk_failing_gives_up() {
        let mut f = Failover::new(&names(&["a", "b", "c"]), |_| true);
        let mut tried = Vec::new();
        while let Some(t) = f.next_trunk() {
            tried.push(t);
            if f.record(CallOutcome::Status(503)) != Step::TryNext {
                break;
            }
        }
        assert_eq!(tried, ["a", "b", "c"]);
        assert_eq!(f.summary(), "a:503 b:503 c:503");
    }

    #[test]
    fn trunks_down_by_probe_are_passed_over_unless_all_are_down() {
        let mut f = Failover::new(&names(&["a", "b", "c"]), |t| t != "a");
        assert_eq!(f.next_trunk().as_deref(), Some("b"));
        assert_eq!(f.record(CallOutcome::TransportFailed), Step::TryNext);
        assert_eq!(f.next_trunk().as_deref(), Some("c"));
        assert_eq!(f.record(CallOutcome::Answered), Step::Connected);
        assert_eq!(f.skipped(), ["a"]);
        assert_eq!(f.summary(), "b:transport-failed c:answered a:down");

        let mut all_down = Failover::new(&names(&["a", "b"]), |_| false);
        assert_eq!(all_down.next_trunk().as_deref(), Some("a"));
        assert_eq!(all_down.record(CallOutcome::Timeout), Step::TryNext);
        assert_eq!(all_down.next_trunk().as_deref(), Some("b"));
        assert_eq!(all_down.record(CallOutcome::Timeout), Step::GiveUp);
        assert!(all_down.next_trunk().is_none());
    }
}
