use crate::{
    AgentId, Channel, CustomerId, Direction, Disposition, EndReason, Event, EventKind, Interaction,
    InteractionId, Pii, QueueId, RecordingId, TenantId, Timestamp,
};
use serde::{Deserialize, Serialize};

/// The call detail record of one interaction: a fold over its events.
///
/// ```
/// use callcore::{Channel, Direction, Event, EventKind, Interaction, InteractionRecord, Timestamp};
/// let created = Interaction::new("int-1".into(), "default".into(), Channel::Voice,
///     Direction::Inbound, "+4930111", "100", Timestamp::from_secs(0));
/// let mut record = InteractionRecord::new(&created);
/// record.apply(&Event { seq: 1, at: Timestamp::from_secs(0), tenant: "default".into(),
///     kind: EventKind::Queued { interaction: "int-1".into(), queue: "support".into(),
///         position: 1, estimated_wait_secs: None } });
/// record.apply(&Event { seq: 2, at: Timestamp::from_secs(12), tenant: "default".into(),
///     kind: EventKind::Abandoned { interaction: "int-1".into(), queue: "support".into() } });
/// assert_eq!(record.wait_ms, 12_000);
/// assert!(record.abandoned);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InteractionRecord {
    /// The interaction.
    pub id: InteractionId,
    /// Its tenant.
    pub tenant: TenantId,
    /// Channel.
    pub channel: Channel,
    /// Direction.
    pub direction: Direction,
    /// Customer address.
    pub from: Pii<String>,
    /// Address contacted.
    pub to: String,
    /// Customer profile, if identified.
    pub customer: Option<CustomerId>,
    /// Intent recognised by the flow, if any.
    pub intent: Option<String>,
    /// Arrival.
    pub created_at: Timestamp,
    /// The (last) queue it waited in.
    pub queue: Option<QueueId>,
    /// When it entered the (first) queue; kept when it leaves the queue (the
    /// wait itself is [`wait_ms`](Self::wait_ms)).
    pub queued_at: Option<Timestamp>,
    /// When it was first offered to an agent.
    pub first_offered_at: Option<Timestamp>,
    /// Offers made (including declined and timed-out ones).
    pub offers: u32,
    /// When an agent was first connected.
    pub answered_at: Option<Timestamp>,
    /// The (last) agent who handled it.
    pub agent: Option<AgentId>,
    /// Every agent connected to it, in order (a transfer adds the target, a
    /// conference the agents added to it).
    #[serde(default)]
    pub agents: Vec<AgentId>,
    /// When it ended for the customer.
    pub ended_at: Option<Timestamp>,
    /// Why it ended.
    pub end_reason: Option<EndReason>,
    /// The customer hung up while waiting.
    pub abandoned: bool,
    /// Time in queue (until answered, abandoned or leaving the queue), summed
    /// over every stay (a transfer to a queue waits again).
    pub wait_ms: u64,
    /// Talk time with agents, without hold, summed over every agent who was
    /// connected (a transfer ends one agent's talk).
    pub talk_ms: u64,
    /// Time on hold.
    pub hold_ms: u64,
    /// After-call work.
    pub wrap_up_ms: u64,
    /// The disposition code, if one was set.
    pub disposition: Option<Disposition>,
    /// The agent's wrap-up notes, if any were written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<Pii<String>>,
    /// Its recordings.
    pub recordings: Vec<RecordingId>,
    /// Talk, silence and talk-over measured from the conversation's audio
    /// (where the center inspects calls).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audio: Option<crate::ConversationAudio>,
    /// The quality evaluation of the conversation (rules over its
    /// transcript and audio, where the center inspects calls).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quality: Option<crate::QualityEvaluation>,
    /// The review flag of a new agent's call, and the review once done.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub review: Option<crate::CallReview>,
    /// Whether the interaction has ended and no after-call work is pending.
    pub complete: bool,
    /// Internal: when the current hold started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hold_started_at: Option<Timestamp>,
    /// Internal: when after-call work started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wrap_up_started_at: Option<Timestamp>,
    /// Internal: when the current stay in a queue started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wait_started_at: Option<Timestamp>,
    /// Internal: when the current agent was connected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub talk_started_at: Option<Timestamp>,
}

fn ms_between(later: Timestamp, earlier: Timestamp) -> u64 {
    u64::try_from(later.duration_since(earlier).as_millis()).unwrap_or(u64::MAX)
}

impl InteractionRecord {
    /// A fresh record for an interaction that just arrived.
    #[must_use]
    pub fn new(interaction: &Interaction) -> Self {
        Self {
            id: interaction.id.clone(),
            tenant: interaction.tenant.clone(),
            channel: interaction.channel,
            direction: interaction.direction,
            from: interaction.from.clone(),
            to: interaction.to.clone(),
            customer: interaction.customer.clone(),
            intent: interaction.context.intent.clone(),
            created_at: interaction.created_at,
            queue: None,
            queued_at: None,
            first_offered_at: None,
            offers: 0,
            answered_at: None,
            agent: None,
            agents: Vec::new(),
            ended_at: None,
            end_reason: None,
            abandoned: false,
            wait_ms: 0,
            talk_ms: 0,
            hold_ms: 0,
            wrap_up_ms: 0,
            disposition: None,
            notes: None,
            recordings: Vec::new(),
            audio: None,
            quality: None,
            review: None,
            complete: false,
            hold_started_at: None,
            wrap_up_started_at: None,
            wait_started_at: None,
            talk_started_at: None,
        }
    }

    /// Folds every event of `events` that belongs to this interaction.
    pub fn apply_all<'a>(&mut self, events: impl IntoIterator<Item = &'a Event>) {
        for e in events {
            self.apply(e);
        }
    }

    fn close_wait(&mut self, at: Timestamp) {
        if let Some(q) = self.wait_started_at.take() {
            self.wait_ms += ms_between(at, q);
        }
    }

    fn close_hold(&mut self, at: Timestamp) {
        if let Some(h) = self.hold_started_at.take() {
            self.hold_ms += ms_between(at, h);
        }
    }

    /// Ends the current agent's connection: its length joins `talk_ms`
    /// (hold time, which only happens while connected, comes off at the end).
    fn close_talk(&mut self, at: Timestamp) {
        self.close_hold(at);
        if let Some(t) = self.talk_started_at.take() {
            self.talk_ms += ms_between(at, t);
        }
    }

    /// Folds one event (events of other interactions are ignored).
    pub fn apply(&mut self, event: &Event) {
        if event.interaction() != Some(&self.id) {
            return;
        }
        let at = event.at;
        match &event.kind {
            EventKind::Queued { queue, .. } => {
                self.queue = Some(queue.clone());
                // back in a queue after an agent (the flow went on, or a
                // transfer): that agent's talk is over
                self.close_talk(at);
                self.queued_at.get_or_insert(at);
                self.wait_started_at.get_or_insert(at);
            }
            EventKind::ContextShared { context, .. } if context.intent.is_some() => {
                self.intent.clone_from(&context.intent);
            }
            EventKind::Offered { .. } => {
                self.offers += 1;
                self.first_offered_at.get_or_insert(at);
            }
            EventKind::Connected { agent, queue, .. } => {
                self.close_wait(at);
                self.close_talk(at);
                self.queue = Some(queue.clone());
                self.agent = Some(agent.clone());
                if !self.agents.contains(agent) {
                    self.agents.push(agent.clone());
                }
                self.answered_at.get_or_insert(at);
                self.talk_started_at = Some(at);
            }
            EventKind::Transferred { .. } => {
                self.close_wait(at);
                self.close_talk(at);
            }
            EventKind::Abandoned { .. } => {
                self.close_wait(at);
                self.abandoned = true;
            }
            EventKind::Overflowed { .. } | EventKind::QueueExited { .. } => self.close_wait(at),
            EventKind::Held { .. } => {
                self.hold_started_at.get_or_insert(at);
            }
            EventKind::Resumed { .. } => self.close_hold(at),
            EventKind::Ended { reason, .. } => {
                self.close_wait(at);
                self.close_talk(at);
                self.talk_ms = self.talk_ms.saturating_sub(self.hold_ms);
                if *reason == EndReason::Abandoned {
                    self.abandoned = true;
                }
                self.ended_at = Some(at);
                self.end_reason = Some(reason.clone());
                if *reason == EndReason::Interrupted {
                    // The center stopped: after-call work under way ends
                    // with the interaction, and nothing more will come.
                    if let Some(w) = self.wrap_up_started_at.take() {
                        self.wrap_up_ms = ms_between(at, w);
                    }
                    self.complete = true;
                } else {
                    // After-call work that started before the end keeps it open.
                    self.complete = self.wrap_up_started_at.is_none();
                }
            }
            EventKind::WrapUpStarted { .. } => {
                self.wrap_up_started_at = Some(at);
                self.complete = false;
            }
            EventKind::WrapUpEnded { .. } => {
                if let Some(w) = self.wrap_up_started_at.take() {
                    self.wrap_up_ms = ms_between(at, w);
                }
                self.complete = self.ended_at.is_some();
            }
            EventKind::DispositionSet { disposition, .. } => {
                self.disposition = Some(disposition.clone());
            }
            EventKind::WrapUpNoted { notes, .. } => self.notes = Some(notes.clone()),
            // an agent added to a conference took part in the interaction
            EventKind::ConferenceJoined { party, .. } => {
                if let Some(agent) = party.strip_prefix("agent:").map(AgentId::from)
                    && !self.agents.contains(&agent)
                {
                    self.agents.push(agent);
                }
            }
            EventKind::RecordingStarted { recording, .. }
                if !self.recordings.contains(recording) =>
            {
                self.recordings.push(recording.clone());
            }
            EventKind::FlowStep { step, detail, .. } if step == "intent" => {
                self.intent = Some(detail.clone());
            }
            EventKind::AudioMeasured { audio, .. } => self.audio = Some(audio.clone()),
            EventKind::QualityScored { evaluation, .. } => {
                self.quality = Some(evaluation.clone());
            }
            EventKind::ReviewFlagged { agent, ordinal, .. } => {
                // the first flag names the call's agent; each one (a call
                // several agents took part in) is listed
                let review = self.review.get_or_insert_with(Default::default);
                if review.agent.is_none() {
                    review.flagged_at = at;
                    review.agent = Some(agent.clone());
                    review.ordinal = *ordinal;
                }
                if !review.flagged.iter().any(|f| &f.agent == agent) {
                    review
                        .flagged
                        .push(crate::ReviewFlag::new(agent.clone(), *ordinal));
                }
            }
            EventKind::ReviewCompleted { reviewer, note, .. } => {
                // a review done without a flag (a supervisor's own pick)
                let review = self.review.get_or_insert_with(|| crate::CallReview {
                    flagged_at: at,
                    agent: self.agent.clone(),
                    ..Default::default()
                });
                review.done_at = Some(at);
                review.reviewer = Some(reviewer.clone());
                review.note = Some(note.clone());
            }
            _ => {}
        }
    }

    /// Handle time: talk + hold + after-call work.
    #[must_use]
    pub const fn handle_ms(&self) -> u64 {
        self.talk_ms + self.hold_ms + self.wrap_up_ms
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Channel, Direction};

    fn at(secs: i64) -> Timestamp {
        Timestamp::from_secs(secs)
    }

    fn fold(kinds: &[(i64, EventKind)]) -> InteractionRecord {
        let created = Interaction::new(
            "i1".into(),
            "default".into(),
            Channel::Voice,
            Direction::Inbound,
            "+4930111",
            "100",
            at(0),
        );
        let mut record = InteractionRecord::new(&created);
        for (seq, (t, kind)) in kinds.iter().enumerate() {
            record.apply(&Event {
                seq: seq as u64 + 1,
                at: at(*t),
                tenant: "default".into(),
                kind: kind.clone(),
            });
        }
        record
    }

    fn queued(queue: &str) -> EventKind {
        EventKind::Queued {
            interaction: "i1".into(),
            queue: queue.into(),
            position: 1,
            estimated_wait_secs: None,
        }
    }

    fn connected(agent: &str, queue: &str) -> EventKind {
        EventKind::Connected {
            interaction: "i1".into(),
            agent: agent.into(),
            queue: queue.into(),
        }
    }

    #[test]
    fn queued_at_stays_and_hold_recordings_and_disposition_are_folded() {
        let r = fold(&[
            (5, queued("support")),
            (30, connected("alice", "support")),
            (
                31,
                EventKind::RecordingStarted {
                    interaction: "i1".into(),
                    recording: "rec-1".into(),
                },
            ),
            (
                40,
                EventKind::Held {
                    interaction: "i1".into(),
                },
            ),
            (
                52,
                EventKind::Resumed {
                    interaction: "i1".into(),
                },
            ),
            (
                70,
                EventKind::DispositionSet {
                    interaction: "i1".into(),
                    agent: "alice".into(),
                    disposition: Disposition::Agent("resolved".into()),
                },
            ),
            (
                90,
                EventKind::Ended {
                    interaction: "i1".into(),
                    reason: EndReason::CustomerHangup,
                },
            ),
        ]);
        assert_eq!(r.queued_at, Some(at(5)), "queued_at is kept after the wait");
        assert_eq!(r.wait_ms, 25_000);
        assert_eq!(r.hold_ms, 12_000);
        assert_eq!(r.talk_ms, 60_000 - 12_000);
        assert_eq!(r.recordings, vec![RecordingId::new("rec-1")]);
        assert_eq!(r.disposition, Some(Disposition::Agent("resolved".into())));
        assert!(r.complete);
    }

    #[test]
    fn a_transfer_to_another_queue_sums_both_waits_and_both_talks() {
        let r = fold(&[
            (0, queued("support")),
            (10, connected("alice", "support")),
            (
                20,
                EventKind::Held {
                    interaction: "i1".into(),
                },
            ),
            (
                25,
                EventKind::Resumed {
                    interaction: "i1".into(),
                },
            ),
            (
                40,
                EventKind::Transferred {
                    interaction: "i1".into(),
                    target: "queue:billing".into(),
                },
            ),
            (40, queued("billing")),
            (55, connected("bob", "billing")),
            (
                75,
                EventKind::Ended {
                    interaction: "i1".into(),
                    reason: EndReason::AgentHangup,
                },
            ),
        ]);
        assert_eq!(r.queued_at, Some(at(0)));
        assert_eq!(r.answered_at, Some(at(10)), "first answer");
        assert_eq!(r.wait_ms, 10_000 + 15_000);
        assert_eq!(r.hold_ms, 5_000);
        assert_eq!(r.talk_ms, 30_000 + 20_000 - 5_000);
        assert_eq!(r.agent.as_ref().map(AgentId::as_str), Some("bob"));
        assert_eq!(r.queue.as_ref().map(QueueId::as_str), Some("billing"));
    }

    #[test]
    fn an_interrupted_end_closes_talk_hold_and_after_call_work() {
        let r = fold(&[
            (0, queued("support")),
            (4, connected("alice", "support")),
            (
                10,
                EventKind::WrapUpStarted {
                    interaction: "i1".into(),
                    agent: "alice".into(),
                    duration_secs: 30,
                },
            ),
            (
                30,
                EventKind::Ended {
                    interaction: "i1".into(),
                    reason: EndReason::Interrupted,
                },
            ),
        ]);
        assert_eq!(r.end_reason, Some(EndReason::Interrupted));
        assert_eq!(r.ended_at, Some(at(30)));
        assert_eq!(
            (r.wait_ms, r.talk_ms, r.wrap_up_ms),
            (4_000, 26_000, 20_000)
        );
        assert!(r.complete, "nothing more will come for it");
        assert!(!r.abandoned);
    }

    #[test]
    fn a_hold_still_open_at_the_end_counts_until_the_end() {
        let r = fold(&[
            (0, queued("support")),
            (2, connected("alice", "support")),
            (
                10,
                EventKind::Held {
                    interaction: "i1".into(),
                },
            ),
            (
                16,
                EventKind::Ended {
                    interaction: "i1".into(),
                    reason: EndReason::CustomerHangup,
                },
            ),
        ]);
        assert_eq!(r.hold_ms, 6_000);
        assert_eq!(r.talk_ms, 8_000);
        assert_eq!(r.handle_ms(), 14_000);
    }

    #[test]
    fn an_attended_transfer_lists_both_agents_and_the_notes_are_kept() {
        let r = fold(&[
            (0, queued("support")),
            (5, connected("alice", "support")),
            (
                20,
                EventKind::ConsultStarted {
                    interaction: "i1".into(),
                    agent: "alice".into(),
                    target: "agent:bob".into(),
                },
            ),
            (
                20,
                EventKind::Held {
                    interaction: "i1".into(),
                },
            ),
            (
                30,
                EventKind::ConsultEnded {
                    interaction: "i1".into(),
                    target: "agent:bob".into(),
                    outcome: "completed".into(),
                },
            ),
            (
                30,
                EventKind::Resumed {
                    interaction: "i1".into(),
                },
            ),
            (
                30,
                EventKind::Transferred {
                    interaction: "i1".into(),
                    target: "agent:bob".into(),
                },
            ),
            (30, connected("bob", "support")),
            (
                40,
                EventKind::WrapUpNoted {
                    interaction: "i1".into(),
                    agent: "bob".into(),
                    notes: Pii::new("refund promised".into()),
                },
            ),
            (
                50,
                EventKind::Ended {
                    interaction: "i1".into(),
                    reason: EndReason::CustomerHangup,
                },
            ),
        ]);
        assert_eq!(r.agents, vec![AgentId::from("alice"), AgentId::from("bob")]);
        assert_eq!(r.agent, Some("bob".into()));
        assert_eq!(r.hold_ms, 10_000);
        assert_eq!(r.talk_ms, 45_000 - 10_000);
        assert_eq!(
            r.notes.as_ref().map(|n| n.expose().as_str()),
            Some("refund promised")
        );
    }
}
