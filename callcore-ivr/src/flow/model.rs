//! The flow model: nodes joined by the names of the nodes that follow them.
//! It deserialises from JSON or TOML (`serde`) and is built in Rust by
//! [`FlowBuilder`](super::FlowBuilder); both are checked by
//! [`FlowSpec::validate`](super::validate).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::hours::BusinessHours;

fn default_attempts() -> u32 {
    3
}

fn default_first_digit_ms() -> u64 {
    5_000
}

fn default_inter_digit_ms() -> u64 {
    3_000
}

fn default_no_input_ms() -> u64 {
    5_000
}

fn default_anything_else() -> String {
    "Is there anything else I can help you with?".into()
}

fn default_handoff_message() -> String {
    "Let me connect you with someone who can help.".into()
}

fn default_bot_answers() -> u32 {
    5
}

fn default_voicemail_secs() -> u32 {
    120
}

/// A whole flow.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlowSpec {
    /// Flow name, for logs and events.
    pub name: String,
    /// The first node.
    pub start: String,
    /// Commands recognised at every prompt ("agent", "operator", 0).
    #[serde(default)]
    pub global_commands: Vec<GlobalCommand>,
    /// Opening hours; outside them the flow starts at `hours.after_hours`.
    #[serde(default)]
    pub hours: Option<BusinessHours>,
    /// How long a prompt waits for the caller to start, in milliseconds.
    #[serde(default = "default_no_input_ms")]
    pub no_input_timeout_ms: u64,
    /// The language the flow speaks and hears (`"zh"`, `"en"`, a BCP 47 tag):
    /// its listens ask the recognizer for it ([`callcore::ListenSpec::language`])
    /// and voice menus read their keys out in it ("账单查询请按1。" for `zh`,
    /// see [`spoken_choice`](super::spoken_choice)). Absent: English wording and
    /// the recognizer's own default language.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    /// Variables (slots) that are sensitive (`card_number`, `pin`): the flow
    /// uses their values, but the context handed to the agent (and journaled)
    /// holds them masked (`••••••••••••1111`, see [`callcore::mask_sensitive`]),
    /// and the conversation it carries has them masked where it repeats them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sensitive: Vec<String>,
    /// The nodes by name.
    pub nodes: BTreeMap<String, Node>,
}

/// A command the caller can give at any prompt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GlobalCommand {
    /// Words or phrases that trigger it ("agent", "operator", "人工").
    #[serde(default)]
    pub words: Vec<String>,
    /// DTMF that triggers it ("0").
    #[serde(default)]
    pub digits: Vec<String>,
    /// An NLU intent that triggers it ("talk_to_agent").
    #[serde(default)]
    pub intent: Option<String>,
    /// The node to jump to.
    pub goto: String,
}

/// One choice of a menu.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MenuChoice {
    /// The DTMF key (also the number typed on chat).
    pub key: String,
    /// How the choice is read out ("your balance").
    pub label: String,
    /// Words that pick it when spoken or typed.
    #[serde(default)]
    pub words: Vec<String>,
    /// An NLU intent that picks it.
    #[serde(default)]
    pub intent: Option<String>,
    /// Where it leads.
    pub next: String,
}

/// A slot an `ask` node fills.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlotRequest {
    /// The slot (entity) name: `amount`, `date`, `card_number`, a custom entity.
    pub name: String,
    /// What to ask when it is missing.
    pub prompt: String,
}

/// Where an intent leads from an `ask` node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IntentRoute {
    /// The intent.
    pub intent: String,
    /// The node.
    pub next: String,
}

/// A test of a [`Node::Branch`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
#[non_exhaustive]
pub enum Condition {
    /// The recognised intent is `is`.
    Intent {
        /// The intent.
        is: String,
    },
    /// A variable (slots are variables too) is set, or equals `equals`.
    Var {
        /// Variable name.
        name: String,
        /// Value to compare with; `None` tests presence.
        #[serde(default)]
        equals: Option<String>,
    },
    /// An attribute of the interaction (e.g. `vip`) is set, or equals `equals`.
    Attribute {
        /// Attribute name.
        name: String,
        /// Value to compare with; `None` tests presence.
        #[serde(default)]
        equals: Option<String>,
    },
    /// The flow's business hours say open.
    Open,
    /// Local time of day is within `from`..`to` ("HH:MM", in the hours' time zone).
    TimeBetween {
        /// Start, inclusive.
        from: String,
        /// End, exclusive.
        to: String,
    },
}

/// One rule of a [`Node::Branch`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BranchRule {
    /// The test.
    pub when: Condition,
    /// Where to go when it holds.
    pub next: String,
}

/// Re-prompt settings shared by nodes that wait for the caller.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Retries {
    /// Prompts after silence, escalating: the first after the first silence, etc.
    #[serde(default)]
    pub no_input: Vec<String>,
    /// Prompts after an answer that matched nothing, escalating.
    #[serde(default)]
    pub no_match: Vec<String>,
    /// Attempts before giving up (default 3).
    #[serde(default)]
    pub max_attempts: Option<u32>,
}

impl Retries {
    /// Attempts allowed.
    pub fn attempts(&self) -> u32 {
        self.max_attempts.unwrap_or_else(default_attempts).max(1)
    }
}

/// An HTTP endpoint a `task` node calls: the flow's variables are POSTed as a
/// JSON object, and the JSON object it answers with is merged into the
/// variables (nested objects flattened to `a.b`, numbers and booleans as text).
/// A status outside 2xx, a timeout or a body that is not a JSON object sends
/// the flow to the node's `on_error`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Webhook {
    /// `http://host[:port]/path` (plain HTTP; put TLS in a local proxy).
    pub url: String,
    /// Longest wait for the answer, milliseconds.
    #[serde(default = "default_webhook_timeout_ms")]
    pub timeout_ms: u64,
    /// Variables to send; empty sends them all.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub send: Vec<String>,
}

fn default_webhook_timeout_ms() -> u64 {
    5_000
}

impl Webhook {
    /// A webhook at `url` sending every variable, with the default 5 s timeout.
    pub fn new(url: impl Into<String>) -> Self {
        Webhook {
            url: url.into(),
            timeout_ms: default_webhook_timeout_ms(),
            send: Vec::new(),
        }
    }
}

#[allow(clippy::trivially_copy_pass_by_ref)] // serde's skip_serializing_if passes a reference
fn is_zero(v: &f32) -> bool {
    *v <= 0.0
}

/// A node of a flow.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
#[non_exhaustive]
pub enum Node {
    /// Says a text (TTS on voice, a message on chat). `{var}` is replaced by variables.
    Say {
        /// The text.
        text: String,
        /// The caller may interrupt it.
        #[serde(default)]
        barge_in: bool,
        /// The next node.
        next: String,
    },
    /// Plays a prompt file.
    Play {
        /// The file or named prompt.
        file: String,
        /// The caller may interrupt it.
        #[serde(default)]
        barge_in: bool,
        /// The next node.
        next: String,
    },
    /// A menu answered by DTMF, by speech or by typing the number on chat.
    Menu {
        /// The question; the choices are read out after it.
        prompt: String,
        /// The choices.
        choices: Vec<MenuChoice>,
        /// Re-prompts and attempts.
        #[serde(default)]
        retries: Retries,
        /// Where to go when the attempts are used up.
        on_failure: String,
        /// A spoken answer whose recognizer confidence (0–1) is below this picks
        /// no choice, even when it holds a choice's words: the caller is asked
        /// again (the keys are read out again too). 0 (the default) takes every
        /// answer; typed text and keys always count.
        #[serde(default, skip_serializing_if = "is_zero")]
        min_confidence: f32,
    },
    /// Collects DTMF digits into a variable.
    CollectDigits {
        /// What to ask.
        prompt: String,
        /// The variable the digits go to.
        var: String,
        /// Fewest digits.
        min: u32,
        /// Most digits.
        max: u32,
        /// Key that ends input ('#').
        #[serde(default)]
        terminator: Option<char>,
        /// Time for the first digit, ms.
        #[serde(default = "default_first_digit_ms")]
        first_digit_timeout_ms: u64,
        /// Time between digits, ms.
        #[serde(default = "default_inter_digit_ms")]
        inter_digit_timeout_ms: u64,
        /// Re-prompts and attempts.
        #[serde(default)]
        retries: Retries,
        /// The next node.
        next: String,
        /// Where to go when the attempts are used up.
        on_failure: String,
    },
    /// Asks an open question: NLU intent routing plus slot filling.
    Ask {
        /// The question.
        prompt: String,
        /// Where intents lead.
        #[serde(default)]
        routes: Vec<IntentRoute>,
        /// Slots to fill before leaving (asked for when missing).
        #[serde(default)]
        slots: Vec<SlotRequest>,
        /// A confirmation question (`{slot}` replaced); "no" asks for the slots again.
        #[serde(default)]
        confirm: Option<String>,
        /// Re-prompts and attempts.
        #[serde(default)]
        retries: Retries,
        /// Where to go when no route matches but the slots are filled.
        #[serde(default)]
        otherwise: Option<String>,
        /// Where to go when the attempts are used up.
        on_failure: String,
    },
    /// Goes to the first rule that holds.
    Branch {
        /// The rules, in order.
        rules: Vec<BranchRule>,
        /// Where to go when none holds.
        otherwise: String,
    },
    /// Sets a variable (`{var}` replaced in `value`).
    Set {
        /// The variable.
        var: String,
        /// The value.
        value: String,
        /// The next node.
        next: String,
    },
    /// Runs a business handler written in Rust, or calls a webhook; its
    /// result lands in variables.
    Task {
        /// The registered handler's name (with a `webhook`, only a label for
        /// the interaction's steps).
        #[serde(default)]
        handler: String,
        /// Call this HTTP endpoint instead of a Rust handler.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        webhook: Option<Webhook>,
        /// The next node.
        next: String,
        /// Where to go when the handler fails.
        on_error: String,
    },
    /// Hands the caller to the ACD with everything collected so far.
    Queue {
        /// The queue.
        queue: String,
        /// Priority (higher first).
        #[serde(default)]
        priority: i32,
        /// Skills the agent needs.
        #[serde(default)]
        skills: Vec<String>,
        /// Where to go when the queue gives up (time-out, rejected); served or
        /// abandoned calls end.
        on_failure: String,
    },
    /// Blind transfer to a number or address; ends the flow.
    Transfer {
        /// The target.
        target: String,
    },
    /// Offers a callback instead of waiting (1 / yes accepts).
    CallbackOffer {
        /// The offer.
        prompt: String,
        /// The queue whose place the callback keeps.
        queue: String,
        /// After the callback is booked.
        accepted: String,
        /// When the caller prefers to wait.
        declined: String,
    },
    /// Records a message into a variable (the recording id).
    Record {
        /// What to say before the tone.
        prompt: String,
        /// The variable for the recording id.
        var: String,
        /// Longest message, seconds.
        max_secs: u32,
        /// The next node.
        next: String,
    },
    /// Takes a voicemail: says the prompt, records the caller's message
    /// (until `#`, silence or `max_secs`), files it and queues it in `queue`
    /// for an agent, who hears it (see callcore-runtime's `voicemail`). The
    /// recording id goes to the variable `voicemail`.
    Voicemail {
        /// Said before recording (`None`: the runtime's default prompt).
        #[serde(default)]
        prompt: Option<String>,
        /// The queue whose agents receive the message.
        queue: String,
        /// Longest message, seconds.
        #[serde(default = "default_voicemail_secs")]
        max_secs: u32,
        /// The next node (usually a goodbye).
        next: String,
    },
    /// The knowledge-base bot answers the caller's questions before (or
    /// instead of) an agent: it asks `prompt`, answers from the knowledge base
    /// registered under `knowledge_base` (see
    /// [`IvrFlow::with_knowledge_base`](super::IvrFlow::with_knowledge_base)),
    /// asks "did you mean …?" when it is unsure, and after each answer asks
    /// `anything_else`. "No" (or silence) there goes to `next`; a question it
    /// cannot answer, a "no" to its guess, "agent"/"人工" or `0` goes to
    /// `handoff` (usually a `queue` node) with the question, what it answered
    /// and why it handed off in the variables `bot_question`, `bot_answered`
    /// and `bot_handoff`, and the whole exchange in the transcript the agent
    /// receives, so that the customer is never asked again.
    Bot {
        /// The opening question ("What can I help you with?").
        prompt: String,
        /// The knowledge base's name.
        knowledge_base: String,
        /// Asked after each answer.
        #[serde(default = "default_anything_else")]
        anything_else: String,
        /// Said when handing off (empty: nothing).
        #[serde(default = "default_handoff_message")]
        handoff_message: String,
        /// Answers given before moving on to `next`.
        #[serde(default = "default_bot_answers")]
        max_answers: u32,
        /// Re-prompts and attempts for silence and unclear answers.
        #[serde(default)]
        retries: Retries,
        /// When the caller has no more questions.
        next: String,
        /// When the bot hands the caller to a person.
        handoff: String,
    },
    /// Ends the call, optionally with a last message.
    Hangup {
        /// Said before hanging up.
        #[serde(default)]
        message: Option<String>,
    },
}

impl Node {
    /// The nodes this node can lead to, with the field naming each.
    pub fn targets(&self) -> Vec<(String, &str)> {
        let mut t: Vec<(String, &str)> = Vec::new();
        match self {
            Node::Say { next, .. }
            | Node::Play { next, .. }
            | Node::Set { next, .. }
            | Node::Record { next, .. }
            | Node::Voicemail { next, .. } => t.push(("next".into(), next)),
            Node::Menu {
                choices,
                on_failure,
                ..
            } => {
                for (i, c) in choices.iter().enumerate() {
                    t.push((format!("choices[{i}].next"), &c.next));
                }
                t.push(("on_failure".into(), on_failure));
            }
            Node::CollectDigits {
                next, on_failure, ..
            } => {
                t.push(("next".into(), next));
                t.push(("on_failure".into(), on_failure));
            }
            Node::Ask {
                routes,
                otherwise,
                on_failure,
                ..
            } => {
                for (i, r) in routes.iter().enumerate() {
                    t.push((format!("routes[{i}].next"), &r.next));
                }
                if let Some(o) = otherwise {
                    t.push(("otherwise".into(), o));
                }
                t.push(("on_failure".into(), on_failure));
            }
            Node::Branch { rules, otherwise } => {
                for (i, r) in rules.iter().enumerate() {
                    t.push((format!("rules[{i}].next"), &r.next));
                }
                t.push(("otherwise".into(), otherwise));
            }
            Node::Task { next, on_error, .. } => {
                t.push(("next".into(), next));
                t.push(("on_error".into(), on_error));
            }
            Node::Queue { on_failure, .. } => t.push(("on_failure".into(), on_failure)),
            Node::Bot { next, handoff, .. } => {
                t.push(("next".into(), next));
                t.push(("handoff".into(), handoff));
            }
            Node::CallbackOffer {
                accepted, declined, ..
            } => {
                t.push(("accepted".into(), accepted));
                t.push(("declined".into(), declined));
            }
            Node::Transfer { .. } | Node::Hangup { .. } => {}
        }
        t
    }

    /// True for nodes that can end the interaction (hang-up, transfer, queue).
    pub fn can_end(&self) -> bool {
        matches!(
            self,
            Node::Hangup { .. } | Node::Transfer { .. } | Node::Queue { .. }
        )
    }
}
