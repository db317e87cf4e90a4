//! Taps on a leg's decoded audio: who receives each 20 ms frame, received and
//! sent, while the leg's media runs (answering-machine and SIT detection,
//! transcription). [`crate::sip_leg::LegMedia::tap`] adds one.
//!
//! ```
//! use callcore_media::frame_tap::{FrameTap, TapDirection};
//! let mut heard = 0usize;
//! let mut tap: FrameTap = Box::new(move |dir, frame: &[i16]| {
//!     if dir == TapDirection::Received {
//!         heard += frame.len();
//!     }
//!     heard < 8000 // detach after a second
//! });
//! assert!(tap(TapDirection::Received, &[0; 160]));
//! ```

#[cfg(feature = "udp")]
use std::sync::Mutex;
#[cfg(feature = "udp")]
use std::sync::atomic::{AtomicBool, Ordering};

/// Which way a tapped frame went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TapDirection {
    /// Received from the far end (decoded after the jitter buffer).
    Received,
    /// Sent to the far end: our session's audio (silence included), or what the
    /// bridged leg's far end said.
    Sent,
}

/// Receives a leg's decoded audio, 8 kHz mono, one 20 ms frame per direction
/// every 20 ms, on the leg's task: it must return at once (hand the frame to a
/// channel). Returning `false` detaches it; it is dropped when the leg's media
/// ends.
pub type FrameTap = Box<dyn FnMut(TapDirection, &[i16]) -> bool + Send>;

/// The taps of one leg (the media tasks' side: without `udp` no leg runs).
#[cfg(feature = "udp")]
#[derive(Default)]
pub(crate) struct Taps {
    list: Mutex<Vec<FrameTap>>,
    /// Whether any tap is attached (read without the lock on every packet of a
    /// bridged call).
    any: AtomicBool,
}

#[cfg(feature = "udp")]
impl std::fmt::Debug for Taps {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self.list.lock().map_or(0, |t| t.len());
        write!(f, "Taps({n})")
    }
}

#[cfg(feature = "udp")]
impl Taps {
    /// Whether a tap may be attached (a hint: the list decides).
    pub(crate) fn any(&self) -> bool {
        self.any.load(Ordering::Relaxed)
    }

    /// Hands `frame` to every tap; those that return `false` are dropped.
    pub(crate) fn frame(&self, direction: TapDirection, frame: &[i16]) {
        if !self.any() {
            return;
        }
        let mut taps = self.list.lock().unwrap_or_else(|p| p.into_inner());
        taps.retain_mut(|tap| tap(direction, frame));
        self.any.store(!taps.is_empty(), Ordering::Relaxed);
    }

    /// Adds `tap` unless `ended()`, checked under the lock [`clear`](Self::clear)
    /// takes; whether it was added.
    #[cfg_attr(not(feature = "callcore-control"), allow(dead_code))]
    pub(crate) fn add_unless(&self, tap: FrameTap, ended: impl FnOnce() -> bool) -> bool {
        let mut taps = self.list.lock().unwrap_or_else(|p| p.into_inner());
        if ended() {
            return false;
        }
        taps.push(tap);
        self.any.store(true, Ordering::Relaxed);
        true
    }

    /// Drops every tap: they learn the end of the leg's media.
    #[cfg_attr(not(feature = "callcore-control"), allow(dead_code))]
    pub(crate) fn clear(&self) {
        let mut taps = self.list.lock().unwrap_or_else(|p| p.into_inner());
        taps.clear();
        self.any.store(false, Ordering::Relaxed);
    }
}

#[cfg(all(test, feature = "udp"))]
mod tests {
    use super::*;

    #[test]
    fn taps_detach_themselves_and_none_is_added_after_the_end() {
        let taps = Taps::default();
        let mut left = 2;
        assert!(taps.add_unless(
            Box::new(move |_, _: &[i16]| {
                left -= 1;
                left > 0
            }),
            || false
        ));
        taps.frame(TapDirection::Received, &[0; 160]);
        assert_eq!(format!("{taps:?}"), "Taps(1)");
        taps.frame(TapDirection::Sent, &[0; 160]);
        assert_eq!(format!("{taps:?}"), "Taps(0)", "returned false: detached");
        assert!(!taps.add_unless(Box::new(|_, _: &[i16]| true), || true));
        assert!(taps.add_unless(Box::new(|_, _: &[i16]| true), || false));
        taps.clear();
        assert_eq!(format!("{taps:?}"), "Taps(0)");
    }
}
