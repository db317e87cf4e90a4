//! The one audio-file decoder of callcore: symphonia, for prompts and music
//! (WAV, MP3, OGG/Vorbis, FLAC) and for WAV files read back (recordings,
//! speech engines' output). WAV covers 8/16/24/32-bit PCM, float, A-law and
//! µ-law; a stream whose header announces more data than it holds (a
//! recording cut short, `espeak-ng --stdout`) is read to its end.

use std::path::Path;

use symphonia::core::audio::SampleBuffer;
use symphonia::core::codecs::{CODEC_TYPE_NULL, DecoderOptions};
use symphonia::core::conv::ConvertibleSample;
use symphonia::core::errors::Error;
use symphonia::core::formats::FormatOptions;
use symphonia::core::io::{MediaSource, MediaSourceStream};
use symphonia::core::meta::MetadataOptions;
use symphonia::core::probe::Hint;

/// Decoded audio: interleaved samples.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Decoded<S> {
    pub(crate) sample_rate: u32,
    pub(crate) channels: usize,
    pub(crate) samples: Vec<S>,
}

/// Decodes a whole stream. `extension` helps the probe (`"wav"`, `"mp3"`);
/// `name` is only for log lines. Errors are the decoder's words.
pub(crate) fn decode<S: ConvertibleSample>(
    source: Box<dyn MediaSource>,
    extension: Option<&str>,
    name: &Path,
) -> std::result::Result<Decoded<S>, String> {
    let mss = MediaSourceStream::new(source, Default::default());
    let mut hint = Hint::new();
    if let Some(ext) = extension {
        hint.with_extension(ext);
    }
    let probed = symphonia::default::get_probe()
        .format(
            &hint,
            mss,
            &FormatOptions::default(),
            &MetadataOptions::default(),
        )
        .map_err(|e| format!("unrecognised format: {e}"))?;
    let mut format = probed.format;
    let track = format
        .tracks()
        .iter()
        .find(|t| t.codec_params.codec != CODEC_TYPE_NULL)
        .ok_or_else(|| "no audio track".to_owned())?;
    let track_id = track.id;
    let mut sample_rate = track.codec_params.sample_rate.unwrap_or(0);
    let mut channels = track.codec_params.channels.map_or(0, |c| c.count());
    let mut decoder = symphonia::default::get_codecs()
        .make(&track.codec_params, &DecoderOptions::default())
        .map_err(|e| format!("unsupported codec: {e}"))?;
    let mut samples = Vec::new();
    let mut bad_packets = 0u32;
    loop {
        let packet = match format.next_packet() {
            Ok(p) => p,
            Err(Error::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
            Err(Error::ResetRequired) => break,
            Err(e) => return Err(format!("reading packets: {e}")),
        };
        if packet.track_id() != track_id {
            continue;
        }
        match decoder.decode(&packet) {
            Ok(buf) => {
                let spec = *buf.spec();
                sample_rate = spec.rate;
                channels = spec.channels.count();
                let mut sb = SampleBuffer::<S>::new(buf.capacity() as u64, spec);
                sb.copy_interleaved_ref(buf);
                samples.extend_from_slice(sb.samples());
            }
            Err(Error::DecodeError(e)) => {
                bad_packets += 1;
                tracing::debug!(file = %name.display(), error = e, "skipping undecodable packet");
                if bad_packets > 50 && samples.is_empty() {
                    return Err(format!("no decodable audio ({e})"));
                }
            }
            Err(e) => return Err(e.to_string()),
        }
    }
    if sample_rate == 0 || channels == 0 {
        return Err("no sample rate or channels".into());
    }
    Ok(Decoded {
        sample_rate,
        channels,
        samples,
    })
}
