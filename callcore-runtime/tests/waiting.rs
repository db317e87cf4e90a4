//! The caller's experience in queue, in virtual time with the in-memory
//! transport: music on hold, periodic position announcements with comfort
//! messages, the callback key, everything stopping when an agent connects,
//! required skills, and a voicemail routed to an agent.

#![allow(clippy::unwrap_used)]

use async_trait::async_trait;
use callcore::{
    AgentProfile, AgentState, CallbackPolicy, Clock, CoreError, Destination, EndReason, Endpoint,
    EventKind, InteractionId, QueueDefinition, SkillRequirement, Timestamp, VirtualClock,
};
use callcore_runtime::memory::{FarEnd, MemoryTransport, PhoneBehavior};
use callcore_runtime::{
    Center, CenterHandle, EventSubscriber, Flow, FlowContext, FlowOutcome, QueueOptions,
    QueueOutcome, VoicemailOptions, WaitOptions,
};
use std::sync::Arc;
use std::time::Duration;

const T0: i64 = 1_700_000_000;

/// Waits in `support` with the options; a timed-out stay leaves a voicemail.
#[derive(Debug)]
struct WaitFlow {
    options: QueueOptions,
}

#[async_trait]
impl Flow for WaitFlow {
    async fn run(&self, call: &mut FlowContext) -> Result<FlowOutcome, CoreError> {
        let outcome = call
            .enqueue_with("support".into(), self.options.clone())
            .await?;
        if matches!(
            outcome,
            QueueOutcome::TimedOut | QueueOutcome::Overflow(Destination::Voicemail)
        ) {
            call.voicemail("support".into(), &VoicemailOptions::default())
                .await?;
            return Ok(FlowOutcome::Done(EndReason::Completed));
        }
        Ok(FlowOutcome::Done(outcome.end_reason()))
    }
}

struct Rig {
    clock: VirtualClock,
    transport: Arc<MemoryTransport>,
    center: CenterHandle,
    events: EventSubscriber,
}

async fn rig(options: QueueOptions, queue: QueueDefinition) -> Rig {
    rig_with(options, queue, CallbackPolicy::default()).await
}

async fn rig_with(options: QueueOptions, queue: QueueDefinition, callbacks: CallbackPolicy) -> Rig {
    let clock = VirtualClock::new(Timestamp::from_secs(T0));
    let transport = MemoryTransport::new(Arc::new(clock.clone()));
    let center = Center::builder()
        .clock(Arc::new(clock.clone()))
        .callbacks(callbacks)
        .transport(transport.clone())
        .flow("wait", Arc::new(WaitFlow { options }))
        .route("*", "wait")
        .build()
        .unwrap()
        .start()
        .await
        .unwrap();
    let events = center.subscribe();
    center.add_queue(queue).await.unwrap();
    Rig {
        clock,
        transport,
        center,
        events,
    }
}

impl Rig {
    /// An agent with a phone that answers after 2 s, logged out.
    async fn agent(&self, name: &str, skills: &[&str]) {
        let address = format!("sip:{name}@pbx");
        self.transport
            .add_phone(&address, PhoneBehavior::AnswerAfter(Duration::from_secs(2)));
        let mut p = AgentProfile::new(name).with_endpoint(Endpoint::Sip(address));
        for s in skills {
            p = p.with_skill(*s, 5);
        }
        self.center.add_agent(p).await.unwrap();
    }

    async fn available(&self, name: &str) {
        self.center
            .set_agent_state(&name.into(), AgentState::Available)
            .await
            .unwrap();
    }

    fn events(&mut self) -> Vec<EventKind> {
        let mut out = Vec::new();
        while let Some(e) = self.events.try_recv().unwrap() {
            out.push(e.kind.clone());
        }
        out
    }
}

fn until(secs: i64) -> Timestamp {
    Timestamp::from_secs(T0 + secs)
}

async fn wait_ended(clock: &VirtualClock, far: &FarEnd) {
    while far.end_cause().is_none() {
        clock.sleep(Duration::from_millis(500)).await;
    }
}

fn waiting_options() -> QueueOptions {
    QueueOptions {
        waiting: WaitOptions {
            announce_every: Some(Duration::from_secs(30)),
            comfort: vec!["Thank you for your patience.".into()],
            callback_key: Some('1'),
            ..WaitOptions::default()
        },
        ..QueueOptions::default()
    }
}

const OFFER: &str = "say:To be called back without losing your place in the queue, press 1.";

#[tokio::test(flavor = "current_thread")]
async fn a_waiting_caller_hears_music_announcements_and_leaves_with_a_callback() {
    let mut r = rig(waiting_options(), QueueDefinition::new("support")).await;
    let first = r.transport.call("+4930111", "100");
    let clock = r.clock.clone();
    let second = r.transport.call("+4930222", "100");
    let script = {
        let (clock, second) = (clock.clone(), second.clone());
        async move {
            // 95 s in queue: announcements at 30, 60 and 90 s
            clock.sleep(Duration::from_secs(95)).await;
            second.press("1");
            wait_ended(&clock, &second).await;
        }
    };
    r.clock.drive(script, until(1_000)).await.unwrap();
    let heard = second.heard();
    let announcement = "say:You are caller 2 in the queue. Thank you for your patience. \
                        To be called back without losing your place in the queue, press 1.";
    assert_eq!(
        heard,
        vec![
            OFFER.to_owned(),
            "play:music_on_hold".to_owned(),
            announcement.to_owned(),
            "play:music_on_hold".to_owned(),
            announcement.to_owned(),
            "play:music_on_hold".to_owned(),
            announcement.to_owned(),
            "play:music_on_hold".to_owned(),
            "say:Thank you. You keep your place in the queue, and we will call you back. Goodbye."
                .to_owned(),
        ]
    );
    assert!(first.end_cause().is_none(), "the first caller still waits");
    assert!(
        first
            .heard()
            .iter()
            .any(|h| h.starts_with("say:You are caller 1 in the queue.")),
        "{:?}",
        first.heard()
    );
    let events = r.events();
    assert!(events.iter().any(|e| matches!(
        e,
        EventKind::QueueExited { reason, .. } if reason == "callback"
    )));
    assert!(events.iter().any(|e| matches!(
        e,
        EventKind::Ended {
            reason: EndReason::CallbackRequested,
            ..
        }
    )));
    // The one who asked for a callback left the call, not the queue: the
    // router keeps their place (no abandonment) behind the first caller.
    let asked = events
        .iter()
        .find_map(|e| match e {
            EventKind::QueueExited { interaction, .. } => Some(interaction.clone()),
            _ => None,
        })
        .unwrap();
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, EventKind::Abandoned { .. })),
        "a callback is no abandonment: {events:?}"
    );
    let snapshot = r.center.snapshot().await.unwrap();
    assert_eq!(snapshot.queues[0].waiting.len(), 2);
    assert_eq!(snapshot.queues[0].waiting[1], asked);
    first.hangup();
    // The place's turn: alice's phone rings, then the caller is called back
    // and bridged to her, as a new outbound interaction.
    r.transport.add_phone(
        "+4930222",
        PhoneBehavior::AnswerAfter(Duration::from_secs(3)),
    );
    r.agent("alice", &[]).await;
    let script = {
        let (r, clock) = (&r, clock.clone());
        async move {
            clock.sleep(Duration::from_secs(1)).await;
            r.available("alice").await;
            loop {
                clock.sleep(Duration::from_millis(500)).await;
                if let Some(back) = r.transport.phone("+4930222")
                    && back.bridged_to().is_some()
                {
                    return back;
                }
            }
        }
    };
    let back = r.clock.drive(script, until(2_000)).await.unwrap();
    let alice = r.transport.phone("sip:alice@pbx").unwrap();
    assert_eq!(back.bridged_to().as_ref(), Some(alice.id()));
    let events = r.events();
    let abandoned: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            EventKind::Abandoned { interaction, .. } => Some(interaction.clone()),
            _ => None,
        })
        .collect();
    assert!(!abandoned.contains(&asked), "{events:?}");
    assert!(events.iter().any(|e| matches!(
        e,
        EventKind::Connected { agent, .. } if agent.as_str() == "alice"
    )));
    let snapshot = r.center.snapshot().await.unwrap();
    assert!(snapshot.queues[0].waiting.is_empty(), "{snapshot:?}");
    // the call back ends: alice is released for the kept interaction
    back.hangup();
    let script = {
        let clock = clock.clone();
        async move { clock.sleep(Duration::from_secs(2)).await }
    };
    r.clock.drive(script, until(3_000)).await.unwrap();
    let snapshot = r.center.snapshot().await.unwrap();
    let state = &snapshot.agents[0].state;
    assert_eq!(*state, AgentState::Available, "{snapshot:?}");
    r.center.shutdown().await;
}

/// The caller asks for a callback and waits; an agent takes the place.
async fn kept_callback(policy: CallbackPolicy) -> (Rig, InteractionId) {
    let mut r = rig_with(waiting_options(), QueueDefinition::new("support"), policy).await;
    let caller = r.transport.call("+4930222", "100");
    let script = {
        let (clock, caller) = (r.clock.clone(), caller.clone());
        async move {
            clock.sleep(Duration::from_secs(5)).await;
            caller.press("1");
            wait_ended(&clock, &caller).await;
        }
    };
    r.clock.drive(script, until(100)).await.unwrap();
    let asked = r
        .events()
        .iter()
        .find_map(|e| match e {
            EventKind::QueueExited {
                interaction,
                reason,
                ..
            } if reason == "callback" => Some(interaction.clone()),
            _ => None,
        })
        .unwrap();
    (r, asked)
}

fn steps(events: &[EventKind], name: &str) -> usize {
    events
        .iter()
        .filter(|e| matches!(e, EventKind::FlowStep { step, .. } if step == name))
        .count()
}

#[tokio::test(flavor = "current_thread")]
async fn a_callback_the_customer_misses_is_tried_again_later() {
    let policy = CallbackPolicy {
        attempts: 3,
        retry_after_secs: 60,
    };
    let (mut r, asked) = kept_callback(policy).await;
    // The first call back finds the line busy.
    r.transport.add_phone("+4930222", PhoneBehavior::Busy);
    r.agent("alice", &[]).await;
    r.available("alice").await;
    let script = {
        let clock = r.clock.clone();
        async move { clock.sleep(Duration::from_secs(20)).await }
    };
    r.clock.drive(script, until(200)).await.unwrap();
    let events = r.events();
    assert_eq!(steps(&events, "callback_not_reached"), 1, "{events:?}");
    assert_eq!(steps(&events, "callback_retry"), 1, "{events:?}");
    // alice is free meanwhile, and the place waits for its next attempt
    let snapshot = r.center.snapshot().await.unwrap();
    assert_eq!(
        snapshot.agents[0].state,
        AgentState::Available,
        "{snapshot:?}"
    );
    assert!(snapshot.queues[0].waiting.is_empty(), "{snapshot:?}");
    // After 60 s the place is back in the queue and alice takes it; the
    // customer answers this time.
    r.transport.add_phone(
        "+4930222",
        PhoneBehavior::AnswerAfter(Duration::from_secs(3)),
    );
    let script = {
        let (r, clock) = (&r, r.clock.clone());
        async move {
            loop {
                clock.sleep(Duration::from_millis(500)).await;
                if let Some(back) = r.transport.phone("+4930222")
                    && back.bridged_to().is_some()
                {
                    return back;
                }
            }
        }
    };
    let back = r.clock.drive(script, until(400)).await.unwrap();
    let alice = r.transport.phone("sip:alice@pbx").unwrap();
    assert_eq!(back.bridged_to().as_ref(), Some(alice.id()));
    let events = r.events();
    assert!(
        events.iter().any(|e| matches!(
            e,
            EventKind::Connected { agent, .. } if agent.as_str() == "alice"
        )),
        "{events:?}"
    );
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, EventKind::Queued { interaction, .. } if *interaction == asked)),
        "a retry does not enter the queue again: {events:?}"
    );
    back.hangup();
    r.center.shutdown().await;
}

#[tokio::test(flavor = "current_thread")]
async fn a_callback_is_given_up_after_its_last_attempt() {
    let policy = CallbackPolicy {
        attempts: 2,
        retry_after_secs: 30,
    };
    let (mut r, _asked) = kept_callback(policy).await;
    r.transport.add_phone("+4930222", PhoneBehavior::Busy);
    r.agent("alice", &[]).await;
    r.available("alice").await;
    let script = {
        let clock = r.clock.clone();
        async move { clock.sleep(Duration::from_secs(120)).await }
    };
    r.clock.drive(script, until(400)).await.unwrap();
    let events = r.events();
    assert_eq!(steps(&events, "callback_not_reached"), 2, "{events:?}");
    assert_eq!(steps(&events, "callback_retry"), 1, "{events:?}");
    assert_eq!(steps(&events, "callback_given_up"), 1, "{events:?}");
    let snapshot = r.center.snapshot().await.unwrap();
    assert!(snapshot.queues[0].waiting.is_empty(), "{snapshot:?}");
    assert_eq!(
        snapshot.agents[0].state,
        AgentState::Available,
        "{snapshot:?}"
    );
    r.center.shutdown().await;
}

#[tokio::test(flavor = "current_thread")]
async fn music_and_announcements_stop_when_an_agent_connects() {
    let mut r = rig(waiting_options(), QueueDefinition::new("support")).await;
    r.agent("alice", &[]).await;
    let caller = r.transport.call("+4930111", "100");
    let center = r.center.clone();
    let clock = r.clock.clone();
    let script = {
        let caller = caller.clone();
        async move {
            clock.sleep(Duration::from_secs(40)).await;
            center
                .set_agent_state(&"alice".into(), AgentState::Available)
                .await
                .unwrap();
            // talk through two more announcement periods, then hang up
            clock.sleep(Duration::from_secs(70)).await;
            caller.hangup();
        }
    };
    r.clock.drive(script, until(1_000)).await.unwrap();
    let heard = caller.heard();
    assert_eq!(
        heard
            .iter()
            .filter(|h| h.starts_with("say:You are caller 1"))
            .count(),
        1,
        "one announcement (at 30 s), none after the agent answered at 42 s: {heard:?}"
    );
    assert_eq!(heard.last().map(String::as_str), Some("play:music_on_hold"));
    let alice = r.transport.phone("sip:alice@pbx").unwrap();
    assert_eq!(alice.bridged_to().as_ref(), Some(caller.id()));
    assert!(
        r.events()
            .iter()
            .any(|e| matches!(e, EventKind::Connected { .. }))
    );
    r.center.shutdown().await;
}

#[tokio::test(flavor = "current_thread")]
async fn a_call_needing_french_waits_for_the_agent_who_speaks_it() {
    let options = QueueOptions {
        required_skills: vec![SkillRequirement {
            skill: "french".into(),
            min_proficiency: 1,
        }],
        waiting: WaitOptions::silent(),
        ..QueueOptions::default()
    };
    let mut r = rig(options, QueueDefinition::new("support")).await;
    r.agent("anna", &["german"]).await;
    r.agent("rene", &["french"]).await;
    r.available("anna").await;
    let caller = r.transport.call("+4930111", "100");
    let center = r.center.clone();
    let clock = r.clock.clone();
    let script = {
        let caller = caller.clone();
        async move {
            clock.sleep(Duration::from_secs(20)).await;
            center
                .set_agent_state(&"rene".into(), AgentState::Available)
                .await
                .unwrap();
            clock.sleep(Duration::from_secs(10)).await;
            caller.hangup();
        }
    };
    r.clock.drive(script, until(1_000)).await.unwrap();
    let offered: Vec<String> = r
        .events()
        .iter()
        .filter_map(|e| match e {
            EventKind::Offered { agent, .. } => Some(agent.to_string()),
            _ => None,
        })
        .collect();
    assert_eq!(offered, vec!["rene".to_owned()]);
    assert!(
        caller.heard().is_empty(),
        "silent waiting: {:?}",
        caller.heard()
    );
    r.center.shutdown().await;
}

#[tokio::test(flavor = "current_thread")]
async fn a_timed_out_caller_leaves_a_voicemail_that_an_agent_hears() {
    let mut queue = QueueDefinition::new("support");
    queue.max_wait_secs = Some(60);
    let mut r = rig(waiting_options(), queue).await;
    r.agent("bob", &[]).await;
    let caller = r.transport.call("+4930111", "100");
    let center = r.center.clone();
    let clock = r.clock.clone();
    let script = {
        let caller = caller.clone();
        async move {
            // the queue gives up at 60 s; the caller records until '#'
            while !caller.heard().iter().any(|h| h.contains("after the tone")) {
                clock.sleep(Duration::from_millis(500)).await;
            }
            clock.sleep(Duration::from_secs(10)).await;
            caller.press("#");
            wait_ended(&clock, &caller).await;
            clock.sleep(Duration::from_secs(5)).await;
            center
                .set_agent_state(&"bob".into(), AgentState::Available)
                .await
                .unwrap();
            clock.sleep(Duration::from_secs(60)).await;
        }
    };
    r.clock.drive(script, until(1_000)).await.unwrap();
    let heard = caller.heard();
    assert!(
        heard
            .last()
            .is_some_and(|h| h.contains("passed to an agent")),
        "{heard:?}"
    );
    let bob = r.transport.phone("sip:bob@pbx").unwrap();
    let recording = format!("rec-{}", caller.id());
    assert_eq!(
        bob.heard(),
        vec![
            "say:Voicemail from +4930111.".to_owned(),
            format!("play:{recording}"),
        ]
    );
    let caller_id = InteractionId::from("mem-1");
    let message = InteractionId::from("mem-1-voicemail");
    let events = r.events();
    assert!(events.iter().any(|e| matches!(
        e,
        EventKind::Connected { interaction, agent, .. }
            if *interaction == message && agent.as_str() == "bob"
    )));
    assert!(events.iter().any(|e| matches!(
        e,
        EventKind::InteractionCreated { interaction }
            if interaction.id == message
                && interaction.attributes.get("voicemail") == Some(&recording)
                && interaction.attributes.get("voicemail_for") == Some(&"mem-1".to_owned())
    )));
    r.center.flush().await;
    let filed = r
        .center
        .stores()
        .recordings
        .for_interaction(&"default".into(), &caller_id)
        .await
        .unwrap();
    assert_eq!(filed.len(), 1);
    assert_eq!(filed[0].id.as_str(), recording);
    assert!((10_000..=10_500).contains(&filed[0].duration_ms));
    let record = r
        .center
        .stores()
        .interactions
        .get(&"default".into(), &message)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(record.agent.as_ref().map(|a| a.as_str()), Some("bob"));
    r.center.shutdown().await;
}
