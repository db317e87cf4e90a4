//! Speech providers for callcore's ASR and TTS ports.
//!
//! - [`audio`]: resampling (8 kHz telephone audio to and from the rates the
//!   engines use), WAV parsing, and an energy-based utterance detector.
//! - `whisper` (feature `asr-whisper`): offline recognition with Whisper in
//!   CTranslate2 format, as callcore's
//!   [`SpeechRecognizer`](callcore::SpeechRecognizer).
//! - `dump` (feature `asr-whisper`): `CALLCORE_ASR_DUMP_DIR`, the audio each
//!   recognition session was given and what it heard, as WAV files and a log.
//! - `espeak` (feature `tts-espeak`): synthesis through the `espeak-ng`
//!   program, as callcore's [`SpeechSynthesizer`](callcore::SpeechSynthesizer).
//!
//! Without these features flows still run on DTMF and text, and prompts are
//! played from prerecorded files (the `play` node), which stays the default.

pub mod audio;
#[cfg(feature = "asr-whisper")]
#[cfg_attr(docsrs, doc(cfg(feature = "asr-whisper")))]
pub mod dump;
#[cfg(feature = "tts-espeak")]
#[cfg_attr(docsrs, doc(cfg(feature = "tts-espeak")))]
pub mod espeak;
#[cfg(feature = "asr-whisper")]
#[cfg_attr(docsrs, doc(cfg(feature = "asr-whisper")))]
pub mod whisper;
#[cfg(any(feature = "asr-whisper", test))]
mod whisper_text;
