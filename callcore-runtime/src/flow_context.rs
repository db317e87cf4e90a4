//! The handle a flow drives one interaction through.

use crate::Providers;
use crate::emitter::Emitter;
use crate::routing_task::{QueueSignal, RouterCommand, Waiter};
use callcore::{
    AgentId, Clock, CoreError, Destination, DigitResult, DigitSpec, EndReason, EventKind,
    HangupCause, Interaction, Leg, ListenSpec, PlayOutcome, Prompt, QueueId, RecordingRequest,
    RejectReason, RouterInput, RoutingRequest, Stores, Utterance,
};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

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
            Self::Overflow(_) => EndReason::Transferred,
            Self::TimedOut => EndReason::QueueTimeout,
            Self::Rejected(_) => EndReason::Rejected,
        }
    }
}

/// One interaction as a [`Flow`](crate::Flow) sees it: media on the customer's
/// leg, queueing, transfer and hang-up. Every step is journaled as an event.
#[derive(Debug)]
pub struct FlowContext {
    interaction: Interaction,
    leg: Box<dyn Leg>,
    emitter: Emitter,
    router: mpsc::UnboundedSender<RouterCommand>,
    clock: Arc<dyn Clock>,
    providers: Providers,
    stores: Stores,
    /// Set once the interaction's `Ended` event has been emitted.
    ended: Option<EndReason>,
    customer_gone: bool,
    /// Record the conversation with the agent.
    record_calls: bool,
}

impl FlowContext {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        interaction: Interaction,
        leg: Box<dyn Leg>,
        emitter: Emitter,
        router: mpsc::UnboundedSender<RouterCommand>,
        clock: Arc<dyn Clock>,
        providers: Providers,
        stores: Stores,
        record_calls: bool,
    ) -> Self {
        Self {
            interaction,
            leg,
            emitter,
            router,
            clock,
            providers,
            stores,
            ended: None,
            customer_gone: false,
            record_calls,
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
        &*self.clock
    }

    /// Speech and language providers.
    #[must_use]
    pub const fn providers(&self) -> &Providers {
        &self.providers
    }

    /// The center's stores (customer look-ups, history).
    #[must_use]
    pub const fn stores(&self) -> &Stores {
        &self.stores
    }

    /// Whether the customer has hung up.
    #[must_use]
    pub const fn customer_hung_up(&self) -> bool {
        self.customer_gone
    }

    pub(crate) const fn ended(&self) -> Option<&EndReason> {
        self.ended.as_ref()
    }

    pub(crate) fn into_leg(self) -> Box<dyn Leg> {
        self.leg
    }

    /// Journals a flow step (`step` such as `"menu"`, `detail` without
    /// personal data).
    pub fn record_step(&self, step: &str, detail: impl Into<String>) {
        self.emitter.emit(
            &self.interaction.tenant,
            EventKind::FlowStep {
                interaction: self.interaction.id.clone(),
                step: step.to_owned(),
                detail: detail.into(),
            },
        );
    }

    /// Records the recognised intent in the context and the journal.
    pub fn set_intent(&mut self, intent: &str) {
        self.interaction.context.intent = Some(intent.to_owned());
        self.record_step("intent", intent);
    }

    fn note<T>(&mut self, result: Result<T, CoreError>) -> Result<T, CoreError> {
        if matches!(result, Err(CoreError::LegEnded)) {
            self.customer_gone = true;
        }
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
        let r = self.leg.media().play(prompt, barge_in).await;
        self.note(r)
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
        let r = self.leg.media().say(text, barge_in).await;
        self.note(r)
    }

    /// Collects DTMF digits.
    ///
    /// # Errors
    /// As [`play`](Self::play).
    pub async fn collect_digits(&mut self, spec: &DigitSpec) -> Result<DigitResult, CoreError> {
        let r = self.leg.media().collect_digits(spec).await;
        let r = self.note(r)?;
        self.record_step(
            "collect_digits",
            format!("{} digits, {:?}", r.digits.len(), r.termination),
        );
        Ok(r)
    }

    /// Listens for one utterance (speech or a chat message).
    ///
    /// # Errors
    /// As [`play`](Self::play).
    pub async fn listen(&mut self, spec: &ListenSpec) -> Result<Utterance, CoreError> {
        let r = self.leg.media().listen(spec).await;
        let r = self.note(r)?;
        let detail = match &r {
            Utterance::Text { .. } => "text",
            Utterance::Digits { .. } => "digits",
            Utterance::NoInput => "no_input",
            _ => "other",
        };
        self.record_step("listen", detail);
        Ok(r)
    }

    /// Blind-transfers the customer and ends the interaction here.
    ///
    /// # Errors
    /// As [`play`](Self::play); [`CoreError::Unsupported`] when the transport
    /// cannot transfer.
    pub async fn transfer(&mut self, target: &str) -> Result<(), CoreError> {
        let r = self.leg.transfer(target).await;
        self.note(r)?;
        self.emitter.emit(
            &self.interaction.tenant,
            EventKind::Transferred {
                interaction: self.interaction.id.clone(),
                target: target.to_owned(),
            },
        );
        self.end(EndReason::Transferred);
        Ok(())
    }

    /// Hangs up on the customer.
    ///
    /// # Errors
    /// Transport errors.
    pub async fn hangup(&mut self) -> Result<(), CoreError> {
        let r = self.leg.hangup(HangupCause::Local).await;
        match r {
            Ok(()) | Err(CoreError::LegEnded) => Ok(()),
            Err(e) => Err(e),
        }
    }

    pub(crate) fn end(&mut self, reason: EndReason) {
        if self.ended.is_none() {
            self.emitter.emit(
                &self.interaction.tenant,
                EventKind::Ended {
                    interaction: self.interaction.id.clone(),
                    reason: reason.clone(),
                },
            );
            self.ended = Some(reason);
        }
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
    /// customer still on the line) and telling `hooks.connected` which agent
    /// took the interaction as soon as they are bridged.
    pub(crate) async fn enqueue_hooked(
        &mut self,
        queue: QueueId,
        options: QueueOptions,
        mut hooks: EnqueueHooks,
    ) -> Result<QueueOutcome, CoreError> {
        let (tx, mut signals) = mpsc::unbounded_channel();
        let request = RoutingRequest {
            interaction: self.interaction.id.clone(),
            tenant: self.interaction.tenant.clone(),
            channel: self.interaction.channel,
            queue: queue.clone(),
            priority: options.priority,
            customer: self.interaction.customer.clone(),
            preferred_agent: options.preferred_agent.clone(),
            attributes: self.interaction.attributes.clone(),
            enqueued_at: self.clock.now(),
        };
        let waiter = Waiter {
            tenant: self.interaction.tenant.clone(),
            from: self.interaction.from.expose().clone(),
            signals: tx,
        };
        self.router
            .send(RouterCommand::Enqueue(Box::new(request), waiter))
            .map_err(|_| CoreError::Shutdown)?;
        let give_up = hooks.give_up_at.map(|t| self.clock.sleep_until(t));
        let mut give_up = std::pin::pin!(async move {
            match give_up {
                Some(sleep) => sleep.await,
                None => std::future::pending().await,
            }
        });
        loop {
            let signal = tokio::select! {
                s = signals.recv() => s.ok_or(CoreError::Shutdown)?,
                _ = self.leg.ended() => {
                    return Ok(self.abandon(&queue, signals).await);
                }
                () = &mut give_up => {
                    return self.give_up(&queue, signals, hooks.connected.take()).await;
                }
            };
            match signal {
                QueueSignal::Queued {
                    position,
                    estimated_wait_secs,
                } => {
                    if options.announce_position {
                        let mut text = format!("You are number {position} in the queue.");
                        if let Some(secs) = estimated_wait_secs {
                            let minutes = secs.div_ceil(60).max(1);
                            text.push_str(&format!(
                                " The expected wait is about {minutes} minute{}.",
                                if minutes == 1 { "" } else { "s" }
                            ));
                        }
                        // A caller who hangs up meanwhile is noticed below.
                        let _ = self.say(&text).await;
                    }
                }
                QueueSignal::Connected { agent, queue, leg } => {
                    if let Some(connected) = hooks.connected.take() {
                        let _ = connected.send(agent.clone());
                    }
                    return Ok(self.converse(agent, queue, leg).await);
                }
                QueueSignal::Rejected(reason) => return Ok(QueueOutcome::Rejected(reason)),
                QueueSignal::Overflow(dest) => return Ok(QueueOutcome::Overflow(dest)),
                QueueSignal::TimedOut => return Ok(QueueOutcome::TimedOut),
            }
        }
    }

    async fn abandon(
        &mut self,
        queue: &QueueId,
        mut signals: mpsc::UnboundedReceiver<QueueSignal>,
    ) -> QueueOutcome {
        self.customer_gone = true;
        let _ = self
            .router
            .send(RouterCommand::Abandon(self.interaction.id.clone()));
        // An agent may have been connected in the same instant: release them.
        while let Ok(signal) = signals.try_recv() {
            if let QueueSignal::Connected { agent, leg, .. } = signal {
                if let Some(leg) = leg {
                    let _ = leg.hangup(HangupCause::Local).await;
                }
                self.agent_done(agent);
            }
        }
        self.emitter.emit(
            &self.interaction.tenant,
            EventKind::Abandoned {
                interaction: self.interaction.id.clone(),
                queue: queue.clone(),
            },
        );
        self.end(EndReason::Abandoned);
        QueueOutcome::Abandoned
    }

    /// Leaves the queue at the caller's request, the customer still on the
    /// line; an agent connected in the same instant serves them instead.
    async fn give_up(
        &mut self,
        queue: &QueueId,
        mut signals: mpsc::UnboundedReceiver<QueueSignal>,
        connected: Option<oneshot::Sender<AgentId>>,
    ) -> Result<QueueOutcome, CoreError> {
        let _ = self
            .router
            .send(RouterCommand::Abandon(self.interaction.id.clone()));
        // Once the routing task has handled the abandon, no signal can follow.
        let (tx, rx) = oneshot::channel();
        self.router
            .send(RouterCommand::Barrier(tx))
            .map_err(|_| CoreError::Shutdown)?;
        rx.await.map_err(|_| CoreError::Shutdown)?;
        while let Ok(signal) = signals.try_recv() {
            if let QueueSignal::Connected { agent, queue, leg } = signal {
                if let Some(connected) = connected {
                    let _ = connected.send(agent.clone());
                }
                return Ok(self.converse(agent, queue, leg).await);
            }
        }
        self.emitter.emit(
            &self.interaction.tenant,
            EventKind::QueueExited {
                interaction: self.interaction.id.clone(),
                queue: queue.clone(),
                reason: "connect_timeout".to_owned(),
            },
        );
        Ok(QueueOutcome::TimedOut)
    }

    fn agent_done(&self, agent: AgentId) {
        let _ = self.router.send(RouterCommand::Input(
            RouterInput::InteractionEnded {
                interaction: self.interaction.id.clone(),
                agent,
            },
            None,
        ));
    }

    /// Bridges the customer's leg to the agent's, recorded when the center
    /// records calls (a recording that cannot start leaves an unrecorded
    /// bridge rather than a silent call).
    async fn bridge(&self, agent_leg: &dyn Leg) {
        if self.record_calls {
            let request =
                RecordingRequest::new(self.interaction.tenant.clone(), self.interaction.id.clone());
            match self.leg.bridge_recorded(agent_leg, &request).await {
                // What started and the future of its end are here for the
                // RecordingStarted/RecordingStopped events.
                Ok(Some(recording)) => {
                    tracing::debug!(recording = %recording.started.id, "recording the conversation");
                    return;
                }
                Ok(None) => return,
                Err(e) => tracing::warn!(error = %e, "recording the conversation failed"),
            }
        }
        if let Err(e) = self.leg.bridge(agent_leg).await {
            tracing::warn!(error = %e, "bridging customer and agent failed");
        }
    }

    /// Bridges customer and agent and waits until one of them hangs up.
    async fn converse(
        &mut self,
        agent: AgentId,
        queue: QueueId,
        agent_leg: Option<Box<dyn Leg>>,
    ) -> QueueOutcome {
        if let Some(agent_leg) = &agent_leg {
            self.bridge(&**agent_leg).await;
        }
        self.emitter.emit(
            &self.interaction.tenant,
            EventKind::Connected {
                interaction: self.interaction.id.clone(),
                agent: agent.clone(),
                queue,
            },
        );
        let customer_hung_up = match &agent_leg {
            Some(agent_leg) => tokio::select! {
                _ = self.leg.ended() => {
                    let _ = agent_leg.hangup(HangupCause::Local).await;
                    true
                }
                _ = agent_leg.ended() => false,
            },
            None => {
                self.leg.ended().await;
                true
            }
        };
        if customer_hung_up {
            self.customer_gone = true;
            self.end(EndReason::CustomerHangup);
        }
        self.agent_done(agent.clone());
        QueueOutcome::Served {
            agent,
            customer_hung_up,
        }
    }
}
