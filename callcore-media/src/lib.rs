//! callcore-media: the media engine of callcore.
//!
//! G.711 codecs, RTP/RTCP packets and statistics, an adaptive jitter buffer, DTMF
//! (RFC 4733 and in-band), call-progress tones and detectors, WAV recording, and
//! bridging/conferencing/supervision mixers. The core is sans-IO: frames and
//! packets go in, frames and packets come out, and the caller passes the time in.
//! The optional `udp` feature (on by default) adds thin tokio glue.
//!
//! ```
//! use callcore_media::g711::{self, Law};
//! let pcm = [0i16, 1000, -1000];
//! let mut codes = Vec::new();
//! Law::Ulaw.encode_into(&pcm, &mut codes);
//! assert_eq!(codes[0], 0xFF);
//! assert_eq!(g711::ulaw_decode(codes[1]), 988);
//! ```

pub mod error;
pub mod g711;

pub use error::{MediaError, Result};
pub mod amd;
pub mod bridge;
#[cfg(feature = "callcore-control")]
pub mod control;
pub mod dtmf;
pub mod endpoint;
pub mod jitter;
pub mod level;
pub mod mixer;
pub mod prompt;
pub mod resample;
pub mod rtcp;
pub mod rtp;
pub mod rtp_stats;
pub mod sit;
pub mod tones;
#[cfg(feature = "udp")]
pub mod udp;
pub mod vad;
pub mod wav;
