//! The center's transcription queue (`[quality] transcription_workers`,
//! `max_transcription_lag_secs`, `max_transcription_backlog_secs`): every
//! call's utterances wait here for the speech recognizer, all calls together.
//!
//! The recognizer has a capacity (Whisper tiny.en: about one call per core);
//! past it, utterances would queue without bound, transcripts would arrive
//! minutes late (and the live rules act on them that late), and memory would
//! grow. So at most `workers` utterances are recognised at once, the others
//! wait oldest first, and an utterance is *shed* — not transcribed — when it
//! has waited longer than the lag limit before a worker could take it, or when
//! the waiting audio passes the backlog cap (the oldest goes). A shed utterance
//! is answered at once ([`Heard::Shed`]), so its call's segments stay in order
//! and the call shows the shedding (an alert, a count in its audio figures, the
//! `/metrics` counter).
//!
//! The policy is [`Backlog`], sans-IO (the time is passed in); the tokio glue is
//! [`TranscriptionQueue`]: a dispatcher task owning the backlog, one task per
//! running recognition.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use callcore::{Clock, RecognitionOptions, SpeechRecognizer, Timestamp};
use tokio::sync::mpsc;

/// Why an utterance was not transcribed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ShedReason {
    /// It waited this long (past the lag limit) without a free worker.
    Late(Duration),
    /// The waiting audio passed the backlog cap; it was the oldest.
    Full,
}

impl std::fmt::Display for ShedReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ShedReason::Late(waited) => write!(
                f,
                "it waited {:.1} s for the recognizer (max_transcription_lag_secs)",
                waited.as_secs_f64()
            ),
            ShedReason::Full => write!(
                f,
                "the recognizer's backlog was full (max_transcription_backlog_secs)"
            ),
        }
    }
}

/// The queue's limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Limits {
    /// Utterances recognised at once (at least 1).
    pub(crate) workers: usize,
    /// An utterance waiting longer than this is shed (`None`: never by age).
    pub(crate) max_lag: Option<Duration>,
    /// Audio waiting (ms) past which the oldest waiting utterance is shed.
    pub(crate) max_backlog_ms: u64,
}

/// One step the backlog asks for.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Step<T> {
    /// Recognise `job` now (a worker is taken until [`Backlog::done`]); it
    /// waited `waited`.
    Run {
        /// The utterance.
        job: T,
        /// How long it waited.
        waited: Duration,
    },
    /// Answer `job` without words.
    Shed {
        /// The utterance.
        job: T,
        /// Why.
        why: ShedReason,
    },
}

/// What the queue has done and holds (for `/metrics`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TranscriptionFigures {
    /// Utterances handed to the recognizer.
    pub started: u64,
    /// Utterances shed because they waited too long.
    pub shed_late: u64,
    /// Utterances shed because the backlog was full.
    pub shed_full: u64,
    /// Utterances waiting now.
    pub waiting: u64,
    /// Their audio, in milliseconds.
    pub waiting_ms: u64,
    /// Utterances being recognised now.
    pub running: u64,
    /// The longest wait of an utterance a worker took, in milliseconds.
    pub max_wait_ms: u64,
}

struct Waiting<T> {
    job: T,
    audio_ms: u64,
    since: Timestamp,
}

/// The queue's policy, sans-IO: utterances in ([`push`](Self::push)), steps
/// out ([`poll`](Self::poll)) at the time given, workers given back
/// ([`done`](Self::done)).
pub(crate) struct Backlog<T> {
    limits: Limits,
    /// Oldest first (pushed in time order).
    waiting: VecDeque<Waiting<T>>,
    figures: TranscriptionFigures,
}

impl<T> Backlog<T> {
    /// An empty backlog.
    pub(crate) fn new(limits: Limits) -> Self {
        Backlog {
            limits: Limits {
                workers: limits.workers.max(1),
                ..limits
            },
            waiting: VecDeque::new(),
            figures: TranscriptionFigures::default(),
        }
    }

    /// An utterance of `audio_ms` arrived at `now`.
    pub(crate) fn push(&mut self, job: T, audio_ms: u64, now: Timestamp) {
        self.waiting.push_back(Waiting {
            job,
            audio_ms,
            since: now,
        });
        self.figures.waiting_ms += audio_ms;
    }

    /// The next thing to do at `now`: shed the oldest while the backlog is
    /// over its cap (the newest always stays), shed what waited past the lag
    /// limit, then start the oldest if a worker is free.
    pub(crate) fn poll(&mut self, now: Timestamp) -> Option<Step<T>> {
        let over = self.figures.waiting_ms > self.limits.max_backlog_ms && self.waiting.len() > 1;
        let late = self.waiting.front().and_then(|w| {
            let waited = now.duration_since(w.since);
            self.limits
                .max_lag
                .filter(|max| waited > *max)
                .map(|_| waited)
        });
        let free = self.figures.running < self.limits.workers as u64;
        let step = if over {
            let w = self.pop()?;
            self.figures.shed_full += 1;
            Step::Shed {
                job: w.job,
                why: ShedReason::Full,
            }
        } else if let Some(waited) = late {
            let w = self.pop()?;
            self.figures.shed_late += 1;
            Step::Shed {
                job: w.job,
                why: ShedReason::Late(waited),
            }
        } else if free {
            let w = self.pop()?;
            let waited = now.duration_since(w.since);
            self.figures.started += 1;
            self.figures.running += 1;
            let ms = u64::try_from(waited.as_millis()).unwrap_or(u64::MAX);
            self.figures.max_wait_ms = self.figures.max_wait_ms.max(ms);
            Step::Run { job: w.job, waited }
        } else {
            return None;
        };
        Some(step)
    }

    fn pop(&mut self) -> Option<Waiting<T>> {
        let w = self.waiting.pop_front()?;
        self.figures.waiting_ms = self.figures.waiting_ms.saturating_sub(w.audio_ms);
        Some(w)
    }

    /// A recognition ended: its worker is free.
    pub(crate) fn done(&mut self) {
        self.figures.running = self.figures.running.saturating_sub(1);
    }

    /// When the oldest waiting utterance passes the lag limit (poll then).
    pub(crate) fn poll_timeout(&self) -> Option<Timestamp> {
        let max = self.limits.max_lag?;
        // "longer than": a millisecond past the limit
        self.waiting
            .front()
            .map(|w| w.since + max + Duration::from_millis(1))
    }

    /// Nothing waiting, nothing running.
    pub(crate) fn is_idle(&self) -> bool {
        self.waiting.is_empty() && self.figures.running == 0
    }

    /// The figures now.
    pub(crate) fn figures(&self) -> TranscriptionFigures {
        TranscriptionFigures {
            waiting: self.waiting.len() as u64,
            ..self.figures
        }
    }
}

/// What became of an utterance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Heard {
    /// The recognizer's words (possibly none), after waiting this long.
    Words(String, Duration),
    /// The recognizer failed (logged).
    Failed,
    /// Not transcribed.
    Shed(ShedReason),
}

/// An utterance and where its answer goes.
pub(crate) struct Job {
    /// 8 kHz audio.
    pub(crate) samples: Vec<i16>,
    /// Called once with what became of it.
    pub(crate) reply: Box<dyn FnOnce(Heard) + Send>,
}

/// The queue's figures as `/metrics` reads them, updated by the dispatcher.
#[derive(Debug, Default)]
pub struct TranscriptionMeter {
    started: AtomicU64,
    shed_late: AtomicU64,
    shed_full: AtomicU64,
    waiting: AtomicU64,
    waiting_ms: AtomicU64,
    running: AtomicU64,
    max_wait_ms: AtomicU64,
}

impl TranscriptionMeter {
    fn store(&self, f: &TranscriptionFigures) {
        for (a, v) in [
            (&self.started, f.started),
            (&self.shed_late, f.shed_late),
            (&self.shed_full, f.shed_full),
            (&self.waiting, f.waiting),
            (&self.waiting_ms, f.waiting_ms),
            (&self.running, f.running),
            (&self.max_wait_ms, f.max_wait_ms),
        ] {
            a.store(v, Ordering::Relaxed);
        }
    }

    /// The figures as last stored.
    pub fn figures(&self) -> TranscriptionFigures {
        let l = |a: &AtomicU64| a.load(Ordering::Relaxed);
        TranscriptionFigures {
            started: l(&self.started),
            shed_late: l(&self.shed_late),
            shed_full: l(&self.shed_full),
            waiting: l(&self.waiting),
            waiting_ms: l(&self.waiting_ms),
            running: l(&self.running),
            max_wait_ms: l(&self.max_wait_ms),
        }
    }
}

/// The center's transcription queue: hand it utterances with
/// [`submit`](Self::submit). Its dispatcher task ends once every handle is
/// dropped and its work is done.
#[derive(Clone)]
pub(crate) struct TranscriptionQueue {
    tx: mpsc::UnboundedSender<Job>,
}

impl std::fmt::Debug for TranscriptionQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TranscriptionQueue").finish_non_exhaustive()
    }
}

/// Gives a worker back when its recognition ends, even by a panic.
struct Worker(mpsc::UnboundedSender<()>);

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.0.send(());
    }
}

impl TranscriptionQueue {
    /// Starts the dispatcher (in a tokio runtime): `asr` recognises, within
    /// `limits`, the time from `clock`, the figures into `meter`.
    pub(crate) fn start(
        asr: Arc<dyn SpeechRecognizer>,
        limits: Limits,
        clock: Arc<dyn Clock>,
        meter: Arc<TranscriptionMeter>,
    ) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(dispatch(rx, asr, Backlog::new(limits), clock, meter));
        TranscriptionQueue { tx }
    }

    /// Queues an utterance; its reply is called once (shed at once when the
    /// queue is gone).
    pub(crate) fn submit(&self, job: Job) {
        if let Err(mpsc::error::SendError(job)) = self.tx.send(job) {
            (job.reply)(Heard::Shed(ShedReason::Full));
        }
    }
}

async fn dispatch(
    mut rx: mpsc::UnboundedReceiver<Job>,
    asr: Arc<dyn SpeechRecognizer>,
    mut backlog: Backlog<Job>,
    clock: Arc<dyn Clock>,
    meter: Arc<TranscriptionMeter>,
) {
    let (done_tx, mut done_rx) = mpsc::unbounded_channel::<()>();
    let mut open = true;
    while open || !backlog.is_idle() {
        let timer = backlog.poll_timeout().map(|t| clock.sleep_until(t));
        tokio::select! {
            job = rx.recv(), if open => match job {
                Some(job) => {
                    let ms = job.samples.len() as u64 / 8;
                    backlog.push(job, ms, clock.now());
                }
                None => open = false,
            },
            Some(()) = done_rx.recv() => backlog.done(),
            () = async { match timer { Some(t) => t.await, None => std::future::pending::<()>().await } } => {}
        }
        let now = clock.now();
        while let Some(step) = backlog.poll(now) {
            match step {
                Step::Shed { job, why } => (job.reply)(Heard::Shed(why)),
                Step::Run { job, waited } => {
                    let asr = asr.clone();
                    let worker = Worker(done_tx.clone());
                    tokio::spawn(async move {
                        let heard = match transcribe(asr.as_ref(), &job.samples).await {
                            Ok(t) => Heard::Words(t, waited),
                            Err(e) => {
                                tracing::warn!(error = %e, "transcribing an utterance failed");
                                Heard::Failed
                            }
                        };
                        (job.reply)(heard);
                        drop(worker);
                    });
                }
            }
        }
        meter.store(&backlog.figures());
    }
}

/// The words of one utterance (8 kHz).
async fn transcribe(
    asr: &dyn SpeechRecognizer,
    samples: &[i16],
) -> Result<String, callcore::CoreError> {
    let mut session = asr
        .start(RecognitionOptions {
            sample_rate: 8000,
            ..RecognitionOptions::default()
        })
        .await?;
    session.push_audio(samples).await?;
    session.finish().await?;
    let mut text = String::new();
    while let Some(r) = session.next_result().await {
        let r = r?;
        if r.is_final && !r.text.trim().is_empty() {
            if !text.is_empty() {
                text.push(' ');
            }
            text.push_str(r.text.trim());
        }
    }
    Ok(text)
}

#[cfg(test)]
#[path = "transcription_queue_tests.rs"]
mod tests;
