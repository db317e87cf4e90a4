//! callcore's store traits and [`StoreExt`] on PostgreSQL.

use super::PgStore;
use crate::codec::{self, decode, encode};
use crate::ext::{check_limit, merge_profiles};
use crate::{StoreError, StoreExt, recovery};
use async_trait::async_trait;
use callcore::{
    Campaign, CampaignId, CampaignStore, CoreError, CustomerId, CustomerProfile, CustomerStore,
    DialAttempt, Event, EventJournal, IdentityKind, InteractionId, InteractionRecord,
    InteractionStore, Lead, RecordingId, RecordingMeta, RecordingStore, TenantId, Timestamp,
};
use sqlx::postgres::{PgArguments, PgRow};
use sqlx::query::Query;
use sqlx::{PgConnection, Postgres, Row};

type PgQuery<'q> = Query<'q, Postgres, PgArguments>;

fn first_column(rows: Vec<PgRow>) -> Result<Vec<String>, StoreError> {
    rows.iter()
        .map(|r| r.try_get::<String, _>(0).map_err(StoreError::from))
        .collect()
}

fn stored_events(rows: &[PgRow]) -> Result<Vec<codec::StoredEvent>, StoreError> {
    rows.iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?, r.try_get(3)?)))
        .collect()
}

fn decode_all<T: serde::de::DeserializeOwned>(
    what: &'static str,
    rows: &[String],
) -> Result<Vec<T>, StoreError> {
    rows.iter().map(|p| decode(what, p)).collect()
}

impl PgStore {
    async fn payloads(&self, q: PgQuery<'_>) -> Result<Vec<String>, StoreError> {
        first_column(q.fetch_all(self.pool()).await?)
    }

    async fn one<T: serde::de::DeserializeOwned>(
        &self,
        what: &'static str,
        q: PgQuery<'_>,
    ) -> Result<Option<T>, StoreError> {
        Ok(decode_all(what, &self.payloads(q).await?)?.pop())
    }
}

pub(super) async fn write_profile(
    conn: &mut PgConnection,
    p: &CustomerProfile,
) -> Result<(), StoreError> {
    let (tenant, id) = (p.tenant.as_str(), p.id.as_str());
    sqlx::query(
        "INSERT INTO customers (tenant, id, payload) VALUES ($1, $2, $3::jsonb)
         ON CONFLICT (tenant, id) DO UPDATE SET payload = excluded.payload",
    )
    .bind(tenant)
    .bind(id)
    .bind(encode("customer", p)?)
    .execute(&mut *conn)
    .await?;
    sqlx::query("DELETE FROM customer_identities WHERE tenant = $1 AND customer = $2")
        .bind(tenant)
        .bind(id)
        .execute(&mut *conn)
        .await?;
    for (kind, value) in codec::identity_rows(p)? {
        sqlx::query(
            "INSERT INTO customer_identities (tenant, kind, value, customer) VALUES ($1, $2, $3, $4)
             ON CONFLICT (tenant, kind, value) DO UPDATE SET customer = excluded.customer",
        )
        .bind(tenant)
        .bind(kind)
        .bind(value)
        .bind(id)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

pub(super) async fn load_profile(
    conn: &mut PgConnection,
    tenant: &str,
    id: &str,
) -> Result<CustomerProfile, StoreError> {
    let row =
        sqlx::query("SELECT payload::text FROM customers WHERE tenant = $1 AND id = $2 FOR UPDATE")
            .bind(tenant)
            .bind(id)
            .fetch_optional(&mut *conn)
            .await?
            .ok_or_else(|| StoreError::NotFound {
                what: "customer",
                id: id.to_owned(),
            })?;
    decode("customer", &row.try_get::<String, _>(0)?)
}

impl PgStore {
    /// Saves the records of interactions whose end is journaled but whose
    /// record is missing (see [`crate::recovery`]); returns how many.
    pub(super) async fn recover_records(&self) -> Result<usize, StoreError> {
        let sql = recovery::UNRECORDED_ENDS.replace("{TAIL}", "$1");
        let missing: Vec<(String, String)> = sqlx::query_as(&sql)
            .bind(recovery::TAIL_EVENTS)
            .fetch_all(self.pool())
            .await?;
        let mut saved = 0;
        for (tenant, id) in missing {
            let events =
                EventJournal::for_interaction(self, &tenant.as_str().into(), &id.as_str().into())
                    .await
                    .map_err(|e| StoreError::Invalid {
                        field: "events",
                        reason: e.to_string(),
                    })?;
            let Some(record) = recovery::rebuild(&events) else {
                continue;
            };
            let r = codec::interaction_row(&record)?;
            let done = sqlx::query(
                "INSERT INTO interactions
                   (tenant, id, created_at_ms, channel, customer, queue, agent, ended_at_ms, payload)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb)
                 ON CONFLICT (tenant, id) DO NOTHING",
            )
            .bind(r.tenant)
            .bind(r.id)
            .bind(r.created_at_ms)
            .bind(r.channel)
            .bind(r.customer)
            .bind(r.queue)
            .bind(r.agent)
            .bind(r.ended_at_ms)
            .bind(r.payload)
            .execute(self.pool())
            .await?;
            saved += usize::try_from(done.rows_affected()).unwrap_or(0);
        }
        if saved > 0 {
            tracing::warn!(
                saved,
                "rebuilt call detail records from the journal (the process had stopped between journaling an end and saving its record)"
            );
        }
        Ok(saved)
    }
}

#[async_trait]
impl EventJournal for PgStore {
    async fn append(&self, events: &[Event]) -> Result<(), CoreError> {
        if events.is_empty() {
            return Ok(());
        }
        let rows = codec::event_rows(events)?;
        let n = rows.len();
        let (mut tenant, mut seq, mut at, mut interaction, mut agent, mut kind, mut payload) = (
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
        );
        for r in rows {
            tenant.push(r.tenant);
            seq.push(r.seq);
            at.push(r.at_ms);
            interaction.push(r.interaction);
            agent.push(r.agent);
            kind.push(r.kind);
            payload.push(r.payload);
        }
        sqlx::query(
            "INSERT INTO events (tenant, seq, at_ms, interaction, agent, kind, payload)
             SELECT t, s, a, i, g, k, p::jsonb
             FROM UNNEST($1::text[], $2::int8[], $3::int8[], $4::text[], $5::text[], $6::text[], $7::text[])
                  WITH ORDINALITY AS u(t, s, a, i, g, k, p, n)
             ORDER BY n",
        )
        .bind(tenant)
        .bind(seq)
        .bind(at)
        .bind(interaction)
        .bind(agent)
        .bind(kind)
        .bind(payload)
        .execute(self.pool())
        .await
        .map_err(StoreError::from)?;
        Ok(())
    }

    async fn for_interaction(
        &self,
        tenant: &TenantId,
        interaction: &InteractionId,
    ) -> Result<Vec<Event>, CoreError> {
        let q = sqlx::query(
            "SELECT tenant, seq, at_ms, payload::text FROM events
             WHERE tenant = $1 AND interaction = $2 ORDER BY id",
        )
        .bind(tenant.as_str())
        .bind(interaction.as_str());
        let rows = stored_events(&q.fetch_all(self.pool()).await.map_err(StoreError::from)?)?;
        Ok(codec::decode_events(&rows)?)
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
        let sql = recovery::UNENDED.replace("{T}", "$1").replace("{W}", "$2");
        let rows = sqlx::query(&sql)
            .bind(tenant.as_str())
            .bind(recovery::window_ms(window))
            .fetch_all(self.pool())
            .await
            .map_err(StoreError::from)?;
        Ok(first_column(rows)?
            .iter()
            .map(|id| InteractionId::from(id.as_str()))
            .collect())
    }
}

#[async_trait]
impl InteractionStore for PgStore {
    async fn save(&self, record: &InteractionRecord) -> Result<(), CoreError> {
        let r = codec::interaction_row(record)?;
        sqlx::query(
            "INSERT INTO interactions
               (tenant, id, created_at_ms, channel, customer, queue, agent, ended_at_ms, payload)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb)
             ON CONFLICT (tenant, id) DO UPDATE SET
               created_at_ms = excluded.created_at_ms, channel = excluded.channel,
               customer = excluded.customer, queue = excluded.queue, agent = excluded.agent,
               ended_at_ms = excluded.ended_at_ms, payload = excluded.payload",
        )
        .bind(r.tenant)
        .bind(r.id)
        .bind(r.created_at_ms)
        .bind(r.channel)
        .bind(r.customer)
        .bind(r.queue)
        .bind(r.agent)
        .bind(r.ended_at_ms)
        .bind(r.payload)
        .execute(self.pool())
        .await
        .map_err(StoreError::from)?;
        Ok(())
    }

    async fn get(
        &self,
        tenant: &TenantId,
        id: &InteractionId,
    ) -> Result<Option<InteractionRecord>, CoreError> {
        let q = sqlx::query("SELECT payload::text FROM interactions WHERE tenant = $1 AND id = $2")
            .bind(tenant.as_str())
            .bind(id.as_str());
        Ok(self.one("interaction", q).await?)
    }

    async fn for_customer(
        &self,
        tenant: &TenantId,
        customer: &CustomerId,
    ) -> Result<Vec<InteractionRecord>, CoreError> {
        let q = sqlx::query(
            "SELECT payload::text FROM interactions WHERE tenant = $1 AND customer = $2
             ORDER BY created_at_ms, id",
        )
        .bind(tenant.as_str())
        .bind(customer.as_str());
        Ok(decode_all("interaction", &self.payloads(q).await?)?)
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
impl CustomerStore for PgStore {
    async fn save(&self, profile: &CustomerProfile) -> Result<(), CoreError> {
        let mut tx = self.pool().begin().await.map_err(StoreError::from)?;
        write_profile(&mut tx, profile).await?;
        tx.commit().await.map_err(StoreError::from)?;
        Ok(())
    }

    async fn get(
        &self,
        tenant: &TenantId,
        id: &CustomerId,
    ) -> Result<Option<CustomerProfile>, CoreError> {
        let q = sqlx::query("SELECT payload::text FROM customers WHERE tenant = $1 AND id = $2")
            .bind(tenant.as_str())
            .bind(id.as_str());
        Ok(self.one("customer", q).await?)
    }

    async fn find_by_identity(
        &self,
        tenant: &TenantId,
        kind: IdentityKind,
        value: &str,
    ) -> Result<Option<CustomerProfile>, CoreError> {
        let q = sqlx::query(
            "SELECT c.payload::text FROM customer_identities i
             JOIN customers c ON c.tenant = i.tenant AND c.id = i.customer
             WHERE i.tenant = $1 AND i.kind = $2 AND i.value = $3",
        )
        .bind(tenant.as_str())
        .bind(codec::identity_kind(kind)?)
        .bind(value);
        Ok(self.one("customer", q).await?)
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
        Ok(self
            .unmerge_customers(tenant, kept.as_str(), absorbed.as_str())
            .await?)
    }
}

#[async_trait]
impl RecordingStore for PgStore {
    async fn save(&self, meta: &RecordingMeta) -> Result<(), CoreError> {
        sqlx::query(
            "INSERT INTO recordings (tenant, id, interaction, started_at_ms, payload)
             VALUES ($1, $2, $3, $4, $5::jsonb)
             ON CONFLICT (tenant, id) DO UPDATE SET interaction = excluded.interaction,
               started_at_ms = excluded.started_at_ms, payload = excluded.payload",
        )
        .bind(meta.tenant.as_str())
        .bind(meta.id.as_str())
        .bind(meta.interaction.as_str())
        .bind(meta.started_at.as_millis())
        .bind(codec::recording_payload(meta)?)
        .execute(self.pool())
        .await
        .map_err(StoreError::from)?;
        Ok(())
    }

    async fn get(
        &self,
        tenant: &TenantId,
        id: &RecordingId,
    ) -> Result<Option<RecordingMeta>, CoreError> {
        let q = sqlx::query("SELECT payload::text FROM recordings WHERE tenant = $1 AND id = $2")
            .bind(tenant.as_str())
            .bind(id.as_str());
        Ok(self.one("recording", q).await?)
    }

    async fn for_interaction(
        &self,
        tenant: &TenantId,
        interaction: &InteractionId,
    ) -> Result<Vec<RecordingMeta>, CoreError> {
        let q = sqlx::query(
            "SELECT payload::text FROM recordings WHERE tenant = $1 AND interaction = $2
             ORDER BY started_at_ms, id",
        )
        .bind(tenant.as_str())
        .bind(interaction.as_str());
        Ok(decode_all("recording", &self.payloads(q).await?)?)
    }
}

#[async_trait]
impl CampaignStore for PgStore {
    async fn save_campaign(&self, campaign: &Campaign) -> Result<(), CoreError> {
        sqlx::query(
            "INSERT INTO campaigns (tenant, id, payload) VALUES ($1, $2, $3::jsonb)
             ON CONFLICT (tenant, id) DO UPDATE SET payload = excluded.payload",
        )
        .bind(campaign.tenant.as_str())
        .bind(campaign.id.as_str())
        .bind(codec::campaign_payload(campaign)?)
        .execute(self.pool())
        .await
        .map_err(StoreError::from)?;
        Ok(())
    }

    async fn campaign(
        &self,
        tenant: &TenantId,
        id: &CampaignId,
    ) -> Result<Option<Campaign>, CoreError> {
        let q = sqlx::query("SELECT payload::text FROM campaigns WHERE tenant = $1 AND id = $2")
            .bind(tenant.as_str())
            .bind(id.as_str());
        Ok(self.one("campaign", q).await?)
    }

    async fn save_leads(&self, leads: &[Lead]) -> Result<(), CoreError> {
        let rows = leads
            .iter()
            .map(codec::lead_row)
            .collect::<Result<Vec<_>, _>>()?;
        let mut tx = self.pool().begin().await.map_err(StoreError::from)?;
        for (tenant, campaign, id, status, next, payload) in rows {
            sqlx::query(
                "INSERT INTO leads (tenant, campaign, id, status, next_attempt_at_ms, payload)
                 VALUES ($1, $2, $3, $4, $5, $6::jsonb)
                 ON CONFLICT (tenant, campaign, id) DO UPDATE SET status = excluded.status,
                   next_attempt_at_ms = excluded.next_attempt_at_ms, payload = excluded.payload",
            )
            .bind(tenant)
            .bind(campaign)
            .bind(id)
            .bind(status)
            .bind(next)
            .bind(payload)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::from)?;
        }
        tx.commit().await.map_err(StoreError::from)?;
        Ok(())
    }

    async fn leads(
        &self,
        tenant: &TenantId,
        campaign: &CampaignId,
    ) -> Result<Vec<Lead>, CoreError> {
        let q = sqlx::query(
            "SELECT payload::text FROM leads WHERE tenant = $1 AND campaign = $2 ORDER BY id",
        )
        .bind(tenant.as_str())
        .bind(campaign.as_str());
        Ok(decode_all("lead", &self.payloads(q).await?)?)
    }

    async fn record_attempt(&self, attempt: &DialAttempt) -> Result<(), CoreError> {
        sqlx::query(
            "INSERT INTO dial_attempts (tenant, campaign, lead, started_at_ms, payload)
             VALUES ($1, $2, $3, $4, $5::jsonb)",
        )
        .bind(attempt.tenant.as_str())
        .bind(attempt.campaign.as_str())
        .bind(attempt.lead.as_str())
        .bind(attempt.started_at.as_millis())
        .bind(codec::attempt_payload(attempt)?)
        .execute(self.pool())
        .await
        .map_err(StoreError::from)?;
        Ok(())
    }

    async fn attempts(
        &self,
        tenant: &TenantId,
        campaign: &CampaignId,
    ) -> Result<Vec<DialAttempt>, CoreError> {
        let q = sqlx::query(
            "SELECT payload::text FROM dial_attempts WHERE tenant = $1 AND campaign = $2 ORDER BY id",
        )
        .bind(tenant.as_str())
        .bind(campaign.as_str());
        Ok(decode_all("dial attempt", &self.payloads(q).await?)?)
    }
}

#[async_trait]
impl StoreExt for PgStore {
    async fn schema_version(&self) -> Result<i64, StoreError> {
        let v: Option<i64> = sqlx::query("SELECT MAX(version) FROM callcore_schema")
            .fetch_one(self.pool())
            .await?
            .try_get(0)?;
        Ok(v.unwrap_or(0))
    }

    async fn events_of_kinds(
        &self,
        tenant: &TenantId,
        from: Timestamp,
        to: Timestamp,
        kinds: &[&str],
    ) -> Result<Vec<Event>, StoreError> {
        let all = kinds.is_empty();
        let kinds: Vec<String> = kinds.iter().map(|k| (*k).to_owned()).collect();
        let q = sqlx::query(
            "SELECT tenant, seq, at_ms, payload::text FROM events
             WHERE tenant = $1 AND at_ms >= $2 AND at_ms < $3 AND ($4 OR kind = ANY($5))
             ORDER BY id",
        )
        .bind(tenant.as_str())
        .bind(from.as_millis())
        .bind(to.as_millis())
        .bind(all)
        .bind(kinds);
        let rows = stored_events(&q.fetch_all(self.pool()).await?)?;
        tokio::task::spawn_blocking(move || codec::decode_events(&rows))
            .await
            .map_err(|e| StoreError::Worker(e.to_string()))?
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
        let tenant = tenant.as_str();
        let mut tx = self.pool().begin().await?;
        let keep = load_profile(&mut tx, tenant, kept.as_str()).await?;
        let gone = load_profile(&mut tx, tenant, absorbed.as_str()).await?;
        let merged = merge_profiles(&keep, &gone);
        sqlx::query("DELETE FROM customer_identities WHERE tenant = $1 AND customer = $2")
            .bind(tenant)
            .bind(absorbed.as_str())
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM customers WHERE tenant = $1 AND id = $2")
            .bind(tenant)
            .bind(absorbed.as_str())
            .execute(&mut *tx)
            .await?;
        write_profile(&mut tx, &merged).await?;
        let history = first_column(
            sqlx::query(
                "SELECT payload::text FROM interactions WHERE tenant = $1 AND customer = $2",
            )
            .bind(tenant)
            .bind(absorbed.as_str())
            .fetch_all(&mut *tx)
            .await?,
        )?;
        let mut moved = Vec::with_capacity(history.len());
        for payload in history {
            let mut record: InteractionRecord = decode("interaction", &payload)?;
            record.customer = Some(merged.id.clone());
            sqlx::query(
                "UPDATE interactions SET customer = $1, payload = $2::jsonb WHERE tenant = $3 AND id = $4",
            )
            .bind(kept.as_str())
            .bind(encode("interaction", &record)?)
            .bind(tenant)
            .bind(record.id.as_str())
            .execute(&mut *tx)
            .await?;
            moved.push(record.id);
        }
        let undo = callcore::MergeUndo {
            kept_before: keep,
            absorbed: gone,
            moved,
        };
        super::merges::record(&mut tx, tenant, kept.as_str(), absorbed.as_str(), &undo).await?;
        tx.commit().await?;
        Ok(merged)
    }

    async fn leads_due(
        &self,
        tenant: &TenantId,
        campaign: &CampaignId,
        now: Timestamp,
        limit: usize,
    ) -> Result<Vec<Lead>, StoreError> {
        let q = sqlx::query(
            "SELECT payload::text FROM leads WHERE tenant = $1 AND campaign = $2 AND status = $3
               AND (next_attempt_at_ms IS NULL OR next_attempt_at_ms <= $4)
             ORDER BY next_attempt_at_ms NULLS FIRST, id LIMIT $5",
        )
        .bind(tenant.as_str())
        .bind(campaign.as_str())
        .bind(codec::lead_status(callcore::LeadStatus::Pending)?)
        .bind(now.as_millis())
        .bind(check_limit(limit)?);
        decode_all("lead", &self.payloads(q).await?)
    }

    async fn records_between(
        &self,
        tenant: &TenantId,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<InteractionRecord>, StoreError> {
        let q = sqlx::query(
            "SELECT payload::text FROM interactions
             WHERE tenant = $1 AND created_at_ms >= $2 AND created_at_ms < $3
             ORDER BY created_at_ms, id",
        )
        .bind(tenant.as_str())
        .bind(from.as_millis())
        .bind(to.as_millis());
        decode_all("interaction", &self.payloads(q).await?)
    }
}
