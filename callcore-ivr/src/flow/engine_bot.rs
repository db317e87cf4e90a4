//! The `bot` node of [`FlowRun`]: the knowledge-base bot answering first.
//!
//! The bot asks its question, answers from the knowledge base, guesses
//! ("did you mean …?") when it is unsure, and hands the caller to `handoff`
//! with what it learned when it cannot help. The knowledge base is pure
//! computation (BM25 over a few hundred entries), so the engine consults it
//! itself instead of asking its driver: no new action, and the same node runs
//! on voice, on chat and in the simulator.

use crate::kb::{BotReply, EscalationReason, KnowledgeBase};
use crate::nlu::Language;

use super::super::matching::{phrase_in, yes_or_no};
use super::super::model::Node;
use super::{After, Asking, FlowRun};

/// Where the bot is in its exchange with the caller.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum BotAsking {
    /// Waiting for a question.
    Question,
    /// An answer was given; waiting for "anything else?".
    AfterAnswer,
    /// Guessed this entry; waiting for yes or no. Holds the entry's id and
    /// the caller's question.
    Guess { entry: String, question: String },
}

/// Words that ask for a person, in either language ("someone" and
/// "in person" are left out: "a branch where I can talk to someone in
/// person" is a question for the bot).
const PERSON: &[&str] = &[
    "agent",
    "human",
    "representative",
    "operator",
    "real person",
    "人工",
    "客服",
    "真人",
];

/// Why the bot handed off, as the `bot_handoff` variable says it.
#[derive(Debug, Clone, Copy)]
pub(super) enum Handoff {
    /// The caller asked for a person.
    AskedForAgent,
    /// No entry answered the question well enough.
    NoAnswer,
    /// The caller said no to the bot's guess.
    GuessRejected,
    /// Silence or unclear answers used up the attempts.
    Unclear,
    /// The flow names a knowledge base the driver did not register.
    NoKnowledgeBase,
}

impl Handoff {
    fn as_str(self) -> &'static str {
        match self {
            Handoff::AskedForAgent => "asked_for_agent",
            Handoff::NoAnswer => "no_answer",
            Handoff::GuessRejected => "guess_rejected",
            Handoff::Unclear => "unclear",
            Handoff::NoKnowledgeBase => "no_knowledge_base",
        }
    }
}

impl FlowRun {
    /// Enters a `bot` node: asks its question.
    pub(super) fn enter_bot(&mut self) {
        self.asking = Asking::Bot(BotAsking::Question);
        self.bot_answers = 0;
        self.prompt("");
    }

    /// The text the bot says at its current stage (for prompts and re-prompts).
    pub(super) fn bot_prompt(&self) -> String {
        let Some(Node::Bot {
            prompt,
            anything_else,
            ..
        }) = self.node_spec()
        else {
            return String::new();
        };
        match &self.asking {
            Asking::Bot(BotAsking::AfterAnswer) => self.render(&anything_else),
            Asking::Bot(BotAsking::Guess { entry, .. }) => self.guess_text(entry),
            _ => self.render(&prompt),
        }
    }

    fn knowledge_base(&self, name: &str) -> Option<std::sync::Arc<KnowledgeBase>> {
        self.knowledge.get(name).cloned()
    }

    fn guess_text(&self, entry: &str) -> String {
        let Some(Node::Bot { knowledge_base, .. }) = self.node_spec() else {
            return String::new();
        };
        let Some(kb) = self.knowledge_base(&knowledge_base) else {
            return String::new();
        };
        let question = kb
            .entries()
            .iter()
            .find(|e| e.id == entry)
            .map(|e| e.question.trim_end_matches(['?', '？']).to_owned())
            .unwrap_or_default();
        match kb.language() {
            Language::Zh => format!("您是想问“{question}”吗？"),
            _ => format!("Did you mean: {question}?"),
        }
    }

    /// The caller said or keyed something to the bot.
    pub(super) fn bot_heard(&mut self, text: Option<String>, digits: Option<String>) {
        let Some(Node::Bot { knowledge_base, .. }) = self.node_spec() else {
            return self.retry(false);
        };
        let Asking::Bot(stage) = self.asking.clone() else {
            return self.retry(false);
        };
        if digits.as_deref() == Some("0")
            || text
                .as_deref()
                .is_some_and(|t| PERSON.iter().any(|p| phrase_in(t, p)))
        {
            let question = match &stage {
                BotAsking::Guess { question, .. } => Some(question.clone()),
                _ => None,
            };
            return self.bot_handoff(Handoff::AskedForAgent, question);
        }
        let Some(kb) = self.knowledge_base(&knowledge_base) else {
            tracing::warn!(
                flow = %self.spec.name,
                node = %self.node,
                knowledge_base = %knowledge_base,
                "bot node names a knowledge base that is not registered; handing off"
            );
            return self.bot_handoff(Handoff::NoKnowledgeBase, text);
        };
        let answer = yes_or_no(text.as_deref(), digits.as_deref());
        match (stage, answer) {
            (BotAsking::Guess { entry, .. }, Some(true)) => {
                match kb.confirm(&mut self.conversation, &entry) {
                    Some(reply) => self.bot_replied(&kb, reply, String::new()),
                    None => self.bot_handoff(Handoff::NoAnswer, None),
                }
            }
            (BotAsking::Guess { question, .. }, Some(false)) => {
                self.bot_handoff(Handoff::GuessRejected, Some(question))
            }
            (stage, answer) => {
                let Some(question) = text.filter(|t| !t.trim().is_empty()) else {
                    return self.retry(false);
                };
                let reply = kb.reply(&mut self.conversation, &question);
                if matches!(
                    reply,
                    BotReply::Escalate {
                        reason: EscalationReason::EmptyQuestion,
                        ..
                    }
                ) && !matches!(stage, BotAsking::AfterAnswer)
                {
                    // Nothing to look up ("um", "yes"): ask again.
                    return self.retry(false);
                }
                let answered = matches!(reply, BotReply::Answer { .. });
                match (stage, answer) {
                    // "No, that's all" after an answer: done.
                    (BotAsking::AfterAnswer, Some(false)) if !answered => self.bot_done(),
                    // "Yes" after an answer, with no question in it: ask for it.
                    (BotAsking::AfterAnswer, Some(true)) if !answered => {
                        self.asking = Asking::Bot(BotAsking::Question);
                        self.prompt("");
                    }
                    _ => self.bot_replied(&kb, reply, question),
                }
            }
        }
    }

    /// Says an answer, guesses, or hands off, after the knowledge base replied
    /// to `question`.
    fn bot_replied(&mut self, kb: &KnowledgeBase, reply: BotReply, question: String) {
        let Some(Node::Bot {
            anything_else,
            max_answers,
            next,
            ..
        }) = self.node_spec()
        else {
            return;
        };
        if let BotReply::Answer { entry, answer, .. } = &reply {
            self.bot_answers += 1;
            let answered = match self.variables.get("bot_answered") {
                Some(list) if !list.is_empty() => format!("{list},{entry}"),
                _ => entry.clone(),
            };
            self.variables.insert("bot_answered".into(), answered);
            if self.bot_answers >= max_answers {
                return self.bot_says(answer.clone(), false, After::Goto(next));
            }
            self.asking = Asking::Bot(BotAsking::AfterAnswer);
            let text = format!("{answer} {}", self.render(&anything_else));
            return self.bot_says(text, true, After::Listen);
        }
        match kb.clarification(&reply) {
            Some(entry) => {
                let entry = entry.id.clone();
                let text = self.guess_text(&entry);
                self.asking = Asking::Bot(BotAsking::Guess { entry, question });
                self.bot_says(text, true, After::Listen);
            }
            None => self.bot_handoff(Handoff::NoAnswer, Some(question)),
        }
    }

    /// The caller has no more questions.
    fn bot_done(&mut self) {
        if let Some(Node::Bot { next, .. }) = self.node_spec() {
            self.enter(&next);
        }
    }

    /// Silence: after an answer it means "nothing else"; otherwise re-ask.
    pub(super) fn bot_no_input(&mut self) {
        if self.asking == Asking::Bot(BotAsking::AfterAnswer) {
            self.bot_done();
        } else {
            self.retry(true);
        }
    }

    /// Hands the caller to the node's `handoff` with what the bot learned.
    pub(super) fn bot_handoff(&mut self, why: Handoff, question: Option<String>) {
        let Some(Node::Bot {
            handoff,
            handoff_message,
            ..
        }) = self.node_spec()
        else {
            return;
        };
        tracing::debug!(flow = %self.spec.name, node = %self.node, why = why.as_str(), "bot hands off");
        self.variables
            .insert("bot_handoff".into(), why.as_str().into());
        if let Some(q) = question {
            self.variables.insert("bot_question".into(), q);
        }
        let message = self.render(&handoff_message);
        if message.trim().is_empty() {
            self.enter(&handoff);
        } else {
            self.bot_says(message, false, After::Goto(handoff));
        }
    }
}
