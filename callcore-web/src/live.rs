//! What the API knows live, folded from the center's events: the calls in
//! progress (their tenant and agents, for the checks), pending offers, the
//! tenant of each agent and queue, and a bounded buffer of recent events
//! for the event feed to resume from.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};

use callcore::{
    AgentId, Event, EventKind, InteractionContext, InteractionId, Pii, QueueDefinition, QueueId,
    ReservationId, TenantId, Timestamp,
};
use callcore_runtime::{BusError, EventSubscriber};
use serde::Serialize;
use tokio::sync::broadcast;
use utoipa::ToSchema;

use crate::state::Scope;
use crate::users::{Principal, Role};

/// An event with the agents it concerns (decided when it happened, so that a
/// call's last events still reach its agent after the call is gone).
#[derive(Debug, Clone)]
pub(crate) struct Stamped {
    pub(crate) event: Arc<Event>,
    agents: Arc<[AgentId]>,
    /// The queue of the event's call (or the queue it is about).
    queue: Option<QueueId>,
}

impl Stamped {
    /// Whether `p` may see this event: their tenant's, and for an agent, about
    /// them or a call they are part of; for a supervisor limited to some
    /// queues (`scope`), about those queues, their calls and their agents.
    pub(crate) fn visible_to(&self, p: &Principal, scope: Option<&Scope>) -> bool {
        if self.event.tenant != p.tenant {
            return false;
        }
        if p.role >= Role::Supervisor {
            let Some(s) = scope else { return true };
            if self.event.interaction().is_some() {
                return s.covers(self.queue.as_ref(), self.agents.iter());
            }
            if let Some(q) = &self.queue {
                return s.queues.contains(q);
            }
            return self.event.agent().is_some_and(|a| s.agents.contains(a));
        }
        let Some(me) = &p.agent else { return false };
        self.event.agent() == Some(me) || self.agents.contains(me)
    }
}

/// A call in progress, as the API shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct LiveCall {
    /// The interaction.
    #[schema(value_type = String)]
    pub id: InteractionId,
    /// Where it is: `new`, `queued`, `offered`, `connected`, `held`,
    /// `consulting`, `conference`.
    pub state: String,
    /// `voice`, `chat`, … (as the model names channels).
    pub channel: String,
    /// `inbound` or `outbound`.
    pub direction: String,
    /// The customer's address (their number): personal data, shown only to
    /// the users who may see the call, never logged (`Debug` redacts it).
    #[schema(value_type = String)]
    pub from: Pii<String>,
    /// The address they called (a DID, `ivr`).
    pub to: String,
    /// The customer profile, when identified.
    pub customer: Option<String>,
    /// The queue it waits or waited in.
    #[schema(value_type = Option<String>)]
    pub queue: Option<QueueId>,
    /// The agent it is with (or offered to).
    #[schema(value_type = Option<String>)]
    pub agent: Option<AgentId>,
    /// Every agent who has been part of it.
    #[schema(value_type = Vec<String>)]
    pub agents: Vec<AgentId>,
    /// When it arrived (milliseconds since the epoch).
    #[schema(value_type = i64)]
    pub created_at: Timestamp,
    #[serde(skip)]
    pub(crate) tenant: TenantId,
}

/// A pending offer.
#[derive(Debug, Clone)]
pub(crate) struct Offer {
    pub(crate) agent: AgentId,
    pub(crate) tenant: TenantId,
}

/// One thing the IVR or bot did before the handoff (a `flow_step` event), or
/// a line the customer said to it (a `transcript_segment`): the screen pop's
/// IVR context.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct IvrStep {
    /// `say`, `play`, `menu`, `collect_digits`, `intent`, `listen`, … or
    /// `heard` for the customer's words.
    pub step: String,
    /// The step's detail (prompt, digit count, intent name), or the words
    /// heard (personal data: shown only to users who may see the call).
    pub detail: String,
    /// When (milliseconds since the epoch).
    #[schema(value_type = i64)]
    pub at: Timestamp,
}

/// Steps kept per live call (the oldest are dropped beyond it).
const IVR_STEPS: usize = 64;

#[derive(Debug, Default)]
struct State {
    buffer: VecDeque<Stamped>,
    calls: HashMap<InteractionId, LiveCall>,
    ivr: HashMap<InteractionId, Vec<IvrStep>>,
    /// What the flow handed over (`context_shared`), its sensitive slots masked.
    context: HashMap<InteractionId, InteractionContext>,
    offers: HashMap<ReservationId, Offer>,
    agents: HashMap<AgentId, TenantId>,
    queues: HashMap<QueueId, TenantId>,
    /// The queues' definitions (service levels per channel, business hours),
    /// for reports whose journal starts after the queue was added.
    definitions: HashMap<QueueId, QueueDefinition>,
    /// Calls that ended lately, with their queue and agents (for the events
    /// that follow the end: audio figures, quality score, review flag).
    ended: VecDeque<(InteractionId, Option<QueueId>, Vec<AgentId>)>,
    last_seq: u64,
}

/// Ended calls remembered for their late events.
const ENDED_KEPT: usize = 1024;

/// What a reconnecting feed gets.
#[derive(Debug)]
pub(crate) enum Resume {
    /// The events after the sequence asked for (maybe none).
    From(Vec<Stamped>),
    /// They are no longer buffered: the oldest one that is.
    Gone { oldest: u64 },
}

/// The live view and the event feed's buffer.
#[derive(Debug)]
pub(crate) struct Live {
    state: Mutex<State>,
    capacity: usize,
    feed: broadcast::Sender<Stamped>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// An enum's name as serialized (`"voice"`).
fn name_of<T: Serialize>(value: &T) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// The agent named in `agent:ID` (a consult target, a conference party).
fn agent_in(who: &str) -> Option<AgentId> {
    who.strip_prefix("agent:").map(AgentId::new)
}

/// Keeps one IVR step of a live call (at most [`IVR_STEPS`]).
fn push_step(s: &mut State, id: &InteractionId, step: String, detail: String, at: Timestamp) {
    let steps = s.ivr.entry(id.clone()).or_default();
    if steps.len() >= IVR_STEPS {
        steps.remove(0);
    }
    steps.push(IvrStep { step, detail, at });
}

impl Live {
    pub(crate) fn new(capacity: usize) -> Arc<Live> {
        let (feed, _) = broadcast::channel(1024);
        Arc::new(Live {
            state: Mutex::default(),
            capacity: capacity.max(16),
            feed,
        })
    }

    /// Knows `agent` to be of `tenant` (agents configured before the API).
    pub(crate) fn add_agent(&self, agent: AgentId, tenant: TenantId) {
        lock(&self.state).agents.insert(agent, tenant);
    }

    /// Knows `queue` to be of `tenant`.
    pub(crate) fn add_queue(&self, queue: QueueId, tenant: TenantId) {
        lock(&self.state).queues.insert(queue, tenant);
    }

    /// Knows a queue's definition.
    pub(crate) fn add_queue_definition(&self, definition: QueueDefinition) {
        let mut s = lock(&self.state);
        s.queues
            .insert(definition.id.clone(), definition.tenant.clone());
        s.definitions.insert(definition.id.clone(), definition);
    }

    /// The definitions of `tenant`'s queues that are known.
    pub(crate) fn queue_definitions(&self, tenant: &TenantId) -> Vec<(TenantId, QueueDefinition)> {
        lock(&self.state)
            .definitions
            .values()
            .filter(|d| &d.tenant == tenant)
            .map(|d| (d.tenant.clone(), d.clone()))
            .collect()
    }

    /// Folds events until the center closes.
    pub(crate) async fn follow(self: Arc<Self>, mut events: EventSubscriber) {
        loop {
            match events.recv().await {
                Ok(e) => self.apply(e),
                Err(BusError::Lagged(n)) => {
                    tracing::warn!(dropped = n, "web API: the live view missed events");
                }
                Err(_) => break,
            }
        }
    }

    /// Folds one event.
    pub(crate) fn apply(&self, event: Arc<Event>) {
        let mut s = lock(&self.state);
        let mut involved: HashSet<AgentId> = HashSet::new();
        if let Some(a) = event.agent() {
            involved.insert(a.clone());
        }
        let tenant = event.tenant.clone();
        let mut queue: Option<QueueId> = None;
        match &event.kind {
            EventKind::InteractionCreated { interaction } => {
                s.calls.insert(
                    interaction.id.clone(),
                    LiveCall {
                        id: interaction.id.clone(),
                        state: "new".into(),
                        channel: name_of(&interaction.channel),
                        direction: name_of(&interaction.direction),
                        from: interaction.from.clone(),
                        to: interaction.to.clone(),
                        customer: interaction.customer.as_ref().map(ToString::to_string),
                        queue: None,
                        agent: None,
                        agents: Vec::new(),
                        created_at: event.at,
                        tenant: tenant.clone(),
                    },
                );
            }
            EventKind::AgentAdded { profile } => {
                s.agents.insert(profile.id.clone(), profile.tenant.clone());
            }
            EventKind::AgentRemoved { agent } => {
                s.agents.remove(agent);
            }
            EventKind::QueueAdded { definition } => {
                s.queues
                    .insert(definition.id.clone(), definition.tenant.clone());
                s.definitions
                    .insert(definition.id.clone(), QueueDefinition::clone(definition));
                queue = Some(definition.id.clone());
            }
            EventKind::QueueRemoved { queue: q } => {
                s.queues.remove(q);
                s.definitions.remove(q);
                queue = Some(q.clone());
            }
            EventKind::Offered {
                agent, reservation, ..
            } => {
                s.offers.insert(
                    reservation.clone(),
                    Offer {
                        agent: agent.clone(),
                        tenant: tenant.clone(),
                    },
                );
            }
            EventKind::OfferAccepted { reservation, .. }
            | EventKind::OfferEnded { reservation, .. } => {
                s.offers.remove(reservation);
            }
            EventKind::FlowStep {
                interaction,
                step,
                detail,
            } if s.calls.contains_key(interaction) => {
                push_step(&mut s, interaction, step.clone(), detail.clone(), event.at);
            }
            EventKind::ContextShared {
                interaction,
                context,
            } if s.calls.contains_key(interaction) => {
                s.context.insert(interaction.clone(), context.masked());
            }
            EventKind::TranscriptSegment {
                interaction,
                speaker,
                text,
                ..
            } if s.calls.contains_key(interaction) => {
                let step = format!("heard_{}", name_of(speaker));
                push_step(&mut s, interaction, step, text.expose().clone(), event.at);
            }
            EventKind::CustomersMerged { kept, absorbed } => {
                let (kept, absorbed) = (kept.to_string(), absorbed.to_string());
                for c in s.calls.values_mut() {
                    if c.tenant == tenant && c.customer.as_deref() == Some(absorbed.as_str()) {
                        c.customer = Some(kept.clone());
                    }
                }
            }
            EventKind::CustomersUnmerged {
                kept,
                absorbed,
                interactions,
            } => {
                for id in interactions {
                    if let Some(c) = s.calls.get_mut(id)
                        && c.tenant == tenant
                        && c.customer.as_deref() == Some(kept.as_str())
                    {
                        c.customer = Some(absorbed.to_string());
                    }
                }
            }
            EventKind::ConsultStarted { target, .. }
            | EventKind::ConsultAnswered { target, .. }
            | EventKind::ConsultEnded { target, .. } => {
                involved.extend(agent_in(target));
            }
            EventKind::ConferenceJoined { party, .. } => {
                involved.extend(agent_in(party));
            }
            _ => {}
        }
        if let Some(id) = event.interaction().cloned()
            && let Some(call) = s.calls.get_mut(&id)
        {
            match &event.kind {
                EventKind::Queued { queue, .. } => {
                    call.state = "queued".into();
                    call.queue = Some(queue.clone());
                }
                EventKind::Offered { agent, .. } => {
                    call.state = "offered".into();
                    call.agent = Some(agent.clone());
                }
                EventKind::OfferEnded { .. } => call.state = "queued".into(),
                EventKind::Connected { agent, queue, .. } => {
                    call.state = "connected".into();
                    call.agent = Some(agent.clone());
                    call.queue = Some(queue.clone());
                }
                EventKind::Held { .. } => call.state = "held".into(),
                EventKind::Resumed { .. } | EventKind::ConsultEnded { .. } => {
                    call.state = "connected".into();
                }
                EventKind::ConsultStarted { .. } => call.state = "consulting".into(),
                EventKind::ConferenceJoined { .. } => call.state = "conference".into(),
                _ => {}
            }
            for a in &involved {
                if !call.agents.contains(a) {
                    call.agents.push(a.clone());
                }
            }
            involved.extend(call.agents.iter().cloned());
            queue.clone_from(&call.queue);
            if matches!(event.kind, EventKind::Ended { .. }) {
                let agents = call.agents.clone();
                s.calls.remove(&id);
                s.ivr.remove(&id);
                s.context.remove(&id);
                if s.ended.len() >= ENDED_KEPT {
                    s.ended.pop_front();
                }
                s.ended.push_back((id, queue.clone(), agents));
            }
        } else if let Some(id) = event.interaction()
            && let Some((_, q, agents)) = s.ended.iter().find(|(i, _, _)| i == id)
        {
            queue.clone_from(q);
            involved.extend(agents.iter().cloned());
        }
        let stamped = Stamped {
            event,
            agents: involved.into_iter().collect::<Vec<_>>().into(),
            queue,
        };
        s.last_seq = s.last_seq.max(stamped.event.seq);
        if s.buffer.len() >= self.capacity {
            s.buffer.pop_front();
        }
        s.buffer.push_back(stamped.clone());
        drop(s);
        let _ = self.feed.send(stamped);
    }

    /// New events as they are folded.
    pub(crate) fn subscribe(&self) -> broadcast::Receiver<Stamped> {
        self.feed.subscribe()
    }

    /// The newest sequence number seen.
    pub(crate) fn last_seq(&self) -> u64 {
        lock(&self.state).last_seq
    }

    /// The buffered events after `since`.
    pub(crate) fn resume(&self, since: u64) -> Resume {
        let s = lock(&self.state);
        let oldest = s.buffer.front().map_or(s.last_seq + 1, |e| e.event.seq);
        if since + 1 < oldest && since < s.last_seq {
            return Resume::Gone { oldest };
        }
        Resume::From(
            s.buffer
                .iter()
                .filter(|e| e.event.seq > since)
                .cloned()
                .collect(),
        )
    }

    /// A live call, whatever its tenant.
    pub(crate) fn call(&self, id: &InteractionId) -> Option<LiveCall> {
        lock(&self.state).calls.get(id).cloned()
    }

    /// The live calls of `tenant`.
    pub(crate) fn calls(&self, tenant: &TenantId) -> Vec<LiveCall> {
        let mut v: Vec<LiveCall> = lock(&self.state)
            .calls
            .values()
            .filter(|c| &c.tenant == tenant)
            .cloned()
            .collect();
        v.sort_by(|a, b| a.id.cmp(&b.id));
        v
    }

    /// What the IVR did on a live call before the handoff, oldest first.
    pub(crate) fn ivr(&self, id: &InteractionId) -> Vec<IvrStep> {
        lock(&self.state).ivr.get(id).cloned().unwrap_or_default()
    }

    /// What the flow handed over with a live call, if it shared anything.
    pub(crate) fn context(&self, id: &InteractionId) -> Option<InteractionContext> {
        lock(&self.state).context.get(id).cloned()
    }

    /// A pending offer.
    pub(crate) fn offer(&self, id: &ReservationId) -> Option<Offer> {
        lock(&self.state).offers.get(id).cloned()
    }

    /// The tenant of an agent.
    pub(crate) fn agent_tenant(&self, agent: &AgentId) -> Option<TenantId> {
        lock(&self.state).agents.get(agent).cloned()
    }

    /// The tenant of a queue.
    pub(crate) fn queue_tenant(&self, queue: &QueueId) -> Option<TenantId> {
        lock(&self.state).queues.get(queue).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(seq: u64) -> Arc<Event> {
        Arc::new(Event {
            seq,
            at: Timestamp::from_secs(1),
            tenant: TenantId::new("t"),
            kind: EventKind::AgentRemoved {
                agent: AgentId::new("a"),
            },
        })
    }

    #[test]
    fn the_buffer_resumes_after_a_sequence_or_says_it_cannot() {
        let live = Live::new(16);
        for seq in 1..=40 {
            live.apply(event(seq));
        }
        match live.resume(30) {
            Resume::From(v) => {
                assert_eq!(
                    v.iter().map(|e| e.event.seq).collect::<Vec<_>>(),
                    (31..=40).collect::<Vec<_>>()
                );
            }
            Resume::Gone { .. } => panic!("30 is buffered"),
        }
        assert!(matches!(live.resume(3), Resume::Gone { oldest: 25 }));
        assert!(matches!(live.resume(40), Resume::From(v) if v.is_empty()));
    }

    #[test]
    fn a_shared_context_is_kept_masked_while_the_call_lives() {
        let live = Live::new(16);
        let id = InteractionId::new("int-1");
        let at = |seq: u64, kind: EventKind| {
            Arc::new(Event {
                seq,
                at: Timestamp::from_secs(1),
                tenant: TenantId::new("t"),
                kind,
            })
        };
        let call = callcore::Interaction::new(
            id.clone(),
            TenantId::new("t"),
            callcore::Channel::Voice,
            callcore::Direction::Inbound,
            "+4930123456",
            "ivr",
            Timestamp::from_secs(1),
        );
        live.apply(at(
            1,
            EventKind::InteractionCreated {
                interaction: Box::new(call),
            },
        ));
        let mut context = InteractionContext::default();
        context.slots.insert("account".into(), Pii::from("4711"));
        context
            .slots
            .insert("card".into(), Pii::from("4111111111111111"));
        // a producer that forgot to mask: the web layer masks anyway
        context.sensitive.insert("card".into());
        live.apply(at(
            2,
            EventKind::ContextShared {
                interaction: id.clone(),
                context,
            },
        ));
        let kept = live.context(&id).unwrap();
        assert_eq!(kept.slots["account"].expose(), "4711");
        assert_eq!(kept.slots["card"].expose(), "••••••••••••1111");
        live.apply(at(
            3,
            EventKind::Ended {
                interaction: id.clone(),
                reason: callcore::EndReason::CustomerHangup,
            },
        ));
        assert!(live.context(&id).is_none());
    }

    #[test]
    fn a_suggestion_reaches_its_agent_and_supervisors_only() {
        let live = Live::new(16);
        let mut feed = live.subscribe();
        live.apply(Arc::new(Event {
            seq: 1,
            at: Timestamp::from_secs(1),
            tenant: TenantId::new("t"),
            kind: EventKind::AgentAssist {
                interaction: InteractionId::new("call-1"),
                agent: AgentId::new("alex"),
                suggestion: callcore::AssistSuggestion::new(
                    callcore::AssistKind::Article,
                    "What are your opening hours?",
                    "9:00-17:00",
                    3000,
                ),
            },
        }));
        let Ok(stamped) = feed.try_recv() else {
            panic!("the event is on the feed");
        };
        let who = |user: &str, role: Role, tenant: &str| Principal {
            user: user.into(),
            role,
            tenant: TenantId::new(tenant),
            agent: (role == Role::Agent).then(|| AgentId::new(user)),
            queues: None,
        };
        assert!(stamped.visible_to(&who("alex", Role::Agent, "t"), None));
        assert!(!stamped.visible_to(&who("bob", Role::Agent, "t"), None));
        assert!(stamped.visible_to(&who("boss", Role::Supervisor, "t"), None));
        assert!(!stamped.visible_to(&who("boss", Role::Supervisor, "other"), None));
        // a supervisor limited to queues: the call is in none of them, but
        // its agent serves one
        let mut scope = Scope::default();
        assert!(!stamped.visible_to(&who("boss", Role::Supervisor, "t"), Some(&scope)));
        scope.agents.insert(AgentId::new("alex"));
        assert!(stamped.visible_to(&who("boss", Role::Supervisor, "t"), Some(&scope)));
    }
}
