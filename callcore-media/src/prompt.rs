//! Prompts: audio files (WAV, MP3, OGG/Vorbis, FLAC) decoded through symphonia,
//! mixed to mono and resampled to the call's 8 kHz, and a sans-IO player with
//! playlists, looping (music on hold) and barge-in (stop on DTMF or speech).
//!
//! `Prompt::load(path)` (feature `prompts`, on by default) decodes a file; here a
//! generated prompt stands in for one:
//!
//! ```
//! use callcore_media::prompt::{Prompt, PromptPlayer, BargeIn};
//! let welcome = Prompt::from_samples("welcome", vec![1000; 8000]); // 1 s
//! let mut player = PromptPlayer::new(BargeIn { on_dtmf: true, on_speech: true });
//! player.enqueue(welcome);
//! let mut frame = [0i16; 160];
//! let mut frames = 0;
//! while player.next_frame(&mut frame) {
//!     frames += 1;
//!     if frames == 10 { player.on_dtmf(); } // the caller pressed a key
//! }
//! assert_eq!(frames, 10);
//! assert!(player.was_interrupted());
//! ```

#[cfg(feature = "prompts")]
use std::path::Path;
use std::path::PathBuf;
use std::sync::Arc;

#[cfg(feature = "prompts")]
use crate::error::{MediaError, Result};
#[cfg(feature = "prompts")]
use crate::resample::{downmix, resample, to_i16};

/// A decoded prompt at 8 kHz mono.
#[derive(Debug, Clone)]
pub struct Prompt {
    /// Where it came from.
    pub source: PathBuf,
    /// The file's original sample rate.
    pub original_rate: u32,
    /// Samples at 8 kHz.
    pub samples: Arc<Vec<i16>>,
}

impl Prompt {
    /// A prompt from samples already at 8 kHz (TTS output, generated tones).
    pub fn from_samples(name: &str, samples: Vec<i16>) -> Self {
        Prompt {
            source: PathBuf::from(name),
            original_rate: 8000,
            samples: Arc::new(samples),
        }
    }

    /// Length in ms.
    pub fn duration_ms(&self) -> u64 {
        self.samples.len() as u64 / 8
    }

    /// Decodes `path`; errors name the file.
    #[cfg(feature = "prompts")]
    pub fn load(path: &Path) -> Result<Prompt> {
        let (rate, mono) = decode(path)?;
        let at_8k = resample(&mono, rate, 8000);
        Ok(Prompt {
            source: path.to_path_buf(),
            original_rate: rate,
            samples: Arc::new(to_i16(&at_8k)),
        })
    }
}

#[cfg(feature = "prompts")]
fn decode(path: &Path) -> Result<(u32, Vec<f32>)> {
    let fail = |detail: String| MediaError::Decode {
        path: path.to_path_buf(),
        detail,
    };
    let file = std::fs::File::open(path).map_err(|source| MediaError::File {
        path: path.to_path_buf(),
        source,
    })?;
    let ext = path.extension().and_then(|e| e.to_str());
    let audio = crate::decode::decode::<f32>(Box::new(file), ext, path).map_err(fail)?;
    if audio.samples.is_empty() {
        return Err(fail("no audio samples".into()));
    }
    Ok((audio.sample_rate, downmix(&audio.samples, audio.channels)))
}

/// What stops a prompt early.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BargeIn {
    /// Stop when the caller presses a key.
    pub on_dtmf: bool,
    /// Stop when the caller starts speaking.
    pub on_speech: bool,
}

/// Plays prompts frame by frame: a playlist, optionally looping, with barge-in.
#[derive(Debug, Clone)]
pub struct PromptPlayer {
    playlist: Vec<Prompt>,
    index: usize,
    pos: usize,
    looping: bool,
    barge_in: BargeIn,
    interrupted: bool,
}

impl PromptPlayer {
    /// An empty player.
    pub fn new(barge_in: BargeIn) -> Self {
        PromptPlayer {
            playlist: Vec::new(),
            index: 0,
            pos: 0,
            looping: false,
            barge_in,
            interrupted: false,
        }
    }

    /// Appends a prompt to the playlist.
    pub fn enqueue(&mut self, p: Prompt) {
        self.playlist.push(p);
    }

    /// Repeat the playlist forever (music on hold) until stopped.
    pub fn set_looping(&mut self, looping: bool) {
        self.looping = looping;
    }

    /// The caller pressed a key; returns true if that stopped playback.
    pub fn on_dtmf(&mut self) -> bool {
        self.barge_in.on_dtmf && self.interrupt()
    }

    /// The caller started speaking; returns true if that stopped playback.
    pub fn on_speech(&mut self) -> bool {
        self.barge_in.on_speech && self.interrupt()
    }

    fn interrupt(&mut self) -> bool {
        let was_playing = self.is_playing();
        self.stop();
        self.interrupted = was_playing;
        was_playing
    }

    /// Stops and clears the playlist.
    pub fn stop(&mut self) {
        self.playlist.clear();
        self.index = 0;
        self.pos = 0;
    }

    /// True while something remains to play.
    pub fn is_playing(&self) -> bool {
        self.index < self.playlist.len()
    }

    /// True if the last stop was a barge-in.
    pub fn was_interrupted(&self) -> bool {
        self.interrupted
    }

    /// Fills `frame` with the next samples (silence-padded at the end); returns
    /// false once nothing is left to play.
    pub fn next_frame(&mut self, frame: &mut [i16]) -> bool {
        if !self.is_playing() {
            frame.iter_mut().for_each(|s| *s = 0);
            return false;
        }
        let mut filled = 0;
        while filled < frame.len() && self.index < self.playlist.len() {
            let src = &self.playlist[self.index].samples;
            let n = (frame.len() - filled).min(src.len() - self.pos);
            frame[filled..filled + n].copy_from_slice(&src[self.pos..self.pos + n]);
            filled += n;
            self.pos += n;
            if self.pos >= src.len() {
                self.pos = 0;
                self.index += 1;
                if self.index >= self.playlist.len()
                    && self.looping
                    && self.playlist.iter().any(|p| !p.samples.is_empty())
                {
                    self.index = 0;
                }
            }
        }
        frame[filled..].iter_mut().for_each(|s| *s = 0);
        if self.index >= self.playlist.len() {
            // finished: a later enqueue starts a fresh playlist
            self.playlist.clear();
            self.index = 0;
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn playlist_loop_and_barge_in() {
        let a = Prompt::from_samples("a", vec![1; 200]);
        let b = Prompt::from_samples("b", vec![2; 100]);
        let mut p = PromptPlayer::new(BargeIn {
            on_dtmf: true,
            on_speech: false,
        });
        p.enqueue(a.clone());
        p.enqueue(b.clone());
        let mut f = [0i16; 160];
        assert!(p.next_frame(&mut f));
        assert!(f.iter().all(|&s| s == 1));
        assert!(p.next_frame(&mut f));
        assert_eq!((f[0], f[39], f[40], f[139], f[140]), (1, 1, 2, 2, 0));
        assert!(!p.next_frame(&mut f));
        // music on hold loops until a key is pressed; speech does not stop it here
        p.enqueue(b);
        p.set_looping(true);
        for _ in 0..10 {
            assert!(p.next_frame(&mut f));
            assert!(f.iter().all(|&s| s == 2));
        }
        assert!(!p.on_speech());
        assert!(p.on_dtmf());
        assert!(p.was_interrupted());
        assert!(!p.next_frame(&mut f));
        assert_eq!(a.duration_ms(), 25);
    }

    #[cfg(feature = "prompts")]
    #[test]
    fn wav_through_symphonia_is_resampled_to_8k_and_errors_name_the_file() {
        use crate::level::{mean_power, power_to_dbm0};
        // a 16 kHz stereo WAV with a 1 kHz tone: write it by hand
        let dir =
            std::env::temp_dir().join(format!("callcore-media-prompt-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("tone16k.wav");
        let n = 16000;
        let mut data = Vec::new();
        for i in 0..n {
            let v = (8000.0 * (2.0 * std::f64::consts::PI * 1000.0 * f64::from(i) / 16000.0).sin())
                as i16;
            data.extend_from_slice(&v.to_le_bytes());
            data.extend_from_slice(&v.to_le_bytes());
        }
        let mut wav = Vec::new();
        wav.extend_from_slice(b"RIFF");
        wav.extend_from_slice(&(36 + data.len() as u32).to_le_bytes());
        wav.extend_from_slice(b"WAVEfmt ");
        wav.extend_from_slice(&16u32.to_le_bytes());
        wav.extend_from_slice(&1u16.to_le_bytes());
        wav.extend_from_slice(&2u16.to_le_bytes());
        wav.extend_from_slice(&16000u32.to_le_bytes());
        wav.extend_from_slice(&(16000u32 * 4).to_le_bytes());
        wav.extend_from_slice(&4u16.to_le_bytes());
        wav.extend_from_slice(&16u16.to_le_bytes());
        wav.extend_from_slice(b"data");
        wav.extend_from_slice(&(data.len() as u32).to_le_bytes());
        wav.extend_from_slice(&data);
        std::fs::write(&path, &wav).unwrap();
        let p = Prompt::load(&path).unwrap();
        assert_eq!(p.original_rate, 16000);
        assert_eq!(p.samples.len(), 8000);
        let lvl = power_to_dbm0(mean_power(&p.samples[800..7200]));
        let want = power_to_dbm0(8000.0 * 8000.0 / 2.0);
        assert!((lvl - want).abs() < 0.5, "{lvl} vs {want}");

        let bad = dir.join("corrupt.mp3");
        std::fs::write(&bad, b"this is not audio at all, just text pretending").unwrap();
        let err = Prompt::load(&bad).unwrap_err().to_string();
        assert!(err.contains("corrupt.mp3"), "{err}");
        let err = Prompt::load(&dir.join("missing.wav"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("missing.wav"), "{err}");
        std::fs::remove_dir_all(&dir).ok();
    }
}
