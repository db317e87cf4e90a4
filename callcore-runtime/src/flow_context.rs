//! The handle a flow drives one interaction through.

use crate::Providers;
use crate::call::{Call, StayOptions};
use crate::call_glue::CallGlue;
use crate::center::Shared;
use crate::waiting::WaitOptions;
use callcore::{
    AgentId, Clock, CoreError, Destination, DigitResult, DigitSpec, EndReason, EventKind,
    Interaction, Leg, ListenSpec, PlayOutcome, Prompt, QueueId, RecordSpec, RecordingId,
    RejectReason, RoutingRequest, SkillRequirement, Stores, Utterance,
};
use std::sync::Arc;
use tokio::sync::oneshot;

/// Options for [`FlowContext::enqueue_with`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueueOptions {
    /// Priority within the queue (higher first).
    pub priority: i32,
    /// An agent to prefer (sticky routing).
    pub preferred_agent: Option<AgentId>,
    /// Tell the customer their position (and estimated wait, when the router
    /// knows it) on entering the queue.
    pub announce_position: bool,
    /// Skills the agent needs besides the queue's own requirements (an IVR
    /// choice such as "French"); see [`RoutingRequest::required_skills`].
    pub required_skills: Vec<SkillRequirement>,
    /// What the customer hears while waiting: music on hold, periodic
    /// announcements, the callback offer.
    pub waiting: WaitOptions,
}

/// Extras for [`FlowContext::enqueue_hooked`] (outbound hand-offs).
#[derive(Debug, Default)]
pub(crate) struct EnqueueHooks {
    /// Leave the queue at this time if no agent was connected.
    pub(crate) give_up_at: Option<callcore::Timestamp>,
    /// Told the agent's id the moment they are connected.
    pub(crate) connected: Option<oneshot::Sender<AgentId>>,
}

/// How a stay in a queue ended.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum QueueOutcome {
    /// An agent served the customer; the conversation is over.
    Served {
        /// The agent.
        agent: AgentId,
        /// Whether the customer hung up (`true`) or the agent did (`false`, the
        /// customer is still on the line and the flow may go on).
        customer_hung_up: bool,
    },
    /// The customer hung up while waiting.
    Abandoned,
    /// The router sent the interaction elsewhere.
    Overflow(Destination),
    /// It waited longer than the queue allows.
    TimedOut,
    /// The queue refused it.
    Rejected(RejectReason),
    /// An agent transferred the customer out of the center (to a number);
    /// that conversation is over too.
    Transferred {
        /// Where to.
        target: String,
    },
    /// The customer pressed the callback key while waiting (see
    /// [`WaitOptions::callback_key`]): they left the call and were told
    /// they will be called back. When `kept_by_router`, the router keeps
    /// their place (`RouterInput::RequestCallback`: reported as a callback,
    /// not an abandonment) and the center calls them back once an agent
    /// takes it — the flow books nothing; otherwise the flow books the
    /// callback (keeping their place: `waiting_since`). Either way the flow
    /// ends the call.
    CallbackRequested {
        /// The queue they waited in.
        queue: QueueId,
        /// When they started waiting there (their place).
        waiting_since: callcore::Timestamp,
        /// The router keeps the place and the center calls back.
        kept_by_router: bool,
    },
}

impl QueueOutcome {
    /// The end reason a flow would report after this outcome.
    #[must_use]
    pub fn end_reason(&self) -> EndReason {
        match self {
            Self::Served {
                customer_hung_up: true,
                ..
            } => EndReason::CustomerHangup,
            Self::Served { .. } => EndReason::AgentHangup,
            Self::Abandoned => EndReason::Abandoned,
            Self::Overflow(_) | Self::Transferred { .. } => EndReason::Transferred,
            Self::TimedOut => EndReason::QueueTimeout,
            Self::Rejected(_) => EndReason::Rejected,
            Self::CallbackRequested { .. } => EndReason::CallbackRequested,
        }
    }
}

/// One interaction as a [`Flow`](crate::Flow) sees it: media on the customer's
/// leg, queueing, transfer and hang-up. Every step is journaled as an event.
///
/// Behind it is the interaction's [`Call`](crate::call::Call), the one owner
/// of its state: while the flow plays, listens or waits in a queue, whatever
/// else reaches the call (the customer hangs up, an agent's phone answers or
/// holds or transfers, a disposition is set) is fed to it in order.
#[derive(Debug)]
pub struct FlowContext {
    interaction: Interaction,
    leg: Box<dyn Leg>,
    pub(crate) glue: CallGlue,
}

impl FlowContext {
    pub(crate) fn new(shared: Arc<Shared>, interaction: Interaction, leg: Box<dyn Leg>) -> Self {
        let call = Call::new(&interaction, leg.id().clone(), shared.record_calls);
        let from = interaction.from.expose().clone();
        Self {
            interaction,
            leg,
            glue: CallGlue::new(shared, call, from),
        }
    }

    /// The interaction (id, channel, caller, attributes, context).
    #[must_use]
    pub const fn interaction(&self) -> &Interaction {
        &self.interaction
    }

    /// The interaction, to add attributes and context for the agent.
    pub const fn interaction_mut(&mut self) -> &mut Interaction {
        &mut self.interaction
    }

    /// The customer's leg.
    #[must_use]
    pub fn leg(&self) -> &dyn Leg {
        &*self.leg
    }

    /// The center's clock.
    #[must_use]
    pub fn clock(&self) -> &dyn Clock {
        &*self.glue.shared.clock
    }

    /// Speech and language providers.
    #[must_use]
    pub fn providers(&self) -> &Providers {
        &self.glue.shared.providers
    }

    /// The center's stores (customer look-ups, history).
    #[must_use]
    pub fn stores(&self) -> &Stores {
        &self.glue.shared.stores
    }

    /// Whether the customer has hung up.
    #[must_use]
    pub const fn customer_hung_up(&self) -> bool {
        self.glue.call.customer_hung_up()
    }

    /// Journals a flow step (`step` such as `"menu"`, `detail` without
    /// personal data).
    /// Nothing is journaled once the interaction has ended.
    pub fn record_step(&self, step: &str, detail: impl Into<String>) {
        if !self.glue.call.ended() {
            self.glue.shared.emitter.emit(
                &self.interaction.tenant,
                EventKind::FlowStep {
                    interaction: self.interaction.id.clone(),
                    step: step.to_owned(),
                    detail: detail.into(),
                },
            );
        }
    }

    /// Journals what the flow learned (the interaction's context: intent
    /// and slots, without the transcript) as [`EventKind::HandedOff`], for
    /// the agent's screen pop; nothing when it learned nothing, or once the
    /// interaction has ended.
    pub fn hand_off(&self) {
        let context = &self.interaction.context;
        if self.glue.call.ended() || (context.intent.is_none() && context.slots.is_empty()) {
            return;
        }
        self.glue.shared.emitter.emit(
            &self.interaction.tenant,
            EventKind::HandedOff {
                interaction: self.interaction.id.clone(),
                context: callcore::InteractionContext {
                    intent: context.intent.clone(),
                    slots: context.slots.clone(),
                    transcript: Vec::new(),
                },
            },
        );
    }

    /// Records the recognised intent in the context and the journal.
    pub fn set_intent(&mut self, intent: &str) {
        self.interaction.context.intent = Some(intent.to_owned());
        self.record_step("intent", intent);
    }

    async fn note<T>(&mut self, result: Result<T, CoreError>) -> Result<T, CoreError> {
        if matches!(result, Err(CoreError::LegEnded)) {
            let now = self.glue.shared.clock.now();
            self.glue.call.handle_leg_ended(self.leg.id(), now);
        }
        self.glue.drive(&*self.leg).await;
        result
    }

    /// Plays a prompt.
    ///
    /// # Errors
    /// [`CoreError::LegEnded`] when the customer hung up; media errors.
    pub async fn play(
        &mut self,
        prompt: &Prompt,
        barge_in: bool,
    ) -> Result<PlayOutcome, CoreError> {
        let detail = match prompt {
            Prompt::File(f) => f.clone(),
            other => format!("{other:?}"),
        };
        self.record_step("play", detail);
        let leg = &*self.leg;
        let r = self
            .glue
            .serve(leg, leg.media().play(prompt, barge_in))
            .await;
        self.note(r).await
    }

    /// Says a text (TTS on voice, a message on chat), without barge-in.
    ///
    /// # Errors
    /// As [`play`](Self::play).
    pub async fn say(&mut self, text: &str) -> Result<PlayOutcome, CoreError> {
        self.say_with(text, false).await
    }

    /// Says a text, optionally interruptible by the caller.
    ///
    /// # Errors
    /// As [`play`](Self::play).
    pub async fn say_with(&mut self, text: &str, barge_in: bool) -> Result<PlayOutcome, CoreError> {
        self.record_step("say", format!("{} chars", text.chars().count()));
        let leg = &*self.leg;
        let r = self.glue.serve(leg, leg.media().say(text, barge_in)).await;
        self.note(r).await
    }

    /// Collects DTMF digits.
    ///
    /// # Errors
    /// As [`play`](Self::play).
    pub async fn collect_digits(&mut self, spec: &DigitSpec) -> Result<DigitResult, CoreError> {
        let leg = &*self.leg;
        let r = self.glue.serve(leg, leg.media().collect_digits(spec)).await;
        let r = self.note(r).await?;
        self.record_step(
            "collect_digits",
            format!("{} digits, {:?}", r.digits.len(), r.termination),
        );
        Ok(r)
    }

    /// Listens for one utterance (speech or a chat message). On a voice leg
    /// what the recognizer heard is journaled as a transcript segment of the
    /// customer, and the time it listened is metered.
    ///
    /// # Errors
    /// As [`play`](Self::play).
    pub async fn listen(&mut self, spec: &ListenSpec) -> Result<Utterance, CoreError> {
        let started = self.glue.shared.clock.now();
        let leg = &*self.leg;
        let r = self.glue.serve(leg, leg.media().listen(spec)).await;
        let now = self.glue.shared.clock.now();
        let heard = match &r {
            Ok(Utterance::Text { text, .. }) => Some(text.as_str()),
            _ => None,
        };
        self.glue
            .call
            .handle_heard(heard, now.duration_since(started), now);
        let r = self.note(r).await?;
        let detail = match &r {
            Utterance::Text { .. } => "text",
            Utterance::Digits { .. } => "digits",
            Utterance::NoInput => "no_input",
            _ => "other",
        };
        self.record_step("listen", detail);
        Ok(r)
    }

    /// Records the customer (a message, a voicemail: see
    /// [`voicemail`](Self::voicemail)) until the terminator key, silence or
    /// the maximum length; the recording's id.
    ///
    /// # Errors
    /// As [`play`](Self::play).
    pub async fn record(&mut self, spec: &RecordSpec) -> Result<RecordingId, CoreError> {
        let leg = &*self.leg;
        let r = self.glue.serve(leg, leg.media().record(spec)).await;
        let r = self.note(r).await?;
        self.record_step("record", r.to_string());
        Ok(r)
    }

    /// Blind-transfers the customer and ends the interaction here.
    ///
    /// # Errors
    /// As [`play`](Self::play); [`CoreError::Unsupported`] when the transport
    /// cannot transfer.
    pub async fn transfer(&mut self, target: &str) -> Result<(), CoreError> {
        let leg = &*self.leg;
        let r = self.glue.serve(leg, leg.transfer(target)).await;
        self.note(r).await?;
        let now = self.glue.shared.clock.now();
        self.glue.call.handle_flow_transfer(target, now);
        self.glue.drive(&*self.leg).await;
        Ok(())
    }

    /// Hangs up on the customer.
    ///
    /// # Errors
    /// None today; kept for transports whose hang-up can fail.
    pub async fn hangup(&mut self) -> Result<(), CoreError> {
        self.glue.call.handle_hangup_request();
        self.glue.drive(&*self.leg).await;
        Ok(())
    }

    /// Waits in `queue` at normal priority until an agent has served the
    /// customer, or the customer leaves, or the queue gives up.
    ///
    /// # Errors
    /// [`CoreError::Shutdown`] when the center stops meanwhile.
    pub async fn enqueue(&mut self, queue: impl Into<QueueId>) -> Result<QueueOutcome, CoreError> {
        self.enqueue_with(queue.into(), QueueOptions::default())
            .await
    }

    /// [`enqueue`](Self::enqueue) with a priority and a preferred agent.
    ///
    /// # Errors
    /// [`CoreError::Shutdown`] when the center stops meanwhile.
    pub async fn enqueue_with(
        &mut self,
        queue: QueueId,
        options: QueueOptions,
    ) -> Result<QueueOutcome, CoreError> {
        self.enqueue_hooked(queue, options, EnqueueHooks::default())
            .await
    }

    /// [`enqueue_with`](Self::enqueue_with), giving up at `hooks.give_up_at`
    /// (the interaction leaves the queue with [`QueueOutcome::TimedOut`], the
    /// customer still on the line; an agent connected in the same instant
    /// serves them instead) and telling `hooks.connected` which agent took the
    /// interaction as soon as they are bridged.
    pub(crate) async fn enqueue_hooked(
        &mut self,
        queue: QueueId,
        options: QueueOptions,
        hooks: EnqueueHooks,
    ) -> Result<QueueOutcome, CoreError> {
        let now = self.glue.shared.clock.now();
        let request = RoutingRequest {
            interaction: self.interaction.id.clone(),
            tenant: self.interaction.tenant.clone(),
            channel: self.interaction.channel,
            queue,
            priority: options.priority,
            customer: self.interaction.customer.clone(),
            preferred_agent: options.preferred_agent.clone(),
            attributes: self.interaction.attributes.clone(),
            required_skills: options.required_skills.clone(),
            enqueued_at: now,
        };
        self.glue.connected_hook = hooks.connected;
        let stay = StayOptions {
            announce_position: options.announce_position,
            give_up_at: hooks.give_up_at,
        };
        self.glue.call.handle_enqueue(request, stay, now);
        let outcome = self.glue.stay(&*self.leg, &options.waiting).await;
        self.glue.connected_hook = None;
        outcome
    }

    /// Click-to-dial: the agent's answered leg is bridged to the customer's
    /// and the conversation is served until it ends.
    pub(crate) async fn connect_direct(
        &mut self,
        agent: callcore::AgentId,
        queue: QueueId,
        agent_leg: Box<dyn Leg>,
    ) -> Result<QueueOutcome, CoreError> {
        let now = self.glue.shared.clock.now();
        let leg = self.glue.adopt(agent_leg);
        if let Err(e) = self
            .glue
            .call
            .handle_direct_connect(agent, queue, leg.clone(), now)
        {
            self.glue.drop_adopted(&leg).await;
            return Err(e);
        }
        // connected at once: nothing to wait for
        self.glue.stay(&*self.leg, &WaitOptions::silent()).await
    }

    /// The flow is over with `reason`: the call ends (if it has not), the
    /// customer's leg is hung up, and the call waits for its recordings.
    pub(crate) async fn finish(&mut self, reason: EndReason) {
        let now = self.glue.shared.clock.now();
        self.glue.call.handle_flow_finished(reason, now);
        self.glue.wind_down(&*self.leg).await;
    }
}
