use crate::{CustomerId, InteractionId, Pii, TenantId, Timestamp};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// The channel an interaction arrives on. One interaction model and one router
/// serve them all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Channel {
    /// A phone call (SIP, WebRTC).
    Voice,
    /// A web chat conversation.
    Chat,
    /// Text messages.
    Sms,
    /// E-mail.
    Email,
    /// WeChat messages.
    WeChat,
}

impl Channel {
    /// Every channel, in a fixed order.
    pub const ALL: [Self; 5] = [
        Self::Voice,
        Self::Chat,
        Self::Sms,
        Self::Email,
        Self::WeChat,
    ];

    /// The snake-case name used in config files and events.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Voice => "voice",
            Self::Chat => "chat",
            Self::Sms => "sms",
            Self::Email => "email",
            Self::WeChat => "we_chat",
        }
    }
}

/// Who started the interaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// The customer contacted the center.
    Inbound,
    /// The center contacted the customer (dialer, callback).
    Outbound,
}

/// Who said a line of a transcript.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Speaker {
    /// The customer.
    Customer,
    /// The agent.
    Agent,
    /// The IVR or bot.
    Bot,
}

/// One line of a conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TranscriptLine {
    /// Who said it.
    pub speaker: Speaker,
    /// What was said (personal data).
    pub text: Pii<String>,
    /// When it was said.
    pub at: Timestamp,
}

/// What the IVR or bot learned before the handoff; it travels with the interaction
/// to the agent so the customer is never asked twice.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct InteractionContext {
    /// The recognised intent (`"check_bill"`), if any.
    pub intent: Option<String>,
    /// Collected slots and variables (`account`, `amount` ...).
    pub slots: BTreeMap<String, Pii<String>>,
    /// The conversation so far.
    pub transcript: Vec<TranscriptLine>,
    /// Slots the flow marked sensitive (a card number, a PIN): their values
    /// here are masked ([`mask_sensitive`]), so that whoever receives the
    /// context sees that they were collected but not what they are.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub sensitive: BTreeSet<String>,
}

/// What is shown of a sensitive value: every character replaced by `•`,
/// except the last four of a value of eight or more characters (enough to
/// recognise a card, too few to use it). Masking a masked value changes
/// nothing.
///
/// ```
/// use callcore::mask_sensitive;
/// assert_eq!(mask_sensitive("4111111111111111"), "••••••••••••1111");
/// assert_eq!(mask_sensitive("1234"), "••••");
/// assert_eq!(mask_sensitive(&mask_sensitive("4111111111111111")), "••••••••••••1111");
/// ```
#[must_use]
pub fn mask_sensitive(value: &str) -> String {
    let n = value.chars().count();
    let keep = if n >= 8 { 4 } else { 0 };
    value
        .chars()
        .enumerate()
        .map(|(i, c)| if i + keep < n { '•' } else { c })
        .collect()
}

impl InteractionContext {
    /// Whether there is nothing in it (no intent, slot or line).
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.intent.is_none() && self.slots.is_empty() && self.transcript.is_empty()
    }

    /// This context with the values of its [`sensitive`](Self::sensitive)
    /// slots masked, in the slots and wherever the transcript repeats them.
    #[must_use]
    pub fn masked(&self) -> Self {
        let mut out = self.clone();
        for name in &self.sensitive {
            let Some(value) = out.slots.get_mut(name) else {
                continue;
            };
            let clear = value.expose().clone();
            let masked = mask_sensitive(&clear);
            if clear == masked {
                continue;
            }
            *value = Pii::new(masked.clone());
            if clear.chars().count() >= 4 {
                for line in &mut out.transcript {
                    if line.text.expose().contains(&clear) {
                        line.text = Pii::new(line.text.expose().replace(&clear, &masked));
                    }
                }
            }
        }
        out
    }
}

/// One customer contact on one channel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Interaction {
    /// Its id.
    pub id: InteractionId,
    /// The tenant that owns it.
    pub tenant: TenantId,
    /// The channel.
    pub channel: Channel,
    /// Inbound or outbound.
    pub direction: Direction,
    /// The customer's address (caller number, chat id, e-mail address).
    pub from: Pii<String>,
    /// The address contacted (dialled number, chat entry point).
    pub to: String,
    /// The customer profile, once identified.
    pub customer: Option<CustomerId>,
    /// Key/value attributes used by routing rules (`language=en`, `vip=true`).
    pub attributes: BTreeMap<String, String>,
    /// What the flow collected, handed to the agent.
    pub context: InteractionContext,
    /// When it arrived.
    pub created_at: Timestamp,
}

impl Interaction {
    /// A new interaction with empty attributes and context.
    pub fn new(
        id: InteractionId,
        tenant: TenantId,
        channel: Channel,
        direction: Direction,
        from: impl Into<String>,
        to: impl Into<String>,
        created_at: Timestamp,
    ) -> Self {
        Self {
            id,
            tenant,
            channel,
            direction,
            from: Pii::new(from.into()),
            to: to.into(),
            customer: None,
            attributes: BTreeMap::new(),
            context: InteractionContext::default(),
            created_at,
        }
    }
}

/// Why an interaction ended.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum EndReason {
    /// The customer hung up while talking to an agent or in self-service.
    CustomerHangup,
    /// The agent hung up.
    AgentHangup,
    /// The customer hung up while waiting in a queue.
    Abandoned,
    /// The flow finished (self-service completed) and the center hung up.
    Completed,
    /// Sent elsewhere (transfer, overflow to an external destination).
    Transferred,
    /// Waited longer than the queue's maximum wait.
    QueueTimeout,
    /// Refused by the queue (full, or no agents with join-when-empty off).
    Rejected,
    /// The customer chose a callback; a new outbound interaction will follow.
    CallbackRequested,
    /// The node handling the call died; the call dropped.
    NodeFailure,
    /// A transport or media error ended it.
    Error,
    /// The center stopped (a crash, `kill -9`, a shutdown with calls in
    /// progress) before the interaction ended: its record was closed when the
    /// center started again, at the time of its last journaled event.
    Interrupted,
}
