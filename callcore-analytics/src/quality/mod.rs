//! Quality inspection: rules over transcripts and call events, live alerts to
//! supervisors while the call is on, and a score per interaction and per agent
//! over time.
//!
//! The [`QualityInspector`] is fed the center's events (the same stream as the
//! metrics). Transcript segments (`transcript_segment`) carry who spoke, the
//! words and the offset from the start of the interaction; `connected` and
//! `ended` bound the conversation. Every rule hit is a [`QualityHit`] with the
//! time in the call; hits found while the call is on are returned at once
//! (`live`), to be sent to supervisors (for instance as
//! [`QualityHit::to_event_kind`] events on the bus). When the call ends the
//! interaction is scored: 100 minus the penalties of its hits, at least 0.
//!
//! ```
//! use callcore_analytics::quality::{QualityInspector, QualityRule};
//! let rules: Vec<QualityRule> = serde_json::from_str(r#"[
//!   {"rule": "forbidden_words", "name": "profanity", "words": ["damn", "该死"], "penalty": 20},
//!   {"rule": "required_phrase", "name": "greeting", "phrases": ["thank you for calling", "您好"],
//!    "within_secs": 10, "speaker": "agent", "penalty": 10}
//! ]"#)?;
//! let inspector = QualityInspector::new(rules)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod lexicon;
mod scoring;
pub mod talk;

pub use scoring::{AgentQualityDay, InteractionScore};

use crate::AnalyticsError;
use callcore::{AgentId, EventKind, InteractionId, Speaker, TenantId, Timestamp};
use serde::{Deserialize, Serialize};

/// One inspection rule. Rules are data (serde, `"rule"` tag), so a center
/// can load them from a file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "rule", rename_all = "snake_case")]
#[non_exhaustive]
pub enum QualityRule {
    /// Words or phrases nobody (or one speaker) may say. Every segment that
    /// says one is a hit, live.
    ForbiddenWords {
        /// The rule's name (in hits and alerts).
        name: String,
        /// The words or phrases (English by whole word, Chinese by substring).
        words: Vec<String>,
        /// Only this speaker (`None`: anyone).
        #[serde(default)]
        speaker: Option<Speaker>,
        /// Score points lost per hit.
        penalty: f64,
    },
    /// One of these phrases must be said within the first N seconds of the
    /// conversation (greeting, identity check). A hit, live, as soon as the
    /// deadline passes without it.
    RequiredPhrase {
        /// The rule's name.
        name: String,
        /// Any one of these satisfies the rule.
        phrases: Vec<String>,
        /// Seconds from the agent's connection.
        within_secs: u32,
        /// Who must say it.
        speaker: Speaker,
        /// Score points lost when missing.
        penalty: f64,
    },
    /// Silence (no one speaking) above this share of the conversation; judged
    /// when the call ends.
    MaxSilenceRatio {
        /// The rule's name.
        name: String,
        /// Highest acceptable share, 0..=1.
        max_ratio: f64,
        /// Score points lost.
        penalty: f64,
    },
    /// Agent and customer speaking at once above this share of the
    /// conversation; judged when the call ends.
    MaxTalkOverRatio {
        /// The rule's name.
        name: String,
        /// Highest acceptable share, 0..=1.
        max_ratio: f64,
        /// Score points lost.
        penalty: f64,
    },
    /// The speaker's lexicon sentiment (−1..=1, English and Chinese) falls to
    /// or below `threshold`: live over the last `window` scored segments,
    /// and over the whole call when it ends. At most one hit per call.
    NegativeSentiment {
        /// The rule's name.
        name: String,
        /// Whose sentiment.
        speaker: Speaker,
        /// The alert threshold, e.g. −0.5.
        threshold: f64,
        /// Segments in the running average.
        window: usize,
        /// Score points lost.
        penalty: f64,
    },
}

impl QualityRule {
    /// The rule's name.
    #[must_use]
    pub fn name(&self) -> &str {
        match self {
            Self::ForbiddenWords { name, .. }
            | Self::RequiredPhrase { name, .. }
            | Self::MaxSilenceRatio { name, .. }
            | Self::MaxTalkOverRatio { name, .. }
            | Self::NegativeSentiment { name, .. } => name,
        }
    }

    fn validate(&self) -> Result<(), AnalyticsError> {
        let bad = |field: &'static str, reason: &str| {
            Err(AnalyticsError::Config {
                field,
                reason: format!("rule {:?}: {reason}", self.name()),
            })
        };
        match self {
            Self::ForbiddenWords { words, .. } if words.iter().all(|w| w.trim().is_empty()) => {
                bad("words", "needs at least one word")
            }
            Self::RequiredPhrase { phrases, .. } if phrases.iter().all(|p| p.trim().is_empty()) => {
                bad("phrases", "needs at least one phrase")
            }
            Self::MaxSilenceRatio { max_ratio, .. } | Self::MaxTalkOverRatio { max_ratio, .. }
                if !(0.0..=1.0).contains(max_ratio) =>
            {
                bad("max_ratio", "must be within 0..=1")
            }
            Self::NegativeSentiment {
                threshold, window, ..
            } if !(-1.0..=1.0).contains(threshold) || *window == 0 => bad(
                "threshold",
                "threshold must be within -1..=1 and window at least 1",
            ),
            _ => Ok(()),
        }
    }
}

/// One rule hit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QualityHit {
    /// The tenant.
    pub tenant: TenantId,
    /// The interaction.
    pub interaction: InteractionId,
    /// The agent on the call, if one was connected.
    pub agent: Option<AgentId>,
    /// The rule's name.
    pub rule: String,
    /// Time in the call: milliseconds from the start of the interaction.
    pub offset_ms: u64,
    /// What was found (never the customer's words: the term, the ratio).
    pub detail: String,
    /// Score points lost.
    pub penalty: f64,
    /// Found while the call was on (an alert for supervisors).
    pub live: bool,
}

impl QualityHit {
    /// The hit as a `quality_alert` event kind, to publish on the bus.
    #[must_use]
    pub fn to_event_kind(&self) -> EventKind {
        let s = self.offset_ms / 1000;
        EventKind::QualityAlert {
            interaction: self.interaction.clone(),
            rule: self.rule.clone(),
            detail: format!("{} at {:02}:{:02}", self.detail, s / 60, s % 60),
        }
    }
}

pub use scoring::QualityInspector;

impl QualityInspector {
    /// An inspector with `rules`.
    ///
    /// # Errors
    /// [`AnalyticsError::Config`] naming the rule and field of a bad rule.
    pub fn new(rules: Vec<QualityRule>) -> Result<Self, AnalyticsError> {
        for r in &rules {
            r.validate()?;
        }
        Ok(Self::with_rules(rules))
    }

    /// When `interaction`'s required phrases fall due (for the caller's timer),
    /// if any are pending.
    #[must_use]
    pub fn next_deadline(&self) -> Option<Timestamp> {
        self.deadlines().min()
    }
}
