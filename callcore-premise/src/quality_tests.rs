//! The inspection path with a recognizer slower than the speech: several
//! calls' utterances through the center's transcription queue, in tokio's
//! paused time (the recognizer's seconds and the calls' seconds are virtual,
//! so the figures are exact and the tests fast).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)]

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use callcore::{
    ConversationAudio, CoreError, RecognitionOptions, RecognitionResult, RecognitionSession, Sleep,
};
use callcore_runtime::Center;

use super::*;
use crate::transcription_queue::TranscriptionFigures;

/// Tokio's time (paused here) as the center's clock.
#[derive(Debug)]
struct TokioClock {
    origin: Timestamp,
    start: tokio::time::Instant,
}

impl Clock for TokioClock {
    fn now(&self) -> Timestamp {
        self.origin + self.start.elapsed()
    }

    fn sleep_until(&self, deadline: Timestamp) -> Sleep {
        Box::pin(tokio::time::sleep(deadline.duration_since(self.now())))
    }
}

/// How busy the recognizer was.
#[derive(Debug, Default)]
struct Busy {
    running: AtomicUsize,
    most: AtomicUsize,
}

/// A recognizer taking `took` for every utterance; it hears "hello there".
#[derive(Debug)]
struct Slow {
    took: Duration,
    busy: Arc<Busy>,
}

struct SlowSession {
    took: Duration,
    busy: Arc<Busy>,
    out: VecDeque<RecognitionResult>,
}

#[async_trait]
impl SpeechRecognizer for Slow {
    async fn start(&self, _: RecognitionOptions) -> Result<Box<dyn RecognitionSession>, CoreError> {
        Ok(Box::new(SlowSession {
            took: self.took,
            busy: self.busy.clone(),
            out: VecDeque::new(),
        }))
    }
}

#[async_trait]
impl RecognitionSession for SlowSession {
    async fn push_audio(&mut self, _: &[i16]) -> Result<(), CoreError> {
        Ok(())
    }

    async fn finish(&mut self) -> Result<(), CoreError> {
        let now = self.busy.running.fetch_add(1, Ordering::SeqCst) + 1;
        self.busy.most.fetch_max(now, Ordering::SeqCst);
        tokio::time::sleep(self.took).await;
        self.busy.running.fetch_sub(1, Ordering::SeqCst);
        self.out.push_back(RecognitionResult {
            text: "hello there".into(),
            is_final: true,
            confidence: 0.9,
            start_ms: 0,
            end_ms: 1000,
        });
        Ok(())
    }

    async fn next_result(&mut self) -> Option<Result<RecognitionResult, CoreError>> {
        self.out.pop_front().map(Ok)
    }
}

/// Each customer says this many one-second utterances, a second apart.
const UTTERANCES: usize = 6;
/// Calls at once.
const CALLS: usize = 3;
/// The recognizer's time per utterance.
const TOOK: Duration = Duration::from_secs(2);

/// What the calls showed.
#[derive(Debug, Default)]
struct Seen {
    /// Per call: each segment's lag behind the end of its speech (ms), in
    /// the order emitted, and its offset.
    segments: HashMap<InteractionId, Vec<(u64, i64)>>,
    /// Per call: the `transcription_shed` alerts' details.
    shed_alerts: HashMap<InteractionId, Vec<String>>,
    audio: HashMap<InteractionId, ConversationAudio>,
    most_at_once: usize,
    queue: TranscriptionFigures,
}

/// 20 ms of a 500 Hz tone (speech to the meter) or of silence.
fn frame(k: usize, speaking: bool) -> Vec<i16> {
    (0..160)
        .map(|i| {
            if !speaking {
                return 0;
            }
            let t = (k * 160 + i) as f64 / 8000.0;
            (4000.0 * (2.0 * std::f64::consts::PI * 500.0 * t).sin()) as i16
        })
        .collect()
}

/// `CALLS` calls bridged at once, each customer saying `UTTERANCES` lines
/// (1 s of speech, 1 s of pause), through a queue set by `quality` (a
/// `[quality]` body), with one recognizer taking [`TOOK`] an utterance.
async fn calls(quality: &str) -> Seen {
    let clock: Arc<dyn Clock> = Arc::new(TokioClock {
        origin: Timestamp::from_secs(1_700_000_000),
        start: tokio::time::Instant::now(),
    });
    let section: QualitySection = toml::from_str(&format!(
        "enabled = true\nsilence_alert_secs = 0\ntalk_over_alert_secs = 0\n{quality}"
    ))
    .unwrap();
    section.validate().unwrap();
    let busy = Arc::new(Busy::default());
    let asr = Arc::new(Slow {
        took: TOOK,
        busy: busy.clone(),
    });
    let inspection = QualityInspection::new(&section, Some(asr), clock.clone(), None, None);
    let center = Center::builder()
        .clock(clock.clone())
        .build()
        .unwrap()
        .start()
        .await
        .unwrap();
    let mut events = center.subscribe();
    inspection.attach(center.clone());
    let created = clock.now();
    let mut talks = Vec::new();
    for i in 0..CALLS {
        let sinks = inspection
            .inspect(&Bridged {
                tenant: TenantId::default(),
                interaction: InteractionId::new(format!("call-{i}")),
                created_at: created,
                bridged_at: created,
                agent: None,
            })
            .unwrap();
        talks.push(tokio::spawn(async move {
            let ConversationSinks {
                mut customer,
                mut other,
            } = sinks;
            // each line: 50 frames of speech, 50 of pause; then 2 s of quiet
            for k in 0..(UTTERANCES * 100 + 100) {
                let speaking = k < UTTERANCES * 100 && k % 100 < 50;
                customer.frame(FrameDirection::Inbound, &frame(k, speaking));
                other.frame(FrameDirection::Inbound, &frame(k, false));
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            // the legs' media ends with the call
        }));
    }
    for t in talks {
        t.await.unwrap();
    }
    let mut seen = Seen::default();
    let origin = created;
    tokio::time::timeout(Duration::from_secs(600), async {
        while seen.audio.len() < CALLS {
            let e = events.recv().await.unwrap();
            match &e.kind {
                EventKind::TranscriptSegment {
                    interaction,
                    offset_ms,
                    ..
                } => {
                    let spoken_end = origin + Duration::from_millis(offset_ms + 1000);
                    let lag = e.at.as_millis() - spoken_end.as_millis();
                    seen.segments
                        .entry(interaction.clone())
                        .or_default()
                        .push((*offset_ms, lag));
                }
                EventKind::QualityAlert {
                    interaction,
                    rule,
                    detail,
                } if rule == TRANSCRIPTION_SHED => {
                    seen.shed_alerts
                        .entry(interaction.clone())
                        .or_default()
                        .push(detail.clone());
                }
                EventKind::AudioMeasured { interaction, audio } => {
                    seen.audio.insert(interaction.clone(), audio.clone());
                }
                _ => {}
            }
        }
    })
    .await
    .expect("every call measured");
    seen.most_at_once = busy.most.load(Ordering::SeqCst);
    seen.queue = inspection.transcription_meter().figures();
    let mut lags: Vec<i64> = seen.segments.values().flatten().map(|s| s.1).collect();
    lags.sort_unstable();
    eprintln!(
        "{quality:?}: {} segments, lag ms {lags:?}; shed per call {:?}; queue {:?}",
        lags.len(),
        seen.audio
            .iter()
            .map(|(id, a)| (id.to_string(), a.transcription_shed))
            .collect::<std::collections::BTreeMap<_, _>>(),
        seen.queue
    );
    seen
}

#[tokio::test(start_paused = true)]
async fn past_capacity_the_lag_stays_bounded_and_the_shedding_shows() {
    // 3 calls bring 1.5 utterances a second; one worker does 0.5
    let seen = calls("transcription_workers = 1\nmax_transcription_lag_secs = 3\n").await;
    assert_eq!(seen.most_at_once, 1, "one utterance recognised at a time");
    let mut shed_total = 0;
    for i in 0..CALLS {
        let id = InteractionId::new(format!("call-{i}"));
        let segments = seen.segments.get(&id).cloned().unwrap_or_default();
        let shed = seen.audio[&id].transcription_shed as usize;
        // every utterance is accounted for: a segment or shed
        assert_eq!(segments.len() + shed, UTTERANCES, "{id}: {segments:?}");
        // in the order said
        assert!(segments.windows(2).all(|w| w[0].0 < w[1].0), "{segments:?}");
        // lag: at most the limit, the recognition, and the meter's wait for
        // the pause that ends an utterance (0.6 s gap + 0.3 s jitter)
        for (offset, lag) in &segments {
            assert!(
                *lag <= 3000 + 2000 + 1000,
                "{id}: the segment from {offset} ms came {lag} ms late"
            );
        }
        let alerts = seen.shed_alerts.get(&id).cloned().unwrap_or_default();
        if shed > 0 {
            assert_eq!(alerts.len(), 1, "one alert per call: {alerts:?}");
            assert!(
                alerts[0].contains("not transcribed")
                    && alerts[0].contains("max_transcription_lag_secs"),
                "{alerts:?}"
            );
        } else {
            assert!(alerts.is_empty(), "{alerts:?}");
        }
        shed_total += shed;
    }
    assert!(shed_total >= 6, "{shed_total} of 18 shed");
    assert_eq!(seen.queue.shed_late, shed_total as u64);
    assert_eq!(seen.queue.started + seen.queue.shed_late, 18);
    assert_eq!((seen.queue.waiting, seen.queue.running), (0, 0));
    assert!(
        seen.queue.max_wait_ms <= 3001,
        "a worker took nothing older than the limit: {:?}",
        seen.queue
    );
}

#[tokio::test(start_paused = true)]
async fn without_a_lag_limit_everything_is_transcribed_and_the_lag_grows() {
    let seen = calls("transcription_workers = 1\nmax_transcription_lag_secs = 0\n").await;
    assert_eq!(seen.most_at_once, 1);
    let lags: Vec<i64> = seen
        .segments
        .values()
        .flat_map(|s| s.iter().map(|(_, lag)| *lag))
        .collect();
    assert_eq!(lags.len(), 18, "all transcribed");
    assert!(seen.shed_alerts.is_empty());
    assert!(seen.audio.values().all(|a| a.transcription_shed == 0));
    // 36 s of recognition for 12 s of speech: the last ones wait 20 s and more
    let max = lags.iter().max().copied().unwrap();
    assert!(max > 20_000, "the lag grows without the limit: {max} ms");
}

#[tokio::test(start_paused = true)]
async fn the_backlog_cap_bounds_the_waiting_audio_without_a_lag_limit() {
    // an utterance is 1.4 s of audio (1 s and 0.2 s either side): at most
    // 3 s may wait
    let seen = calls(
        "transcription_workers = 1\nmax_transcription_lag_secs = 0\n\
         max_transcription_backlog_secs = 3\n",
    )
    .await;
    let shed: u32 = seen.audio.values().map(|a| a.transcription_shed).sum();
    assert!(
        shed > 0 && u64::from(shed) == seen.queue.shed_full,
        "{seen:?}"
    );
    assert_eq!(seen.queue.shed_late, 0);
    for alerts in seen.shed_alerts.values() {
        assert_eq!(alerts.len(), 1);
        assert!(
            alerts[0].contains("max_transcription_backlog_secs"),
            "{alerts:?}"
        );
    }
    // at most two waiting behind the one running: the lag stays bounded
    let max = seen
        .segments
        .values()
        .flat_map(|s| s.iter().map(|(_, lag)| *lag))
        .max()
        .unwrap();
    assert!(max <= 3 * 2000 + 2000, "{max} ms");
}
