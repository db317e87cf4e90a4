//! Live quality inspection of answered calls (`[quality]`): the center taps both
//! legs of every conversation it bridges, measures who speaks when from each
//! side's own audio (callcore-analytics' [`TalkMeter`]: 10 ms slots), raises
//! `QualityAlert`s on dead air and talk-over while the call is on, transcribes
//! each side's utterances (with the speech feature and a model) as
//! `TranscriptSegment` events in the order they were said, and journals the
//! call's talk, silence and talk-over figures when it ends (`AudioMeasured`,
//! folded into the interaction's record).
//!
//!
//! On transcribed calls, callcore-analytics' quality rules run on each segment
//! as it is emitted ([`crate::live_qa`]): live `QualityAlert`s (a forbidden
//! word, a required phrase not said in time, the customer's sentiment
//! falling), and when the call is over a `QualityScored` evaluation kept in
//! the record. A required phrase's deadline passes on the transcript, not the
//! clock: only once everything its speaker said before it is transcribed (an
//! utterance still going on or in the recognizer holds it back), so a phrase
//! said in time is never missed for a slow transcription. Agent assist sends
//! the agent `AgentAssist` suggestions: the `[ivr] knowledge_bases` articles
//! and the `[ivr] intents` intent matching what the customer said, and a
//! reminder of a required phrase not said yet (when the same transcript says
//! it is due).
//!
//! Every call's utterances wait for the recognizer in one center-wide queue
//! ([`crate::transcription_queue`]): at most `transcription_workers` at once,
//! oldest first; one that waited past `max_transcription_lag_secs`, or the
//! oldest when the waiting audio passes `max_transcription_backlog_secs`, is
//! shed (not transcribed). The call then gets one `transcription_shed`
//! `QualityAlert` (and a warning in the log), its segments stay in order, and
//! `AudioMeasured` counts the shed utterances (`transcription_shed`).
//!
//! ```toml
//! [quality]
//! enabled = true             # measure every answered call from its audio
//! transcribe = true          # and transcribe both sides (feature asr-whisper + a model)
//! silence_alert_secs = 10    # dead air that raises an alert (0: none)
//! talk_over_alert_secs = 2   # both speaking that long raises an alert (0: none)
//! forbidden = ["stupid", "shut up"]       # the agent must not say (rule `forbidden_words`)
//! required = ["this call is recorded"]    # the agent must say one (rule `required_phrase`)
//! required_within_secs = 30               # … this long after the connection
//! remind_after_secs = 15                  # assist: reminded then if not said yet
//! assist = true                           # articles, intents, reminders to the agent
//! transcription_workers = 1               # utterances recognised at once, all calls (default: the recognizer's own limit, else the cores)
//! max_transcription_lag_secs = 20         # one waiting longer is shed, not transcribed (0: never)
//! max_transcription_backlog_secs = 600    # audio that may wait; past it the oldest is shed
//! rules_file = "/etc/callcore/quality.json"   # more rules (callcore-analytics' form)
//! [[quality.rules]]                       # or inline
//! rule = "negative_sentiment"
//! name = "customer_unhappy"
//! speaker = "customer"
//! threshold = -0.3
//! window = 2
//! penalty = 5
//! ```

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use callcore::{
    AgentId, Clock, EventKind, FrameDirection, FrameSink, IntentRecognizer, InteractionId, Pii,
    Speaker, SpeechRecognizer, TenantId, Timestamp,
};
use callcore_analytics::quality::talk::{TalkEvent, TalkFigures, TalkMeter, TalkSettings};
use callcore_runtime::{
    BridgedConversation, CenterHandle, ConversationObserver, ConversationSinks,
};
use tokio::sync::mpsc;

use crate::live_qa::{LiveOutput, LiveQa, LiveRules};
use crate::transcription_queue::{
    Heard, Job, Limits, ShedReason, TranscriptionMeter, TranscriptionQueue,
};

pub use crate::quality_config::QualitySection;

/// Frames of one side with the time they arrived.
type Frame = (Speaker, Timestamp, Vec<i16>);

/// Frames queued per conversation before the oldest are dropped (10 s of
/// both sides): a stalled inspector never holds the media task up.
const QUEUED_FRAMES: usize = 1000;

/// The rule of the alert a call gets at its first utterance shed by the
/// transcription queue.
pub const TRANSCRIPTION_SHED: &str = "transcription_shed";

/// How long a finished call waits for its last transcriptions.
const TRANSCRIPTION_GRACE: Duration = Duration::from_secs(120);

/// A running inspection, as a bridge again (a transfer) finds it.
struct Running {
    /// Its frame queue (weak: the legs' sinks hold it open).
    frames: mpsc::WeakSender<Frame>,
    /// The agent the call was transferred to.
    agent: mpsc::UnboundedSender<AgentId>,
}

/// The center's [`ConversationObserver`]: one inspection task per bridged call.
pub(crate) struct QualityInspection {
    settings: TalkSettings,
    asr: Option<Arc<dyn SpeechRecognizer>>,
    clock: Arc<dyn Clock>,
    center: OnceLock<CenterHandle>,
    live: Arc<Mutex<HashMap<InteractionId, Running>>>,
    /// The rules and assist run on transcribed calls.
    rules: Option<Arc<LiveRules>>,
    /// The intent classifier for assist (`[ivr] intents`).
    nlu: Option<Arc<dyn IntentRecognizer>>,
    /// The center's transcription queue (started with the first call).
    queue: OnceLock<TranscriptionQueue>,
    limits: Limits,
    meter: Arc<TranscriptionMeter>,
}

impl std::fmt::Debug for QualityInspection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QualityInspection")
            .field("settings", &self.settings)
            .field("transcribes", &self.asr.is_some())
            .finish_non_exhaustive()
    }
}

impl QualityInspection {
    /// An inspector measuring with `section`'s settings; `asr` transcribes,
    /// and the transcript goes through `rules` (and `nlu` for assist).
    pub(crate) fn new(
        section: &QualitySection,
        asr: Option<Arc<dyn SpeechRecognizer>>,
        clock: Arc<dyn Clock>,
        rules: Option<LiveRules>,
        nlu: Option<Arc<dyn IntentRecognizer>>,
    ) -> Self {
        let limits = section.transcription_limits(asr.as_ref().and_then(|a| a.concurrency()));
        QualityInspection {
            settings: section.settings(),
            asr,
            clock,
            center: OnceLock::new(),
            live: Arc::default(),
            rules: rules.map(Arc::new),
            nlu,
            queue: OnceLock::new(),
            limits,
            meter: Arc::default(),
        }
    }

    /// The transcription queue's settings, in words (the start banner).
    pub(crate) fn queue_summary(&self) -> String {
        let l = &self.limits;
        let lag = l.max_lag.map_or_else(
            || "none shed by age".to_owned(),
            |d| format!("shed after waiting {} s", d.as_secs_f64()),
        );
        format!(
            "{} utterance(s) at once; {lag}, or past {} s of waiting audio",
            l.workers,
            l.max_backlog_ms / 1000
        )
    }

    /// The transcription queue's figures (for `/metrics`).
    pub(crate) fn transcription_meter(&self) -> Arc<TranscriptionMeter> {
        self.meter.clone()
    }

    /// The center's transcription queue, started at the first call (in the
    /// runtime); `None` when nothing transcribes.
    fn queue(&self) -> Option<TranscriptionQueue> {
        let asr = self.asr.clone()?;
        Some(
            self.queue
                .get_or_init(|| {
                    TranscriptionQueue::start(
                        asr,
                        self.limits,
                        self.clock.clone(),
                        self.meter.clone(),
                    )
                })
                .clone(),
        )
    }

    /// Where the events go (the center is built after its observer).
    pub(crate) fn attach(&self, center: CenterHandle) {
        let _ = self.center.set(center);
    }

    /// Whether the calls are transcribed.
    pub(crate) fn transcribes(&self) -> bool {
        self.asr.is_some()
    }

    fn sink(&self, speaker: Speaker, tx: mpsc::Sender<Frame>) -> Box<dyn FrameSink> {
        let clock = self.clock.clone();
        Box::new(move |direction: FrameDirection, pcm: &[i16]| {
            if direction == FrameDirection::Inbound {
                // a full queue drops the frame: the inspector is behind
                let _ = tx.try_send((speaker, clock.now(), pcm.to_vec()));
            }
            !tx.is_closed()
        })
    }
}

impl ConversationObserver for QualityInspection {
    fn bridged(&self, c: &BridgedConversation) -> Option<ConversationSinks> {
        self.inspect(&Bridged {
            tenant: c.tenant.clone(),
            interaction: c.interaction.clone(),
            created_at: c.created_at,
            bridged_at: c.bridged_at,
            agent: c.agent.clone(),
        })
    }
}

/// A bridged conversation (runtime's [`BridgedConversation`], which only the
/// runtime builds).
struct Bridged {
    tenant: TenantId,
    interaction: InteractionId,
    created_at: Timestamp,
    bridged_at: Timestamp,
    agent: Option<AgentId>,
}

impl QualityInspection {
    /// Starts inspecting `c` (or joins a transfer's new leg to its running
    /// inspection): the sinks to tap its legs with.
    fn inspect(&self, c: &Bridged) -> Option<ConversationSinks> {
        let center = self.center.get()?.clone();
        let (tx, rx) = mpsc::channel(QUEUED_FRAMES);
        let (agent_tx, agents) = mpsc::unbounded_channel();
        {
            let mut live = self.live.lock().unwrap_or_else(|p| p.into_inner());
            // One inspection per call. A bridge again (a transfer) goes on
            // with it: the customer's leg is tapped already (a second tap
            // detaches at its first frame), the new party's leg joins as the
            // agent's side, and alerts and assist follow the new agent.
            if let Some(running) = live.get(&c.interaction)
                && let Some(frames) = running.frames.upgrade()
            {
                if let Some(agent) = c.agent.clone() {
                    let _ = running.agent.send(agent);
                }
                return Some(ConversationSinks {
                    customer: Box::new(|_: FrameDirection, _: &[i16]| false),
                    other: self.sink(Speaker::Agent, frames),
                });
            }
            live.insert(
                c.interaction.clone(),
                Running {
                    frames: tx.downgrade(),
                    agent: agent_tx,
                },
            );
        }
        let sinks = ConversationSinks {
            customer: self.sink(Speaker::Customer, tx.clone()),
            other: self.sink(Speaker::Agent, tx),
        };
        // the rules read transcripts: none without a recognizer
        let qa = self.rules.as_ref().filter(|_| self.asr.is_some()).map(|r| {
            LiveQa::new(
                r.clone(),
                c.tenant.clone(),
                c.interaction.clone(),
                c.created_at,
                c.bridged_at,
                c.agent.clone(),
            )
        });
        let (intents_tx, intents) = mpsc::unbounded_channel();
        let run = Inspection {
            qa,
            nlu: self.nlu.clone(),
            intents_tx,
            meter: TalkMeter::new(self.settings.clone(), offset(c.created_at, c.bridged_at)),
            tenant: c.tenant.clone(),
            interaction: c.interaction.clone(),
            origin: c.created_at,
            clock: self.clock.clone(),
            center,
            queue: self.queue(),
            shed: 0,
            next: 0,
            emitted: 0,
            done: BTreeMap::new(),
            pending: BTreeMap::new(),
            timed: self
                .rules
                .as_ref()
                .map(|r| r.timed_speakers())
                .unwrap_or_default(),
        };
        let live = self.live.clone();
        let id = c.interaction.clone();
        tokio::spawn(async move {
            run.run(rx, intents, agents).await;
            live.lock().unwrap_or_else(|p| p.into_inner()).remove(&id);
        });
        Some(sinks)
    }
}

fn offset(origin: Timestamp, at: Timestamp) -> u64 {
    u64::try_from(at.duration_since(origin).as_millis()).unwrap_or(u64::MAX)
}

/// A transcription: its place in the order, who, when, what became of it.
type Transcribed = (u64, Speaker, u64, Heard);

/// The classifier's answer for the words said at an offset.
type Classified = (callcore::IntentResult, u64);

/// One call's inspection task.
struct Inspection {
    /// The rules and assist on the transcript (when transcribed, with rules).
    qa: Option<LiveQa>,
    nlu: Option<Arc<dyn IntentRecognizer>>,
    intents_tx: mpsc::UnboundedSender<Classified>,
    meter: TalkMeter,
    tenant: TenantId,
    interaction: InteractionId,
    origin: Timestamp,
    clock: Arc<dyn Clock>,
    center: CenterHandle,
    /// The center's transcription queue (when transcribed).
    queue: Option<TranscriptionQueue>,
    /// Utterances the queue shed (not transcribed).
    shed: u32,
    /// The next utterance's place in the order.
    next: u64,
    /// Utterances whose segment went out (or had no words).
    emitted: u64,
    /// Transcriptions waiting for an earlier one.
    done: BTreeMap<u64, (Speaker, u64, Heard)>,
    /// Who said each utterance whose segment has not gone out yet, and
    /// where it began (by its place in the order).
    pending: BTreeMap<u64, (Speaker, u64)>,
    /// Whose words the rules' deadlines judge (required phrases).
    timed: Vec<Speaker>,
}

impl Inspection {
    async fn run(
        mut self,
        mut frames: mpsc::Receiver<Frame>,
        mut intents: mpsc::UnboundedReceiver<Classified>,
        mut agents: mpsc::UnboundedReceiver<AgentId>,
    ) {
        let (tx, mut transcribed) = mpsc::unbounded_channel::<Transcribed>();
        let mut tick = tokio::time::interval(Duration::from_millis(100));
        loop {
            tokio::select! {
                // frames first: a tick only sees an empty queue, so no frame
                // stamped before it is taken for silence
                biased;
                frame = frames.recv() => match frame {
                    Some((speaker, at, pcm)) => {
                        let at = offset(self.origin, at);
                        self.meter.handle_frame(speaker, at, &pcm);
                    }
                    // both legs' media ended
                    None => break,
                },
                _ = tick.tick() => {
                    let now = self.clock.now();
                    self.meter.handle_timeout(offset(self.origin, now));
                    // deadlines pass on the transcript, not the clock: what was
                    // said before one may still be going on or being transcribed
                    let heard = self.transcribed_until(now);
                    if let Some(qa) = self.qa.as_mut()
                        && qa.poll_timeout().is_some_and(|t| t <= heard)
                    {
                        qa.handle_timeout(heard);
                    }
                }
                Some(t) = transcribed.recv() => self.transcribed(t),
                Some(agent) = agents.recv() => {
                    if let Some(qa) = self.qa.as_mut() {
                        qa.handle_transfer(agent, self.clock.now());
                    }
                }
                Some((result, at)) = intents.recv() => {
                    if let Some(qa) = self.qa.as_mut() {
                        qa.handle_intent(&result, at);
                    }
                }
            }
            self.drain(&tx);
            self.drain_qa();
        }
        let end = offset(self.origin, self.clock.now());
        let figures = self.meter.finish(end);
        self.drain(&tx);
        drop(tx);
        let waiting = async {
            while self.emitted < self.next {
                match transcribed.recv().await {
                    Some(t) => self.transcribed(t),
                    None => break,
                }
            }
        };
        if tokio::time::timeout(TRANSCRIPTION_GRACE, waiting)
            .await
            .is_err()
        {
            tracing::warn!(interaction = %self.interaction, "transcriptions still running at the end");
        }
        let mut audio = measured(&figures);
        audio.transcription_shed = self.shed;
        self.journal(EventKind::AudioMeasured {
            interaction: self.interaction.clone(),
            audio: audio.clone(),
        });
        // the rules judged at the end, and the call's evaluation
        if let Some(qa) = self.qa.as_mut() {
            qa.finish(Some(&audio), self.clock.now());
        }
        self.drain_qa();
        tracing::debug!(
            interaction = %self.interaction,
            silence_ms = figures.silence_ms,
            talk_over_ms = figures.talk_over_ms,
            "conversation measured"
        );
    }

    fn journal(&self, kind: EventKind) {
        self.center.journal_event(&self.tenant, kind);
    }

    /// Hands the meter's findings on: alerts at once, utterances to the
    /// recognizer (or in order without words when nothing transcribes).
    fn drain(&mut self, tx: &mpsc::UnboundedSender<Transcribed>) {
        while let Some(event) = self.meter.poll_event() {
            match event {
                TalkEvent::Utterance {
                    speaker,
                    start_ms,
                    samples,
                    ..
                } => {
                    let seq = self.next;
                    self.next += 1;
                    self.pending.insert(seq, (speaker, start_ms));
                    let Some(queue) = self.queue.as_ref() else {
                        self.transcribed((seq, speaker, start_ms, Heard::Failed));
                        continue;
                    };
                    let tx = tx.clone();
                    queue.submit(Job {
                        samples,
                        reply: Box::new(move |heard| {
                            let _ = tx.send((seq, speaker, start_ms, heard));
                        }),
                    });
                }
                TalkEvent::Alert {
                    rule,
                    offset_ms,
                    detail,
                } => {
                    let s = offset_ms / 1000;
                    self.journal(EventKind::QualityAlert {
                        interaction: self.interaction.clone(),
                        rule: rule.to_owned(),
                        detail: format!("{detail} from {:02}:{:02}", s / 60, s % 60),
                    });
                }
                _ => {}
            }
        }
    }

    /// What the rules and assist found: events journaled, the customer's
    /// words classified (the answer comes back to the task).
    fn drain_qa(&mut self) {
        let Some(qa) = self.qa.as_mut() else {
            return;
        };
        let mut out = Vec::new();
        while let Some(o) = qa.poll_output() {
            out.push(o);
        }
        for o in out {
            match o {
                LiveOutput::Event(kind) => self.journal(kind),
                LiveOutput::Classify { text, offset_ms } => {
                    let Some(nlu) = self.nlu.clone() else {
                        continue;
                    };
                    let tx = self.intents_tx.clone();
                    tokio::spawn(async move {
                        let context = callcore::NluContext::default();
                        match nlu.recognize(&text, &context).await {
                            Ok(r) => {
                                let _ = tx.send((r, offset_ms));
                            }
                            Err(e) => tracing::warn!(error = %e, "classifying a segment failed"),
                        }
                    });
                }
            }
        }
    }

    /// How far the transcript of the speakers the rules' deadlines judge is
    /// complete, at most `now`: every utterance of theirs begun before it has
    /// gone through the rules (none is still being said, held for the other
    /// side's or transcribed). The deadlines pass on it: a required phrase
    /// said in time is never judged missing because its transcription came
    /// back after the deadline (a loaded machine, a slow recognizer).
    fn transcribed_until(&self, now: Timestamp) -> Timestamp {
        let known = self
            .timed
            .iter()
            .map(|&who| {
                self.pending
                    .values()
                    .filter(|(s, _)| *s == who)
                    .map(|&(_, start)| start)
                    .fold(self.meter.utterances_known_until(who), u64::min)
            })
            .min();
        match known {
            Some(ms) => now.min(self.origin + Duration::from_millis(ms)),
            None => now,
        }
    }

    /// A transcription came back: segments go out in the order said (and
    /// through the rules).
    fn transcribed(&mut self, (seq, speaker, start_ms, heard): Transcribed) {
        self.done.insert(seq, (speaker, start_ms, heard));
        while let Some((speaker, offset_ms, heard)) = self.done.remove(&self.emitted) {
            self.pending.remove(&self.emitted);
            self.emitted += 1;
            let text = match heard {
                Heard::Words(text, _) => text,
                Heard::Failed => continue,
                Heard::Shed(why) => {
                    self.shed(speaker, offset_ms, why);
                    continue;
                }
            };
            if !text.trim().is_empty() {
                let heard = self.transcribed_until(self.clock.now());
                if let Some(qa) = self.qa.as_mut() {
                    qa.handle_segment(speaker, &text, offset_ms, heard);
                }
                self.journal(EventKind::TranscriptSegment {
                    interaction: self.interaction.clone(),
                    speaker,
                    text: Pii::new(text),
                    offset_ms,
                });
            }
        }
    }
}

impl Inspection {
    /// An utterance was shed (in its place in the order): counted, and the
    /// call's first shows as an alert and a warning.
    fn shed(&mut self, speaker: Speaker, offset_ms: u64, why: ShedReason) {
        self.shed += 1;
        if let Some(qa) = self.qa.as_mut() {
            qa.handle_shed(speaker, offset_ms);
        }
        if self.shed > 1 {
            return;
        }
        let who = match speaker {
            Speaker::Agent => "agent",
            Speaker::Customer => "customer",
            _ => "other side",
        };
        tracing::warn!(
            interaction = %self.interaction,
            reason = %why,
            "the recognizer is behind: utterances of this call are shed, not transcribed"
        );
        let s = offset_ms / 1000;
        self.journal(EventKind::QualityAlert {
            interaction: self.interaction.clone(),
            rule: TRANSCRIPTION_SHED.to_owned(),
            detail: format!(
                "1 utterance shed so far (the {who}'s from {:02}:{:02}): not transcribed, {why}; \
                 the call's count is kept with its audio figures",
                s / 60,
                s % 60
            ),
        });
    }
}

/// The figures as the journal keeps them.
fn measured(f: &TalkFigures) -> callcore::ConversationAudio {
    let mut audio =
        callcore::ConversationAudio::new(f.conversation_ms, f.customer_talk_ms, f.agent_talk_ms);
    audio.silence_ms = f.silence_ms;
    audio.interior_silence_ms = f.silences.iter().map(|(a, b)| b - a).sum();
    audio.longest_silence_ms = f.silences.iter().map(|(a, b)| b - a).max().unwrap_or(0);
    audio.talk_over_ms = f.talk_over_ms;
    audio.talk_overs = u32::try_from(f.talk_overs.len()).unwrap_or(u32::MAX);
    audio
}

#[cfg(test)]
#[path = "quality_tests.rs"]
mod tests;
