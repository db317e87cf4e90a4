//! A diagnostic of the Whisper recognizer: with [`DUMP_ENV`] naming a folder,
//! each recognition session writes what it was given and what it heard.
//!
//! Per session (`<pid>-<n>`, `n` counting sessions in the process):
//! - `<pid>-<n>-stream.wav`: every sample pushed into the session (the listen's
//!   pre-roll and speech, as the media leg delivered them), 16-bit mono at the
//!   session's rate;
//! - `<pid>-<n>-u<k>.wav`: utterance `k` exactly as the model is given it (the
//!   detector's cut, before the 16 kHz resampling);
//! - `<pid>-<n>.txt`: one line per utterance: start and end (ms in the stream),
//!   peak and RMS level, the text, confidence and no-speech probability.
//!
//! Off unless the variable is set; a folder that cannot be written is logged
//! (`tracing` warn) and the recognition goes on.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Environment variable naming the folder recognition sessions dump into.
pub const DUMP_ENV: &str = "CALLCORE_ASR_DUMP_DIR";

static SESSIONS: AtomicU64 = AtomicU64::new(0);

/// One session's dump: its file prefix and the audio pushed so far.
#[derive(Debug)]
pub(crate) struct SessionDump {
    prefix: PathBuf,
    sample_rate: u32,
    stream: Vec<i16>,
}

impl SessionDump {
    /// A dump for a new session when [`DUMP_ENV`] is set.
    pub(crate) fn from_env(sample_rate: u32) -> Option<Self> {
        let dir = std::env::var_os(DUMP_ENV).filter(|v| !v.is_empty())?;
        let dir = PathBuf::from(dir);
        if let Err(e) = std::fs::create_dir_all(&dir) {
            tracing::warn!(dir = %dir.display(), error = %e, "asr dump: no folder");
            return None;
        }
        let n = SESSIONS.fetch_add(1, Ordering::Relaxed);
        Some(SessionDump {
            prefix: dir.join(format!("{}-{n}", std::process::id())),
            sample_rate,
            stream: Vec::new(),
        })
    }

    /// Keeps pushed samples for the stream file.
    pub(crate) fn push(&mut self, samples: &[i16]) {
        self.stream.extend_from_slice(samples);
    }

    /// Writes the stream file (at the end of the session).
    pub(crate) fn finish(&mut self) {
        let path = self.path("-stream.wav");
        report(&path, write_wav(&path, self.sample_rate, &self.stream));
    }

    /// Where utterance `k` and its line go.
    pub(crate) fn utterance(&self, k: usize) -> UtteranceDump {
        UtteranceDump {
            wav: self.path(&format!("-u{k}.wav")),
            log: self.path(".txt"),
            sample_rate: self.sample_rate,
            k,
        }
    }

    fn path(&self, suffix: &str) -> PathBuf {
        let mut name = self.prefix.as_os_str().to_owned();
        name.push(suffix);
        PathBuf::from(name)
    }
}

/// Files of one utterance (written from the worker thread that transcribes it).
#[derive(Debug)]
pub(crate) struct UtteranceDump {
    wav: PathBuf,
    log: PathBuf,
    sample_rate: u32,
    k: usize,
}

impl UtteranceDump {
    /// Writes the utterance's audio and a line with what was heard.
    pub(crate) fn write(&self, samples: &[i16], start_ms: u64, end_ms: u64, heard: &str) {
        report(&self.wav, write_wav(&self.wav, self.sample_rate, samples));
        let peak = samples.iter().map(|s| s.unsigned_abs()).max().unwrap_or(0);
        let line = format!(
            "u{} {start_ms}-{end_ms} ms peak {peak} rms {:.0} {heard}\n",
            self.k,
            rms(samples)
        );
        let appended = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .and_then(|mut f| f.write_all(line.as_bytes()));
        report(&self.log, appended);
    }
}

/// Root mean square on the 16-bit scale.
pub(crate) fn rms(samples: &[i16]) -> f64 {
    if samples.is_empty() {
        return 0.0;
    }
    let energy: f64 = samples.iter().map(|&s| f64::from(s) * f64::from(s)).sum();
    (energy / samples.len() as f64).sqrt()
}

fn report(path: &Path, r: std::io::Result<()>) {
    if let Err(e) = r {
        tracing::warn!(file = %path.display(), error = %e, "asr dump: not written");
    }
}

/// A 16-bit mono PCM WAV file.
fn write_wav(path: &Path, sample_rate: u32, samples: &[i16]) -> std::io::Result<()> {
    let data_len = u32::try_from(samples.len() * 2).unwrap_or(u32::MAX);
    let mut out = Vec::with_capacity(44 + samples.len() * 2);
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&data_len.saturating_add(36).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&16u32.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes()); // PCM
    out.extend_from_slice(&1u16.to_le_bytes()); // mono
    out.extend_from_slice(&sample_rate.to_le_bytes());
    out.extend_from_slice(&(sample_rate * 2).to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&16u16.to_le_bytes());
    out.extend_from_slice(b"data");
    out.extend_from_slice(&data_len.to_le_bytes());
    for s in samples {
        out.extend_from_slice(&s.to_le_bytes());
    }
    std::fs::write(path, out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_dumped_utterance_reads_back_sample_for_sample() {
        let dir = std::env::temp_dir().join(format!("asr-dump-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut dump = SessionDump {
            prefix: dir.join("t-0"),
            sample_rate: 8000,
            stream: Vec::new(),
        };
        let samples: Vec<i16> = (0..800).map(|i| ((i % 40) * 100 - 2000) as i16).collect();
        dump.push(&samples);
        dump.push(&samples);
        dump.finish();
        dump.utterance(0).write(&samples, 20, 120, "text \"hello\"");
        let back =
            callcore_media::wav::read_wav(&std::fs::read(dir.join("t-0-u0.wav")).unwrap()).unwrap();
        assert_eq!(back.sample_rate, 8000);
        assert_eq!(back.to_mono(), samples);
        let stream =
            callcore_media::wav::read_wav(&std::fs::read(dir.join("t-0-stream.wav")).unwrap())
                .unwrap();
        assert_eq!(stream.to_mono().len(), 1600);
        let log = std::fs::read_to_string(dir.join("t-0.txt")).unwrap();
        assert!(log.starts_with("u0 20-120 ms peak 2000 rms"), "{log}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
