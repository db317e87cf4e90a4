//! Which node holds each call in progress, and the closing of a dead node's
//! calls as `node_failure` by a survivor, exactly once.
//!
//! [`NodeJournal`] wraps a node's event journal: an interaction's start is
//! written to `cluster_calls` (tenant, interaction, node) *before* the
//! journal gets it, and its row is deleted once its end is journaled. So
//! every interaction a node started and did not end has a row naming that
//! node. At start, the node's own journal question "what did an earlier run
//! leave in progress?" ([`EventJournal::unended`]) is answered with this
//! node's rows only: a restarting node never closes its neighbours' live
//! calls.
//!
//! [`close_dead_nodes`] (run by every node, [`spawn_failure_sweeper`])
//! first declares dead the nodes whose `cluster_nodes` row expired
//! ([`crate::NodeLiveness`]: PostgreSQL decides, a lapsed Redis heartbeat
//! closes nothing), then finds rows whose node is not alive *at the row's
//! epoch* (declared dead, or restarted since), **claims** them with one
//! conditional update (`SET closed_by = me WHERE node not alive at epoch
//! AND (closed_by IS NULL OR closed_by is not alive)`): PostgreSQL's row
//! locks let exactly one survivor claim each row, the others' update
//! re-checks the condition after the winner commits and matches nothing. The claimer journals the
//! interaction's end (`EndReason::NodeFailure`, at its last journaled
//! event's time), saves its record folded from its journal, and deletes the
//! row. A claimer that dies midway leaves rows `closed_by` a dead node,
//! which the next survivor claims again.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use callcore::{
    CoreError, EndReason, Event, EventJournal, EventKind, InteractionId, InteractionRecord,
    InteractionStore, TenantId, Timestamp,
};
use sqlx::PgPool;

use crate::node_liveness::declare_dead;
use crate::{ClusterDb, ClusterError, NodeLiveness};

/// The table of calls in progress per node and the nodes' liveness rows
/// ([`crate::NodeLiveness`]), created by [`ClusterDb::connect`].
pub(crate) const MIGRATION: &str = "
CREATE TABLE IF NOT EXISTS cluster_calls (
    tenant      TEXT NOT NULL,
    interaction TEXT NOT NULL,
    node        TEXT NOT NULL,
    closed_by   TEXT,
    PRIMARY KEY (tenant, interaction)
);
CREATE INDEX IF NOT EXISTS cluster_calls_by_node ON cluster_calls (node);
CREATE TABLE IF NOT EXISTS cluster_nodes (
    node        TEXT PRIMARY KEY,
    epoch       BIGINT NOT NULL,
    expires_at  TIMESTAMPTZ NOT NULL,
    dead_by     TEXT
);
ALTER TABLE cluster_calls ADD COLUMN IF NOT EXISTS epoch BIGINT NOT NULL DEFAULT 0;
ALTER TABLE cluster_calls ADD COLUMN IF NOT EXISTS closer_epoch BIGINT NOT NULL DEFAULT 0;
ALTER TABLE cluster_calls ADD COLUMN IF NOT EXISTS sip_call_id TEXT;
CREATE INDEX IF NOT EXISTS cluster_calls_by_sip_call ON cluster_calls (sip_call_id);
";

/// The attribute an inbound interaction carries its SIP Call-ID in (set by
/// a center behind a failover proxy: `SipTransport::set_ring_inbound(false)`).
pub const SIP_CALL_ID: &str = "sip_call_id";

/// A call row's node (or closer) is alive at the row's epoch.
const ALIVE_AT: &str = "EXISTS (SELECT 1 FROM cluster_nodes n WHERE n.node = {who} AND n.epoch = {epoch} AND n.dead_by IS NULL)";

fn alive_at(who: &str, epoch: &str) -> String {
    ALIVE_AT.replace("{who}", who).replace("{epoch}", epoch)
}

fn store_err(e: impl std::fmt::Display) -> CoreError {
    CoreError::Store(e.to_string())
}

/// A node's event journal that keeps `cluster_calls` up to date.
#[derive(Clone)]
pub struct NodeJournal {
    inner: Arc<dyn EventJournal>,
    pool: PgPool,
    node: String,
    liveness: Option<NodeLiveness>,
}

impl std::fmt::Debug for NodeJournal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeJournal")
            .field("node", &self.node)
            .finish_non_exhaustive()
    }
}

impl NodeJournal {
    /// `inner` (the shared journal) for node `node`, with its calls in
    /// `db`'s `cluster_calls`.
    #[must_use]
    pub fn new(inner: Arc<dyn EventJournal>, db: &ClusterDb, node: impl Into<String>) -> Self {
        Self {
            inner,
            pool: db.pool().clone(),
            node: node.into(),
            liveness: None,
        }
    }

    /// Journals only while `liveness` is confirmed (see
    /// [`NodeLiveness::confirm`]) and tags each call row with its epoch, so
    /// the survivors close the calls of this run once it is declared dead.
    /// Without it, rows carry epoch 0 and are the survivors' to close at once.
    #[must_use]
    pub fn with_liveness(mut self, liveness: NodeLiveness) -> Self {
        self.liveness = Some(liveness);
        self
    }

    fn epoch(&self) -> i64 {
        self.liveness.as_ref().map_or(0, NodeLiveness::epoch)
    }

    /// The node.
    #[must_use]
    pub fn node(&self) -> &str {
        &self.node
    }

    async fn track(&self, events: &[Event]) -> Result<(), sqlx::Error> {
        let (mut tenants, mut ids, mut sip) = (Vec::new(), Vec::new(), Vec::new());
        for e in events {
            if let EventKind::InteractionCreated { interaction } = &e.kind {
                tenants.push(e.tenant.as_str().to_owned());
                ids.push(interaction.id.as_str().to_owned());
                sip.push(interaction.attributes.get(SIP_CALL_ID).cloned());
            }
        }
        sqlx::query(
            "INSERT INTO cluster_calls (tenant, interaction, node, epoch, sip_call_id)
             SELECT t, i, $3, $4, s FROM UNNEST($1::text[], $2::text[], $5::text[]) AS x(t, i, s)
             ON CONFLICT (tenant, interaction) DO NOTHING",
        )
        .bind(tenants)
        .bind(ids)
        .bind(&self.node)
        .bind(self.epoch())
        .bind(sip)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn untrack(&self, ended: &[(String, String)]) -> Result<(), sqlx::Error> {
        let (tenants, ids): (Vec<String>, Vec<String>) = ended.iter().cloned().unzip();
        sqlx::query(
            "DELETE FROM cluster_calls c USING UNNEST($1::text[], $2::text[]) AS x(t, i)
             WHERE c.tenant = x.t AND c.interaction = x.i",
        )
        .bind(tenants)
        .bind(ids)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}

fn ids_of(events: &[Event], started: bool) -> Vec<(String, String)> {
    events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::InteractionCreated { interaction } if started => Some((
                e.tenant.as_str().to_owned(),
                interaction.id.as_str().to_owned(),
            )),
            EventKind::Ended { interaction, .. } if !started => Some((
                e.tenant.as_str().to_owned(),
                interaction.as_str().to_owned(),
            )),
            _ => None,
        })
        .collect()
}

#[async_trait]
impl EventJournal for NodeJournal {
    async fn append(&self, events: &[Event]) -> Result<(), CoreError> {
        if let Some(l) = &self.liveness
            && !l.confirm().await.map_err(store_err)?
        {
            // declared dead: the survivors closed this run's calls
            return Err(CoreError::Store(format!(
                "node {} was declared dead; its calls were closed by the survivors",
                self.node
            )));
        }
        let started = ids_of(events, true);
        if !started.is_empty() {
            // before the journal: a journaled start always has its row
            self.track(events).await.map_err(store_err)?;
        }
        self.inner.append(events).await?;
        let ended = ids_of(events, false);
        if !ended.is_empty() {
            // a row left by a failure here is closed as already ended
            if let Err(e) = self.untrack(&ended).await {
                tracing::warn!(node = %self.node, error = %e, "ended calls not untracked");
            }
        }
        Ok(())
    }

    async fn for_interaction(
        &self,
        tenant: &TenantId,
        interaction: &InteractionId,
    ) -> Result<Vec<Event>, CoreError> {
        self.inner.for_interaction(tenant, interaction).await
    }

    async fn between(
        &self,
        tenant: &TenantId,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<Event>, CoreError> {
        self.inner.between(tenant, from, to).await
    }

    /// Only this node's calls an earlier run left in progress (claimed, so
    /// no survivor closes them too).
    async fn unended(
        &self,
        tenant: &TenantId,
        window: Duration,
    ) -> Result<Vec<InteractionId>, CoreError> {
        let rows: Vec<(String,)> = sqlx::query_as(
            "UPDATE cluster_calls SET closed_by = $1, closer_epoch = $3
             WHERE node = $1 AND tenant = $2 AND ($3 = 0 OR epoch <> $3)
               AND (closed_by IS NULL OR closed_by = $1)
             RETURNING interaction",
        )
        .bind(&self.node)
        .bind(tenant.as_str())
        .bind(self.epoch())
        .fetch_all(&self.pool)
        .await
        .map_err(store_err)?;
        let mine: HashSet<String> = rows.into_iter().map(|(i,)| i).collect();
        let unended = self.inner.unended(tenant, window).await?;
        Ok(unended
            .into_iter()
            .filter(|i| mine.contains(i.as_str()))
            .collect())
    }
}

/// What one sweep closed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sweep {
    /// Interactions closed as `node_failure` by this node, with the dead
    /// node that held them.
    pub closed: Vec<(InteractionId, String)>,
}

/// Declares dead the nodes whose `cluster_nodes` row expired, then closes,
/// as `node_failure`, the unended interactions of every node not alive at
/// its row's epoch; `me` is the surviving node doing it. Each interaction is
/// claimed by exactly one survivor (see the module's documentation). Redis
/// plays no part: a node is dead only when PostgreSQL says so.
///
/// # Errors
/// [`ClusterError::Postgres`] for the declaration or the claim (nothing is
/// closed then). A survivor that is itself not confirmed alive closes
/// nothing. Journal and record failures of one
/// interaction are logged and the row kept for the next sweep.
pub async fn close_dead_nodes(
    db: &ClusterDb,
    me: &NodeLiveness,
    journal: &dyn EventJournal,
    records: &dyn InteractionStore,
) -> Result<Sweep, ClusterError> {
    let mut sweep = Sweep::default();
    if !me.confirm().await? {
        return Ok(sweep);
    }
    let declared = declare_dead(db.pool(), me.node()).await?;
    for node in &declared {
        tracing::warn!(dead = %node, by = %me.node(), "node declared dead (its row expired)");
    }
    let claimed: Vec<(String, String, String, Option<String>)> = sqlx::query_as(&format!(
        "UPDATE cluster_calls c SET closed_by = $1, closer_epoch = $2
         WHERE NOT {}
           AND (c.closed_by IS NULL OR NOT {})
         RETURNING tenant, interaction, node, sip_call_id",
        alive_at("c.node", "c.epoch"),
        alive_at("c.closed_by", "c.closer_epoch")
    ))
    .bind(me.node())
    .bind(me.epoch())
    .fetch_all(db.pool())
    .await?;
    for (tenant, id, node, sip_call_id) in claimed {
        // the same SIP call on another node: the proxy moved this attempt,
        // which the dead node never answered (it replies only once the start
        // is journaled), to a node that did: the caller's record is that one
        let moved = match &sip_call_id {
            Some(sip) => {
                sqlx::query_scalar::<_, bool>(
                    "SELECT EXISTS (SELECT 1 FROM cluster_calls WHERE sip_call_id = $1
                 AND NOT (tenant = $2 AND interaction = $3))",
                )
                .bind(sip)
                .bind(&tenant)
                .bind(&id)
                .fetch_one(db.pool())
                .await?
            }
            None => false,
        };
        let tenant = TenantId::new(tenant);
        let id = InteractionId::new(id);
        if moved {
            // no end journaled either: a journaled end gets its record
            // (the store recovers missing records from ends)
            sqlx::query("DELETE FROM cluster_calls WHERE tenant = $1 AND interaction = $2")
                .bind(tenant.as_str())
                .bind(id.as_str())
                .execute(db.pool())
                .await?;
            tracing::info!(interaction = %id, dead = %node, by = %me.node(),
                "an unanswered attempt the proxy moved to another node: no record");
            continue;
        }
        match close_one(journal, records, &tenant, &id).await {
            Ok(closed) => {
                sqlx::query("DELETE FROM cluster_calls WHERE tenant = $1 AND interaction = $2")
                    .bind(tenant.as_str())
                    .bind(id.as_str())
                    .execute(db.pool())
                    .await?;
                if let Some(Some(agent)) = &closed {
                    // the agent talking to the dead node's caller is free
                    // again: the shard's owner (the tenant's shard) hears the
                    // end, as from the node that held the call
                    let mail = crate::Mail::InteractionEnded {
                        interaction: id.clone(),
                        agent: agent.clone(),
                    };
                    if let Err(e) = db
                        .post_mail(tenant.as_str(), crate::mailbox::OWNER, me.node(), &mail)
                        .await
                    {
                        tracing::warn!(interaction = %id, error = %e, "the owner was not told the agent is free");
                    }
                }
                if closed.is_some() {
                    tracing::warn!(interaction = %id, dead = %node, by = %me.node(), "closed as node_failure");
                    sweep.closed.push((id, node));
                }
            }
            Err(e) => {
                tracing::error!(interaction = %id, error = %e, "cannot close a dead node's call");
            }
        }
    }
    Ok(sweep)
}

/// Journals `id`'s end as `node_failure` and saves its record; `None` when
/// its journal already has an end (or no start), else the agent the call
/// was connected to, if any.
async fn close_one(
    journal: &dyn EventJournal,
    records: &dyn InteractionStore,
    tenant: &TenantId,
    id: &InteractionId,
) -> Result<Option<Option<callcore::AgentId>>, CoreError> {
    let events = journal.for_interaction(tenant, id).await?;
    if events
        .iter()
        .any(|e| matches!(e.kind, EventKind::Ended { .. }))
    {
        return Ok(None);
    }
    let Some(created) = events
        .iter()
        .position(|e| matches!(e.kind, EventKind::InteractionCreated { .. }))
    else {
        return Ok(None);
    };
    let EventKind::InteractionCreated { interaction } = &events[created].kind else {
        return Ok(None);
    };
    let Some(last) = events.last() else {
        return Ok(None);
    };
    let ended = Event {
        seq: last.seq,
        at: last.at,
        tenant: tenant.clone(),
        kind: EventKind::Ended {
            interaction: id.clone(),
            reason: EndReason::NodeFailure,
        },
    };
    let mut record = InteractionRecord::new(interaction);
    record.apply_all(&events[created..]);
    record.apply(&ended);
    journal.append(std::slice::from_ref(&ended)).await?;
    records.save(&record).await?;
    Ok(Some(record.agent.clone()))
}

/// Runs [`close_dead_nodes`] every `every` until aborted, reporting each
/// non-empty sweep on `report` (if given).
pub fn spawn_failure_sweeper(
    db: ClusterDb,
    me: NodeLiveness,
    journal: Arc<dyn EventJournal>,
    records: Arc<dyn InteractionStore>,
    every: Duration,
    report: Option<tokio::sync::mpsc::UnboundedSender<Sweep>>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            match close_dead_nodes(&db, &me, &*journal, &*records).await {
                Ok(s) if !s.closed.is_empty() => {
                    if let Some(r) = &report {
                        let _ = r.send(s);
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(node = %me.node(), error = %e, "node-failure sweep failed")
                }
            }
        }
    })
}
