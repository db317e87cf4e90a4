//! callcore's store traits and [`StoreExt`] on SQLite.

use super::{SqliteStore, journal};
use crate::codec::{self, decode, encode};
use crate::ext::{check_limit, merge_profiles};
use crate::{StoreError, StoreExt};
use async_trait::async_trait;
use callcore::{
    Campaign, CampaignId, CampaignStore, CoreError, CustomerId, CustomerProfile, CustomerStore,
    DialAttempt, Event, EventJournal, IdentityKind, InteractionId, InteractionRecord,
    InteractionStore, Lead, RecordingId, RecordingMeta, RecordingStore, TenantId, Timestamp,
};
use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, params, params_from_iter};

fn payloads(conn: &Connection, sql: &str, args: &[Value]) -> Result<Vec<String>, StoreError> {
    let mut stmt = conn.prepare_cached(sql)?;
    let rows = stmt.query_map(params_from_iter(args.iter()), |r| r.get::<_, String>(0))?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

fn decode_all<T: serde::de::DeserializeOwned>(
    what: &'static str,
    rows: &[String],
) -> Result<Vec<T>, StoreError> {
    rows.iter().map(|p| decode(what, p)).collect()
}

fn text(s: &str) -> Value {
    Value::Text(s.to_owned())
}

pub(super) fn load_profile(
    conn: &Connection,
    tenant: &str,
    id: &str,
) -> Result<CustomerProfile, StoreError> {
    let payload: Option<String> = conn
        .query_row(
            "SELECT payload FROM customers WHERE tenant = ?1 AND id = ?2",
            params![tenant, id],
            |r| r.get(0),
        )
        .optional()?;
    let payload = payload.ok_or_else(|| StoreError::NotFound {
        what: "customer",
        id: id.to_owned(),
    })?;
    decode("customer", &payload)
}

pub(super) fn write_profile(
    conn: &Connection,
    profile: &CustomerProfile,
) -> Result<(), StoreError> {
    let tenant = profile.tenant.as_str();
    let id = profile.id.as_str();
    conn.prepare_cached(
        "INSERT INTO customers (tenant, id, payload) VALUES (?1, ?2, ?3)
         ON CONFLICT (tenant, id) DO UPDATE SET payload = excluded.payload",
    )?
    .execute(params![tenant, id, encode("customer", profile)?])?;
    conn.prepare_cached("DELETE FROM customer_identities WHERE tenant = ?1 AND customer = ?2")?
        .execute(params![tenant, id])?;
    let mut insert = conn.prepare_cached(
        "INSERT INTO customer_identities (tenant, kind, value, customer) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (tenant, kind, value) DO UPDATE SET customer = excluded.customer",
    )?;
    for (kind, value) in codec::identity_rows(profile)? {
        insert.execute(params![tenant, kind, value, id])?;
    }
    Ok(())
}

/// Inserts or replaces a call detail record.
fn save_record(c: &Connection, r: &codec::InteractionRow) -> Result<(), StoreError> {
    c.prepare_cached(
        "INSERT INTO interactions
           (tenant, id, created_at_ms, channel, customer, queue, agent, ended_at_ms, payload)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
         ON CONFLICT (tenant, id) DO UPDATE SET
           created_at_ms = excluded.created_at_ms, channel = excluded.channel,
           customer = excluded.customer, queue = excluded.queue, agent = excluded.agent,
           ended_at_ms = excluded.ended_at_ms, payload = excluded.payload",
    )?
    .execute(params![
        r.tenant,
        r.id,
        r.created_at_ms,
        r.channel,
        r.customer,
        r.queue,
        r.agent,
        r.ended_at_ms,
        r.payload
    ])?;
    Ok(())
}

#[async_trait]
impl EventJournal for SqliteStore {
    async fn append(&self, events: &[Event]) -> Result<(), CoreError> {
        if events.is_empty() {
            return Ok(());
        }
        let batch = journal::EncodedBatch::new(events)?;
        self.write(move |conn| batch.insert(conn)).await?;
        Ok(())
    }

    async fn for_interaction(
        &self,
        tenant: &TenantId,
        interaction: &InteractionId,
    ) -> Result<Vec<Event>, CoreError> {
        let args = vec![text(tenant.as_str()), text(interaction.as_str())];
        let tenant = tenant.clone();
        Ok(self
            .read(move |c| {
                journal::read_events(
                    c,
                    &tenant,
                    "SELECT seq, at_ms, payload, body FROM events
                     WHERE tenant = ?1 AND interaction = ?2 ORDER BY id",
                    &args,
                )
            })
            .await?)
    }

    async fn between(
        &self,
        tenant: &TenantId,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<Event>, CoreError> {
        Ok(self.events_of_kinds(tenant, from, to, &[]).await?)
    }

    async fn unended(
        &self,
        tenant: &TenantId,
        window: std::time::Duration,
    ) -> Result<Vec<InteractionId>, CoreError> {
        let tenant = tenant.as_str().to_owned();
        let window = crate::recovery::window_ms(window);
        Ok(self
            .read(move |c| {
                let sql = crate::recovery::UNENDED
                    .replace("{T}", "?1")
                    .replace("{W}", "?2");
                let mut stmt = c.prepare_cached(&sql)?;
                let ids = stmt
                    .query_map(params![tenant, window], |r| r.get::<_, String>(0))?
                    .map(|id| id.map(|id| InteractionId::from(id.as_str())))
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(ids)
            })
            .await?)
    }
}

#[async_trait]
impl InteractionStore for SqliteStore {
    async fn save(&self, record: &InteractionRecord) -> Result<(), CoreError> {
        let r = codec::interaction_row(record)?;
        self.write(move |c| save_record(c, &r)).await?;
        Ok(())
    }

    async fn get(
        &self,
        tenant: &TenantId,
        id: &InteractionId,
    ) -> Result<Option<InteractionRecord>, CoreError> {
        let args = vec![text(tenant.as_str()), text(id.as_str())];
        let rows = self
            .read(move |c| {
                payloads(
                    c,
                    "SELECT payload FROM interactions WHERE tenant = ?1 AND id = ?2",
                    &args,
                )
            })
            .await?;
        Ok(decode_all("interaction", &rows)?.pop())
    }

    async fn for_customer(
        &self,
        tenant: &TenantId,
        customer: &CustomerId,
    ) -> Result<Vec<InteractionRecord>, CoreError> {
        let args = vec![text(tenant.as_str()), text(customer.as_str())];
        let rows = self
            .read(move |c| {
                payloads(
                    c,
                    "SELECT payload FROM interactions WHERE tenant = ?1 AND customer = ?2
                     ORDER BY created_at_ms, id",
                    &args,
                )
            })
            .await?;
        Ok(decode_all("interaction", &rows)?)
    }

    async fn between(
        &self,
        tenant: &TenantId,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<InteractionRecord>, CoreError> {
        Ok(self.records_between(tenant, from, to).await?)
    }
}

#[async_trait]
impl CustomerStore for SqliteStore {
    async fn save(&self, profile: &CustomerProfile) -> Result<(), CoreError> {
        let profile = profile.clone();
        self.write(move |c| {
            let tx = c.transaction()?;
            write_profile(&tx, &profile)?;
            tx.commit()?;
            Ok(())
        })
        .await?;
        Ok(())
    }

    async fn get(
        &self,
        tenant: &TenantId,
        id: &CustomerId,
    ) -> Result<Option<CustomerProfile>, CoreError> {
        let args = vec![text(tenant.as_str()), text(id.as_str())];
        let rows = self
            .read(move |c| {
                payloads(
                    c,
                    "SELECT payload FROM customers WHERE tenant = ?1 AND id = ?2",
                    &args,
                )
            })
            .await?;
        Ok(decode_all("customer", &rows)?.pop())
    }

    async fn find_by_identity(
        &self,
        tenant: &TenantId,
        kind: IdentityKind,
        value: &str,
    ) -> Result<Option<CustomerProfile>, CoreError> {
        let args = vec![
            text(tenant.as_str()),
            Value::Text(codec::identity_kind(kind)?),
            text(value),
        ];
        let rows = self
            .read(move |c| {
                payloads(
                    c,
                    "SELECT c.payload FROM customer_identities i
                     JOIN customers c ON c.tenant = i.tenant AND c.id = i.customer
                     WHERE i.tenant = ?1 AND i.kind = ?2 AND i.value = ?3",
                    &args,
                )
            })
            .await?;
        Ok(decode_all("customer", &rows)?.pop())
    }

    async fn merge(
        &self,
        tenant: &TenantId,
        kept: &CustomerId,
        absorbed: &CustomerId,
    ) -> Result<CustomerProfile, CoreError> {
        // a CoreError of its own, not the store's `Invalid` (which reaches
        // callers as a storage failure)
        callcore::store::check_merge(kept, absorbed)?;
        Ok(self.merge_customers(tenant, kept, absorbed).await?)
    }

    async fn unmerge(
        &self,
        tenant: &TenantId,
        kept: &CustomerId,
        absorbed: &CustomerId,
    ) -> Result<callcore::Unmerged, CoreError> {
        let (tenant, kept, absorbed) = (
            tenant.as_str().to_owned(),
            kept.as_str().to_owned(),
            absorbed.as_str().to_owned(),
        );
        Ok(self
            .write(move |c| super::merges::undo(c, &tenant, &kept, &absorbed))
            .await?)
    }
}

#[async_trait]
impl RecordingStore for SqliteStore {
    async fn save(&self, meta: &RecordingMeta) -> Result<(), CoreError> {
        let payload = codec::recording_payload(meta)?;
        let (tenant, id, interaction) = (
            meta.tenant.as_str().to_owned(),
            meta.id.as_str().to_owned(),
            meta.interaction.as_str().to_owned(),
        );
        let started = meta.started_at.as_millis();
        self.write(move |c| {
            c.prepare_cached(
                "INSERT INTO recordings (tenant, id, interaction, started_at_ms, payload)
                 VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (tenant, id) DO UPDATE SET interaction = excluded.interaction,
                   started_at_ms = excluded.started_at_ms, payload = excluded.payload",
            )?
            .execute(params![tenant, id, interaction, started, payload])?;
            Ok(())
        })
        .await?;
        Ok(())
    }

    async fn get(
        &self,
        tenant: &TenantId,
        id: &RecordingId,
    ) -> Result<Option<RecordingMeta>, CoreError> {
        let args = vec![text(tenant.as_str()), text(id.as_str())];
        let rows = self
            .read(move |c| {
                payloads(
                    c,
                    "SELECT payload FROM recordings WHERE tenant = ?1 AND id = ?2",
                    &args,
                )
            })
            .await?;
        Ok(decode_all("recording", &rows)?.pop())
    }

    async fn for_interaction(
        &self,
        tenant: &TenantId,
        interaction: &InteractionId,
    ) -> Result<Vec<RecordingMeta>, CoreError> {
        let args = vec![text(tenant.as_str()), text(interaction.as_str())];
        let rows = self
            .read(move |c| {
                payloads(
                    c,
                    "SELECT payload FROM recordings WHERE tenant = ?1 AND interaction = ?2
                     ORDER BY started_at_ms, id",
                    &args,
                )
            })
            .await?;
        Ok(decode_all("recording", &rows)?)
    }
}

#[async_trait]
impl CampaignStore for SqliteStore {
    async fn save_campaign(&self, campaign: &Campaign) -> Result<(), CoreError> {
        let payload = codec::campaign_payload(campaign)?;
        let (tenant, id) = (
            campaign.tenant.as_str().to_owned(),
            campaign.id.as_str().to_owned(),
        );
        self.write(move |c| {
            c.prepare_cached(
                "INSERT INTO campaigns (tenant, id, payload) VALUES (?1, ?2, ?3)
                 ON CONFLICT (tenant, id) DO UPDATE SET payload = excluded.payload",
            )?
            .execute(params![tenant, id, payload])?;
            Ok(())
        })
        .await?;
        Ok(())
    }

    async fn campaign(
        &self,
        tenant: &TenantId,
        id: &CampaignId,
    ) -> Result<Option<Campaign>, CoreError> {
        let args = vec![text(tenant.as_str()), text(id.as_str())];
        let rows = self
            .read(move |c| {
                payloads(
                    c,
                    "SELECT payload FROM campaigns WHERE tenant = ?1 AND id = ?2",
                    &args,
                )
            })
            .await?;
        Ok(decode_all("campaign", &rows)?.pop())
    }

    async fn save_leads(&self, leads: &[Lead]) -> Result<(), CoreError> {
        let rows = leads
            .iter()
            .map(codec::lead_row)
            .collect::<Result<Vec<_>, _>>()?;
        self.write(move |c| {
            let tx = c.transaction()?;
            {
                let mut upsert = tx.prepare_cached(
                    "INSERT INTO leads (tenant, campaign, id, status, next_attempt_at_ms, payload)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                     ON CONFLICT (tenant, campaign, id) DO UPDATE SET status = excluded.status,
                       next_attempt_at_ms = excluded.next_attempt_at_ms, payload = excluded.payload",
                )?;
                for (tenant, campaign, id, status, next, payload) in &rows {
                    upsert.execute(params![tenant, campaign, id, status, next, payload])?;
                }
            }
            tx.commit()?;
            Ok(())
        })
        .await?;
        Ok(())
    }

    async fn leads(
        &self,
        tenant: &TenantId,
        campaign: &CampaignId,
    ) -> Result<Vec<Lead>, CoreError> {
        let args = vec![text(tenant.as_str()), text(campaign.as_str())];
        let rows = self
            .read(move |c| {
                payloads(
                    c,
                    "SELECT payload FROM leads WHERE tenant = ?1 AND campaign = ?2 ORDER BY id",
                    &args,
                )
            })
            .await?;
        Ok(decode_all("lead", &rows)?)
    }

    async fn record_attempt(&self, attempt: &DialAttempt) -> Result<(), CoreError> {
        let payload = codec::attempt_payload(attempt)?;
        let (tenant, campaign, lead) = (
            attempt.tenant.as_str().to_owned(),
            attempt.campaign.as_str().to_owned(),
            attempt.lead.as_str().to_owned(),
        );
        let started = attempt.started_at.as_millis();
        self.write(move |c| {
            c.prepare_cached(
                "INSERT INTO dial_attempts (tenant, campaign, lead, started_at_ms, payload)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![tenant, campaign, lead, started, payload])?;
            Ok(())
        })
        .await?;
        Ok(())
    }

    async fn attempts(
        &self,
        tenant: &TenantId,
        campaign: &CampaignId,
    ) -> Result<Vec<DialAttempt>, CoreError> {
        let args = vec![text(tenant.as_str()), text(campaign.as_str())];
        let rows = self
            .read(move |c| {
                payloads(
                    c,
                    "SELECT payload FROM dial_attempts WHERE tenant = ?1 AND campaign = ?2 ORDER BY id",
                    &args,
                )
            })
            .await?;
        Ok(decode_all("dial attempt", &rows)?)
    }
}

#[async_trait]
impl StoreExt for SqliteStore {
    async fn schema_version(&self) -> Result<i64, StoreError> {
        self.read(|c| {
            Ok(
                c.query_row("SELECT MAX(version) FROM callcore_schema", [], |r| {
                    r.get::<_, Option<i64>>(0)
                })?
                .unwrap_or(0),
            )
        })
        .await
    }

    async fn events_of_kinds(
        &self,
        tenant: &TenantId,
        from: Timestamp,
        to: Timestamp,
        kinds: &[&str],
    ) -> Result<Vec<Event>, StoreError> {
        let (tenant, kinds) = (
            tenant.clone(),
            kinds.iter().map(|k| (*k).to_owned()).collect::<Vec<_>>(),
        );
        // Read and decode on the blocking pool: a day is 10⁵–10⁶ events.
        self.read(move |c| journal::read_period(c, &tenant, from, to, &kinds))
            .await
    }

    async fn merge_customers(
        &self,
        tenant: &TenantId,
        kept: &CustomerId,
        absorbed: &CustomerId,
    ) -> Result<CustomerProfile, StoreError> {
        if kept == absorbed {
            return Err(StoreError::Invalid {
                field: "absorbed",
                reason: "a customer cannot be merged into itself".into(),
            });
        }
        let (tenant, kept, absorbed) = (
            tenant.as_str().to_owned(),
            kept.as_str().to_owned(),
            absorbed.as_str().to_owned(),
        );
        self.write(move |c| {
            let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let keep = load_profile(&tx, &tenant, &kept)?;
            let gone = load_profile(&tx, &tenant, &absorbed)?;
            let merged = merge_profiles(&keep, &gone);
            tx.execute(
                "DELETE FROM customer_identities WHERE tenant = ?1 AND customer = ?2",
                params![tenant, absorbed],
            )?;
            tx.execute(
                "DELETE FROM customers WHERE tenant = ?1 AND id = ?2",
                params![tenant, absorbed],
            )?;
            write_profile(&tx, &merged)?;
            let history = payloads(
                &tx,
                "SELECT payload FROM interactions WHERE tenant = ?1 AND customer = ?2",
                &[text(&tenant), text(&absorbed)],
            )?;
            let mut moved = Vec::with_capacity(history.len());
            for payload in history {
                let mut record: InteractionRecord = decode("interaction", &payload)?;
                record.customer = Some(merged.id.clone());
                tx.execute(
                    "UPDATE interactions SET customer = ?1, payload = ?2 WHERE tenant = ?3 AND id = ?4",
                    params![kept, encode("interaction", &record)?, tenant, record.id.as_str()],
                )?;
                moved.push(record.id);
            }
            let undo = callcore::MergeUndo {
                kept_before: keep,
                absorbed: gone,
                moved,
            };
            super::merges::record(&tx, &tenant, &kept, &absorbed, &undo)?;
            tx.commit()?;
            Ok(merged)
        })
        .await
    }

    async fn leads_due(
        &self,
        tenant: &TenantId,
        campaign: &CampaignId,
        now: Timestamp,
        limit: usize,
    ) -> Result<Vec<Lead>, StoreError> {
        let args = vec![
            text(tenant.as_str()),
            text(campaign.as_str()),
            Value::Text(codec::lead_status(callcore::LeadStatus::Pending)?),
            Value::Integer(now.as_millis()),
            Value::Integer(check_limit(limit)?),
        ];
        let rows = self
            .read(move |c| {
                payloads(
                    c,
                    "SELECT payload FROM leads WHERE tenant = ?1 AND campaign = ?2 AND status = ?3
                       AND (next_attempt_at_ms IS NULL OR next_attempt_at_ms <= ?4)
                     ORDER BY next_attempt_at_ms NULLS FIRST, id LIMIT ?5",
                    &args,
                )
            })
            .await?;
        decode_all("lead", &rows)
    }

    async fn records_between(
        &self,
        tenant: &TenantId,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<InteractionRecord>, StoreError> {
        let args = vec![
            text(tenant.as_str()),
            Value::Integer(from.as_millis()),
            Value::Integer(to.as_millis()),
        ];
        let rows = self
            .read(move |c| {
                payloads(
                    c,
                    "SELECT payload FROM interactions
                     WHERE tenant = ?1 AND created_at_ms >= ?2 AND created_at_ms < ?3
                     ORDER BY created_at_ms, id",
                    &args,
                )
            })
            .await?;
        decode_all("interaction", &rows)
    }
}
