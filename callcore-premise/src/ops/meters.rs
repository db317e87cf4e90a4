//! Meters wrapped around the center's ports, so that the operations view reads
//! figures without the runtime or the media engine knowing: the journal counts
//! the events it wrote, the media engine's legs are kept to sum their RTP
//! counters.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use callcore::{
    CoreError, Event, EventJournal, InteractionId, LegMediaPort, LegMediaRequest, MediaAttach,
    TenantId, Timestamp,
};
use callcore_media::leg_port::RtpLeg;

/// An [`EventJournal`] that counts the events written through it.
#[derive(Clone)]
pub struct MeteredJournal {
    inner: Arc<dyn EventJournal>,
    written: Arc<AtomicU64>,
}

impl std::fmt::Debug for MeteredJournal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MeteredJournal")
            .field("written", &self.written())
            .finish_non_exhaustive()
    }
}

impl MeteredJournal {
    /// Wraps `inner`.
    pub fn new(inner: Arc<dyn EventJournal>) -> Self {
        MeteredJournal {
            inner,
            written: Arc::default(),
        }
    }

    /// Events written successfully so far.
    pub fn written(&self) -> u64 {
        self.written.load(Ordering::Relaxed)
    }
}

#[async_trait]
impl EventJournal for MeteredJournal {
    async fn append(&self, events: &[Event]) -> Result<(), CoreError> {
        self.inner.append(events).await?;
        self.written
            .fetch_add(events.len() as u64, Ordering::Relaxed);
        Ok(())
    }

    async fn for_interaction(
        &self,
        tenant: &TenantId,
        interaction: &InteractionId,
    ) -> Result<Vec<Event>, CoreError> {
        self.inner.for_interaction(tenant, interaction).await
    }

    async fn between(
        &self,
        tenant: &TenantId,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<Event>, CoreError> {
        self.inner.between(tenant, from, to).await
    }

    // forwarded, or the calls a crash interrupted would never be closed
    async fn unended(
        &self,
        tenant: &TenantId,
        window: std::time::Duration,
    ) -> Result<Vec<callcore::InteractionId>, CoreError> {
        self.inner.unended(tenant, window).await
    }
}

/// Upper bounds (seconds) of the legs' jitter histogram.
pub const JITTER_BUCKETS: [f64; 7] = [0.001, 0.005, 0.01, 0.02, 0.05, 0.1, 0.5];

/// RTP packets over every leg since the start (live legs and retired ones).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RtpTotals {
    /// Received from far ends.
    pub received: u64,
    /// Sent to far ends.
    pub sent: u64,
    /// Relayed between bridged legs.
    pub relayed: u64,
    /// SRTP/SRTCP packets dropped for failing authentication (a wrong key,
    /// tampered, replayed, or plain RTP on an SRTP leg).
    pub srtp_rejected: u64,
    /// Legs alive (ports reserved and not yet released by their owner).
    pub legs: u64,
    /// Packets the far ends' sequence numbers say they sent (RFC 3550 A.3).
    pub expected: u64,
    /// Packets lost on the way from far ends (expected − received).
    pub lost: u64,
    /// The highest interarrival jitter among live legs, in microseconds.
    pub jitter_max_us: u64,
    /// Ended legs that received RTP, by their last jitter: cumulative counts
    /// per [`JITTER_BUCKETS`] bound, then the total.
    pub jitter_legs: [u64; JITTER_BUCKETS.len() + 1],
    /// Sum of the ended legs' jitter, in microseconds.
    pub jitter_sum_us: u64,
}

#[derive(Debug, Default)]
struct Legs {
    live: Vec<Arc<dyn LegMediaPort>>,
    retired: RtpTotals,
    /// What the last read showed of `expected` and `lost`: a late packet may
    /// lower a live leg's loss, a counter never goes down.
    shown: (u64, u64),
}

/// A [`MediaAttach`] that hands out its inner engine's ports unchanged and keeps
/// a reference to each, to sum their RTP counters; a leg nobody else holds any
/// more is retired into the totals at the next read.
#[derive(Clone)]
pub struct MeteredMedia {
    inner: Arc<dyn MediaAttach>,
    legs: Arc<Mutex<Legs>>,
}

impl std::fmt::Debug for MeteredMedia {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MeteredMedia").finish_non_exhaustive()
    }
}

fn add(t: &mut RtpTotals, port: &dyn LegMediaPort, retiring: bool) {
    if let Some(leg) = port.as_any().downcast_ref::<RtpLeg>() {
        let s = leg.stats();
        t.received += s.received;
        t.sent += s.sent;
        t.relayed += s.relayed;
        t.srtp_rejected += s.srtp_rejected;
        t.expected += s.expected;
        t.lost += s.lost;
        if !retiring {
            t.jitter_max_us = t.jitter_max_us.max(s.jitter_us);
        } else if s.expected > 0 {
            let secs = s.jitter_us as f64 / 1e6;
            for (i, bound) in JITTER_BUCKETS.iter().enumerate() {
                if secs <= *bound {
                    t.jitter_legs[i] += 1;
                }
            }
            t.jitter_legs[JITTER_BUCKETS.len()] += 1;
            t.jitter_sum_us += s.jitter_us;
        }
    }
}

impl MeteredMedia {
    /// Wraps `inner` (callcore-media's `RtpMedia`; other engines' legs count as
    /// legs without packets).
    pub fn new(inner: Arc<dyn MediaAttach>) -> Self {
        MeteredMedia {
            inner,
            legs: Arc::default(),
        }
    }

    /// The totals now; retires legs that ended.
    pub fn totals(&self) -> RtpTotals {
        let mut legs = self
            .legs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut retired = legs.retired;
        legs.live.retain(|p| {
            if Arc::strong_count(p) > 1 {
                return true;
            }
            add(&mut retired, p.as_ref(), true);
            false
        });
        legs.retired = retired;
        let mut t = retired;
        t.jitter_max_us = 0;
        for p in &legs.live {
            add(&mut t, p.as_ref(), false);
        }
        t.legs = legs.live.len() as u64;
        t.expected = t.expected.max(legs.shown.0);
        t.lost = t.lost.max(legs.shown.1);
        legs.shown = (t.expected, t.lost);
        t
    }
}

#[async_trait]
impl MediaAttach for MeteredMedia {
    async fn reserve(&self, request: &LegMediaRequest) -> Result<Arc<dyn LegMediaPort>, CoreError> {
        let port = self.inner.reserve(request).await?;
        self.legs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .live
            .push(port.clone());
        Ok(port)
    }
}
