//! Tokio glue: runs a [`LeaseKeeper`] against [`ClusterDb`] in a task and
//! tells the node, through a [`LeaseHandle`], whether it may route the
//! shard.
//!
//! Queries run in tasks of their own (each bounded by the keeper's query
//! timeout), so the keeper's deadline is honoured even while the database is
//! slow. The owner renews every second and contenders poll every half
//! second: each node re-reads the lease row at least once a second, so a
//! lost pub/sub hint costs at most one poll.

use crate::{
    ClusterDb, Fence, LeaseKeeper, LeaseOutput, LeaseQuery, LeaseReply, LeaseTiming, LossReason,
};
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::{mpsc, watch};

/// The node's monotonic clock. Lease deadlines are measured with it, not
/// with `callcore::Clock` (wall time, which can jump): the whole safety
/// argument rests on durations measured on one monotonic clock.
#[allow(clippy::disallowed_methods)] // the lease glue is where monotonic time enters the keeper
fn monotonic_now() -> Instant {
    Instant::now()
}

#[allow(clippy::disallowed_methods)] // the glue owns the keeper's timer (monotonic, see above)
async fn sleep_until_monotonic(due: Instant) {
    tokio::time::sleep_until(due.into()).await;
}

/// Whether this node may route a shard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Ownership {
    /// Another node routes it (or nobody yet).
    NotOwner {
        /// The epoch last held by this node, with why it was lost.
        lost: Option<(u64, LossReason)>,
    },
    /// This node routes it at `epoch` until `valid_until` unless renewed.
    Owner {
        /// The fencing epoch.
        epoch: u64,
        /// This node's conservative deadline (local monotonic clock).
        valid_until: Instant,
    },
}

#[derive(Debug)]
enum Command {
    Hint,
    Fenced(u64),
    Release(tokio::sync::oneshot::Sender<()>),
}

/// A running lease for one shard on one node.
#[derive(Debug)]
pub struct LeaseHandle {
    shard: Arc<str>,
    node: Arc<str>,
    state: watch::Receiver<Ownership>,
    commands: mpsc::UnboundedSender<Command>,
}

impl LeaseHandle {
    /// Starts contending for `shard` as `node` (must be called inside a
    /// tokio runtime).
    ///
    /// # Errors
    /// [`crate::ClusterError::Invalid`] for unusable timing.
    pub fn spawn(
        db: ClusterDb,
        shard: &str,
        node: &str,
        timing: LeaseTiming,
    ) -> Result<Self, crate::ClusterError> {
        timing.validate()?;
        let keeper = LeaseKeeper::new(shard, node, timing, monotonic_now());
        let (tx, rx) = watch::channel(Ownership::NotOwner { lost: None });
        let (ctx, crx) = mpsc::unbounded_channel();
        tokio::spawn(run(db, keeper, tx, crx));
        Ok(Self {
            shard: shard.into(),
            node: node.into(),
            state: rx,
            commands: ctx,
        })
    }

    /// The ownership as last reported by the keeper.
    #[must_use]
    pub fn ownership(&self) -> Ownership {
        *self.state.borrow()
    }

    /// The fence for a routing write now, or `None` when this node may not
    /// route the shard: checks the deadline against the clock itself, so a
    /// node resumed after a pause gets `None` before the keeper has even run.
    #[must_use]
    pub fn fence_now(&self) -> Option<Fence> {
        match *self.state.borrow() {
            Ownership::Owner { epoch, valid_until } if monotonic_now() < valid_until => {
                Some(Fence::new(&*self.shard, &*self.node, epoch))
            }
            _ => None,
        }
    }

    /// Waits until this node becomes or stops being the owner (not for
    /// renewals); `false` when the keeper stopped.
    pub async fn changed(&mut self) -> bool {
        self.state.changed().await.is_ok()
    }

    /// A hint (pub/sub) that the shard changed hands: ask now.
    pub fn hint(&self) {
        let _ = self.commands.send(Command::Hint);
    }

    /// A cheap handle that passes hints to this lease from another task
    /// (see [`crate::relay_hints`]).
    #[must_use]
    pub fn nudger(&self) -> LeaseNudger {
        LeaseNudger {
            shard: self.shard.clone(),
            commands: self.commands.clone(),
        }
    }

    /// A write fenced at `epoch` was refused: stop acting at that epoch.
    pub fn report_fenced(&self, epoch: u64) {
        let _ = self.commands.send(Command::Fenced(epoch));
    }

    /// Gives the shard up and stops contending; returns once the release
    /// was written (or failed).
    pub async fn release(self) {
        let (tx, rx) = tokio::sync::oneshot::channel();
        if self.commands.send(Command::Release(tx)).is_ok() {
            let _ = rx.await;
        }
    }
}

/// Passes shard hints to one [`LeaseHandle`] (clone it freely).
#[derive(Debug, Clone)]
pub struct LeaseNudger {
    shard: Arc<str>,
    commands: mpsc::UnboundedSender<Command>,
}

impl LeaseNudger {
    /// The shard of the lease.
    #[must_use]
    pub fn shard(&self) -> &str {
        &self.shard
    }

    /// Makes the lease ask now if it does not hold the shard; `false` once
    /// the lease has stopped.
    pub fn nudge(&self) -> bool {
        self.commands.send(Command::Hint).is_ok()
    }
}

async fn run(
    db: ClusterDb,
    mut keeper: LeaseKeeper,
    state: watch::Sender<Ownership>,
    mut commands: mpsc::UnboundedReceiver<Command>,
) {
    let timing = keeper.timing();
    let shard: Arc<str> = keeper.shard().into();
    let node: Arc<str> = keeper.node().into();
    let (reply_tx, mut replies) = mpsc::unbounded_channel::<(u64, LeaseReply)>();
    let mut done: Option<tokio::sync::oneshot::Sender<()>> = None;
    loop {
        while let Some(out) = keeper.poll_output() {
            match out {
                LeaseOutput::Query { id, query } => {
                    let (db, shard, node, tx) =
                        (db.clone(), shard.clone(), node.clone(), reply_tx.clone());
                    let run = async move {
                        let reply = tokio::time::timeout(
                            timing.query_timeout,
                            db.run_lease_query(&shard, &node, query, &timing),
                        )
                        .await
                        .unwrap_or(LeaseReply::Failed);
                        let _ = tx.send((id, reply));
                    };
                    if matches!(query, LeaseQuery::Release { .. }) {
                        run.await;
                    } else {
                        tokio::spawn(run);
                    }
                }
                LeaseOutput::BecameOwner { epoch } => {
                    if let Some(valid_until) = keeper.valid_until() {
                        state.send_replace(Ownership::Owner { epoch, valid_until });
                    }
                }
                LeaseOutput::LostOwnership { epoch, reason } => {
                    state.send_replace(Ownership::NotOwner {
                        lost: Some((epoch, reason)),
                    });
                }
            }
        }
        // Renewals move the deadline without an output, and without waking
        // `changed()` (it reports changes of owner only).
        if let Some(v) = keeper.valid_until() {
            state.send_if_modified(|current| {
                if let Ownership::Owner { valid_until, .. } = current {
                    *valid_until = v;
                }
                false
            });
        }
        if let Some(tx) = done.take() {
            let _ = tx.send(());
            return;
        }
        let Some(due) = keeper.poll_timeout() else {
            return;
        };
        tokio::select! {
            () = sleep_until_monotonic(due) => keeper.handle_timeout(monotonic_now()),
            Some((id, reply)) = replies.recv() => keeper.handle_reply(id, reply, monotonic_now()),
            cmd = commands.recv() => match cmd {
                Some(Command::Hint) => {
                    keeper.handle_hint(monotonic_now());
                    keeper.handle_timeout(monotonic_now());
                }
                Some(Command::Fenced(epoch)) => keeper.handle_fenced(epoch, monotonic_now()),
                Some(Command::Release(tx)) => {
                    keeper.release(monotonic_now());
                    done = Some(tx);
                }
                None => {
                    keeper.release(monotonic_now());
                }
            },
        }
    }
}
