//! The SQLite event journal: batches encoded on the caller's thread, written
//! by the writer thread in one transaction, read back and decoded in one pass;
//! and the records rebuilt from it after a crash ([`crate::recovery`]).

use crate::event_codec::{self, Interner};
use crate::{StoreError, codec, recovery};
use callcore::{AgentId, Event, InteractionId, TenantId, Timestamp};
use rusqlite::Connection;
use rusqlite::types::{Value, ValueRef};
use std::ops::Range;

/// The insert every batch reuses (prepared once per connection).
const INSERT: &str =
    "INSERT INTO events (tenant, seq, at_ms, interaction, agent, kind, payload, body)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, '', ?7)";

/// One row of a batch: the indexed columns (ids are reference-counted, not
/// copied) and where its body lies in the batch's buffer.
#[derive(Debug)]
struct Row {
    tenant: TenantId,
    seq: i64,
    at_ms: i64,
    interaction: Option<InteractionId>,
    agent: Option<AgentId>,
    kind: &'static str,
    body: Range<usize>,
}

/// A batch of events ready to insert: one buffer for every body, so encoding
/// allocates per batch, not per event.
#[derive(Debug)]
pub(crate) struct EncodedBatch {
    rows: Vec<Row>,
    bodies: Vec<u8>,
}

impl EncodedBatch {
    /// Encodes `events`.
    ///
    /// # Errors
    /// [`StoreError::Invalid`] for a sequence number over `i64::MAX`.
    pub(crate) fn new(events: &[Event]) -> Result<Self, StoreError> {
        let mut rows = Vec::with_capacity(events.len());
        // About 40 bytes per common event; the buffer grows if needed.
        let mut bodies = Vec::with_capacity(events.len() * 48);
        for e in events {
            let start = bodies.len();
            event_codec::encode(&e.kind, &mut bodies)?;
            rows.push(Row {
                tenant: e.tenant.clone(),
                seq: i64::try_from(e.seq).map_err(|_| StoreError::Invalid {
                    field: "event.seq",
                    reason: format!("{} does not fit a signed 64-bit column", e.seq),
                })?,
                at_ms: e.at.as_millis(),
                interaction: e.interaction().cloned(),
                agent: e.agent().cloned(),
                kind: e.kind.name(),
                body: start..bodies.len(),
            });
        }
        Ok(Self { rows, bodies })
    }

    /// Inserts the batch in one transaction: all of it or nothing.
    pub(crate) fn insert(&self, conn: &mut Connection) -> Result<(), StoreError> {
        let tx = conn.transaction()?;
        {
            let mut insert = tx.prepare_cached(INSERT)?;
            for r in &self.rows {
                insert.execute(rusqlite::params![
                    r.tenant.as_str(),
                    r.seq,
                    r.at_ms,
                    r.interaction.as_ref().map(InteractionId::as_str),
                    r.agent.as_ref().map(AgentId::as_str),
                    r.kind,
                    &self.bodies[r.body.clone()],
                ])?;
            }
        }
        tx.commit()?;
        Ok(())
    }
}

/// Runs `sql` (selecting `seq, at_ms, payload, body` of one tenant's events)
/// and decodes every row as it is read: compact bodies, or the JSON payload
/// of rows written before schema version 2.
pub(crate) fn read_events(
    conn: &Connection,
    tenant: &TenantId,
    sql: &str,
    args: &[Value],
) -> Result<Vec<Event>, StoreError> {
    let mut stmt = conn.prepare_cached(sql)?;
    let mut rows = stmt.query(rusqlite::params_from_iter(args.iter()))?;
    let mut ids = Interner::default();
    let tenant = ids.tenant(tenant.as_str());
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        out.push(decode_row(row, &tenant, &mut ids)?);
    }
    Ok(out)
}

/// Decodes a row selected as `seq, at_ms, payload, body`.
fn decode_row(
    row: &rusqlite::Row<'_>,
    tenant: &TenantId,
    ids: &mut Interner,
) -> Result<Event, StoreError> {
    let (seq, at_ms): (i64, i64) = (row.get(0)?, row.get(1)?);
    match row.get_ref(3)? {
        ValueRef::Blob(body) => event_codec::decode_event(tenant.clone(), seq, at_ms, body, ids),
        _ => {
            let payload = row.get_ref(2)?.as_str().map_err(|e| StoreError::Invalid {
                field: "events.payload",
                reason: e.to_string(),
            })?;
            Ok(Event {
                seq: u64::try_from(seq).map_err(|_| StoreError::Invalid {
                    field: "events.seq",
                    reason: format!("negative sequence {seq}"),
                })?,
                at: Timestamp::from_millis(at_ms),
                tenant: tenant.clone(),
                kind: codec::decode("event", payload)?,
            })
        }
    }
}

/// One tenant's events with `from <= at < to` (of `kinds`, or all when it is
/// empty), in journal order.
///
/// The journal's order is its row id, and the time index is ordered by time:
/// reading a period through it would make SQLite sort the whole period (half
/// a million rows for a day's report). Instead, the index gives the period's
/// first and last row id, and the rows between are read along the primary
/// key, already in order, keeping those of the tenant, period and kinds.
pub(crate) fn read_period(
    conn: &Connection,
    tenant: &TenantId,
    from: Timestamp,
    to: Timestamp,
    kinds: &[String],
) -> Result<Vec<Event>, StoreError> {
    let (from, to) = (from.as_millis(), to.as_millis());
    let span: (Option<i64>, Option<i64>) = conn
        .prepare_cached(
            "SELECT MIN(id), MAX(id) FROM events WHERE tenant = ?1 AND at_ms >= ?2 AND at_ms < ?3",
        )?
        .query_row(rusqlite::params![tenant.as_str(), from, to], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })?;
    let (Some(first), Some(last)) = span else {
        return Ok(Vec::new());
    };
    // The kinds are filtered here rather than in SQL: comparing the kind
    // column with a short list is cheaper than SQLite's lookup of an `IN`
    // list per row.
    let mut stmt = conn.prepare_cached(
        "SELECT seq, at_ms, payload, body, kind FROM events NOT INDEXED
         WHERE id >= ?4 AND id <= ?5 AND tenant = ?1 AND at_ms >= ?2 AND at_ms < ?3
         ORDER BY id",
    )?;
    let mut rows = stmt.query(rusqlite::params![tenant.as_str(), from, to, first, last])?;
    let mut ids = Interner::default();
    let tenant = ids.tenant(tenant.as_str());
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        if !kinds.is_empty() {
            let kind = row
                .get_ref(4)?
                .as_bytes()
                .map_err(|e| StoreError::Invalid {
                    field: "events.kind",
                    reason: e.to_string(),
                })?;
            if !kinds.iter().any(|k| k.as_bytes() == kind) {
                continue;
            }
        }
        out.push(decode_row(row, &tenant, &mut ids)?);
    }
    Ok(out)
}

/// Saves the records of interactions whose end is journaled but whose record
/// is missing (a crash between the two commits); returns how many.
pub(crate) fn recover_records(conn: &Connection) -> Result<usize, StoreError> {
    let sql = recovery::UNRECORDED_ENDS.replace("{TAIL}", "?1");
    let missing: Vec<(String, String)> = conn
        .prepare(&sql)?
        .query_map([recovery::TAIL_EVENTS], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    let mut saved = 0;
    for (tenant, id) in missing {
        let events = read_events(
            conn,
            &TenantId::from(tenant.as_str()),
            "SELECT seq, at_ms, payload, body FROM events
             WHERE tenant = ?1 AND interaction = ?2 ORDER BY id",
            &[Value::Text(tenant.clone()), Value::Text(id.clone())],
        )?;
        let Some(record) = recovery::rebuild(&events) else {
            continue;
        };
        let r = codec::interaction_row(&record)?;
        saved += conn
            .prepare_cached(
                "INSERT INTO interactions
                   (tenant, id, created_at_ms, channel, customer, queue, agent, ended_at_ms, payload)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
                 ON CONFLICT (tenant, id) DO NOTHING",
            )?
            .execute(rusqlite::params![
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
    }
    if saved > 0 {
        tracing::warn!(
            saved,
            "rebuilt call detail records from the journal (the process had stopped between journaling an end and saving its record)"
        );
    }
    Ok(saved)
}
