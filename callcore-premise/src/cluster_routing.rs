//! Routing in the cloud assembly: a node's center routes through its shard's
//! owner instead of an engine of its own.
//!
//! Every node's center gets a [`ClusterRouter`] as its router. It keeps no
//! routing state: what the runtime tells it goes to PostgreSQL — a caller
//! entering a queue becomes a waiting row (committed before the runtime
//! hears `Queued`, so before the caller hears "you are in the queue"),
//! queues and agents become seats, everything else (agent states, offer
//! results, hang-ups, ends of calls) mail to the owner — and what the
//! runtime hears back is the owner's decisions about this node's callers,
//! read from this node's mail. The owner is whichever node holds the
//! shard's lease ([`callcore_cluster::ShardOwner`]); it may be this one.
//!
//! The caller's node places the offer: its runtime rings the agent exactly
//! as a lone premise does (an agent at a fixed contact is rung from any
//! node) and bridges the answered leg to the caller it holds. Why, and what
//! is not built, in `docs/cloud.md`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use callcore::{
    AgentId, CoreError, InteractionId, OfferEnd, RejectReason, ReservationId, Router, RouterInput,
    RouterSnapshot, RoutingDecision, Timestamp,
};
use callcore_cluster::{
    AGENT_SEAT, ClusterDb, Mail, OWNER, Presence, QUEUE_SEAT, ROUTING_TOPIC, decision_of,
};
use tokio::sync::{Notify, mpsc};
use tokio::task::JoinHandle;

/// How often a node reads its mail without a hint.
pub const MAIL_POLL: Duration = Duration::from_millis(500);
/// How often the runtime polls the router for decisions that came by mail.
const TICK_MS: i64 = 20;

/// What the router hands its link to PostgreSQL.
#[derive(Debug)]
enum Outgoing {
    Enqueue(Box<callcore::RoutingRequest>),
    Mail(Mail),
    Seat {
        kind: &'static str,
        id: String,
        body: serde_json::Value,
    },
    RemoveSeat {
        kind: &'static str,
        id: String,
    },
    Reachable {
        agent: AgentId,
        reachable: bool,
    },
}

/// A node's router: the runtime's side of the shard's owner (see the
/// module docs). Sans-IO: it only queues what it is told and hands out what
/// its link task received.
#[derive(Debug)]
pub struct ClusterRouter {
    out: mpsc::UnboundedSender<Outgoing>,
    decisions: mpsc::UnboundedReceiver<RoutingDecision>,
    snapshot: Arc<Mutex<RouterSnapshot>>,
    now: Timestamp,
}

fn send(out: &mpsc::UnboundedSender<Outgoing>, o: Outgoing) -> Result<(), CoreError> {
    out.send(o)
        .map_err(|_| CoreError::Transport("the cluster link stopped".into()))
}

impl Router for ClusterRouter {
    fn handle(&mut self, input: RouterInput, now: Timestamp) -> Result<(), CoreError> {
        self.now = now;
        let o = match input {
            RouterInput::AddAgent(p) => Outgoing::Seat {
                kind: AGENT_SEAT,
                id: p.id.as_str().to_owned(),
                body: serde_json::to_value(&*p)
                    .map_err(|e| CoreError::Store(format!("agent: {e}")))?,
            },
            RouterInput::RemoveAgent(a) => Outgoing::RemoveSeat {
                kind: AGENT_SEAT,
                id: a.as_str().to_owned(),
            },
            RouterInput::AddQueue(q) => Outgoing::Seat {
                kind: QUEUE_SEAT,
                id: q.id.as_str().to_owned(),
                body: serde_json::to_value(&*q)
                    .map_err(|e| CoreError::Store(format!("queue: {e}")))?,
            },
            RouterInput::RemoveQueue(q) => Outgoing::RemoveSeat {
                kind: QUEUE_SEAT,
                id: q.as_str().to_owned(),
            },
            RouterInput::SetAgentReachable { agent, reachable } => {
                Outgoing::Reachable { agent, reachable }
            }
            RouterInput::Enqueue(r) => Outgoing::Enqueue(r),
            RouterInput::SetAgentState { agent, state } => {
                Outgoing::Mail(Mail::AgentState { agent, state })
            }
            RouterInput::EndWrapUp { agent } => Outgoing::Mail(Mail::EndWrapUp { agent }),
            RouterInput::ExtendWrapUp { agent, secs } => {
                Outgoing::Mail(Mail::ExtendWrapUp { agent, secs })
            }
            RouterInput::Abandon { interaction } => Outgoing::Mail(Mail::Abandon { interaction }),
            RouterInput::RequestCallback { interaction } => {
                Outgoing::Mail(Mail::RequestCallback { interaction })
            }
            RouterInput::OfferAccepted { reservation } => {
                Outgoing::Mail(Mail::OfferAccepted { reservation })
            }
            RouterInput::OfferFailed {
                reservation,
                outcome,
            } => Outgoing::Mail(Mail::OfferFailed {
                reservation,
                outcome,
            }),
            RouterInput::InteractionEnded { interaction, agent } => {
                Outgoing::Mail(Mail::InteractionEnded { interaction, agent })
            }
            _ => return Err(CoreError::Unsupported("router input")),
        };
        send(&self.out, o)
    }

    fn handle_timeout(&mut self, now: Timestamp) {
        self.now = now;
    }

    fn poll_decision(&mut self) -> Option<RoutingDecision> {
        self.decisions.try_recv().ok()
    }

    fn poll_timeout(&self) -> Option<Timestamp> {
        // decisions arrive by mail: the runtime looks again shortly
        Some(Timestamp::from_millis(self.now.as_millis() + TICK_MS))
    }

    fn snapshot(&self, _now: Timestamp) -> RouterSnapshot {
        self.snapshot
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// The tasks behind a node's [`ClusterRouter`].
#[derive(Debug)]
pub struct RoutingLink {
    /// Wakes the link to read its mail now.
    pub mail: Arc<Notify>,
    tasks: Vec<JoinHandle<()>>,
}

impl RoutingLink {
    /// Stops the link's tasks.
    pub fn stop(&self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// Everything a node's router needs to reach the cluster.
#[derive(Debug, Clone)]
pub struct LinkParts {
    /// The cluster's tables.
    pub db: ClusterDb,
    /// Hints and wallboards.
    pub presence: Presence,
    /// The shard (the tenant by default).
    pub shard: String,
    /// This node.
    pub node: String,
    /// Wakes this node's shard owner (mail for the owner).
    pub owner_wake: Arc<Notify>,
    /// The center's clock (polls and snapshot refreshes).
    pub clock: Arc<dyn callcore::Clock>,
    /// The offers this node places through other nodes
    /// ([`crate::cluster_offers`]), kept from its mail.
    pub relays: crate::cluster_offers::RelayRoutes,
    /// Set once the node leaves the cluster: its phones count as
    /// unreachable here from then on (a REGISTER it still gets changes
    /// nothing).
    pub leaving: Arc<std::sync::atomic::AtomicBool>,
}

/// Makes a node's router and starts its link; `decisions` is the sender
/// the node's shard owner gives its agent decisions to (this node's events
/// while it owns the shard).
#[must_use]
pub fn start(
    parts: LinkParts,
) -> (
    ClusterRouter,
    mpsc::UnboundedSender<RoutingDecision>,
    RoutingLink,
) {
    let (out, out_rx) = mpsc::unbounded_channel();
    let (decisions_tx, decisions) = mpsc::unbounded_channel();
    let snapshot = Arc::new(Mutex::new(RouterSnapshot::default()));
    let mail = Arc::new(Notify::new());
    let link = Link {
        parts: parts.clone(),
        decisions: decisions_tx.clone(),
        snapshot: snapshot.clone(),
        pending: HashMap::new(),
        epoch: 0,
    };
    let tasks = vec![
        tokio::spawn(link.run(out_rx, mail.clone())),
        tokio::spawn(relay_routing_hints(parts, mail.clone())),
    ];
    let router = ClusterRouter {
        out,
        decisions,
        snapshot,
        now: Timestamp::from_millis(0),
    };
    (router, decisions_tx, RoutingLink { mail, tasks })
}

struct Link {
    parts: LinkParts,
    decisions: mpsc::UnboundedSender<RoutingDecision>,
    snapshot: Arc<Mutex<RouterSnapshot>>,
    /// Offers ringing on this node: interaction, agent, epoch.
    pending: HashMap<ReservationId, (InteractionId, AgentId, u64)>,
    /// The latest owner epoch heard of.
    epoch: u64,
}

impl Link {
    async fn run(mut self, mut out: mpsc::UnboundedReceiver<Outgoing>, mail: Arc<Notify>) {
        let clock = self.parts.clock.clone();
        let mut last_board = clock.now();
        loop {
            tokio::select! {
                o = out.recv() => match o {
                    Some(o) => {
                        self.outgoing(o).await;
                        // what came with it (a burst of inputs) goes in one hint
                        while let Ok(o) = out.try_recv() {
                            self.outgoing(o).await;
                        }
                        self.hint_owner().await;
                    }
                    None => return,
                },
                () = mail.notified() => self.read_mail().await,
                () = clock.sleep(MAIL_POLL) => self.read_mail().await,
            }
            if clock.now().as_millis() - last_board.as_millis() >= 1000 {
                last_board = clock.now();
                self.refresh_snapshot().await;
            }
        }
    }

    async fn outgoing(&mut self, o: Outgoing) {
        let p = &self.parts;
        let result = match o {
            Outgoing::Enqueue(request) => {
                match p.db.submit_waiting(&p.shard, &p.node, "", &request).await {
                    Ok(position) => {
                        // committed: only now does the caller hear it is queued
                        let _ = self.decisions.send(RoutingDecision::Queued {
                            interaction: request.interaction.clone(),
                            queue: request.queue.clone(),
                            position,
                            estimated_wait_secs: None,
                        });
                        Ok(())
                    }
                    Err(e) => {
                        let _ = self.decisions.send(RoutingDecision::Rejected {
                            interaction: request.interaction.clone(),
                            queue: request.queue.clone(),
                            reason: RejectReason::UnknownQueue,
                        });
                        Err(e)
                    }
                }
            }
            Outgoing::Mail(m) => p.db.post_mail(&p.shard, OWNER, &p.node, &m).await,
            Outgoing::Seat { kind, id, body } => p.db.put_seat(&p.shard, kind, &id, &body).await,
            Outgoing::RemoveSeat { kind, id } => p.db.remove_seat(&p.shard, kind, &id).await,
            Outgoing::Reachable { agent, reachable } => {
                let reachable = reachable && !p.leaving.load(std::sync::atomic::Ordering::Relaxed);
                p.db.set_reachable_on(&p.shard, agent.as_str(), &p.node, reachable)
                    .await
            }
        };
        if let Err(e) = result {
            tracing::warn!(error = %e, "routing input not written to the cluster");
        }
    }

    async fn hint_owner(&self) {
        self.parts.owner_wake.notify_one();
        let hint = format!("{} {OWNER}", self.parts.shard);
        if let Err(e) = self.parts.presence.publish_on(ROUTING_TOPIC, &hint).await {
            tracing::debug!(error = %e, "hint not published (the owner polls)");
        }
    }

    async fn read_mail(&mut self) {
        let p = &self.parts;
        let letters = match p.db.take_mail(&p.shard, &p.node).await {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!(error = %e, "mail not read");
                return;
            }
        };
        for letter in letters {
            match letter.mail {
                Mail::EpochChanged { epoch } => {
                    self.epoch = self.epoch.max(epoch);
                    p.relays.remove_before(epoch);
                    // offers of earlier owners that were not assigned are void
                    let stale: Vec<ReservationId> = self
                        .pending
                        .iter()
                        .filter(|(_, (_, _, e))| *e < epoch)
                        .map(|(r, _)| r.clone())
                        .collect();
                    for reservation in stale {
                        if let Some((interaction, agent, _)) = self.pending.remove(&reservation) {
                            let _ = self.decisions.send(RoutingDecision::OfferEnded {
                                reservation,
                                interaction,
                                agent,
                                outcome: OfferEnd::Rescinded,
                            });
                        }
                    }
                }
                mail => {
                    if letter.epoch < self.epoch {
                        tracing::warn!(epoch = letter.epoch, "mail of an earlier owner dropped");
                        continue;
                    }
                    self.epoch = letter.epoch;
                    match &mail {
                        Mail::Offer {
                            reservation,
                            interaction,
                            agent,
                            via,
                            ..
                        } => {
                            // before the runtime hears of it: its relay transport answers for the agent
                            if let Some(via) = via {
                                p.relays.insert(
                                    agent.as_str(),
                                    crate::cluster_offers::RelayRoute {
                                        reservation: reservation.as_str().to_owned(),
                                        via: via.clone(),
                                        epoch: letter.epoch,
                                    },
                                );
                            }
                            self.pending.insert(
                                reservation.clone(),
                                (interaction.clone(), agent.clone(), letter.epoch),
                            );
                        }
                        Mail::OfferEnded { reservation, .. }
                        | Mail::Assigned { reservation, .. } => {
                            self.pending.remove(reservation);
                            p.relays.remove_reservation(reservation.as_str());
                        }
                        _ => {}
                    }
                    if let Some(d) = decision_of(mail) {
                        let _ = self.decisions.send(d);
                    }
                }
            }
        }
    }

    async fn refresh_snapshot(&self) {
        if let Ok(Some(v)) = self.parts.presence.wallboard(&self.parts.shard).await
            && let Ok(s) = serde_json::from_value::<RouterSnapshot>(v)
        {
            *self.snapshot.lock().unwrap_or_else(PoisonError::into_inner) = s;
        }
    }
}

/// Passes routing hints: mail for this node wakes its link, mail for the
/// owner wakes this node's shard owner (which passes only if it routes).
async fn relay_routing_hints(parts: LinkParts, mail: Arc<Notify>) {
    loop {
        match parts.presence.subscribe_on(ROUTING_TOPIC).await {
            Ok(mut sub) => {
                while let Some(text) = sub.next().await {
                    let Some((shard, target)) = text.split_once(' ') else {
                        continue;
                    };
                    if shard != parts.shard {
                        continue;
                    }
                    if target == parts.node {
                        mail.notify_one();
                    } else if target == OWNER {
                        parts.owner_wake.notify_one();
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "routing hints unavailable (polling)"),
        }
        parts.clock.sleep(Duration::from_secs(1)).await;
    }
}

/// Books a callback for each waiting caller a dead node left
/// ([`callcore_cluster::Orphan`]): the number is the caller's, read from the
/// dead node's journal (`InteractionCreated`, in the shared database); the
/// callback keeps the caller's place (`waiting_since` is when they started
/// waiting) and the premise's [`CallbackDialer`](callcore_ivr::flow::CallbackDialer)
/// places it through the trunks when an agent is free. A caller whose
/// number is unknown, or not one the callback policy may call, gets none
/// (logged without the number).
pub async fn book_orphans(
    mut orphans: mpsc::UnboundedReceiver<callcore_cluster::Orphan>,
    events: Arc<dyn callcore::EventJournal>,
    book: callcore_ivr::flow::SharedCallbackBook,
    clock: Arc<dyn callcore::Clock>,
) {
    while let Some(orphan) = orphans.recv().await {
        let request = orphan.request;
        let id = request.interaction.clone();
        let created = match events.for_interaction(&request.tenant, &id).await {
            Ok(events) => events.into_iter().find_map(|e| match e.kind {
                callcore::EventKind::InteractionCreated { interaction } => Some(interaction),
                _ => None,
            }),
            Err(e) => {
                tracing::warn!(interaction = %id, error = %e, "the orphan's journal is unreadable");
                None
            }
        };
        let Some(created) = created else {
            tracing::warn!(interaction = %id, "no callback: the caller's number is unknown");
            continue;
        };
        let number = created.from.expose().clone();
        if number.is_empty() || number == "anonymous" {
            tracing::info!(interaction = %id, "no callback: the caller withheld their number");
            continue;
        }
        let booking = callcore_ivr::flow::CallbackRequest {
            interaction: id.clone(),
            tenant: request.tenant.clone(),
            number,
            queue: request.queue.clone(),
            waiting_since: request.enqueued_at,
            context: created.context.clone(),
            attributes: request.attributes.clone(),
            attempts: 0,
            not_before: clock.now(),
        };
        let booked = book
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .book(booking);
        match booked {
            Ok(()) => tracing::info!(interaction = %id, node = %orphan.node,
                "callback booked for a dead node's waiting caller, keeping their place"),
            Err(e) => {
                tracing::warn!(interaction = %id, error = %e, "callback refused by the policy")
            }
        }
    }
}
