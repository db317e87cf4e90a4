//! Store ports and their in-memory implementations.
//!
//! Every method is scoped by tenant: no query crosses tenants. `callcore-store`
//! implements these traits on SQLite and PostgreSQL; [`MemoryStore`] implements
//! them all in memory, for tests and demos.

mod memory;
mod record;

pub use memory::MemoryStore;
pub use record::InteractionRecord;

use crate::{
    Campaign, CampaignId, CoreError, CustomerId, CustomerProfile, DialAttempt, Event, IdentityKind,
    InteractionId, Lead, RecordingId, TenantId, Timestamp,
};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// The append-only journal of events.
#[async_trait]
pub trait EventJournal: Send + Sync {
    /// Appends events in order (a batch is written atomically where the backend
    /// allows).
    async fn append(&self, events: &[Event]) -> Result<(), CoreError>;

    /// One interaction's events, in order.
    async fn for_interaction(
        &self,
        tenant: &TenantId,
        interaction: &InteractionId,
    ) -> Result<Vec<Event>, CoreError>;

    /// A tenant's events with `from <= at < to`, in order.
    async fn between(
        &self,
        tenant: &TenantId,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<Event>, CoreError>;

    /// The tenant's interactions whose start (`InteractionCreated`) is
    /// journaled but no end (`Ended`), among those that started at most
    /// `window` before the tenant's last journaled event; in journal order.
    ///
    /// A center asks at start for the calls a crash interrupted, to close
    /// them (see `EndReason::Interrupted`). The window keeps the question
    /// cheap on a long journal; it is measured from the journal's end, not
    /// from now, so a center down for days still finds them. The default
    /// answers none, for journals that cannot tell.
    async fn unended(
        &self,
        tenant: &TenantId,
        window: std::time::Duration,
    ) -> Result<Vec<InteractionId>, CoreError> {
        let _ = (tenant, window);
        Ok(Vec::new())
    }
}

/// The interactions of `events` (one tenant's, in journal order) that
/// started at most `window` before the last event and never ended: the
/// in-memory form of [`EventJournal::unended`].
#[must_use]
pub fn unended_in(events: &[Event], window: std::time::Duration) -> Vec<InteractionId> {
    let Some(last) = events.iter().map(|e| e.at).max() else {
        return Vec::new();
    };
    let ended: std::collections::HashSet<&InteractionId> = events
        .iter()
        .filter_map(|e| match &e.kind {
            crate::EventKind::Ended { interaction, .. } => Some(interaction),
            _ => None,
        })
        .collect();
    events
        .iter()
        .filter_map(|e| match &e.kind {
            crate::EventKind::InteractionCreated { interaction }
                if last.duration_since(e.at) <= window && !ended.contains(&interaction.id) =>
            {
                Some(interaction.id.clone())
            }
            _ => None,
        })
        .collect()
}

/// Call detail records.
#[async_trait]
pub trait InteractionStore: Send + Sync {
    /// Inserts or replaces a record.
    async fn save(&self, record: &InteractionRecord) -> Result<(), CoreError>;

    /// One record.
    async fn get(
        &self,
        tenant: &TenantId,
        id: &InteractionId,
    ) -> Result<Option<InteractionRecord>, CoreError>;

    /// A customer's history across channels, oldest first.
    async fn for_customer(
        &self,
        tenant: &TenantId,
        customer: &CustomerId,
    ) -> Result<Vec<InteractionRecord>, CoreError>;

    /// Records created in `from <= created_at < to`, oldest first.
    async fn between(
        &self,
        tenant: &TenantId,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<InteractionRecord>, CoreError>;
}

/// Customer profiles.
#[async_trait]
pub trait CustomerStore: Send + Sync {
    /// Inserts or replaces a profile.
    async fn save(&self, profile: &CustomerProfile) -> Result<(), CoreError>;

    /// One profile.
    async fn get(
        &self,
        tenant: &TenantId,
        id: &CustomerId,
    ) -> Result<Option<CustomerProfile>, CoreError>;

    /// The profile known by this address (caller number, e-mail, chat id).
    async fn find_by_identity(
        &self,
        tenant: &TenantId,
        kind: IdentityKind,
        value: &str,
    ) -> Result<Option<CustomerProfile>, CoreError>;

    /// Merges customer `absorbed` into `kept` at once: the merged profile
    /// ([`CustomerProfile::merged_with`]) replaces `kept`, `absorbed`'s
    /// identities and interaction history move to `kept`, and `absorbed` is
    /// gone. Returns the merged profile.
    ///
    /// # Errors
    /// [`CoreError::NotFound`] when either profile is missing in the tenant;
    /// [`CoreError::Unsupported`] from a store that cannot merge (the
    /// default).
    async fn merge(
        &self,
        tenant: &TenantId,
        kept: &CustomerId,
        absorbed: &CustomerId,
    ) -> Result<CustomerProfile, CoreError> {
        let _ = (tenant, kept, absorbed);
        Err(CoreError::Unsupported("this customer store cannot merge"))
    }

    /// Undoes the last merge of `absorbed` into `kept` (what [`merge`](Self::merge)
    /// kept of it, a [`MergeUndo`](crate::MergeUndo)): `absorbed` is back as it was, with its
    /// identities and the interaction records that moved (those still
    /// `kept`'s); `kept` becomes
    /// [`MergeUndo::kept_restored`](crate::MergeUndo::kept_restored) of itself.
    /// Returns both profiles and the records given back.
    ///
    /// # Errors
    /// [`CoreError::NotFound`] (`merge`) when no such merge is kept, (`customer`)
    /// when `kept` is gone; [`CoreError::AlreadyExists`] when a profile
    /// `absorbed` exists again; [`CoreError::Unsupported`] from a store that
    /// cannot (the default).
    async fn unmerge(
        &self,
        tenant: &TenantId,
        kept: &CustomerId,
        absorbed: &CustomerId,
    ) -> Result<crate::Unmerged, CoreError> {
        let _ = (tenant, kept, absorbed);
        Err(CoreError::Unsupported(
            "this customer store cannot undo a merge",
        ))
    }
}

/// "No merge of `absorbed` into `kept` is kept", the same in every store.
#[must_use]
pub fn no_merge(kept: &CustomerId, absorbed: &CustomerId) -> CoreError {
    CoreError::NotFound {
        what: "merge",
        id: format!("{absorbed} into {kept}"),
    }
}

/// Refuses a merge of a customer into itself, the same way in every
/// [`CustomerStore`] (memory, SQLite, PostgreSQL).
///
/// # Errors
/// [`CoreError::InvalidState`] when `kept` and `absorbed` are one profile.
pub fn check_merge(kept: &CustomerId, absorbed: &CustomerId) -> Result<(), CoreError> {
    if kept == absorbed {
        return Err(CoreError::InvalidState {
            action: "merge",
            state: "a customer cannot be merged into itself".into(),
        });
    }
    Ok(())
}

/// Metadata of one recording (the audio itself is a file).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordingMeta {
    /// Its id.
    pub id: RecordingId,
    /// Its tenant.
    pub tenant: TenantId,
    /// The interaction recorded.
    pub interaction: InteractionId,
    /// Where the file is.
    pub path: String,
    /// Audio channels (1 mixed, 2 caller-left/agent-right).
    pub channels: u8,
    /// When recording started.
    pub started_at: Timestamp,
    /// Length.
    pub duration_ms: u64,
}

/// The recordings index.
#[async_trait]
pub trait RecordingStore: Send + Sync {
    /// Inserts or replaces a recording's metadata.
    async fn save(&self, meta: &RecordingMeta) -> Result<(), CoreError>;

    /// One recording.
    async fn get(
        &self,
        tenant: &TenantId,
        id: &RecordingId,
    ) -> Result<Option<RecordingMeta>, CoreError>;

    /// An interaction's recordings.
    async fn for_interaction(
        &self,
        tenant: &TenantId,
        interaction: &InteractionId,
    ) -> Result<Vec<RecordingMeta>, CoreError>;
}

/// Campaigns, leads and dial attempts.
#[async_trait]
pub trait CampaignStore: Send + Sync {
    /// Inserts or replaces a campaign.
    async fn save_campaign(&self, campaign: &Campaign) -> Result<(), CoreError>;

    /// One campaign.
    async fn campaign(
        &self,
        tenant: &TenantId,
        id: &CampaignId,
    ) -> Result<Option<Campaign>, CoreError>;

    /// Inserts or replaces leads.
    async fn save_leads(&self, leads: &[Lead]) -> Result<(), CoreError>;

    /// A campaign's leads.
    async fn leads(&self, tenant: &TenantId, campaign: &CampaignId)
    -> Result<Vec<Lead>, CoreError>;

    /// Records one dial attempt.
    async fn record_attempt(&self, attempt: &DialAttempt) -> Result<(), CoreError>;

    /// A campaign's attempts, in order.
    async fn attempts(
        &self,
        tenant: &TenantId,
        campaign: &CampaignId,
    ) -> Result<Vec<DialAttempt>, CoreError>;
}

/// The stores a center uses.
#[derive(Clone)]
pub struct Stores {
    /// The event journal.
    pub events: Arc<dyn EventJournal>,
    /// Interaction records.
    pub interactions: Arc<dyn InteractionStore>,
    /// Customer profiles.
    pub customers: Arc<dyn CustomerStore>,
    /// Recordings index.
    pub recordings: Arc<dyn RecordingStore>,
    /// Campaigns.
    pub campaigns: Arc<dyn CampaignStore>,
}

impl std::fmt::Debug for Stores {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stores").finish_non_exhaustive()
    }
}

impl Stores {
    /// Every store in one [`MemoryStore`].
    #[must_use]
    pub fn in_memory() -> Self {
        Self::all_in(Arc::new(MemoryStore::default()))
    }

    /// Every store served by one backend that implements them all.
    pub fn all_in<S>(store: Arc<S>) -> Self
    where
        S: EventJournal
            + InteractionStore
            + CustomerStore
            + RecordingStore
            + CampaignStore
            + 'static,
    {
        Self {
            events: store.clone(),
            interactions: store.clone(),
            customers: store.clone(),
            recordings: store.clone(),
            campaigns: store,
        }
    }
}
