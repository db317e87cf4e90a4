//! Offline speech recognition (feature `asr-whisper`) on telephone audio:
//! espeak-ng speaks the bank line's phrases, the audio is resampled to 8 kHz
//! and sent through G.711 µ-law like a phone call, then streamed into a
//! recognition session in 20 ms frames.
//!
//! Skips with a notice when the feature, the model (`CALLCORE_WHISPER_MODEL` or
//! `.cache/asr/whisper-tiny.en`, see `scripts/fetch-asr-model.sh`) or espeak-ng
//! is missing; under `CALLCORE_REQUIRE_PEERS=1` a missing model or program fails
//! when the feature is on.

#![allow(clippy::unwrap_used)]

#[cfg(feature = "asr-whisper")]
mod with_feature {
    use std::path::PathBuf;
    use std::process::Command;

    use callcore::{RecognitionOptions, RecognitionResult, SpeechRecognizer};
    use callcore_ivr::speech::whisper::{
        DEFAULT_MODEL_DIR, MODEL_ENV, WhisperConfig, WhisperRecognizer,
    };
    use callcore_media::resample::resample_i16;
    use callcore_media::wav::read_wav;

    fn require_peers() -> bool {
        std::env::var("CALLCORE_REQUIRE_PEERS").as_deref() == Ok("1")
    }

    fn skip(what: &str) {
        assert!(!require_peers(), "{what} (CALLCORE_REQUIRE_PEERS=1)");
        eprintln!("notice: {what}; skipping");
    }

    fn model_dir() -> Option<PathBuf> {
        let dir = std::env::var_os(MODEL_ENV)
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/..")).join(DEFAULT_MODEL_DIR)
            });
        if WhisperConfig::is_model_dir(&dir) {
            Some(dir)
        } else {
            skip(&format!(
                "no Whisper model in {} (run scripts/fetch-asr-model.sh or set {MODEL_ENV})",
                dir.display()
            ));
            None
        }
    }

    /// espeak-ng's speech at 8 kHz through a µ-law round trip.
    fn telephone_speech(text: &str) -> Option<Vec<i16>> {
        let out = match Command::new("espeak-ng")
            .args(["--stdout", "-v", "en-us", "-s", "150", text])
            .output()
        {
            Ok(out) if out.status.success() => out,
            _ => {
                skip("espeak-ng is not installed");
                return None;
            }
        };
        let wav = read_wav(&out.stdout).unwrap();
        let pcm = resample_i16(&wav.to_mono(), wav.sample_rate, 8000);
        Some(
            pcm.into_iter()
                .map(|s| ulaw_decode(ulaw_encode(s)))
                .collect(),
        )
    }

    fn ulaw_encode(sample: i16) -> u8 {
        const BIAS: i32 = 0x84;
        let mut s = i32::from(sample);
        let sign = if s < 0 {
            s = -s;
            0x80
        } else {
            0
        };
        s = (s + BIAS).min(32_635 + BIAS);
        let exponent = (7 - (s.leading_zeros() as i32 - 17)).clamp(0, 7);
        let mantissa = (s >> (exponent + 3)) & 0x0F;
        !(sign | (exponent << 4) as u8 as i32 | mantissa) as u8
    }

    fn ulaw_decode(byte: u8) -> i16 {
        let b = !byte;
        let sign = b & 0x80;
        let exponent = i32::from((b >> 4) & 0x07);
        let mantissa = i32::from(b & 0x0F);
        let magnitude = (((mantissa << 3) + 0x84) << exponent) - 0x84;
        (if sign != 0 { -magnitude } else { magnitude }) as i16
    }

    async fn recognise(
        asr: &WhisperRecognizer,
        audio: &[i16],
        hints: Vec<String>,
    ) -> Vec<RecognitionResult> {
        let mut session = asr
            .start(RecognitionOptions {
                language: Some("en".into()),
                sample_rate: 8000,
                interim_results: false,
                hints,
            })
            .await
            .unwrap();
        for frame in audio.chunks(160) {
            session.push_audio(frame).await.unwrap();
        }
        session.finish().await.unwrap();
        let mut results = Vec::new();
        while let Some(r) = session.next_result().await {
            results.push(r.unwrap());
        }
        results
    }

    fn words(text: &str) -> Vec<String> {
        text.to_lowercase()
            .split(|c: char| !c.is_alphanumeric() && c != '\'')
            .filter(|w| !w.is_empty())
            .map(str::to_string)
            .collect()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn transcribes_telephone_speech_of_the_bank_line() {
        let Some(dir) = model_dir() else { return };
        let asr = WhisperRecognizer::load(WhisperConfig::new(dir)).unwrap();
        let hints: Vec<String> = [
            "check my bill",
            "I lost my credit card",
            "my internet is not working",
            "talk to an agent",
        ]
        .map(String::from)
        .to_vec();
        let cases: [(&str, &[&str]); 4] = [
            ("I want to check my bill", &["check", "bill"]),
            (
                "I lost my credit card yesterday",
                &["lost", "credit", "card"],
            ),
            ("My internet is not working", &["internet", "working"]),
            ("I would like to talk to an agent", &["talk", "agent"]),
        ];
        for (text, expected) in cases {
            let Some(speech) = telephone_speech(text) else {
                return;
            };
            let mut audio = vec![0i16; 2400]; // 300 ms of line silence first
            audio.extend(&speech);
            audio.extend(vec![0i16; 8000]);
            let results = recognise(&asr, &audio, hints.clone()).await;
            assert_eq!(results.len(), 1, "{text:?}: {results:?}");
            let heard = words(&results[0].text);
            eprintln!(
                "said {text:?}, heard {:?} (confidence {:.2})",
                results[0].text, results[0].confidence
            );
            for w in expected {
                assert!(
                    heard.iter().any(|h| h == w),
                    "{text:?}: {w:?} not in {heard:?}"
                );
            }
            assert!(results[0].is_final);
            assert!((0.0..=1.0).contains(&results[0].confidence));
            // The utterance starts within the pre-roll of the speech onset.
            assert!(results[0].start_ms <= 300, "{:?}", results[0]);
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn two_utterances_separated_by_a_pause_come_back_in_order_and_silence_gives_nothing() {
        let Some(dir) = model_dir() else { return };
        let asr = WhisperRecognizer::load(WhisperConfig::new(dir)).unwrap();
        let (Some(first), Some(second)) = (
            telephone_speech("check my balance"),
            telephone_speech("report a lost card"),
        ) else {
            return;
        };
        let mut audio = first.clone();
        audio.extend(vec![0i16; 12_000]); // 1.5 s pause
        audio.extend(&second);
        audio.extend(vec![0i16; 4000]);
        let menu: Vec<String> = ["check my balance", "report a lost card", "talk to an agent"]
            .map(String::from)
            .to_vec();
        let results = recognise(&asr, &audio, menu.clone()).await;
        assert_eq!(results.len(), 2, "{results:?}");
        assert!(
            words(&results[0].text).contains(&"balance".to_string()),
            "{results:?}"
        );
        assert!(
            words(&results[1].text).contains(&"card".to_string()),
            "{results:?}"
        );
        assert!(results[1].start_ms > results[0].end_ms);

        // Line noise well below speech level is not an utterance.
        let hiss: Vec<i16> = (0..16_000).map(|i| ((i * 7919) % 61) as i16 - 30).collect();
        let silence = recognise(&asr, &hiss, menu).await;
        assert!(silence.is_empty(), "{silence:?}");
    }

    #[test]
    fn a_folder_without_a_model_is_a_clear_error() {
        let err = WhisperRecognizer::load(WhisperConfig::new("/nonexistent/model")).unwrap_err();
        assert!(err.to_string().contains("fetch-asr-model"), "{err}");
    }
}

#[cfg(not(feature = "asr-whisper"))]
#[test]
fn whisper_asr_needs_its_feature() {
    eprintln!(
        "notice: built without the `asr-whisper` feature; run scripts/fetch-asr-model.sh, then \
         `cargo test -p callcore-ivr --features asr-whisper --test speech_asr`"
    );
}
