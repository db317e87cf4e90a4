//! What live quality inspection and agent assist put on the event stream:
//! a call's quality evaluation when it is over
//! ([`EventKind::QualityScored`](crate::EventKind::QualityScored), kept in the
//! interaction's record) and suggestions for the agent while it is on
//! ([`EventKind::AgentAssist`](crate::EventKind::AgentAssist)).

use serde::{Deserialize, Serialize};

/// One rule the call broke (or a figure over its limit), as evaluated.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct QualityFinding {
    /// The rule's name (`profanity`, `recording_notice`).
    pub rule: String,
    /// Milliseconds from the start of the interaction.
    pub offset_ms: u64,
    /// What was found (the term, the ratio; never the customer's words).
    pub detail: String,
    /// Score points lost.
    pub penalty: f64,
    /// Found while the call was on (an alert went to supervisors).
    pub live: bool,
}

impl QualityFinding {
    /// A finding from its parts (the struct is `#[non_exhaustive]`).
    #[must_use]
    pub fn new(rule: impl Into<String>, offset_ms: u64, detail: impl Into<String>) -> Self {
        Self {
            rule: rule.into(),
            offset_ms,
            detail: detail.into(),
            penalty: 0.0,
            live: false,
        }
    }
}

/// A call's quality evaluation, made when its conversation is over.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct QualityEvaluation {
    /// 100 minus the penalties of the findings, at least 0.
    pub score: f64,
    /// Every finding, live or judged at the end.
    pub findings: Vec<QualityFinding>,
    /// Share of the conversation nobody spoke.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub silence_ratio: Option<f64>,
    /// Share of the conversation both spoke at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub talk_over_ratio: Option<f64>,
    /// The customer's mean sentiment over the call, −1..=1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_sentiment: Option<f64>,
    /// Transcript segments the rules read.
    pub segments: u32,
}

impl QualityEvaluation {
    /// An evaluation with `score` and no findings (the struct is
    /// `#[non_exhaustive]`).
    #[must_use]
    pub fn new(score: f64) -> Self {
        Self {
            score,
            ..Self::default()
        }
    }
}

/// A call flagged for a supervisor's review (a new agent's first scored
/// calls), and the review once done: folded into the record from
/// [`EventKind::ReviewFlagged`](crate::EventKind::ReviewFlagged) and
/// [`EventKind::ReviewCompleted`](crate::EventKind::ReviewCompleted).
///
/// A call several agents took part in (a transfer, a conference) may be
/// flagged for more than one of them: one review covers the call, and
/// [`flagged`](Self::flagged) names each agent flagged with their ordinal.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CallReview {
    /// When the call was (first) flagged.
    pub flagged_at: crate::Timestamp,
    /// The (first) agent it was flagged for.
    pub agent: Option<crate::AgentId>,
    /// Which of that agent's scored calls it is (1 for the first).
    pub ordinal: u32,
    /// Every agent it was flagged for, in the order of the flags, with
    /// which of their scored calls it is (records stored before this field
    /// existed read it empty: [`agent`](Self::agent) then names the one).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub flagged: Vec<ReviewFlag>,
    /// When a supervisor marked it reviewed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub done_at: Option<crate::Timestamp>,
    /// Who reviewed it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reviewer: Option<String>,
    /// What they noted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// One agent a call was flagged for review for (see [`CallReview`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ReviewFlag {
    /// The agent.
    pub agent: crate::AgentId,
    /// Which of the agent's scored calls it is (1 for the first).
    pub ordinal: u32,
}

impl ReviewFlag {
    /// A flag from its parts (the struct is `#[non_exhaustive]`).
    #[must_use]
    pub fn new(agent: crate::AgentId, ordinal: u32) -> Self {
        Self { agent, ordinal }
    }
}

impl CallReview {
    /// The agents the call was flagged for, with their ordinals: the
    /// [`flagged`](Self::flagged) list, or (a record stored before it
    /// existed) the one [`agent`](Self::agent).
    #[must_use]
    pub fn flags(&self) -> Vec<ReviewFlag> {
        if self.flagged.is_empty() {
            self.agent
                .iter()
                .map(|a| ReviewFlag::new(a.clone(), self.ordinal))
                .collect()
        } else {
            self.flagged.clone()
        }
    }
}

/// What kind of help an [`AssistSuggestion`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum AssistKind {
    /// A knowledge-base article matching what the customer said.
    Article,
    /// The intent the classifier found in what the customer said.
    Intent,
    /// A required phrase the agent has not said yet.
    Reminder,
}

/// A suggestion for the agent on a live call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AssistSuggestion {
    /// Article, intent or reminder.
    pub kind: AssistKind,
    /// The article's question, the intent's name, the rule's name.
    pub title: String,
    /// The article's answer, the intent's confidence, the phrase to say.
    pub text: String,
    /// Where it came from: the knowledge base's name, the entry's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// How sure the match is, 0..=1 (articles and intents).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confidence: Option<f32>,
    /// Milliseconds from the start of the interaction.
    pub offset_ms: u64,
}

impl AssistSuggestion {
    /// A suggestion from its parts (the struct is `#[non_exhaustive]`).
    #[must_use]
    pub fn new(
        kind: AssistKind,
        title: impl Into<String>,
        text: impl Into<String>,
        offset_ms: u64,
    ) -> Self {
        Self {
            kind,
            title: title.into(),
            text: text.into(),
            source: None,
            confidence: None,
            offset_ms,
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::{
        AgentId, Channel, Direction, Event, EventKind, Interaction, InteractionRecord, ReviewFlag,
        Timestamp,
    };

    #[test]
    fn a_call_flagged_for_two_agents_keeps_both_flags_and_one_review() {
        let mut r = InteractionRecord::new(&Interaction::new(
            "i1".into(),
            "default".into(),
            Channel::Voice,
            Direction::Inbound,
            "+4930111",
            "100",
            Timestamp::from_secs(0),
        ));
        let flag = |agent: &str, ordinal| EventKind::ReviewFlagged {
            interaction: "i1".into(),
            agent: agent.into(),
            ordinal,
        };
        let done = EventKind::ReviewCompleted {
            interaction: "i1".into(),
            reviewer: "boss".into(),
            note: "fine".into(),
        };
        for (seq, (t, kind)) in [
            (40, flag("alice", 2)),
            (41, flag("bob", 1)),
            (41, flag("bob", 1)),
            (90, done),
        ]
        .into_iter()
        .enumerate()
        {
            r.apply(&Event {
                seq: seq as u64 + 1,
                at: Timestamp::from_secs(t),
                tenant: "default".into(),
                kind,
            });
        }
        let review = r.review.expect("flagged");
        assert_eq!(review.agent.as_ref().map(AgentId::as_str), Some("alice"));
        assert_eq!(
            (review.ordinal, review.flagged_at),
            (2, Timestamp::from_secs(40))
        );
        assert_eq!(
            review.flags(),
            [
                ReviewFlag::new("alice".into(), 2),
                ReviewFlag::new("bob".into(), 1)
            ]
        );
        assert_eq!(review.done_at, Some(Timestamp::from_secs(90)));
        // a record stored before the list existed names its one agent
        let old = super::CallReview {
            agent: Some("carl".into()),
            ordinal: 3,
            ..Default::default()
        };
        assert_eq!(old.flags(), [ReviewFlag::new("carl".into(), 3)]);
    }
}
