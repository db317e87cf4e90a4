//! Opus (RFC 7587) through libopus, at the engine's 8 kHz mono: libopus takes and
//! gives 8 kHz audio itself; the RTP clock stays 48 kHz and the SDP says
//! `opus/48000/2`, as RFC 7587 requires.

use super::{CodecSpec, FRAME_SAMPLES, VoiceCodec};
use crate::error::{MediaError, Result};

pub(super) const SPEC: CodecSpec = CodecSpec {
    name: "opus",
    clock_rate: 48000,
    channels: 2,
    static_payload_type: None,
    default_payload_type: 111,
};

/// The largest Opus packet we produce (RFC 7587 recommends ≤ 1275 bytes per frame).
const MAX_PACKET: usize = 1275;
/// The longest frame a packet may carry: 120 ms at 8 kHz.
const MAX_FRAME: usize = 960;

/// An Opus encoder and decoder pair for one call leg (VoIP mode, 8 kHz mono).
pub struct OpusCodec {
    encoder: opus::Encoder,
    decoder: opus::Decoder,
    scratch: Vec<i16>,
}

impl std::fmt::Debug for OpusCodec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpusCodec").finish_non_exhaustive()
    }
}

fn codec_err(e: opus::Error) -> MediaError {
    MediaError::Codec {
        codec: "opus".into(),
        detail: e.to_string(),
    }
}

impl OpusCodec {
    /// A new encoder/decoder pair.
    pub fn new() -> Result<Self> {
        let encoder = opus::Encoder::new(8000, opus::Channels::Mono, opus::Application::Voip)
            .map_err(codec_err)?;
        let decoder = opus::Decoder::new(8000, opus::Channels::Mono).map_err(codec_err)?;
        Ok(OpusCodec {
            encoder,
            decoder,
            scratch: vec![0; MAX_FRAME],
        })
    }

    /// Sets the encoder's bitrate in bits per second.
    pub fn set_bitrate(&mut self, bps: i32) -> Result<()> {
        self.encoder
            .set_bitrate(opus::Bitrate::Bits(bps))
            .map_err(codec_err)
    }
}

impl VoiceCodec for OpusCodec {
    fn spec(&self) -> &CodecSpec {
        &SPEC
    }

    fn encode(&mut self, pcm: &[i16], out: &mut Vec<u8>) -> Result<()> {
        out.clear();
        out.resize(MAX_PACKET, 0);
        let n = self.encoder.encode(pcm, out).map_err(codec_err)?;
        out.truncate(n);
        Ok(())
    }

    fn decode(&mut self, payload: &[u8], out: &mut Vec<i16>) -> Result<()> {
        let n = self
            .decoder
            .decode(payload, &mut self.scratch, false)
            .map_err(codec_err)?;
        out.extend_from_slice(&self.scratch[..n]);
        Ok(())
    }

    fn conceal(&mut self, samples: usize, out: &mut Vec<i16>) -> Result<()> {
        // libopus conceals in multiples of 2.5 ms; ask for whole 20 ms frames.
        let mut left = samples;
        while left > 0 {
            let want = left.min(FRAME_SAMPLES);
            let n = self
                .decoder
                .decode(&[], &mut self.scratch[..FRAME_SAMPLES], false)
                .map_err(codec_err)?;
            out.extend_from_slice(&self.scratch[..n.min(want)]);
            left -= want;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::codec::CodecRegistry;

    fn tone(freq: f64, samples: usize, amp: f64) -> Vec<i16> {
        (0..samples)
            .map(|n| (amp * (2.0 * std::f64::consts::PI * freq * n as f64 / 8000.0).sin()) as i16)
            .collect()
    }

    /// Best normalised correlation of `b` against `a` over lags 0..max_lag (the codec
    /// delays its output by its look-ahead).
    fn best_correlation(a: &[i16], b: &[i16], max_lag: usize) -> (usize, f64) {
        let mut best = (0, f64::MIN);
        for lag in 0..max_lag {
            let n = a.len().min(b.len() - lag);
            let (mut ab, mut aa, mut bb) = (0.0, 0.0, 0.0);
            for i in 0..n {
                let (x, y) = (f64::from(a[i]), f64::from(b[i + lag]));
                ab += x * y;
                aa += x * x;
                bb += y * y;
            }
            let c = ab / (aa.sqrt() * bb.sqrt()).max(1.0);
            if c > best.1 {
                best = (lag, c);
            }
        }
        best
    }

    #[test]
    fn opus_round_trip_keeps_a_tone_and_compresses_it() {
        let reg = CodecRegistry::new();
        let spec = reg.find("OPUS", 48000).unwrap().clone();
        assert_eq!(spec.rtpmap(111), "111 opus/48000/2");
        assert_eq!(spec.rtp_ticks(FRAME_SAMPLES), 960);
        assert_eq!(reg.by_static_payload_type(111), None);
        let mut codec = reg.create(&spec).unwrap();
        // one second of a two-tone signal, 20 ms at a time
        let input: Vec<i16> = tone(440.0, 8000, 6000.0)
            .iter()
            .zip(tone(1230.0, 8000, 4000.0))
            .map(|(a, b)| a + b)
            .collect();
        let (mut payload, mut output, mut bytes) = (Vec::new(), Vec::new(), 0);
        for frame in input.chunks(FRAME_SAMPLES) {
            codec.encode(frame, &mut payload).unwrap();
            assert!(!payload.is_empty() && payload.len() < FRAME_SAMPLES);
            bytes += payload.len();
            codec.decode(&payload, &mut output).unwrap();
        }
        assert_eq!(output.len(), input.len());
        // far smaller than G.711's 8000 bytes per second
        assert!(bytes < 4000, "{bytes} bytes for one second");
        // after the look-ahead, the decoded audio follows the input closely (skip the
        // first 100 ms while the encoder settles)
        let (lag, corr) = best_correlation(&input[800..7000], &output[800..], 200);
        assert!(corr > 0.9, "correlation {corr} at lag {lag}");
        assert!(lag < 120, "look-ahead {lag} samples");

        // a lost packet is concealed with audio, not an error or silence
        let mut concealed = Vec::new();
        codec.conceal(FRAME_SAMPLES, &mut concealed).unwrap();
        assert_eq!(concealed.len(), FRAME_SAMPLES);
        assert!(concealed.iter().any(|&s| s != 0));

        // garbage is an error naming the codec, not a panic
        let err = codec.decode(&[0xFF; 3], &mut output);
        if let Err(e) = err {
            assert!(e.to_string().contains("opus"), "{e}");
        }
    }
}
