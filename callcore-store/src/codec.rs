//! Rows as both databases store them: indexed columns plus a JSON payload.
// Shared by both drivers; a build with one of them leaves some helpers unused.
#![cfg_attr(not(all(feature = "sqlite", feature = "postgres")), allow(dead_code))]

use crate::StoreError;
use callcore::{
    Campaign, CustomerProfile, DialAttempt, Event, IdentityKind, InteractionRecord, Lead,
    LeadStatus, RecordingMeta,
};

/// One journal row.
#[derive(Debug, Clone)]
pub(crate) struct EventRow {
    pub tenant: String,
    pub seq: i64,
    pub at_ms: i64,
    pub interaction: Option<String>,
    pub agent: Option<String>,
    pub kind: &'static str,
    pub payload: String,
}

pub(crate) fn event_row(event: &Event) -> Result<EventRow, StoreError> {
    Ok(EventRow {
        tenant: event.tenant.as_str().to_owned(),
        seq: i64::try_from(event.seq).map_err(|_| StoreError::Invalid {
            field: "event.seq",
            reason: format!("{} does not fit a signed 64-bit column", event.seq),
        })?,
        at_ms: event.at.as_millis(),
        interaction: event.interaction().map(|i| i.as_str().to_owned()),
        agent: event.agent().map(|a| a.as_str().to_owned()),
        kind: event.kind.name(),
        // The kind only (with its "type" tag): seq, time and tenant are
        // columns, and the kind alone decodes in one pass (the flattened
        // `Event` takes two).
        payload: serde_json::to_string(&event.kind).map_err(StoreError::codec("event"))?,
    })
}

pub(crate) fn event_rows(events: &[Event]) -> Result<Vec<EventRow>, StoreError> {
    events.iter().map(event_row).collect()
}

pub(crate) fn decode<T: serde::de::DeserializeOwned>(
    what: &'static str,
    payload: &str,
) -> Result<T, StoreError> {
    serde_json::from_str(payload).map_err(StoreError::codec(what))
}

pub(crate) fn encode<T: serde::Serialize>(
    what: &'static str,
    value: &T,
) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(StoreError::codec(what))
}

/// One call detail record row.
#[derive(Debug, Clone)]
pub(crate) struct InteractionRow {
    pub tenant: String,
    pub id: String,
    pub created_at_ms: i64,
    pub channel: &'static str,
    pub customer: Option<String>,
    pub queue: Option<String>,
    pub agent: Option<String>,
    pub ended_at_ms: Option<i64>,
    pub payload: String,
}

pub(crate) fn interaction_row(r: &InteractionRecord) -> Result<InteractionRow, StoreError> {
    Ok(InteractionRow {
        tenant: r.tenant.as_str().to_owned(),
        id: r.id.as_str().to_owned(),
        created_at_ms: r.created_at.as_millis(),
        channel: r.channel.as_str(),
        customer: r.customer.as_ref().map(|c| c.as_str().to_owned()),
        queue: r.queue.as_ref().map(|q| q.as_str().to_owned()),
        agent: r.agent.as_ref().map(|a| a.as_str().to_owned()),
        ended_at_ms: r.ended_at.map(callcore::Timestamp::as_millis),
        payload: encode("interaction", r)?,
    })
}

/// The stored name of an identity kind.
pub(crate) fn identity_kind(kind: IdentityKind) -> Result<String, StoreError> {
    match serde_json::to_value(kind).map_err(StoreError::codec("identity kind"))? {
        serde_json::Value::String(s) => Ok(s),
        other => Err(StoreError::Invalid {
            field: "identity.kind",
            reason: format!("unexpected encoding {other}"),
        }),
    }
}

/// A profile's identities as (kind, value) rows.
pub(crate) fn identity_rows(p: &CustomerProfile) -> Result<Vec<(String, String)>, StoreError> {
    p.identities
        .iter()
        .map(|i| Ok((identity_kind(i.kind)?, i.value.expose().clone())))
        .collect()
}

/// The stored name of a lead status.
pub(crate) fn lead_status(status: LeadStatus) -> Result<String, StoreError> {
    match serde_json::to_value(status).map_err(StoreError::codec("lead status"))? {
        serde_json::Value::String(s) => Ok(s),
        other => Err(StoreError::Invalid {
            field: "lead.status",
            reason: format!("unexpected encoding {other}"),
        }),
    }
}

/// One lead row: (tenant, campaign, id, status, next attempt, payload).
pub(crate) type LeadRow = (String, String, String, String, Option<i64>, String);

pub(crate) fn lead_row(l: &Lead) -> Result<LeadRow, StoreError> {
    Ok((
        l.tenant.as_str().to_owned(),
        l.campaign.as_str().to_owned(),
        l.id.as_str().to_owned(),
        lead_status(l.status)?,
        l.next_attempt_at.map(callcore::Timestamp::as_millis),
        encode("lead", l)?,
    ))
}

pub(crate) fn campaign_payload(c: &Campaign) -> Result<String, StoreError> {
    encode("campaign", c)
}

pub(crate) fn attempt_payload(a: &DialAttempt) -> Result<String, StoreError> {
    encode("dial attempt", a)
}

pub(crate) fn recording_payload(r: &RecordingMeta) -> Result<String, StoreError> {
    encode("recording", r)
}

/// The kinds of event a usage computation reads.
pub(crate) const USAGE_KINDS: &[&str] = &["usage", "recording_stopped", "agent_state_changed"];

/// A journal row as read back: (tenant, seq, at in ms, kind JSON).
pub(crate) type StoredEvent = (String, i64, i64, String);

fn decode_event(row: &StoredEvent) -> Result<Event, StoreError> {
    let (tenant, seq, at_ms, payload) = row;
    Ok(Event {
        seq: u64::try_from(*seq).map_err(|_| StoreError::Invalid {
            field: "events.seq",
            reason: format!("negative sequence {seq}"),
        })?,
        at: callcore::Timestamp::from_millis(*at_ms),
        tenant: callcore::TenantId::new(tenant.as_str()),
        kind: decode("event", payload)?,
    })
}

/// Decodes journal rows, on several threads when there are many (a day's
/// journal for a report is hundreds of thousands of events).
pub(crate) fn decode_events(rows: &[StoredEvent]) -> Result<Vec<Event>, StoreError> {
    const PER_THREAD: usize = 50_000;
    let threads = std::thread::available_parallelism()
        .map_or(1, std::num::NonZeroUsize::get)
        .min(rows.len().div_ceil(PER_THREAD))
        .max(1);
    if threads == 1 {
        return rows.iter().map(decode_event).collect();
    }
    let chunk = rows.len().div_ceil(threads);
    std::thread::scope(|scope| {
        let handles: Vec<_> = rows
            .chunks(chunk)
            .map(|part| {
                scope.spawn(move || part.iter().map(decode_event).collect::<Result<Vec<_>, _>>())
            })
            .collect();
        let mut out = Vec::with_capacity(rows.len());
        for h in handles {
            let part = h
                .join()
                .map_err(|_| StoreError::Worker("event decoding thread panicked".into()))??;
            out.extend(part);
        }
        Ok(out)
    })
}
