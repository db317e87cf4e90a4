//! The metrics engine: a fold over the event stream into counters per bucket
//! and dimension, plus the live gauges (contacts waiting, agent states).
//!
//! The same engine serves live metrics (fed from `CenterHandle::subscribe()`)
//! and historical reports (fed from the journal), which is why a report for a
//! period equals what the live metrics said for it.

use crate::buckets::Buckets;
use crate::channel_levels::{QueueTargets, Target};
use crate::counters::Counters;
use crate::dims::{Dimension, Interner};
use crate::{AnalyticsError, MetricsConfig};
use callcore::{
    AgentId, AgentState, Channel, Disposition, EndReason, Event, EventKind, InteractionId, QueueId,
    TenantId, Timestamp,
};
use std::time::Duration;

/// The engine's maps: keyed by short ids, looked up several times per event,
/// so a fast hasher (foldhash, randomly seeded like std's) instead of SipHash.
pub(crate) type HashMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;

/// Width of the coarse buckets behind daily figures and reports.
pub(crate) const QUARTER_MS: i64 = 900_000;

/// How long an ended contact is remembered, for its after-call work and a
/// post-call survey answer.
const WRAP_UP_MEMORY_MS: i64 = 3_600_000;

#[derive(Debug, Clone)]
pub(crate) struct Contact {
    pub tenant_dim: u32,
    pub channel: Option<Channel>,
    pub channel_dim: Option<u32>,
    /// The (queue, channel) dimension while in a queue, and its target.
    pub queue_channel_dim: Option<u32>,
    queue_channel_target: Option<Target>,
    pub queue: Option<QueueId>,
    pub queue_dim: Option<u32>,
    pub agent_dim: Option<u32>,
    /// Start of the current wait in `queue`, while waiting.
    pub queued_at: Option<Timestamp>,
    pub threshold_ms: u64,
    offered_in: Vec<QueueId>,
    answered_in: Vec<QueueId>,
    connected_at: Option<Timestamp>,
    hold_since: Option<Timestamp>,
    hold_ms: u64,
    /// Talk and hold of the agents' finished parts, counted for the queue,
    /// channel and tenant when the contact ends.
    earlier_talk_ms: u64,
    earlier_hold_ms: u64,
    wrap_since: Option<Timestamp>,
    ended_at: Option<Timestamp>,
}

impl Contact {
    const fn new(tenant_dim: u32) -> Self {
        Self {
            tenant_dim,
            channel: None,
            channel_dim: None,
            queue_channel_dim: None,
            queue_channel_target: None,
            queue: None,
            queue_dim: None,
            agent_dim: None,
            queued_at: None,
            threshold_ms: 0,
            offered_in: Vec::new(),
            answered_in: Vec::new(),
            connected_at: None,
            hold_since: None,
            hold_ms: 0,
            earlier_talk_ms: 0,
            earlier_hold_ms: 0,
            wrap_since: None,
            ended_at: None,
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct AgentTrack {
    pub tenant: TenantId,
    pub agent: AgentId,
    pub tenant_dim: u32,
    pub agent_dim: u32,
    pub state: AgentState,
    /// Time counted up to here.
    pub since: Timestamp,
    /// When the current state was entered.
    pub entered: Timestamp,
    /// The agent's phone can be reached (`AgentReachabilityChanged`).
    pub reachable: bool,
}

/// Folds events into metrics. See the crate docs and README for every
/// metric's definition.
#[derive(Debug, Clone)]
pub struct MetricsEngine {
    pub(crate) config: MetricsConfig,
    pub(crate) dims: Interner,
    pub(crate) fine: Buckets,
    pub(crate) quarters: Buckets,
    /// Keyed by `tenant \x1f interaction` (see `key`).
    pub(crate) contacts: HashMap<String, Contact>,
    /// Keyed by `tenant \x1f agent`.
    pub(crate) agents: HashMap<String, AgentTrack>,
    /// Keyed by `tenant \x1f queue`: (dimension id, service-level threshold).
    pub(crate) queues: HashMap<String, (u32, Option<u64>)>,
    /// Keyed by `tenant \x1f queue`: the per-channel targets and business
    /// hours of the queue's definition.
    pub(crate) targets: HashMap<String, QueueTargets>,
    /// Scratch buffer for map keys, so that lookups do not allocate.
    pub(crate) scratch: String,
    /// Whether fine buckets (sliding windows) are kept.
    windows: bool,
    pub(crate) latest: Timestamp,
    last_prune: i64,
}

/// Writes the map key of (`tenant`, `id`) into `buf`.
pub(crate) fn key<'a>(buf: &'a mut String, tenant: &TenantId, id: &str) -> &'a str {
    buf.clear();
    buf.push_str(tenant.as_str());
    buf.push('\u{1f}');
    buf.push_str(id);
    buf
}

pub(crate) fn ms(later: Timestamp, earlier: Timestamp) -> u64 {
    u64::try_from(later.duration_since(earlier).as_millis()).unwrap_or(u64::MAX)
}

impl MetricsEngine {
    /// The event kinds (serde tags) the engine reads. Replaying a journal,
    /// fetch only these (e.g. `StoreExt::events_of_kinds` in callcore-store).
    pub const EVENT_KINDS: &'static [&'static str] = &[
        "interaction_created",
        "queued",
        "connected",
        "abandoned",
        "overflowed",
        "queue_exited",
        "held",
        "resumed",
        "transferred",
        "ended",
        "wrap_up_started",
        "wrap_up_ended",
        "offer_ended",
        "flow_step",
        "agent_state_changed",
        "agent_added",
        "agent_removed",
        "queue_added",
        "dial_attempted",
    ];

    /// An engine with `config`.
    ///
    /// # Errors
    /// [`AnalyticsError::Config`] when the config is invalid.
    pub fn new(config: MetricsConfig) -> Result<Self, AnalyticsError> {
        config.validate()?;
        Ok(Self {
            fine: Buckets::new(config.bucket_ms(), Some(config.window_history_ms())),
            quarters: Buckets::new(QUARTER_MS, config.retention_ms()),
            config,
            dims: Interner::default(),
            contacts: HashMap::default(),
            agents: HashMap::default(),
            queues: HashMap::default(),
            targets: HashMap::default(),
            scratch: String::new(),
            windows: true,
            latest: Timestamp::EPOCH,
            last_prune: 0,
        })
    }

    /// An engine that keeps every bucket, for replaying a journal into reports.
    ///
    /// # Errors
    /// As [`new`](Self::new).
    pub fn for_reports(mut config: MetricsConfig) -> Result<Self, AnalyticsError> {
        config.retention = None;
        let mut engine = Self::new(config)?;
        engine.windows = false; // reports read 15-minute buckets only
        Ok(engine)
    }

    /// The configuration.
    #[must_use]
    pub const fn config(&self) -> &MetricsConfig {
        &self.config
    }

    pub(crate) fn bump(&mut self, at: Timestamp, dims: &[Option<u32>], f: &dyn Fn(&mut Counters)) {
        let at = at.as_millis();
        for d in dims.iter().flatten() {
            if self.windows {
                self.fine.add(at, *d, f);
            }
            self.quarters.add(at, *d, f);
        }
    }

    /// The queue's dimension id and service-level threshold.
    pub(crate) fn queue(&mut self, tenant: &TenantId, queue: &QueueId) -> (u32, u64) {
        let default =
            u64::try_from(self.config.default_service_level.as_millis()).unwrap_or(u64::MAX);
        let k = key(&mut self.scratch, tenant, queue.as_str());
        if let Some((dim, threshold)) = self.queues.get(k) {
            return (*dim, threshold.unwrap_or(default));
        }
        let k = k.to_owned();
        let dim = self
            .dims
            .id(Dimension::queue(tenant.clone(), queue.clone()));
        self.queues.insert(k, (dim, None));
        (dim, default)
    }

    fn short_ms(&self) -> u64 {
        u64::try_from(self.config.short_abandon.as_millis()).unwrap_or(u64::MAX)
    }

    fn contact(&mut self, tenant: &TenantId, id: &InteractionId) -> &mut Contact {
        let k = key(&mut self.scratch, tenant, id.as_str());
        if !self.contacts.contains_key(k) {
            let k = k.to_owned();
            let dim = self.dims.id(Dimension::tenant_of(tenant.clone()));
            self.contacts.insert(k, Contact::new(dim));
        }
        let k = key(&mut self.scratch, tenant, id.as_str());
        self.contacts.get_mut(k).expect("inserted above")
    }

    fn all_dims(c: &Contact) -> [Option<u32>; 4] {
        [Some(c.tenant_dim), c.queue_dim, c.channel_dim, c.agent_dim]
    }

    /// The agent talking to the contact stops (a transfer another agent
    /// answers, or the end): the agent is credited now with one handled
    /// contact and its own talk and hold, which are added to the contact's
    /// totals; the queue, channel and tenant count the contact as handled
    /// once, with every agent's talk, when it ends. `false` when no agent was
    /// talking.
    fn hand_over(&mut self, tenant: &TenantId, id: &InteractionId, at: Timestamp) -> bool {
        let c = self.contact(tenant, id);
        let Some(connected) = c.connected_at.take() else {
            return false;
        };
        if let Some(h) = c.hold_since.take() {
            c.hold_ms += ms(at, h);
        }
        let hold = std::mem::take(&mut c.hold_ms);
        let talk = ms(at, connected).saturating_sub(hold);
        c.earlier_talk_ms += talk;
        c.earlier_hold_ms += hold;
        let agent = [c.agent_dim];
        self.bump(at, &agent, &|k| {
            k.handled += 1;
            k.talk_ms += talk;
            k.hold_ms += hold;
            k.held += u64::from(hold > 0);
        });
        true
    }

    /// Closes the contact's current wait in its queue.
    fn leave_queue(&mut self, tenant: &TenantId, id: &InteractionId, at: Timestamp, how: Leave) {
        let short = self.short_ms();
        let c = self.contact(tenant, id);
        let Some(since) = c.queued_at.take() else {
            return;
        };
        let wait = ms(at, since);
        let within = wait <= c.threshold_ms;
        let dims = [Some(c.tenant_dim), c.queue_dim, c.channel_dim];
        let per_channel = c.queue_channel_dim.zip(c.queue_channel_target.clone());
        self.leave_queue_channel(per_channel, since, at, how == Leave::Abandoned);
        match how {
            Leave::Abandoned => self.bump(at, &dims, &|k| {
                k.abandoned += 1;
                k.abandoned_wait_ms += wait;
                k.short_abandoned += u64::from(wait < short);
                k.abandoned_within_sl += u64::from(within);
                k.removed_within_sl += u64::from(within);
            }),
            Leave::Exited => self.bump(at, &dims, &|k| {
                k.exited += 1;
                k.removed_within_sl += u64::from(within);
            }),
        }
    }

    fn agent_track(
        &mut self,
        tenant: &TenantId,
        agent: &AgentId,
        at: Timestamp,
    ) -> &mut AgentTrack {
        let k = key(&mut self.scratch, tenant, agent.as_str());
        if !self.agents.contains_key(k) {
            let k = k.to_owned();
            let track = AgentTrack {
                tenant: tenant.clone(),
                agent: agent.clone(),
                tenant_dim: self.dims.id(Dimension::tenant_of(tenant.clone())),
                agent_dim: self
                    .dims
                    .id(Dimension::agent(tenant.clone(), agent.clone())),
                state: AgentState::Offline,
                since: at,
                entered: at,
                reachable: true,
            };
            self.agents.insert(k, track);
        }
        let k = key(&mut self.scratch, tenant, agent.as_str());
        self.agents.get_mut(k).expect("inserted above")
    }

    fn agent_dim(&mut self, tenant: &TenantId, agent: &AgentId, at: Timestamp) -> u32 {
        self.agent_track(tenant, agent, at).agent_dim
    }

    /// Adds the time agents spent in their current state up to `at`.
    fn close_agent_span(&mut self, agent_key: &str, at: Timestamp) {
        let Some(track) = self.agents.get_mut(agent_key) else {
            return;
        };
        if at <= track.since {
            return;
        }
        let (from, state, dims) = (
            track.since,
            track.state.clone(),
            [track.tenant_dim, track.agent_dim],
        );
        track.since = at;
        let width = self.fine.width_ms();
        let mut t = from.as_millis();
        let end = at.as_millis();
        while t < end {
            let next = ((t.div_euclid(width)) + 1) * width;
            let piece = u64::try_from(next.min(end) - t).unwrap_or(0);
            let f = |k: &mut Counters| match &state {
                AgentState::Available => k.available_ms += piece,
                AgentState::Reserved => k.reserved_ms += piece,
                AgentState::Busy => k.busy_ms += piece,
                AgentState::WrapUp => k.wrap_up_state_ms += piece,
                AgentState::NotReady(_) => k.not_ready_ms += piece,
                _ => {}
            };
            for d in dims {
                if self.windows {
                    self.fine.add(t, d, &f);
                }
                self.quarters.add(t, d, &f);
            }
            t = next;
        }
    }

    /// Brings agent state times up to `now` and drops expired buckets and
    /// contacts. Live callers do this before reading; a report replay does it
    /// at the end of the period.
    pub fn advance(&mut self, now: Timestamp) {
        let keys: Vec<_> = self.agents.keys().cloned().collect();
        for key in keys {
            self.close_agent_span(&key, now);
        }
        self.latest = self.latest.max(now);
        let now_ms = now.as_millis();
        if now_ms - self.last_prune >= QUARTER_MS {
            self.last_prune = now_ms;
            self.fine.prune(now_ms);
            self.quarters.prune(now_ms);
            self.contacts.retain(|_, c| {
                c.ended_at
                    .is_none_or(|e| now_ms - e.as_millis() < WRAP_UP_MEMORY_MS)
            });
        }
    }

    /// Folds one event.
    #[allow(clippy::too_many_lines)]
    pub fn apply(&mut self, event: &Event) {
        let at = event.at;
        let t = &event.tenant;
        self.latest = self.latest.max(at);
        match &event.kind {
            EventKind::InteractionCreated { interaction } => {
                let channel_dim = self
                    .dims
                    .id(Dimension::channel(t.clone(), interaction.channel));
                let c = self.contact(t, &interaction.id);
                c.channel = Some(interaction.channel);
                c.channel_dim = Some(channel_dim);
                let dims = [Some(c.tenant_dim), Some(channel_dim)];
                self.bump(at, &dims, &|k| k.arrived += 1);
            }
            EventKind::Queued {
                interaction, queue, ..
            } => {
                let (queue_dim, threshold) = self.queue(t, queue);
                if self.contact(t, interaction).queued_at.is_some() {
                    if self.contact(t, interaction).queue.as_ref() == Some(queue) {
                        return; // already waiting there
                    }
                    self.leave_queue(t, interaction, at, Leave::Exited);
                }
                let channel = self.contact(t, interaction).channel;
                let per_channel = channel.map(|ch| self.queue_channel(t, queue, ch));
                let c = self.contact(t, interaction);
                c.queue = Some(queue.clone());
                c.queue_dim = Some(queue_dim);
                c.queued_at = Some(at);
                c.threshold_ms = threshold;
                (c.queue_channel_dim, c.queue_channel_target) = per_channel.unzip();
                if !c.offered_in.contains(queue) {
                    c.offered_in.push(queue.clone());
                    let dims = [
                        Some(c.tenant_dim),
                        c.queue_dim,
                        c.channel_dim,
                        c.queue_channel_dim,
                    ];
                    self.bump(at, &dims, &|k| k.offered += 1);
                }
            }
            EventKind::Connected {
                interaction,
                agent,
                queue,
            } => {
                let agent_dim = self.agent_dim(t, agent, at);
                // a second Connected is a transfer: the first agent's part ends
                self.hand_over(t, interaction, at);
                let c = self.contact(t, interaction);
                c.agent_dim = Some(agent_dim);
                c.connected_at = Some(at);
                c.hold_since = None;
                c.hold_ms = 0;
                let Some(since) = c.queued_at.take() else {
                    return; // not from a queue (outbound): no answer to count
                };
                if c.answered_in.contains(queue) {
                    return;
                }
                c.answered_in.push(queue.clone());
                let wait = ms(at, since);
                let within = wait <= c.threshold_ms;
                let per_channel = c.queue_channel_dim.zip(c.queue_channel_target.clone());
                let dims = [
                    Some(c.tenant_dim),
                    c.queue_dim,
                    c.channel_dim,
                    Some(agent_dim),
                ];
                self.bump(at, &dims, &|k| {
                    k.answered += 1;
                    k.answered_wait_ms += wait;
                    k.answered_within_sl += u64::from(within);
                    k.removed_within_sl += u64::from(within);
                });
                self.answer_queue_channel(per_channel, since, at);
            }
            EventKind::Abandoned { interaction, .. } => {
                self.leave_queue(t, interaction, at, Leave::Abandoned);
            }
            EventKind::Overflowed { interaction, .. }
            | EventKind::QueueExited { interaction, .. } => {
                self.leave_queue(t, interaction, at, Leave::Exited);
            }
            EventKind::Held { interaction } => {
                let c = self.contact(t, interaction);
                c.hold_since.get_or_insert(at);
            }
            EventKind::Resumed { interaction } => {
                let c = self.contact(t, interaction);
                if let Some(h) = c.hold_since.take() {
                    c.hold_ms += ms(at, h);
                }
            }
            EventKind::Transferred { interaction, .. } => {
                let dims = Self::all_dims(self.contact(t, interaction));
                self.bump(at, &dims, &|k| k.transferred += 1);
            }
            EventKind::Ended {
                interaction,
                reason,
            } => {
                let how = if *reason == EndReason::Abandoned {
                    Leave::Abandoned
                } else {
                    Leave::Exited
                };
                self.leave_queue(t, interaction, at, how);
                let c = self.contact(t, interaction);
                c.ended_at = Some(at);
                if let Some(h) = c.hold_since.take() {
                    c.hold_ms += ms(at, h);
                }
                if self.hand_over(t, interaction, at) {
                    let c = self.contact(t, interaction);
                    let (talk, hold) = (c.earlier_talk_ms, c.earlier_hold_ms);
                    let contact = [
                        Some(c.tenant_dim),
                        c.queue_dim,
                        c.channel_dim,
                        c.queue_channel_dim,
                    ];
                    self.bump(at, &contact, &|k| {
                        k.handled += 1;
                        k.talk_ms += talk;
                        k.hold_ms += hold;
                        k.held += u64::from(hold > 0);
                    });
                }
            }
            EventKind::WrapUpStarted {
                interaction, agent, ..
            } => {
                let agent_dim = self.agent_dim(t, agent, at);
                let c = self.contact(t, interaction);
                c.agent_dim.get_or_insert(agent_dim);
                c.wrap_since = Some(at);
            }
            EventKind::WrapUpEnded { interaction, .. } => {
                let c = self.contact(t, interaction);
                if let Some(w) = c.wrap_since.take() {
                    let wrap = ms(at, w);
                    let dims = Self::all_dims(c);
                    self.bump(at, &dims, &|k| k.wrap_up_ms += wrap);
                }
            }
            EventKind::OfferEnded {
                interaction, agent, ..
            } => {
                let agent_dim = self.agent_dim(t, agent, at);
                let queue_dim = self.contact(t, interaction).queue_dim;
                self.bump(at, &[Some(agent_dim), queue_dim], &|k| k.offers_missed += 1);
            }
            EventKind::FlowStep {
                interaction,
                step,
                detail,
            } if step == "csat" => match detail.trim().parse::<u8>() {
                Ok(score @ 1..=5) => {
                    let dims = Self::all_dims(self.contact(t, interaction));
                    self.bump(at, &dims, &|k| {
                        k.csat_responses += 1;
                        k.csat_satisfied += u64::from(score >= 4);
                    });
                }
                _ => tracing::debug!(%interaction, "csat answer outside 1..=5 ignored"),
            },
            EventKind::AgentStateChanged { agent, to, .. } => {
                self.agent_track(t, agent, at);
                // The key is built in the scratch buffer, taken out for the
                // calls below (no allocation per event).
                let mut scratch = std::mem::take(&mut self.scratch);
                let k = key(&mut scratch, t, agent.as_str());
                self.close_agent_span(k, at);
                if let Some(track) = self.agents.get_mut(k) {
                    track.state = to.clone();
                    track.since = track.since.max(at);
                    track.entered = at;
                }
                self.scratch = scratch;
            }
            EventKind::AgentReachabilityChanged { agent, reachable } => {
                self.agent_track(t, agent, at).reachable = *reachable;
            }
            EventKind::AgentAdded { profile } => {
                self.agent_track(t, &profile.id, at);
            }
            EventKind::AgentRemoved { agent } => {
                let k = key(&mut self.scratch, t, agent.as_str()).to_owned();
                self.close_agent_span(&k, at);
                self.agents.remove(&k);
            }
            EventKind::QueueAdded { definition } => self.define_queue(t, definition),
            EventKind::DialAttempted {
                campaign,
                disposition,
                ..
            } => {
                let dim = self
                    .dims
                    .id(Dimension::campaign(t.clone(), campaign.clone()));
                let kind = DialOutcome::of(disposition);
                self.bump(at, &[Some(dim)], &|k| {
                    k.dial_attempts += 1;
                    match kind {
                        DialOutcome::Person => k.dial_answered_person += 1,
                        DialOutcome::Machine => k.dial_machine += 1,
                        DialOutcome::NotReached => k.dial_not_reached += 1,
                        DialOutcome::Abandoned => k.dial_abandoned += 1,
                        DialOutcome::Agent => k.dial_agent_disposition += 1,
                    }
                });
            }
            _ => {}
        }
    }

    /// Folds events in order.
    pub fn apply_all<'a>(&mut self, events: impl IntoIterator<Item = &'a Event>) {
        for e in events {
            self.apply(e);
        }
    }

    /// The counters of `dim` over `from <= t < to`, summed from the 15-minute
    /// buckets (both ends are rounded down to a quarter hour).
    #[must_use]
    pub fn totals(&self, dim: &Dimension, from: Timestamp, to: Timestamp) -> Counters {
        self.dims.lookup(dim).map_or_else(Counters::default, |id| {
            self.quarters.sum(
                id,
                self.quarters.start_of(from.as_millis()),
                self.quarters.start_of(to.as_millis()),
            )
        })
    }

    /// The counters of `dim` over the sliding window of length `window` that
    /// ends at `now` (whole fine buckets, the current one included).
    #[must_use]
    pub fn window(&self, dim: &Dimension, now: Timestamp, window: Duration) -> Counters {
        let width = self.fine.width_ms();
        let len = i64::try_from(window.as_millis())
            .unwrap_or(i64::MAX)
            .max(width);
        let end = self.fine.start_of(now.as_millis()) + width;
        self.dims.lookup(dim).map_or_else(Counters::default, |id| {
            self.fine.sum(id, end - (len / width) * width, end)
        })
    }

    /// Local midnight (per the configured UTC offset) at or before `now`.
    #[must_use]
    pub fn midnight(&self, now: Timestamp) -> Timestamp {
        let off = self.config.offset_ms();
        let day = 86_400_000;
        Timestamp::from_millis((now.as_millis() + off).div_euclid(day) * day - off)
    }

    /// The counters of `dim` since local midnight, up to and including `now`'s
    /// quarter hour.
    #[must_use]
    pub fn since_midnight(&self, dim: &Dimension, now: Timestamp) -> Counters {
        let end = Timestamp::from_millis(self.quarters.start_of(now.as_millis()) + QUARTER_MS);
        self.totals(dim, self.midnight(now), end)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Leave {
    Abandoned,
    Exited,
}

#[derive(Debug, Clone, Copy)]
enum DialOutcome {
    Person,
    Machine,
    NotReached,
    Abandoned,
    Agent,
}

impl DialOutcome {
    fn of(d: &Disposition) -> Self {
        match d {
            Disposition::AnsweredPerson => Self::Person,
            Disposition::AnsweringMachine => Self::Machine,
            Disposition::Abandoned => Self::Abandoned,
            Disposition::Agent(_) => Self::Agent,
            _ => Self::NotReached,
        }
    }
}
