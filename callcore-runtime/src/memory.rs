//! An in-memory transport: test doubles for callers, chats and agents' phones.
//!
//! The test (or the simulator) plays the far ends: [`MemoryTransport::call`]
//! makes an inbound call and returns a [`FarEnd`] to press digits, type, listen
//! to what the flow said, and hang up; [`MemoryTransport::add_phone`] registers
//! an agent's phone that answers after a delay, is busy, or never answers.
//! Time, including ring delays and digit timeouts, runs on the center's
//! [`Clock`], so everything works in virtual time.

use async_trait::async_trait;
use callcore::{
    BridgeRecording, Channel, Clock, CoreError, DigitResult, DigitSpec, DigitTermination,
    Direction, Endpoint, HangupCause, Inbound, Interaction, InteractionId, Leg, LegEvent, LegId,
    ListenSpec, MediaControl, PlaceRequest, PlayOutcome, Prompt, RecordSpec, RecordingId,
    RecordingRequest, RecordingStarted, RecordingStopped, TenantId, Timestamp, TransferReport,
    Transport, Utterance,
};
use std::any::Any;
use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::{Notify, mpsc, watch};

mod mix;

pub use mix::{MemoryMediaPort, MemoryRoom};

/// What the far end sent.
#[derive(Debug, Clone, PartialEq, Eq)]
enum FarInput {
    Digits(String),
    Text(String),
}

#[derive(Debug, Default)]
struct LegState {
    answered: bool,
    held: bool,
    bridged_to: Option<LegId>,
    /// The leg bridged to, to unbridge both sides.
    peer: Option<std::sync::Weak<LegShared>>,
    /// The mixing room the leg is in.
    room: Option<Arc<MemoryRoom>>,
    transferred_to: Option<String>,
    /// What the center played or said to the far end, in order.
    heard: Vec<String>,
    input: VecDeque<FarInput>,
    /// What the far end did (hold, resume, transfer requests), not yet read.
    events: VecDeque<LegEvent>,
    /// The center's answers to this end's transfer requests.
    transfer_reports: Vec<TransferReport>,
}

struct LegShared {
    id: LegId,
    channel: Channel,
    clock: Arc<dyn Clock>,
    state: Mutex<LegState>,
    input_ready: Notify,
    events_ready: Notify,
    ended: watch::Sender<Option<HangupCause>>,
}

impl fmt::Debug for LegShared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryLeg").field("id", &self.id).finish()
    }
}

impl LegShared {
    fn new(id: LegId, channel: Channel, clock: Arc<dyn Clock>) -> Arc<Self> {
        Arc::new(Self {
            id,
            channel,
            clock,
            state: Mutex::new(LegState::default()),
            input_ready: Notify::new(),
            events_ready: Notify::new(),
            ended: watch::channel(None).0,
        })
    }

    fn lock(&self) -> MutexGuard<'_, LegState> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn end(&self, cause: HangupCause) -> bool {
        self.ended.send_if_modified(|c| {
            if c.is_none() {
                *c = Some(cause);
                true
            } else {
                false
            }
        })
    }

    fn is_ended(&self) -> bool {
        self.ended.borrow().is_some()
    }

    async fn wait_ended(&self) -> HangupCause {
        let mut rx = self.ended.subscribe();
        loop {
            if let Some(c) = rx.borrow_and_update().clone() {
                return c;
            }
            if rx.changed().await.is_err() {
                return HangupCause::Local;
            }
        }
    }

    fn check(&self) -> Result<(), CoreError> {
        if self.is_ended() {
            Err(CoreError::LegEnded)
        } else {
            Ok(())
        }
    }

    /// The next far-end input before `deadline`; `Ok(None)` on timeout.
    async fn next_input(&self, deadline: Timestamp) -> Result<Option<FarInput>, CoreError> {
        loop {
            self.check()?;
            let notified = self.input_ready.notified();
            if let Some(i) = self.lock().input.pop_front() {
                return Ok(Some(i));
            }
            if self.clock.now() >= deadline {
                return Ok(None);
            }
            tokio::select! {
                () = notified => {}
                () = self.clock.sleep_until(deadline) => {}
                _ = self.wait_ended() => return Err(CoreError::LegEnded),
            }
        }
    }

    fn push_front_text(&self, input: FarInput) {
        self.lock().input.push_front(input);
    }
}

/// The center's side of an in-memory leg.
#[derive(Debug, Clone)]
pub struct MemoryLeg {
    shared: Arc<LegShared>,
}

/// The far end of an in-memory leg: the caller, the chat visitor, or the
/// agent's phone, driven by a test.
#[derive(Debug, Clone)]
pub struct FarEnd {
    shared: Arc<LegShared>,
}

impl FarEnd {
    /// The leg's id.
    #[must_use]
    pub fn id(&self) -> &LegId {
        &self.shared.id
    }

    /// Presses DTMF keys (or, on chat, types them).
    pub fn press(&self, digits: &str) {
        self.shared
            .lock()
            .input
            .push_back(FarInput::Digits(digits.to_owned()));
        self.shared.input_ready.notify_waiters();
    }

    /// Says (voice, as if recognised) or types (chat) a sentence.
    pub fn say(&self, text: &str) {
        self.shared
            .lock()
            .input
            .push_back(FarInput::Text(text.to_owned()));
        self.shared.input_ready.notify_waiters();
    }

    /// Hangs up from the far end.
    pub fn hangup(&self) {
        self.shared.end(HangupCause::Remote);
    }

    fn event(&self, event: LegEvent) {
        self.shared.lock().events.push_back(event);
        self.shared.events_ready.notify_waiters();
    }

    /// Puts the call on hold from this end (a phone's hold key).
    pub fn hold(&self) {
        self.event(LegEvent::Held);
    }

    /// Takes the call off hold from this end.
    pub fn resume(&self) {
        self.event(LegEvent::Resumed);
    }

    /// Asks the center to transfer the call to `target` (a phone's transfer
    /// key: a queue, an agent or a number, as `sip:name@host` or a bare name).
    pub fn refer(&self, target: &str) {
        self.event(LegEvent::TransferRequested {
            target: target.to_owned(),
        });
    }

    /// The center's answers to this end's transfer requests, in order.
    #[must_use]
    pub fn transfer_reports(&self) -> Vec<TransferReport> {
        self.shared.lock().transfer_reports.clone()
    }

    /// Everything the center played or said to this end, in order
    /// (`"say:<text>"`, `"play:<prompt>"`).
    #[must_use]
    pub fn heard(&self) -> Vec<String> {
        self.shared.lock().heard.clone()
    }

    /// Whether the center answered this leg.
    #[must_use]
    pub fn is_answered(&self) -> bool {
        self.shared.lock().answered
    }

    /// The leg this one is bridged to, if any.
    #[must_use]
    pub fn bridged_to(&self) -> Option<LegId> {
        self.shared.lock().bridged_to.clone()
    }

    /// The members of the mixing room this leg is in, with their roles, in
    /// the order they joined; `None` when it is in none.
    #[must_use]
    pub fn room_members(&self) -> Option<Vec<(LegId, callcore::MixRole)>> {
        let room = self.shared.lock().room.clone()?;
        Some(callcore::MixRoom::members(&*room))
    }

    /// This leg's role in its mixing room, if it is in one.
    #[must_use]
    pub fn room_role(&self) -> Option<callcore::MixRole> {
        self.room_members()?
            .into_iter()
            .find(|(l, _)| *l == self.shared.id)
            .map(|(_, r)| r)
    }

    /// Where the center transferred this leg, if it did.
    #[must_use]
    pub fn transferred_to(&self) -> Option<String> {
        self.shared.lock().transferred_to.clone()
    }

    /// How the leg ended, if it has.
    #[must_use]
    pub fn end_cause(&self) -> Option<HangupCause> {
        self.shared.ended.borrow().clone()
    }

    /// Completes when the leg ends.
    pub async fn ended(&self) -> HangupCause {
        self.shared.wait_ended().await
    }
}

#[async_trait]
impl Leg for MemoryLeg {
    fn id(&self) -> &LegId {
        &self.shared.id
    }

    fn channel(&self) -> Channel {
        self.shared.channel
    }

    async fn answer(&self) -> Result<(), CoreError> {
        self.shared.check()?;
        self.shared.lock().answered = true;
        Ok(())
    }

    async fn hold(&self) -> Result<(), CoreError> {
        self.shared.check()?;
        self.shared.lock().held = true;
        Ok(())
    }

    async fn resume(&self) -> Result<(), CoreError> {
        self.shared.check()?;
        self.shared.lock().held = false;
        Ok(())
    }

    async fn bridge(&self, other: &dyn Leg) -> Result<(), CoreError> {
        self.shared.check()?;
        let other = other
            .as_any()
            .downcast_ref::<Self>()
            .ok_or(CoreError::Unsupported(
                "bridging a memory leg to another transport",
            ))?;
        other.shared.check()?;
        mix::bridge(&self.shared, &other.shared);
        Ok(())
    }

    async fn bridge_recorded(
        &self,
        other: &dyn Leg,
        recording: &RecordingRequest,
    ) -> Result<Option<BridgeRecording>, CoreError> {
        self.bridge(other).await?;
        let Some(other) = other.as_any().downcast_ref::<Self>() else {
            return Ok(None);
        };
        // No audio is kept: the recording is the fact and its length, from
        // the bridge until either leg ends.
        let started = RecordingStarted::new(
            RecordingId::new(format!("rec-{}-{}", self.shared.id, other.shared.id)),
            recording.interaction.clone(),
            format!("memory:{}", recording.interaction),
            2,
        );
        let (a, b) = (self.shared.clone(), other.shared.clone());
        let from = a.clock.now();
        let done = started.clone();
        Ok(Some(BridgeRecording::new(started, async move {
            tokio::select! {
                _ = a.wait_ended() => {}
                _ = b.wait_ended() => {}
            }
            let ms = u64::try_from(a.clock.now().duration_since(from).as_millis()).unwrap_or(0);
            Some(RecordingStopped::of(&done, ms))
        })))
    }

    async fn next_event(&self) -> LegEvent {
        loop {
            let notified = self.shared.events_ready.notified();
            if let Some(e) = self.shared.lock().events.pop_front() {
                return e;
            }
            notified.await;
        }
    }

    async fn report_transfer(&self, report: TransferReport) -> Result<(), CoreError> {
        self.shared.check()?;
        self.shared.lock().transfer_reports.push(report);
        Ok(())
    }

    async fn transfer(&self, target: &str) -> Result<(), CoreError> {
        self.shared.check()?;
        self.shared.lock().transferred_to = Some(target.to_owned());
        self.shared.end(HangupCause::Local);
        Ok(())
    }

    async fn hangup(&self, cause: HangupCause) -> Result<(), CoreError> {
        if self.shared.end(cause) {
            Ok(())
        } else {
            Err(CoreError::LegEnded)
        }
    }

    async fn ended(&self) -> HangupCause {
        self.shared.wait_ended().await
    }

    fn media(&self) -> &dyn MediaControl {
        self
    }

    fn media_port(&self) -> Option<Arc<dyn callcore::LegMediaPort>> {
        Some(Arc::new(MemoryMediaPort::new(self.shared.clone())))
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

impl MemoryLeg {
    /// A barge-in check: input waiting means the caller interrupted.
    fn barged_in(&self) -> Option<String> {
        let st = self.shared.lock();
        st.input.front().map(|i| match i {
            FarInput::Digits(d) => d.clone(),
            FarInput::Text(t) => t.clone(),
        })
    }
}

#[async_trait]
impl MediaControl for MemoryLeg {
    async fn play(&self, prompt: &Prompt, barge_in: bool) -> Result<PlayOutcome, CoreError> {
        self.shared.check()?;
        let label = match prompt {
            Prompt::File(f) => format!("play:{f}"),
            Prompt::SilenceMs(ms) => format!("silence:{ms}"),
            Prompt::MusicOnHold => "play:music_on_hold".to_owned(),
            other => format!("play:{other:?}"),
        };
        self.shared.lock().heard.push(label);
        if let Prompt::SilenceMs(ms) = prompt {
            let until = self.shared.clock.now() + Duration::from_millis(u64::from(*ms));
            tokio::select! {
                () = self.shared.clock.sleep_until(until) => {}
                _ = self.shared.wait_ended() => return Err(CoreError::LegEnded),
            }
        }
        if barge_in && let Some(input) = self.barged_in() {
            return Ok(PlayOutcome::BargedIn(input));
        }
        Ok(PlayOutcome::Completed)
    }

    async fn say(&self, text: &str, barge_in: bool) -> Result<PlayOutcome, CoreError> {
        self.shared.check()?;
        self.shared.lock().heard.push(format!("say:{text}"));
        if barge_in && let Some(input) = self.barged_in() {
            return Ok(PlayOutcome::BargedIn(input));
        }
        Ok(PlayOutcome::Completed)
    }

    async fn collect_digits(&self, spec: &DigitSpec) -> Result<DigitResult, CoreError> {
        let mut digits = String::new();
        let mut deadline = self.shared.clock.now() + spec.first_digit_timeout;
        let max = usize::try_from(spec.max).unwrap_or(usize::MAX);
        loop {
            let Some(input) = self.shared.next_input(deadline).await? else {
                return Ok(DigitResult {
                    digits,
                    termination: DigitTermination::Timeout,
                });
            };
            let keys = match input {
                FarInput::Digits(d) => d,
                // On chat, digits arrive as text; anything else is not a digit.
                FarInput::Text(t) => t.trim().to_owned(),
            };
            let mut chars = keys.chars();
            while let Some(c) = chars.next() {
                if Some(c) == spec.terminator {
                    let rest: String = chars.collect();
                    if !rest.is_empty() {
                        self.shared.push_front_text(FarInput::Digits(rest));
                    }
                    return Ok(DigitResult {
                        digits,
                        termination: DigitTermination::Terminator,
                    });
                }
                if c.is_ascii_digit() || matches!(c, '*' | '#' | 'A'..='D') {
                    digits.push(c);
                }
                if digits.len() >= max {
                    let rest: String = chars.collect();
                    if !rest.is_empty() {
                        self.shared.push_front_text(FarInput::Digits(rest));
                    }
                    return Ok(DigitResult {
                        digits,
                        termination: DigitTermination::MaxDigits,
                    });
                }
            }
            deadline = self.shared.clock.now() + spec.inter_digit_timeout;
        }
    }

    async fn listen(&self, spec: &ListenSpec) -> Result<Utterance, CoreError> {
        let deadline = self.shared.clock.now() + spec.no_input_timeout;
        Ok(match self.shared.next_input(deadline).await? {
            None => Utterance::NoInput,
            Some(FarInput::Text(text)) => Utterance::Text {
                text,
                confidence: 1.0,
            },
            Some(FarInput::Digits(digits)) => Utterance::Digits { digits },
        })
    }

    async fn record(&self, spec: &RecordSpec) -> Result<RecordingId, CoreError> {
        // Records until the terminator, the maximum duration or hang-up; the
        // memory transport keeps no audio, only the fact of the recording.
        let deadline = self.shared.clock.now() + spec.max_duration;
        loop {
            match self.shared.next_input(deadline).await {
                Ok(Some(FarInput::Digits(d))) if spec.terminator.is_some_and(|t| d.contains(t)) => {
                    break;
                }
                Ok(Some(_)) => {}
                Ok(None) | Err(CoreError::LegEnded) => break,
                Err(e) => return Err(e),
            }
        }
        Ok(RecordingId::new(format!("rec-{}", self.shared.id)))
    }
}

/// How an agent's in-memory phone behaves when it rings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PhoneBehavior {
    /// Answers after ringing this long (no answer if longer than the ring
    /// timeout).
    AnswerAfter(Duration),
    /// Answers busy at once.
    Busy,
    /// Declines after ringing this long.
    DeclineAfter(Duration),
    /// Rings until the ring timeout.
    NoAnswer,
}

/// The in-memory transport (see the module docs).
pub struct MemoryTransport {
    clock: Arc<dyn Clock>,
    tenant: TenantId,
    next_id: AtomicU64,
    inbound_tx: Mutex<Option<mpsc::UnboundedSender<Inbound>>>,
    inbound_rx: tokio::sync::Mutex<mpsc::UnboundedReceiver<Inbound>>,
    phones: Mutex<HashMap<String, PhoneBehavior>>,
    /// The far end of the latest leg placed to each address.
    placed: Mutex<HashMap<String, FarEnd>>,
}

impl fmt::Debug for MemoryTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryTransport")
            .field("tenant", &self.tenant)
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl MemoryTransport {
    /// A transport for the default tenant on `clock`.
    #[must_use]
    pub fn new(clock: Arc<dyn Clock>) -> Arc<Self> {
        Self::for_tenant(clock, TenantId::default())
    }

    /// A transport whose inbound interactions belong to `tenant`.
    #[must_use]
    pub fn for_tenant(clock: Arc<dyn Clock>, tenant: TenantId) -> Arc<Self> {
        let (tx, rx) = mpsc::unbounded_channel();
        Arc::new(Self {
            clock,
            tenant,
            next_id: AtomicU64::new(0),
            inbound_tx: Mutex::new(Some(tx)),
            inbound_rx: tokio::sync::Mutex::new(rx),
            phones: Mutex::new(HashMap::new()),
            placed: Mutex::new(HashMap::new()),
        })
    }

    fn next_id(&self, prefix: &str) -> String {
        format!(
            "{prefix}-{}",
            self.next_id.fetch_add(1, Ordering::Relaxed) + 1
        )
    }

    /// An inbound interaction on `channel` from `from` to `to`; returns the far
    /// end for the test to act as the customer.
    pub fn inbound(&self, channel: Channel, from: &str, to: &str) -> FarEnd {
        let id = self.next_id("mem");
        let shared = LegShared::new(LegId::new(id.clone()), channel, self.clock.clone());
        let interaction = Interaction::new(
            InteractionId::new(id),
            self.tenant.clone(),
            channel,
            Direction::Inbound,
            from,
            to,
            self.clock.now(),
        );
        let inbound = Inbound {
            interaction,
            leg: Box::new(MemoryLeg {
                shared: shared.clone(),
            }),
        };
        if let Some(tx) = lock(&self.inbound_tx).as_ref() {
            let _ = tx.send(inbound);
        }
        FarEnd { shared }
    }

    /// An inbound voice call.
    pub fn call(&self, from: &str, to: &str) -> FarEnd {
        self.inbound(Channel::Voice, from, to)
    }

    /// An inbound chat.
    pub fn chat(&self, from: &str, to: &str) -> FarEnd {
        self.inbound(Channel::Chat, from, to)
    }

    /// Registers a phone at `address` (reached as `Endpoint::Sip(address)` or
    /// `Endpoint::Phone(address)`).
    pub fn add_phone(&self, address: &str, behavior: PhoneBehavior) {
        lock(&self.phones).insert(address.to_owned(), behavior);
    }

    /// The far end of the latest leg placed to `address` (the agent's side of
    /// the phone, to hang up from there).
    #[must_use]
    pub fn phone(&self, address: &str) -> Option<FarEnd> {
        lock(&self.placed).get(address).cloned()
    }

    /// Stops accepting: `accept` returns `None` once queued calls are taken.
    pub fn close(&self) {
        lock(&self.inbound_tx).take();
    }
}

fn address(endpoint: &Endpoint) -> Option<&str> {
    match endpoint {
        Endpoint::Sip(a) | Endpoint::Phone(a) | Endpoint::WebRtc(a) => Some(a),
        _ => None,
    }
}

#[async_trait]
impl Transport for MemoryTransport {
    fn name(&self) -> &str {
        "memory"
    }

    async fn accept(&self) -> Option<Inbound> {
        self.inbound_rx.lock().await.recv().await
    }

    fn can_reach(&self, endpoint: &Endpoint) -> bool {
        address(endpoint).is_some_and(|a| lock(&self.phones).contains_key(a))
    }

    async fn place(&self, request: PlaceRequest) -> Result<Box<dyn Leg>, CoreError> {
        let addr = address(&request.to)
            .ok_or_else(|| CoreError::Unreachable("no address to ring".into()))?
            .to_owned();
        let behavior = lock(&self.phones)
            .get(&addr)
            .copied()
            .ok_or_else(|| CoreError::Unreachable(callcore::Masked(&addr).to_string()))?;
        let ring = Duration::from_secs(u64::from(request.ring_timeout_secs));
        match behavior {
            PhoneBehavior::Busy => Err(CoreError::NotAnswered(HangupCause::Busy)),
            PhoneBehavior::NoAnswer => {
                self.clock.sleep(ring).await;
                Err(CoreError::NotAnswered(HangupCause::NoAnswer))
            }
            PhoneBehavior::DeclineAfter(d) if d < ring => {
                self.clock.sleep(d).await;
                Err(CoreError::NotAnswered(HangupCause::Declined))
            }
            PhoneBehavior::AnswerAfter(d) if d < ring => {
                self.clock.sleep(d).await;
                let shared = LegShared::new(
                    LegId::new(self.next_id("out")),
                    request.channel,
                    self.clock.clone(),
                );
                shared.lock().answered = true;
                lock(&self.placed).insert(
                    addr,
                    FarEnd {
                        shared: shared.clone(),
                    },
                );
                Ok(Box::new(MemoryLeg { shared }))
            }
            PhoneBehavior::AnswerAfter(_) | PhoneBehavior::DeclineAfter(_) => {
                self.clock.sleep(ring).await;
                Err(CoreError::NotAnswered(HangupCause::NoAnswer))
            }
        }
    }
}
