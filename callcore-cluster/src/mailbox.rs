//! How the nodes of a shard talk to its owner and back, through
//! PostgreSQL: mail rows (inputs to the owner, decisions to the node that
//! holds each caller), seats (the shard's queues and agents as any node
//! declares them, with the agents' states the owner writes and the nodes
//! their phones are on) and waiting rows that say which node holds the
//! caller. Redis pub/sub carries only hints that there is mail
//! ([`ROUTING_TOPIC`]); every reader also polls, so a lost hint costs one
//! poll.
//!
//! Writes the owner makes go through a transaction that passed
//! [`crate::check_fence`] (`*_in` functions); what a node sends its owner
//! is not a routing write and is not fenced.

use crate::{ClusterDb, ClusterError, WaitingRow};
use callcore::{
    AgentId, AgentState, Destination, InteractionId, OfferEnd, QueueId, RejectReason,
    ReservationId, RoutingRequest, Timestamp,
};
use serde::{Deserialize, Serialize};
use sqlx::{PgConnection, Row};

/// The mail target of a shard's owner, whichever node it is.
pub const OWNER: &str = "@owner";

/// The Redis pub/sub topic (under the cluster's prefix) of mail hints: the
/// payload is `shard target` (target [`OWNER`] or a node id).
pub const ROUTING_TOPIC: &str = "routing";

/// The seat kind of an agent.
pub const AGENT_SEAT: &str = "agent";
/// The seat kind of a queue.
pub const QUEUE_SEAT: &str = "queue";

/// A message between a node and its shard's owner.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Mail {
    // ---- to the owner ----
    /// An agent (or a supervisor) asks for a state.
    AgentState {
        /// The agent.
        agent: AgentId,
        /// The state asked for.
        state: AgentState,
    },
    /// An agent's after-call work ends now.
    EndWrapUp {
        /// The agent.
        agent: AgentId,
    },
    /// An agent's after-call work ends `secs` from now.
    ExtendWrapUp {
        /// The agent.
        agent: AgentId,
        /// Seconds.
        secs: u32,
    },
    /// The caller hung up.
    Abandon {
        /// The interaction.
        interaction: InteractionId,
    },
    /// The caller asked to be called back, keeping their place.
    RequestCallback {
        /// The interaction.
        interaction: InteractionId,
    },
    /// The agent answered the offer.
    OfferAccepted {
        /// The reservation.
        reservation: ReservationId,
    },
    /// The offer failed on the agent's side.
    OfferFailed {
        /// The reservation.
        reservation: ReservationId,
        /// How.
        outcome: OfferEnd,
    },
    /// The conversation is over.
    InteractionEnded {
        /// The interaction.
        interaction: InteractionId,
        /// Its agent.
        agent: AgentId,
    },
    /// The sender's presence of an agent's phone or browser changed.
    Reachability {
        /// The agent.
        agent: AgentId,
    },
    // ---- to the node holding the caller ----
    /// Ring the agent for the interaction until `expires_at`.
    Offer {
        /// The reservation (its epoch in it).
        reservation: ReservationId,
        /// The interaction.
        interaction: InteractionId,
        /// The queue.
        queue: QueueId,
        /// The agent.
        agent: AgentId,
        /// When the offer times out.
        expires_at: Timestamp,
        /// The node to ring the agent through (it holds their phone or
        /// browser), when not the caller's node; its offer ticket was
        /// written with this mail (`crate::OfferTicket`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        via: Option<String>,
    },
    /// Stop ringing.
    OfferEnded {
        /// The reservation.
        reservation: ReservationId,
        /// The interaction.
        interaction: InteractionId,
        /// The agent.
        agent: AgentId,
        /// How it ended.
        outcome: OfferEnd,
    },
    /// Connect caller and agent.
    Assigned {
        /// The reservation.
        reservation: ReservationId,
        /// The interaction.
        interaction: InteractionId,
        /// The queue.
        queue: QueueId,
        /// The agent.
        agent: AgentId,
    },
    /// The caller leaves for another destination.
    Overflow {
        /// The interaction.
        interaction: InteractionId,
        /// The queue left.
        queue: QueueId,
        /// Where to.
        destination: Destination,
    },
    /// The caller waited too long.
    TimedOut {
        /// The interaction.
        interaction: InteractionId,
        /// The queue.
        queue: QueueId,
    },
    /// The queue refused the caller.
    Rejected {
        /// The interaction.
        interaction: InteractionId,
        /// The queue.
        queue: QueueId,
        /// Why.
        reason: RejectReason,
    },
    /// A new owner took the shard at `epoch`: offers of earlier epochs
    /// that were not assigned are void.
    EpochChanged {
        /// The new epoch.
        epoch: u64,
    },
}

/// A mail row as read.
#[derive(Debug, Clone, PartialEq)]
pub struct Letter {
    /// Its sequence number (delivery order).
    pub seq: i64,
    /// The node that sent it.
    pub sender: String,
    /// The owner's epoch when the owner sent it (0 from a node).
    pub epoch: u64,
    /// The message.
    pub mail: Mail,
}

/// A queue or agent of a shard, as declared by any node.
#[derive(Debug, Clone, PartialEq)]
pub struct Seat {
    /// [`AGENT_SEAT`] or [`QUEUE_SEAT`].
    pub kind: String,
    /// The agent's or queue's id.
    pub id: String,
    /// The `AgentProfile` or `QueueDefinition` as JSON.
    pub body: serde_json::Value,
    /// The agent's state as the owner last wrote it.
    pub state: Option<AgentState>,
    /// The nodes that hold the agent's phone or browser; `None` when no
    /// node ever said (an agent at a fixed contact, reachable from every
    /// node).
    pub reachable_on: Option<Vec<String>>,
}

pub(crate) const MIGRATION: &str = "
ALTER TABLE cluster_waiting ADD COLUMN IF NOT EXISTS node TEXT NOT NULL DEFAULT '';
ALTER TABLE cluster_waiting ADD COLUMN IF NOT EXISTS caller TEXT NOT NULL DEFAULT '';
CREATE TABLE IF NOT EXISTS cluster_mail (
    seq    BIGSERIAL PRIMARY KEY,
    shard  TEXT NOT NULL,
    target TEXT NOT NULL,
    sender TEXT NOT NULL,
    epoch  BIGINT NOT NULL,
    body   JSONB NOT NULL
);
CREATE INDEX IF NOT EXISTS cluster_mail_target ON cluster_mail (shard, target, seq);
CREATE TABLE IF NOT EXISTS cluster_seats (
    shard        TEXT NOT NULL,
    kind         TEXT NOT NULL,
    id           TEXT NOT NULL,
    body         JSONB NOT NULL,
    state        JSONB,
    reachable_on TEXT[],
    PRIMARY KEY (shard, kind, id)
);
";

fn encode(mail: &Mail) -> Result<String, ClusterError> {
    serde_json::to_string(mail).map_err(|source| ClusterError::Decode {
        what: "mail",
        source,
    })
}

fn epoch_i64(epoch: u64) -> i64 {
    i64::try_from(epoch).unwrap_or(i64::MAX)
}

fn letters(rows: Vec<sqlx::postgres::PgRow>) -> Result<Vec<Letter>, ClusterError> {
    rows.into_iter()
        .map(|r| {
            let text: String = r.try_get(3)?;
            Ok(Letter {
                seq: r.try_get(0)?,
                sender: r.try_get(1)?,
                epoch: u64::try_from(r.try_get::<i64, _>(2)?).unwrap_or(0),
                mail: serde_json::from_str(&text).map_err(|source| ClusterError::Decode {
                    what: "mail",
                    source,
                })?,
            })
        })
        .collect()
}

const TAKE_MAIL: &str = "WITH d AS (DELETE FROM cluster_mail WHERE shard = $1 AND target = $2
                           RETURNING seq, sender, epoch, body)
                         SELECT seq, sender, epoch, body::text FROM d ORDER BY seq";

/// Posts `mail` to `target` of `shard` from `sender` at `epoch` inside the
/// caller's transaction (the owner's: fenced).
///
/// # Errors
/// [`ClusterError::Postgres`], [`ClusterError::Decode`].
pub async fn post_mail_in(
    conn: &mut PgConnection,
    shard: &str,
    target: &str,
    sender: &str,
    epoch: u64,
    mail: &Mail,
) -> Result<(), ClusterError> {
    sqlx::query(
        "INSERT INTO cluster_mail (shard, target, sender, epoch, body)
         VALUES ($1, $2, $3, $4, $5::jsonb)",
    )
    .bind(shard)
    .bind(target)
    .bind(sender)
    .bind(epoch_i64(epoch))
    .bind(encode(mail)?)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Takes (deletes and returns, in order) the mail of `target` inside the
/// caller's transaction.
///
/// # Errors
/// [`ClusterError::Postgres`], [`ClusterError::Decode`].
pub async fn take_mail_in(
    conn: &mut PgConnection,
    shard: &str,
    target: &str,
) -> Result<Vec<Letter>, ClusterError> {
    let rows = sqlx::query(TAKE_MAIL)
        .bind(shard)
        .bind(target)
        .fetch_all(&mut *conn)
        .await?;
    letters(rows)
}

/// A shard's waiting rows with the node that holds each caller and the
/// caller's number (empty when unknown), in routing order, inside the
/// caller's transaction.
///
/// # Errors
/// [`ClusterError::Postgres`], [`ClusterError::Decode`].
pub async fn waiting_with_nodes_in(
    conn: &mut PgConnection,
    shard: &str,
) -> Result<Vec<(WaitingRow, String, String)>, ClusterError> {
    let rows = sqlx::query(
        "SELECT request::text, seq, enqueued_epoch, node, caller FROM cluster_waiting
         WHERE shard = $1 ORDER BY priority DESC, enqueued_at_ms, seq",
    )
    .bind(shard)
    .fetch_all(&mut *conn)
    .await?;
    rows.into_iter()
        .map(|r| {
            let text: String = r.try_get(0)?;
            let request = serde_json::from_str(&text).map_err(|source| ClusterError::Decode {
                what: "waiting request",
                source,
            })?;
            Ok((
                WaitingRow {
                    request,
                    seq: r.try_get(1)?,
                    enqueued_epoch: u64::try_from(r.try_get::<i64, _>(2)?).unwrap_or(0),
                },
                r.try_get(3)?,
                r.try_get(4)?,
            ))
        })
        .collect()
}

/// Moves a waiting caller to another node (a callback placed by a
/// survivor), inside the owner's fenced transaction.
///
/// # Errors
/// [`ClusterError::Postgres`].
pub async fn move_waiting_in(
    conn: &mut PgConnection,
    shard: &str,
    interaction: &str,
    node: &str,
) -> Result<(), ClusterError> {
    sqlx::query("UPDATE cluster_waiting SET node = $3 WHERE shard = $1 AND interaction = $2")
        .bind(shard)
        .bind(interaction)
        .bind(node)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// A shard's seats inside the caller's transaction.
///
/// # Errors
/// [`ClusterError::Postgres`], [`ClusterError::Decode`].
pub async fn seats_in(conn: &mut PgConnection, shard: &str) -> Result<Vec<Seat>, ClusterError> {
    let rows = sqlx::query(
        "SELECT kind, id, body::text, state::text, reachable_on FROM cluster_seats
         WHERE shard = $1 ORDER BY kind DESC, id",
    )
    .bind(shard)
    .fetch_all(&mut *conn)
    .await?;
    let decode = |source| ClusterError::Decode {
        what: "seat",
        source,
    };
    rows.into_iter()
        .map(|r| {
            let body: String = r.try_get(2)?;
            let state: Option<String> = r.try_get(3)?;
            Ok(Seat {
                kind: r.try_get(0)?,
                id: r.try_get(1)?,
                body: serde_json::from_str(&body).map_err(decode)?,
                state: state
                    .map(|s| serde_json::from_str(&s))
                    .transpose()
                    .map_err(decode)?,
                reachable_on: r.try_get(4)?,
            })
        })
        .collect()
}

/// Writes an agent's state, inside the owner's fenced transaction.
///
/// # Errors
/// [`ClusterError::Postgres`], [`ClusterError::Decode`].
pub async fn save_agent_state_in(
    conn: &mut PgConnection,
    shard: &str,
    agent: &str,
    state: &AgentState,
) -> Result<(), ClusterError> {
    let json = serde_json::to_string(state).map_err(|source| ClusterError::Decode {
        what: "agent state",
        source,
    })?;
    sqlx::query(
        "UPDATE cluster_seats SET state = $4::jsonb WHERE shard = $1 AND kind = $2 AND id = $3",
    )
    .bind(shard)
    .bind(AGENT_SEAT)
    .bind(agent)
    .bind(json)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

impl ClusterDb {
    /// Posts `mail` from node `sender` to `target` (not fenced: a node's
    /// input to its owner).
    ///
    /// # Errors
    /// [`ClusterError::Postgres`], [`ClusterError::Decode`].
    pub async fn post_mail(
        &self,
        shard: &str,
        target: &str,
        sender: &str,
        mail: &Mail,
    ) -> Result<(), ClusterError> {
        let mut conn = self.pool().acquire().await?;
        post_mail_in(&mut conn, shard, target, sender, 0, mail).await
    }

    /// Takes `target`'s mail (a node reading its own).
    ///
    /// # Errors
    /// [`ClusterError::Postgres`], [`ClusterError::Decode`].
    pub async fn take_mail(&self, shard: &str, target: &str) -> Result<Vec<Letter>, ClusterError> {
        let mut conn = self.pool().acquire().await?;
        take_mail_in(&mut conn, shard, target).await
    }

    /// Commits a caller held by `node` as a waiting row of `shard` (any
    /// node; the owner routes it from there) and returns its 1-based
    /// position among the rows of its queue. Only after this returns may
    /// the caller hear that it is queued. Committing the same interaction
    /// again keeps its place.
    ///
    /// # Errors
    /// [`ClusterError::Postgres`], [`ClusterError::Decode`].
    pub async fn submit_waiting(
        &self,
        shard: &str,
        node: &str,
        caller: &str,
        request: &RoutingRequest,
    ) -> Result<u32, ClusterError> {
        let json = serde_json::to_string(request).map_err(|source| ClusterError::Decode {
            what: "waiting request",
            source,
        })?;
        let mut tx = self.pool().begin().await?;
        sqlx::query(
            "INSERT INTO cluster_waiting
               (shard, interaction, queue, priority, enqueued_at_ms, enqueued_epoch, request,
                node, caller)
             VALUES ($1, $2, $3, $4, $5, 0, $6::jsonb, $7, $8)
             ON CONFLICT (shard, interaction) DO UPDATE
               SET request = EXCLUDED.request, node = EXCLUDED.node",
        )
        .bind(shard)
        .bind(request.interaction.as_str())
        .bind(request.queue.as_str())
        .bind(request.priority)
        .bind(request.enqueued_at.as_millis())
        .bind(json)
        .bind(node)
        .bind(caller)
        .execute(&mut *tx)
        .await?;
        let ahead: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM cluster_waiting w, cluster_waiting me
             WHERE me.shard = $1 AND me.interaction = $2 AND w.shard = $1 AND w.queue = me.queue
               AND (w.priority, -w.enqueued_at_ms, -w.seq) >= (me.priority, -me.enqueued_at_ms, -me.seq)",
        )
        .bind(shard)
        .bind(request.interaction.as_str())
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(u32::try_from(ahead.max(1)).unwrap_or(u32::MAX))
    }

    /// Declares a queue or agent of `shard` (any node; the owner adds it
    /// within a second). The body is the `QueueDefinition` or
    /// `AgentProfile`; an agent's state and phones are kept.
    ///
    /// # Errors
    /// [`ClusterError::Postgres`], [`ClusterError::Decode`].
    pub async fn put_seat(
        &self,
        shard: &str,
        kind: &str,
        id: &str,
        body: &serde_json::Value,
    ) -> Result<(), ClusterError> {
        sqlx::query(
            "INSERT INTO cluster_seats (shard, kind, id, body) VALUES ($1, $2, $3, $4::jsonb)
             ON CONFLICT (shard, kind, id) DO UPDATE SET body = EXCLUDED.body",
        )
        .bind(shard)
        .bind(kind)
        .bind(id)
        .bind(body.to_string())
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Removes a queue or agent of `shard`.
    ///
    /// # Errors
    /// [`ClusterError::Postgres`].
    pub async fn remove_seat(&self, shard: &str, kind: &str, id: &str) -> Result<(), ClusterError> {
        sqlx::query("DELETE FROM cluster_seats WHERE shard = $1 AND kind = $2 AND id = $3")
            .bind(shard)
            .bind(kind)
            .bind(id)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Whether `node` holds the agent's phone or browser now.
    ///
    /// # Errors
    /// [`ClusterError::Postgres`].
    pub async fn set_reachable_on(
        &self,
        shard: &str,
        agent: &str,
        node: &str,
        reachable: bool,
    ) -> Result<(), ClusterError> {
        sqlx::query(
            "UPDATE cluster_seats SET reachable_on = CASE WHEN $5
                 THEN array_append(array_remove(coalesce(reachable_on, '{}'), $4), $4)
                 ELSE array_remove(coalesce(reachable_on, '{}'), $4) END
             WHERE shard = $1 AND kind = $2 AND id = $3",
        )
        .bind(shard)
        .bind(AGENT_SEAT)
        .bind(agent)
        .bind(node)
        .bind(reachable)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// A shard's seats.
    ///
    /// # Errors
    /// [`ClusterError::Postgres`], [`ClusterError::Decode`].
    pub async fn seats(&self, shard: &str) -> Result<Vec<Seat>, ClusterError> {
        let mut conn = self.pool().acquire().await?;
        seats_in(&mut conn, shard).await
    }
}
