//! The routing task: owns the sans-IO router, feeds it, acts on its decisions.

use crate::emitter::Emitter;
use callcore::{
    AgentId, AgentProfile, Channel, Clock, CoreError, Destination, Endpoint, EventKind,
    InteractionId, Leg, OfferEnd, PlaceRequest, QueueId, QueuePosition, RejectReason,
    ReservationId, Router, RouterInput, RouterSnapshot, RoutingDecision, RoutingRequest, TenantId,
    Transport,
};
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

/// What an interaction waiting in a queue hears from the routing task.
#[derive(Debug)]
pub(crate) enum QueueSignal {
    Queued {
        position: u32,
        estimated_wait_secs: Option<u32>,
    },
    Connected {
        agent: AgentId,
        queue: QueueId,
        /// The agent's answered leg; `None` when the agent accepted on the desktop.
        leg: Option<Box<dyn Leg>>,
    },
    Rejected(RejectReason),
    Overflow(Destination),
    TimedOut,
}

/// Who waits for routing and how to reach the customer's side.
#[derive(Debug)]
pub(crate) struct Waiter {
    pub(crate) tenant: TenantId,
    pub(crate) from: String,
    pub(crate) signals: mpsc::UnboundedSender<QueueSignal>,
}

/// A waiter as the routing task keeps it: with its request, for a kept
/// callback that is tried again.
#[derive(Debug)]
struct Waiting {
    waiter: Waiter,
    request: Box<RoutingRequest>,
}

pub(crate) type Reply<T> = oneshot::Sender<Result<T, CoreError>>;

/// Commands to the routing task.
#[derive(Debug)]
pub(crate) enum RouterCommand {
    Input(RouterInput, Option<Reply<()>>),
    Enqueue(Box<RoutingRequest>, Waiter),
    /// The interaction leaves its queue; its signal channel closes once the
    /// router's decisions about it are out.
    Abandon(InteractionId),
    AcceptOffer(ReservationId, Reply<()>),
    DeclineOffer(ReservationId, Reply<()>),
    Snapshot(oneshot::Sender<RouterSnapshot>),
    /// Where an interaction waits now (for the caller's announcements).
    Position(InteractionId, oneshot::Sender<Option<QueuePosition>>),
    /// An agent's profile (endpoints, supervisor permission).
    Profile(AgentId, oneshot::Sender<Option<AgentProfile>>),
    /// The customer waiting as this interaction asked to be called back: the
    /// router is asked to keep their place (`RouterInput::RequestCallback`);
    /// answered `true` when it does (the call's signal channel then closes
    /// and the routing task calls the customer back once an agent takes the
    /// place), `false` when it cannot (the call leaves as before).
    Callback(InteractionId, oneshot::Sender<bool>),
    /// A kept callback whose customer was not reached goes back to its
    /// queue, kept again, for its next attempt.
    RetryCallback(Box<CallbackDue>),
    /// An agent a call took directly is free: available again if they are
    /// still not ready for one of these reasons (nobody changed their state
    /// meanwhile).
    Free(AgentId, &'static [&'static str]),
    Shutdown,
}

/// Result of ringing an agent, from an offer task.
#[derive(Debug)]
struct OfferResult {
    reservation: ReservationId,
    result: Result<Box<dyn Leg>, OfferEnd>,
}

#[derive(Debug)]
struct PendingOffer {
    agent: AgentId,
    ringing: Option<JoinHandle<()>>,
    answered: Option<Box<dyn Leg>>,
}

/// A callback whose place the router keeps: how to reach the customer.
#[derive(Debug)]
struct Kept {
    from: String,
    /// The request the customer waited with (its tenant, queue and arrival).
    request: Box<RoutingRequest>,
    /// Calls to the customer made so far.
    attempts: u32,
}

/// A kept callback an agent took: the customer is to be called back and
/// bridged to them (see `crate::callback`).
#[derive(Debug)]
pub(crate) struct CallbackDue {
    /// The interaction that asked (its call has ended).
    pub(crate) interaction: InteractionId,
    pub(crate) tenant: TenantId,
    /// The customer's number.
    pub(crate) number: String,
    pub(crate) queue: QueueId,
    pub(crate) agent: AgentId,
    /// The agent's answered leg (`None`: accepted on the desktop).
    pub(crate) leg: Option<Box<dyn Leg>>,
    /// The request the customer waited with (for another attempt).
    pub(crate) request: Box<RoutingRequest>,
    /// Calls to the customer before this one.
    pub(crate) attempts: u32,
}

pub(crate) struct RoutingTask {
    pub(crate) router: Box<dyn Router>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) emitter: Emitter,
    pub(crate) transports: Vec<Arc<dyn Transport>>,
    pub(crate) tenant: TenantId,
    waiters: HashMap<InteractionId, Waiting>,
    kept: HashMap<InteractionId, Kept>,
    callbacks: Option<mpsc::UnboundedSender<CallbackDue>>,
    offers: HashMap<ReservationId, PendingOffer>,
    agents: HashMap<AgentId, AgentProfile>,
    results_tx: mpsc::UnboundedSender<OfferResult>,
    results_rx: mpsc::UnboundedReceiver<OfferResult>,
}

impl RoutingTask {
    pub(crate) fn new(
        router: Box<dyn Router>,
        clock: Arc<dyn Clock>,
        emitter: Emitter,
        transports: Vec<Arc<dyn Transport>>,
        tenant: TenantId,
    ) -> Self {
        let (results_tx, results_rx) = mpsc::unbounded_channel();
        Self {
            router,
            clock,
            emitter,
            transports,
            tenant,
            waiters: HashMap::new(),
            kept: HashMap::new(),
            callbacks: None,
            offers: HashMap::new(),
            agents: HashMap::new(),
            results_tx,
            results_rx,
        }
    }

    /// Where kept callbacks go once an agent takes them.
    pub(crate) fn callbacks_to(&mut self, due: mpsc::UnboundedSender<CallbackDue>) {
        self.callbacks = Some(due);
    }

    pub(crate) async fn run(mut self, mut commands: mpsc::UnboundedReceiver<RouterCommand>) {
        loop {
            let timer = self
                .router
                .poll_timeout()
                .map(|t| self.clock.sleep_until(t));
            let timer = async move {
                match timer {
                    Some(t) => t.await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                biased;
                cmd = commands.recv() => match cmd {
                    None | Some(RouterCommand::Shutdown) => break,
                    Some(cmd) => self.on_command(cmd),
                },
                Some(result) = self.results_rx.recv() => self.on_offer_result(result),
                () = timer => self.router.handle_timeout(self.clock.now()),
            }
            self.drain_decisions();
        }
        for (_, offer) in self.offers.drain() {
            if let Some(task) = offer.ringing {
                task.abort();
            }
        }
    }

    fn input(&mut self, input: RouterInput) -> Result<(), CoreError> {
        self.router.handle(input, self.clock.now())
    }

    fn on_command(&mut self, cmd: RouterCommand) {
        match cmd {
            RouterCommand::Input(input, reply) => {
                let added = match &input {
                    RouterInput::AddAgent(p) => Some((**p).clone()),
                    _ => None,
                };
                let removed = match &input {
                    RouterInput::RemoveAgent(a) => Some(a.clone()),
                    _ => None,
                };
                let result = self.input(input);
                if result.is_ok() {
                    if let Some(p) = added {
                        self.agents.insert(p.id.clone(), p);
                    }
                    if let Some(a) = removed {
                        self.agents.remove(&a);
                    }
                }
                if let Some(reply) = reply {
                    let _ = reply.send(result);
                }
            }
            RouterCommand::Enqueue(request, waiter) => {
                self.waiters.insert(
                    request.interaction.clone(),
                    Waiting {
                        waiter,
                        request: request.clone(),
                    },
                );
                let interaction = request.interaction.clone();
                if let Err(e) = self.input(RouterInput::Enqueue(request)) {
                    tracing::warn!(%interaction, error = %e, "enqueue refused");
                    if let Some(w) = self.waiters.remove(&interaction) {
                        let _ = w
                            .waiter
                            .signals
                            .send(QueueSignal::Rejected(RejectReason::UnknownQueue));
                    }
                }
            }
            RouterCommand::RetryCallback(due) => self.retry_callback(*due),
            RouterCommand::Abandon(interaction) => {
                if let Err(e) = self.input(RouterInput::Abandon {
                    interaction: interaction.clone(),
                }) {
                    tracing::debug!(%interaction, error = %e, "abandon after routing ended");
                }
                // What the abandon decided (an offer canceled) is out before
                // the call hears that the router let go: its channel closes.
                self.drain_decisions();
                self.waiters.remove(&interaction);
            }
            RouterCommand::Callback(interaction, reply) => {
                let kept = self.callbacks.is_some()
                    && self
                        .input(RouterInput::RequestCallback {
                            interaction: interaction.clone(),
                        })
                        .is_ok();
                if kept {
                    self.drain_decisions();
                    // the call hears that the router let go; the place stays
                    if let Some(w) = self.waiters.remove(&interaction) {
                        self.kept.insert(
                            interaction,
                            Kept {
                                from: w.waiter.from,
                                request: w.request,
                                attempts: 0,
                            },
                        );
                    }
                }
                let _ = reply.send(kept);
            }
            RouterCommand::AcceptOffer(reservation, reply) => {
                let result = self.input(RouterInput::OfferAccepted { reservation });
                let _ = reply.send(result);
            }
            RouterCommand::DeclineOffer(reservation, reply) => {
                let result = self.input(RouterInput::OfferFailed {
                    reservation,
                    outcome: OfferEnd::Declined,
                });
                let _ = reply.send(result);
            }
            RouterCommand::Snapshot(reply) => {
                let _ = reply.send(self.router.snapshot(self.clock.now()));
            }
            RouterCommand::Position(interaction, reply) => {
                let _ = reply.send(self.router.queue_position(&interaction, self.clock.now()));
            }
            RouterCommand::Profile(agent, reply) => {
                let _ = reply.send(self.agents.get(&agent).cloned());
            }
            RouterCommand::Free(agent, reasons) => {
                let held = self
                    .router
                    .snapshot(self.clock.now())
                    .agents
                    .iter()
                    .any(|a| {
                        a.agent == agent
                            && matches!(&a.state, callcore::AgentState::NotReady(r)
                                if reasons.contains(&r.as_str()))
                    });
                if held
                    && let Err(e) = self.input(RouterInput::SetAgentState {
                        agent,
                        state: callcore::AgentState::Available,
                    })
                {
                    tracing::warn!(error = %e, "freeing an agent taken directly failed");
                }
            }
            RouterCommand::Shutdown => {}
        }
    }

    fn on_offer_result(&mut self, result: OfferResult) {
        let Some(offer) = self.offers.get_mut(&result.reservation) else {
            // The offer ended meanwhile (caller hung up, timed out): release the
            // agent's phone if it answered.
            if let Ok(leg) = result.result {
                tokio::spawn(async move {
                    let _ = leg.hangup(callcore::HangupCause::Local).await;
                });
            }
            return;
        };
        offer.ringing = None;
        let input = match result.result {
            Ok(leg) => {
                offer.answered = Some(leg);
                RouterInput::OfferAccepted {
                    reservation: result.reservation,
                }
            }
            Err(outcome) => RouterInput::OfferFailed {
                reservation: result.reservation,
                outcome,
            },
        };
        if let Err(e) = self.input(input) {
            tracing::warn!(error = %e, "offer result refused by router");
        }
    }

    /// Tells the waiting call; gives the signal back when nobody waits for
    /// it any more (the caller hung up meanwhile).
    fn signal(
        &mut self,
        interaction: &InteractionId,
        signal: QueueSignal,
        last: bool,
    ) -> Option<QueueSignal> {
        if last && self.kept.remove(interaction).is_some() {
            // a kept callback leaves the queue (overflow, timeout): nobody to tell
            tracing::info!(%interaction, "a kept callback left its queue without an agent");
            return None;
        }
        let waiter = if last {
            self.waiters.remove(interaction)
        } else {
            None
        };
        let unsent = match waiter.as_ref().or_else(|| self.waiters.get(interaction)) {
            Some(w) => w.waiter.signals.send(signal).err().map(|e| e.0),
            None => Some(signal),
        };
        if unsent.is_some() {
            tracing::debug!(%interaction, "routing signal for an interaction no longer waiting");
        }
        unsent
    }

    /// A kept callback whose customer was not reached: back in its queue
    /// with the request it first waited with (its place, where the router
    /// orders by arrival), kept again for the next attempt.
    fn retry_callback(&mut self, due: CallbackDue) {
        let interaction = due.interaction.clone();
        if let Err(e) = self.input(RouterInput::Enqueue(due.request.clone())) {
            tracing::warn!(%interaction, error = %e, "a callback could not go back to its queue for another attempt");
            return;
        }
        self.kept.insert(
            interaction.clone(),
            Kept {
                from: due.number,
                request: due.request,
                attempts: due.attempts,
            },
        );
        // No patience timeout while it waits. A router that offered it at
        // once (an agent was free) refuses, which is as good.
        if let Err(e) = self.input(RouterInput::RequestCallback {
            interaction: interaction.clone(),
        }) {
            tracing::debug!(%interaction, error = %e, "a retried callback is offered at once");
        }
    }

    fn tenant_of(&self, interaction: &InteractionId) -> TenantId {
        match (self.waiters.get(interaction), self.kept.get(interaction)) {
            (Some(w), _) => w.waiter.tenant.clone(),
            (None, Some(k)) => k.request.tenant.clone(),
            (None, None) => self.tenant.clone(),
        }
    }

    fn drain_decisions(&mut self) {
        while let Some(decision) = self.router.poll_decision() {
            self.on_decision(decision);
        }
    }

    #[allow(clippy::too_many_lines)]
    fn on_decision(&mut self, decision: RoutingDecision) {
        match decision {
            RoutingDecision::Queued {
                interaction,
                queue,
                position,
                estimated_wait_secs,
            } => {
                if self.kept.get(&interaction).is_some_and(|k| k.attempts > 0) {
                    // a callback back in its queue for another attempt: it
                    // entered the queue once, when the customer waited
                    return;
                }
                let tenant = self.tenant_of(&interaction);
                self.emitter.emit(
                    &tenant,
                    EventKind::Queued {
                        interaction: interaction.clone(),
                        queue,
                        position,
                        estimated_wait_secs,
                    },
                );
                self.signal(
                    &interaction,
                    QueueSignal::Queued {
                        position,
                        estimated_wait_secs,
                    },
                    false,
                );
            }
            RoutingDecision::Rejected {
                interaction,
                queue,
                reason,
            } => {
                let tenant = self.tenant_of(&interaction);
                self.emitter.emit(
                    &tenant,
                    EventKind::QueueExited {
                        interaction: interaction.clone(),
                        queue,
                        reason: reason.as_str().to_owned(),
                    },
                );
                self.signal(&interaction, QueueSignal::Rejected(reason), true);
            }
            RoutingDecision::Offer {
                reservation,
                interaction,
                queue,
                agent,
                expires_at,
            } => {
                let tenant = self.tenant_of(&interaction);
                self.emitter.emit(
                    &tenant,
                    EventKind::Offered {
                        interaction: interaction.clone(),
                        queue,
                        agent: agent.clone(),
                        reservation: reservation.clone(),
                        expires_at,
                    },
                );
                let ringing = self.ring_agent(&reservation, &interaction, &agent, expires_at);
                self.offers.insert(
                    reservation,
                    PendingOffer {
                        agent,
                        ringing,
                        answered: None,
                    },
                );
            }
            RoutingDecision::OfferEnded {
                reservation,
                interaction,
                agent,
                outcome,
            } => {
                if let Some(offer) = self.offers.remove(&reservation) {
                    if let Some(task) = offer.ringing {
                        task.abort();
                    }
                    if let Some(leg) = offer.answered {
                        tokio::spawn(async move {
                            let _ = leg.hangup(callcore::HangupCause::Local).await;
                        });
                    }
                }
                let tenant = self.tenant_of(&interaction);
                self.emitter.emit(
                    &tenant,
                    EventKind::OfferEnded {
                        interaction,
                        agent,
                        reservation,
                        outcome,
                    },
                );
            }
            RoutingDecision::Assigned {
                reservation,
                interaction,
                queue,
                agent,
            } => {
                let leg = self.offers.remove(&reservation).and_then(|o| {
                    debug_assert_eq!(o.agent, agent);
                    o.answered
                });
                let tenant = self.tenant_of(&interaction);
                self.emitter.emit(
                    &tenant,
                    EventKind::OfferAccepted {
                        interaction: interaction.clone(),
                        agent: agent.clone(),
                        reservation,
                    },
                );
                if let Some(k) = self.kept.remove(&interaction) {
                    // a kept callback's turn: the customer is called back
                    let due = CallbackDue {
                        interaction,
                        tenant: k.request.tenant.clone(),
                        number: k.from,
                        queue,
                        agent,
                        leg,
                        request: k.request,
                        attempts: k.attempts,
                    };
                    if let Some(tx) = &self.callbacks
                        && let Err(e) = tx.send(due)
                    {
                        tracing::warn!(interaction = %e.0.interaction, "callback not placed: the center is stopping");
                    }
                    return;
                }
                let unsent = self.signal(
                    &interaction,
                    QueueSignal::Connected { agent, queue, leg },
                    true,
                );
                if let Some(QueueSignal::Connected { agent, leg, .. }) = unsent {
                    // The caller left before the assignment reached this node
                    // (a remote router decides after the hang-up it has not
                    // read yet): the agent's phone hangs up and the router
                    // hears the interaction ended, so the agent is free again.
                    if let Some(leg) = leg {
                        tokio::spawn(async move {
                            let _ = leg.hangup(callcore::HangupCause::Local).await;
                        });
                    }
                    tracing::info!(%interaction, %agent, "assigned after the caller left: agent released");
                    if let Err(e) = self.input(RouterInput::InteractionEnded { interaction, agent })
                    {
                        tracing::debug!(error = %e, "release refused by the router");
                    }
                }
            }
            RoutingDecision::Overflow {
                interaction,
                queue,
                destination,
            } => {
                let tenant = self.tenant_of(&interaction);
                self.emitter.emit(
                    &tenant,
                    EventKind::Overflowed {
                        interaction: interaction.clone(),
                        queue,
                        destination: destination.clone(),
                    },
                );
                self.signal(&interaction, QueueSignal::Overflow(destination), true);
            }
            RoutingDecision::TimedOut { interaction, queue } => {
                let tenant = self.tenant_of(&interaction);
                self.emitter.emit(
                    &tenant,
                    EventKind::QueueExited {
                        interaction: interaction.clone(),
                        queue,
                        reason: "timeout".to_owned(),
                    },
                );
                self.signal(&interaction, QueueSignal::TimedOut, true);
            }
            RoutingDecision::AgentStateChanged { agent, from, to } => {
                let tenant = self.agent_tenant(&agent);
                self.emitter
                    .emit(&tenant, EventKind::AgentStateChanged { agent, from, to });
            }
            RoutingDecision::AgentReachabilityChanged { agent, reachable } => {
                let tenant = self.agent_tenant(&agent);
                self.emitter.emit(
                    &tenant,
                    EventKind::AgentReachabilityChanged { agent, reachable },
                );
            }
            RoutingDecision::WrapUpStarted {
                interaction,
                agent,
                duration_secs,
            } => {
                let tenant = self.agent_tenant(&agent);
                self.emitter.emit(
                    &tenant,
                    EventKind::WrapUpStarted {
                        interaction,
                        agent,
                        duration_secs,
                    },
                );
            }
            RoutingDecision::WrapUpEnded { interaction, agent } => {
                let tenant = self.agent_tenant(&agent);
                self.emitter
                    .emit(&tenant, EventKind::WrapUpEnded { interaction, agent });
            }
            other => {
                tracing::debug!(
                    decision = %callcore::VariantOf(&other),
                    "routing decision this runtime does not act on"
                );
            }
        }
    }

    fn agent_tenant(&self, agent: &AgentId) -> TenantId {
        self.agents
            .get(agent)
            .map_or_else(|| self.tenant.clone(), |p| p.tenant.clone())
    }

    /// Starts ringing the agent's first reachable endpoint. `None` when the
    /// agent only has a desktop: the offer waits for `accept_offer`.
    fn ring_agent(
        &self,
        reservation: &ReservationId,
        interaction: &InteractionId,
        agent: &AgentId,
        expires_at: callcore::Timestamp,
    ) -> Option<JoinHandle<()>> {
        let profile = self.agents.get(agent)?;
        // message conversations (chat, SMS, e-mail) are taken on the desktop:
        // an agent's phone never rings for them
        let channel = self.waiters.get(interaction).map(|w| w.request.channel);
        if channel.is_some_and(|c| c != Channel::Voice) {
            return None;
        }
        let (endpoint, transport) = profile.endpoints.iter().find_map(|e| {
            if *e == Endpoint::Desktop {
                return None;
            }
            self.transports
                .iter()
                .find(|t| t.can_reach(e))
                .map(|t| (e.clone(), t.clone()))
        })?;
        let from = match (self.waiters.get(interaction), self.kept.get(interaction)) {
            (Some(w), _) => w.waiter.from.clone(),
            (None, Some(k)) => k.from.clone(),
            (None, None) => String::new(),
        };
        let request = PlaceRequest {
            to: endpoint,
            from,
            channel: Channel::Voice,
            ring_timeout_secs: callcore::event::secs_u32(
                expires_at.duration_since(self.clock.now()),
            ),
        };
        let results = self.results_tx.clone();
        let reservation = reservation.clone();
        Some(tokio::spawn(async move {
            let result = match transport.place(request).await {
                Ok(leg) => Ok(leg),
                Err(CoreError::NotAnswered(callcore::HangupCause::NoAnswer)) => {
                    Err(OfferEnd::TimedOut)
                }
                Err(CoreError::NotAnswered(
                    callcore::HangupCause::Busy | callcore::HangupCause::Declined,
                )) => Err(OfferEnd::Declined),
                Err(e) => {
                    tracing::warn!(error = %e, "ringing agent failed");
                    Err(OfferEnd::Failed)
                }
            };
            let _ = results.send(OfferResult {
                reservation,
                result,
            });
        }))
    }
}
