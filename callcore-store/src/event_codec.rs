//! The compact binary encoding of an [`EventKind`], as SQLite's journal
//! stores it (`events.body`).
//!
//! JSON of an internally tagged enum is slow to read back (serde buffers every
//! object once to find its `type`), and a day's report reads half a million
//! events. This encoding writes each variant's fields in a fixed order:
//!
//! ```text
//! body    = FORMAT variant field*          FORMAT = 1
//!         | FORMAT 0 json-of-the-kind      (kinds with nested configuration)
//! string  = varint(len) utf8-bytes
//! option  = 0 | 1 value
//! integer = varint (LEB128); signed ones zig-zag first
//! enum    = string holding the value's JSON (`"busy"`, `{"not_ready":"lunch"}`)
//! ```
//!
//! Tools that read the SQLite file directly decode `body` with [`decode`].
//!
//! ```
//! use callcore::EventKind;
//! use callcore_store::event_codec::{decode, encode, Interner};
//! let kind = EventKind::Held { interaction: "int-1".into() };
//! let mut body = Vec::new();
//! encode(&kind, &mut body)?;
//! assert_eq!(body.len(), 2 + 1 + 5);
//! assert_eq!(decode(&body, &mut Interner::default())?, kind);
//! # Ok::<(), callcore_store::StoreError>(())
//! ```
//!
//! Enums keep their serde form, so a renamed or added enum variant needs no
//! change here. Every variant is destructured without `..`, so a field added
//! to an event in callcore fails to compile here rather than being dropped;
//! a variant this build does not know is written as JSON. Agent, queue and
//! tenant ids are interned while decoding (a day has a few hundred of them
//! and hundreds of thousands of events).

use crate::StoreError;
use callcore::{
    AgentId, Event, EventKind, Interaction, InteractionContext, InteractionId, Pii, QueueId,
    TenantId, Timestamp,
};
use std::collections::HashSet;

const FORMAT: u8 = 1;
const JSON: u8 = 0;

/// Appends the encoding of `kind` to `buf`.
///
/// # Errors
/// [`StoreError::Codec`] when a JSON part cannot be encoded (it always can
/// for callcore's types).
pub fn encode(kind: &EventKind, buf: &mut Vec<u8>) -> Result<(), StoreError> {
    use EventKind as E;
    let mut w = Writer(buf);
    w.byte(FORMAT);
    match kind {
        E::InteractionCreated { interaction } => {
            w.byte(1);
            let Interaction {
                id,
                tenant,
                channel,
                direction,
                from,
                to,
                customer,
                attributes,
                context,
                created_at,
            } = &**interaction;
            w.str(id.as_str());
            w.str(tenant.as_str());
            w.json(channel)?;
            w.json(direction)?;
            w.str(from.expose());
            w.str(to);
            w.opt_str(customer.as_ref().map(callcore::CustomerId::as_str));
            w.varint(attributes.len() as u64);
            for (k, v) in attributes {
                w.str(k);
                w.str(v);
            }
            if *context == InteractionContext::default() {
                w.byte(0);
            } else {
                w.byte(1);
                w.json(context)?;
            }
            w.time(*created_at);
        }
        E::FlowStep {
            interaction,
            step,
            detail,
        } => {
            w.byte(2);
            w.str(interaction.as_str());
            w.str(step);
            w.str(detail);
        }
        E::Queued {
            interaction,
            queue,
            position,
            estimated_wait_secs,
        } => {
            w.byte(3);
            w.str(interaction.as_str());
            w.str(queue.as_str());
            w.varint(u64::from(*position));
            match estimated_wait_secs {
                Some(s) => {
                    w.byte(1);
                    w.varint(u64::from(*s));
                }
                None => w.byte(0),
            }
        }
        E::Offered {
            interaction,
            queue,
            agent,
            reservation,
            expires_at,
        } => {
            w.byte(4);
            w.str(interaction.as_str());
            w.str(queue.as_str());
            w.str(agent.as_str());
            w.str(reservation.as_str());
            w.time(*expires_at);
        }
        E::OfferAccepted {
            interaction,
            agent,
            reservation,
        } => {
            w.byte(5);
            w.str(interaction.as_str());
            w.str(agent.as_str());
            w.str(reservation.as_str());
        }
        E::OfferEnded {
            interaction,
            agent,
            reservation,
            outcome,
        } => {
            w.byte(6);
            w.str(interaction.as_str());
            w.str(agent.as_str());
            w.str(reservation.as_str());
            w.json(outcome)?;
        }
        E::Connected {
            interaction,
            agent,
            queue,
        } => {
            w.byte(7);
            w.str(interaction.as_str());
            w.str(agent.as_str());
            w.str(queue.as_str());
        }
        E::Held { interaction } => {
            w.byte(8);
            w.str(interaction.as_str());
        }
        E::Resumed { interaction } => {
            w.byte(9);
            w.str(interaction.as_str());
        }
        E::Transferred {
            interaction,
            target,
        } => {
            w.byte(10);
            w.str(interaction.as_str());
            w.str(target);
        }
        E::Abandoned { interaction, queue } => {
            w.byte(11);
            w.str(interaction.as_str());
            w.str(queue.as_str());
        }
        E::Overflowed {
            interaction,
            queue,
            destination,
        } => {
            w.byte(12);
            w.str(interaction.as_str());
            w.str(queue.as_str());
            w.json(destination)?;
        }
        E::QueueExited {
            interaction,
            queue,
            reason,
        } => {
            w.byte(13);
            w.str(interaction.as_str());
            w.str(queue.as_str());
            w.str(reason);
        }
        E::Ended {
            interaction,
            reason,
        } => {
            w.byte(14);
            w.str(interaction.as_str());
            w.json(reason)?;
        }
        E::WrapUpStarted {
            interaction,
            agent,
            duration_secs,
        } => {
            w.byte(15);
            w.str(interaction.as_str());
            w.str(agent.as_str());
            w.varint(u64::from(*duration_secs));
        }
        E::WrapUpEnded { interaction, agent } => {
            w.byte(16);
            w.str(interaction.as_str());
            w.str(agent.as_str());
        }
        E::DispositionSet {
            interaction,
            agent,
            disposition,
        } => {
            w.byte(17);
            w.str(interaction.as_str());
            w.str(agent.as_str());
            w.json(disposition)?;
        }
        E::AgentStateChanged { agent, from, to } => {
            w.byte(18);
            w.str(agent.as_str());
            w.json(from)?;
            w.json(to)?;
        }
        E::AgentRemoved { agent } => {
            w.byte(20);
            w.str(agent.as_str());
        }
        E::QueueRemoved { queue } => {
            w.byte(22);
            w.str(queue.as_str());
        }
        E::RecordingStarted {
            interaction,
            recording,
        } => {
            w.byte(23);
            w.str(interaction.as_str());
            w.str(recording.as_str());
        }
        E::RecordingStopped {
            interaction,
            recording,
            duration_ms,
        } => {
            w.byte(24);
            w.str(interaction.as_str());
            w.str(recording.as_str());
            w.varint(*duration_ms);
        }
        E::TranscriptSegment {
            interaction,
            speaker,
            text,
            offset_ms,
        } => {
            w.byte(25);
            w.str(interaction.as_str());
            w.json(speaker)?;
            w.str(text.expose());
            w.varint(*offset_ms);
        }
        E::QualityAlert {
            interaction,
            rule,
            detail,
        } => {
            w.byte(26);
            w.str(interaction.as_str());
            w.str(rule);
            w.str(detail);
        }
        E::DialAttempted {
            interaction,
            campaign,
            lead,
            disposition,
        } => {
            w.byte(27);
            w.str(interaction.as_str());
            w.str(campaign.as_str());
            w.str(lead.as_str());
            w.json(disposition)?;
        }
        E::Usage {
            meter,
            quantity,
            channel,
        } => {
            w.byte(28);
            w.str(meter);
            w.0.extend_from_slice(&quantity.to_le_bytes());
            w.json(channel)?;
        }
        // Agent and queue definitions (rare, and nested configuration), and
        // any variant newer than this build: the kind's JSON.
        other => {
            w.byte(JSON);
            serde_json::to_writer(&mut *w.0, other).map_err(StoreError::codec("event"))?;
        }
    }
    Ok(())
}

/// Reuses the ids seen while decoding many events: one allocation per
/// distinct agent, queue and tenant instead of one per event.
#[derive(Debug, Default)]
pub struct Interner {
    agents: HashSet<AgentId>,
    queues: HashSet<QueueId>,
    tenants: HashSet<TenantId>,
}

fn intern<T>(set: &mut HashSet<T>, s: &str) -> T
where
    T: Clone + Eq + std::hash::Hash + std::borrow::Borrow<str> + for<'a> From<&'a str>,
{
    if let Some(id) = set.get(s) {
        return id.clone();
    }
    let id = T::from(s);
    set.insert(id.clone());
    id
}

impl Interner {
    /// The agent id `s`, shared with earlier ones.
    pub fn agent(&mut self, s: &str) -> AgentId {
        intern(&mut self.agents, s)
    }
    /// The queue id `s`, shared with earlier ones.
    pub fn queue(&mut self, s: &str) -> QueueId {
        intern(&mut self.queues, s)
    }
    /// The tenant id `s`, shared with earlier ones.
    pub fn tenant(&mut self, s: &str) -> TenantId {
        intern(&mut self.tenants, s)
    }
}

/// Decodes one journal row: the columns plus the body.
///
/// # Errors
/// [`StoreError::Invalid`] for a truncated or unknown body,
/// [`StoreError::Codec`] for a bad JSON part.
pub fn decode_event(
    tenant: TenantId,
    seq: i64,
    at_ms: i64,
    body: &[u8],
    ids: &mut Interner,
) -> Result<Event, StoreError> {
    Ok(Event {
        seq: u64::try_from(seq).map_err(|_| bad(format!("negative sequence {seq}")))?,
        at: Timestamp::from_millis(at_ms),
        tenant,
        kind: decode(body, ids)?,
    })
}

/// Decodes a body written by [`encode`].
///
/// # Errors
/// As [`decode_event`].
pub fn decode(body: &[u8], ids: &mut Interner) -> Result<EventKind, StoreError> {
    use EventKind as E;
    let mut r = Reader { buf: body, pos: 0 };
    let format = r.byte()?;
    if format != FORMAT {
        return Err(bad(format!("unknown body format {format}")));
    }
    let variant = r.byte()?;
    let interaction = |r: &mut Reader<'_>| -> Result<InteractionId, StoreError> {
        Ok(InteractionId::from(r.str()?))
    };
    let kind = match variant {
        JSON => return serde_json::from_slice(r.rest()).map_err(StoreError::codec("event")),
        1 => {
            let id = interaction(&mut r)?;
            let tenant = ids.tenant(r.str()?);
            let channel = r.json()?;
            let direction = r.json()?;
            let from = Pii::new(r.str()?.to_owned());
            let to = r.str()?.to_owned();
            let customer = r.opt_str()?.map(callcore::CustomerId::from);
            let mut attributes = std::collections::BTreeMap::new();
            for _ in 0..r.varint()? {
                let k = r.str()?.to_owned();
                attributes.insert(k, r.str()?.to_owned());
            }
            let context = if r.byte()? == 0 {
                InteractionContext::default()
            } else {
                r.json()?
            };
            let created_at = r.time()?;
            E::InteractionCreated {
                interaction: Box::new(Interaction {
                    id,
                    tenant,
                    channel,
                    direction,
                    from,
                    to,
                    customer,
                    attributes,
                    context,
                    created_at,
                }),
            }
        }
        2 => E::FlowStep {
            interaction: interaction(&mut r)?,
            step: r.str()?.to_owned(),
            detail: r.str()?.to_owned(),
        },
        3 => E::Queued {
            interaction: interaction(&mut r)?,
            queue: ids.queue(r.str()?),
            position: r.u32()?,
            estimated_wait_secs: if r.byte()? == 0 { None } else { Some(r.u32()?) },
        },
        4 => E::Offered {
            interaction: interaction(&mut r)?,
            queue: ids.queue(r.str()?),
            agent: ids.agent(r.str()?),
            reservation: r.str()?.into(),
            expires_at: r.time()?,
        },
        5 => E::OfferAccepted {
            interaction: interaction(&mut r)?,
            agent: ids.agent(r.str()?),
            reservation: r.str()?.into(),
        },
        6 => E::OfferEnded {
            interaction: interaction(&mut r)?,
            agent: ids.agent(r.str()?),
            reservation: r.str()?.into(),
            outcome: r.json()?,
        },
        7 => E::Connected {
            interaction: interaction(&mut r)?,
            agent: ids.agent(r.str()?),
            queue: ids.queue(r.str()?),
        },
        8 => E::Held {
            interaction: interaction(&mut r)?,
        },
        9 => E::Resumed {
            interaction: interaction(&mut r)?,
        },
        10 => E::Transferred {
            interaction: interaction(&mut r)?,
            target: r.str()?.to_owned(),
        },
        11 => E::Abandoned {
            interaction: interaction(&mut r)?,
            queue: ids.queue(r.str()?),
        },
        12 => E::Overflowed {
            interaction: interaction(&mut r)?,
            queue: ids.queue(r.str()?),
            destination: r.json()?,
        },
        13 => E::QueueExited {
            interaction: interaction(&mut r)?,
            queue: ids.queue(r.str()?),
            reason: r.str()?.to_owned(),
        },
        14 => E::Ended {
            interaction: interaction(&mut r)?,
            reason: r.json()?,
        },
        15 => E::WrapUpStarted {
            interaction: interaction(&mut r)?,
            agent: ids.agent(r.str()?),
            duration_secs: r.u32()?,
        },
        16 => E::WrapUpEnded {
            interaction: interaction(&mut r)?,
            agent: ids.agent(r.str()?),
        },
        17 => E::DispositionSet {
            interaction: interaction(&mut r)?,
            agent: ids.agent(r.str()?),
            disposition: r.json()?,
        },
        18 => E::AgentStateChanged {
            agent: ids.agent(r.str()?),
            from: r.json()?,
            to: r.json()?,
        },
        20 => E::AgentRemoved {
            agent: ids.agent(r.str()?),
        },
        22 => E::QueueRemoved {
            queue: ids.queue(r.str()?),
        },
        23 => E::RecordingStarted {
            interaction: interaction(&mut r)?,
            recording: r.str()?.into(),
        },
        24 => E::RecordingStopped {
            interaction: interaction(&mut r)?,
            recording: r.str()?.into(),
            duration_ms: r.varint()?,
        },
        25 => E::TranscriptSegment {
            interaction: interaction(&mut r)?,
            speaker: r.json()?,
            text: Pii::new(r.str()?.to_owned()),
            offset_ms: r.varint()?,
        },
        26 => E::QualityAlert {
            interaction: interaction(&mut r)?,
            rule: r.str()?.to_owned(),
            detail: r.str()?.to_owned(),
        },
        27 => E::DialAttempted {
            interaction: interaction(&mut r)?,
            campaign: r.str()?.into(),
            lead: r.str()?.into(),
            disposition: r.json()?,
        },
        28 => E::Usage {
            meter: r.str()?.to_owned(),
            quantity: r.f64()?,
            channel: r.json()?,
        },
        other => return Err(bad(format!("unknown event variant {other}"))),
    };
    if r.pos != body.len() {
        return Err(bad(format!(
            "{} bytes left after a {} event",
            body.len() - r.pos,
            kind.name()
        )));
    }
    Ok(kind)
}

fn bad(reason: String) -> StoreError {
    StoreError::Invalid {
        field: "events.body",
        reason,
    }
}

struct Writer<'a>(&'a mut Vec<u8>);

impl Writer<'_> {
    fn byte(&mut self, b: u8) {
        self.0.push(b);
    }

    fn varint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.0.push((v as u8 & 0x7f) | 0x80);
            v >>= 7;
        }
        self.0.push(v as u8);
    }

    fn str(&mut self, s: &str) {
        self.varint(s.len() as u64);
        self.0.extend_from_slice(s.as_bytes());
    }

    fn opt_str(&mut self, s: Option<&str>) {
        match s {
            Some(s) => {
                self.byte(1);
                self.str(s);
            }
            None => self.byte(0),
        }
    }

    fn time(&mut self, t: Timestamp) {
        let v = t.as_millis();
        // Zig-zag: small magnitudes of either sign stay short.
        self.varint(((v << 1) ^ (v >> 63)) as u64);
    }

    /// A value's JSON as a string, written in place (no scratch buffer): a
    /// one-byte length is reserved and widened when the JSON is longer.
    fn json<T: serde::Serialize>(&mut self, value: &T) -> Result<(), StoreError> {
        let at = self.0.len();
        self.0.push(0);
        serde_json::to_writer(&mut *self.0, value).map_err(StoreError::codec("event"))?;
        let len = self.0.len() - at - 1;
        if len < 0x80 {
            self.0[at] = len as u8;
        } else {
            let mut prefix = Vec::with_capacity(4);
            Writer(&mut prefix).varint(len as u64);
            self.0.splice(at..=at, prefix);
        }
        Ok(())
    }
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn byte(&mut self) -> Result<u8, StoreError> {
        let b = *self
            .buf
            .get(self.pos)
            .ok_or_else(|| bad("truncated body".into()))?;
        self.pos += 1;
        Ok(b)
    }

    fn varint(&mut self) -> Result<u64, StoreError> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(bad("varint longer than 64 bits".into()))
    }

    fn u32(&mut self) -> Result<u32, StoreError> {
        let v = self.varint()?;
        u32::try_from(v).map_err(|_| bad(format!("{v} does not fit 32 bits")))
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], StoreError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|end| *end <= self.buf.len())
            .ok_or_else(|| bad("truncated body".into()))?;
        let s = &self.buf[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn str(&mut self) -> Result<&'a str, StoreError> {
        let n = usize::try_from(self.varint()?).map_err(|_| bad("string too long".into()))?;
        std::str::from_utf8(self.take(n)?).map_err(|e| bad(format!("bad UTF-8: {e}")))
    }

    fn opt_str(&mut self) -> Result<Option<&'a str>, StoreError> {
        Ok(if self.byte()? == 0 {
            None
        } else {
            Some(self.str()?)
        })
    }

    fn time(&mut self) -> Result<Timestamp, StoreError> {
        let z = self.varint()?;
        let v = ((z >> 1) as i64) ^ -((z & 1) as i64);
        Ok(Timestamp::from_millis(v))
    }

    fn f64(&mut self) -> Result<f64, StoreError> {
        let bytes: [u8; 8] = self
            .take(8)?
            .try_into()
            .map_err(|_| bad("truncated number".into()))?;
        Ok(f64::from_le_bytes(bytes))
    }

    fn json<T: serde::de::DeserializeOwned>(&mut self) -> Result<T, StoreError> {
        let n = usize::try_from(self.varint()?).map_err(|_| bad("value too long".into()))?;
        serde_json::from_slice(self.take(n)?).map_err(StoreError::codec("event"))
    }

    fn rest(&mut self) -> &'a [u8] {
        let s = &self.buf[self.pos..];
        self.pos = self.buf.len();
        s
    }
}

#[cfg(test)]
#[path = "event_codec_tests.rs"]
mod tests;
