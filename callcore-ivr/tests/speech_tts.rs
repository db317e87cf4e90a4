//! espeak-ng as callcore's `SpeechSynthesizer` (feature `tts-espeak`).
//!
//! Skips with a notice when the feature or the program is missing; under
//! `CALLCORE_REQUIRE_PEERS=1` a missing program fails when the feature is on.

#![allow(clippy::unwrap_used)]

#[cfg(feature = "tts-espeak")]
mod with_feature {
    use callcore::{SpeechSynthesizer, VoiceOptions};
    use callcore_ivr::speech::espeak::{EspeakConfig, EspeakSynthesizer};

    fn synthesizer() -> Option<EspeakSynthesizer> {
        let tts = EspeakSynthesizer::default();
        if tts.is_available() {
            return Some(tts);
        }
        assert!(
            std::env::var("CALLCORE_REQUIRE_PEERS").as_deref() != Ok("1"),
            "espeak-ng is required (CALLCORE_REQUIRE_PEERS=1): apt-get install espeak-ng"
        );
        eprintln!("notice: espeak-ng not found; skipping");
        None
    }

    fn rms(s: &[i16]) -> f64 {
        (s.iter().map(|&v| f64::from(v).powi(2)).sum::<f64>() / s.len().max(1) as f64).sqrt()
    }

    #[tokio::test(flavor = "current_thread")]
    async fn speaks_english_and_chinese_at_telephone_rate() {
        let Some(tts) = synthesizer() else { return };
        let options = VoiceOptions {
            language: Some("en".into()),
            sample_rate: 8000,
            ..VoiceOptions::default()
        };
        let clip = tts
            .synthesize("Your balance is 42 dollars and 50 cents.", &options)
            .await
            .unwrap();
        assert_eq!(clip.sample_rate, 8000);
        let secs = clip.samples.len() as f64 / 8000.0;
        assert!((1.0..6.0).contains(&secs), "{secs} s");
        assert!(rms(&clip.samples) > 500.0, "rms {}", rms(&clip.samples));

        let longer = tts
            .synthesize(
                "Your balance is 42 dollars and 50 cents, due on the first of December.",
                &options,
            )
            .await
            .unwrap();
        assert!(longer.samples.len() > clip.samples.len());

        let zh = tts
            .synthesize(
                "您的余额是四十二元",
                &VoiceOptions {
                    language: Some("zh".into()),
                    sample_rate: 16000,
                    ..VoiceOptions::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(zh.sample_rate, 16000);
        assert!(zh.samples.len() > 8000, "{} samples", zh.samples.len());
        assert!(rms(&zh.samples) > 500.0);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn text_that_looks_like_an_option_is_spoken_and_bad_voices_fail() {
        let Some(tts) = synthesizer() else { return };
        // The text goes through stdin: a leading dash is just text.
        let clip = tts
            .synthesize("--version", &VoiceOptions::default())
            .await
            .unwrap();
        assert_eq!(clip.sample_rate, 8000);
        assert!(clip.samples.len() > 1000);
        let err = tts
            .synthesize(
                "hello",
                &VoiceOptions {
                    voice: Some("-w /tmp/x".into()),
                    ..VoiceOptions::default()
                },
            )
            .await
            .unwrap_err();
        assert!(err.to_string().contains("invalid voice"), "{err}");
        let missing = EspeakSynthesizer::new(EspeakConfig {
            program: "/nonexistent/espeak-ng".into(),
            ..EspeakConfig::default()
        });
        assert!(!missing.is_available());
        let err = missing
            .synthesize("hello", &VoiceOptions::default())
            .await
            .unwrap_err();
        assert!(err.to_string().contains("espeak-ng"), "{err}");
    }
}

#[cfg(not(feature = "tts-espeak"))]
#[test]
fn espeak_tts_needs_its_feature() {
    eprintln!(
        "notice: built without the `tts-espeak` feature; run \
         `cargo test -p callcore-ivr --features tts-espeak --test speech_tts`"
    );
}
