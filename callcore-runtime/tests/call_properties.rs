//! Property test of the call state machine ([`callcore_runtime::call::Call`]):
//! a model of everything around one call — the customer's phone, the router
//! (which may still send signals decided before it heard that the call left),
//! agents' phones that hold, resume, transfer and hang up, a transfer's number
//! that answers or not, recordings that complete, the connect deadline, a
//! disposition set at any time — takes its steps in a random order, and then:
//!
//! - every leg ended exactly once (by its far end, or hung up by the call once);
//! - every agent connected to the call was released exactly once;
//! - every transfer request was answered once, and nothing was said to a leg
//!   after it ended;
//! - there is exactly one `Ended`, and the event sequence is well formed
//!   (`Connected` only after `Queued` in the same stay, `Held`/`Resumed`
//!   alternate and balance, recordings stop once after they start, only
//!   wrap-up, usage, recording stops and dispositions after `Ended`);
//! - the one record folded from the events agrees with them (queued_at, hold
//!   time, recordings, disposition, abandonment).
//!
//! The agent's desktop acts too (call control: hold, mute, blind transfer,
//! consultations to agents and numbers with swap, complete and cancel,
//! conferences grown, left and kicked, supervisors and their modes, the
//! center's hang-up, wrap-up notes), and the legs it places answer or fail:
//! every agent the call took directly is freed exactly once as well.

#![allow(clippy::unwrap_used, clippy::too_many_lines)]

use callcore::{
    AgentId, Channel, Destination, Direction, Disposition, EndReason, Event, EventKind,
    HangupCause, Interaction, InteractionRecord, LegId, MonitorMode, QueueId, RecordingStarted,
    RecordingStopped, RejectReason, Timestamp, TransferReport,
};
use callcore_runtime::call::{
    Call, CallCommand, CallTarget, LegInput, Placement, RouterSignal, StayOptions, TransferTarget,
};
use proptest::prelude::*;
use std::collections::BTreeMap;
use std::time::Duration;

const T0: i64 = 1_700_000_000;

#[derive(Debug, Default, Clone)]
struct LegModel {
    /// Ended by its far end.
    remote_end: bool,
    /// Hang-ups the call asked for.
    hung_up: u32,
    /// Said to the leg after it ended (must stay 0).
    after_end: u32,
    held: bool,
    holds: u32,
    /// Transfer requests made; answers (accepted or refused); final reports.
    requests: u32,
    answers: u32,
    finals: u32,
}

impl LegModel {
    fn live(&self) -> bool {
        !self.remote_end && self.hung_up == 0
    }
}

#[derive(Debug, Clone)]
struct RouterModel {
    queue: QueueId,
    queued: bool,
    terminal: bool,
    abandon_heard: bool,
    abandon_done: bool,
}

#[derive(Debug, Clone, Copy)]
enum Action {
    CustomerHangsUp,
    Hold(usize, bool),
    Transfer(usize, u8),
    LegHangsUp(usize),
    RouterQueued,
    RouterConnects {
        desktop: bool,
    },
    RouterEnds(u8),
    RouterHearsAbandon,
    RouterLetsGo,
    PlaceAnswers,
    PlaceFails,
    RecordingStops(usize),
    Deadline,
    Disposition,
    FlowFinishes,
    /// One of the desktop's call-control actions.
    Control(u8),
    /// The i-th leg placed for call control answers (or fails).
    PlacedFor(usize, bool),
}

struct World {
    call: Call,
    now: Timestamp,
    events: Vec<(Timestamp, EventKind)>,
    customer: LegId,
    legs: BTreeMap<LegId, LegModel>,
    router: Option<RouterModel>,
    released: BTreeMap<AgentId, u32>,
    connected: Vec<AgentId>,
    placing: u32,
    /// Open recordings and the legs they record.
    recordings: Vec<(RecordingStarted, LegId, LegId)>,
    next: u32,
    transfers: u32,
    dispositions: u32,
    flow_done: bool,
    outcome: bool,
    /// Call-control actions taken.
    controls: u32,
    /// Legs placed for call control, not answered yet.
    placing_for: Vec<Placement>,
    /// Agents the call took directly (the glue reserved them) and how often
    /// each was freed.
    taken: Vec<AgentId>,
    freed: BTreeMap<AgentId, u32>,
    /// Supervisors asked to monitor.
    supervisors: Vec<AgentId>,
}

impl World {
    fn new(deadline: bool) -> Self {
        let now = Timestamp::from_secs(T0);
        let interaction = Interaction::new(
            "int-1".into(),
            "default".into(),
            Channel::Voice,
            Direction::Inbound,
            "+4930111",
            "100",
            now,
        );
        let customer = LegId::new("customer");
        let mut legs = BTreeMap::new();
        legs.insert(customer.clone(), LegModel::default());
        let mut w = Self {
            call: Call::new(&interaction, customer.clone(), true),
            now,
            events: vec![(
                now,
                EventKind::InteractionCreated {
                    interaction: Box::new(interaction.clone()),
                },
            )],
            customer,
            legs,
            router: None,
            released: BTreeMap::new(),
            connected: Vec::new(),
            placing: 0,
            recordings: Vec::new(),
            next: 0,
            transfers: 0,
            dispositions: 0,
            flow_done: false,
            outcome: false,
            controls: 0,
            placing_for: Vec::new(),
            taken: Vec::new(),
            freed: BTreeMap::new(),
            supervisors: Vec::new(),
        };
        let request = callcore::RoutingRequest {
            interaction: "int-1".into(),
            tenant: "default".into(),
            channel: Channel::Voice,
            queue: "support".into(),
            priority: 0,
            customer: None,
            preferred_agent: None,
            attributes: BTreeMap::new(),
            required_skills: Vec::new(),
            enqueued_at: now,
        };
        let stay = StayOptions {
            announce_position: true,
            give_up_at: deadline.then(|| now + Duration::from_secs(20)),
        };
        w.call.handle_enqueue(request, stay, now);
        w.settle();
        w
    }

    fn fresh(&mut self, prefix: &str) -> String {
        self.next += 1;
        format!("{prefix}-{}", self.next)
    }

    fn live_others(&self) -> Vec<LegId> {
        self.legs
            .iter()
            .filter(|(id, l)| **id != self.customer && l.live())
            .map(|(id, _)| id.clone())
            .collect()
    }

    fn enabled(&self) -> Vec<Action> {
        let mut a = Vec::new();
        let customer = &self.legs[&self.customer];
        if customer.live() {
            a.push(Action::CustomerHangsUp);
            if customer.holds < 3 {
                a.push(Action::Hold(usize::MAX, !customer.held));
            }
        }
        for (i, id) in self.live_others().iter().enumerate() {
            let l = &self.legs[id];
            a.push(Action::LegHangsUp(i));
            if l.holds < 4 {
                a.push(Action::Hold(i, !l.held));
            }
            if self.transfers < 3 {
                for kind in 0..6 {
                    a.push(Action::Transfer(i, kind));
                }
            }
        }
        if let Some(r) = &self.router {
            if !r.terminal && !r.abandon_done {
                if r.queued {
                    a.push(Action::RouterConnects { desktop: false });
                    a.push(Action::RouterConnects { desktop: true });
                    for kind in 0..3 {
                        a.push(Action::RouterEnds(kind));
                    }
                } else {
                    a.push(Action::RouterQueued);
                }
            }
            // the router handles the enqueue (queued or refused) before the
            // abandon that follows it on the same channel
            if r.abandon_heard && r.queued && !r.abandon_done && !r.terminal {
                a.push(Action::RouterHearsAbandon);
            }
            if r.terminal || r.abandon_done {
                a.push(Action::RouterLetsGo);
            }
        }
        if self.placing > 0 {
            a.push(Action::PlaceAnswers);
            a.push(Action::PlaceFails);
        }
        for (i, (_, x, y)) in self.recordings.iter().enumerate() {
            if !self.legs[x].live() || !self.legs[y].live() {
                a.push(Action::RecordingStops(i));
            }
        }
        if self.call.poll_timeout().is_some() {
            a.push(Action::Deadline);
        }
        if self.dispositions < 2 {
            a.push(Action::Disposition);
        }
        if self.outcome && !self.flow_done {
            a.push(Action::FlowFinishes);
        }
        if self.controls < 24 {
            for kind in 0..18 {
                a.push(Action::Control(kind));
            }
            // what follows a consultation, more often
            for kind in [6, 7, 9] {
                a.push(Action::Control(kind));
            }
        }
        for i in 0..self.placing_for.len() {
            for _ in 0..3 {
                a.push(Action::PlacedFor(i, true));
            }
            a.push(Action::PlacedFor(i, false));
        }
        a
    }

    /// One desktop action; refusals are fine (the state may not fit).
    fn control(&mut self, kind: u8) {
        let now = self.now;
        self.controls += 1;
        let fresh_agent = |w: &mut Self, prefix: &str| AgentId::new(w.fresh(prefix));
        let take = |w: &mut Self, r: Result<(), callcore::CoreError>, a: Option<AgentId>| {
            if let (Ok(()), Some(a)) = (r, a) {
                w.taken.push(a);
            }
        };
        match kind {
            0 | 1 => {
                let _ = self.call.handle_hold(kind == 0);
            }
            2 | 3 => {
                let _ = self.call.handle_mute(kind == 2);
            }
            4 => {
                let a = fresh_agent(self, "peer");
                let r = self.call.handle_consult(CallTarget::Agent(a.clone()), now);
                take(self, r, Some(a));
            }
            5 => {
                let _ = self
                    .call
                    .handle_consult(CallTarget::Number("+4930777".into()), now);
            }
            6 => {
                let _ = self.call.handle_swap();
            }
            7 => {
                let _ = self.call.handle_complete_transfer(now);
            }
            8 => {
                let _ = self.call.handle_cancel_consult(now);
            }
            9 => {
                let _ = self.call.handle_conference(now);
            }
            10 => {
                let a = fresh_agent(self, "party");
                let r = self
                    .call
                    .handle_add_to_conference(CallTarget::Agent(a.clone()), now);
                take(self, r, Some(a));
            }
            11 => {
                let _ = self
                    .call
                    .handle_add_to_conference(CallTarget::Number("+4930888".into()), now);
            }
            12 => {
                let _ = self.call.handle_leave_conference(now);
            }
            13 => {
                if let Some(leg) = self.live_others().last().cloned() {
                    let _ = self.call.handle_kick(&leg, now);
                }
            }
            14 => {
                let s = fresh_agent(self, "sup");
                self.supervisors.push(s.clone());
                let mode = [
                    MonitorMode::Listen,
                    MonitorMode::Whisper,
                    MonitorMode::Barge,
                ][self.supervisors.len() % 3];
                let _ = self.call.handle_monitor(s, mode, now);
            }
            15 => {
                if let Some(s) = self.supervisors.last().cloned() {
                    let _ = self.call.handle_monitor_mode(&s, MonitorMode::Whisper);
                }
            }
            16 => {
                let _ = self.call.handle_hang_up(now);
            }
            _ => {
                let agent = (self.controls % 3 == 1).then(|| fresh_agent(self, "target"));
                let target = match (&agent, self.controls % 3) {
                    (Some(a), _) => CallTarget::Agent(a.clone()),
                    (None, 0) => CallTarget::Queue("billing".into()),
                    _ => CallTarget::Number("+4930999".into()),
                };
                let r = self.call.handle_transfer(target, now);
                take(self, r, agent);
                let _ = self.call.handle_wrap_up_notes("notes".into(), None);
            }
        }
    }

    fn leg_at(&self, i: usize) -> LegId {
        if i == usize::MAX {
            self.customer.clone()
        } else {
            self.live_others()[i].clone()
        }
    }

    fn router_event(&mut self, kind: EventKind) {
        self.events.push((self.now, kind));
    }

    fn apply(&mut self, action: Action) {
        let now = self.now;
        match action {
            Action::CustomerHangsUp => {
                self.legs.get_mut(&self.customer).unwrap().remote_end = true;
                let c = self.customer.clone();
                self.call.handle_leg_ended(&c, now);
            }
            Action::Hold(i, on) => {
                let id = self.leg_at(i);
                let l = self.legs.get_mut(&id).unwrap();
                l.held = on;
                l.holds += 1;
                let input = if on {
                    LegInput::Held
                } else {
                    LegInput::Resumed
                };
                self.call.handle_leg_event(&id, input, now);
            }
            Action::Transfer(i, kind) => {
                let id = self.leg_at(i);
                self.transfers += 1;
                self.legs.get_mut(&id).unwrap().requests += 1;
                let target = match kind {
                    0 => TransferTarget::Queue("billing".into()),
                    1 => {
                        // the glue reserved the agent before asking the call
                        let a = AgentId::new(self.fresh("target"));
                        self.taken.push(a.clone());
                        TransferTarget::Agent(a)
                    }
                    2 => TransferTarget::Number("+4930999".into()),
                    3 => TransferTarget::Attended,
                    4 => TransferTarget::UnavailableAgent("bob".into()),
                    _ => TransferTarget::Unknown,
                };
                self.call
                    .handle_leg_event(&id, LegInput::TransferRequested(target), now);
            }
            Action::LegHangsUp(i) => {
                let id = self.leg_at(i);
                self.legs.get_mut(&id).unwrap().remote_end = true;
                self.call.handle_leg_ended(&id, now);
            }
            Action::RouterQueued => {
                let r = self.router.as_mut().unwrap();
                r.queued = true;
                let queue = r.queue.clone();
                self.router_event(EventKind::Queued {
                    interaction: "int-1".into(),
                    queue,
                    position: 1,
                    estimated_wait_secs: Some(60),
                });
                self.call.handle_signal(
                    RouterSignal::Queued {
                        position: 1,
                        estimated_wait_secs: Some(60),
                    },
                    now,
                );
            }
            Action::RouterConnects { desktop } => {
                let r = self.router.as_mut().unwrap();
                r.terminal = true;
                let queue = r.queue.clone();
                let agent = AgentId::new(self.fresh("agent"));
                let leg = (!desktop).then(|| LegId::new(self.fresh("phone")));
                if let Some(l) = &leg {
                    self.legs.insert(l.clone(), LegModel::default());
                }
                self.connected.push(agent.clone());
                self.router_event(EventKind::Offered {
                    interaction: "int-1".into(),
                    queue: queue.clone(),
                    agent: agent.clone(),
                    reservation: "r".into(),
                    expires_at: now,
                });
                self.router_event(EventKind::OfferAccepted {
                    interaction: "int-1".into(),
                    agent: agent.clone(),
                    reservation: "r".into(),
                });
                self.call
                    .handle_signal(RouterSignal::Connected { agent, queue, leg }, now);
            }
            Action::RouterEnds(kind) => {
                let r = self.router.as_mut().unwrap();
                r.terminal = true;
                let queue = r.queue.clone();
                let (event, signal) = match kind {
                    0 => (
                        EventKind::QueueExited {
                            interaction: "int-1".into(),
                            queue,
                            reason: "timeout".into(),
                        },
                        RouterSignal::TimedOut,
                    ),
                    1 => (
                        EventKind::QueueExited {
                            interaction: "int-1".into(),
                            queue,
                            reason: "full".into(),
                        },
                        RouterSignal::Rejected(RejectReason::Full),
                    ),
                    _ => (
                        EventKind::Overflowed {
                            interaction: "int-1".into(),
                            queue,
                            destination: Destination::Voicemail,
                        },
                        RouterSignal::Overflow(Destination::Voicemail),
                    ),
                };
                self.router_event(event);
                self.call.handle_signal(signal, now);
            }
            Action::RouterHearsAbandon => {
                self.router.as_mut().unwrap().abandon_done = true;
            }
            Action::RouterLetsGo => {
                self.router = None;
                self.call.handle_released(now);
            }
            Action::PlaceAnswers => {
                self.placing -= 1;
                let id = LegId::new(self.fresh("outside"));
                self.legs.insert(id.clone(), LegModel::default());
                self.call.handle_placed(id, now);
            }
            Action::PlaceFails => {
                self.placing -= 1;
                self.call.handle_place_failed(HangupCause::Busy, now);
            }
            Action::RecordingStops(i) => {
                let (started, _, _) = self.recordings.remove(i);
                let ms = u64::try_from(now.duration_since(self.now).as_millis()).unwrap();
                self.call
                    .handle_recording_stopped(&RecordingStopped::of(&started, ms));
            }
            Action::Deadline => {
                let t = self.call.poll_timeout().unwrap();
                self.now = self.now.max(t);
                self.call.handle_timeout(self.now);
            }
            Action::Disposition => {
                self.dispositions += 1;
                let _ = self.call.handle_disposition(
                    Disposition::Agent(format!("code-{}", self.dispositions)),
                    None,
                );
            }
            Action::FlowFinishes => {
                self.flow_done = true;
                self.call.handle_flow_finished(EndReason::Completed, now);
            }
            Action::Control(kind) => self.control(kind),
            Action::PlacedFor(i, answered) => {
                let placement = self.placing_for.remove(i);
                if answered {
                    let id = LegId::new(self.fresh("placed"));
                    self.legs.insert(id.clone(), LegModel::default());
                    self.call.handle_placed_for(placement, id, now);
                } else {
                    self.call
                        .handle_place_failed_for(placement, HangupCause::NoAnswer, now);
                }
            }
        }
        self.settle();
    }

    /// Carries out the call's commands as the glue would, and collects its
    /// events.
    fn settle(&mut self) {
        loop {
            while let Some(kind) = self.call.poll_event() {
                self.events.push((self.now, kind));
            }
            if self.call.take_outcome().is_some() {
                self.outcome = true;
            }
            let Some(command) = self.call.poll_command() else {
                return;
            };
            match command {
                CallCommand::Enqueue(request) => {
                    // a new stay: the glue drops the old stay's channel
                    self.router = Some(RouterModel {
                        queue: request.queue.clone(),
                        queued: false,
                        terminal: false,
                        abandon_heard: false,
                        abandon_done: false,
                    });
                }
                // the model's router keeps no callbacks: the glue leaves
                CallCommand::LeaveQueue | CallCommand::RequestCallback => {
                    if let Some(r) = &mut self.router {
                        r.abandon_heard = true;
                    }
                }
                CallCommand::ReleaseAgent(agent) => {
                    *self.released.entry(agent).or_default() += 1;
                }
                CallCommand::Bridge { leg, to, record } => {
                    for id in [&leg, &to] {
                        let l = self.legs.get_mut(id).expect("a known leg");
                        if !l.live() {
                            l.after_end += 1;
                        }
                    }
                    let started = record.then(|| {
                        RecordingStarted::new(
                            self.fresh("rec").into(),
                            "int-1".into(),
                            "/tmp/x.wav".into(),
                            2,
                        )
                    });
                    self.call.handle_bridged(started.as_ref());
                    if let Some(s) = started {
                        self.recordings.push((s, leg, to));
                    }
                }
                CallCommand::HangUp(id) => {
                    let l = self.legs.get_mut(&id).expect("a known leg");
                    if l.remote_end {
                        l.after_end += 1;
                    }
                    l.hung_up += 1;
                }
                CallCommand::ReportTransfer { leg, report } => {
                    let l = self.legs.get_mut(&leg).expect("a known leg");
                    if !l.live() {
                        l.after_end += 1;
                    }
                    match report {
                        TransferReport::Accepted | TransferReport::Refused(_) => l.answers += 1,
                        _ => l.finals += 1,
                    }
                }
                CallCommand::Place { .. } | CallCommand::PlaceAgent { .. } => self.placing += 1,
                CallCommand::Announce(_) => {}
                CallCommand::PlaceFor { placement, .. } => self.placing_for.push(placement),
                CallCommand::FreeAgent(agent) => *self.freed.entry(agent).or_default() += 1,
                CallCommand::Unbridge(leg) => {
                    let l = self.legs.get_mut(&leg).expect("a known leg");
                    if !l.live() {
                        l.after_end += 1;
                    }
                }
                CallCommand::Mix(members) => {
                    for (leg, _) in members {
                        let l = self.legs.get_mut(&leg).expect("a known leg");
                        if !l.live() {
                            l.after_end += 1;
                        }
                    }
                }
                CallCommand::CloseRoom | CallCommand::Music(_) => {}
                other => panic!("unexpected command {other:?}"),
            }
        }
    }

    fn run(&mut self, choices: &[(u8, u8)]) {
        let mut i = 0;
        loop {
            let enabled = self.enabled();
            if enabled.is_empty() {
                return;
            }
            let (pick, dt) = choices.get(i).copied().unwrap_or((0, 1));
            i += 1;
            assert!(i < 2_000, "the model does not settle");
            self.now = self.now + Duration::from_secs(u64::from(dt % 6));
            let action = enabled[usize::from(pick) % enabled.len()];
            if std::env::var_os("TRACE_CALL").is_some() {
                eprintln!("{action:?}");
            }
            self.apply(action);
        }
    }

    fn check(&self) {
        // Legs: each ended exactly once; nothing said to an ended leg.
        for (id, l) in &self.legs {
            let ends = u32::from(l.remote_end) + l.hung_up;
            assert_eq!(ends, 1, "leg {id} ended {ends} times: {l:?}");
            assert_eq!(l.after_end, 0, "leg {id} was told something after it ended");
            assert_eq!(
                l.answers, l.requests,
                "leg {id}: every transfer request answered"
            );
            assert!(l.finals <= l.answers, "leg {id}: one outcome per transfer");
        }
        // Agents: released once each.
        for a in &self.connected {
            assert_eq!(self.released.get(a), Some(&1), "agent {a} released once");
        }
        assert_eq!(self.released.len(), self.connected.len());
        // Agents taken directly: freed once each, and nobody else.
        for a in &self.taken {
            assert_eq!(self.freed.get(a), Some(&1), "agent {a} freed once");
        }
        assert_eq!(self.freed.len(), self.taken.len());
        assert!(self.call.is_finished());

        // The event sequence.
        let kinds: Vec<&EventKind> = self.events.iter().map(|(_, k)| k).collect();
        assert!(matches!(kinds[0], EventKind::InteractionCreated { .. }));
        let ended = kinds
            .iter()
            .filter(|k| matches!(k, EventKind::Ended { .. }))
            .count();
        assert_eq!(ended, 1, "exactly one Ended: {kinds:#?}");
        let mut after_end = false;
        let mut queued_in_stay = false;
        let mut connected_in_stay = false;
        let mut talking = false;
        let mut on_hold = false;
        let mut open = std::collections::BTreeSet::new();
        let mut agent_seen = false;
        let mut taking_over = false;
        for k in &kinds {
            if after_end {
                assert!(
                    matches!(
                        k,
                        EventKind::Usage { .. }
                            | EventKind::RecordingStopped { .. }
                            | EventKind::DispositionSet { .. }
                            | EventKind::WrapUpStarted { .. }
                            | EventKind::WrapUpEnded { .. }
                            | EventKind::WrapUpNoted { .. }
                    ),
                    "{} after Ended: {kinds:#?}",
                    k.name()
                );
            }
            match k {
                EventKind::Queued { .. } => {
                    queued_in_stay = true;
                    connected_in_stay = false;
                }
                EventKind::ConsultEnded { outcome, .. } if outcome == "completed" => {
                    // the consulted party takes over without a queue stay
                    taking_over = true;
                }
                EventKind::Connected { .. } => {
                    assert!(queued_in_stay, "Connected without Queued: {kinds:#?}");
                    connected_in_stay = true;
                    talking = true;
                    agent_seen = true;
                }
                EventKind::Held { .. } => {
                    assert!(talking && !on_hold, "Held out of place: {kinds:#?}");
                    on_hold = true;
                }
                EventKind::Resumed { .. } => {
                    assert!(on_hold, "Resumed without Held: {kinds:#?}");
                    on_hold = false;
                }
                EventKind::Transferred { target, .. } => {
                    assert!(talking && !on_hold, "Transferred out of place");
                    talking = false;
                    // an agent transferred to takes over without a queue stay
                    queued_in_stay =
                        std::mem::take(&mut taking_over) || target.starts_with("agent:");
                }
                EventKind::Abandoned { .. } => {
                    assert!(queued_in_stay && !connected_in_stay);
                }
                EventKind::Ended { .. } => {
                    assert!(!on_hold, "a hold still open at the end");
                    after_end = true;
                }
                EventKind::RecordingStarted { recording, .. } => {
                    assert!(open.insert(recording.clone()));
                }
                EventKind::RecordingStopped { recording, .. } => {
                    assert!(open.remove(recording), "stopped before started");
                }
                EventKind::DispositionSet { .. } => assert!(agent_seen),
                _ => {}
            }
        }
        assert!(open.is_empty(), "every recording stopped");
        let usage = kinds
            .iter()
            .filter(|k| matches!(k, EventKind::Usage { meter, .. } if meter == "voice_minutes"))
            .count();
        assert_eq!(usage, 1);

        // One record, folded from the events.
        let EventKind::InteractionCreated { interaction } = kinds[0] else {
            unreachable!()
        };
        let mut record = InteractionRecord::new(interaction);
        for (seq, (at, kind)) in self.events.iter().enumerate() {
            record.apply(&Event {
                seq: seq as u64 + 1,
                at: *at,
                tenant: "default".into(),
                kind: kind.clone(),
            });
        }
        let first_queued = self
            .events
            .iter()
            .find(|(_, k)| matches!(k, EventKind::Queued { .. }))
            .map(|(t, _)| *t);
        assert_eq!(record.queued_at, first_queued);
        let mut hold_ms = 0u64;
        let mut since = None;
        for (t, k) in &self.events {
            match k {
                EventKind::Held { .. } => since = Some(*t),
                EventKind::Resumed { .. } => {
                    hold_ms +=
                        u64::try_from(t.duration_since(since.take().unwrap()).as_millis()).unwrap();
                }
                _ => {}
            }
        }
        assert_eq!(record.hold_ms, hold_ms);
        let started: Vec<_> = kinds
            .iter()
            .filter_map(|k| match k {
                EventKind::RecordingStarted { recording, .. } => Some(recording.clone()),
                _ => None,
            })
            .collect();
        assert_eq!(record.recordings, started);
        let last_disposition = kinds.iter().rev().find_map(|k| match k {
            EventKind::DispositionSet { disposition, .. } => Some(disposition.clone()),
            _ => None,
        });
        assert_eq!(record.disposition, last_disposition);
        assert_eq!(
            record.abandoned,
            kinds
                .iter()
                .any(|k| matches!(k, EventKind::Abandoned { .. }))
        );
        assert!(record.ended_at.is_some());
        let total = u64::try_from(
            record
                .ended_at
                .unwrap()
                .duration_since(record.created_at)
                .as_millis(),
        )
        .unwrap();
        assert!(record.wait_ms + record.talk_ms + record.hold_ms <= total);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2_000, ..ProptestConfig::default() })]

    #[test]
    fn any_order_of_leg_events_and_router_signals_ends_the_call_cleanly(
        deadline in any::<bool>(),
        choices in proptest::collection::vec((any::<u8>(), any::<u8>()), 0..120),
    ) {
        let mut world = World::new(deadline);
        world.run(&choices);
        world.check();
    }
}
