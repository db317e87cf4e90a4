//! callcore's `MediaControl` port on a real media session over loopback: a "phone"
//! session plays audio and sends RFC 4733 digits to the IVR leg.
#![cfg(feature = "callcore-control")]

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use callcore::{
    CoreError, DigitSpec, DigitTermination, ListenSpec, MediaControl, PlayOutcome, Prompt,
    RecognitionOptions, RecognitionResult, RecognitionSession, RecordSpec, SpeechRecognizer,
    Utterance,
};
use callcore_media::control::VoiceLegMedia;
use callcore_media::endpoint::EndpointConfig;
use callcore_media::g711::Law;
use callcore_media::level::{mean_power, power_to_dbm0};
use callcore_media::tones::{ToneGenerator, TonePlan, ToneSegment};
use callcore_media::udp::{
    MediaSession, MediaSessionConfig, PortAllocator, SessionCommand, SessionEvent,
};
use callcore_media::wav::{ChannelLayout, WavRecorder, read_wav};
use tokio::sync::mpsc;

/// Counts the audio it is fed and "recognises" its length.
struct CountingAsr(Arc<AtomicUsize>);
struct CountingSession(Arc<AtomicUsize>, bool);

#[async_trait]
impl SpeechRecognizer for CountingAsr {
    async fn start(
        &self,
        _o: RecognitionOptions,
    ) -> Result<Box<dyn RecognitionSession>, CoreError> {
        Ok(Box::new(CountingSession(self.0.clone(), false)))
    }
}

#[async_trait]
impl RecognitionSession for CountingSession {
    async fn push_audio(&mut self, samples: &[i16]) -> Result<(), CoreError> {
        self.0.fetch_add(samples.len(), Ordering::Relaxed);
        Ok(())
    }
    async fn finish(&mut self) -> Result<(), CoreError> {
        Ok(())
    }
    async fn next_result(&mut self) -> Option<Result<RecognitionResult, CoreError>> {
        if self.1 {
            return None;
        }
        self.1 = true;
        let ms = self.0.load(Ordering::Relaxed) / 8;
        Some(Ok(RecognitionResult {
            text: format!("{ms}"),
            is_final: true,
            confidence: 0.9,
            start_ms: 0,
            end_ms: ms as u64,
        }))
    }
}

/// Phone actions, each after waiting `frames` × 20 ms of the phone's own clock.
enum Act {
    Wait(u32),
    Digits(&'static str),
    Play(Vec<i16>),
}

fn tone(ms: u32) -> Vec<i16> {
    ToneGenerator::new(
        TonePlan {
            segments: vec![ToneSegment::tone(&[300.0, 800.0], -12.0, ms)],
            repeat: false,
        },
        8000,
    )
    .take_ms(ms)
}

async fn setup(
    name: &str,
) -> (
    VoiceLegMedia,
    mpsc::UnboundedSender<Act>,
    std::path::PathBuf,
    Arc<callcore::MemoryStore>,
) {
    let store = Arc::new(callcore::MemoryStore::default());
    let dir = support::scratch(name);
    let ports = PortAllocator::new("127.0.0.1".parse().expect("setup"), 35000..=35999);
    let ivr = MediaSession::start(
        &ports,
        MediaSessionConfig {
            endpoint: EndpointConfig {
                ssrc: 1,
                ..Default::default()
            },
            ..Default::default()
        },
    )
    .await
    .expect("setup");
    let phone_cfg = MediaSessionConfig {
        endpoint: EndpointConfig {
            law: Law::Alaw,
            ssrc: 2,
            ..Default::default()
        },
        remote: Some(ivr.local_rtp()),
        ..Default::default()
    };
    let mut phone = MediaSession::start(&ports, phone_cfg).await.expect("setup");
    let (tx, mut rx) = mpsc::unbounded_channel::<Act>();
    tokio::spawn(async move {
        // bounded: ends when the test drops its sender or after 30 s of frames
        let mut wait = 0u32;
        for _ in 0..1500 {
            if wait == 0 {
                match rx.try_recv() {
                    Ok(Act::Wait(n)) => wait = n,
                    Ok(Act::Digits(d)) => {
                        phone.command(SessionCommand::Digits(d.into()));
                    }
                    Ok(Act::Play(s)) => {
                        phone.command(SessionCommand::Play(s));
                    }
                    Err(mpsc::error::TryRecvError::Disconnected) => break,
                    Err(_) => {}
                }
            }
            match tokio::time::timeout(Duration::from_secs(2), phone.next_event()).await {
                Ok(Some(SessionEvent::Audio(..))) => wait = wait.saturating_sub(1),
                Ok(Some(_)) => {}
                _ => break,
            }
        }
        phone.command(SessionCommand::Hangup);
    });
    let leg = VoiceLegMedia::new(ivr, dir.join("prompts"), dir.join("recordings"))
        .with_recording_store(
            store.clone(),
            Arc::new(callcore::VirtualClock::new(callcore::Timestamp::from_secs(
                1_700_000_000,
            ))),
            "acme".into(),
            "call-1".into(),
        )
        .with_recognizer(Arc::new(CountingAsr(Arc::new(AtomicUsize::new(0)))));
    (leg, tx, dir, store)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn collect_digits_with_terminator_and_timeout() {
    let (leg, phone, _dir, _store) = setup("ctl-digits").await;
    phone.send(Act::Wait(10)).unwrap();
    phone.send(Act::Digits("123#")).unwrap();
    let r = leg.collect_digits(&DigitSpec::up_to(8)).await.unwrap();
    assert_eq!(
        (r.digits.as_str(), r.termination),
        ("123", DigitTermination::Terminator)
    );
    let spec = DigitSpec {
        first_digit_timeout: Duration::from_millis(400),
        ..DigitSpec::up_to(4)
    };
    let r = leg.collect_digits(&spec).await.unwrap();
    assert_eq!(
        (r.digits.as_str(), r.termination),
        ("", DigitTermination::Timeout)
    );
    phone.send(Act::Digits("98")).unwrap();
    let r = leg.collect_digits(&DigitSpec::up_to(2)).await.unwrap();
    assert_eq!(
        (r.digits.as_str(), r.termination),
        ("98", DigitTermination::MaxDigits)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn play_file_with_dtmf_barge_in_and_music_on_hold() {
    let (leg, phone, dir, _store) = setup("ctl-play").await;
    std::fs::create_dir_all(dir.join("prompts")).unwrap();
    let mut rec =
        WavRecorder::create(&dir.join("prompts/welcome.wav"), ChannelLayout::MonoMixed).unwrap();
    for chunk in tone(600).chunks(160) {
        rec.write_frame(chunk, &[]).unwrap();
    }
    rec.finish().unwrap();
    // a short prompt plays to the end
    assert_eq!(
        leg.play(&Prompt::File("welcome.wav".into()), true)
            .await
            .unwrap(),
        PlayOutcome::Completed
    );
    // music on hold loops until the caller presses 5
    phone.send(Act::Wait(60)).unwrap();
    phone.send(Act::Digits("5")).unwrap();
    assert_eq!(
        leg.play(&Prompt::MusicOnHold, true).await.unwrap(),
        PlayOutcome::BargedIn("5".into())
    );
    assert_eq!(
        leg.play(&Prompt::SilenceMs(200), false).await.unwrap(),
        PlayOutcome::Completed
    );
    // the key that barged in is not lost: the menu's collect reads it first
    phone.send(Act::Digits("6")).unwrap();
    let r = leg.collect_digits(&DigitSpec::up_to(2)).await.unwrap();
    assert_eq!(
        (r.digits.as_str(), r.termination),
        ("56", DigitTermination::MaxDigits)
    );
    let err = leg
        .play(&Prompt::File("missing.mp3".into()), true)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("missing.mp3"), "{err}");
    let err = leg.say("hello", false).await.unwrap_err();
    assert!(matches!(err, CoreError::Unsupported(_)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listen_feeds_the_recognizer_and_record_stops_on_silence() {
    let (leg, phone, dir, store) = setup("ctl-listen").await;
    // the caller "speaks" for 1 s after 300 ms
    phone.send(Act::Wait(15)).unwrap();
    phone.send(Act::Play(tone(1000))).unwrap();
    let u = leg.listen(&ListenSpec::default()).await.unwrap();
    let Utterance::Text { text, .. } = u else {
        panic!("{u:?}")
    };
    let ms: u64 = text.parse().unwrap();
    // the second of speech, up to 300 ms kept before its onset and the 800 ms
    // pause that ends an answer (control.rs's END_OF_ANSWER_MS)
    assert!(
        (1000..=2300).contains(&ms),
        "the recognizer got {ms} ms of audio"
    );
    // nothing said: no input
    let u = leg
        .listen(&ListenSpec {
            no_input_timeout: Duration::from_millis(500),
            ..ListenSpec::default()
        })
        .await
        .unwrap();
    assert_eq!(u, Utterance::NoInput);
    // record: 1 s of "speech", then silence ends it after 800 ms
    phone.send(Act::Play(tone(1000))).unwrap();
    let id = leg
        .record(&RecordSpec {
            max_duration: Duration::from_secs(10),
            silence_timeout: Duration::from_millis(800),
            terminator: Some('#'),
        })
        .await
        .unwrap();
    let wav = read_wav(&std::fs::read(dir.join("recordings").join(id.as_str())).unwrap()).unwrap();
    let secs = wav.samples.len() as f64 / 8000.0;
    assert!((1.0..3.0).contains(&secs), "recording of {secs:.2} s");
    assert!(power_to_dbm0(mean_power(&wav.samples)) > -30.0);
    // and its metadata is in the recording store
    use callcore::RecordingStore;
    let meta = store
        .get(&"acme".into(), &id)
        .await
        .unwrap()
        .expect("metadata saved");
    assert_eq!(meta.interaction.as_str(), "call-1");
    assert_eq!(meta.duration_ms, wav.samples.len() as u64 / 8);
    assert_eq!(
        meta.started_at,
        callcore::Timestamp::from_secs(1_700_000_000)
    );
}
