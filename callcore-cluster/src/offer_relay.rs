//! Offers placed through the node that holds the agent's phone or browser.
//!
//! The owner mails an offer to the node holding the caller (node A). When
//! the agent's phone is registered (or browser connected) on another node
//! (B) — the seat's `reachable_on` names B and not A — the owner picks B as
//! the offer's `via` and, in the same fenced transaction as the mail,
//! writes an **offer ticket**: `cluster_offers (shard, reservation, agent,
//! caller_node, via, epoch)`. A then sends its INVITE for the agent to B
//! (the Request-URI names the shard, the reservation and the epoch), and B
//! rings the agent only once it has **claimed the ticket**: in one
//! transaction it share-locks the shard's lease row at the ticket's epoch
//! (the lease is still at that epoch and not expired — the same check as
//! [`crate::check_fence`], for the owner that wrote the ticket) and deletes
//! the ticket. So:
//!
//! - an INVITE for an offer of an earlier epoch is refused (a new owner
//!   deletes every ticket of earlier epochs in its first fenced pass, and
//!   the lease row is at another epoch anyway);
//! - a takeover cannot slip between the check and the claim: it waits for
//!   the share lock, as it waits for any fenced write;
//! - each ticket is claimed once: the same offer never rings twice;
//! - a node that is not a cluster node cannot ring an agent through B
//!   without a ticket the owner wrote.
//!
//! The owner deletes the ticket when the offer ends or is assigned (fenced,
//! in the pass that decides it), whether or not B claimed it.

use crate::mailbox::{AGENT_SEAT, Mail, Seat};
use crate::{ClusterDb, ClusterError, Fence};
use sqlx::PgConnection;
use std::collections::HashSet;

pub(crate) const MIGRATION: &str = "
CREATE TABLE IF NOT EXISTS cluster_offers (
    shard        TEXT NOT NULL,
    reservation  TEXT NOT NULL,
    agent        TEXT NOT NULL,
    caller_node  TEXT NOT NULL,
    via          TEXT NOT NULL,
    epoch        BIGINT NOT NULL,
    PRIMARY KEY (shard, reservation)
);
";

fn epoch_i64(epoch: u64) -> i64 {
    i64::try_from(epoch).unwrap_or(i64::MAX)
}

/// An offer to be placed through another node, as the owner wrote it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OfferTicket {
    /// The shard.
    pub shard: String,
    /// The offer's reservation.
    pub reservation: String,
    /// The agent rung.
    pub agent: String,
    /// The node holding the caller (it sends the INVITE).
    pub caller_node: String,
    /// The node holding the agent's phone (it rings the agent).
    pub via: String,
    /// The owner's epoch.
    pub epoch: u64,
}

/// Writes `ticket` inside the owner's fenced transaction.
///
/// # Errors
/// [`ClusterError::Postgres`].
pub async fn issue_offer_ticket_in(
    conn: &mut PgConnection,
    ticket: &OfferTicket,
) -> Result<(), ClusterError> {
    sqlx::query(
        "INSERT INTO cluster_offers (shard, reservation, agent, caller_node, via, epoch)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (shard, reservation) DO UPDATE
           SET agent = EXCLUDED.agent, caller_node = EXCLUDED.caller_node,
               via = EXCLUDED.via, epoch = EXCLUDED.epoch",
    )
    .bind(&ticket.shard)
    .bind(&ticket.reservation)
    .bind(&ticket.agent)
    .bind(&ticket.caller_node)
    .bind(&ticket.via)
    .bind(epoch_i64(ticket.epoch))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Deletes the ticket of `reservation` (the offer ended or was assigned),
/// inside the owner's fenced transaction.
///
/// # Errors
/// [`ClusterError::Postgres`].
pub async fn drop_offer_ticket_in(
    conn: &mut PgConnection,
    shard: &str,
    reservation: &str,
) -> Result<(), ClusterError> {
    sqlx::query("DELETE FROM cluster_offers WHERE shard = $1 AND reservation = $2")
        .bind(shard)
        .bind(reservation)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Deletes the tickets of epochs before `epoch` (a new owner's first pass,
/// fenced): their offers are void.
///
/// # Errors
/// [`ClusterError::Postgres`].
pub async fn drop_stale_tickets_in(
    conn: &mut PgConnection,
    shard: &str,
    epoch: u64,
) -> Result<u64, ClusterError> {
    let done = sqlx::query("DELETE FROM cluster_offers WHERE shard = $1 AND epoch < $2")
        .bind(shard)
        .bind(epoch_i64(epoch))
        .execute(&mut *conn)
        .await?;
    Ok(done.rows_affected())
}

/// The node to ring `agent` through for a caller on `caller_node`: `None`
/// when the caller's node can ring the agent itself (a fixed contact —
/// no node ever said it holds the phone — or a phone on the caller's
/// node), else the first node holding the agent's phone that has a live
/// heartbeat (`live`; unknown: the first one).
#[must_use]
pub fn via_for(
    seats: &[Seat],
    agent: &str,
    caller_node: &str,
    live: Option<&HashSet<String>>,
) -> Option<String> {
    let seat = seats
        .iter()
        .find(|s| s.kind == AGENT_SEAT && s.id == agent)?;
    let nodes = seat.reachable_on.as_ref()?;
    if nodes.iter().any(|n| n == caller_node) {
        return None;
    }
    nodes
        .iter()
        .find(|n| live.is_none_or(|l| l.contains(*n)))
        .cloned()
}

/// What the owner knows when it mails an offer: the seats, the nodes with
/// a live heartbeat, the node holding the caller.
pub(crate) struct Relay<'a> {
    pub(crate) seats: &'a [Seat],
    pub(crate) live: Option<&'a HashSet<String>>,
    pub(crate) caller_node: &'a str,
}

impl Relay<'_> {
    /// The owner's side of offers through other nodes, for one mail of a
    /// pass (inside its fenced transaction): an `Offer` whose agent's phone
    /// is on another node gets that node as `via` and a ticket (noted in
    /// `tickets`); the end or the assignment of a ticketed offer deletes its
    /// ticket. Offers without a ticket cost no query.
    ///
    /// # Errors
    /// [`ClusterError::Postgres`].
    pub(crate) async fn ticket_in(
        &self,
        conn: &mut PgConnection,
        fence: &Fence,
        tickets: &mut HashSet<String>,
        mail: &mut Mail,
    ) -> Result<(), ClusterError> {
        match mail {
            Mail::Offer {
                reservation,
                agent,
                via,
                ..
            } => {
                *via = via_for(self.seats, agent.as_str(), self.caller_node, self.live);
                if let Some(v) = via {
                    let ticket = OfferTicket {
                        shard: fence.shard.clone(),
                        reservation: reservation.as_str().to_owned(),
                        agent: agent.as_str().to_owned(),
                        caller_node: self.caller_node.to_owned(),
                        via: v.clone(),
                        epoch: fence.epoch,
                    };
                    issue_offer_ticket_in(conn, &ticket).await?;
                    tickets.insert(ticket.reservation);
                    tracing::debug!(reservation = %reservation, agent = %agent, via = %v,
                        "offer placed through the node holding the agent's phone");
                }
            }
            Mail::OfferEnded { reservation, .. } | Mail::Assigned { reservation, .. }
                if tickets.remove(reservation.as_str()) =>
            {
                drop_offer_ticket_in(conn, &fence.shard, reservation.as_str()).await?;
            }
            _ => {}
        }
        Ok(())
    }
}

/// Why a node refused to ring an agent for another node's caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClaimRefused {
    /// The shard's lease is no longer at the offer's epoch (or expired):
    /// the owner that made the offer is fenced.
    Fenced,
    /// No such ticket for this agent through this node: never written,
    /// already claimed, or deleted since (the offer ended).
    NoTicket,
}

impl ClusterDb {
    /// Claims the ticket of an offer to be placed through `via` (this
    /// node): succeeds once, only while the shard's lease is at `epoch`
    /// (checked with a share lock on the lease row, in the claim's
    /// transaction), and returns the node holding the caller.
    ///
    /// # Errors
    /// [`ClusterError::Postgres`]; the refusal is `Ok(Err(_))`.
    pub async fn claim_offer_ticket(
        &self,
        shard: &str,
        reservation: &str,
        agent: &str,
        via: &str,
        epoch: u64,
    ) -> Result<Result<String, ClaimRefused>, ClusterError> {
        let mut tx = self.pool().begin().await?;
        let lease: Option<i64> = sqlx::query_scalar(
            "SELECT epoch FROM cluster_leases
             WHERE shard = $1 AND epoch = $2 AND expires_at >= clock_timestamp()
             FOR SHARE",
        )
        .bind(shard)
        .bind(epoch_i64(epoch))
        .fetch_optional(&mut *tx)
        .await?;
        if lease.is_none() {
            return Ok(Err(ClaimRefused::Fenced));
        }
        let caller: Option<String> = sqlx::query_scalar(
            "DELETE FROM cluster_offers
             WHERE shard = $1 AND reservation = $2 AND agent = $3 AND via = $4 AND epoch = $5
             RETURNING caller_node",
        )
        .bind(shard)
        .bind(reservation)
        .bind(agent)
        .bind(via)
        .bind(epoch_i64(epoch))
        .fetch_optional(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(caller.ok_or(ClaimRefused::NoTicket))
    }

    /// The tickets of `shard` not claimed yet (for tests and figures).
    ///
    /// # Errors
    /// [`ClusterError::Postgres`].
    pub async fn offer_tickets(&self, shard: &str) -> Result<Vec<OfferTicket>, ClusterError> {
        let rows: Vec<(String, String, String, String, String, i64)> = sqlx::query_as(
            "SELECT shard, reservation, agent, caller_node, via, epoch FROM cluster_offers
             WHERE shard = $1 ORDER BY reservation",
        )
        .bind(shard)
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .into_iter()
            .map(
                |(shard, reservation, agent, caller_node, via, epoch)| OfferTicket {
                    shard,
                    reservation,
                    agent,
                    caller_node,
                    via,
                    epoch: u64::try_from(epoch).unwrap_or(0),
                },
            )
            .collect())
    }
}
