//! Tokio glue: runs a [`Pacer`] against a [`Transport`] (placing the calls),
//! a callcore [`CenterHandle`] (whose router — `BasicRouter` or
//! callcore-acd's `AcdEngine` — connects the people who answer to its agents)
//! and a [`CampaignStore`] (every attempt and every lead change), on any
//! [`Clock`] — the system clock in production, a [`callcore::VirtualClock`]
//! in tests.
//!
//! ```text
//!  pacer ─ Dial ─► Transport::place (early media screened for SIT)
//!        ◄─ answered ─ AnswerClassifier (AMD, SIT after answer)
//!  person ─ Route ─► CenterHandle::enqueue_outbound(campaign queue, lead context,
//!                     2 s to connect, safe-harbor message otherwise)
//!        ◄─ CallConnected / CallEnded ─ the Center
//!  Center events (AgentStateChanged) ─► AgentReady / AgentBusy / AgentWrapUp / AgentAway
//! ```
//!
//! The pacer's picture of the agents — free, talking, in wrap-up, away —
//! comes from the Center's snapshot at start and its events after (a fresh
//! snapshot when the event stream lagged), so inbound traffic the same agents
//! take is seen. Agentless (notification) campaigns need no Center.

mod center_link;

use crate::media::{AnswerClassifier, AssumePerson, CallAudio, Classification, screen_early_media};
use crate::rules::disposition_for_cause;
use crate::strategy::LineAssignment;
use crate::{CallId, DialOrder, DialerError, Pacer, PacerInput, PacerOutput};
use callcore::{
    AgentId, CampaignStore, Channel, Clock, CoreError, Direction, Disposition, Endpoint, EventKind,
    HangupCause, IdSource, Interaction, Leg, PlaceRequest, QueueId, TenantId, Timestamp, Transport,
};
use callcore_runtime::{CenterHandle, OutboundOptions, OutboundProgress, QueueOptions};
use center_link::CenterLink;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunSummary {
    /// The pacer's totals.
    pub counters: crate::PacerCounters,
    /// When the run stopped.
    pub stopped_at: Timestamp,
}

enum Report {
    Answered(CallId, Box<dyn Leg>, Classification),
    Failed(CallId, Disposition),
    Connected(CallId, AgentId),
    Ended(CallId),
}

/// Where answered calls go: the Center's queue.
#[derive(Debug, Clone)]
struct Target {
    center: CenterHandle,
    queue: QueueId,
    serving: Option<HashSet<AgentId>>,
}

/// Runs one campaign (see the module documentation).
pub struct CampaignRunner {
    pacer: Pacer,
    transport: Arc<dyn Transport>,
    store: Arc<dyn CampaignStore>,
    clock: Arc<dyn Clock>,
    classifier: Arc<dyn AnswerClassifier>,
    early_media: Option<Arc<dyn CallAudio>>,
    target: Option<Target>,
    attributes: BTreeMap<String, String>,
    events: Option<mpsc::UnboundedSender<(Timestamp, TenantId, EventKind)>>,
}

impl fmt::Debug for CampaignRunner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CampaignRunner")
            .field("pacer", &self.pacer)
            .field("target", &self.target.as_ref().map(|t| &t.queue))
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
            early_media: None,
            target: None,
            attributes: BTreeMap::new(),
            events: None,
        }
    }

    /// Connects the people who answer to `center`'s agents through `queue`
    /// (required for every mode but notification). Every agent of the center
    /// counts for pacing unless [`serving`](Self::serving) narrows them.
    #[must_use]
    pub fn center(mut self, center: CenterHandle, queue: impl Into<QueueId>) -> Self {
        self.target = Some(Target {
            center,
            queue: queue.into(),
            serving: None,
        });
        self
    }

    /// Only these agents of the center serve the campaign's queue (pacing
    /// counts no one else).
    #[must_use]
    pub fn serving(mut self, agents: impl IntoIterator<Item = impl Into<AgentId>>) -> Self {
        if let Some(t) = &mut self.target {
            t.serving = Some(agents.into_iter().map(Into::into).collect());
        }
        self
    }

    /// Adds a routing attribute to every interaction the campaign hands to the
    /// center (`language=es`); `campaign`, `lead` and `attempt` are always set.
    #[must_use]
    pub fn attribute(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.attributes.insert(key.into(), value.into());
        self
    }

    /// Sets the answering-machine detector (default: every answer is a person).
    #[must_use]
    pub fn classifier(mut self, classifier: Arc<dyn AnswerClassifier>) -> Self {
        self.classifier = classifier;
        self
    }

    /// Screens early media for special information tones: a SIT heard while
    /// the line rings ends the attempt with its disposition (intercept and
    /// vacant code: invalid number, never retried).
    #[must_use]
    pub fn early_media(mut self, audio: Arc<dyn CallAudio>) -> Self {
        self.early_media = Some(audio);
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
    /// [`DialerError::Config`] (`"center"`) when a campaign with agents has no
    /// center; [`DialerError::Core`] when the store or the center fails.
    pub async fn run(mut self, until: Timestamp) -> Result<RunSummary, DialerError> {
        let agentless = self.pacer.assignment() == LineAssignment::Agentless;
        // Interaction ids unique across restarts: `{campaign}-{run}-{n}`.
        self.pacer
            .set_run_id(callcore::UuidV7Ids::random(self.clock.clone()).mint());
        if !agentless && self.target.is_none() {
            return Err(DialerError::Config {
                field: "center",
                reason: "a campaign with agents needs a Center to connect answered calls".into(),
            });
        }
        let (tx, mut rx) = mpsc::unbounded_channel();
        let mut legs: HashMap<CallId, Box<dyn Leg>> = HashMap::new();
        let mut orders: HashMap<CallId, DialOrder> = HashMap::new();
        let tenant = self.pacer.leads().config().tenant.clone();
        self.store
            .save_campaign(&self.pacer.leads().config().to_campaign())
            .await?;
        let leads: Vec<_> = self.pacer.leads().leads().cloned().collect();
        self.store.save_leads(&leads).await?;
        let mut link = match &self.target {
            Some(t) if !agentless => {
                self.pacer.set_external_routing(true);
                let mut link = CenterLink::new(&t.center, t.serving.clone());
                link.sync(&t.center, &mut self.pacer, self.clock.now())
                    .await?;
                Some(link)
            }
            _ => None,
        };
        // First decision (agentless campaigns have no agent input to start them).
        self.pacer.handle_timeout(self.clock.now());
        loop {
            while let Some(out) = self.pacer.poll_output() {
                self.act(out, &tx, &mut legs, &mut orders, &tenant).await?;
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
            let center_event = async {
                match link.as_mut() {
                    Some(l) => l.next().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                report = rx.recv() => {
                    let now = self.clock.now();
                    if let Some(report) = report {
                        self.on_report(report, &mut legs, &mut orders, now).await;
                    }
                }
                update = center_event => {
                    if let (Some(l), Some(t)) = (link.as_mut(), self.target.as_ref()) {
                        l.apply(update, &t.center, &mut self.pacer, self.clock.now()).await?;
                    }
                }
                () = sleep => self.pacer.handle_timeout(self.clock.now()),
            }
        }
    }

    async fn on_report(
        &mut self,
        report: Report,
        legs: &mut HashMap<CallId, Box<dyn Leg>>,
        orders: &mut HashMap<CallId, DialOrder>,
        now: Timestamp,
    ) {
        match report {
            Report::Answered(call, leg, Classification::Answered(by)) => {
                legs.insert(call, leg);
                self.pacer
                    .handle_input(PacerInput::CallAnswered { call, by }, now);
            }
            Report::Answered(call, leg, Classification::Network(disposition)) => {
                let _ = leg.hangup(HangupCause::Local).await;
                orders.remove(&call);
                self.pacer
                    .handle_input(PacerInput::CallFailed { call, disposition }, now);
            }
            Report::Failed(call, disposition) => {
                orders.remove(&call);
                self.pacer
                    .handle_input(PacerInput::CallFailed { call, disposition }, now);
            }
            Report::Connected(call, agent) => {
                self.pacer
                    .handle_input(PacerInput::CallConnected { call, agent }, now);
            }
            Report::Ended(call) => {
                legs.remove(&call);
                orders.remove(&call);
                self.pacer.handle_input(PacerInput::CallEnded(call), now);
            }
        }
    }

    fn dial(&self, order: DialOrder, tx: &mpsc::UnboundedSender<Report>) {
        let request = PlaceRequest {
            to: Endpoint::Phone(order.phone.expose().clone()),
            from: order.caller_id.clone(),
            channel: Channel::Voice,
            ring_timeout_secs: u32::try_from(order.ring_timeout.as_secs()).unwrap_or(u32::MAX),
        };
        let (transport, classifier, tx) =
            (self.transport.clone(), self.classifier.clone(), tx.clone());
        let early = self
            .early_media
            .as_ref()
            .and_then(|a| a.early_media(order.phone.expose()));
        tokio::spawn(async move {
            let phone = order.phone.expose().clone();
            let mut place = transport.place(request);
            let placed = match early {
                Some(early) => tokio::select! {
                    r = &mut place => Ok(r),
                    Some(d) = screen_early_media(early) => Err(d),
                },
                None => Ok((&mut place).await),
            };
            let report = match placed {
                Err(disposition) => {
                    // A SIT in early media settles the attempt now; the transport
                    // still ends the ringing its own way (a failure, its ring
                    // timeout), and a line that answers after all is hung up.
                    let _ = tx.send(Report::Failed(order.call, disposition));
                    if let Ok(leg) = place.await {
                        let _ = leg.hangup(HangupCause::Local).await;
                    }
                    return;
                }
                Ok(Ok(leg)) => {
                    let class = classifier.classify(&phone, leg.as_ref()).await;
                    Report::Answered(order.call, leg, class)
                }
                Ok(Err(CoreError::NotAnswered(cause))) => {
                    Report::Failed(order.call, disposition_for_cause(&cause))
                }
                Ok(Err(e)) => {
                    tracing::warn!(call = %order.call, error = %e, "dial failed");
                    Report::Failed(order.call, Disposition::Congestion)
                }
            };
            let _ = tx.send(report);
        });
    }

    /// Hands the person on `call` to the Center's queue.
    fn route(
        &self,
        call: CallId,
        preferred_agent: Option<AgentId>,
        leg: Box<dyn Leg>,
        order: &DialOrder,
        tx: &mpsc::UnboundedSender<Report>,
    ) {
        let Some(target) = &self.target else {
            return; // checked by the caller
        };
        let config = self.pacer.leads().config();
        let mut interaction = Interaction::new(
            order.interaction.clone(),
            config.tenant.clone(),
            Channel::Voice,
            Direction::Outbound,
            order.phone.expose().clone(),
            config.id.as_str(),
            self.clock.now(),
        );
        interaction.attributes.clone_from(&self.attributes);
        for (k, v) in [
            ("campaign", config.id.to_string()),
            ("lead", order.lead.to_string()),
            ("attempt", order.attempt.to_string()),
        ] {
            interaction.attributes.insert(k.to_owned(), v);
        }
        let options = OutboundOptions {
            queue: QueueOptions {
                preferred_agent,
                ..QueueOptions::default()
            },
            connect_within: Some(config.abandonment.connect_within),
            unconnected_message: Some(config.safe_harbor_message.clone()),
        };
        let mut progress =
            target
                .center
                .enqueue_outbound(interaction, leg, target.queue.clone(), options);
        let tx = tx.clone();
        tokio::spawn(async move {
            while let Some(p) = progress.recv().await {
                match p {
                    OutboundProgress::Connected { agent } => {
                        let _ = tx.send(Report::Connected(call, agent));
                    }
                    OutboundProgress::Finished(_) => break,
                    _ => {}
                }
            }
            // Finished, or the center went away: either way the call is over.
            let _ = tx.send(Report::Ended(call));
        });
    }

    async fn act(
        &mut self,
        out: PacerOutput,
        tx: &mpsc::UnboundedSender<Report>,
        legs: &mut HashMap<CallId, Box<dyn Leg>>,
        orders: &mut HashMap<CallId, DialOrder>,
        tenant: &TenantId,
    ) -> Result<(), DialerError> {
        match out {
            PacerOutput::Dial(order) => {
                orders.insert(order.call, order.clone());
                self.dial(order, tx);
            }
            PacerOutput::Route {
                call,
                preferred_agent,
            } => {
                match (legs.remove(&call), orders.get(&call), self.target.is_some()) {
                    (Some(leg), Some(order), true) => {
                        self.route(call, preferred_agent, leg, order, tx);
                    }
                    (leg, _, _) => {
                        // Nowhere to send the person: end the call, counted abandoned.
                        if let Some(leg) = leg {
                            let _ = leg.hangup(HangupCause::Local).await;
                        }
                        let _ = tx.send(Report::Ended(call));
                    }
                }
            }
            PacerOutput::Connect { call, agent } => {
                // Only without external routing, which every agent campaign
                // here uses: nothing to bridge to.
                tracing::warn!(%call, %agent, "connect without a center");
                if let Some(leg) = legs.remove(&call) {
                    let _ = leg.hangup(HangupCause::Local).await;
                }
                let _ = tx.send(Report::Ended(call));
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
                orders.remove(&call);
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
