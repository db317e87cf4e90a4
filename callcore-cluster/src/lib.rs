//! # callcore-cluster
//!
//! The foundation of callcore's cloud assembly: several stateless nodes
//! share one PostgreSQL and one Redis, and each routing shard (a tenant by
//! default) is routed by exactly one node at a time.
//!
//! - **Shard leases with fencing** — [`LeaseKeeper`] is a sans-IO state
//!   machine (no tokio, no clock) that asks for a shard's lease row, renews
//!   it every second (TTL 3 s, by the database's clock) and stops acting at
//!   its own conservative deadline measured from when it *sent* the last
//!   successful renewal. [`ClusterDb`] runs its queries; [`LeaseHandle`]
//!   drives it in a tokio task. Every acquisition raises the epoch, and
//!   every routing write checks it in its own transaction
//!   ([`check_fence`], [`ClusterDb::begin_fenced`]), so a stale owner's
//!   write fails.
//! - **Waiting interactions as rows** — [`ClusterDb::enqueue_waiting`]
//!   commits before the caller is told it is queued; a new owner reloads
//!   them in order (priority, enqueue time, sequence) with
//!   [`ClusterDb::load_waiting`] and rebuilds the ACD engine at its epoch
//!   with [`restore_engine`] ([`take_over`] does both, with the agents'
//!   presence).
//! - **Redis presence** — [`Presence`]: agent registrations and states with
//!   TTLs (which node holds each agent's phone), node heartbeats, wallboard
//!   snapshots and pub/sub hints that a shard changed hands.
//!
//! - **Calls per node and node failure** — [`NodeJournal`] records which
//!   node holds each call in progress; [`NodeLiveness`] keeps the node's
//!   row in `cluster_nodes` alive (renewed, epoch per run, the node asks
//!   PostgreSQL before journaling past its deadline); [`close_dead_nodes`]
//!   declares dead the nodes whose row expired and closes their calls as
//!   `node_failure`, each by exactly one survivor (a conditional claim in
//!   PostgreSQL). A lapsed Redis heartbeat closes nothing.
//!
//! - **Routing across nodes** — [`ShardOwner`] runs the shard's engine while
//!   its node holds the lease, fed from PostgreSQL: the waiting rows every
//!   node commits ([`ClusterDb::submit_waiting`]), the seats (queues and
//!   agents declared by any node, [`ClusterDb::put_seat`]) and the nodes'
//!   [`Mail`]; each pass's decisions are mailed to the node holding each
//!   caller in one fenced transaction. The waiting callers of a node
//!   declared dead in PostgreSQL come out as [`Orphan`]s, for a callback.
//!
//! The premise assembly's `[cluster]` section uses all of it
//! (`callcore_premise::cluster_routing`); the `cloud` example runs Kamailio
//! in front of several nodes. See `docs/cloud.md`.
//!
//! ```
//! use callcore_cluster::{LeaseKeeper, LeaseOutput, LeaseQuery, LeaseReply, LeaseTiming};
//! use std::time::{Duration, Instant};
//!
//! // Two nodes contend for the shard of tenant "acme"; the database (here a
//! // reply written by hand) grants it to n1 at epoch 1 and refuses n2.
//! let t0 = Instant::now();
//! let mut n1 = LeaseKeeper::new("acme", "n1", LeaseTiming::default(), t0);
//! let mut n2 = LeaseKeeper::new("acme", "n2", LeaseTiming::default(), t0);
//! n1.handle_timeout(t0);
//! n2.handle_timeout(t0);
//! let Some(LeaseOutput::Query { id: q1, query: LeaseQuery::Acquire }) = n1.poll_output() else {
//!     unreachable!()
//! };
//! let Some(LeaseOutput::Query { id: q2, .. }) = n2.poll_output() else { unreachable!() };
//! n1.handle_reply(q1, LeaseReply::Granted { epoch: 1 }, t0);
//! n2.handle_reply(q2, LeaseReply::Refused, t0);
//! assert_eq!(n1.poll_output(), Some(LeaseOutput::BecameOwner { epoch: 1 }));
//! assert_eq!(n2.owner_at(t0), None);
//!
//! // n1 is paused and misses its renewals: when it runs again after its
//! // deadline it may no longer act, before it has even heard back.
//! let later = t0 + Duration::from_secs(4);
//! assert_eq!(n1.owner_at(later), None);
//! n1.handle_timeout(later);
//! assert!(matches!(n1.poll_output(), Some(LeaseOutput::LostOwnership { epoch: 1, .. })));
//! ```
//!
//! With a database (tokio):
//!
//! ```no_run
//! # async fn demo() -> Result<(), callcore_cluster::ClusterError> {
//! use callcore_cluster::{ClusterDb, LeaseHandle, LeaseTiming};
//! let db = ClusterDb::connect("postgres://postgres@127.0.0.1/callcore", None).await?;
//! let lease = LeaseHandle::spawn(db.clone(), "acme", "n1", LeaseTiming::default())?;
//! if let Some(fence) = lease.fence_now() {
//!     let mut tx = db.begin_fenced(&fence).await?; // fails once another node took over
//!     // … routing writes in `tx` …
//!     tx.commit().await?;
//! }
//! # Ok(()) }
//! ```

mod driver;
mod error;
mod lease;
mod mailbox;
mod node_calls;
mod node_liveness;
mod offer_relay;
mod owner;
mod pg;
mod presence;
mod shard;
mod takeover;

pub use driver::{LeaseHandle, LeaseNudger, Ownership};
pub use error::ClusterError;
pub use lease::{LeaseKeeper, LeaseOutput, LeaseQuery, LeaseReply, LeaseTiming, LossReason};
pub use mailbox::{
    AGENT_SEAT, Letter, Mail, OWNER, QUEUE_SEAT, ROUTING_TOPIC, Seat, move_waiting_in,
    post_mail_in, save_agent_state_in, seats_in, take_mail_in, waiting_with_nodes_in,
};
pub use node_calls::{NodeJournal, SIP_CALL_ID, Sweep, close_dead_nodes, spawn_failure_sweeper};
pub use node_liveness::{Liveness, LivenessDeadline, LivenessTiming, NodeLiveness};
pub use offer_relay::{
    ClaimRefused, OfferTicket, drop_offer_ticket_in, drop_stale_tickets_in, issue_offer_ticket_in,
    via_for,
};
pub use owner::{OWNER_POLL, Orphan, OwnerLinks, OwnerStatus, ShardOwner, decision_of};
pub use pg::{
    ClusterDb, Fence, LeaseRow, STALLED_TRANSACTION_LIMIT, WaitingRow, check_fence,
    enqueue_waiting_in, remove_waiting_in,
};
pub use presence::{
    AgentPresence, HintSubscription, NodeHeartbeat, Presence, ShardHint, TopicSubscription,
    relay_hints, spawn_heartbeat,
};
pub use shard::{ShardSetup, take_over};
pub use takeover::{AgentSeat, RESTORING_REASON, Restored, restore_engine, seats_from_presence};
