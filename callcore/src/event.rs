//! Events: everything that happens in a center.
//!
//! Every state change is one [`Event`]. Stores journal them, analytics folds them
//! into metrics live and replays them historically, and a call detail record is a
//! fold over one interaction's events ([`InteractionRecord`](crate::InteractionRecord)).

use crate::{
    AgentId, AgentProfile, AgentState, CampaignId, Channel, Destination, Disposition, EndReason,
    Interaction, InteractionContext, InteractionId, LeadId, LegId, QueueDefinition, QueueId,
    RecordingId, ReservationId, Speaker, TenantId, Timestamp,
};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// One thing that happened, timestamped by the center's clock.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Position in the center's event stream (gapless, starting at 1).
    pub seq: u64,
    /// When it happened.
    pub at: Timestamp,
    /// The tenant it belongs to.
    pub tenant: TenantId,
    /// What happened.
    #[serde(flatten)]
    pub kind: EventKind,
}

impl Event {
    /// The interaction this event is about, if any.
    #[must_use]
    pub fn interaction(&self) -> Option<&InteractionId> {
        self.kind.interaction()
    }

    /// The agent this event is about, if any.
    #[must_use]
    pub fn agent(&self) -> Option<&AgentId> {
        self.kind.agent()
    }
}

/// How an offer (reservation) ended without the agent taking the interaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum OfferEnd {
    /// The agent declined (or the phone answered busy).
    Declined,
    /// Nobody answered before the offer timeout.
    TimedOut,
    /// The customer hung up while it rang.
    Canceled,
    /// Another agent took it first (ring-all), or routing changed its mind.
    Rescinded,
    /// The agent's endpoint could not be reached.
    Failed,
}

/// How a supervisor takes part in a call they monitor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum MonitorMode {
    /// Hears customer and agent; nobody hears the supervisor.
    Listen,
    /// Hears both; only the agent hears the supervisor (coaching).
    Whisper,
    /// Hears both and is heard by both (joins the conversation).
    Barge,
}

/// What a conversation's two sides' audio held (`EventKind::AudioMeasured`),
/// measured in 10 ms steps from each side's own voice activity.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ConversationAudio {
    /// From the bridge to the end.
    pub conversation_ms: u64,
    /// The customer speaking.
    pub customer_talk_ms: u64,
    /// The agent speaking.
    pub agent_talk_ms: u64,
    /// Nobody speaking, leading and trailing silence included.
    pub silence_ms: u64,
    /// Nobody speaking between the first and the last speech (dead air).
    pub interior_silence_ms: u64,
    /// The longest of those silences.
    pub longest_silence_ms: u64,
    /// Both speaking at once.
    pub talk_over_ms: u64,
    /// Stretches of both speaking.
    pub talk_overs: u32,
    /// Utterances not transcribed because the recognizer was behind (shed by
    /// the center's transcription queue); 0 when all were (and in records
    /// older than the field).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub transcription_shed: u32,
}

#[allow(clippy::trivially_copy_pass_by_ref)] // serde's skip_serializing_if takes a reference
fn is_zero(n: &u32) -> bool {
    *n == 0
}

impl ConversationAudio {
    /// Figures from their parts (the struct is `#[non_exhaustive]`).
    #[must_use]
    pub fn new(conversation_ms: u64, customer_talk_ms: u64, agent_talk_ms: u64) -> Self {
        Self {
            conversation_ms,
            customer_talk_ms,
            agent_talk_ms,
            ..Self::default()
        }
    }
}

/// What happened. Serialized with a `"type"` tag in snake case.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum EventKind {
    /// A new interaction arrived or was created.
    InteractionCreated {
        /// The interaction as it arrived.
        interaction: Box<Interaction>,
    },
    /// The flow did something (played a prompt, collected digits, matched an intent).
    FlowStep {
        /// The interaction.
        interaction: InteractionId,
        /// The step's kind (`"say"`, `"collect_digits"`, `"intent"` ...).
        step: String,
        /// A short description (prompt name, digit count, intent name). No
        /// personal data.
        detail: String,
    },
    /// The flow handed the interaction on (to a queue) with what it
    /// learned: the intent, the slots it collected (those it marked sensitive
    /// masked, see [`InteractionContext::masked`]) and the conversation so
    /// far, for the agent's screen pop. Personal data: stored, never logged
    /// (the values are [`Pii`](crate::Pii)).
    ContextShared {
        /// The interaction.
        interaction: InteractionId,
        /// What the flow learned.
        context: InteractionContext,
    },
    /// Entered a queue.
    Queued {
        /// The interaction.
        interaction: InteractionId,
        /// The queue.
        queue: QueueId,
        /// 1-based position at entry.
        position: u32,
        /// Estimated wait at entry, if the router can tell.
        estimated_wait_secs: Option<u32>,
    },
    /// Offered to an agent (a reservation was made).
    Offered {
        /// The interaction.
        interaction: InteractionId,
        /// The queue it waited in.
        queue: QueueId,
        /// The agent.
        agent: AgentId,
        /// The reservation.
        reservation: ReservationId,
        /// When the offer times out.
        expires_at: Timestamp,
    },
    /// The agent accepted the offer.
    OfferAccepted {
        /// The interaction.
        interaction: InteractionId,
        /// The agent.
        agent: AgentId,
        /// The reservation.
        reservation: ReservationId,
    },
    /// The offer ended without the agent taking the interaction.
    OfferEnded {
        /// The interaction.
        interaction: InteractionId,
        /// The agent.
        agent: AgentId,
        /// The reservation.
        reservation: ReservationId,
        /// How it ended.
        outcome: OfferEnd,
    },
    /// Customer and agent are talking.
    Connected {
        /// The interaction.
        interaction: InteractionId,
        /// The agent.
        agent: AgentId,
        /// The queue it came from.
        queue: QueueId,
    },
    /// Put on hold.
    Held {
        /// The interaction.
        interaction: InteractionId,
    },
    /// Taken off hold.
    Resumed {
        /// The interaction.
        interaction: InteractionId,
    },
    /// Transferred.
    Transferred {
        /// The interaction.
        interaction: InteractionId,
        /// Where to (queue, agent or address).
        target: String,
    },
    /// The agent muted (`on`) or unmuted themselves: while muted the
    /// customer does not hear them.
    Muted {
        /// The interaction.
        interaction: InteractionId,
        /// The agent.
        agent: AgentId,
        /// Muted now.
        on: bool,
    },
    /// The agent placed a consultation call (attended transfer); the
    /// customer is on hold.
    ConsultStarted {
        /// The interaction.
        interaction: InteractionId,
        /// The consulting agent.
        agent: AgentId,
        /// Who is consulted (`agent:bob`, `queue:billing`, `number:+4930...`).
        target: String,
    },
    /// The consulted party answered the consultation call: the consulting
    /// agent talks with them now, and may swap, complete the transfer or make
    /// it a conference.
    ConsultAnswered {
        /// The interaction.
        interaction: InteractionId,
        /// The consulting agent.
        agent: AgentId,
        /// Who answered (`agent:bob`, `number:+4930...`), as in `ConsultStarted`.
        target: String,
    },
    /// The consulting agent switched between the customer and the consulted
    /// party.
    ConsultSwapped {
        /// The interaction.
        interaction: InteractionId,
        /// The consulting agent.
        agent: AgentId,
        /// The agent talks to the customer now (else to the consulted party).
        with_customer: bool,
    },
    /// The consultation is over.
    ConsultEnded {
        /// The interaction.
        interaction: InteractionId,
        /// Who was consulted.
        target: String,
        /// `"completed"` (the transfer was completed), `"conference"` (it
        /// became a conference), `"canceled"`, `"failed"` (the consulted
        /// party was not reached), `"hung_up"` (the consulted party left).
        outcome: String,
    },
    /// A party joined the call's conference room.
    ConferenceJoined {
        /// The interaction.
        interaction: InteractionId,
        /// The party's leg (what `kick` names).
        leg: LegId,
        /// Who (`customer`, `agent:alice`, `number:+4930...`).
        party: String,
    },
    /// A party left the call's conference room.
    ConferenceLeft {
        /// The interaction.
        interaction: InteractionId,
        /// The party's leg.
        leg: LegId,
        /// Who.
        party: String,
        /// `"left"`, `"kicked"`, `"hung_up"`, `"ended"`.
        reason: String,
    },
    /// A supervisor started monitoring the call.
    MonitorStarted {
        /// The interaction.
        interaction: InteractionId,
        /// The supervisor.
        supervisor: AgentId,
        /// How.
        mode: MonitorMode,
    },
    /// A monitoring supervisor switched mode (listen, whisper, barge).
    MonitorModeChanged {
        /// The interaction.
        interaction: InteractionId,
        /// The supervisor.
        supervisor: AgentId,
        /// The new mode.
        mode: MonitorMode,
    },
    /// A supervisor stopped monitoring (hung up, or the call ended).
    MonitorEnded {
        /// The interaction.
        interaction: InteractionId,
        /// The supervisor.
        supervisor: AgentId,
    },
    /// The customer hung up while waiting.
    Abandoned {
        /// The interaction.
        interaction: InteractionId,
        /// The queue.
        queue: QueueId,
    },
    /// Left a queue for another destination (escalation or overflow).
    Overflowed {
        /// The interaction.
        interaction: InteractionId,
        /// The queue it left.
        queue: QueueId,
        /// Where it went.
        destination: Destination,
    },
    /// Left a queue because it waited too long, or the queue refused it.
    QueueExited {
        /// The interaction.
        interaction: InteractionId,
        /// The queue.
        queue: QueueId,
        /// `"timeout"`, `"full"`, `"no_agents"`, `"queue_removed"`.
        reason: String,
    },
    /// The interaction is over for the customer.
    Ended {
        /// The interaction.
        interaction: InteractionId,
        /// Why.
        reason: EndReason,
    },
    /// The agent started after-call work.
    WrapUpStarted {
        /// The interaction.
        interaction: InteractionId,
        /// The agent.
        agent: AgentId,
        /// Planned length.
        duration_secs: u32,
    },
    /// The agent finished after-call work.
    WrapUpEnded {
        /// The interaction.
        interaction: InteractionId,
        /// The agent.
        agent: AgentId,
    },
    /// The agent's disposition (wrap-up) code for the interaction.
    DispositionSet {
        /// The interaction.
        interaction: InteractionId,
        /// The agent.
        agent: AgentId,
        /// The code.
        disposition: Disposition,
    },
    /// The agent's wrap-up notes for the interaction.
    WrapUpNoted {
        /// The interaction.
        interaction: InteractionId,
        /// The agent.
        agent: AgentId,
        /// The notes (may hold personal data: stored, never logged).
        notes: crate::Pii<String>,
    },
    /// An agent changed state.
    AgentStateChanged {
        /// The agent.
        agent: AgentId,
        /// Previous state.
        from: AgentState,
        /// New state.
        to: AgentState,
    },
    /// An agent became reachable or unreachable (their phone registered or the
    /// registration lapsed); the state they chose is unchanged, but an
    /// unreachable agent is offered nothing.
    AgentReachabilityChanged {
        /// The agent.
        agent: AgentId,
        /// Reachable now or not.
        reachable: bool,
    },
    /// An agent was added to the running center.
    AgentAdded {
        /// The profile.
        profile: Box<AgentProfile>,
    },
    /// An agent was removed from the running center.
    AgentRemoved {
        /// The agent.
        agent: AgentId,
    },
    /// A queue was added to the running center.
    QueueAdded {
        /// The definition.
        definition: Box<QueueDefinition>,
    },
    /// A queue was removed from the running center.
    QueueRemoved {
        /// The queue.
        queue: QueueId,
    },
    /// A recording started.
    RecordingStarted {
        /// The interaction.
        interaction: InteractionId,
        /// The recording.
        recording: RecordingId,
    },
    /// A recording stopped; its file is complete.
    RecordingStopped {
        /// The interaction.
        interaction: InteractionId,
        /// The recording.
        recording: RecordingId,
        /// Length of the audio.
        duration_ms: u64,
    },
    /// A stretch of speech was transcribed.
    TranscriptSegment {
        /// The interaction.
        interaction: InteractionId,
        /// Who spoke.
        speaker: Speaker,
        /// The words (personal data: stored, never logged).
        text: crate::Pii<String>,
        /// Offset from the start of the interaction.
        offset_ms: u64,
    },
    /// Two customer profiles became one (an identity proven on a channel,
    /// or a merge by hand): interactions of `absorbed` — live ones included
    /// — belong to `kept` from now on.
    CustomersMerged {
        /// The profile kept.
        kept: crate::CustomerId,
        /// The profile merged into it (gone).
        absorbed: crate::CustomerId,
    },
    /// A merge of two profiles was undone (by hand): `absorbed` is a profile
    /// again, with its identities, and `interactions` (those that had moved
    /// to `kept`) are its again.
    CustomersUnmerged {
        /// The profile that had been kept.
        kept: crate::CustomerId,
        /// The profile restored.
        absorbed: crate::CustomerId,
        /// The interactions given back to `absorbed`.
        interactions: Vec<InteractionId>,
    },
    /// A quality-inspection rule fired.
    QualityAlert {
        /// The interaction.
        interaction: InteractionId,
        /// The rule's name.
        rule: String,
        /// What it found.
        detail: String,
    },
    /// A conversation's audio was measured (talk per side, silence,
    /// talk-over), when it ended.
    AudioMeasured {
        /// The interaction.
        interaction: InteractionId,
        /// The figures.
        audio: ConversationAudio,
    },
    /// A call's quality was evaluated (rules over its transcript, its audio
    /// figures), when its conversation was over; kept in the record.
    QualityScored {
        /// The interaction.
        interaction: InteractionId,
        /// The evaluation.
        evaluation: crate::QualityEvaluation,
    },
    /// A scored call of a new agent (one of their first scored calls) is
    /// flagged for a supervisor's review; kept in the record.
    ReviewFlagged {
        /// The interaction.
        interaction: InteractionId,
        /// The agent who took it.
        agent: AgentId,
        /// Which of the agent's scored calls it is (1 for the first).
        ordinal: u32,
    },
    /// A supervisor reviewed a flagged call; kept in the record.
    ReviewCompleted {
        /// The interaction.
        interaction: InteractionId,
        /// The user who reviewed it.
        reviewer: String,
        /// What they noted for the agent.
        note: String,
    },
    /// A suggestion for the agent on a live call (agent assist): a
    /// knowledge-base article, the customer's intent, a phrase to say.
    AgentAssist {
        /// The interaction.
        interaction: InteractionId,
        /// The agent it is for.
        agent: AgentId,
        /// The suggestion.
        suggestion: crate::AssistSuggestion,
    },
    /// An outbound dial attempt finished.
    DialAttempted {
        /// The interaction it created.
        interaction: InteractionId,
        /// The campaign.
        campaign: CampaignId,
        /// The lead.
        lead: LeadId,
        /// How it ended.
        disposition: Disposition,
    },
    /// Usage to meter (billing per tenant).
    Usage {
        /// What was used (`"voice_minutes"`, `"asr_seconds"`).
        meter: String,
        /// How much.
        quantity: f64,
        /// The channel, when the meter is per channel.
        channel: Option<Channel>,
    },
}

impl EventKind {
    /// The interaction this event is about, if any.
    #[must_use]
    pub fn interaction(&self) -> Option<&InteractionId> {
        use EventKind as E;
        match self {
            E::InteractionCreated { interaction } => Some(&interaction.id),
            E::FlowStep { interaction, .. }
            | E::ContextShared { interaction, .. }
            | E::Queued { interaction, .. }
            | E::Offered { interaction, .. }
            | E::OfferAccepted { interaction, .. }
            | E::OfferEnded { interaction, .. }
            | E::Connected { interaction, .. }
            | E::Held { interaction }
            | E::Resumed { interaction }
            | E::Transferred { interaction, .. }
            | E::Muted { interaction, .. }
            | E::ConsultStarted { interaction, .. }
            | E::ConsultAnswered { interaction, .. }
            | E::ConsultSwapped { interaction, .. }
            | E::ConsultEnded { interaction, .. }
            | E::ConferenceJoined { interaction, .. }
            | E::ConferenceLeft { interaction, .. }
            | E::MonitorStarted { interaction, .. }
            | E::MonitorModeChanged { interaction, .. }
            | E::MonitorEnded { interaction, .. }
            | E::WrapUpNoted { interaction, .. }
            | E::Abandoned { interaction, .. }
            | E::Overflowed { interaction, .. }
            | E::QueueExited { interaction, .. }
            | E::Ended { interaction, .. }
            | E::WrapUpStarted { interaction, .. }
            | E::WrapUpEnded { interaction, .. }
            | E::DispositionSet { interaction, .. }
            | E::RecordingStarted { interaction, .. }
            | E::RecordingStopped { interaction, .. }
            | E::TranscriptSegment { interaction, .. }
            | E::QualityAlert { interaction, .. }
            | E::AudioMeasured { interaction, .. }
            | E::QualityScored { interaction, .. }
            | E::ReviewFlagged { interaction, .. }
            | E::ReviewCompleted { interaction, .. }
            | E::AgentAssist { interaction, .. }
            | E::DialAttempted { interaction, .. } => Some(interaction),
            E::AgentStateChanged { .. }
            | E::AgentReachabilityChanged { .. }
            | E::AgentAdded { .. }
            | E::AgentRemoved { .. }
            | E::QueueAdded { .. }
            | E::QueueRemoved { .. }
            | E::CustomersMerged { .. }
            | E::CustomersUnmerged { .. }
            | E::Usage { .. } => None,
        }
    }

    /// The agent this event is about, if any.
    #[must_use]
    pub fn agent(&self) -> Option<&AgentId> {
        use EventKind as E;
        match self {
            E::Offered { agent, .. }
            | E::OfferAccepted { agent, .. }
            | E::OfferEnded { agent, .. }
            | E::Connected { agent, .. }
            | E::WrapUpStarted { agent, .. }
            | E::WrapUpEnded { agent, .. }
            | E::DispositionSet { agent, .. }
            | E::WrapUpNoted { agent, .. }
            | E::AgentAssist { agent, .. }
            | E::ReviewFlagged { agent, .. }
            | E::Muted { agent, .. }
            | E::ConsultStarted { agent, .. }
            | E::ConsultAnswered { agent, .. }
            | E::ConsultSwapped { agent, .. }
            | E::MonitorStarted {
                supervisor: agent, ..
            }
            | E::MonitorModeChanged {
                supervisor: agent, ..
            }
            | E::MonitorEnded {
                supervisor: agent, ..
            }
            | E::AgentStateChanged { agent, .. }
            | E::AgentReachabilityChanged { agent, .. }
            | E::AgentRemoved { agent } => Some(agent),
            E::AgentAdded { profile } => Some(&profile.id),
            _ => None,
        }
    }

    /// The tag this kind serializes with (`"queued"`, `"agent_state_changed"`).
    #[must_use]
    pub fn name(&self) -> &'static str {
        use EventKind as E;
        match self {
            E::InteractionCreated { .. } => "interaction_created",
            E::FlowStep { .. } => "flow_step",
            E::ContextShared { .. } => "context_shared",
            E::Queued { .. } => "queued",
            E::Offered { .. } => "offered",
            E::OfferAccepted { .. } => "offer_accepted",
            E::OfferEnded { .. } => "offer_ended",
            E::Connected { .. } => "connected",
            E::Held { .. } => "held",
            E::Resumed { .. } => "resumed",
            E::Transferred { .. } => "transferred",
            E::Muted { .. } => "muted",
            E::ConsultStarted { .. } => "consult_started",
            E::ConsultAnswered { .. } => "consult_answered",
            E::ConsultSwapped { .. } => "consult_swapped",
            E::ConsultEnded { .. } => "consult_ended",
            E::ConferenceJoined { .. } => "conference_joined",
            E::ConferenceLeft { .. } => "conference_left",
            E::MonitorStarted { .. } => "monitor_started",
            E::MonitorModeChanged { .. } => "monitor_mode_changed",
            E::MonitorEnded { .. } => "monitor_ended",
            E::WrapUpNoted { .. } => "wrap_up_noted",
            E::Abandoned { .. } => "abandoned",
            E::Overflowed { .. } => "overflowed",
            E::QueueExited { .. } => "queue_exited",
            E::Ended { .. } => "ended",
            E::WrapUpStarted { .. } => "wrap_up_started",
            E::WrapUpEnded { .. } => "wrap_up_ended",
            E::DispositionSet { .. } => "disposition_set",
            E::AgentStateChanged { .. } => "agent_state_changed",
            E::AgentReachabilityChanged { .. } => "agent_reachability_changed",
            E::AgentAdded { .. } => "agent_added",
            E::AgentRemoved { .. } => "agent_removed",
            E::QueueAdded { .. } => "queue_added",
            E::QueueRemoved { .. } => "queue_removed",
            E::RecordingStarted { .. } => "recording_started",
            E::RecordingStopped { .. } => "recording_stopped",
            E::TranscriptSegment { .. } => "transcript_segment",
            E::CustomersMerged { .. } => "customers_merged",
            E::CustomersUnmerged { .. } => "customers_unmerged",
            E::QualityAlert { .. } => "quality_alert",
            E::AudioMeasured { .. } => "audio_measured",
            E::QualityScored { .. } => "quality_scored",
            E::ReviewFlagged { .. } => "review_flagged",
            E::ReviewCompleted { .. } => "review_completed",
            E::AgentAssist { .. } => "agent_assist",
            E::DialAttempted { .. } => "dial_attempted",
            E::Usage { .. } => "usage",
        }
    }
}

/// Seconds as `u32`, saturating (for event fields).
#[must_use]
pub fn secs_u32(d: Duration) -> u32 {
    u32::try_from(d.as_secs()).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serializes_flat_with_type_tag() {
        let e = Event {
            seq: 7,
            at: Timestamp::from_secs(1),
            tenant: TenantId::default(),
            kind: EventKind::Queued {
                interaction: "int-1".into(),
                queue: "support".into(),
                position: 2,
                estimated_wait_secs: Some(30),
            },
        };
        let json = serde_json::to_value(&e).unwrap();
        assert_eq!(json["type"], "queued");
        assert_eq!(json["seq"], 7);
        assert_eq!(json["at"], 1000);
        assert_eq!(json["queue"], "support");
        let back: Event = serde_json::from_value(json).unwrap();
        assert_eq!(back, e);
        assert_eq!(back.kind.name(), "queued");
        assert_eq!(back.interaction().unwrap().as_str(), "int-1");
    }

    #[test]
    fn audio_figures_read_records_older_than_the_shed_count() {
        // as journaled before `transcription_shed` existed
        let old = r#"{"conversation_ms":40000,"customer_talk_ms":12000,"agent_talk_ms":10000,
            "silence_ms":18000,"interior_silence_ms":9000,"longest_silence_ms":4000,
            "talk_over_ms":0,"talk_overs":0}"#;
        let a: ConversationAudio = serde_json::from_str(old).unwrap();
        assert_eq!((a.conversation_ms, a.transcription_shed), (40_000, 0));
        // a zero count is not written (records stay as they were)
        let json = serde_json::to_value(&a).unwrap();
        assert!(json.get("transcription_shed").is_none(), "{json}");
        let mut shed = a.clone();
        shed.transcription_shed = 3;
        let json = serde_json::to_value(&shed).unwrap();
        assert_eq!(json["transcription_shed"], 3);
        assert_eq!(
            serde_json::from_value::<ConversationAudio>(json).unwrap(),
            shed
        );
    }
}
