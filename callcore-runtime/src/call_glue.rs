//! The tokio glue around one [`Call`]: it owns the call's legs besides the
//! customer's, its router signal channel, its recordings' ends and transfers
//! being placed; it feeds every wake-up to the call as an input and carries
//! out the call's commands. It is driven by the interaction's own task
//! (through [`FlowContext`](crate::FlowContext)), so the call has one owner.

mod audio;
mod control;

pub(crate) use control::{Action, endpoint_of, free, number_endpoint, profile, reserve};

use crate::call::{Call, CallCommand, LegInput, Placement, RouterSignal, TransferTarget};
use crate::center::Shared;
use crate::routing_task::{QueueSignal, RouterCommand, Waiter};
use crate::waiting::{Entertained, Entertainer, WaitOptions};
use callcore::{
    AgentId, CoreError, Endpoint, EventKind, HangupCause, InteractionId, Leg, LegEvent, LegId,
    MixRoom, PlaceRequest, RecordingId, RecordingRequest, RecordingStopped, RouterInput,
};
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// What reaches a live call from outside its task: a call-control action
/// and where to answer whether it fit the call's state.
#[derive(Debug)]
pub(crate) struct CallControl {
    action: Action,
    reply: oneshot::Sender<Result<(), CoreError>>,
}

/// The live calls of a center, by interaction.
#[derive(Debug, Default)]
pub(crate) struct Registry {
    calls: Mutex<HashMap<InteractionId, mpsc::UnboundedSender<CallControl>>>,
}

impl Registry {
    /// The interactions whose calls are live, in no particular order.
    pub(crate) fn live(&self) -> Vec<InteractionId> {
        self.lock().keys().cloned().collect()
    }

    fn lock(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<InteractionId, mpsc::UnboundedSender<CallControl>>> {
        self.calls
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Asks the live call `id` to carry out `action`; `None` when it is not
    /// live.
    pub(crate) fn ask(
        &self,
        id: &InteractionId,
        action: Action,
    ) -> Option<oneshot::Receiver<Result<(), CoreError>>> {
        let (reply, rx) = oneshot::channel();
        let calls = self.lock();
        calls.get(id)?.send(CallControl { action, reply }).ok()?;
        Some(rx)
    }
}

type RecordingEnd = Pin<Box<dyn Future<Output = (RecordingId, Option<RecordingStopped>)> + Send>>;
type Placed = (Option<Placement>, Result<Box<dyn Leg>, HangupCause>);

/// What woke the call up.
enum Wake {
    Signal(Option<QueueSignal>),
    LegEnded(LegId),
    LegEvent(LegId, LegEvent),
    Placed(Placed),
    Recording(RecordingId, Option<RecordingStopped>),
    Control(CallControl),
    Timer,
}

/// How long a finished call waits for its recordings' files to complete.
const RECORDINGS_GRACE: Duration = Duration::from_secs(10);

/// The glue of one call (see the module docs).
pub(crate) struct CallGlue {
    pub(crate) call: Call,
    pub(crate) shared: Arc<Shared>,
    /// The customer's number (caller id of transfers placed out).
    from: String,
    others: HashMap<LegId, Box<dyn Leg>>,
    signals: Option<mpsc::UnboundedReceiver<QueueSignal>>,
    placed_tx: mpsc::UnboundedSender<Placed>,
    placed_rx: mpsc::UnboundedReceiver<Placed>,
    recordings: FuturesUnordered<RecordingEnd>,
    control: mpsc::UnboundedReceiver<CallControl>,
    /// The call's mixing room, while one is open.
    room: Option<Arc<dyn MixRoom>>,
    /// What plays to the customer in the background (music on hold).
    audio: audio::CustomerAudio,
    /// Told the agent's id when one is connected (outbound hand-offs).
    pub(crate) connected_hook: Option<oneshot::Sender<AgentId>>,
}

impl std::fmt::Debug for CallGlue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallGlue")
            .field("call", &self.call)
            .field("others", &self.others.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl Drop for CallGlue {
    fn drop(&mut self) {
        self.shared.calls.lock().remove(self.call.interaction());
        if let Some(room) = self.room.take() {
            room.close();
        }
    }
}

impl CallGlue {
    pub(crate) fn new(shared: Arc<Shared>, call: Call, from: String) -> Self {
        let (control_tx, control) = mpsc::unbounded_channel();
        shared
            .calls
            .lock()
            .insert(call.interaction().clone(), control_tx);
        let (placed_tx, placed_rx) = mpsc::unbounded_channel();
        Self {
            call,
            shared,
            from,
            others: HashMap::new(),
            signals: None,
            placed_tx,
            placed_rx,
            recordings: FuturesUnordered::new(),
            control,
            room: None,
            audio: audio::CustomerAudio::default(),
            connected_hook: None,
        }
    }

    fn now(&self) -> callcore::Timestamp {
        self.shared.clock.now()
    }

    /// Emits the call's events, then carries out its commands, until it has
    /// nothing more to say.
    pub(crate) async fn drive(&mut self, customer: &dyn Leg) {
        loop {
            while let Some(kind) = self.call.poll_event() {
                if let EventKind::Connected { agent, .. } = &kind
                    && let Some(hook) = self.connected_hook.take()
                {
                    let _ = hook.send(agent.clone());
                }
                self.shared.emitter.emit(self.call.tenant(), kind);
            }
            let Some(command) = self.call.poll_command() else {
                return;
            };
            self.execute(command, customer).await;
        }
    }

    async fn execute(&mut self, command: CallCommand, customer: &dyn Leg) {
        let id = self.call.interaction().clone();
        match command {
            CallCommand::Enqueue(request) => {
                let (tx, rx) = mpsc::unbounded_channel();
                self.signals = Some(rx);
                let waiter = Waiter {
                    tenant: self.call.tenant().clone(),
                    from: self.from.clone(),
                    signals: tx,
                };
                if self
                    .shared
                    .router
                    .send(RouterCommand::Enqueue(request, waiter))
                    .is_err()
                {
                    self.signals = None;
                    let now = self.now();
                    self.call.handle_released(now);
                }
            }
            CallCommand::LeaveQueue => {
                let _ = self.shared.router.send(RouterCommand::Abandon(id));
            }
            CallCommand::RequestCallback => {
                let (tx, rx) = oneshot::channel();
                let kept = self
                    .shared
                    .router
                    .send(RouterCommand::Callback(id.clone(), tx))
                    .is_ok()
                    && rx.await.unwrap_or(false);
                if kept {
                    self.call.handle_callback_kept();
                } else {
                    let _ = self.shared.router.send(RouterCommand::Abandon(id));
                }
            }
            CallCommand::ReleaseAgent(agent) => {
                let _ = self.shared.router.send(RouterCommand::Input(
                    RouterInput::InteractionEnded {
                        interaction: id,
                        agent,
                    },
                    None,
                ));
            }
            CallCommand::Bridge { leg, to, record } => {
                self.bridge(customer, &leg, &to, record).await
            }
            CallCommand::HangUp(leg) => {
                let result = if customer.id() == &leg {
                    customer.hangup(HangupCause::Local).await
                } else if let Some(l) = self.others.remove(&leg) {
                    l.hangup(HangupCause::Local).await
                } else {
                    Ok(())
                };
                if let Err(e) = result
                    && !matches!(e, CoreError::LegEnded)
                {
                    tracing::warn!(leg = %leg, error = %e, "hang-up failed");
                }
            }
            CallCommand::ReportTransfer { leg, report } => {
                if let Some(l) = pick(&self.others, customer, &leg)
                    && let Err(e) = l.report_transfer(report).await
                {
                    tracing::warn!(leg = %leg, error = %e, "answering a transfer request failed");
                }
            }
            CallCommand::Place { number } => self.place(None, PlaceTo::Number(number)),
            CallCommand::PlaceAgent { agent } => self.place(None, PlaceTo::Agent(agent)),
            CallCommand::Announce(text) => {
                self.call
                    .handle_flow_step("say", format!("{} chars", text.chars().count()));
                if let Err(CoreError::LegEnded) = customer.media().say(&text, false).await {
                    let now = self.now();
                    self.call.handle_leg_ended(customer.id(), now);
                }
            }
            other => self.execute_control(other, customer),
        }
    }

    async fn bridge(&mut self, customer: &dyn Leg, leg: &LegId, to: &LegId, record: bool) {
        let (Some(a), Some(b)) = (
            pick(&self.others, customer, leg),
            pick(&self.others, customer, to),
        ) else {
            return;
        };
        if record {
            let request =
                RecordingRequest::new(self.call.tenant().clone(), self.call.interaction().clone());
            match a.bridge_recorded(b, &request).await {
                Ok(Some(recording)) => {
                    self.call.handle_bridged(Some(&recording.started));
                    let id = recording.started.id.clone();
                    let stopped = recording.stopped;
                    self.recordings
                        .push(Box::pin(async move { (id, stopped.await) }));
                    self.observe(a, b);
                    return;
                }
                Ok(None) => {
                    self.observe(a, b);
                    return;
                }
                // a recording that cannot start leaves an unrecorded bridge
                // rather than a silent call
                Err(e) => tracing::warn!(error = %e, "recording the conversation failed"),
            }
        }
        match a.bridge(b).await {
            Ok(()) => self.observe(a, b),
            Err(e) => tracing::warn!(error = %e, "bridging the legs failed"),
        }
    }

    /// Hands the bridged legs' audio to the center's conversation observer.
    fn observe(&self, customer: &dyn Leg, other: &dyn Leg) {
        let Some(observer) = &self.shared.conversations else {
            return;
        };
        let conversation = crate::BridgedConversation {
            tenant: self.call.tenant().clone(),
            interaction: self.call.interaction().clone(),
            created_at: self.call.created_at(),
            bridged_at: self.shared.clock.now(),
            agent: self.call.last_agent().cloned(),
        };
        let Some(sinks) = observer.bridged(&conversation) else {
            return;
        };
        for (leg, sink) in [(customer, sinks.customer), (other, sinks.other)] {
            if let Err(e) = leg.tap(sink) {
                tracing::debug!(leg = %leg.id(), error = %e, "no audio to observe");
            }
        }
    }

    /// Places a leg in the background (a transfer's number, a consulted
    /// agent, a conference party, a supervisor); the result comes back as a
    /// wake-up (or, when the call is gone by then, the leg is hung up).
    fn place(&self, placement: Option<Placement>, to: PlaceTo) {
        let shared = self.shared.clone();
        let from = self.from.clone();
        let results = self.placed_tx.clone();
        tokio::spawn(async move {
            let endpoint = match to {
                PlaceTo::Number(number) => Some(control::number_endpoint(&number)),
                PlaceTo::Agent(agent) => control::agent_endpoint(&shared, &agent).await,
            };
            let transport = endpoint
                .as_ref()
                .and_then(|e| shared.transports.iter().find(|t| t.can_reach(e)).cloned());
            let result = match (transport, endpoint) {
                (Some(t), Some(to)) => {
                    let request = PlaceRequest {
                        to,
                        from,
                        channel: callcore::Channel::Voice,
                        ring_timeout_secs: 30,
                    };
                    match t.place(request).await {
                        Ok(leg) => Ok(leg),
                        Err(CoreError::NotAnswered(cause)) => Err(cause),
                        Err(e) => Err(HangupCause::Failure(e.to_string())),
                    }
                }
                _ => Err(HangupCause::InvalidNumber),
            };
            if let Err(mpsc::error::SendError((_, Ok(leg)))) = results.send((placement, result)) {
                let _ = leg.hangup(HangupCause::Local).await;
            }
        });
    }

    /// Waits for the next thing that concerns the call.
    async fn next_wake(&mut self, customer: &dyn Leg) -> Wake {
        let customer_live = !self.call.customer_gone();
        let timer = self
            .call
            .poll_timeout()
            .map(|t| self.shared.clock.sleep_until(t));
        let mut others: FuturesUnordered<_> = self
            .others
            .iter()
            .map(|(id, leg)| async move {
                tokio::select! {
                    _ = leg.ended() => Wake::LegEnded(id.clone()),
                    e = leg.next_event() => Wake::LegEvent(id.clone(), e),
                }
            })
            .collect();
        let signals = self.signals.as_mut();
        let recordings = &mut self.recordings;
        tokio::select! {
            s = async { match signals { Some(rx) => rx.recv().await, None => std::future::pending().await } } => Wake::Signal(s),
            _ = customer.ended(), if customer_live => Wake::LegEnded(customer.id().clone()),
            e = customer.next_event(), if customer_live => Wake::LegEvent(customer.id().clone(), e),
            Some(w) = others.next() => w,
            Some(p) = self.placed_rx.recv() => Wake::Placed(p),
            Some((id, stopped)) = recordings.next(), if !recordings.is_empty() => Wake::Recording(id, stopped),
            Some(c) = self.control.recv() => Wake::Control(c),
            () = async { match timer { Some(t) => t.await, None => std::future::pending().await } } => Wake::Timer,
        }
    }

    /// Feeds one wake-up to the call.
    async fn on_wake(&mut self, wake: Wake, customer: &dyn Leg) {
        match wake {
            Wake::Signal(None) => {
                self.signals = None;
                let now = self.now();
                self.call.handle_released(now);
            }
            Wake::Signal(Some(signal)) => {
                let signal = match signal {
                    QueueSignal::Queued {
                        position,
                        estimated_wait_secs,
                    } => RouterSignal::Queued {
                        position,
                        estimated_wait_secs,
                    },
                    QueueSignal::Connected { agent, queue, leg } => {
                        let leg = leg.map(|l| {
                            let id = l.id().clone();
                            self.others.insert(id.clone(), l);
                            id
                        });
                        RouterSignal::Connected { agent, queue, leg }
                    }
                    QueueSignal::Rejected(r) => RouterSignal::Rejected(r),
                    QueueSignal::Overflow(d) => RouterSignal::Overflow(d),
                    QueueSignal::TimedOut => RouterSignal::TimedOut,
                };
                let now = self.now();
                self.call.handle_signal(signal, now);
            }
            Wake::LegEnded(leg) => {
                self.others.remove(&leg);
                let now = self.now();
                self.call.handle_leg_ended(&leg, now);
            }
            Wake::LegEvent(leg, event) => {
                let input = match event {
                    LegEvent::Held => LegInput::Held,
                    LegEvent::Resumed => LegInput::Resumed,
                    LegEvent::TransferRequested { target } => {
                        let target = match resolve(&self.shared, &target).await {
                            // taken directly, whatever queues they serve
                            TransferTarget::Agent(a) => {
                                match reserve(&self.shared, &a, "transfer").await {
                                    Ok(()) => TransferTarget::Agent(a),
                                    Err(_) => TransferTarget::UnavailableAgent(a),
                                }
                            }
                            other => other,
                        };
                        LegInput::TransferRequested(target)
                    }
                    other => {
                        tracing::debug!(
                            event = %callcore::VariantOf(&other),
                            "leg event this runtime does not act on"
                        );
                        return;
                    }
                };
                let now = self.now();
                self.call.handle_leg_event(&leg, input, now);
            }
            Wake::Placed((placement, Ok(leg))) => {
                if let Some(trunks) = leg.placed_through() {
                    // which trunks a transfer or consultation went out through
                    self.call.handle_flow_step("trunk_attempts", trunks);
                }
                let id = leg.id().clone();
                self.others.insert(id.clone(), leg);
                let now = self.now();
                match placement {
                    None => self.call.handle_placed(id, now),
                    Some(p) => self.call.handle_placed_for(p, id, now),
                }
            }
            Wake::Placed((placement, Err(cause))) => {
                let now = self.now();
                match placement {
                    None => self.call.handle_place_failed(cause, now),
                    Some(p) => self.call.handle_place_failed_for(p, cause, now),
                }
            }
            Wake::Recording(_, Some(stopped)) => self.call.handle_recording_stopped(&stopped),
            Wake::Recording(id, None) => self.call.handle_recording_lost(&id),
            Wake::Control(CallControl { action, reply }) => {
                let result = self.on_control(action, customer).await;
                // answered once what the action commanded is carried out
                self.drive(customer).await;
                let _ = reply.send(result);
            }
            Wake::Timer => {
                let now = self.now();
                self.call.handle_timeout(now);
            }
        }
        let _ = customer;
    }

    /// Runs `op` (a media operation on the customer's leg) while serving
    /// whatever else reaches the call meanwhile.
    pub(crate) async fn serve<T>(&mut self, customer: &dyn Leg, op: impl Future<Output = T>) -> T {
        let mut op = std::pin::pin!(op);
        loop {
            let wake = tokio::select! {
                biased;
                r = &mut op => return r,
                w = self.next_wake(customer) => w,
            };
            self.on_wake(wake, customer).await;
            self.drive(customer).await;
        }
    }

    /// Serves the call until its queue stay ends (the customer's
    /// background audio playing meanwhile, when there is one). While it
    /// waits for an agent the customer hears `waiting` (see
    /// [`crate::waiting`]); that future is dropped before the call acts on
    /// anything that woke it.
    pub(crate) async fn stay(
        &mut self,
        customer: &dyn Leg,
        waiting: &WaitOptions,
    ) -> Result<crate::QueueOutcome, CoreError> {
        let mut playing = audio::Playing::default();
        let entertainer = (customer.channel() == callcore::Channel::Voice)
            .then(|| Entertainer::new(waiting, &self.shared, self.call.interaction().clone()))
            .flatten();
        // The show goes on across wake-ups that leave the call waiting and ask
        // nothing of it; it is dropped before the call acts on the leg.
        let mut show: Option<Pin<Box<dyn Future<Output = Entertained> + Send + '_>>> = None;
        loop {
            if self.call.has_commands() || !self.call.waiting_for_agent() {
                show = None;
            }
            self.drive(customer).await;
            if let Some(outcome) = self.call.take_outcome() {
                drop(show.take());
                if let (Ok(crate::QueueOutcome::CallbackRequested { .. }), Some(e)) =
                    (&outcome, &entertainer)
                {
                    e.confirm_callback(customer).await;
                }
                return outcome;
            }
            if show.is_none()
                && self.call.waiting_for_agent()
                && let Some(e) = entertainer.as_ref()
            {
                show = Some(Box::pin(e.run(customer)));
            }
            playing.follow(&self.audio, customer, &self.shared.clock);
            let wake = match show.as_mut() {
                Some(s) => tokio::select! {
                    w = self.next_wake(customer) => w,
                    () = playing.run() => continue,
                    Entertained::CallbackRequested = s => {
                        show = None;
                        let now = self.now();
                        self.call.handle_callback_request(now);
                        continue;
                    }
                },
                None => tokio::select! {
                    w = self.next_wake(customer) => w,
                    () = playing.run() => continue,
                },
            };
            self.on_wake(wake, customer).await;
        }
    }

    /// After the flow: serves the call until its recordings are complete (at
    /// most [`RECORDINGS_GRACE`]).
    pub(crate) async fn wind_down(&mut self, customer: &dyn Leg) {
        self.drive(customer).await;
        if self.call.is_finished() {
            return;
        }
        let deadline = self.shared.clock.sleep(RECORDINGS_GRACE);
        let mut deadline = std::pin::pin!(deadline);
        while !self.call.is_finished() {
            let wake = tokio::select! {
                () = &mut deadline => break,
                w = self.next_wake(customer) => w,
            };
            self.on_wake(wake, customer).await;
            self.drive(customer).await;
        }
        if !self.call.is_finished() {
            tracing::warn!("recordings not complete when the call ended");
        }
    }
}

/// Where a leg is placed.
enum PlaceTo {
    Number(String),
    Agent(AgentId),
}

/// `id`: the customer's leg or one of the others.
fn pick<'a>(
    others: &'a HashMap<LegId, Box<dyn Leg>>,
    customer: &'a dyn Leg,
    id: &LegId,
) -> Option<&'a dyn Leg> {
    if customer.id() == id {
        Some(customer)
    } else {
        others.get(id).map(|l| &**l)
    }
}

/// Resolves a transfer target (a SIP or tel URI, or a bare name) against
/// the center's queues, agents and reachable numbers.
async fn resolve(shared: &Shared, target: &str) -> TransferTarget {
    let Some(name) = target_name(target) else {
        return TransferTarget::Attended;
    };
    let (tx, rx) = oneshot::channel();
    if shared.router.send(RouterCommand::Snapshot(tx)).is_ok()
        && let Ok(snapshot) = rx.await
    {
        if snapshot.queues.iter().any(|q| q.queue.as_str() == name) {
            return TransferTarget::Queue(name.into());
        }
        if snapshot.agents.iter().any(|a| a.agent.as_str() == name) {
            return TransferTarget::Agent(name.into());
        }
    }
    let number = Endpoint::Phone(name.clone());
    let dialable = name.len() > 1
        && name
            .trim_start_matches('+')
            .chars()
            .all(|c| c.is_ascii_digit());
    if dialable && shared.transports.iter().any(|t| t.can_reach(&number)) {
        return TransferTarget::Number(name);
    }
    TransferTarget::Unknown
}

/// The name a transfer target designates: the user part of a SIP URI, the
/// number of a tel URI, or a bare name. `None` for an attended transfer
/// (a Refer-To carrying Replaces).
pub(crate) fn target_name(target: &str) -> Option<String> {
    let t = target.trim().trim_start_matches('<');
    let t = t.split('>').next().unwrap_or(t);
    if t.to_ascii_lowercase().contains("replaces=") {
        return None;
    }
    let t = t.split('?').next().unwrap_or(t);
    let rest = ["sips:", "sip:", "tel:"]
        .iter()
        .find_map(|scheme| {
            t.get(..scheme.len())
                .filter(|p| p.eq_ignore_ascii_case(scheme))
                .map(|_| &t[scheme.len()..])
        })
        .unwrap_or(t);
    let user = rest.split('@').next().unwrap_or(rest);
    let user = user.split(';').next().unwrap_or(user);
    Some(user.to_owned())
}

#[cfg(test)]
mod tests {
    use super::target_name;

    #[test]
    fn transfer_targets_name_a_queue_agent_or_number() {
        assert_eq!(
            target_name("sip:billing@10.0.0.1:5060").as_deref(),
            Some("billing")
        );
        assert_eq!(
            target_name("<sip:1002@pbx;transport=udp>").as_deref(),
            Some("1002")
        );
        assert_eq!(
            target_name("tel:+4930123456;phone-context=x").as_deref(),
            Some("+4930123456")
        );
        assert_eq!(target_name("SIP:support@h").as_deref(), Some("support"));
        assert_eq!(target_name("support").as_deref(), Some("support"));
        assert_eq!(
            target_name("sip:bob@h?Replaces=abc%3Bto-tag%3D1%3Bfrom-tag%3D2"),
            None
        );
    }
}
