//! Customer merges kept to be undone (`customer_merges`, migration 3) on
//! PostgreSQL: written in the merge's transaction, read (locked) and removed
//! in the undo's.

use sqlx::{PgConnection, Row};

use super::PgStore;
use super::stores::{load_profile, write_profile};
use crate::StoreError;
use crate::codec::{decode, encode};
use callcore::{InteractionRecord, MergeUndo, TenantId, Unmerged};

/// Keeps what the merge of `absorbed` into `kept` changed (replacing an
/// earlier merge of the same pair).
pub(super) async fn record(
    conn: &mut PgConnection,
    tenant: &str,
    kept: &str,
    absorbed: &str,
    undo: &MergeUndo,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO customer_merges (tenant, kept, absorbed, payload) VALUES ($1, $2, $3, $4::jsonb)
         ON CONFLICT (tenant, kept, absorbed) DO UPDATE SET payload = excluded.payload",
    )
    .bind(tenant)
    .bind(kept)
    .bind(absorbed)
    .bind(encode("customer merge", undo)?)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

impl PgStore {
    /// Undoes the merge of `absorbed` into `kept` in one transaction.
    pub(super) async fn unmerge_customers(
        &self,
        tenant: &TenantId,
        kept: &str,
        absorbed: &str,
    ) -> Result<Unmerged, StoreError> {
        let tenant = tenant.as_str();
        let mut tx = self.pool().begin().await?;
        let row = sqlx::query(
            "SELECT payload::text FROM customer_merges
             WHERE tenant = $1 AND kept = $2 AND absorbed = $3 FOR UPDATE",
        )
        .bind(tenant)
        .bind(kept)
        .bind(absorbed)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or_else(|| StoreError::NotFound {
            what: "merge",
            id: format!("{absorbed} into {kept}"),
        })?;
        let undo: MergeUndo = decode("customer merge", &row.try_get::<String, _>(0)?)?;
        let current = load_profile(&mut tx, tenant, kept).await?;
        let exists = sqlx::query("SELECT 1 FROM customers WHERE tenant = $1 AND id = $2")
            .bind(tenant)
            .bind(absorbed)
            .fetch_optional(&mut *tx)
            .await?;
        if exists.is_some() {
            return Err(StoreError::Exists {
                what: "customer",
                id: absorbed.to_owned(),
            });
        }
        let restored = undo.kept_restored(&current);
        write_profile(&mut tx, &restored).await?;
        write_profile(&mut tx, &undo.absorbed).await?;
        let mut given = Vec::new();
        for id in &undo.moved {
            let row = sqlx::query(
                "SELECT payload::text FROM interactions
                 WHERE tenant = $1 AND id = $2 AND customer = $3 FOR UPDATE",
            )
            .bind(tenant)
            .bind(id.as_str())
            .bind(kept)
            .fetch_optional(&mut *tx)
            .await?;
            let Some(row) = row else { continue };
            let mut record: InteractionRecord =
                decode("interaction", &row.try_get::<String, _>(0)?)?;
            record.customer = Some(undo.absorbed.id.clone());
            sqlx::query(
                "UPDATE interactions SET customer = $1, payload = $2::jsonb WHERE tenant = $3 AND id = $4",
            )
            .bind(absorbed)
            .bind(encode("interaction", &record)?)
            .bind(tenant)
            .bind(id.as_str())
            .execute(&mut *tx)
            .await?;
            given.push(id.clone());
        }
        sqlx::query(
            "DELETE FROM customer_merges WHERE tenant = $1 AND kept = $2 AND absorbed = $3",
        )
        .bind(tenant)
        .bind(kept)
        .bind(absorbed)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Unmerged {
            kept: restored,
            absorbed: undo.absorbed,
            interactions: given,
        })
    }
}
