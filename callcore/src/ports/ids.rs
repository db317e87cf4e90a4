//! Where new ids come from: interactions, legs and recordings.
//!
//! A center that restarts, or runs as several nodes, must never hand out an id
//! it or another node already used: a record stored under a reused id would
//! replace another call's record, and a recording would be filed under the
//! wrong call. Ids are therefore minted through the [`IdSource`] port, and the
//! reference implementation [`UuidV7Ids`] mints UUIDv7 (RFC 9562): 48 bits of
//! milliseconds from the center's [`Clock`] followed by 74 random bits, so ids
//! sort by creation time (good for B-tree indexes and for reading logs) and two
//! nodes or two runs collide with negligible probability.
//!
//! Production uses [`UuidV7Ids::random`] (the random bits from the operating
//! system, so ids cannot be guessed from one another); tests and simulations
//! use [`UuidV7Ids::seeded`], which gives the same ids for the same seed and
//! virtual time.
//!
//! ```
//! use callcore::{IdSource, Timestamp, UuidV7Ids, VirtualClock};
//! use std::sync::Arc;
//! let clock = VirtualClock::new(Timestamp::from_secs(1_700_000_000));
//! let ids = UuidV7Ids::seeded(Arc::new(clock.clone()), 7);
//! let a = ids.interaction_id();
//! let b = ids.interaction_id();
//! assert_ne!(a, b);
//! assert_eq!(a.as_str().len(), 36);
//! assert_eq!(&a.as_str()[14..15], "7"); // the version nibble
//! // the same seed at the same virtual time mints the same ids
//! let again = UuidV7Ids::seeded(Arc::new(clock), 7);
//! assert_eq!(again.interaction_id(), a);
//! ```

use crate::{Clock, InteractionId, LegId, RecordingId, SeededRng};
use std::fmt;
use std::sync::{Arc, Mutex};

/// Mints ids that are unique across restarts and nodes.
///
/// Object-safe; transports, media engines and the runtime hold an
/// `Arc<dyn IdSource>` given by the assembly.
pub trait IdSource: Send + Sync + fmt::Debug {
    /// A new id, never returned before by this or any other source.
    fn mint(&self) -> String;

    /// A new interaction id.
    fn interaction_id(&self) -> InteractionId {
        InteractionId::new(self.mint())
    }

    /// A new leg id.
    fn leg_id(&self) -> LegId {
        LegId::new(self.mint())
    }

    /// A new recording id.
    fn recording_id(&self) -> RecordingId {
        RecordingId::new(self.mint())
    }
}

enum Randomness {
    /// Deterministic: for tests and simulations.
    Seeded(SeededRng),
    /// The operating system's generator.
    Os,
}

/// UUIDv7 ids: the time from a [`Clock`], the rest random (see the module
/// docs).
pub struct UuidV7Ids {
    clock: Arc<dyn Clock>,
    random: Mutex<Randomness>,
}

impl fmt::Debug for UuidV7Ids {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match *self.random.lock().unwrap_or_else(|p| p.into_inner()) {
            Randomness::Seeded(_) => "seeded",
            Randomness::Os => "os",
        };
        f.debug_struct("UuidV7Ids")
            .field("randomness", &kind)
            .finish_non_exhaustive()
    }
}

impl UuidV7Ids {
    /// Ids whose random bits come from the operating system: unpredictable,
    /// for production.
    #[must_use]
    pub fn random(clock: Arc<dyn Clock>) -> Self {
        Self {
            clock,
            random: Mutex::new(Randomness::Os),
        }
    }

    /// Ids whose random bits come from a [`SeededRng`]: the same seed and the
    /// same (virtual) times give the same ids. For tests and simulations only:
    /// these ids can be predicted.
    #[must_use]
    pub fn seeded(clock: Arc<dyn Clock>, seed: u64) -> Self {
        Self {
            clock,
            random: Mutex::new(Randomness::Seeded(SeededRng::new(seed))),
        }
    }

    fn random_bytes(&self) -> [u8; 10] {
        let mut bytes = [0u8; 10];
        let mut random = self.random.lock().unwrap_or_else(|p| p.into_inner());
        match &mut *random {
            Randomness::Seeded(rng) => {
                let a = rng.next_u64().to_le_bytes();
                let b = rng.next_u64().to_le_bytes();
                bytes[..8].copy_from_slice(&a);
                bytes[8..].copy_from_slice(&b[..2]);
            }
            Randomness::Os => {
                if getrandom::fill(&mut bytes).is_err() {
                    // No entropy source (should not happen on a supported OS):
                    // fall back to a generator seeded from the clock and the
                    // address of this source, so ids stay unique if not secret.
                    tracing::error!("the operating system gave no random bytes for an id");
                    let seed = u64::try_from(self.clock.now().as_millis()).unwrap_or(0)
                        ^ (std::ptr::from_ref(self) as usize as u64);
                    let mut rng = SeededRng::new(seed);
                    let a = rng.next_u64().to_le_bytes();
                    let b = rng.next_u64().to_le_bytes();
                    bytes[..8].copy_from_slice(&a);
                    bytes[8..].copy_from_slice(&b[..2]);
                    *random = Randomness::Seeded(rng);
                }
            }
        }
        bytes
    }
}

impl IdSource for UuidV7Ids {
    fn mint(&self) -> String {
        let millis = u64::try_from(self.clock.now().as_millis()).unwrap_or(0);
        let bytes = self.random_bytes();
        uuid::Builder::from_unix_timestamp_millis(millis, &bytes)
            .into_uuid()
            .hyphenated()
            .to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Timestamp, VirtualClock};
    use std::collections::HashSet;
    use std::time::Duration;

    #[test]
    fn ids_are_version_7_time_ordered_and_distinct() {
        let clock = VirtualClock::new(Timestamp::from_secs(1_700_000_000));
        let ids = UuidV7Ids::random(Arc::new(clock.clone()));
        let mut seen = HashSet::new();
        let mut last = String::new();
        for _ in 0..1000 {
            clock.advance(Duration::from_millis(1));
            let id = ids.mint();
            let parsed = uuid::Uuid::parse_str(&id).expect("a UUID");
            assert_eq!(parsed.get_version_num(), 7);
            assert!(id > last, "ids minted later sort later");
            last.clone_from(&id);
            assert!(seen.insert(id));
        }
    }

    #[test]
    fn two_sources_at_the_same_instant_do_not_collide() {
        // Two nodes, or a restart within the same millisecond.
        let clock = VirtualClock::new(Timestamp::from_secs(1_700_000_000));
        let a = UuidV7Ids::random(Arc::new(clock.clone()));
        let b = UuidV7Ids::random(Arc::new(clock));
        let from_a: HashSet<String> = (0..500).map(|_| a.mint()).collect();
        assert_eq!(from_a.len(), 500);
        assert!((0..500).all(|_| !from_a.contains(&b.mint())));
    }

    #[test]
    fn seeded_sources_repeat_and_differ_by_seed() {
        let clock = VirtualClock::new(Timestamp::from_secs(1_700_000_000));
        let one = UuidV7Ids::seeded(Arc::new(clock.clone()), 1);
        let again = UuidV7Ids::seeded(Arc::new(clock.clone()), 1);
        let other = UuidV7Ids::seeded(Arc::new(clock), 2);
        let x = one.leg_id();
        assert_eq!(again.leg_id(), x);
        assert_ne!(other.leg_id(), x);
        assert_ne!(one.recording_id().as_str(), x.as_str());
    }
}
