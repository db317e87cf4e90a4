//! The parts of [`FlowRun`] that prompt, listen and read what the caller said.

use std::time::Duration;

use callcore::{DigitResult, DigitSpec, DigitTermination, Pii, Speaker, TranscriptLine, Utterance};

use super::super::matching::{choices_named, phrase_in, yes_or_no};
use super::super::model::{MenuChoice, Node, Retries};
use super::super::wording::{sorry, spoken_choice};
use super::{Action, After, Asking, FlowChannel, FlowEnd, FlowRun, State};

impl FlowRun {
    /// Says the prompt of the node being asked (prefixed by a re-prompt).
    pub(super) fn prompt(&mut self, prefix: &str) {
        let Some(node) = self.node_spec() else { return };
        let text = match (&node, &self.asking) {
            (
                Node::Menu {
                    prompt, choices, ..
                },
                _,
            ) => {
                let mut t = self.render(prompt);
                for c in choices {
                    match self.channel {
                        FlowChannel::Voice => t.push_str(&spoken_choice(
                            self.spec.language.as_deref(),
                            &c.label,
                            &c.key,
                        )),
                        FlowChannel::Text => t.push_str(&format!("\n{}. {}", c.key, c.label)),
                    }
                }
                t
            }
            (Node::Ask { slots, .. }, Asking::Slot(i)) => slots
                .get(*i)
                .map(|s| self.render(&s.prompt))
                .unwrap_or_default(),
            (
                Node::Ask {
                    confirm: Some(c), ..
                },
                Asking::Confirm,
            ) => self.render(c),
            (
                Node::CollectDigits { prompt, .. }
                | Node::Ask { prompt, .. }
                | Node::CallbackOffer { prompt, .. },
                _,
            ) => self.render(prompt),
            (Node::Bot { .. }, _) => self.bot_prompt(),
            _ => String::new(),
        };
        let text = if prefix.is_empty() {
            text
        } else {
            format!("{prefix} {text}")
        };
        let text = match self.intro.take() {
            Some(intro) => format!("{intro} {text}"),
            None => text,
        };
        self.bot_says(text, true, After::Listen);
    }

    pub(super) fn listen(&mut self) {
        let digits = match (self.node_spec(), self.channel) {
            (
                Some(Node::CollectDigits {
                    min,
                    max,
                    terminator,
                    first_digit_timeout_ms,
                    inter_digit_timeout_ms,
                    ..
                }),
                FlowChannel::Voice,
            ) if self.asking == Asking::Digits => Some(DigitSpec {
                min,
                max,
                terminator,
                first_digit_timeout: Duration::from_millis(first_digit_timeout_ms),
                inter_digit_timeout: Duration::from_millis(inter_digit_timeout_ms),
            }),
            _ => None,
        };
        self.outputs.push_back(match digits {
            Some(spec) => Action::CollectDigits(spec),
            None => Action::Listen {
                no_input_timeout: Duration::from_millis(self.spec.no_input_timeout_ms),
                hints: self.listen_hints(),
                language: self.spec.language.clone(),
            },
        });
        self.state = State::Listening;
    }

    /// What the recognizer should expect: a menu's labels and words (each once).
    fn listen_hints(&self) -> Vec<String> {
        let mut hints: Vec<String> = Vec::new();
        if let Some(Node::Menu { choices, .. }) = self.node_spec() {
            for c in &choices {
                for phrase in std::iter::once(&c.label).chain(&c.words) {
                    let phrase = phrase.trim();
                    if !phrase.is_empty() && !hints.iter().any(|h| h == phrase) {
                        hints.push(phrase.to_owned());
                    }
                }
            }
        }
        hints
    }

    pub(super) fn retries(&self) -> Retries {
        match self.node_spec() {
            Some(
                Node::Menu { retries, .. }
                | Node::CollectDigits { retries, .. }
                | Node::Ask { retries, .. }
                | Node::Bot { retries, .. },
            ) => retries,
            _ => Retries {
                max_attempts: Some(1),
                ..Retries::default()
            },
        }
    }

    pub(super) fn on_failure(&self) -> Option<String> {
        match self.node_spec()? {
            Node::Menu { on_failure, .. }
            | Node::CollectDigits { on_failure, .. }
            | Node::Ask { on_failure, .. } => Some(on_failure),
            Node::CallbackOffer { declined, .. } => Some(declined),
            Node::Bot { handoff, .. } => Some(handoff),
            _ => None,
        }
    }

    /// No input or no match: re-prompt with escalating prompts, or give up.
    pub(super) fn retry(&mut self, no_input: bool) {
        let retries = self.retries();
        self.attempts += 1;
        let (count, prompts, default) = if no_input {
            self.no_input += 1;
            (
                self.no_input,
                &retries.no_input,
                sorry(self.spec.language.as_deref(), false),
            )
        } else {
            self.no_match += 1;
            (
                self.no_match,
                &retries.no_match,
                sorry(self.spec.language.as_deref(), true),
            )
        };
        if self.attempts >= retries.attempts() {
            if matches!(self.asking, Asking::Bot(_)) {
                return self.bot_handoff(super::bot_steps::Handoff::Unclear, None);
            }
            match self.on_failure() {
                Some(next) => self.enter(&next),
                None => {
                    self.outputs.push_back(Action::Hangup);
                    self.finish(FlowEnd::HungUp);
                }
            }
            return;
        }
        let idx = (count as usize)
            .saturating_sub(1)
            .min(prompts.len().saturating_sub(1));
        let prefix = prompts
            .get(idx)
            .map_or(default.to_string(), |p| self.render(p));
        self.prompt(&prefix);
    }

    pub(super) fn global_for_text(&self, text: &str) -> Option<String> {
        self.spec
            .global_commands
            .iter()
            .find(|g| g.words.iter().any(|w| phrase_in(text, w)))
            .map(|g| g.goto.clone())
    }

    pub(super) fn global_for_digits(&self, digits: &str) -> Option<String> {
        self.spec
            .global_commands
            .iter()
            .find(|g| g.digits.iter().any(|d| d == digits))
            .map(|g| g.goto.clone())
    }

    pub(super) fn customer_line(&mut self, text: &str) {
        self.context.transcript.push(TranscriptLine {
            speaker: Speaker::Customer,
            text: Pii::new(text.to_string()),
            at: self.now,
        });
    }

    pub(super) fn heard(&mut self, utterance: Utterance) {
        let (text, digits, confidence) = match utterance {
            Utterance::Text { text, confidence } => (Some(text), None, confidence),
            Utterance::Digits { digits } => (None, Some(digits), 1.0),
            _ => (None, None, 0.0),
        };
        if text.is_none() && digits.is_none() {
            return self.no_input_for_asking();
        }
        if let Some(t) = &text {
            self.customer_line(t);
            if let Some(goto) = self.global_for_text(t) {
                return self.enter(&goto);
            }
        }
        if let Some(d) = &digits {
            self.customer_line(&format!("<{} keys>", d.len()));
            if let Some(goto) = self.global_for_digits(d) {
                return self.enter(&goto);
            }
        }
        let node = self.node_spec();
        match (&self.asking, node) {
            (
                Asking::Menu,
                Some(Node::Menu {
                    choices,
                    min_confidence,
                    ..
                }),
            ) => {
                let typed = text
                    .as_deref()
                    .map(str::trim)
                    .filter(|t| !t.is_empty() && t.chars().all(|c| c.is_ascii_digit()));
                let key = digits.as_deref().or(typed);
                let by_key = key.and_then(|k| choices.iter().find(|c| c.key == k));
                // words heard with too little confidence pick nothing: asked again
                let sure = confidence >= min_confidence;
                let named = text
                    .as_deref()
                    .filter(|_| sure)
                    .map(|t| choices_named(t, &choices, |c| c.words.as_slice()))
                    .unwrap_or_default();
                // words of several choices ("没有信号，账单"): the classifier
                // reads the whole answer when there is one, else the first
                let by_words = match named.as_slice() {
                    [one] => Some(*one),
                    [first, ..] if !self.wants_nlu(&choices) => Some(*first),
                    _ => None,
                };
                match (by_key.or(by_words), &text) {
                    (Some(c), _) => self.enter(&c.next.clone()),
                    (None, Some(t)) if sure && self.wants_nlu(&choices) => {
                        self.understand(t.clone(), &choices)
                    }
                    _ => self.retry(false),
                }
            }
            (Asking::Digits, Some(Node::CollectDigits { .. })) => {
                let d = digits
                    .or_else(|| text.map(|t| t.chars().filter(char::is_ascii_digit).collect()))
                    .unwrap_or_default();
                self.digits(DigitResult {
                    digits: d,
                    termination: DigitTermination::MaxDigits,
                });
            }
            (Asking::Intent | Asking::Slot(_), Some(Node::Ask { routes, .. })) => {
                match (text, digits) {
                    (Some(t), _) => {
                        let expected = routes.iter().map(|r| r.intent.clone()).collect();
                        self.outputs.push_back(Action::Understand {
                            text: t,
                            expected_intents: expected,
                        });
                        self.state = State::Understanding;
                    }
                    (None, Some(d)) => match self.asking.clone() {
                        Asking::Slot(i) => self.fill_slot_with_digits(i, d),
                        _ => self.retry(false),
                    },
                    _ => self.retry(true),
                }
            }
            (Asking::Confirm, Some(Node::Ask { .. })) => {
                match yes_or_no(text.as_deref(), digits.as_deref()) {
                    Some(true) => self.route(),
                    Some(false) => self.reject_slots(),
                    None => self.retry(false),
                }
            }
            (
                Asking::Callback,
                Some(Node::CallbackOffer {
                    queue, declined, ..
                }),
            ) => match yes_or_no(text.as_deref(), digits.as_deref()) {
                Some(true) => {
                    self.sync_slots();
                    let context = self.context.clone();
                    self.outputs
                        .push_back(Action::BookCallback { queue, context });
                    self.state = State::Callback;
                }
                Some(false) => self.enter(&declined),
                None => self.retry(false),
            },
            (Asking::Bot(_), Some(Node::Bot { .. })) => self.bot_heard(text, digits),
            _ => self.retry(false),
        }
    }

    pub(super) fn no_input_for_asking(&mut self) {
        if matches!(self.asking, Asking::Bot(_)) {
            return self.bot_no_input();
        }
        self.retry(true);
    }

    pub(super) fn wants_nlu(&self, choices: &[MenuChoice]) -> bool {
        choices.iter().any(|c| c.intent.is_some())
            || self.spec.global_commands.iter().any(|g| g.intent.is_some())
    }

    pub(super) fn understand(&mut self, text: String, choices: &[MenuChoice]) {
        let expected = choices.iter().filter_map(|c| c.intent.clone()).collect();
        self.outputs.push_back(Action::Understand {
            text,
            expected_intents: expected,
        });
        self.state = State::Understanding;
    }

    pub(super) fn digits(&mut self, result: DigitResult) {
        let Some(Node::CollectDigits { min, var, next, .. }) = self.node_spec() else {
            return self.retry(false);
        };
        let digits = result.digits;
        if digits.is_empty() {
            return self.retry(true);
        }
        self.customer_line(&format!("<{} digits>", digits.len()));
        if let Some(goto) = self.global_for_digits(&digits) {
            return self.enter(&goto);
        }
        if (digits.len() as u32) < min {
            return self.retry(false);
        }
        self.variables.insert(var, digits);
        self.enter(&next);
    }
}
