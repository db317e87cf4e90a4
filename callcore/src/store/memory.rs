use super::{
    CampaignStore, CustomerStore, EventJournal, InteractionRecord, InteractionStore, RecordingMeta,
    RecordingStore,
};
use crate::{
    Campaign, CampaignId, CoreError, CustomerId, CustomerProfile, DialAttempt, Event, IdentityKind,
    InteractionId, Lead, LeadId, RecordingId, TenantId, Timestamp,
};
use async_trait::async_trait;
use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};

#[derive(Debug, Default)]
struct Data {
    events: Vec<Event>,
    interactions: BTreeMap<(TenantId, InteractionId), InteractionRecord>,
    customers: BTreeMap<(TenantId, CustomerId), CustomerProfile>,
    recordings: BTreeMap<(TenantId, RecordingId), RecordingMeta>,
    campaigns: BTreeMap<(TenantId, CampaignId), Campaign>,
    leads: BTreeMap<(TenantId, CampaignId, LeadId), Lead>,
    attempts: Vec<DialAttempt>,
    merges: BTreeMap<(TenantId, CustomerId, CustomerId), crate::MergeUndo>,
}

/// Every store, in memory: for tests, examples and the simulator. Nothing
/// survives the process.
#[derive(Debug, Default)]
pub struct MemoryStore {
    data: Mutex<Data>,
}

impl MemoryStore {
    fn lock(&self) -> MutexGuard<'_, Data> {
        self.data
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Every event journaled so far, in order (all tenants).
    #[must_use]
    pub fn all_events(&self) -> Vec<Event> {
        self.lock().events.clone()
    }
}

#[async_trait]
impl EventJournal for MemoryStore {
    async fn append(&self, events: &[Event]) -> Result<(), CoreError> {
        self.lock().events.extend_from_slice(events);
        Ok(())
    }

    async fn for_interaction(
        &self,
        tenant: &TenantId,
        interaction: &InteractionId,
    ) -> Result<Vec<Event>, CoreError> {
        Ok(self
            .lock()
            .events
            .iter()
            .filter(|e| &e.tenant == tenant && e.interaction() == Some(interaction))
            .cloned()
            .collect())
    }

    async fn between(
        &self,
        tenant: &TenantId,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<Event>, CoreError> {
        Ok(self
            .lock()
            .events
            .iter()
            .filter(|e| &e.tenant == tenant && e.at >= from && e.at < to)
            .cloned()
            .collect())
    }

    async fn unended(
        &self,
        tenant: &TenantId,
        window: std::time::Duration,
    ) -> Result<Vec<InteractionId>, CoreError> {
        let events: Vec<Event> = self
            .lock()
            .events
            .iter()
            .filter(|e| &e.tenant == tenant)
            .cloned()
            .collect();
        Ok(super::unended_in(&events, window))
    }
}

#[async_trait]
impl InteractionStore for MemoryStore {
    async fn save(&self, record: &InteractionRecord) -> Result<(), CoreError> {
        self.lock()
            .interactions
            .insert((record.tenant.clone(), record.id.clone()), record.clone());
        Ok(())
    }

    async fn get(
        &self,
        tenant: &TenantId,
        id: &InteractionId,
    ) -> Result<Option<InteractionRecord>, CoreError> {
        Ok(self
            .lock()
            .interactions
            .get(&(tenant.clone(), id.clone()))
            .cloned())
    }

    async fn for_customer(
        &self,
        tenant: &TenantId,
        customer: &CustomerId,
    ) -> Result<Vec<InteractionRecord>, CoreError> {
        let mut out: Vec<_> = self
            .lock()
            .interactions
            .values()
            .filter(|r| &r.tenant == tenant && r.customer.as_ref() == Some(customer))
            .cloned()
            .collect();
        out.sort_by_key(|r| r.created_at);
        Ok(out)
    }

    async fn between(
        &self,
        tenant: &TenantId,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<InteractionRecord>, CoreError> {
        let mut out: Vec<_> = self
            .lock()
            .interactions
            .values()
            .filter(|r| &r.tenant == tenant && r.created_at >= from && r.created_at < to)
            .cloned()
            .collect();
        out.sort_by_key(|r| r.created_at);
        Ok(out)
    }
}

#[async_trait]
impl CustomerStore for MemoryStore {
    async fn save(&self, profile: &CustomerProfile) -> Result<(), CoreError> {
        self.lock().customers.insert(
            (profile.tenant.clone(), profile.id.clone()),
            profile.clone(),
        );
        Ok(())
    }

    async fn get(
        &self,
        tenant: &TenantId,
        id: &CustomerId,
    ) -> Result<Option<CustomerProfile>, CoreError> {
        Ok(self
            .lock()
            .customers
            .get(&(tenant.clone(), id.clone()))
            .cloned())
    }

    async fn find_by_identity(
        &self,
        tenant: &TenantId,
        kind: IdentityKind,
        value: &str,
    ) -> Result<Option<CustomerProfile>, CoreError> {
        Ok(self
            .lock()
            .customers
            .values()
            .find(|c| &c.tenant == tenant && c.has_identity(kind, value))
            .cloned())
    }

    async fn merge(
        &self,
        tenant: &TenantId,
        kept: &CustomerId,
        absorbed: &CustomerId,
    ) -> Result<CustomerProfile, CoreError> {
        let missing = |id: &CustomerId| CoreError::NotFound {
            what: "customer",
            id: id.to_string(),
        };
        super::check_merge(kept, absorbed)?;
        let mut st = self.lock();
        let keep = st
            .customers
            .get(&(tenant.clone(), kept.clone()))
            .cloned()
            .ok_or_else(|| missing(kept))?;
        let gone = st
            .customers
            .remove(&(tenant.clone(), absorbed.clone()))
            .ok_or_else(|| missing(absorbed))?;
        let merged = keep.merged_with(&gone);
        st.customers
            .insert((tenant.clone(), kept.clone()), merged.clone());
        let mut moved = Vec::new();
        for r in st.interactions.values_mut() {
            if &r.tenant == tenant && r.customer.as_ref() == Some(absorbed) {
                r.customer = Some(kept.clone());
                moved.push(r.id.clone());
            }
        }
        st.merges.insert(
            (tenant.clone(), kept.clone(), absorbed.clone()),
            crate::MergeUndo {
                kept_before: keep,
                absorbed: gone,
                moved,
            },
        );
        Ok(merged)
    }

    async fn unmerge(
        &self,
        tenant: &TenantId,
        kept: &CustomerId,
        absorbed: &CustomerId,
    ) -> Result<crate::Unmerged, CoreError> {
        let mut st = self.lock();
        let key = (tenant.clone(), kept.clone(), absorbed.clone());
        let undo = st
            .merges
            .get(&key)
            .cloned()
            .ok_or_else(|| super::no_merge(kept, absorbed))?;
        let current = st
            .customers
            .get(&(tenant.clone(), kept.clone()))
            .cloned()
            .ok_or_else(|| CoreError::NotFound {
                what: "customer",
                id: kept.to_string(),
            })?;
        if st
            .customers
            .contains_key(&(tenant.clone(), absorbed.clone()))
        {
            return Err(CoreError::AlreadyExists {
                what: "customer",
                id: absorbed.to_string(),
            });
        }
        let restored = undo.kept_restored(&current);
        st.customers
            .insert((tenant.clone(), kept.clone()), restored.clone());
        st.customers
            .insert((tenant.clone(), absorbed.clone()), undo.absorbed.clone());
        let mut given = Vec::new();
        for id in &undo.moved {
            if let Some(r) = st.interactions.get_mut(&(tenant.clone(), id.clone()))
                && r.customer.as_ref() == Some(kept)
            {
                r.customer = Some(absorbed.clone());
                given.push(id.clone());
            }
        }
        st.merges.remove(&key);
        Ok(crate::Unmerged {
            kept: restored,
            absorbed: undo.absorbed,
            interactions: given,
        })
    }
}

#[async_trait]
impl RecordingStore for MemoryStore {
    async fn save(&self, meta: &RecordingMeta) -> Result<(), CoreError> {
        self.lock()
            .recordings
            .insert((meta.tenant.clone(), meta.id.clone()), meta.clone());
        Ok(())
    }

    async fn get(
        &self,
        tenant: &TenantId,
        id: &RecordingId,
    ) -> Result<Option<RecordingMeta>, CoreError> {
        Ok(self
            .lock()
            .recordings
            .get(&(tenant.clone(), id.clone()))
            .cloned())
    }

    async fn for_interaction(
        &self,
        tenant: &TenantId,
        interaction: &InteractionId,
    ) -> Result<Vec<RecordingMeta>, CoreError> {
        Ok(self
            .lock()
            .recordings
            .values()
            .filter(|r| &r.tenant == tenant && &r.interaction == interaction)
            .cloned()
            .collect())
    }
}

#[async_trait]
impl CampaignStore for MemoryStore {
    async fn save_campaign(&self, campaign: &Campaign) -> Result<(), CoreError> {
        self.lock().campaigns.insert(
            (campaign.tenant.clone(), campaign.id.clone()),
            campaign.clone(),
        );
        Ok(())
    }

    async fn campaign(
        &self,
        tenant: &TenantId,
        id: &CampaignId,
    ) -> Result<Option<Campaign>, CoreError> {
        Ok(self
            .lock()
            .campaigns
            .get(&(tenant.clone(), id.clone()))
            .cloned())
    }

    async fn save_leads(&self, leads: &[Lead]) -> Result<(), CoreError> {
        let mut data = self.lock();
        for lead in leads {
            data.leads.insert(
                (lead.tenant.clone(), lead.campaign.clone(), lead.id.clone()),
                lead.clone(),
            );
        }
        Ok(())
    }

    async fn leads(
        &self,
        tenant: &TenantId,
        campaign: &CampaignId,
    ) -> Result<Vec<Lead>, CoreError> {
        Ok(self
            .lock()
            .leads
            .values()
            .filter(|l| &l.tenant == tenant && &l.campaign == campaign)
            .cloned()
            .collect())
    }

    async fn record_attempt(&self, attempt: &DialAttempt) -> Result<(), CoreError> {
        self.lock().attempts.push(attempt.clone());
        Ok(())
    }

    async fn attempts(
        &self,
        tenant: &TenantId,
        campaign: &CampaignId,
    ) -> Result<Vec<DialAttempt>, CoreError> {
        Ok(self
            .lock()
            .attempts
            .iter()
            .filter(|a| &a.tenant == tenant && &a.campaign == campaign)
            .cloned()
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Identity, Pii};

    #[tokio::test]
    async fn customers_are_found_by_identity_within_their_tenant_only() {
        let store = MemoryStore::default();
        let profile = CustomerProfile {
            id: "c1".into(),
            tenant: "bank".into(),
            identities: vec![Identity {
                kind: IdentityKind::Phone,
                value: Pii::new("+4930111".to_owned()),
            }],
            ..CustomerProfile::default()
        };
        CustomerStore::save(&store, &profile).await.unwrap();
        let found = store
            .find_by_identity(&"bank".into(), IdentityKind::Phone, "+4930111")
            .await
            .unwrap();
        assert_eq!(found.unwrap().id.as_str(), "c1");
        let other_tenant = store
            .find_by_identity(&"telco".into(), IdentityKind::Phone, "+4930111")
            .await
            .unwrap();
        assert!(other_tenant.is_none());
    }

    #[tokio::test]
    async fn a_merge_is_undone_with_the_history_that_moved() {
        let store = MemoryStore::default();
        let t: TenantId = "bank".into();
        let mut ann = CustomerProfile {
            id: "ann".into(),
            tenant: t.clone(),
            ..CustomerProfile::default()
        };
        ann.add_identity(IdentityKind::Email, "ann@example.org");
        let mut phone = CustomerProfile {
            id: "phone".into(),
            tenant: t.clone(),
            ..CustomerProfile::default()
        };
        phone.add_identity(IdentityKind::Phone, "+4930111");
        CustomerStore::save(&store, &ann).await.unwrap();
        CustomerStore::save(&store, &phone).await.unwrap();
        let mut sms = InteractionRecord::new(&crate::Interaction::new(
            "sms-1".into(),
            t.clone(),
            crate::Channel::Sms,
            crate::Direction::Inbound,
            "+4930111",
            "12345",
            Timestamp::from_millis(0),
        ));
        sms.customer = Some("phone".into());
        InteractionStore::save(&store, &sms).await.unwrap();
        let none = store
            .unmerge(&t, &"ann".into(), &"phone".into())
            .await
            .unwrap_err();
        assert!(matches!(none, CoreError::NotFound { what: "merge", .. }));
        store
            .merge(&t, &"ann".into(), &"phone".into())
            .await
            .unwrap();
        assert_eq!(
            store.for_customer(&t, &"ann".into()).await.unwrap().len(),
            1
        );
        let undone = store
            .unmerge(&t, &"ann".into(), &"phone".into())
            .await
            .unwrap();
        assert_eq!(undone.kept, ann);
        assert_eq!(undone.absorbed, phone);
        assert_eq!(undone.interactions, ["sms-1".into()]);
        let back = store.for_customer(&t, &"phone".into()).await.unwrap();
        assert_eq!(back.len(), 1);
        let found = store
            .find_by_identity(&t, IdentityKind::Phone, "+4930111")
            .await
            .unwrap();
        assert_eq!(found.map(|c| c.id), Some("phone".into()));
    }
}
