//! Tokio glue: runs a [`Pacer`] against a [`Transport`] (placing the calls),
//! agents' phones (bridging answered calls to them) and a [`CampaignStore`]
//! (recording every attempt and every lead change), on any [`Clock`] — the
//! system clock in production, a [`callcore::VirtualClock`] in tests.
//!
//! Answered calls are assumed to be people unless an [`AnswerClassifier`]
//! (answering-machine detection, e.g. callcore-media's energy/cadence AMD) says
//! otherwise. Agents are reached by placing a leg to their endpoint and
//! bridging; wrap-up lasts a fixed time, then the agent is ready again.

use crate::rules::disposition_for_cause;
use crate::{AnsweredBy, CallId, DialerError, Pacer, PacerInput, PacerOutput};
use async_trait::async_trait;
use callcore::{
    AgentId, CampaignStore, Channel, Clock, CoreError, Disposition, Endpoint, EventKind,
    HangupCause, Leg, PlaceRequest, TenantId, Timestamp, Transport,
};
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// Decides who answered a call (AMD). Called right after answer.
#[async_trait]
pub trait AnswerClassifier: Send + Sync + fmt::Debug {
    /// Person or machine.
    async fn classify(&self, leg: &dyn Leg) -> AnsweredBy;
}

/// Treats every answer as a person (no AMD).
#[derive(Debug, Clone, Copy, Default)]
pub struct AssumePerson;

#[async_trait]
impl AnswerClassifier for AssumePerson {
    async fn classify(&self, _leg: &dyn Leg) -> AnsweredBy {
        AnsweredBy::Person
    }
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunSummary {
    /// The pacer's totals.
    pub counters: crate::PacerCounters,
    /// When the run stopped.
    pub stopped_at: Timestamp,
}

enum Report {
    Answered(CallId, Arc<dyn Leg>, AnsweredBy),
    Failed(CallId, Disposition),
    Ended(CallId),
    Ready(AgentId),
    Away(AgentId),
}

/// Runs one campaign (see the module documentation).
pub struct CampaignRunner {
    pacer: Pacer,
    transport: Arc<dyn Transport>,
    store: Arc<dyn CampaignStore>,
    clock: Arc<dyn Clock>,
    classifier: Arc<dyn AnswerClassifier>,
    agents: Vec<(AgentId, Endpoint)>,
    wrap_up: Duration,
    events: Option<mpsc::UnboundedSender<(Timestamp, TenantId, EventKind)>>,
}

impl fmt::Debug for CampaignRunner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CampaignRunner")
            .field("pacer", &self.pacer)
            .field("agents", &self.agents.len())
            .finish_non_exhaustive()
    }
}

impl CampaignRunner {
    /// A runner for `pacer`'s campaign.
    #[must_use]
    pub fn new(
        pacer: Pacer,
        transport: Arc<dyn Transport>,
        store: Arc<dyn CampaignStore>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            pacer,
            transport,
            store,
            clock,
            classifier: Arc::new(AssumePerson),
            agents: Vec::new(),
            wrap_up: Duration::from_secs(10),
            events: None,
        }
    }

    /// Adds an agent reached at `endpoint`, ready from the start.
    #[must_use]
    pub fn agent(mut self, id: impl Into<AgentId>, endpoint: Endpoint) -> Self {
        self.agents.push((id.into(), endpoint));
        self
    }

    /// Sets the wrap-up time (10 s).
    #[must_use]
    pub fn wrap_up(mut self, wrap_up: Duration) -> Self {
        self.wrap_up = wrap_up;
        self
    }

    /// Sets the answering-machine detector.
    #[must_use]
    pub fn classifier(mut self, classifier: Arc<dyn AnswerClassifier>) -> Self {
        self.classifier = classifier;
        self
    }

    /// Also sends a [`EventKind::DialAttempted`] for every attempt here (for
    /// the center to journal and publish with its own sequence numbers).
    #[must_use]
    pub fn events(mut self, tx: mpsc::UnboundedSender<(Timestamp, TenantId, EventKind)>) -> Self {
        self.events = Some(tx);
        self
    }

    /// Runs until `until` (then lets calls in progress finish) or until no
    /// lead is left to call and no call is in progress.
    ///
    /// # Errors
    /// [`DialerError::Core`] when the store fails.
    pub async fn run(mut self, until: Timestamp) -> Result<RunSummary, DialerError> {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let mut legs: HashMap<CallId, Arc<dyn Leg>> = HashMap::new();
        let tenant = self.pacer.leads().config().tenant.clone();
        self.store
            .save_campaign(&self.pacer.leads().config().to_campaign())
            .await?;
        let leads: Vec<_> = self.pacer.leads().leads().cloned().collect();
        self.store.save_leads(&leads).await?;
        for (agent, _) in &self.agents {
            self.pacer
                .handle_input(PacerInput::AgentReady(agent.clone()), self.clock.now());
        }
        // First decision (agentless campaigns have no agent input to start them).
        self.pacer.handle_timeout(self.clock.now());
        let endpoints: HashMap<AgentId, Endpoint> = self.agents.iter().cloned().collect();
        loop {
            while let Some(out) = self.pacer.poll_output() {
                self.act(out, &tx, &mut legs, &endpoints, &tenant).await?;
            }
            let now = self.clock.now();
            if now >= until {
                self.pacer.set_running(false);
            }
            let idle = self.pacer.calls_in_progress() == 0;
            if idle && (now >= until || (self.pacer.leads().pending() == 0)) {
                return Ok(RunSummary {
                    counters: self.pacer.counters(),
                    stopped_at: now,
                });
            }
            let wake = match self.pacer.poll_timeout() {
                Some(t) if now < until => t.min(until),
                None if now < until => until,
                Some(t) => t.max(now + Duration::from_millis(10)),
                None => now + Duration::from_secs(1),
            };
            let sleep = self.clock.sleep_until(wake);
            tokio::select! {
                report = rx.recv() => {
                    let now = self.clock.now();
                    match report {
                        Some(Report::Answered(call, leg, by)) => {
                            legs.insert(call, leg);
                            self.pacer.handle_input(PacerInput::CallAnswered { call, by }, now);
                        }
                        Some(Report::Failed(call, disposition)) => {
                            self.pacer.handle_input(PacerInput::CallFailed { call, disposition }, now);
                        }
                        Some(Report::Ended(call)) => {
                            legs.remove(&call);
                            self.pacer.handle_input(PacerInput::CallEnded(call), now);
                        }
                        Some(Report::Ready(agent)) => self.pacer.handle_input(PacerInput::AgentReady(agent), now),
                        Some(Report::Away(agent)) => self.pacer.handle_input(PacerInput::AgentAway(agent), now),
                        None => {}
                    }
                }
                () = sleep => self.pacer.handle_timeout(self.clock.now()),
            }
        }
    }

    async fn act(
        &mut self,
        out: PacerOutput,
        tx: &mpsc::UnboundedSender<Report>,
        legs: &mut HashMap<CallId, Arc<dyn Leg>>,
        endpoints: &HashMap<AgentId, Endpoint>,
        tenant: &TenantId,
    ) -> Result<(), DialerError> {
        match out {
            PacerOutput::Dial(order) => {
                let request = PlaceRequest {
                    to: Endpoint::Phone(order.phone.expose().clone()),
                    from: order.caller_id.clone(),
                    channel: Channel::Voice,
                    ring_timeout_secs: u32::try_from(order.ring_timeout.as_secs())
                        .unwrap_or(u32::MAX),
                };
                let (transport, classifier, tx) =
                    (self.transport.clone(), self.classifier.clone(), tx.clone());
                tokio::spawn(async move {
                    let report = match transport.place(request).await {
                        Ok(leg) => {
                            let leg: Arc<dyn Leg> = Arc::from(leg);
                            let by = classifier.classify(leg.as_ref()).await;
                            Report::Answered(order.call, leg, by)
                        }
                        Err(CoreError::NotAnswered(cause)) => {
                            Report::Failed(order.call, disposition_for_cause(&cause))
                        }
                        Err(e) => {
                            tracing::warn!(call = %order.call, error = %e, "dial failed");
                            Report::Failed(order.call, Disposition::Congestion)
                        }
                    };
                    let _ = tx.send(report);
                });
            }
            PacerOutput::Connect { call, agent } => {
                let Some(customer) = legs.get(&call).cloned() else {
                    return Ok(());
                };
                let endpoint = endpoints.get(&agent).cloned().unwrap_or(Endpoint::Desktop);
                let (transport, clock, tx, wrap) = (
                    self.transport.clone(),
                    self.clock.clone(),
                    tx.clone(),
                    self.wrap_up,
                );
                tokio::spawn(async move {
                    let request = PlaceRequest {
                        to: endpoint,
                        from: "dialer".into(),
                        channel: Channel::Voice,
                        ring_timeout_secs: 20,
                    };
                    match transport.place(request).await {
                        Ok(agent_leg) => {
                            if let Err(e) = customer.bridge(agent_leg.as_ref()).await {
                                tracing::warn!(%call, error = %e, "bridge failed");
                            }
                            tokio::select! {
                                _ = customer.ended() => { let _ = agent_leg.hangup(HangupCause::Remote).await; }
                                _ = agent_leg.ended() => { let _ = customer.hangup(HangupCause::Local).await; }
                            }
                            let _ = tx.send(Report::Ended(call));
                            clock.sleep(wrap).await;
                            let _ = tx.send(Report::Ready(agent));
                        }
                        Err(e) => {
                            tracing::warn!(%agent, error = %e, "agent unreachable");
                            let _ = customer.hangup(HangupCause::Local).await;
                            let _ = tx.send(Report::Ended(call));
                            let _ = tx.send(Report::Away(agent));
                        }
                    }
                });
            }
            PacerOutput::SafeHarbor { call, message } => {
                if let Some(leg) = legs.remove(&call) {
                    tokio::spawn(async move {
                        let _ = leg.media().say(&message, false).await;
                        let _ = leg.hangup(HangupCause::Local).await;
                    });
                }
            }
            PacerOutput::PlayMessage { call, message } => {
                if let Some(leg) = legs.remove(&call) {
                    let tx = tx.clone();
                    tokio::spawn(async move {
                        if let Err(e) = leg.media().say(&message, false).await {
                            tracing::warn!(%call, error = %e, "could not play the notification");
                        }
                        let _ = leg.hangup(HangupCause::Local).await;
                        let _ = tx.send(Report::Ended(call));
                    });
                }
            }
            PacerOutput::HangUp(call) => {
                if let Some(leg) = legs.remove(&call) {
                    let _ = leg.hangup(HangupCause::Local).await;
                }
            }
            PacerOutput::Attempt(attempt) => {
                self.store.record_attempt(&attempt).await?;
                if let Some(events) = &self.events {
                    let _ = events.send((
                        self.clock.now(),
                        tenant.clone(),
                        EventKind::DialAttempted {
                            interaction: attempt.interaction.clone(),
                            campaign: attempt.campaign.clone(),
                            lead: attempt.lead.clone(),
                            disposition: attempt.disposition.clone(),
                        },
                    ));
                }
            }
            PacerOutput::LeadUpdated(lead) => self.store.save_leads(&[lead]).await?,
            PacerOutput::Preview { agent, lead } => {
                // No agent desktop here: accept every preview at once.
                tracing::debug!(%agent, %lead, "preview auto-accepted");
                self.pacer
                    .handle_input(PacerInput::PreviewAccepted(agent), self.clock.now());
            }
        }
        Ok(())
    }
}
