//! Voice codecs behind one interface, and the registry that finds them by their SDP
//! name (`PCMU/8000`, `PCMA/8000`, `opus/48000/2`) or static payload type.
//!
//! The media engine works on 20 ms frames of 8 kHz linear PCM; a codec turns such a
//! frame into an RTP payload and back. G.711 is always there; Opus (RFC 7587, for
//! WebRTC legs) comes with the `opus` cargo feature, which builds libopus (needs
//! `cmake`).
//!
//! ```
//! use callcore_media::codec::CodecRegistry;
//! let registry = CodecRegistry::new();
//! let spec = registry.find("pcma", 8000).unwrap();
//! let mut codec = registry.create(spec).unwrap();
//! let mut payload = Vec::new();
//! codec.encode(&[0i16; 160], &mut payload).unwrap();
//! assert_eq!(payload, vec![0xD5; 160]);
//! ```

#[cfg(feature = "opus")]
mod opus;

#[cfg(feature = "opus")]
#[cfg_attr(docsrs, doc(cfg(feature = "opus")))]
pub use self::opus::OpusCodec;

use crate::error::{MediaError, Result};
use crate::g711::Law;

/// Samples in one 20 ms frame at the engine's 8 kHz.
pub const FRAME_SAMPLES: usize = 160;

/// A voice codec instance (it may keep state between frames, as Opus does).
pub trait VoiceCodec: Send + std::fmt::Debug {
    /// What the codec is.
    fn spec(&self) -> &CodecSpec;

    /// Encodes one frame of 8 kHz PCM (normally [`FRAME_SAMPLES`]) into `out`
    /// (cleared first).
    fn encode(&mut self, pcm: &[i16], out: &mut Vec<u8>) -> Result<()>;

    /// Decodes one payload into 8 kHz PCM appended to `out`.
    fn decode(&mut self, payload: &[u8], out: &mut Vec<i16>) -> Result<()>;

    /// Appends `samples` of concealment for a lost packet (silence unless the codec
    /// can do better).
    fn conceal(&mut self, samples: usize, out: &mut Vec<i16>) -> Result<()> {
        out.extend(std::iter::repeat_n(0, samples));
        Ok(())
    }
}

/// What a codec is called in SDP and how its RTP stream is clocked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodecSpec {
    /// Encoding name as in `a=rtpmap` (compared without case).
    pub name: &'static str,
    /// RTP clock rate (8000 for G.711, 48000 for Opus whatever its audio rate).
    pub clock_rate: u32,
    /// Channels as in `a=rtpmap` (Opus is always signalled as 2).
    pub channels: u8,
    /// The static payload type, if the codec has one.
    pub static_payload_type: Option<u8>,
    /// The payload type to offer when there is no static one.
    pub default_payload_type: u8,
}

impl CodecSpec {
    /// RTP timestamp ticks for `samples` at 8 kHz.
    pub fn rtp_ticks(&self, samples: usize) -> u32 {
        (samples as u64 * u64::from(self.clock_rate) / 8000) as u32
    }

    /// The `a=rtpmap` value for payload type `pt`, e.g. `111 opus/48000/2`.
    pub fn rtpmap(&self, pt: u8) -> String {
        if self.channels > 1 {
            format!("{pt} {}/{}/{}", self.name, self.clock_rate, self.channels)
        } else {
            format!("{pt} {}/{}", self.name, self.clock_rate)
        }
    }
}

const PCMU: CodecSpec = CodecSpec {
    name: "PCMU",
    clock_rate: 8000,
    channels: 1,
    static_payload_type: Some(0),
    default_payload_type: 0,
};
const PCMA: CodecSpec = CodecSpec {
    name: "PCMA",
    clock_rate: 8000,
    channels: 1,
    static_payload_type: Some(8),
    default_payload_type: 8,
};

/// G.711 as a [`VoiceCodec`] (stateless, table-driven).
#[derive(Debug, Clone)]
pub struct G711Codec {
    law: Law,
    spec: CodecSpec,
}

impl G711Codec {
    /// A codec for `law`.
    pub fn new(law: Law) -> Self {
        let spec = match law {
            Law::Ulaw => PCMU,
            Law::Alaw => PCMA,
        };
        G711Codec { law, spec }
    }
}

impl VoiceCodec for G711Codec {
    fn spec(&self) -> &CodecSpec {
        &self.spec
    }

    fn encode(&mut self, pcm: &[i16], out: &mut Vec<u8>) -> Result<()> {
        self.law.encode_into(pcm, out);
        Ok(())
    }

    fn decode(&mut self, payload: &[u8], out: &mut Vec<i16>) -> Result<()> {
        out.extend(payload.iter().map(|&c| self.law.decode(c)));
        Ok(())
    }
}

/// The codecs this build knows, by SDP name and payload type.
#[derive(Debug, Clone)]
pub struct CodecRegistry {
    specs: Vec<CodecSpec>,
}

impl Default for CodecRegistry {
    fn default() -> Self {
        Self::new()
    }
}

impl CodecRegistry {
    /// G.711 µ-law and A-law, and Opus when the `opus` feature is on.
    pub fn new() -> Self {
        #[allow(unused_mut)] // pushed to only with the `opus` feature
        let mut specs = vec![PCMU, PCMA];
        #[cfg(feature = "opus")]
        specs.push(opus::SPEC);
        CodecRegistry { specs }
    }

    /// Every codec, in preference order for an offer.
    pub fn specs(&self) -> &[CodecSpec] {
        &self.specs
    }

    /// The codec an `a=rtpmap` names (`name/clock_rate`), if this build has it.
    pub fn find(&self, name: &str, clock_rate: u32) -> Option<&CodecSpec> {
        self.specs
            .iter()
            .find(|s| s.name.eq_ignore_ascii_case(name) && s.clock_rate == clock_rate)
    }

    /// The codec with static payload type `pt` (offers may omit their rtpmap).
    pub fn by_static_payload_type(&self, pt: u8) -> Option<&CodecSpec> {
        self.specs
            .iter()
            .find(|s| s.static_payload_type == Some(pt))
    }

    /// A fresh codec instance for `spec`.
    pub fn create(&self, spec: &CodecSpec) -> Result<Box<dyn VoiceCodec>> {
        match spec.name {
            "PCMU" => Ok(Box::new(G711Codec::new(Law::Ulaw))),
            "PCMA" => Ok(Box::new(G711Codec::new(Law::Alaw))),
            #[cfg(feature = "opus")]
            "opus" => Ok(Box::new(OpusCodec::new()?)),
            other => Err(MediaError::Codec {
                codec: other.to_string(),
                detail: "not built into this callcore-media (see its cargo features)".into(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn g711_through_the_registry_round_trips_every_code() {
        let reg = CodecRegistry::new();
        for (name, pt) in [("PCMU", 0), ("pcma", 8)] {
            let spec = reg.find(name, 8000).unwrap().clone();
            assert_eq!(reg.by_static_payload_type(pt), Some(&spec));
            assert_eq!(spec.rtp_ticks(FRAME_SAMPLES), 160);
            let mut c = reg.create(&spec).unwrap();
            let codes: Vec<u8> = (0..=255).collect();
            let mut pcm = Vec::new();
            c.decode(&codes, &mut pcm).unwrap();
            let mut back = Vec::new();
            c.encode(&pcm, &mut back).unwrap();
            // A-law and µ-law each have one code pair that decodes to the same value
            // (±0), so compare decoded values, not codes.
            let mut again = Vec::new();
            c.decode(&back, &mut again).unwrap();
            assert_eq!(again, pcm, "{name}");
        }
        assert_eq!(reg.find("PCMU", 16000), None);
        assert_eq!(reg.find("G729", 8000), None);
        assert_eq!(PCMA.rtpmap(8), "8 PCMA/8000");
    }

    #[test]
    fn unknown_codec_names_itself_in_the_error() {
        let spec = CodecSpec {
            name: "G722",
            clock_rate: 8000,
            channels: 1,
            static_payload_type: Some(9),
            default_payload_type: 9,
        };
        let err = CodecRegistry::new().create(&spec).unwrap_err().to_string();
        assert!(err.contains("G722"), "{err}");
    }

    #[cfg(not(feature = "opus"))]
    #[test]
    fn opus_is_absent_without_its_feature() {
        assert_eq!(CodecRegistry::new().find("opus", 48000), None);
    }
}
