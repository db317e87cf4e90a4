//! The rules of `[quality]` and agent assist on one live call, sans-IO: fed
//! each transcript segment as it is emitted ([`LiveQa::handle_segment`]), the
//! classifier's answers ([`LiveQa::handle_intent`]) and the time
//! ([`LiveQa::handle_timeout`]); its findings are drained with
//! [`LiveQa::poll_output`]: quality alerts for supervisors (callcore-analytics'
//! [`QualityInspector`]: forbidden words, required phrases, sentiment),
//! suggestions for the agent (knowledge-base articles and the intent matching
//! what the customer said, a reminder of a required phrase not said yet), and
//! at the end ([`LiveQa::finish`]) the call's evaluation.
//!
//! Its time is the transcript's: the `now` of [`LiveQa::handle_segment`] and
//! [`LiveQa::handle_timeout`] is how far the transcript of the speakers with
//! required phrases ([`LiveRules::timed_speakers`]) is complete (every
//! utterance of theirs begun before it handed in), which trails the clock by
//! the utterance going on and the recognizer's delay. So a required phrase is
//! judged missing, and its reminder sent, only once what was said by its
//! deadline is known.

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use callcore::{
    AgentId, AssistKind, AssistSuggestion, ConversationAudio, EndReason, Event, EventKind,
    IntentResult, InteractionId, Pii, QualityEvaluation, QualityFinding, Speaker, TenantId,
    Timestamp,
};
use callcore_analytics::AnalyticsError;
use callcore_analytics::quality::lexicon::contains_term;
use callcore_analytics::quality::{InteractionScore, QualityHit, QualityInspector, QualityRule};
use callcore_ivr::kb::KnowledgeBase;

/// What every call's live inspection uses (from `[quality]` and `[ivr]`).
#[derive(Debug, Clone)]
pub(crate) struct LiveRules {
    /// The inspection rules.
    pub(crate) rules: Vec<QualityRule>,
    /// An inspector with those rules and no calls (each call gets a copy).
    inspector: QualityInspector,
    /// A required phrase the agent has not said this long after the
    /// connection is suggested to them (or at the rule's deadline if sooner).
    pub(crate) remind_after: Option<Duration>,
    /// Knowledge bases matched against the customer's words (by name).
    pub(crate) knowledge: Vec<(String, Arc<KnowledgeBase>)>,
    /// Whether the agent gets suggestions (articles, intents, reminders).
    pub(crate) assist: bool,
    /// Whether the customer's words go to the intent classifier.
    pub(crate) classify: bool,
}

impl LiveRules {
    /// Whose words the rules judge by a deadline (required phrases): their
    /// transcript is what the time of [`LiveQa`] follows.
    pub(crate) fn timed_speakers(&self) -> Vec<Speaker> {
        let mut who: Vec<Speaker> = self
            .rules
            .iter()
            .filter_map(|r| match r {
                QualityRule::RequiredPhrase { speaker, .. } => Some(*speaker),
                _ => None,
            })
            .collect();
        who.dedup();
        who
    }

    /// The rules, checked; nothing else set.
    ///
    /// # Errors
    /// [`AnalyticsError::Config`] naming the field of a bad rule.
    pub(crate) fn new(rules: Vec<QualityRule>) -> Result<Self, AnalyticsError> {
        Ok(LiveRules {
            inspector: QualityInspector::new(rules.clone())?,
            rules,
            remind_after: None,
            knowledge: Vec::new(),
            assist: false,
            classify: false,
        })
    }
}

/// What one call's inspection found.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum LiveOutput {
    /// An event to journal: a quality alert, a suggestion for the agent, the
    /// evaluation at the end.
    Event(EventKind),
    /// The customer's words, for the intent classifier (answer with
    /// [`LiveQa::handle_intent`]).
    Classify {
        /// The words.
        text: String,
        /// Their segment's offset.
        offset_ms: u64,
    },
}

/// A required phrase to remind the agent of.
#[derive(Debug, Clone)]
struct Reminder {
    rule: String,
    phrases: Vec<String>,
    due: Timestamp,
    settled: bool,
}

/// One call's live inspection; see the module docs.
#[derive(Debug)]
pub(crate) struct LiveQa {
    rules: Arc<LiveRules>,
    inspector: QualityInspector,
    tenant: TenantId,
    interaction: InteractionId,
    agent: Option<AgentId>,
    created_at: Timestamp,
    /// When the conversation with the current agent began.
    connected_at: Timestamp,
    /// Utterances not transcribed (shed): who, when (offset).
    shed: Vec<(Speaker, u64)>,
    reminders: Vec<Reminder>,
    /// Articles (`kb/entry`) and intents already suggested.
    suggested: HashSet<String>,
    segments: u32,
    finished: bool,
    out: VecDeque<LiveOutput>,
}

fn offset(origin: Timestamp, at: Timestamp) -> u64 {
    u64::try_from(at.duration_since(origin).as_millis()).unwrap_or(u64::MAX)
}

impl LiveQa {
    /// The inspection of `interaction` (arrived at `created_at`), whose
    /// conversation with `agent` began at `connected_at`.
    pub(crate) fn new(
        rules: Arc<LiveRules>,
        tenant: TenantId,
        interaction: InteractionId,
        created_at: Timestamp,
        connected_at: Timestamp,
        agent: Option<AgentId>,
    ) -> Self {
        let mut inspector = rules.inspector.clone();
        inspector.begin(
            &tenant,
            &interaction,
            created_at,
            connected_at,
            agent.clone(),
        );
        let reminders = rules
            .rules
            .iter()
            .filter_map(|r| match r {
                QualityRule::RequiredPhrase {
                    name,
                    phrases,
                    within_secs,
                    speaker: Speaker::Agent,
                    ..
                } if rules.assist => {
                    let deadline = Duration::from_secs(u64::from(*within_secs));
                    let after = rules.remind_after.map_or(deadline, |r| r.min(deadline));
                    Some(Reminder {
                        rule: name.clone(),
                        phrases: phrases.clone(),
                        due: connected_at + after,
                        settled: false,
                    })
                }
                _ => None,
            })
            .collect();
        LiveQa {
            rules,
            inspector,
            tenant,
            interaction,
            agent,
            created_at,
            connected_at,
            shed: Vec::new(),
            reminders,
            suggested: HashSet::new(),
            segments: 0,
            finished: false,
            out: VecDeque::new(),
        }
    }

    fn event(&self, at: Timestamp, kind: EventKind) -> Event {
        Event {
            seq: 0,
            at,
            tenant: self.tenant.clone(),
            kind,
        }
    }

    fn alerts(&mut self, hits: Vec<QualityHit>) {
        for h in hits.into_iter().filter(|h| h.live) {
            if self.excused(&h.rule).is_some() {
                continue;
            }
            self.out.push_back(LiveOutput::Event(h.to_event_kind()));
        }
    }

    fn suggest(&mut self, suggestion: AssistSuggestion) {
        let Some(agent) = self.agent.clone().filter(|_| self.rules.assist) else {
            return;
        };
        self.out
            .push_back(LiveOutput::Event(EventKind::AgentAssist {
                interaction: self.interaction.clone(),
                agent,
                suggestion,
            }));
    }

    /// The call was transferred to `agent` at `now`: later alerts name it,
    /// and assist suggests to it (articles already suggested to the first
    /// agent are suggested again when they come up).
    pub(crate) fn handle_transfer(&mut self, agent: AgentId, now: Timestamp) {
        if self.finished || self.agent.as_ref() == Some(&agent) {
            return;
        }
        self.inspector.begin(
            &self.tenant,
            &self.interaction,
            self.created_at,
            now,
            Some(agent.clone()),
        );
        self.agent = Some(agent);
        self.connected_at = now;
        self.suggested.clear();
    }

    /// An utterance of `speaker` from `offset_ms` was not transcribed (the
    /// recognizer was behind): a required phrase it may have held is not
    /// held against the agent.
    pub(crate) fn handle_shed(&mut self, speaker: Speaker, offset_ms: u64) {
        if !self.finished {
            self.shed.push((speaker, offset_ms));
        }
    }

    /// How many utterances that may have held `rule`'s required phrase were
    /// shed (`None`: none, or not a required-phrase rule).
    fn excused(&self, rule: &str) -> Option<usize> {
        let Some(QualityRule::RequiredPhrase {
            within_secs,
            speaker,
            ..
        }) = self.rules.rules.iter().find(|r| r.name() == rule)
        else {
            return None;
        };
        let due = offset(self.created_at, self.connected_at) + u64::from(*within_secs) * 1000;
        let n = self
            .shed
            .iter()
            .filter(|(s, at)| s == speaker && *at <= due)
            .count();
        (n > 0).then_some(n)
    }

    /// A transcript segment was emitted, the transcript complete to `now`
    /// (see the module docs): `speaker` said `text`, `offset_ms` from the
    /// start of the interaction.
    pub(crate) fn handle_segment(
        &mut self,
        speaker: Speaker,
        text: &str,
        offset_ms: u64,
        now: Timestamp,
    ) {
        if self.finished || text.trim().is_empty() {
            return;
        }
        self.segments += 1;
        let event = self.event(
            now,
            EventKind::TranscriptSegment {
                interaction: self.interaction.clone(),
                speaker,
                text: Pii::new(text.to_owned()),
                offset_ms,
            },
        );
        let hits = self.inspector.handle(&event);
        self.alerts(hits);
        match speaker {
            Speaker::Agent => {
                for r in &mut self.reminders {
                    if !r.settled && r.phrases.iter().any(|p| contains_term(text, p)) {
                        r.settled = true;
                    }
                }
            }
            Speaker::Customer => {
                self.articles(text, offset_ms);
                if self.rules.assist && self.rules.classify && self.agent.is_some() {
                    self.out.push_back(LiveOutput::Classify {
                        text: text.to_owned(),
                        offset_ms,
                    });
                }
            }
            _ => {}
        }
    }

    /// Knowledge-base entries the customer's words match (each once a call).
    fn articles(&mut self, text: &str, offset_ms: u64) {
        if !self.rules.assist {
            return;
        }
        let mut found = Vec::new();
        for (name, kb) in &self.rules.knowledge {
            if let Some((entry, score)) = kb.search(text).into_iter().next()
                && score >= kb.threshold()
            {
                let key = format!("{name}/{}", entry.id);
                if self.suggested.insert(key.clone()) {
                    let mut s = AssistSuggestion::new(
                        AssistKind::Article,
                        &entry.question,
                        &entry.answer,
                        offset_ms,
                    );
                    s.source = Some(key);
                    s.confidence = Some(score);
                    found.push(s);
                }
            }
        }
        for s in found {
            self.suggest(s);
        }
    }

    /// The classifier's answer for the customer's words said at `offset_ms`.
    pub(crate) fn handle_intent(&mut self, result: &IntentResult, offset_ms: u64) {
        let Some(intent) = result.intent.as_ref() else {
            return;
        };
        if self.finished || !self.suggested.insert(format!("intent:{intent}")) {
            return;
        }
        let slots: Vec<String> = result
            .slots
            .iter()
            .map(|s| format!("{} = {}", s.name, s.value))
            .collect();
        let text = if slots.is_empty() {
            format!("confidence {:.2}", result.confidence)
        } else {
            format!("confidence {:.2}; {}", result.confidence, slots.join(", "))
        };
        let mut s = AssistSuggestion::new(AssistKind::Intent, intent, text, offset_ms);
        s.confidence = Some(result.confidence);
        self.suggest(s);
    }

    /// When [`handle_timeout`](Self::handle_timeout) has something to do.
    pub(crate) fn poll_timeout(&self) -> Option<Timestamp> {
        if self.finished {
            return None;
        }
        let reminder = self
            .reminders
            .iter()
            .filter(|r| !r.settled)
            .map(|r| r.due)
            .min();
        match (reminder, self.inspector.next_deadline()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Time passed: reminders and required phrases due by `now`, how far the
    /// transcript is complete (see the module docs).
    pub(crate) fn handle_timeout(&mut self, now: Timestamp) {
        if self.finished {
            return;
        }
        let mut due = Vec::new();
        for r in &mut self.reminders {
            if !r.settled && r.due <= now {
                r.settled = true;
                due.push((
                    r.rule.clone(),
                    r.phrases.first().cloned().unwrap_or_default(),
                    r.due,
                ));
            }
        }
        for (rule, phrase, at) in due {
            let text = format!("remember to say: \"{phrase}\"");
            let s = AssistSuggestion::new(
                AssistKind::Reminder,
                rule,
                text,
                offset(self.created_at, at),
            );
            self.suggest(s);
        }
        let hits = self.inspector.poll(now);
        self.alerts(hits);
    }

    /// The conversation is over at `now` (its audio figures, when measured):
    /// the rules judged at the end, and the evaluation.
    pub(crate) fn finish(&mut self, audio: Option<&ConversationAudio>, now: Timestamp) {
        if self.finished {
            return;
        }
        self.finished = true;
        if let Some(audio) = audio {
            let e = self.event(
                now,
                EventKind::AudioMeasured {
                    interaction: self.interaction.clone(),
                    audio: audio.clone(),
                },
            );
            self.inspector.handle(&e);
        }
        let ended = self.event(
            now,
            EventKind::Ended {
                interaction: self.interaction.clone(),
                reason: EndReason::Completed,
            },
        );
        let hits = self.inspector.handle(&ended);
        self.alerts(hits);
        if let Some(mut score) = self.inspector.take_scores().into_iter().next() {
            // a required phrase that may have been in a shed utterance is not
            // judged: no finding, no penalty (nor a miss in the scorecards);
            // the call's `transcription_shed` alert and count say why
            score.retain_hits(|h| {
                let excused = self.excused(&h.rule);
                if let Some(n) = excused {
                    tracing::debug!(rule = %h.rule, shed = n, "a required phrase not judged");
                }
                excused.is_none()
            });
            let evaluation = evaluation(score, self.segments);
            self.out
                .push_back(LiveOutput::Event(EventKind::QualityScored {
                    interaction: self.interaction.clone(),
                    evaluation,
                }));
        }
    }

    /// The next finding, oldest first.
    pub(crate) fn poll_output(&mut self) -> Option<LiveOutput> {
        self.out.pop_front()
    }
}

/// The inspector's score as the record keeps it.
fn evaluation(score: InteractionScore, segments: u32) -> QualityEvaluation {
    let mut e = QualityEvaluation::new(score.score);
    e.findings = score
        .hits
        .into_iter()
        .map(|h| {
            let mut f = QualityFinding::new(h.rule, h.offset_ms, h.detail);
            f.penalty = h.penalty;
            f.live = h.live;
            f
        })
        .collect();
    e.silence_ratio = score.silence_ratio;
    e.talk_over_ratio = score.talk_over_ratio;
    e.customer_sentiment = score.customer_sentiment;
    e.segments = segments;
    e
}

#[cfg(test)]
#[path = "live_qa_tests.rs"]
mod tests;
