//! Customer merges kept to be undone (`customer_merges`, migration 3) on
//! SQLite: written in the merge's transaction, read and removed in the
//! undo's.

use rusqlite::{Connection, OptionalExtension, params};

use super::stores::{load_profile, write_profile};
use crate::StoreError;
use crate::codec::{decode, encode};
use callcore::{InteractionRecord, MergeUndo, Unmerged};

/// Keeps what the merge of `absorbed` into `kept` changed (replacing an
/// earlier merge of the same pair).
pub(super) fn record(
    c: &Connection,
    tenant: &str,
    kept: &str,
    absorbed: &str,
    undo: &MergeUndo,
) -> Result<(), StoreError> {
    c.execute(
        "INSERT INTO customer_merges (tenant, kept, absorbed, payload) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (tenant, kept, absorbed) DO UPDATE SET payload = excluded.payload",
        params![tenant, kept, absorbed, encode("customer merge", undo)?],
    )?;
    Ok(())
}

/// Undoes the merge of `absorbed` into `kept` in one transaction.
pub(super) fn undo(
    c: &mut Connection,
    tenant: &str,
    kept: &str,
    absorbed: &str,
) -> Result<Unmerged, StoreError> {
    let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let payload: Option<String> = tx
        .query_row(
            "SELECT payload FROM customer_merges WHERE tenant = ?1 AND kept = ?2 AND absorbed = ?3",
            params![tenant, kept, absorbed],
            |r| r.get(0),
        )
        .optional()?;
    let undo: MergeUndo = decode(
        "customer merge",
        &payload.ok_or_else(|| StoreError::NotFound {
            what: "merge",
            id: format!("{absorbed} into {kept}"),
        })?,
    )?;
    let current = load_profile(&tx, tenant, kept)?;
    let exists: Option<i64> = tx
        .query_row(
            "SELECT 1 FROM customers WHERE tenant = ?1 AND id = ?2",
            params![tenant, absorbed],
            |r| r.get(0),
        )
        .optional()?;
    if exists.is_some() {
        return Err(StoreError::Exists {
            what: "customer",
            id: absorbed.to_owned(),
        });
    }
    let restored = undo.kept_restored(&current);
    write_profile(&tx, &restored)?;
    write_profile(&tx, &undo.absorbed)?;
    let mut given = Vec::new();
    for id in &undo.moved {
        let payload: Option<String> = tx
            .query_row(
                "SELECT payload FROM interactions WHERE tenant = ?1 AND id = ?2 AND customer = ?3",
                params![tenant, id.as_str(), kept],
                |r| r.get(0),
            )
            .optional()?;
        let Some(payload) = payload else { continue };
        let mut record: InteractionRecord = decode("interaction", &payload)?;
        record.customer = Some(undo.absorbed.id.clone());
        tx.execute(
            "UPDATE interactions SET customer = ?1, payload = ?2 WHERE tenant = ?3 AND id = ?4",
            params![
                absorbed,
                encode("interaction", &record)?,
                tenant,
                id.as_str()
            ],
        )?;
        given.push(id.clone());
    }
    tx.execute(
        "DELETE FROM customer_merges WHERE tenant = ?1 AND kept = ?2 AND absorbed = ?3",
        params![tenant, kept, absorbed],
    )?;
    tx.commit()?;
    Ok(Unmerged {
        kept: restored,
        absorbed: undo.absorbed,
        interactions: given,
    })
}
