//! Unit tests of [`super`] on a session fed through channels (no sockets).

use super::*;
use crate::jitter::FrameKind;
use std::net::SocketAddr;
use tokio::sync::mpsc;

fn digit(c: char) -> SessionEvent {
    SessionEvent::Endpoint(EndpointEvent::Digit(DigitEvent::Started {
        digit: Digit::from_char(c).unwrap_or_else(|| unreachable!()),
        timestamp: 0,
    }))
}

/// A leg's frames stop for seconds (a loaded machine did not run its task):
/// the caller is still there, and their key still counts.
#[tokio::test(start_paused = true)]
#[allow(clippy::disallowed_methods)] // the producer pauses in (virtual) tokio time
async fn a_pause_in_the_frames_is_not_a_hang_up() {
    let (cmd_tx, _cmd_rx) = mpsc::unbounded_channel();
    let (ev_tx, ev_rx) = mpsc::unbounded_channel();
    let session = MediaSession::from_channels(
        SocketAddr::from(([127, 0, 0, 1], 9)),
        cmd_tx,
        ev_rx,
        Arc::new(AtomicU64::new(0)),
    );
    let leg = VoiceLegMedia::new(session, ".".into(), ".".into());
    tokio::spawn(async move {
        for _ in 0..10 {
            let _ = ev_tx.send(SessionEvent::Audio(vec![0; 160], FrameKind::Silence));
        }
        tokio::time::sleep(Duration::from_secs(5)).await;
        let _ = ev_tx.send(digit('5'));
        // then the session ends for real: the channel closes
    });
    let got = leg.collect_digits(&DigitSpec::up_to(1)).await;
    assert_eq!(got.map(|r| r.digits).ok().as_deref(), Some("5"));
    let after = leg.collect_digits(&DigitSpec::up_to(1)).await;
    assert!(matches!(after, Err(CoreError::LegEnded)), "{after:?}");
}

/// Keeps every sample pushed into it; "recognises" how many were loud.
struct KeepingAsr(Arc<std::sync::Mutex<Vec<i16>>>);
struct KeepingSession(Arc<std::sync::Mutex<Vec<i16>>>, bool);

#[async_trait]
impl SpeechRecognizer for KeepingAsr {
    async fn start(
        &self,
        _o: RecognitionOptions,
    ) -> Result<Box<dyn callcore::RecognitionSession>, CoreError> {
        Ok(Box::new(KeepingSession(self.0.clone(), false)))
    }
}

#[async_trait]
impl callcore::RecognitionSession for KeepingSession {
    async fn push_audio(&mut self, samples: &[i16]) -> Result<(), CoreError> {
        if let Ok(mut kept) = self.0.lock() {
            kept.extend_from_slice(samples);
        }
        Ok(())
    }
    async fn finish(&mut self) -> Result<(), CoreError> {
        Ok(())
    }
    async fn next_result(&mut self) -> Option<Result<callcore::RecognitionResult, CoreError>> {
        if std::mem::replace(&mut self.1, true) {
            return None;
        }
        Some(Ok(callcore::RecognitionResult {
            text: "heard".into(),
            is_final: true,
            confidence: 0.9,
            start_ms: 0,
            end_ms: 0,
        }))
    }
}

/// The caller starts speaking while the menu is read out: the prompt stops,
/// and the listen that follows hears the answer from its first frame, the
/// frames the VAD needed to notice the voice (and the quiet before) included.
#[tokio::test]
async fn words_that_barge_in_on_a_prompt_reach_the_listen_whole() {
    let (cmd_tx, _cmd_rx) = mpsc::unbounded_channel();
    let (ev_tx, ev_rx) = mpsc::unbounded_channel();
    let session = MediaSession::from_channels(
        SocketAddr::from(([127, 0, 0, 1], 9)),
        cmd_tx,
        ev_rx,
        Arc::new(AtomicU64::new(0)),
    );
    let kept = Arc::new(std::sync::Mutex::new(Vec::new()));
    let leg = VoiceLegMedia::new(session, ".".into(), ".".into())
        .with_recognizer(Arc::new(KeepingAsr(kept.clone())));
    // 1 s of the caller's quiet line during the prompt, 1.2 s of "speech"
    // (numbered frames of a loud square wave), 1.5 s of quiet
    let quiet = |n: usize| (0..n).map(|_| vec![3i16; 160]).collect::<Vec<_>>();
    let speech: Vec<Vec<i16>> = (0..60)
        .map(|n| {
            (0..160)
                .map(|i| {
                    if (i / 20) % 2 == 0 {
                        9000 + n
                    } else {
                        -9000 - n
                    }
                })
                .collect()
        })
        .collect();
    for f in quiet(50).into_iter().chain(speech.clone()).chain(quiet(75)) {
        let _ = ev_tx.send(SessionEvent::Audio(f, FrameKind::Played));
    }
    let menu = CorePrompt::SilenceMs(10_000);
    let out = leg.play(&menu, true).await;
    assert!(
        matches!(out, Ok(PlayOutcome::BargedIn(ref k)) if k.is_empty()),
        "{out:?}"
    );
    // bounded: without the words heard ahead, the listen would train its noise
    // floor on the speech and wait for more
    let heard = tokio::time::timeout(Duration::from_secs(5), leg.listen(&ListenSpec::default()))
        .await
        .map_err(|_| "the listen heard no answer");
    assert!(matches!(heard, Ok(Ok(Utterance::Text { .. }))), "{heard:?}");
    let kept = kept.lock().map(|k| k.clone()).unwrap_or_default();
    let got: Vec<&[i16]> = kept.chunks(160).filter(|f| f[0].abs() > 1000).collect();
    assert_eq!(got.len(), speech.len(), "speech frames the recognizer got");
    for (g, s) in got.iter().zip(&speech) {
        assert_eq!(*g, s.as_slice(), "in order, unchanged");
    }
    // and some of the quiet before the first word (the pre-roll)
    let lead = kept.iter().take_while(|s| s.abs() < 1000).count();
    assert!(lead >= 160 * 5, "pre-roll of {} ms", lead / 8);
    // an operation other than a listen drops what was heard ahead: the keys
    // the menu waits for after the barge-in take the rest of the words, and
    // the next listen hears only the quiet after them
    for f in quiet(40)
        .into_iter()
        .chain(speech.clone())
        .chain(quiet(120))
    {
        let _ = ev_tx.send(SessionEvent::Audio(f, FrameKind::Played));
    }
    assert!(matches!(
        leg.play(&menu, true).await,
        Ok(PlayOutcome::BargedIn(_))
    ));
    let keys = DigitSpec {
        first_digit_timeout: Duration::from_secs(2),
        ..DigitSpec::up_to(1)
    };
    let timed_out = leg.collect_digits(&keys).await;
    assert!(
        matches!(timed_out, Ok(ref r) if r.digits.is_empty()),
        "{timed_out:?}"
    );
    let quiet_listen = ListenSpec {
        no_input_timeout: Duration::from_millis(400),
        ..ListenSpec::default()
    };
    assert_eq!(
        leg.listen(&quiet_listen).await.ok(),
        Some(Utterance::NoInput)
    );
}
