//! The flow engine: a sans-IO state machine that runs one [`FlowSpec`] for one
//! interaction.
//!
//! The engine never waits, sleeps or reads a clock. It emits one [`Action`] at
//! a time (say this, listen, understand this text with NLU, run a task, queue
//! the caller …) through [`FlowRun::poll_output`]; the driver performs it and
//! feeds the result back with [`FlowRun::handle_input`] together with the
//! current time. The same engine therefore runs on a live call (see
//! [`IvrFlow`](super::IvrFlow)), on a chat, and under a scripted caller in
//! virtual time (see [`sim`](super::sim)).

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use callcore::{
    DigitResult, DigitSpec, IntentResult, InteractionContext, Pii, PlayOutcome, Speaker, Timestamp,
    TranscriptLine, Utterance,
};

use super::model::{FlowSpec, Node};
use crate::kb::{Conversation, KnowledgeBase};

/// Knowledge bases a flow's `bot` nodes may name, by name.
pub type KnowledgeBases = BTreeMap<String, Arc<KnowledgeBase>>;

/// `template` with each `{name}` replaced by `values[name]`; unknown names
/// stay as written. Flows' prompts use it, and anything else that fills a
/// message from named values (the premise's notifications).
pub fn fill_template(template: &str, values: &BTreeMap<String, String>) -> String {
    let mut out = template.to_string();
    for (k, v) in values {
        out = out.replace(&format!("{{{k}}}"), v);
    }
    out
}

/// Something the driver must do; every action but [`Action::Transfer`] and
/// [`Action::Hangup`] is answered by one [`Input`].
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Action {
    /// Say a text (TTS or chat message); answer [`Input::PlayDone`].
    Say {
        /// The text.
        text: String,
        /// The caller may interrupt.
        barge_in: bool,
    },
    /// Play a prompt file; answer [`Input::PlayDone`].
    Play {
        /// The file.
        file: String,
        /// The caller may interrupt.
        barge_in: bool,
    },
    /// Listen for speech, DTMF or a chat message; answer [`Input::Heard`].
    Listen {
        /// Silence allowed before [`Utterance::NoInput`].
        no_input_timeout: Duration,
        /// Phrases the step expects (a menu's labels and words), for the recognizer.
        hints: Vec<String>,
        /// The flow's language ([`FlowSpec::language`](super::FlowSpec::language)),
        /// for the recognizer.
        language: Option<String>,
    },
    /// Collect DTMF digits (voice only); answer [`Input::Digits`].
    CollectDigits(DigitSpec),
    /// Run NLU on a text; answer [`Input::Understood`].
    Understand {
        /// The caller's words.
        text: String,
        /// Intents the current step expects.
        expected_intents: Vec<String>,
    },
    /// Run a business task; answer [`Input::TaskDone`].
    RunTask {
        /// Handler name.
        handler: String,
        /// The variables so far.
        variables: BTreeMap<String, String>,
    },
    /// POST the variables to a webhook; answer [`Input::TaskDone`] with the
    /// variables from its answer (see [`Webhook`](super::Webhook)).
    CallWebhook {
        /// The task node's label.
        handler: String,
        /// The endpoint.
        url: String,
        /// Longest wait.
        timeout: Duration,
        /// The variables to send.
        variables: BTreeMap<String, String>,
    },
    /// Queue the caller with the context; answer [`Input::QueueDone`].
    Enqueue {
        /// The queue.
        queue: String,
        /// Priority.
        priority: i32,
        /// Skills required.
        skills: Vec<String>,
        /// Intent, slots and transcript for the agent.
        context: InteractionContext,
    },
    /// Book a callback keeping the caller's place; answer [`Input::CallbackBooked`].
    BookCallback {
        /// The queue.
        queue: String,
        /// Context for the agent who calls back.
        context: InteractionContext,
    },
    /// Record a message; answer [`Input::Recorded`].
    Record {
        /// Longest message.
        max_duration: Duration,
    },
    /// Take a voicemail and queue it for an agent; answer
    /// [`Input::Recorded`].
    Voicemail {
        /// Said before recording (`None`: the driver's default).
        prompt: Option<String>,
        /// The queue whose agents receive it.
        queue: String,
        /// Longest message.
        max_duration: Duration,
    },
    /// Blind-transfer; the flow is over.
    Transfer {
        /// Target number or address.
        target: String,
        /// Context for whoever answers.
        context: InteractionContext,
    },
    /// Hang up; the flow is over.
    Hangup,
}

/// How a queue stay ended, as the driver reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum QueueResult {
    /// An agent served the caller.
    Served,
    /// The caller hung up while waiting.
    Abandoned,
    /// The queue timed out or refused the call.
    GaveUp,
    /// The caller pressed the callback key while waiting; the callback is
    /// booked and the call ends.
    CallbackRequested,
    /// The queue overflowed the caller to voicemail and they left one; the
    /// call ends.
    LeftVoicemail,
}

/// The result of an [`Action`].
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Input {
    /// A say or play finished or was interrupted.
    PlayDone(PlayOutcome),
    /// What the caller said, typed or keyed.
    Heard(Utterance),
    /// Digits collected.
    Digits(DigitResult),
    /// NLU result.
    Understood(IntentResult),
    /// Task result: variables to set, or an error message.
    TaskDone(Result<BTreeMap<String, String>, String>),
    /// Queue result.
    QueueDone(QueueResult),
    /// Whether the callback was booked.
    CallbackBooked(bool),
    /// The recording id, if anything was recorded.
    Recorded(Option<String>),
    /// The caller hung up.
    CallerHungUp,
}

impl Input {
    /// The kind of input, for logs: never what the caller said or keyed.
    pub fn kind(&self) -> &'static str {
        match self {
            Input::PlayDone(_) => "play_done",
            Input::Heard(_) => "heard",
            Input::Digits(_) => "digits",
            Input::Understood(_) => "understood",
            Input::TaskDone(_) => "task_done",
            Input::QueueDone(_) => "queue_done",
            Input::CallbackBooked(_) => "callback_booked",
            Input::Recorded(_) => "recorded",
            Input::CallerHungUp => "caller_hung_up",
        }
    }
}

/// Voice (DTMF menus) or text (numbered choices).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlowChannel {
    /// A phone call.
    Voice,
    /// Chat and other text channels.
    Text,
}

/// How the run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FlowEnd {
    /// The flow hung up.
    HungUp,
    /// Transferred.
    Transferred(String),
    /// Served by an agent from a queue.
    Served(String),
    /// The caller hung up (in the IVR or while queued).
    CallerLeft,
    /// A callback was booked and the call ended.
    CallbackBooked(String),
    /// The flow ran in circles without waiting for the caller.
    Runaway,
}

#[derive(Debug, Clone, PartialEq)]
enum Asking {
    Menu,
    Digits,
    Intent,
    Slot(usize),
    Confirm,
    Callback,
    Bot(bot_steps::BotAsking),
}

/// What follows a prompt.
#[derive(Debug, Clone, PartialEq)]
enum After {
    Listen,
    Goto(String),
    Record,
    Hangup,
}

#[derive(Debug, Clone, PartialEq)]
enum State {
    Idle,
    /// Waiting for a say or play to end.
    Playing {
        after: After,
    },
    Listening,
    Understanding,
    Task,
    Queue,
    Callback,
    Recording,
    Done,
}

const RUNAWAY_STEPS: u32 = 1_000;

/// One run of a flow; see the [module docs](self).
#[derive(Debug)]
pub struct FlowRun {
    spec: Arc<FlowSpec>,
    channel: FlowChannel,
    node: String,
    state: State,
    asking: Asking,
    attempts: u32,
    no_input: u32,
    no_match: u32,
    /// Said before the next prompt (the intro of a slot-only `ask`).
    intro: Option<String>,
    /// Variables, including filled slots.
    variables: BTreeMap<String, String>,
    attributes: BTreeMap<String, String>,
    context: InteractionContext,
    outputs: VecDeque<Action>,
    steps: u32,
    end: Option<FlowEnd>,
    now: Timestamp,
    /// Knowledge bases for `bot` nodes.
    knowledge: Arc<KnowledgeBases>,
    /// The bot's conversation (its topic for follow-up questions).
    conversation: Conversation,
    /// Answers the current `bot` node has given.
    bot_answers: u32,
}

impl FlowRun {
    /// Starts `spec` at `now` (after-hours node when the hours say closed).
    pub fn start(
        spec: Arc<FlowSpec>,
        channel: FlowChannel,
        attributes: BTreeMap<String, String>,
        now: Timestamp,
    ) -> Self {
        Self::start_with_knowledge(spec, channel, attributes, now, Arc::default())
    }

    /// Like [`start`](Self::start), with the knowledge bases its `bot` nodes
    /// name.
    pub fn start_with_knowledge(
        spec: Arc<FlowSpec>,
        channel: FlowChannel,
        attributes: BTreeMap<String, String>,
        now: Timestamp,
        knowledge: Arc<KnowledgeBases>,
    ) -> Self {
        let first = match &spec.hours {
            Some(h) if !h.is_open(now.as_millis()) => h.after_hours.clone(),
            _ => spec.start.clone(),
        };
        let mut run = FlowRun {
            spec,
            channel,
            node: first.clone(),
            state: State::Idle,
            asking: Asking::Menu,
            attempts: 0,
            no_input: 0,
            no_match: 0,
            intro: None,
            variables: BTreeMap::new(),
            attributes,
            context: InteractionContext::default(),
            outputs: VecDeque::new(),
            steps: 0,
            end: None,
            now,
            knowledge,
            conversation: Conversation::default(),
            bot_answers: 0,
        };
        run.enter(&first);
        run
    }

    /// The next action to perform, if any.
    pub fn poll_output(&mut self) -> Option<Action> {
        self.outputs.pop_front()
    }

    /// The engine keeps no timers of its own (prompts and listens carry their
    /// timeouts to the media layer), so there is never a deadline to wake it.
    pub fn poll_timeout(&self) -> Option<Timestamp> {
        None
    }

    /// How the run ended, once it has.
    pub fn end(&self) -> Option<&FlowEnd> {
        self.end.as_ref()
    }

    /// The node the run is at.
    pub fn current_node(&self) -> &str {
        &self.node
    }

    /// Variables and filled slots.
    pub fn variables(&self) -> &BTreeMap<String, String> {
        &self.variables
    }

    /// Intent, slots and transcript collected so far (what an agent receives).
    pub fn context(&self) -> &InteractionContext {
        &self.context
    }

    fn finish(&mut self, end: FlowEnd) {
        tracing::debug!(
            flow = %self.spec.name,
            node = %self.node,
            end = %callcore::VariantOf(&end),
            "flow ended"
        );
        self.end = Some(end);
        self.state = State::Done;
    }

    fn bot_says(&mut self, text: String, barge_in: bool, after: After) {
        self.context.transcript.push(TranscriptLine {
            speaker: Speaker::Bot,
            text: Pii::new(text.clone()),
            at: self.now,
        });
        self.outputs.push_back(Action::Say { text, barge_in });
        self.state = State::Playing { after };
    }

    fn render(&self, template: &str) -> String {
        fill_template(template, &self.variables)
    }

    fn node_spec(&self) -> Option<Node> {
        self.spec.nodes.get(&self.node).cloned()
    }

    /// Feeds the result of the last action, at `now`.
    pub fn handle_input(&mut self, input: Input, now: Timestamp) {
        self.now = now;
        if self.end.is_some() {
            return;
        }
        self.steps = 0;
        if input == Input::CallerHungUp {
            self.finish(FlowEnd::CallerLeft);
            return;
        }
        let state = std::mem::replace(&mut self.state, State::Idle);
        match (state, input) {
            (State::Playing { after }, Input::PlayDone(_)) => match after {
                // An interruption stops the prompt; the input that interrupted
                // stays with the media layer and is what the next listen reads.
                After::Listen => self.listen(),
                After::Goto(next) => self.enter(&next),
                After::Record => {
                    if let Some(Node::Record { max_secs, .. }) = self.node_spec() {
                        let max_duration = Duration::from_secs(u64::from(max_secs));
                        self.outputs.push_back(Action::Record { max_duration });
                    }
                    self.state = State::Recording;
                }
                After::Hangup => {
                    self.outputs.push_back(Action::Hangup);
                    self.finish(FlowEnd::HungUp);
                }
            },
            (State::Listening, Input::Heard(u)) => self.heard(u),
            (State::Listening, Input::Digits(d)) => self.digits(d),
            (State::Understanding, Input::Understood(r)) => self.understood(r),
            (State::Task, Input::TaskDone(result)) => self.task_done(result),
            (State::Queue, Input::QueueDone(result)) => self.queue_done(result),
            (State::Callback, Input::CallbackBooked(booked)) => self.callback_booked(booked),
            (State::Recording, Input::Recorded(id)) => self.recorded(id),
            (state, input) => {
                tracing::warn!(
                    ?state,
                    input = input.kind(),
                    "unexpected input for the flow's state; ignored"
                );
                self.state = state;
            }
        }
    }

    /// Enters node `id`, passing through `branch` and `set` nodes without recursion.
    fn enter(&mut self, id: &str) {
        let mut next = Some(id.to_string());
        while let Some(id) = next.take() {
            next = self.enter_one(&id);
        }
    }

    /// Enters one node; returns the next node for nodes that do not wait.
    fn enter_one(&mut self, id: &str) -> Option<String> {
        self.node = id.to_string();
        self.attempts = 0;
        self.no_input = 0;
        self.no_match = 0;
        self.steps += 1;
        if self.steps > RUNAWAY_STEPS {
            self.outputs.push_back(Action::Hangup);
            self.finish(FlowEnd::Runaway);
            return None;
        }
        let Some(node) = self.node_spec() else {
            self.outputs.push_back(Action::Hangup);
            self.finish(FlowEnd::HungUp);
            return None;
        };
        match node {
            Node::Say {
                text,
                barge_in,
                next,
            } => {
                let text = self.render(&text);
                self.bot_says(text, barge_in, After::Goto(next));
            }
            Node::Play {
                file,
                barge_in,
                next,
            } => {
                self.outputs.push_back(Action::Play { file, barge_in });
                self.state = State::Playing {
                    after: After::Goto(next),
                };
            }
            Node::Menu { .. } => {
                self.asking = Asking::Menu;
                self.prompt("");
            }
            Node::CollectDigits { .. } => {
                self.asking = Asking::Digits;
                self.prompt("");
            }
            Node::Ask { routes, prompt, .. } => {
                self.asking = Asking::Intent;
                if routes.is_empty() {
                    // Only slots to fill: skip what is already known.
                    self.intro = Some(self.render(&prompt));
                    self.next_slot_or_confirm();
                } else {
                    self.prompt("");
                }
            }
            Node::CallbackOffer { .. } => {
                self.asking = Asking::Callback;
                self.prompt("");
            }
            Node::Bot { .. } => self.enter_bot(),
            Node::Branch { rules, otherwise } => {
                let next = rules
                    .iter()
                    .find(|r| self.holds(&r.when))
                    .map_or(otherwise, |r| r.next.clone());
                return Some(next);
            }
            Node::Set { var, value, next } => {
                let value = self.render(&value);
                self.variables.insert(var, value);
                return Some(next);
            }
            Node::Task {
                handler,
                webhook: None,
                ..
            } => {
                self.outputs.push_back(Action::RunTask {
                    handler,
                    variables: self.variables.clone(),
                });
                self.state = State::Task;
            }
            Node::Task {
                handler,
                webhook: Some(webhook),
                ..
            } => {
                let variables = if webhook.send.is_empty() {
                    self.variables.clone()
                } else {
                    webhook
                        .send
                        .iter()
                        .filter_map(|k| self.variables.get(k).map(|v| (k.clone(), v.clone())))
                        .collect()
                };
                self.outputs.push_back(Action::CallWebhook {
                    handler,
                    url: webhook.url,
                    timeout: Duration::from_millis(webhook.timeout_ms),
                    variables,
                });
                self.state = State::Task;
            }
            Node::Queue {
                queue,
                priority,
                skills,
                ..
            } => {
                self.sync_slots();
                let context = self.context.clone();
                self.outputs.push_back(Action::Enqueue {
                    queue,
                    priority,
                    skills,
                    context,
                });
                self.state = State::Queue;
            }
            Node::Transfer { target } => {
                self.sync_slots();
                let context = self.context.clone();
                self.outputs.push_back(Action::Transfer {
                    target: target.clone(),
                    context,
                });
                self.finish(FlowEnd::Transferred(target));
            }
            Node::Record { prompt, .. } => {
                let text = self.render(&prompt);
                self.bot_says(text, false, After::Record);
            }
            Node::Voicemail {
                prompt,
                queue,
                max_secs,
                ..
            } => {
                self.sync_slots();
                let prompt = prompt.map(|p| self.render(&p));
                self.outputs.push_back(Action::Voicemail {
                    prompt,
                    queue,
                    max_duration: Duration::from_secs(u64::from(max_secs)),
                });
                self.state = State::Recording;
            }
            Node::Hangup { message } => match message {
                Some(m) => {
                    let m = self.render(&m);
                    self.bot_says(m, false, After::Hangup);
                }
                None => {
                    self.outputs.push_back(Action::Hangup);
                    self.finish(FlowEnd::HungUp);
                }
            },
        }
        None
    }
}

#[path = "engine_bot.rs"]
mod bot_steps;
#[path = "engine_input.rs"]
mod input_steps;
#[path = "engine_nlu.rs"]
mod nlu_steps;
