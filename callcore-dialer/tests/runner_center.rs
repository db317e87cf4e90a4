//! End to end in virtual time: a power campaign dials a list through
//! callcore's in-memory transport; answering machines are told apart from
//! people by the energy/cadence AMD on the line's audio, dead numbers by the
//! SIT in their early media (or right after answer); the people are handed to
//! a callcore `Center` whose router is callcore-acd's `AcdEngine`, which
//! connects them to its agents, or, with no agent within 2 s, plays the
//! safe-harbor message. Attempts land in the campaign store, conversations in
//! the Center's interaction records, and the abandoned calls are counted.
#![allow(clippy::unwrap_used)]

use callcore::{
    AgentProfile, AgentState, Clock, DialMode, Direction, Disposition, EndReason, Endpoint,
    EventKind, LeadStatus, Leg, QueueDefinition, Timestamp, VirtualClock,
};
use callcore_dialer::media::{CallAudio, FrameSource, MediaClassifier, PcmFrames};
use callcore_dialer::rules::{
    CallingWindows, CampaignConfig, DncLists, ImportSettings, LeadBook, import_csv,
};
use callcore_dialer::{CampaignRunner, Pacer, strategy_for};
use callcore_media::tones::{SitCode, ToneGenerator, TonePlan, ToneSegment};
use callcore_runtime::memory::{MemoryTransport, PhoneBehavior};
use callcore_runtime::{Center, CenterHandle};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

const START: i64 = 1_767_632_400;
const AGENTS: [&str; 3] = ["ann", "ben", "cat"];

/// Voice-like bursts (harmonics of 180 Hz): `(length, gap after)` in ms.
fn voice(lead_ms: u32, bursts: &[(u32, u32)], tail_ms: u32) -> Vec<i16> {
    let mut segments = vec![ToneSegment::silence(lead_ms)];
    for &(len, gap) in bursts {
        segments.push(ToneSegment::tone(
            &[180.0, 540.0, 900.0, 1260.0],
            -16.0,
            len,
        ));
        segments.push(ToneSegment::silence(gap));
    }
    segments.push(ToneSegment::silence(tail_ms));
    let total = lead_ms + bursts.iter().map(|(l, g)| l + g).sum::<u32>() + tail_ms;
    ToneGenerator::new(
        TonePlan {
            segments,
            repeat: false,
        },
        8000,
    )
    .take_ms(total)
}

fn sit(code: SitCode) -> Vec<i16> {
    let mut audio = vec![0; 1600];
    audio.extend(ToneGenerator::new(code.plan(-24.0), 8000).take_ms(1100));
    // the recorded announcement that follows
    audio.extend(voice(200, &[(900, 100), (1200, 100), (800, 0)], 500));
    audio
}

/// The audio on each line, by number, played in the line's (virtual) time.
#[derive(Debug)]
struct Lines {
    clock: VirtualClock,
    early: HashMap<String, Vec<i16>>,
    answered: HashMap<String, Vec<i16>>,
}

impl CallAudio for Lines {
    fn early_media(&self, phone: &str) -> Option<Box<dyn FrameSource>> {
        let audio = self.early.get(phone)?.clone();
        Some(Box::new(PcmFrames::new(
            audio,
            Arc::new(self.clock.clone()),
        )))
    }

    fn answered(&self, phone: &str, _leg: &dyn Leg) -> Option<Box<dyn FrameSource>> {
        let audio = self.answered.get(phone)?.clone();
        Some(Box::new(PcmFrames::new(
            audio,
            Arc::new(self.clock.clone()),
        )))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Person,
    Machine,
    Busy,
    Silent,
    /// Vacant-code SIT in early media while it rings.
    VacantEarly,
    /// Answered by the network, intercept SIT then an announcement.
    InterceptAnswered,
}

fn plan() -> Vec<(String, Kind)> {
    let mut kinds = vec![Kind::Person; 14];
    kinds.extend([Kind::Machine; 3]);
    kinds.extend([Kind::Busy; 2]);
    kinds.extend([Kind::Silent; 2]);
    kinds.extend([Kind::VacantEarly, Kind::InterceptAnswered]);
    kinds
        .into_iter()
        .enumerate()
        .map(|(i, k)| (format!("+1415555{:04}", 200 + i), k))
        .collect()
}

async fn acd_center(clock: &VirtualClock, transport: &Arc<MemoryTransport>) -> CenterHandle {
    let center = Center::builder()
        .clock(Arc::new(clock.clone()))
        .transport(transport.clone())
        .router(Box::new(callcore_acd::AcdEngine::default()))
        .build()
        .unwrap()
        .start()
        .await
        .unwrap();
    center
        .add_queue(QueueDefinition::new("renewals").with_wrap_up_secs(10))
        .await
        .unwrap();
    for name in AGENTS {
        let address = format!("sip:{name}@pbx");
        transport.add_phone(
            &address,
            PhoneBehavior::AnswerAfter(Duration::from_millis(600)),
        );
        center
            .add_agent(AgentProfile::new(name).with_endpoint(Endpoint::Sip(address)))
            .await
            .unwrap();
        center
            .set_agent_state(&name.into(), AgentState::Available)
            .await
            .unwrap();
    }
    center
}

/// Every person who is answered talks for `talk`, then hangs up.
async fn people_hang_up(
    transport: Arc<MemoryTransport>,
    clock: VirtualClock,
    numbers: Vec<String>,
    talk: Duration,
) {
    let mut seen: HashMap<String, callcore::LegId> = HashMap::new();
    loop {
        for n in &numbers {
            if let Some(far) = transport.phone(n)
                && seen.get(n) != Some(far.id())
            {
                seen.insert(n.clone(), far.id().clone());
                let clock = clock.clone();
                tokio::spawn(async move {
                    clock.sleep(talk).await;
                    far.hangup();
                });
            }
        }
        clock.sleep(Duration::from_secs(1)).await;
    }
}

#[tokio::test(flavor = "current_thread")]
async fn a_power_campaign_reaches_agents_through_the_acd_with_amd_and_sit() {
    let clock = VirtualClock::new(Timestamp::from_secs(START));
    let transport = MemoryTransport::new(Arc::new(clock.clone()));
    let center = acd_center(&clock, &transport).await;
    let mut events = center.subscribe();
    let plan = plan();
    let mut lines = Lines {
        clock: clock.clone(),
        early: HashMap::new(),
        answered: HashMap::new(),
    };
    let mut people = Vec::new();
    for (i, (phone, kind)) in plan.iter().enumerate() {
        let answer_after = Duration::from_secs(3 + (i as u64 % 5));
        let behavior = match kind {
            Kind::Person => {
                // "Hello?" and then waiting.
                lines
                    .answered
                    .insert(phone.clone(), voice(300, &[(450, 0)], 3000));
                people.push(phone.clone());
                PhoneBehavior::AnswerAfter(answer_after)
            }
            Kind::Machine => {
                let greeting = [(400, 80), (300, 60), (500, 90), (350, 70), (600, 80)];
                lines
                    .answered
                    .insert(phone.clone(), voice(200, &greeting, 1000));
                PhoneBehavior::AnswerAfter(answer_after)
            }
            Kind::Busy => PhoneBehavior::Busy,
            Kind::Silent => PhoneBehavior::NoAnswer,
            Kind::VacantEarly => {
                lines.early.insert(phone.clone(), sit(SitCode::VacantCode));
                PhoneBehavior::NoAnswer
            }
            Kind::InterceptAnswered => {
                lines
                    .answered
                    .insert(phone.clone(), sit(SitCode::Intercept));
                PhoneBehavior::AnswerAfter(Duration::from_secs(1))
            }
        };
        transport.add_phone(phone, behavior);
    }
    let csv: String = std::iter::once("id,phone\n".to_owned())
        .chain(
            plan.iter()
                .enumerate()
                .map(|(i, (p, _))| format!("lead{i},{p}\n")),
        )
        .collect();
    let mut config = CampaignConfig::new("renewals", DialMode::Power);
    config.windows = CallingWindows::always();
    config.max_attempts = 2;
    config.power_ratio = 3.0;
    let dnc = DncLists::default();
    let report = import_csv(
        &csv,
        &ImportSettings {
            tenant: config.tenant.clone(),
            campaign: config.id.clone(),
            number_plan: &config.number_plan,
            dnc: &dnc,
        },
    )
    .unwrap();
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    let mut book = LeadBook::new(config, dnc);
    book.add_imported(report.leads).unwrap();
    let pacer = Pacer::new(book, strategy_for(DialMode::Power).unwrap());
    let audio = Arc::new(lines);
    let runner = CampaignRunner::new(
        pacer,
        transport.clone(),
        center.stores().campaigns.clone(),
        Arc::new(clock.clone()),
    )
    .center(center.clone(), "renewals")
    .attribute("language", "en")
    .classifier(Arc::new(MediaClassifier::new(audio.clone())))
    .early_media(audio);
    let talkers = tokio::spawn(people_hang_up(
        transport.clone(),
        clock.clone(),
        people.clone(),
        Duration::from_secs(45),
    ));
    // Long enough for the no-answer retry (2 h); machines (4 h) and the
    // abandoned (a day) are due after it.
    let until = Timestamp::from_secs(START + 2 * 3600 + 300);
    let summary = clock
        .drive(runner.run(until), until + Duration::from_secs(3600))
        .await
        .unwrap()
        .unwrap();
    talkers.abort();
    center.flush().await;

    let store = &center.stores().campaigns;
    let attempts = store
        .attempts(&"default".into(), &"renewals".into())
        .await
        .unwrap();
    let leads = store
        .leads(&"default".into(), &"renewals".into())
        .await
        .unwrap();
    let lead_of: HashMap<String, String> = leads
        .iter()
        .map(|l| (l.phone.expose().clone(), l.id.to_string()))
        .collect();
    let status: HashMap<String, LeadStatus> =
        leads.iter().map(|l| (l.id.to_string(), l.status)).collect();
    let by_lead = |phone: &str| -> Vec<Disposition> {
        attempts
            .iter()
            .filter(|a| a.lead.as_str() == lead_of[phone])
            .map(|a| a.disposition.clone())
            .collect()
    };
    for (phone, kind) in &plan {
        let got = by_lead(phone);
        match kind {
            Kind::Person => assert!(
                matches!(
                    got.as_slice(),
                    [Disposition::AnsweredPerson] | [Disposition::Abandoned, ..]
                ),
                "{phone}: {got:?}"
            ),
            // (retried after 4 hours, beyond this run)
            Kind::Machine => assert_eq!(got, vec![Disposition::AnsweringMachine], "{phone}"),
            Kind::Busy => assert_eq!(got, vec![Disposition::Busy; 2], "{phone}"),
            Kind::Silent => assert_eq!(got, vec![Disposition::NoAnswer; 2], "{phone}"),
            Kind::VacantEarly | Kind::InterceptAnswered => {
                assert_eq!(
                    got,
                    vec![Disposition::InvalidNumber],
                    "{phone}: not retried"
                );
                assert_eq!(status[&lead_of[phone]], LeadStatus::Closed);
            }
        }
    }
    let abandoned: Vec<_> = attempts
        .iter()
        .filter(|a| a.disposition == Disposition::Abandoned)
        .collect();
    let connected: Vec<_> = attempts
        .iter()
        .filter(|a| a.disposition == Disposition::AnsweredPerson)
        .collect();
    // Nine lines for three agents: some people found no agent within 2 s.
    assert!(
        !abandoned.is_empty(),
        "power 3:1 with three agents abandons some"
    );
    assert!(connected.len() >= 3, "{}", connected.len());
    assert_eq!(summary.counters.abandoned, abandoned.len() as u64);
    assert_eq!(summary.counters.connected, connected.len() as u64);
    assert_eq!(
        summary.counters.answered_by_person,
        summary.counters.connected + summary.counters.abandoned
    );
    assert_eq!(summary.counters.machines, 3);

    // The Center: each connected person was an outbound interaction with the
    // lead's context, served by an agent the ACD chose within 2 s of the
    // hand-off; each abandoned one heard the safe-harbor message.
    let mut created = HashMap::new();
    while let Ok(Some(e)) = events.try_recv() {
        if let EventKind::InteractionCreated { interaction } = &e.kind {
            created.insert(interaction.id.clone(), interaction.clone());
        }
    }
    let interactions = &center.stores().interactions;
    let mut served_by = HashSet::new();
    for a in &connected {
        let record = interactions
            .get(&"default".into(), &a.interaction)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(record.direction, Direction::Outbound);
        let agent = record.agent.clone().unwrap();
        assert!(AGENTS.contains(&agent.as_str()), "{agent}");
        served_by.insert(agent);
        let waited = record
            .answered_at
            .unwrap()
            .duration_since(record.created_at);
        assert!(waited <= Duration::from_secs(2), "{waited:?}");
        assert!(record.talk_ms >= 40_000, "{record:?}");
        let i = &created[&a.interaction];
        assert_eq!(i.attributes["lead"], a.lead.as_str());
        assert_eq!(i.attributes["campaign"], "renewals");
        assert_eq!(i.attributes["language"], "en");
    }
    assert_eq!(served_by.len(), AGENTS.len(), "every agent took calls");
    for a in &abandoned {
        let record = interactions
            .get(&"default".into(), &a.interaction)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(record.agent, None);
        assert_eq!(record.end_reason, Some(EndReason::QueueTimeout));
        let phone = created[&a.interaction].from.expose().clone();
        let far = transport.phone(&phone).unwrap();
        assert!(
            far.heard().iter().any(|h| h.contains("opt out")),
            "{phone}: {:?}",
            far.heard()
        );
    }
    // An abandoned number waits out the embargo (a day under the US rules)
    // before it is called again.
    let next: HashMap<String, Option<Timestamp>> = leads
        .iter()
        .map(|l| (l.id.to_string(), l.next_attempt_at))
        .collect();
    for a in &abandoned {
        assert_eq!(status[a.lead.as_str()], LeadStatus::Pending);
        let due = next[a.lead.as_str()].unwrap();
        assert!(due.duration_since(a.started_at) >= Duration::from_secs(24 * 3600));
    }
}
