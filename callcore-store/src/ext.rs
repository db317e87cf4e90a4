//! What the stores offer beyond callcore's store traits: customer identity
//! merge, leads due for dialing, per-tenant usage for billing, and reading the
//! journal by kind (for reports).

use crate::StoreError;
use async_trait::async_trait;
use callcore::{
    CampaignId, Channel, CustomerId, CustomerProfile, Event, EventKind, InteractionRecord, Lead,
    TenantId, Timestamp,
};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// A tenant's usage over a period, for billing.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TenantUsage {
    /// The tenant.
    pub tenant: TenantId,
    /// Start of the period (inclusive).
    pub from: Timestamp,
    /// End of the period (exclusive).
    pub to: Timestamp,
    /// Interactions that arrived in the period, per channel (`"voice"`, `"chat"`).
    pub interactions: BTreeMap<String, u64>,
    /// Billed voice minutes: each voice interaction that arrived in the period
    /// and has ended, from arrival to end, rounded up to whole minutes.
    pub voice_minutes: u64,
    /// Seats: distinct agents seen logged in during the period (an agent state
    /// change from or to a logged-in state).
    pub seats: u64,
    /// Recordings completed in the period.
    pub recordings: u64,
    /// Their total length, in seconds (rounded up).
    pub recording_seconds: u64,
    /// Speech recognition seconds (the `asr_seconds` meter).
    pub asr_seconds: f64,
    /// Every `usage` meter reported in the period, summed.
    pub meters: BTreeMap<String, f64>,
}

/// Folds usage from a tenant's usage-related events and interaction records.
pub(crate) fn fold_usage(
    tenant: &TenantId,
    from: Timestamp,
    to: Timestamp,
    events: &[Event],
    records: &[InteractionRecord],
) -> TenantUsage {
    let mut usage = TenantUsage {
        tenant: tenant.clone(),
        from,
        to,
        ..TenantUsage::default()
    };
    let mut seats = BTreeSet::new();
    for e in events {
        match &e.kind {
            EventKind::Usage {
                meter, quantity, ..
            } => {
                *usage.meters.entry(meter.clone()).or_default() += quantity;
            }
            EventKind::RecordingStopped { duration_ms, .. } => {
                usage.recordings += 1;
                usage.recording_seconds += duration_ms.div_ceil(1000);
            }
            EventKind::AgentStateChanged { agent, from, to }
                if from.is_logged_in() || to.is_logged_in() =>
            {
                seats.insert(agent.clone());
            }
            _ => {}
        }
    }
    usage.seats = seats.len() as u64;
    usage.asr_seconds = usage.meters.get("asr_seconds").copied().unwrap_or(0.0);
    for r in records {
        *usage
            .interactions
            .entry(r.channel.as_str().to_owned())
            .or_default() += 1;
        if r.channel == Channel::Voice
            && let Some(end) = r.ended_at
        {
            let ms =
                u64::try_from(end.duration_since(r.created_at).as_millis()).unwrap_or(u64::MAX);
            usage.voice_minutes += ms.div_ceil(60_000);
        }
    }
    usage
}

/// The profile that results from merging `absorbed` into `kept`: identities,
/// tags and open business are united; `kept`'s name, preferences and last agent
/// win where both have one; VIP if either is.
#[must_use]
pub fn merge_profiles(kept: &CustomerProfile, absorbed: &CustomerProfile) -> CustomerProfile {
    kept.merged_with(absorbed)
}

/// Operations beyond callcore's store traits, implemented by both backends.
#[async_trait]
pub trait StoreExt: Send + Sync {
    /// The schema version the database is at.
    async fn schema_version(&self) -> Result<i64, StoreError>;

    /// A tenant's events with `from <= at < to` whose kind (the serde tag,
    /// `"queued"`) is one of `kinds`, in journal order.
    async fn events_of_kinds(
        &self,
        tenant: &TenantId,
        from: Timestamp,
        to: Timestamp,
        kinds: &[&str],
    ) -> Result<Vec<Event>, StoreError>;

    /// Merges customer `absorbed` into `kept` in one transaction: the merged
    /// profile (see [`merge_profiles`]) replaces `kept`, `absorbed`'s
    /// identities and interaction history move to `kept`, and `absorbed` is
    /// deleted. Returns the merged profile.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] when either profile is missing in the tenant;
    /// [`StoreError::Invalid`] when both ids are the same.
    async fn merge_customers(
        &self,
        tenant: &TenantId,
        kept: &CustomerId,
        absorbed: &CustomerId,
    ) -> Result<CustomerProfile, StoreError>;

    /// Up to `limit` pending leads of a campaign whose next attempt is due at
    /// `now` (never tried first, then by due time, then by id).
    async fn leads_due(
        &self,
        tenant: &TenantId,
        campaign: &CampaignId,
        now: Timestamp,
        limit: usize,
    ) -> Result<Vec<Lead>, StoreError>;

    /// Interaction records created in `from <= created_at < to` (as
    /// [`callcore::InteractionStore::between`], with this crate's error).
    async fn records_between(
        &self,
        tenant: &TenantId,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<InteractionRecord>, StoreError>;

    /// A tenant's usage in `from <= t < to`, for billing.
    async fn usage(
        &self,
        tenant: &TenantId,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<TenantUsage, StoreError> {
        let events = self
            .events_of_kinds(tenant, from, to, crate::codec::USAGE_KINDS)
            .await?;
        let records = self.records_between(tenant, from, to).await?;
        Ok(fold_usage(tenant, from, to, &events, &records))
    }
}

pub(crate) fn check_limit(limit: usize) -> Result<i64, StoreError> {
    i64::try_from(limit).map_err(|_| StoreError::Invalid {
        field: "limit",
        reason: format!("{limit} is too large"),
    })
}
