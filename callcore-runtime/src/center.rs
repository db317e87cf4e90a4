//! The `Center`: assembly and run-time handle.

use crate::emitter::Emitter;
use crate::routing_task::{RouterCommand, RoutingTask};
use crate::{EventBus, EventSubscriber, Flow, SystemClock};
use crate::{Providers, interaction_task, recorder};
use callcore::config::InboundRoute;
use callcore::{
    AgentId, AgentProfile, AgentState, BasicRouter, CenterConfig, Clock, CoreError, Disposition,
    EventKind, IdSource, InteractionId, QueueDefinition, QueueId, ReservationId, Router,
    RouterInput, RouterSnapshot, Stores, TenantId, Transport, UuidV7Ids,
};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

mod journal;

/// What every task of a center shares.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) emitter: Emitter,
    pub(crate) router: mpsc::UnboundedSender<RouterCommand>,
    pub(crate) stores: Stores,
    pub(crate) providers: Providers,
    /// Where transfers to numbers are placed.
    pub(crate) transports: Vec<Arc<dyn Transport>>,
    /// Bridged conversations are recorded.
    pub(crate) record_calls: bool,
    /// An inbound call is answered only once its start is in the journal.
    pub(crate) answer_when_journaled: bool,
    /// The live calls, for what reaches one from outside (a disposition).
    pub(crate) calls: crate::call_glue::Registry,
    /// Mints the ids of interactions the center starts itself (click-to-dial).
    pub(crate) ids: Arc<dyn IdSource>,
    /// Told of bridged conversations (live transcription, quality).
    pub(crate) conversations: Option<Arc<dyn crate::ConversationObserver>>,
    /// Channels whose new customers get a profile on first contact.
    pub(crate) create_customers: Vec<callcore::Channel>,
    flows: HashMap<String, Arc<dyn Flow>>,
    routes: Vec<InboundRoute>,
}

impl Shared {
    pub(crate) fn flow_for(&self, to: &str) -> Option<Arc<dyn Flow>> {
        let route = self
            .routes
            .iter()
            .find(|r| r.to == to)
            .or_else(|| self.routes.iter().find(|r| r.to == "*"));
        match route {
            Some(r) => self.flows.get(&r.flow).cloned(),
            // Without routes, a center with exactly one flow uses it for all.
            None if self.flows.len() == 1 => self.flows.values().next().cloned(),
            None => None,
        }
    }
}

/// Assembles a [`Center`] from trait objects.
///
/// Defaults: [`SystemClock`], [`BasicRouter`], in-memory stores, no providers,
/// UUIDv7 ids ([`UuidV7Ids::random`] on the builder's clock).
#[derive(Debug)]
pub struct CenterBuilder {
    clock: Arc<dyn Clock>,
    ids: Option<Arc<dyn IdSource>>,
    transports: Vec<Arc<dyn Transport>>,
    router: Option<Box<dyn Router>>,
    flows: HashMap<String, Arc<dyn Flow>>,
    stores: Stores,
    providers: Providers,
    config: CenterConfig,
    answer_when_journaled: bool,
    conversations: Option<Arc<dyn crate::ConversationObserver>>,
    create_customers: Vec<callcore::Channel>,
}

impl Default for CenterBuilder {
    fn default() -> Self {
        Self {
            clock: Arc::new(SystemClock),
            ids: None,
            transports: Vec::new(),
            router: None,
            flows: HashMap::new(),
            stores: Stores::in_memory(),
            providers: Providers::default(),
            config: CenterConfig::default(),
            answer_when_journaled: false,
            conversations: None,
            create_customers: Vec::new(),
        }
    }
}

impl CenterBuilder {
    /// The clock (default: [`SystemClock`]).
    #[must_use]
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Where the ids of interactions the center starts itself come from
    /// (click-to-dial); default: [`UuidV7Ids::random`] on the center's clock.
    /// An assembly passes the source its transports mint with.
    #[must_use]
    pub fn ids(mut self, ids: Arc<dyn IdSource>) -> Self {
        self.ids = Some(ids);
        self
    }

    /// Adds a transport (SIP, WebRTC, chat, in-memory).
    #[must_use]
    pub fn transport(mut self, transport: Arc<dyn Transport>) -> Self {
        self.transports.push(transport);
        self
    }

    /// The router (default: [`BasicRouter`]).
    #[must_use]
    pub fn router(mut self, router: Box<dyn Router>) -> Self {
        self.router = Some(router);
        self
    }

    /// Registers a flow under a name that routes refer to.
    #[must_use]
    pub fn flow(mut self, name: impl Into<String>, flow: Arc<dyn Flow>) -> Self {
        self.flows.insert(name.into(), flow);
        self
    }

    /// Routes interactions addressed to `to` (`"*"`: anything) to a flow.
    #[must_use]
    pub fn route(mut self, to: impl Into<String>, flow: impl Into<String>) -> Self {
        self.config.routes.push(InboundRoute {
            to: to.into(),
            flow: flow.into(),
        });
        self
    }

    /// The stores (default: in memory).
    #[must_use]
    pub fn stores(mut self, stores: Stores) -> Self {
        self.stores = stores;
        self
    }

    /// Speech and language providers.
    #[must_use]
    pub fn providers(mut self, providers: Providers) -> Self {
        self.providers = providers;
        self
    }

    /// Tells `observer` of every conversation the center bridges, with taps on
    /// both legs (live transcription, quality inspection from the audio); see
    /// [`ConversationObserver`](crate::ConversationObserver).
    #[must_use]
    pub fn conversations(mut self, observer: Arc<dyn crate::ConversationObserver>) -> Self {
        self.conversations = Some(observer);
        self
    }

    /// Records every conversation the center bridges (default: off); see
    /// [`CenterConfig::record_calls`].
    #[must_use]
    pub fn record_calls(mut self, on: bool) -> Self {
        self.config.record_calls = on;
        self
    }

    /// Answers an inbound call only once its start (`InteractionCreated`)
    /// is written to the journal (default: off, the journal is written
    /// behind the call). A cluster node needs it: a node that dies before
    /// the write has not answered, so the proxy gives the call to another
    /// node instead of leaving a caller no survivor knows of.
    #[must_use]
    pub fn answer_when_journaled(mut self, on: bool) -> Self {
        self.answer_when_journaled = on;
        self
    }

    /// Gives a customer who arrives on one of `channels` unknown a profile
    /// of their own (known by that address), so that their later contacts
    /// and the identities they prove build one history (default: none; a
    /// customer is then identified only by a profile made elsewhere). An
    /// interaction's `proven.<kind>` attributes ([`callcore::PROVEN_IDENTITY`])
    /// are joined to the profile either way.
    #[must_use]
    pub fn create_customers(
        mut self,
        channels: impl IntoIterator<Item = callcore::Channel>,
    ) -> Self {
        self.create_customers = channels.into_iter().collect();
        self
    }

    /// How kept callbacks are tried again when the customer does not answer
    /// (default: 3 calls, 300 s apart); see [`CenterConfig::callbacks`]. A
    /// later [`config`](Self::config) replaces it.
    #[must_use]
    pub fn callbacks(mut self, policy: callcore::CallbackPolicy) -> Self {
        self.config.callbacks = policy;
        self
    }

    /// Queues, agents and routes from configuration (added to any routes
    /// given with [`route`](Self::route)).
    #[must_use]
    pub fn config(mut self, config: CenterConfig) -> Self {
        let mut routes = std::mem::take(&mut self.config.routes);
        let record_calls = self.config.record_calls;
        self.config = config;
        self.config.record_calls |= record_calls;
        routes.append(&mut self.config.routes);
        self.config.routes = routes;
        self
    }

    /// Checks the assembly.
    ///
    /// # Errors
    /// [`CoreError::Config`] naming the field when the configuration is invalid
    /// or a route names a flow that was not registered.
    pub fn build(self) -> Result<Center, CoreError> {
        self.config.validate()?;
        for (i, r) in self.config.routes.iter().enumerate() {
            if !self.flows.contains_key(&r.flow) {
                return Err(callcore::ConfigError::Invalid {
                    field: format!("routes[{i}].flow"),
                    reason: format!("no flow named `{}` is registered", r.flow),
                }
                .into());
            }
        }
        Ok(Center { builder: self })
    }
}

/// A call center, assembled and ready to [`start`](Center::start).
///
/// See the crate documentation for a complete example.
#[derive(Debug)]
pub struct Center {
    builder: CenterBuilder,
}

impl Center {
    /// A builder with defaults.
    #[must_use]
    pub fn builder() -> CenterBuilder {
        CenterBuilder::default()
    }

    /// Starts the center's tasks on the current tokio runtime, adds the
    /// configured queues and agents (agents start offline), and returns the
    /// handle that controls it. Before accepting anything it closes the
    /// interactions an earlier run on the same journal left in progress, as
    /// [`callcore::EndReason::Interrupted`].
    ///
    /// # Errors
    /// When the configuration is refused by the router.
    pub async fn start(self) -> Result<CenterHandle, CoreError> {
        let b = self.builder;
        let bus = EventBus::new(
            b.config
                .event_buffer
                .unwrap_or(crate::bus::DEFAULT_BUS_CAPACITY),
        );
        let (emitter, rec_rx, backlog) =
            Emitter::new(b.clock.clone(), bus, crate::emitter::RECORDER_CAPACITY);
        let recorder = tokio::spawn(recorder::run(
            rec_rx,
            recorder::Writer {
                stores: b.stores.clone(),
                policy: recorder::RetryPolicy::default(),
                backlog,
                clock: b.clock.clone(),
            },
        ));
        // Before anything new: close what an earlier run left in progress.
        crate::interrupted::close(&emitter, &b.stores, &crate::interrupted::tenants(&b.config))
            .await;
        let (router_tx, router_rx) = mpsc::unbounded_channel();
        let mut routing = RoutingTask::new(
            b.router.unwrap_or_else(|| Box::new(BasicRouter::new())),
            b.clock.clone(),
            emitter.clone(),
            b.transports.clone(),
            b.config.tenant.clone(),
        );
        let (callbacks_tx, callbacks_rx) = mpsc::unbounded_channel();
        routing.callbacks_to(callbacks_tx);
        let routing = tokio::spawn(routing.run(router_rx));
        let shared = Arc::new(Shared {
            clock: b.clock.clone(),
            emitter,
            router: router_tx,
            stores: b.stores,
            providers: b.providers,
            transports: b.transports.clone(),
            record_calls: b.config.record_calls,
            answer_when_journaled: b.answer_when_journaled,
            calls: crate::call_glue::Registry::default(),
            ids: b
                .ids
                .unwrap_or_else(|| Arc::new(UuidV7Ids::random(b.clock.clone()))),
            conversations: b.conversations,
            create_customers: b.create_customers,
            flows: b.flows,
            routes: b.config.routes.clone(),
        });
        let mut tasks = vec![
            routing,
            tokio::spawn(crate::callback::run(
                shared.clone(),
                callbacks_rx,
                b.config.callbacks,
            )),
        ];
        for transport in &b.transports {
            let transport = transport.clone();
            let shared = shared.clone();
            tasks.push(tokio::spawn(async move {
                while let Some(inbound) = transport.accept().await {
                    // Back-pressure: no new interaction while the journal is behind.
                    shared.emitter.room().await;
                    tokio::spawn(interaction_task::run(shared.clone(), inbound));
                }
                tracing::info!(transport = transport.name(), "transport closed");
            }));
        }
        let handle = CenterHandle {
            shared,
            tenant: b.config.tenant.clone(),
            tasks: Arc::new(Mutex::new(tasks)),
            recorder: Arc::new(Mutex::new(Some(recorder))),
        };
        for q in b.config.queues {
            handle.add_queue(q).await?;
        }
        for a in b.config.agents {
            handle.add_agent(a).await?;
        }
        Ok(handle)
    }
}

/// Controls a running center: elastic seats (agents and queues added and
/// removed at run time), agent states, offers accepted on the desktop, live
/// events and snapshots. Cheap to clone.
#[derive(Debug, Clone)]
pub struct CenterHandle {
    pub(crate) shared: Arc<Shared>,
    pub(crate) tenant: TenantId,
    tasks: Arc<Mutex<Vec<JoinHandle<()>>>>,
    recorder: Arc<Mutex<Option<JoinHandle<()>>>>,
}

impl CenterHandle {
    /// Sends a command carrying a reply channel and waits for the reply.
    async fn ask<T>(
        &self,
        command: impl FnOnce(oneshot::Sender<T>) -> RouterCommand,
    ) -> Result<T, CoreError> {
        let (tx, rx) = oneshot::channel();
        self.shared
            .router
            .send(command(tx))
            .map_err(|_| CoreError::Shutdown)?;
        rx.await.map_err(|_| CoreError::Shutdown)
    }

    pub(crate) async fn input(&self, input: RouterInput) -> Result<(), CoreError> {
        self.ask(|tx| RouterCommand::Input(input, Some(tx))).await?
    }

    /// Adds (or updates) an agent; they start offline.
    ///
    /// # Errors
    /// When the router refuses the profile; [`CoreError::Shutdown`].
    pub async fn add_agent(&self, profile: AgentProfile) -> Result<(), CoreError> {
        let tenant = profile.tenant.clone();
        self.input(RouterInput::AddAgent(Box::new(profile.clone())))
            .await?;
        self.shared.emitter.emit(
            &tenant,
            EventKind::AgentAdded {
                profile: Box::new(profile),
            },
        );
        Ok(())
    }

    /// Removes an agent (logging them out first).
    ///
    /// # Errors
    /// When the agent is busy with an interaction; [`CoreError::Shutdown`].
    pub async fn remove_agent(&self, agent: &AgentId) -> Result<(), CoreError> {
        self.input(RouterInput::RemoveAgent(agent.clone())).await?;
        self.shared.emitter.emit(
            &self.tenant,
            EventKind::AgentRemoved {
                agent: agent.clone(),
            },
        );
        Ok(())
    }

    /// Adds or replaces a queue.
    ///
    /// # Errors
    /// [`CoreError::Config`] naming the field when the definition is invalid;
    /// [`CoreError::Shutdown`].
    pub async fn add_queue(&self, definition: QueueDefinition) -> Result<(), CoreError> {
        CenterConfig {
            queues: vec![definition.clone()],
            ..CenterConfig::default()
        }
        .validate()?;
        let tenant = definition.tenant.clone();
        self.input(RouterInput::AddQueue(Box::new(definition.clone())))
            .await?;
        self.shared.emitter.emit(
            &tenant,
            EventKind::QueueAdded {
                definition: Box::new(definition),
            },
        );
        Ok(())
    }

    /// Removes a queue; interactions waiting in it leave with a timeout.
    ///
    /// # Errors
    /// [`CoreError::Shutdown`].
    pub async fn remove_queue(&self, queue: &QueueId) -> Result<(), CoreError> {
        self.input(RouterInput::RemoveQueue(queue.clone())).await?;
        self.shared.emitter.emit(
            &self.tenant,
            EventKind::QueueRemoved {
                queue: queue.clone(),
            },
        );
        Ok(())
    }

    /// Asks for an agent state (log in as `Available`, `NotReady(reason)`,
    /// `Offline`), as the agent or a supervisor.
    ///
    /// # Errors
    /// [`CoreError::AgentState`] when the state machine forbids the move;
    /// [`CoreError::NotFound`] for an unknown agent.
    pub async fn set_agent_state(
        &self,
        agent: &AgentId,
        state: AgentState,
    ) -> Result<(), CoreError> {
        self.input(RouterInput::SetAgentState {
            agent: agent.clone(),
            state,
        })
        .await
    }

    /// Accepts an offer on the agent's desktop (agents without a phone
    /// endpoint, chat).
    ///
    /// # Errors
    /// [`CoreError::NotFound`] when the reservation is no longer pending.
    pub async fn accept_offer(&self, reservation: &ReservationId) -> Result<(), CoreError> {
        self.ask(|tx| RouterCommand::AcceptOffer(reservation.clone(), tx))
            .await?
    }

    /// Declines an offer on the agent's desktop.
    ///
    /// # Errors
    /// [`CoreError::NotFound`] when the reservation is no longer pending.
    pub async fn decline_offer(&self, reservation: &ReservationId) -> Result<(), CoreError> {
        self.ask(|tx| RouterCommand::DeclineOffer(reservation.clone(), tx))
            .await?
    }

    /// Hands an outbound call that is already answered (a dialer's line, a
    /// callback) to `queue` as an outbound interaction: `interaction` (its
    /// direction, the customer's number in `from`, the lead's context in
    /// `attributes`) is journaled and routed like an inbound call after its
    /// flow, and the agent the router picks is bridged to `leg`. Progress —
    /// connected, then finished — arrives on the returned channel; the center
    /// hangs the leg up at the end. See [`OutboundOptions`] for the connect
    /// deadline and the message said to a customer no agent took.
    #[must_use]
    pub fn enqueue_outbound(
        &self,
        interaction: callcore::Interaction,
        leg: Box<dyn callcore::Leg>,
        queue: QueueId,
        options: crate::OutboundOptions,
    ) -> mpsc::UnboundedReceiver<crate::OutboundProgress> {
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(crate::outbound::run(
            self.shared.clone(),
            interaction,
            leg,
            queue,
            options,
            tx,
        ));
        rx
    }

    /// Sets the disposition (wrap-up) code of an interaction, for the last
    /// agent who talked to the customer: journaled as `DispositionSet` and
    /// kept in the interaction's record — during the conversation, in
    /// after-call work, or later (the stored record is updated).
    ///
    /// # Errors
    /// [`CoreError::NotFound`] when the interaction is unknown or no agent
    /// was connected to it; [`CoreError::Shutdown`].
    pub async fn set_disposition(
        &self,
        interaction: &InteractionId,
        disposition: Disposition,
    ) -> Result<(), CoreError> {
        self.set_wrap_up(interaction, disposition, None).await
    }

    /// The live state of every queue and agent.
    ///
    /// # Errors
    /// [`CoreError::Shutdown`].
    pub async fn snapshot(&self) -> Result<RouterSnapshot, CoreError> {
        self.ask(RouterCommand::Snapshot).await
    }

    /// Subscribes to live events (see [`EventBus`] for the slow-subscriber
    /// policy).
    #[must_use]
    pub fn subscribe(&self) -> EventSubscriber {
        self.shared.emitter.bus().subscribe()
    }

    /// The center's stores.
    #[must_use]
    pub fn stores(&self) -> &Stores {
        &self.shared.stores
    }

    /// The center's clock.
    #[must_use]
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.shared.clock
    }

    /// Waits until every event emitted so far is journaled and every record
    /// it completes is saved (while the store is failing, until it is back:
    /// writes are retried, never dropped).
    pub async fn flush(&self) {
        self.shared.emitter.flush().await;
    }

    /// Stops accepting interactions and routing, then flushes the journal.
    /// Interactions in progress are dropped (the next start on the same
    /// journal closes them as [`callcore::EndReason::Interrupted`]). While the
    /// store is failing, the final flush waits for it.
    pub async fn shutdown(&self) {
        let _ = self.shared.router.send(RouterCommand::Shutdown);
        let tasks: Vec<_> = self
            .tasks
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .drain(..)
            .collect();
        for t in tasks {
            t.abort();
        }
        self.flush().await;
        let recorder = self
            .recorder
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        drop(recorder);
    }
}
