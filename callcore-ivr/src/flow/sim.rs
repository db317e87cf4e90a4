//! Scripted callers in virtual time: drives a [`FlowRun`] without real media,
//! sockets or sleeping. Prompts take time in proportion to their length,
//! timeouts elapse when the caller is silent or too slow, DTMF keys arrive with
//! the gaps the script gives, so no-input, inter-digit time-outs, barge-in and
//! business hours are all exercised deterministically.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use callcore::{
    DigitResult, DigitTermination, IntentResult, NluContext, PlayOutcome, Timestamp, Utterance,
};

use super::engine::{Action, FlowChannel, FlowEnd, FlowRun, Input, QueueResult};
use super::model::FlowSpec;
use crate::nlu::IntentClassifier;

/// One thing a scripted caller does at the next prompt.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CallerStep {
    /// Speaks (or types) `text`, starting `after` the prompt ended.
    Say {
        /// Pause before speaking.
        after: Duration,
        /// The words.
        text: String,
    },
    /// Presses `keys`, the first `after` the prompt ended, then one every `gap`.
    Press {
        /// Pause before the first key.
        after: Duration,
        /// The keys.
        keys: String,
        /// Pause between keys.
        gap: Duration,
    },
    /// Says nothing.
    Silence,
    /// Interrupts the next interruptible prompt with these keys.
    BargeIn(String),
    /// Hangs up.
    HangUp,
}

impl CallerStep {
    /// Says `text` after one second.
    pub fn say(text: &str) -> Self {
        CallerStep::Say {
            after: Duration::from_secs(1),
            text: text.into(),
        }
    }

    /// Presses `keys` promptly, half a second apart.
    pub fn press(keys: &str) -> Self {
        CallerStep::Press {
            after: Duration::from_millis(800),
            keys: keys.into(),
            gap: Duration::from_millis(500),
        }
    }
}

/// A synchronous task handler for simulations.
pub type SimTask = Arc<
    dyn Fn(&BTreeMap<String, String>) -> Result<BTreeMap<String, String>, String> + Send + Sync,
>;

/// What the world around the flow does in a simulation.
#[derive(Clone, Default)]
pub struct SimWorld {
    /// NLU used for `Understand` actions (none: nothing is understood).
    pub nlu: Option<Arc<IntentClassifier>>,
    /// Task handlers by name.
    pub tasks: HashMap<String, SimTask>,
    /// How queueing ends, and after how long.
    pub queue: Option<(QueueResult, Duration)>,
    /// Whether booking a callback succeeds.
    pub callback_ok: bool,
}

impl std::fmt::Debug for SimWorld {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimWorld")
            .field("nlu", &self.nlu.is_some())
            .field("tasks", &self.tasks.keys().collect::<Vec<_>>())
            .field("queue", &self.queue)
            .field("callback_ok", &self.callback_ok)
            .finish()
    }
}

/// What happened in a simulated call.
#[derive(Debug)]
pub struct SimReport {
    /// Every action with the virtual time it was issued.
    pub actions: Vec<(Timestamp, Action)>,
    /// The run, to inspect variables and the handoff context.
    pub run: FlowRun,
    /// Virtual time when it ended.
    pub ended_at: Timestamp,
}

impl SimReport {
    /// How the flow ended.
    pub fn end(&self) -> Option<&FlowEnd> {
        self.run.end()
    }

    /// Everything the flow said, in order.
    pub fn said(&self) -> Vec<&str> {
        self.actions
            .iter()
            .filter_map(|(_, a)| match a {
                Action::Say { text, .. } => Some(text.as_str()),
                _ => None,
            })
            .collect()
    }
}

const PROMPT_MS_PER_CHAR: u64 = 60;
const MAX_ACTIONS: usize = 10_000;

fn collect(
    spec: &callcore::DigitSpec,
    step: Option<CallerStep>,
) -> (DigitResult, Duration, Option<CallerStep>) {
    let timeout = DigitResult {
        digits: String::new(),
        termination: DigitTermination::Timeout,
    };
    let Some(CallerStep::Press { after, keys, gap }) = step else {
        return (timeout, spec.first_digit_timeout, step);
    };
    if after > spec.first_digit_timeout {
        return (
            timeout,
            spec.first_digit_timeout,
            Some(CallerStep::Press { after, keys, gap }),
        );
    }
    let mut elapsed = after;
    let mut digits = String::new();
    for (i, k) in keys.chars().enumerate() {
        if i > 0 {
            if gap > spec.inter_digit_timeout {
                elapsed += spec.inter_digit_timeout;
                return (
                    DigitResult {
                        digits,
                        termination: DigitTermination::Timeout,
                    },
                    elapsed,
                    None,
                );
            }
            elapsed += gap;
        }
        if Some(k) == spec.terminator {
            return (
                DigitResult {
                    digits,
                    termination: DigitTermination::Terminator,
                },
                elapsed,
                None,
            );
        }
        digits.push(k);
        if digits.len() as u32 >= spec.max {
            return (
                DigitResult {
                    digits,
                    termination: DigitTermination::MaxDigits,
                },
                elapsed,
                None,
            );
        }
    }
    elapsed += spec.inter_digit_timeout;
    (
        DigitResult {
            digits,
            termination: DigitTermination::Timeout,
        },
        elapsed,
        None,
    )
}

/// Runs `spec` against a scripted caller from `start` in virtual time.
pub fn run_scripted(
    spec: Arc<FlowSpec>,
    channel: FlowChannel,
    attributes: BTreeMap<String, String>,
    start: Timestamp,
    script: Vec<CallerStep>,
    world: &SimWorld,
) -> SimReport {
    let run = FlowRun::start(spec, channel, attributes, start);
    run_scripted_from(run, start, script, world)
}

/// Like [`run_scripted`], for a run already started (e.g. with
/// [`FlowRun::start_with_knowledge`] for `bot` nodes).
pub fn run_scripted_from(
    mut run: FlowRun,
    start: Timestamp,
    script: Vec<CallerStep>,
    world: &SimWorld,
) -> SimReport {
    let mut script: VecDeque<CallerStep> = script.into();
    let mut now = start;
    let mut actions = Vec::new();
    while let Some(action) = run.poll_output() {
        if actions.len() >= MAX_ACTIONS {
            break;
        }
        actions.push((now, action.clone()));
        let input = match action {
            Action::Say { text, barge_in } => {
                let pending = match script.front() {
                    Some(CallerStep::BargeIn(keys)) => Some(keys.clone()),
                    Some(CallerStep::Press { after, keys, .. }) if after.is_zero() => {
                        Some(keys.clone())
                    }
                    _ => None,
                };
                if barge_in && let Some(keys) = pending {
                    // The keys stop the prompt and stay pending for the next listen.
                    script[0] = CallerStep::Press {
                        after: Duration::ZERO,
                        keys: keys.clone(),
                        gap: Duration::from_millis(200),
                    };
                    now = now + Duration::from_millis(500);
                    Input::PlayDone(PlayOutcome::BargedIn(keys))
                } else {
                    now = now
                        + Duration::from_millis(PROMPT_MS_PER_CHAR * text.chars().count() as u64);
                    Input::PlayDone(PlayOutcome::Completed)
                }
            }
            Action::Play { .. } => {
                now = now + Duration::from_secs(3);
                Input::PlayDone(PlayOutcome::Completed)
            }
            Action::Listen {
                no_input_timeout, ..
            } => match script.pop_front() {
                Some(CallerStep::Say { after, text }) if after <= no_input_timeout => {
                    now = now + after + Duration::from_millis(80 * text.chars().count() as u64);
                    Input::Heard(Utterance::Text {
                        text,
                        confidence: 0.9,
                    })
                }
                Some(CallerStep::Press { after, keys, gap }) if after <= no_input_timeout => {
                    now = now + after + gap * keys.len().saturating_sub(1) as u32;
                    Input::Heard(Utterance::Digits { digits: keys })
                }
                Some(CallerStep::HangUp) => Input::CallerHungUp,
                other => {
                    // Silence, or the caller starts after the timeout: the step waits.
                    if let Some(step) = other.filter(|s| *s != CallerStep::Silence) {
                        script.push_front(step);
                    }
                    now = now + no_input_timeout;
                    Input::Heard(Utterance::NoInput)
                }
            },
            Action::CollectDigits(spec) => {
                let step = script.pop_front();
                if step == Some(CallerStep::HangUp) {
                    Input::CallerHungUp
                } else {
                    let (result, took, keep) =
                        collect(&spec, step.filter(|s| *s != CallerStep::Silence));
                    if let Some(k) = keep {
                        script.push_front(k);
                    }
                    now = now + took;
                    Input::Digits(result)
                }
            }
            Action::Understand {
                text,
                expected_intents,
            } => {
                let context = NluContext {
                    expected_intents,
                    ..NluContext::default()
                };
                let result = world
                    .nlu
                    .as_ref()
                    .map_or_else(IntentResult::default, |n| n.recognize_sync(&text, &context));
                Input::Understood(result)
            }
            Action::RunTask { handler, variables } => {
                now = now + Duration::from_millis(200);
                let result = match world.tasks.get(&handler) {
                    Some(task) => task(&variables),
                    None => Err(format!("no task handler {handler:?}")),
                };
                Input::TaskDone(result)
            }
            Action::CallWebhook { url, variables, .. } => {
                // Scripted worlds answer webhooks with the task registered under the URL.
                now = now + Duration::from_millis(200);
                let result = match world.tasks.get(&url) {
                    Some(task) => task(&variables),
                    None => Err(format!("webhook {url}: no simulated endpoint")),
                };
                Input::TaskDone(result)
            }
            Action::Enqueue { .. } => {
                let (result, wait) = world
                    .queue
                    .unwrap_or((QueueResult::GaveUp, Duration::from_secs(60)));
                now = now + wait;
                Input::QueueDone(result)
            }
            Action::BookCallback { .. } => Input::CallbackBooked(world.callback_ok),
            Action::Record { max_duration } | Action::Voicemail { max_duration, .. } => {
                now = now + max_duration.min(Duration::from_secs(10));
                Input::Recorded(Some(format!("rec-{}", now.as_millis())))
            }
            Action::Transfer { .. } | Action::Hangup => break,
        };
        run.handle_input(input, now);
    }
    SimReport {
        actions,
        run,
        ended_at: now,
    }
}
