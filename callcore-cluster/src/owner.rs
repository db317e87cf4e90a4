//! The shard's routing owner: while this node holds the shard's lease it
//! runs the shard's ACD engine, fed from PostgreSQL — the waiting rows every
//! node commits, the seats (queues, agents, their states and phones) and the
//! mail the nodes send it — and every pass's writes (decisions mailed to the
//! nodes holding the callers, agent states, rows removed) are made in one
//! transaction that passed the fence. A pass whose fence fails changes
//! nothing: the engine is dropped, and rebuilt from the rows at the next
//! epoch this node may win ([`crate::restore_engine`]).
//!
//! A pass runs when a hint says there is mail for the owner, when the
//! engine has a timer due, and at least every second (a lost hint costs at
//! most that).

use crate::mailbox::{
    AGENT_SEAT, Mail, OWNER, QUEUE_SEAT, ROUTING_TOPIC, Seat, post_mail_in, save_agent_state_in,
    seats_in, take_mail_in, waiting_with_nodes_in,
};
use crate::{
    AgentSeat, ClusterDb, ClusterError, Fence, LeaseHandle, Presence, RESTORING_REASON,
    remove_waiting_in, restore_engine,
};
use callcore::{
    AgentId, AgentProfile, AgentState, Clock, InteractionId, QueueDefinition, Router, RouterInput,
    RoutingDecision, Timestamp,
};
use callcore_acd::{AcdConfig, AcdEngine, StrategyRegistry};
use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Notify, mpsc, oneshot, watch};
use tokio::task::JoinHandle;

/// How often the owner re-reads PostgreSQL without a hint.
pub const OWNER_POLL: Duration = Duration::from_secs(1);
/// How long a wallboard snapshot lives in Redis.
const WALLBOARD_TTL: Duration = Duration::from_secs(3);

/// What a node's shard owner does now (for tests and figures).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct OwnerStatus {
    /// The epoch it routes at, `None` while it does not route the shard.
    pub routing: Option<u64>,
    /// Passes refused by the fence (or failed) since the node started.
    pub fenced: u64,
    /// Offers this node made as owner.
    pub offers: u64,
}

/// Where a [`ShardOwner`] sends what is not mail, and what wakes it.
#[derive(Debug)]
pub struct OwnerLinks {
    /// Decisions about agents, for this node's events.
    pub local: mpsc::UnboundedSender<RoutingDecision>,
    /// Notified when there may be mail for the owner.
    pub wake: Arc<Notify>,
    /// Waiting callers of dead nodes, taken out of the queue.
    pub orphans: mpsc::UnboundedSender<Orphan>,
}

/// A running shard owner (routing only while the lease is held).
#[derive(Debug)]
pub struct ShardOwner {
    wake: Arc<Notify>,
    status: watch::Receiver<OwnerStatus>,
    task: JoinHandle<()>,
    leave: mpsc::UnboundedSender<oneshot::Sender<()>>,
}

impl ShardOwner {
    /// Starts routing `lease`'s shard whenever this node holds it.
    /// Decisions about agents (state changes, wrap-up) go to
    /// `links.local`, for this node's events; decisions about callers go by
    /// mail to the node holding each caller. `links.wake` makes it pass now
    /// (a hint of mail). The waiting callers of a node declared dead in
    /// PostgreSQL (`cluster_nodes`, [`crate::NodeLiveness`]) leave the queue
    /// and go to `links.orphans` (for a callback).
    #[must_use]
    pub fn spawn(
        db: ClusterDb,
        presence: Presence,
        lease: LeaseHandle,
        clock: Arc<dyn Clock>,
        acd: AcdConfig,
        links: OwnerLinks,
    ) -> ShardOwner {
        let OwnerLinks {
            local,
            wake,
            orphans,
        } = links;
        let (status_tx, status) = watch::channel(OwnerStatus::default());
        let owner = Owner {
            db,
            presence,
            clock,
            acd,
            registry: StrategyRegistry::builtin(),
            local,
            orphans,
            status: status_tx,
            routing: None,
            last_wallboard: None,
        };
        let (leave, leaving) = mpsc::unbounded_channel();
        let task = tokio::spawn(owner.run(lease, wake.clone(), leaving));
        ShardOwner {
            wake,
            status,
            task,
            leave,
        }
    }

    /// Leaves the shard for good (a node leaving the cluster): stops
    /// routing, gives the lease up (another node takes it at its next poll,
    /// without waiting for the TTL) and stops contending. Returns once the
    /// release was written (or failed), or at once if the owner had stopped.
    pub async fn leave(&self) {
        let (done, released) = oneshot::channel();
        if self.leave.send(done).is_ok() {
            let _ = released.await;
        }
    }

    /// There may be mail for the owner: pass now (if this node routes).
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// What the owner does now.
    #[must_use]
    pub fn status(&self) -> OwnerStatus {
        *self.status.borrow()
    }

    /// A receiver of the owner's status changes.
    #[must_use]
    pub fn watch(&self) -> watch::Receiver<OwnerStatus> {
        self.status.clone()
    }

    /// Stops routing (the lease task is dropped with it, and expires).
    pub fn stop(&self) {
        self.task.abort();
    }
}

struct Routing {
    engine: AcdEngine,
    epoch: u64,
    /// The node holding each interaction the engine knows.
    nodes: HashMap<InteractionId, String>,
    queues: HashSet<String>,
    agents: HashSet<String>,
    reachable: HashMap<String, bool>,
    /// Reservations with an offer ticket (placed through another node).
    tickets: HashSet<String>,
}

struct Owner {
    db: ClusterDb,
    presence: Presence,
    clock: Arc<dyn Clock>,
    acd: AcdConfig,
    registry: StrategyRegistry,
    local: mpsc::UnboundedSender<RoutingDecision>,
    orphans: mpsc::UnboundedSender<Orphan>,
    status: watch::Sender<OwnerStatus>,
    routing: Option<Routing>,
    last_wallboard: Option<Timestamp>,
}

/// A waiting caller whose node died: out of the queue, to be called back.
#[derive(Debug, Clone, PartialEq)]
pub struct Orphan {
    /// The request it waited with (its queue and place).
    pub request: callcore::RoutingRequest,
    /// The node that held the call.
    pub node: String,
}

/// What a pass leaves to do once its transaction committed.
#[derive(Default)]
struct AfterCommit {
    local: Vec<RoutingDecision>,
    orphans: Vec<Orphan>,
    targets: BTreeSet<String>,
    offers: u64,
}

fn reachable_now(seat: &Seat, live: &HashSet<String>) -> bool {
    seat.reachable_on
        .as_ref()
        .is_none_or(|nodes| nodes.iter().any(|n| live.contains(n)))
}

impl Owner {
    async fn run(
        mut self,
        mut lease: LeaseHandle,
        wake: Arc<Notify>,
        mut leave: mpsc::UnboundedReceiver<oneshot::Sender<()>>,
    ) {
        loop {
            let now = self.clock.now();
            let mut wait = OWNER_POLL;
            if let Some(due) = self.routing.as_ref().and_then(|r| r.engine.poll_timeout()) {
                let ms = u64::try_from(due.as_millis() - now.as_millis()).unwrap_or(0);
                wait = wait.min(Duration::from_millis(ms));
            }
            tokio::select! {
                () = self.clock.sleep(wait) => {}
                () = wake.notified() => {}
                alive = lease.changed() => if !alive { return },
                Some(done) = leave.recv() => {
                    if let Some(r) = self.routing.take() {
                        tracing::info!(epoch = r.epoch, "leaving: the shard is given up");
                    }
                    self.status.send_modify(|s| s.routing = None);
                    lease.release().await;
                    let _ = done.send(());
                    return;
                }
            }
            let Some(fence) = lease.fence_now() else {
                if let Some(r) = self.routing.take() {
                    tracing::warn!(
                        epoch = r.epoch,
                        "no longer the shard's owner: routing stops"
                    );
                    self.status.send_modify(|s| s.routing = None);
                }
                continue;
            };
            if let Err(e) = self.pass(&fence).await {
                tracing::warn!(shard = %fence.shard, epoch = fence.epoch, error = %e,
                    "routing pass refused: the shard is given up at this epoch");
                self.routing = None;
                self.status.send_modify(|s| {
                    s.routing = None;
                    s.fenced += 1;
                });
                lease.report_fenced(fence.epoch);
            }
        }
    }

    async fn live_nodes(presence: &Presence) -> Option<HashSet<String>> {
        match presence.live_nodes().await {
            Ok(nodes) => Some(nodes.into_iter().map(|n| n.node).collect()),
            Err(e) => {
                tracing::warn!(error = %e, "live nodes unknown: every phone counts as reachable");
                None
            }
        }
    }

    #[allow(clippy::too_many_lines)]
    async fn pass(&mut self, fence: &Fence) -> Result<(), ClusterError> {
        let shard = fence.shard.as_str();
        let live = Self::live_nodes(&self.presence).await;
        let mut tx = self.db.begin_fenced(fence).await?;
        let now = self.clock.now();
        let seats = seats_in(&mut tx, shard).await?;
        let mut rows = waiting_with_nodes_in(&mut tx, shard).await?;
        let mut after = AfterCommit::default();
        // the callers of a node declared dead in PostgreSQL (as for its
        // calls in progress; a lapsed Redis heartbeat is not death): their
        // calls are gone
        let dead_nodes = crate::node_liveness::declared_dead_in(&mut tx).await?;
        if !dead_nodes.is_empty() {
            let (dead, alive): (Vec<_>, Vec<_>) = rows
                .into_iter()
                .partition(|(_, node, _)| dead_nodes.contains(node));
            rows = alive;
            for (row, node, _) in dead {
                remove_waiting_in(&mut tx, fence, row.request.interaction.as_str()).await?;
                after.orphans.push(Orphan {
                    request: row.request,
                    node,
                });
            }
        }
        let is_live = |seat: &Seat| match &live {
            Some(l) => reachable_now(seat, l),
            None => true,
        };
        if self.routing.as_ref().map(|r| r.epoch) != Some(fence.epoch) {
            self.routing = None;
            let queues: Vec<QueueDefinition> = seats
                .iter()
                .filter(|s| s.kind == QUEUE_SEAT)
                .filter_map(|s| serde_json::from_value(s.body.clone()).ok())
                .collect();
            let agents: Vec<AgentSeat> = seats
                .iter()
                .filter(|s| s.kind == AGENT_SEAT)
                .filter_map(|s| {
                    let profile: AgentProfile = serde_json::from_value(s.body.clone()).ok()?;
                    Some(AgentSeat {
                        profile,
                        state: s.state.clone().unwrap_or(AgentState::Offline),
                        reachable: is_live(s),
                    })
                })
                .collect();
            let waiting: Vec<_> = rows.iter().map(|(r, _, _)| r.clone()).collect();
            let restored = restore_engine(
                &self.acd,
                &self.registry,
                &queues,
                &agents,
                &waiting,
                fence.epoch,
                now,
            )?;
            let nodes: HashMap<InteractionId, String> = rows
                .iter()
                .map(|(r, node, _)| (r.request.interaction.clone(), node.clone()))
                .collect();
            // offers of earlier epochs through other nodes can no longer be placed
            crate::offer_relay::drop_stale_tickets_in(&mut tx, shard, fence.epoch).await?;
            // the nodes drop the offers of earlier epochs before hearing new ones
            let mut told: BTreeSet<String> = nodes.values().cloned().collect();
            told.extend(live.iter().flatten().cloned());
            for node in &told {
                let mail = Mail::EpochChanged { epoch: fence.epoch };
                post_mail_in(&mut tx, shard, node, &fence.owner, fence.epoch, &mail).await?;
            }
            after.targets.extend(told);
            let mut routing = Routing {
                engine: restored.engine,
                epoch: fence.epoch,
                nodes,
                queues: queues.iter().map(|q| q.id.as_str().to_owned()).collect(),
                agents: agents
                    .iter()
                    .map(|a| a.profile.id.as_str().to_owned())
                    .collect(),
                reachable: agents
                    .iter()
                    .map(|a| (a.profile.id.as_str().to_owned(), a.reachable))
                    .collect(),
                tickets: HashSet::new(),
            };
            for (interaction, reason) in restored.rejected {
                remove_waiting_in(&mut tx, fence, interaction.as_str()).await?;
                if let Some(node) = routing.nodes.remove(&interaction) {
                    let queue = rows
                        .iter()
                        .find(|(r, _, _)| r.request.interaction == interaction)
                        .map(|(r, _, _)| r.request.queue.clone())
                        .unwrap_or_else(|| "".into());
                    let mail = Mail::Rejected {
                        interaction,
                        queue,
                        reason,
                    };
                    post_mail_in(&mut tx, shard, &node, &fence.owner, fence.epoch, &mail).await?;
                    after.targets.insert(node);
                }
            }
            tracing::info!(%shard, epoch = fence.epoch, waiting = rows.len(), "routing the shard");
            self.routing = Some(routing);
            self.status.send_modify(|s| s.routing = Some(fence.epoch));
        }
        let Some(r) = self.routing.as_mut() else {
            return Ok(());
        };
        // seats: queues and agents added or removed on any node
        let mut seen_q = HashSet::new();
        let mut seen_a = HashSet::new();
        let (queues_before, agents_before) = (r.queues.len(), r.agents.len());
        for seat in &seats {
            if seat.kind == QUEUE_SEAT {
                seen_q.insert(seat.id.clone());
                if !r.queues.contains(&seat.id)
                    && let Ok(def) = serde_json::from_value::<QueueDefinition>(seat.body.clone())
                {
                    if let Err(e) = r.engine.handle(RouterInput::AddQueue(Box::new(def)), now) {
                        tracing::warn!(queue = %seat.id, error = %e, "queue refused");
                    }
                    r.queues.insert(seat.id.clone());
                }
            } else if seat.kind == AGENT_SEAT {
                seen_a.insert(seat.id.clone());
                let agent = AgentId::new(seat.id.as_str());
                if !r.agents.contains(&seat.id)
                    && let Ok(p) = serde_json::from_value::<AgentProfile>(seat.body.clone())
                {
                    if let Err(e) = r.engine.handle(RouterInput::AddAgent(Box::new(p)), now) {
                        tracing::warn!(agent = %seat.id, error = %e, "agent refused");
                    }
                    r.agents.insert(seat.id.clone());
                    if let Some(state @ (AgentState::Available | AgentState::NotReady(_))) =
                        &seat.state
                    {
                        let input = RouterInput::SetAgentState {
                            agent: agent.clone(),
                            state: state.clone(),
                        };
                        let _ = r.engine.handle(input, now);
                    }
                }
                let reachable = is_live(seat);
                if r.reachable.get(&seat.id) != Some(&reachable) {
                    r.reachable.insert(seat.id.clone(), reachable);
                    let input = RouterInput::SetAgentReachable { agent, reachable };
                    if let Err(e) = r.engine.handle(input, now) {
                        tracing::debug!(agent = %seat.id, error = %e, "reachability refused");
                    }
                }
            }
        }
        for gone in r.queues.difference(&seen_q).cloned().collect::<Vec<_>>() {
            let _ = r
                .engine
                .handle(RouterInput::RemoveQueue(gone.as_str().into()), now);
            r.queues.remove(&gone);
        }
        for gone in r.agents.difference(&seen_a).cloned().collect::<Vec<_>>() {
            let _ = r
                .engine
                .handle(RouterInput::RemoveAgent(gone.as_str().into()), now);
            r.agents.remove(&gone);
            r.reachable.remove(&gone);
        }
        // a seat added or removed shows on the wallboard at once
        let seats_changed = r.queues.len() != queues_before
            || r.agents.len() != agents_before
            || r.queues.len() != seen_q.len()
            || r.agents.len() != seen_a.len();
        // callers committed by any node since the last pass
        let mut in_rows = HashSet::new();
        for (row, node, _) in &rows {
            let id = row.request.interaction.clone();
            in_rows.insert(id.clone());
            if let Some(n) = r.nodes.get_mut(&id) {
                n.clone_from(node);
                continue;
            }
            r.nodes.insert(id.clone(), node.clone());
            if let Err(e) = r
                .engine
                .handle(RouterInput::Enqueue(Box::new(row.request.clone())), now)
            {
                tracing::warn!(interaction = %id, error = %e, "waiting row refused");
            }
        }
        // the nodes' inputs
        let mut abandoned = Vec::new();
        for letter in take_mail_in(&mut tx, shard, OWNER).await? {
            let input = match letter.mail {
                Mail::AgentState { agent, state } => RouterInput::SetAgentState { agent, state },
                Mail::EndWrapUp { agent } => RouterInput::EndWrapUp { agent },
                Mail::ExtendWrapUp { agent, secs } => RouterInput::ExtendWrapUp { agent, secs },
                Mail::Abandon { interaction } => {
                    remove_waiting_in(&mut tx, fence, interaction.as_str()).await?;
                    in_rows.remove(&interaction);
                    abandoned.push(interaction.clone());
                    RouterInput::Abandon { interaction }
                }
                Mail::RequestCallback { interaction } => {
                    RouterInput::RequestCallback { interaction }
                }
                Mail::OfferAccepted { reservation } => RouterInput::OfferAccepted { reservation },
                Mail::OfferFailed {
                    reservation,
                    outcome,
                } => RouterInput::OfferFailed {
                    reservation,
                    outcome,
                },
                Mail::InteractionEnded { interaction, agent } => {
                    let input = RouterInput::InteractionEnded {
                        interaction,
                        agent: agent.clone(),
                    };
                    if r.engine.handle(input, now).is_err() {
                        // a call taken under an earlier epoch: its agent was
                        // restored not ready until now
                        let restoring = r.engine.snapshot(now).agents.iter().any(|a| {
                            a.agent == agent
                                && matches!(&a.state, AgentState::NotReady(x) if x == RESTORING_REASON)
                        });
                        if restoring {
                            let input = RouterInput::SetAgentState {
                                agent,
                                state: AgentState::Available,
                            };
                            let _ = r.engine.handle(input, now);
                        }
                    }
                    continue;
                }
                _ => continue,
            };
            if let Err(e) = r.engine.handle(input, now) {
                tracing::debug!(from = %letter.sender, error = %e, "input refused by the engine");
            }
        }
        for gone in r.nodes.keys().cloned().collect::<Vec<_>>() {
            if !in_rows.contains(&gone) && !abandoned.contains(&gone) {
                // removed by an earlier pass or owner: not waiting any more
                let _ = r.engine.handle(
                    RouterInput::Abandon {
                        interaction: gone.clone(),
                    },
                    now,
                );
                abandoned.push(gone);
            }
        }
        r.engine.handle_timeout(now);
        while let Some(d) = r.engine.poll_decision() {
            let (interaction, done) = match &d {
                RoutingDecision::Offer { interaction, .. } => {
                    after.offers += 1;
                    (interaction.clone(), false)
                }
                RoutingDecision::OfferEnded { interaction, .. } => (interaction.clone(), false),
                RoutingDecision::Assigned { interaction, .. }
                | RoutingDecision::Overflow { interaction, .. }
                | RoutingDecision::TimedOut { interaction, .. }
                | RoutingDecision::Rejected { interaction, .. } => (interaction.clone(), true),
                RoutingDecision::Queued { .. } => continue,
                RoutingDecision::AgentStateChanged { agent, to, .. } => {
                    save_agent_state_in(&mut tx, shard, agent.as_str(), to).await?;
                    after.local.push(d);
                    continue;
                }
                _ => {
                    after.local.push(d);
                    continue;
                }
            };
            let Some(node) = r.nodes.get(&interaction).cloned() else {
                continue;
            };
            if done {
                remove_waiting_in(&mut tx, fence, interaction.as_str()).await?;
                r.nodes.remove(&interaction);
            }
            let mut mail = mail_of(d);
            let relay = crate::offer_relay::Relay {
                seats: &seats,
                live: live.as_ref(),
                caller_node: &node,
            };
            relay
                .ticket_in(&mut tx, fence, &mut r.tickets, &mut mail)
                .await?;
            post_mail_in(&mut tx, shard, &node, &fence.owner, fence.epoch, &mail).await?;
            after.targets.insert(node);
        }
        for gone in abandoned {
            r.nodes.remove(&gone);
        }
        let snapshot = (seats_changed
            || self
                .last_wallboard
                .is_none_or(|t| now.as_millis() - t.as_millis() >= 500))
        .then(|| r.engine.snapshot(now));
        tx.commit().await?;
        // committed: only now may anyone act on this pass
        for d in after.local {
            let _ = self.local.send(d);
        }
        for orphan in after.orphans {
            tracing::info!(interaction = %orphan.request.interaction, node = %orphan.node,
                "a waiting caller's node died: out of the queue, for a callback");
            let _ = self.orphans.send(orphan);
        }
        for target in &after.targets {
            let hint = format!("{shard} {target}");
            if let Err(e) = self.presence.publish_on(ROUTING_TOPIC, &hint).await {
                tracing::debug!(error = %e, "routing hint not published (the node polls)");
            }
        }
        if let Some(s) = snapshot {
            self.last_wallboard = Some(now);
            if let Ok(v) = serde_json::to_value(&s)
                && let Err(e) = self.presence.put_wallboard(shard, &v, WALLBOARD_TTL).await
            {
                tracing::debug!(error = %e, "wallboard snapshot not written");
            }
        }
        if after.offers > 0 {
            self.status.send_modify(|s| s.offers += after.offers);
        }
        Ok(())
    }
}

/// The mail a node gets for a decision about its caller.
fn mail_of(d: RoutingDecision) -> Mail {
    match d {
        RoutingDecision::Offer {
            reservation,
            interaction,
            queue,
            agent,
            expires_at,
        } => Mail::Offer {
            reservation,
            interaction,
            queue,
            agent,
            expires_at,
            via: None,
        },
        RoutingDecision::OfferEnded {
            reservation,
            interaction,
            agent,
            outcome,
        } => Mail::OfferEnded {
            reservation,
            interaction,
            agent,
            outcome,
        },
        RoutingDecision::Assigned {
            reservation,
            interaction,
            queue,
            agent,
        } => Mail::Assigned {
            reservation,
            interaction,
            queue,
            agent,
        },
        RoutingDecision::Overflow {
            interaction,
            queue,
            destination,
        } => Mail::Overflow {
            interaction,
            queue,
            destination,
        },
        RoutingDecision::TimedOut { interaction, queue } => Mail::TimedOut { interaction, queue },
        RoutingDecision::Rejected {
            interaction,
            queue,
            reason,
        } => Mail::Rejected {
            interaction,
            queue,
            reason,
        },
        // callers hear nothing else from the owner
        _ => Mail::EpochChanged { epoch: 0 },
    }
}

/// The decision a node's router gives its runtime for a mail about one of
/// its callers; `None` for mail that is not a decision.
#[must_use]
pub fn decision_of(mail: Mail) -> Option<RoutingDecision> {
    Some(match mail {
        Mail::Offer {
            reservation,
            interaction,
            queue,
            agent,
            expires_at,
            ..
        } => RoutingDecision::Offer {
            reservation,
            interaction,
            queue,
            agent,
            expires_at,
        },
        Mail::OfferEnded {
            reservation,
            interaction,
            agent,
            outcome,
        } => RoutingDecision::OfferEnded {
            reservation,
            interaction,
            agent,
            outcome,
        },
        Mail::Assigned {
            reservation,
            interaction,
            queue,
            agent,
        } => RoutingDecision::Assigned {
            reservation,
            interaction,
            queue,
            agent,
        },
        Mail::Overflow {
            interaction,
            queue,
            destination,
        } => RoutingDecision::Overflow {
            interaction,
            queue,
            destination,
        },
        Mail::TimedOut { interaction, queue } => RoutingDecision::TimedOut { interaction, queue },
        Mail::Rejected {
            interaction,
            queue,
            reason,
        } => RoutingDecision::Rejected {
            interaction,
            queue,
            reason,
        },
        _ => return None,
    })
}
