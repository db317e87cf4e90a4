//! Knowledge-base bot: question/answer entries with variants, BM25 retrieval
//! over the shared tokenizer, a calibrated escalation threshold and multi-turn
//! context.
//!
//! ```
//! use callcore_ivr::kb::{BotReply, Conversation, KnowledgeBase};
//! let kb = KnowledgeBase::from_json(r#"{"language": "en", "entries": [
//!   {"id": "hours", "question": "when are you open", "variants": ["opening hours", "what time do branches open"],
//!    "answer": "Branches open 9:00-17:00, Monday to Saturday."},
//!   {"id": "roaming", "question": "does my phone work abroad", "variants": ["international roaming", "using my phone overseas"],
//!    "answer": "Roaming is on by default in 120 countries."}]}"#).unwrap();
//! let mut conversation = Conversation::default();
//! match kb.reply(&mut conversation, "what are your opening hours?") {
//!     BotReply::Answer { entry, .. } => assert_eq!(entry, "hours"),
//!     other => panic!("{other:?}"),
//! }
//! assert!(matches!(kb.reply(&mut conversation, "who won the world cup"), BotReply::Escalate { .. }));
//! ```

mod bm25;

use serde::{Deserialize, Serialize};

use crate::error::IvrError;
use crate::nlu::Language;
use crate::tokenize::Tokenizer;
use bm25::{Bm25Index, Bm25Params};

const WHAT: &str = "knowledge base";

/// Below the threshold but at least this fraction of it, the best entry is
/// offered as a guess ("did you mean …?") instead of escalating at once.
pub const CLARIFY_FRACTION: f32 = 0.75;

/// One question with its other phrasings and its answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KbEntry {
    /// Stable id reported with answers, e.g. `opening_hours`.
    pub id: String,
    /// The question as usually asked.
    pub question: String,
    /// Other ways to ask it.
    #[serde(default)]
    pub variants: Vec<String>,
    /// The answer given.
    pub answer: String,
}

/// A knowledge-base file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KnowledgeBaseFile {
    /// Language of the entries.
    pub language: Language,
    /// The entries.
    pub entries: Vec<KbEntry>,
    /// Fixed escalation threshold (0..1); calibrated from the variants when absent.
    #[serde(default)]
    pub escalate_below: Option<f32>,
}

/// Why the bot hands the conversation to a human.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum EscalationReason {
    /// No entry scored above the threshold.
    NoConfidentAnswer,
    /// The question had no usable words.
    EmptyQuestion,
}

/// What the bot says to one question.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum BotReply {
    /// An answer from the knowledge base.
    Answer {
        /// The entry's id.
        entry: String,
        /// The entry's answer.
        answer: String,
        /// Normalised retrieval score (0..1).
        score: f32,
        /// True when the previous turn was needed to understand the question.
        used_context: bool,
    },
    /// Hand over to an agent.
    Escalate {
        /// Why.
        reason: EscalationReason,
        /// The best entry and its score, for the agent's screen.
        best: Option<(String, f32)>,
    },
}

/// The state a bot keeps between turns of one conversation.
#[derive(Debug, Clone, Default)]
pub struct Conversation {
    previous_terms: Vec<String>,
    /// Id of the entry answered last.
    pub last_entry: Option<String>,
    /// Questions and replies so far, for the agent if the bot escalates.
    pub transcript: Vec<(String, BotReply)>,
}

/// Retrieval settings.
#[derive(Debug, Clone, Copy)]
pub struct KbConfig {
    /// Share of variants (each asked leave-one-out) the calibrated threshold accepts.
    pub accept_rate: f32,
    /// Weight of the previous turn's terms when a question needs context.
    pub context_weight: f32,
    /// Questions with at most this many terms are also read with the previous turn.
    pub short_question_terms: usize,
}

impl Default for KbConfig {
    fn default() -> Self {
        KbConfig {
            accept_rate: 0.95,
            context_weight: 0.5,
            short_question_terms: 4,
        }
    }
}

/// A searchable knowledge base and the bot that answers from it.
#[derive(Debug, Clone)]
pub struct KnowledgeBase {
    language: Language,
    tokenizer: Tokenizer,
    config: KbConfig,
    entries: Vec<KbEntry>,
    index: Bm25Index,
    doc_entry: Vec<u32>,
    threshold: f32,
}

impl KnowledgeBase {
    /// Parses, validates and indexes a knowledge-base JSON document.
    pub fn from_json(json: &str) -> Result<Self, IvrError> {
        let file: KnowledgeBaseFile =
            serde_json::from_str(json).map_err(|e| IvrError::json(WHAT, &e))?;
        Self::new(file, KbConfig::default())
    }

    /// Reads and indexes a knowledge-base file.
    pub fn load(path: impl AsRef<std::path::Path>) -> Result<Self, IvrError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| IvrError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Self::from_json(&text)
    }

    /// Indexes `file` with `config`.
    pub fn new(file: KnowledgeBaseFile, config: KbConfig) -> Result<Self, IvrError> {
        if file.entries.is_empty() {
            return Err(IvrError::invalid(
                WHAT,
                "entries",
                "at least one entry is needed",
            ));
        }
        let tokenizer = Tokenizer::new();
        let mut ids = std::collections::HashSet::new();
        let mut docs = Vec::new();
        let mut doc_entry = Vec::new();
        for (i, e) in file.entries.iter().enumerate() {
            if e.id.trim().is_empty() || !ids.insert(e.id.as_str()) {
                return Err(IvrError::invalid(
                    WHAT,
                    format!("entries[{i}].id"),
                    format!("empty or duplicate id {:?}", e.id),
                ));
            }
            if e.answer.trim().is_empty() {
                return Err(IvrError::invalid(
                    WHAT,
                    format!("entries[{i}].answer"),
                    "is empty",
                ));
            }
            let mut usable = false;
            for q in std::iter::once(&e.question).chain(&e.variants) {
                let terms: Vec<String> = tokenizer.terms(q).into_iter().map(|t| t.text).collect();
                if !terms.is_empty() {
                    usable = true;
                    docs.push(terms);
                    doc_entry.push(i as u32);
                }
            }
            if !usable {
                return Err(IvrError::invalid(
                    WHAT,
                    format!("entries[{i}].question"),
                    "no question or variant has usable words",
                ));
            }
        }
        if let Some(t) = file.escalate_below
            && !(0.0..=1.0).contains(&t)
        {
            return Err(IvrError::invalid(
                WHAT,
                "escalate_below",
                "must be within 0..1",
            ));
        }
        let index = Bm25Index::build(&docs, &doc_entry, Bm25Params::default());
        let mut kb = KnowledgeBase {
            language: file.language,
            tokenizer,
            config,
            entries: file.entries,
            index,
            doc_entry,
            threshold: 0.0,
        };
        kb.threshold = match file.escalate_below {
            Some(t) => t,
            None => kb.calibrate(&docs),
        };
        Ok(kb)
    }

    /// Asks every variant leave-one-out and sets the threshold to accept `accept_rate` of them.
    fn calibrate(&self, docs: &[Vec<String>]) -> f32 {
        let mut tops = Vec::new();
        for (d, terms) in docs.iter().enumerate() {
            let entry = self.doc_entry[d];
            let siblings = self.doc_entry.iter().filter(|&&e| e == entry).count();
            if siblings < 2 {
                continue;
            }
            let query: Vec<(String, f32)> = terms.iter().map(|t| (t.clone(), 1.0)).collect();
            if let Some(&(_, score)) = self.rank(&query, Some(d as u32)).first() {
                tops.push(score);
            }
        }
        if tops.is_empty() {
            return 0.3;
        }
        tops.sort_unstable_by(f32::total_cmp);
        let idx = ((tops.len() - 1) as f32 * (1.0 - self.config.accept_rate)).round() as usize;
        let threshold = tops[idx.min(tops.len() - 1)].clamp(0.05, 0.9);
        tracing::debug!(
            threshold,
            variants = tops.len(),
            "knowledge base calibrated"
        );
        threshold
    }

    /// Entries ranked by their best-matching question, best first.
    fn rank(&self, query: &[(String, f32)], excluded: Option<u32>) -> Vec<(usize, f32)> {
        let scores = self.index.scores(query, excluded);
        let mut best = vec![0.0f32; self.entries.len()];
        for (d, s) in scores.into_iter().enumerate() {
            let e = self.doc_entry[d] as usize;
            best[e] = best[e].max(s);
        }
        let mut ranked: Vec<(usize, f32)> = best
            .into_iter()
            .enumerate()
            .filter(|(_, s)| *s > 0.0)
            .collect();
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1));
        ranked
    }

    /// The language of the entries.
    pub fn language(&self) -> Language {
        self.language
    }

    /// The escalation threshold in use.
    pub fn threshold(&self) -> f32 {
        self.threshold
    }

    /// The entries.
    pub fn entries(&self) -> &[KbEntry] {
        &self.entries
    }

    /// The best entries for a single question (no context), best first.
    pub fn search(&self, question: &str) -> Vec<(&KbEntry, f32)> {
        let query: Vec<(String, f32)> = self
            .tokenizer
            .terms(question)
            .into_iter()
            .map(|t| (t.text, 1.0))
            .collect();
        self.rank(&query, None)
            .into_iter()
            .map(|(e, s)| (&self.entries[e], s))
            .collect()
    }

    /// Answers one turn of `conversation`, reading short follow-ups ("and on
    /// Sundays?") together with the previous question.
    pub fn reply(&self, conversation: &mut Conversation, question: &str) -> BotReply {
        let terms: Vec<String> = self
            .tokenizer
            .terms(question)
            .into_iter()
            .map(|t| t.text)
            .collect();
        let reply = self.reply_to_terms(conversation, question, &terms);
        if let BotReply::Answer { entry, .. } = &reply {
            conversation.last_entry = Some(entry.clone());
            let mut context = terms;
            if context.len() <= self.config.short_question_terms {
                context.extend(conversation.previous_terms.iter().cloned());
            }
            conversation.previous_terms = context;
        }
        conversation
            .transcript
            .push((question.to_string(), reply.clone()));
        reply
    }

    /// True if the question points back at the previous topic ("is it free?",
    /// "what about that", "那个呢").
    fn refers_back(&self, question: &str) -> bool {
        const EN: &[&str] = &[
            "it", "that", "this", "they", "them", "those", "these", "one",
        ];
        const ZH: &[&str] = &["它", "这个", "那个", "这", "那", "呢"];
        self.tokenizer
            .tokenize(question)
            .iter()
            .any(|t| EN.contains(&t.text.as_str()) || ZH.iter().any(|z| t.text.contains(z)))
    }

    fn reply_to_terms(
        &self,
        conversation: &Conversation,
        question: &str,
        terms: &[String],
    ) -> BotReply {
        if terms.is_empty() {
            return BotReply::Escalate {
                reason: EscalationReason::EmptyQuestion,
                best: None,
            };
        }
        let alone: Vec<(String, f32)> = terms.iter().map(|t| (t.clone(), 1.0)).collect();
        let ranked = self.rank(&alone, None);
        let top = ranked.first().copied();
        let confident = top.filter(|(_, s)| *s >= self.threshold);
        let short = terms.len() <= self.config.short_question_terms;
        if (confident.is_none() || short) && !conversation.previous_terms.is_empty() {
            let mut with_context = alone.clone();
            with_context.extend(
                conversation
                    .previous_terms
                    .iter()
                    .map(|t| (t.clone(), self.config.context_weight)),
            );
            let with_context = self.rank(&with_context, None);
            // The question itself must say something about the entry, or refer
            // back to it ("is it free?") with at most one word of its own;
            // otherwise an off-topic follow-up would be answered from the
            // previous topic.
            let refers_back = ranked.is_empty() && terms.len() <= 1 && self.refers_back(question);
            if let Some(&(e, s)) = with_context.first()
                && s >= self.threshold
                && confident.is_none_or(|(c, _)| c != e)
                && (refers_back || ranked.iter().any(|&(r, _)| r == e))
            {
                return self.answer(e, s, true);
            }
        }
        match (confident, top) {
            (Some((e, s)), _) => self.answer(e, s, false),
            (None, best) => BotReply::Escalate {
                reason: EscalationReason::NoConfidentAnswer,
                best: best.map(|(e, s)| (self.entries[e].id.clone(), s)),
            },
        }
    }

    /// The entry worth a "did you mean …?" after `reply` escalated for want
    /// of confidence: the best entry, when it scored at least
    /// [`CLARIFY_FRACTION`] of the threshold. `None` for other replies.
    pub fn clarification(&self, reply: &BotReply) -> Option<&KbEntry> {
        match reply {
            BotReply::Escalate {
                reason: EscalationReason::NoConfidentAnswer,
                best: Some((id, score)),
            } if *score >= self.threshold * CLARIFY_FRACTION => {
                self.entries.iter().find(|e| &e.id == id)
            }
            _ => None,
        }
    }

    /// The caller confirmed `entry` (after a "did you mean …?"): its answer,
    /// remembered as the conversation's topic. `None` for an unknown id.
    pub fn confirm(&self, conversation: &mut Conversation, entry: &str) -> Option<BotReply> {
        let e = self.entries.iter().position(|x| x.id == entry)?;
        conversation.last_entry = Some(entry.to_owned());
        conversation.previous_terms = self
            .tokenizer
            .terms(&self.entries[e].question)
            .into_iter()
            .map(|t| t.text)
            .collect();
        Some(self.answer(e, self.threshold, true))
    }

    fn answer(&self, e: usize, score: f32, used_context: bool) -> BotReply {
        let entry = &self.entries[e];
        BotReply::Answer {
            entry: entry.id.clone(),
            answer: entry.answer.clone(),
            score,
            used_context,
        }
    }
}
