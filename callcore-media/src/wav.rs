//! Call recording to WAV (16-bit PCM, 8 kHz), mono mixed or stereo with the caller
//! on the left and the agent on the right, with pause/resume (for card numbers).
//!
//! The file is valid from its first byte: the header is written at once and its
//! sizes are patched every `patch_every_frames` frames (one second by default) and
//! on pause, so a call that ends abruptly — even a process that dies — leaves a
//! readable recording of everything up to the last patch.
//!
//! ```
//! use std::io::Cursor;
//! use callcore_media::wav::{WavRecorder, ChannelLayout, read_wav};
//! let mut rec = WavRecorder::new(Cursor::new(Vec::new()), ChannelLayout::Stereo).unwrap();
//! rec.write_frame(&[100; 160], &[-100; 160]).unwrap();
//! let (info, cursor) = rec.finish().unwrap();
//! assert_eq!(info.duration_ms, 20);
//! let wav = read_wav(cursor.get_ref()).unwrap();
//! assert_eq!((wav.channels, wav.samples[0], wav.samples[1]), (2, 100, -100));
//! ```

use std::fs::File;
use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::error::{MediaError, Result};

/// How the two sides of a call go into the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChannelLayout {
    /// One channel: caller and agent mixed.
    MonoMixed,
    /// Two channels: caller left, agent right.
    Stereo,
}

/// What pausing does to the timeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PauseMode {
    /// Write silence while paused (the recording keeps the call's timing).
    Silence,
    /// Write nothing while paused (the recording is shorter).
    Skip,
}

/// What a finished (or interrupted) recording contains, for a recording store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordingInfo {
    /// The file, when recording to a path.
    pub path: Option<PathBuf>,
    /// Channel layout.
    pub layout: ChannelLayout,
    /// Sample frames written (per channel).
    pub frames: u64,
    /// Length of the file's audio in ms.
    pub duration_ms: u64,
    /// Time spent paused in ms.
    pub paused_ms: u64,
    /// Data bytes.
    pub data_bytes: u64,
}

const HEADER_LEN: u64 = 44;
const RATE: u32 = 8000;

/// Writes a call to a WAV stream.
#[derive(Debug)]
pub struct WavRecorder<W: Write + Seek> {
    out: Option<W>,
    path: Option<PathBuf>,
    layout: ChannelLayout,
    pause_mode: PauseMode,
    paused: bool,
    data_bytes: u64,
    paused_samples: u64,
    since_patch: u32,
    /// Frames between size patches (50 × 20 ms = 1 s).
    pub patch_every_frames: u32,
    scratch: Vec<u8>,
}

impl WavRecorder<BufWriter<File>> {
    /// Creates (truncates) `path` and writes a valid empty WAV into it. A new
    /// file is readable and writable by its owner only (mode 0600 on Unix):
    /// recordings carry what callers say.
    pub fn create(path: &Path, layout: ChannelLayout) -> Result<Self> {
        let mut open = std::fs::OpenOptions::new();
        open.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut open, 0o600);
        let file = open.open(path).map_err(|source| MediaError::File {
            path: path.to_path_buf(),
            source,
        })?;
        let mut rec = Self::new(BufWriter::new(file), layout).map_err(|e| with_path(e, path))?;
        rec.path = Some(path.to_path_buf());
        Ok(rec)
    }
}

/// Creates `dir` and its missing parents, each one its owner's only (mode
/// 0700 on Unix); directories that exist are left as they are.
///
/// # Errors
/// As [`std::fs::create_dir_all`].
pub fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

fn with_path(e: MediaError, path: &Path) -> MediaError {
    match e {
        MediaError::Io(source) => MediaError::File {
            path: path.to_path_buf(),
            source,
        },
        other => other,
    }
}

impl<W: Write + Seek> WavRecorder<W> {
    /// Starts a recording on `out`, writing the header immediately.
    pub fn new(mut out: W, layout: ChannelLayout) -> Result<Self> {
        out.write_all(&header(layout, 0))?;
        out.flush()?;
        Ok(WavRecorder {
            out: Some(out),
            path: None,
            layout,
            pause_mode: PauseMode::Silence,
            paused: false,
            data_bytes: 0,
            paused_samples: 0,
            since_patch: 0,
            patch_every_frames: 50,
            scratch: Vec::with_capacity(640),
        })
    }

    /// Chooses what pausing writes (default: silence).
    pub fn set_pause_mode(&mut self, mode: PauseMode) {
        self.pause_mode = mode;
    }

    fn channels(&self) -> u16 {
        match self.layout {
            ChannelLayout::MonoMixed => 1,
            ChannelLayout::Stereo => 2,
        }
    }

    /// Pauses: audio is replaced by silence (or skipped) until [`resume`](Self::resume).
    pub fn pause(&mut self) -> Result<()> {
        self.paused = true;
        self.patch()
    }

    /// Resumes recording audio.
    pub fn resume(&mut self) {
        self.paused = false;
    }

    /// True while paused.
    pub fn is_paused(&self) -> bool {
        self.paused
    }

    /// Appends one frame of each side (the shorter side is padded with silence).
    pub fn write_frame(&mut self, caller: &[i16], agent: &[i16]) -> Result<()> {
        let n = caller.len().max(agent.len());
        if self.paused {
            self.paused_samples += n as u64;
            if self.pause_mode == PauseMode::Skip {
                return Ok(());
            }
        }
        self.scratch.clear();
        for i in 0..n {
            let (c, a) = if self.paused {
                (0, 0)
            } else {
                (
                    caller.get(i).copied().unwrap_or(0),
                    agent.get(i).copied().unwrap_or(0),
                )
            };
            match self.layout {
                ChannelLayout::MonoMixed => self
                    .scratch
                    .extend_from_slice(&c.saturating_add(a).to_le_bytes()),
                ChannelLayout::Stereo => {
                    self.scratch.extend_from_slice(&c.to_le_bytes());
                    self.scratch.extend_from_slice(&a.to_le_bytes());
                }
            }
        }
        let Some(out) = self.out.as_mut() else {
            return Err(MediaError::Config {
                field: "recorder",
                detail: "already finished".into(),
            });
        };
        out.write_all(&self.scratch)?;
        self.data_bytes += self.scratch.len() as u64;
        self.since_patch += 1;
        if self.since_patch >= self.patch_every_frames {
            self.patch()?;
        }
        Ok(())
    }

    /// Flushes and rewrites the header's sizes to cover everything written so far.
    pub fn patch(&mut self) -> Result<()> {
        self.since_patch = 0;
        let data = u32::try_from(self.data_bytes).unwrap_or(u32::MAX - 36);
        let Some(out) = self.out.as_mut() else {
            return Ok(());
        };
        out.flush()?;
        out.seek(SeekFrom::Start(4))?;
        out.write_all(&(36 + data).to_le_bytes())?;
        out.seek(SeekFrom::Start(40))?;
        out.write_all(&data.to_le_bytes())?;
        out.seek(SeekFrom::Start(HEADER_LEN + self.data_bytes))?;
        out.flush()?;
        Ok(())
    }

    /// What has been recorded so far.
    pub fn info(&self) -> RecordingInfo {
        let frames = self.data_bytes / (2 * u64::from(self.channels()));
        RecordingInfo {
            path: self.path.clone(),
            layout: self.layout,
            frames,
            duration_ms: frames * 1000 / u64::from(RATE),
            paused_ms: self.paused_samples * 1000 / u64::from(RATE),
            data_bytes: self.data_bytes,
        }
    }

    /// Patches the header a last time and returns the info and the stream.
    pub fn finish(mut self) -> Result<(RecordingInfo, W)> {
        self.patch()?;
        let info = self.info();
        let out = self.out.take().ok_or(MediaError::Config {
            field: "recorder",
            detail: "already finished".into(),
        })?;
        Ok((info, out))
    }
}

impl<W: Write + Seek> Drop for WavRecorder<W> {
    fn drop(&mut self) {
        if self.out.is_some()
            && let Err(e) = self.patch()
        {
            tracing::warn!(error = %e, "could not finalise WAV header");
        }
    }
}

fn header(layout: ChannelLayout, data: u32) -> [u8; 44] {
    let channels: u16 = match layout {
        ChannelLayout::MonoMixed => 1,
        ChannelLayout::Stereo => 2,
    };
    let mut h = [0u8; 44];
    h[0..4].copy_from_slice(b"RIFF");
    h[4..8].copy_from_slice(&(36 + data).to_le_bytes());
    h[8..12].copy_from_slice(b"WAVE");
    h[12..16].copy_from_slice(b"fmt ");
    h[16..20].copy_from_slice(&16u32.to_le_bytes());
    h[20..22].copy_from_slice(&1u16.to_le_bytes()); // PCM
    h[22..24].copy_from_slice(&channels.to_le_bytes());
    h[24..28].copy_from_slice(&RATE.to_le_bytes());
    h[28..32].copy_from_slice(&(RATE * 2 * u32::from(channels)).to_le_bytes());
    h[32..34].copy_from_slice(&(2 * channels).to_le_bytes());
    h[34..36].copy_from_slice(&16u16.to_le_bytes());
    h[36..40].copy_from_slice(b"data");
    h[40..44].copy_from_slice(&data.to_le_bytes());
    h
}

/// A decoded WAV file.
#[cfg(feature = "prompts")]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WavAudio {
    /// Sample rate in Hz.
    pub sample_rate: u32,
    /// Channels.
    pub channels: u16,
    /// Interleaved 16-bit samples (G.711 files are expanded).
    pub samples: Vec<i16>,
}

#[cfg(feature = "prompts")]
impl WavAudio {
    /// The samples mixed to one channel (averaged).
    #[must_use]
    pub fn to_mono(&self) -> Vec<i16> {
        let channels = usize::from(self.channels.max(1));
        if channels == 1 {
            return self.samples.clone();
        }
        self.samples
            .chunks_exact(channels)
            .map(|c| {
                let sum: i32 = c.iter().map(|&s| i32::from(s)).sum();
                // An average of i16 values fits in i16.
                i16::try_from(sum / i32::from(self.channels)).unwrap_or_default()
            })
            .collect()
    }
}

/// Reads a WAV file (16-bit PCM, µ-law or A-law as telephony uses, and the
/// other PCM and float formats) through symphonia, the decoder prompts use.
/// µ-law and A-law files need the standard 18-byte `fmt ` chunk (with its
/// extension size), as sox, ffmpeg and Audacity write them.
/// A data chunk longer than the file (a recording cut short, a stream written
/// to a pipe) is read to the end.
#[cfg(feature = "prompts")]
pub fn read_wav(bytes: &[u8]) -> Result<WavAudio> {
    let audio = crate::decode::decode::<i16>(
        Box::new(std::io::Cursor::new(bytes.to_vec())),
        Some("wav"),
        Path::new("<wav>"),
    )
    .map_err(|detail| MediaError::InvalidField {
        what: "wav",
        field: "header",
        detail,
    })?;
    Ok(WavAudio {
        sample_rate: audio.sample_rate,
        channels: u16::try_from(audio.channels).unwrap_or(u16::MAX),
        samples: audio.samples,
    })
}

#[cfg(all(test, feature = "prompts"))]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::io::Cursor;

    fn tmp(name: &str) -> PathBuf {
        std::env::temp_dir().join(format!("callcore-media-{}-{name}", std::process::id()))
    }

    #[cfg(unix)]
    #[test]
    fn a_new_recording_is_private_to_the_owner() {
        use std::os::unix::fs::PermissionsExt;
        let path = tmp("private.wav");
        let _ = std::fs::remove_file(&path);
        let rec = WavRecorder::create(&path, ChannelLayout::MonoMixed).unwrap();
        drop(rec);
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let _ = std::fs::remove_file(&path);
    }

    #[test]
    fn stereo_keeps_sides_apart_and_mono_mixes() {
        let mut st = WavRecorder::new(Cursor::new(Vec::new()), ChannelLayout::Stereo).unwrap();
        let mut mono = WavRecorder::new(Cursor::new(Vec::new()), ChannelLayout::MonoMixed).unwrap();
        for i in 0..100 {
            let caller = vec![i as i16; 160];
            let agent = vec![-(i as i16) * 2; 160];
            st.write_frame(&caller, &agent).unwrap();
            mono.write_frame(&caller, &agent).unwrap();
        }
        let (info, c) = st.finish().unwrap();
        assert_eq!((info.frames, info.duration_ms), (16000, 2000));
        let w = read_wav(c.get_ref()).unwrap();
        assert_eq!(
            (w.sample_rate, w.channels, w.samples.len()),
            (8000, 2, 32000)
        );
        assert_eq!(
            (w.samples[2 * 160 * 7], w.samples[2 * 160 * 7 + 1]),
            (7, -14)
        );
        let (_, c) = mono.finish().unwrap();
        let w = read_wav(c.get_ref()).unwrap();
        assert_eq!(w.samples[160 * 7], -7);
        assert_eq!(c.get_ref().len(), 44 + 32000);
    }

    #[test]
    fn pause_writes_silence_or_skips() {
        let mut rec = WavRecorder::new(Cursor::new(Vec::new()), ChannelLayout::MonoMixed).unwrap();
        rec.write_frame(&[1000; 160], &[]).unwrap();
        rec.pause().unwrap();
        rec.write_frame(&[1000; 160], &[]).unwrap();
        rec.resume();
        rec.write_frame(&[1000; 160], &[]).unwrap();
        let (info, c) = rec.finish().unwrap();
        assert_eq!((info.duration_ms, info.paused_ms), (60, 20));
        let w = read_wav(c.get_ref()).unwrap();
        assert!(w.samples[160..320].iter().all(|&s| s == 0));
        assert!(w.samples[320..].iter().all(|&s| s == 1000));

        let mut rec = WavRecorder::new(Cursor::new(Vec::new()), ChannelLayout::MonoMixed).unwrap();
        rec.set_pause_mode(PauseMode::Skip);
        rec.write_frame(&[1; 160], &[]).unwrap();
        rec.pause().unwrap();
        rec.write_frame(&[2; 160], &[]).unwrap();
        rec.resume();
        rec.write_frame(&[3; 160], &[]).unwrap();
        let (info, c) = rec.finish().unwrap();
        assert_eq!((info.duration_ms, info.paused_ms), (40, 20));
        let w = read_wav(c.get_ref()).unwrap();
        assert_eq!((w.samples[0], w.samples[160]), (1, 3));
    }

    #[test]
    fn file_is_readable_when_the_call_ends_abruptly() {
        let path = tmp("abrupt.wav");
        let mut rec = WavRecorder::create(&path, ChannelLayout::Stereo).unwrap();
        // valid immediately
        let w = read_wav(&std::fs::read(&path).unwrap()).unwrap();
        assert_eq!(w.samples.len(), 0);
        for _ in 0..130 {
            rec.write_frame(&[500; 160], &[600; 160]).unwrap();
        }
        // Simulate a crash: the recorder is never finished nor dropped.
        std::mem::forget(rec);
        let bytes = std::fs::read(&path).unwrap();
        let w = read_wav(&bytes).unwrap();
        // the header covers at least the 100 frames before the last patch (2 s)
        let declared = u32::from_le_bytes([bytes[40], bytes[41], bytes[42], bytes[43]]);
        assert_eq!(declared, 100 * 160 * 4);
        assert!(w.samples.len() >= 100 * 320);
        assert!(w.samples.chunks(2).all(|lr| lr == [500, 600]));
        std::fs::remove_file(&path).ok();
    }

    #[cfg(unix)]
    #[test]
    fn recordings_and_their_folders_are_the_owners_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tmp("private").join("recordings");
        let _ = std::fs::remove_dir_all(tmp("private"));
        create_private_dir(&dir).unwrap();
        let path = dir.join("call.wav");
        drop(WavRecorder::create(&path, ChannelLayout::Stereo).unwrap());
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o600, "the recording");
        assert_eq!(mode(&dir), 0o700, "its folder");
        assert_eq!(mode(&tmp("private")), 0o700, "a parent created with it");
        std::fs::remove_dir_all(tmp("private")).ok();
    }

    fn wav_bytes(
        tag: u16,
        bits: u16,
        riff_len: Option<u32>,
        data_len: Option<u32>,
        data: &[u8],
    ) -> Vec<u8> {
        // Formats other than PCM carry the 2-byte extension size (WAVEFORMATEX),
        // as sox, ffmpeg and Audacity write them; symphonia requires it.
        let fmt_len: u32 = if tag == 1 { 16 } else { 18 };
        let block = bits / 8;
        let mut w = b"RIFF".to_vec();
        let len = u32::try_from(data.len()).unwrap();
        w.extend_from_slice(&riff_len.unwrap_or(20 + fmt_len + len).to_le_bytes());
        w.extend_from_slice(b"WAVEfmt ");
        w.extend_from_slice(&fmt_len.to_le_bytes());
        w.extend_from_slice(&tag.to_le_bytes());
        w.extend_from_slice(&1u16.to_le_bytes());
        w.extend_from_slice(&8000u32.to_le_bytes());
        w.extend_from_slice(&(8000 * u32::from(block)).to_le_bytes());
        w.extend_from_slice(&block.to_le_bytes());
        w.extend_from_slice(&bits.to_le_bytes());
        if fmt_len == 18 {
            w.extend_from_slice(&0u16.to_le_bytes());
        }
        w.extend_from_slice(b"data");
        w.extend_from_slice(&data_len.unwrap_or(len).to_le_bytes());
        w.extend_from_slice(data);
        w
    }

    #[test]
    fn g711_files_decode_as_the_codec_does() {
        let codes: Vec<u8> = (0..=255).collect();
        let ulaw = read_wav(&wav_bytes(7, 8, None, None, &codes)).unwrap();
        let want: Vec<i16> = codes.iter().map(|&c| crate::g711::ulaw_decode(c)).collect();
        assert_eq!((ulaw.sample_rate, ulaw.channels), (8000, 1));
        assert_eq!(ulaw.samples, want);
        let alaw = read_wav(&wav_bytes(6, 8, None, None, &codes)).unwrap();
        let want: Vec<i16> = codes.iter().map(|&c| crate::g711::alaw_decode(c)).collect();
        assert_eq!(alaw.samples, want);
    }

    #[test]
    fn a_stream_announcing_more_data_than_it_has_is_read_to_its_end() {
        // What `espeak-ng --stdout` writes: sizes it cannot know, near 2^31.
        let pcm: Vec<u8> = (0..3001i16).flat_map(|s| (s * 7).to_le_bytes()).collect();
        let w = read_wav(&wav_bytes(
            1,
            16,
            Some(0x7fff_f024),
            Some(0x7fff_f000),
            &pcm,
        ))
        .unwrap();
        assert_eq!(w.samples.len(), 3001);
        assert_eq!(w.samples[3000], 21_000);
        // And ffmpeg's: both sizes at their maximum.
        let w = read_wav(&wav_bytes(1, 16, Some(u32::MAX), Some(u32::MAX), &pcm)).unwrap();
        assert_eq!(w.samples.len(), 3001);
    }

    #[test]
    fn drop_finalises_and_errors_name_the_file() {
        let path = tmp("drop.wav");
        {
            let mut rec = WavRecorder::create(&path, ChannelLayout::MonoMixed).unwrap();
            for _ in 0..7 {
                rec.write_frame(&[9; 160], &[]).unwrap();
            }
        }
        let w = read_wav(&std::fs::read(&path).unwrap()).unwrap();
        assert_eq!(w.samples.len(), 7 * 160);
        std::fs::remove_file(&path).ok();
        let err = WavRecorder::create(Path::new("/nonexistent-dir/x.wav"), ChannelLayout::Stereo)
            .unwrap_err();
        assert!(err.to_string().contains("/nonexistent-dir/x.wav"), "{err}");
        assert!(read_wav(b"RIFF....WAVEjunk").is_err());
    }
}
