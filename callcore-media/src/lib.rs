//! callcore-media: the media engine of callcore.
//!
//! G.711 codecs ([`g711`]) and the codec registry ([`codec`], Opus with the `opus`
//! feature), RTP/RTCP packets and statistics ([`rtp`], [`rtcp`], [`rtp_stats`]), an
//! adaptive jitter buffer ([`jitter`]), DTMF in RFC 4733 and in-band ([`dtmf`]),
//! call-progress tones and their detectors ([`tones`], [`sit`], [`vad`], [`amd`]),
//! WAV recording ([`wav`]), bridging, conferencing and supervision ([`bridge`],
//! [`mixer`]), one continuous outgoing stream per far end ([`out_stream`]), a whole
//! RTP endpoint ([`endpoint`]), prompts ([`prompt`], [`resample`]) and the default
//! music on hold, composed in code ([`hold_music`]).
//!
//! The core is sans-IO: frames and packets go in, frames and packets come out, and
//! the caller passes the time in. Features: `udp` (default) adds thin tokio glue
//! ([`udp`]) and the relay pool (`relay_pool`) that carries every bridged call (a
//! few worker threads for thousands of calls: relaying, transcoding, RFC 4733, hold,
//! RTCP, stereo recording); `prompts` (default) decodes WAV/MP3/OGG/FLAC through
//! symphonia; `callcore-control` (default) implements callcore's `MediaControl` port
//! (`control`), a signalled leg's media (`sip_leg`: its own session in the IVR, the
//! relay pool when bridged, a mixing `Room` for conferences and supervision) and
//! callcore's leg-media port over it (`leg_port`: the RTP engine a SIP transport
//! drives, its `MixRoom`s included); `opus` (off) adds Opus to [`codec`].
//!
//! ```
//! use callcore_media::g711::{self, Law};
//! use callcore_media::dtmf::{DtmfGenerator, inband::{DtmfDetector, DetectorConfig}};
//! let pcm = [0i16, 1000, -1000];
//! let mut codes = Vec::new();
//! Law::Ulaw.encode_into(&pcm, &mut codes);
//! assert_eq!(codes[0], 0xFF);
//! assert_eq!(g711::ulaw_decode(codes[1]), 988);
//!
//! let audio = DtmfGenerator::default().digits("42").unwrap();
//! let events = DtmfDetector::new(DetectorConfig::default()).process(&audio);
//! assert_eq!(events.iter().filter_map(|e| e.started()).count(), 2);
//! ```

#![cfg_attr(docsrs, feature(doc_cfg))]
pub mod error;
pub mod g711;

pub use error::{MediaError, Result};
pub mod amd;
pub mod bridge;
pub mod codec;
#[cfg(feature = "callcore-control")]
#[cfg_attr(docsrs, doc(cfg(feature = "callcore-control")))]
pub mod control;
#[cfg(feature = "prompts")]
mod decode;
pub mod dtmf;
pub mod endpoint;
pub mod frame_tap;
pub mod hold_music;
pub mod jitter;
#[cfg(feature = "udp")]
mod latch;
#[cfg(feature = "callcore-control")]
#[cfg_attr(docsrs, doc(cfg(feature = "callcore-control")))]
pub mod leg_port;
pub mod level;
pub mod mixer;
pub mod out_stream;
pub mod prompt;
#[cfg(feature = "udp")]
#[cfg_attr(docsrs, doc(cfg(feature = "udp")))]
pub mod relay_pool;
pub mod resample;
pub mod rtcp;
pub mod rtp;
pub mod rtp_stats;
#[cfg(feature = "callcore-control")]
#[cfg_attr(docsrs, doc(cfg(feature = "callcore-control")))]
pub mod sip_leg;
pub mod sit;
pub mod srtp;
pub mod tones;
#[cfg(feature = "udp")]
#[cfg_attr(docsrs, doc(cfg(feature = "udp")))]
pub mod udp;
pub mod vad;
pub mod wav;
