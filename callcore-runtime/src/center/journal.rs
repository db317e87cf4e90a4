//! The journal path's figures, for metrics and health checks.

use super::CenterHandle;
use crate::JournalStatus;

impl CenterHandle {
    /// How the journal keeps up: the recorder's queue and overflow, events
    /// journaled, store writes retried, and whether the store is failing now
    /// (see [`JournalStatus`]).
    #[must_use]
    pub fn journal_status(&self) -> JournalStatus {
        self.shared.emitter.status()
    }
}
