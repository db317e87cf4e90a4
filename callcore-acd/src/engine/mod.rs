//! The ACD engine: a sans-IO state machine (inputs and time in, decisions out).

mod agent_control;
mod agents;
mod dispatch;
mod offers;
mod persist;
pub(crate) mod pool;
mod queues;
mod small;
mod snapshot;
pub(crate) mod state;
mod waiting;

pub use offers::ReservationState;
pub use persist::EngineState;
pub use snapshot::{AgentStatus, QueueStatus, WaitingStatus};

use crate::{AcdConfig, AcdError, StrategyRegistry};
use callcore::{
    AgentId, AgentProfile, AgentState, CustomerId, InteractionId, OfferEnd, QueueDefinition,
    QueueId, ReservationId, RoutingDecision, RoutingRequest, SeededRng, Timestamp,
};
/// The engine's id maps: foldhash, the hasher of the whole workspace (fast on
/// short string ids, randomly seeded per map like std's). No routing decision
/// depends on a map's iteration order.
pub(crate) type FastMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;
use state::{AgentSlot, Lane, QueueSlot, ResSlot, Slab, Timer, TimerKey, Tracked, WaitSlot};
use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

/// Reason code of agents put not-ready after too many missed offers.
pub const MISSED_OFFERS_REASON: &str = "missed_offers";

/// The production ACD engine (see the crate docs).
///
/// Feed it inputs with the current time ([`enqueue`](Self::enqueue),
/// [`set_agent_state`](Self::set_agent_state), [`offer_accepted`](Self::offer_accepted),
/// [`offer_declined`](Self::offer_declined), [`offer_timed_out`](Self::offer_timed_out),
/// [`abandon`](Self::abandon), [`interaction_ended`](Self::interaction_ended), …),
/// call [`tick`](Self::tick) when [`next_timeout`](Self::next_timeout) passes, and
/// drain [`poll_decision`](Self::poll_decision). It also implements
/// [`callcore::Router`], so a `Center` drives it directly.
#[derive(Debug)]
pub struct AcdEngine {
    pub(crate) config: AcdConfig,
    pub(crate) registry: StrategyRegistry,
    pub(crate) rng: SeededRng,
    pub(crate) agents: Slab<AgentSlot>,
    pub(crate) agent_ids: FastMap<AgentId, u32>,
    pub(crate) queues: Vec<Option<QueueSlot>>,
    pub(crate) queue_ids: FastMap<QueueId, u32>,
    pub(crate) lanes: Vec<Option<Lane>>,
    pub(crate) waits: Slab<WaitSlot>,
    /// Every interaction the engine knows, waiting or accepted.
    pub(crate) interactions: FastMap<InteractionId, Tracked>,
    pub(crate) reservations: Slab<ResSlot>,
    pub(crate) last_agent: FastMap<CustomerId, AgentId>,
    pub(crate) timers: BTreeMap<TimerKey, Timer>,
    /// Offer expiries in time order (the common case: one timeout per queue,
    /// time moving forward), resolved ones popped from either end.
    pub(crate) offer_timers: VecDeque<(TimerKey, u32)>,
    /// Per agent slot: the stamp its current pool entries carry.
    pub(crate) stamps: Vec<u32>,
    /// Reused buffer for minting reservation ids.
    pub(crate) id_buf: String,
    pub(crate) decisions: VecDeque<RoutingDecision>,
    pub(crate) seq: u64,
    /// Fencing epoch: 0 for a fresh engine, one more than the snapshot's for
    /// a restored one.
    pub(crate) epoch: u64,
    /// A newer epoch exists: this engine no longer offers anything.
    pub(crate) fenced: Option<u64>,
    pub(crate) next_order: u64,
}

impl Default for AcdEngine {
    fn default() -> Self {
        Self::new(AcdConfig::default())
    }
}

impl AcdEngine {
    /// An empty engine with the built-in strategies.
    #[must_use]
    pub fn new(config: AcdConfig) -> Self {
        Self::with_strategies(config, StrategyRegistry::builtin())
    }

    /// An empty engine with the given strategies (built-ins plus your own).
    #[must_use]
    pub fn with_strategies(config: AcdConfig, registry: StrategyRegistry) -> Self {
        Self {
            rng: SeededRng::new(config.seed),
            config,
            registry,
            agents: Slab::default(),
            agent_ids: FastMap::default(),
            queues: Vec::new(),
            queue_ids: FastMap::default(),
            lanes: Vec::new(),
            waits: Slab::default(),
            interactions: FastMap::default(),
            reservations: Slab::default(),
            last_agent: FastMap::default(),
            timers: BTreeMap::new(),
            offer_timers: VecDeque::new(),
            stamps: Vec::new(),
            id_buf: String::new(),
            decisions: VecDeque::new(),
            seq: 0,
            epoch: 0,
            fenced: None,
            next_order: 0,
        }
    }

    /// The engine's settings.
    #[must_use]
    pub fn config(&self) -> &AcdConfig {
        &self.config
    }

    /// Adds an agent (logged out), or updates the profile of a known one,
    /// keeping its state.
    ///
    /// # Errors
    /// Only [`AcdError::Fenced`] (see [`AcdEngine::fence`]: every input of a
    /// fenced engine fails so).
    pub fn add_agent(&mut self, profile: AgentProfile, now: Timestamp) -> Result<(), AcdError> {
        self.check_fence()?;
        self.add_agent_impl(profile, now);
        Ok(())
    }

    /// Removes an agent (logging it out first).
    ///
    /// # Errors
    /// The engine is fenced ([`AcdEngine::fence`]; every input fails so),
    /// unknown agent, or an agent still handling interactions.
    pub fn remove_agent(&mut self, agent: &AgentId, now: Timestamp) -> Result<(), AcdError> {
        self.check_fence()?;
        self.remove_agent_impl(agent, now)
    }

    /// The agent (or a supervisor) asks for `available`, `not_ready(reason)` or
    /// `offline`. While the agent handles interactions the request takes
    /// effect when they end; pending offers are rescinded.
    ///
    /// # Errors
    /// Unknown agent, a state that cannot be requested, or a change the agent
    /// state machine forbids.
    pub fn set_agent_state(
        &mut self,
        agent: &AgentId,
        state: AgentState,
        now: Timestamp,
    ) -> Result<(), AcdError> {
        self.check_fence()?;
        self.set_presence(agent, state, now)
    }

    /// Adds or replaces a queue.
    ///
    /// # Errors
    /// Unknown strategy, or escalation steps out of order.
    pub fn add_queue(&mut self, def: QueueDefinition, now: Timestamp) -> Result<(), AcdError> {
        self.check_fence()?;
        self.add_queue_impl(def, now)
    }

    /// Removes a queue; interactions waiting in it time out.
    ///
    /// # Errors
    /// Unknown queue.
    pub fn remove_queue(&mut self, queue: &QueueId, now: Timestamp) -> Result<(), AcdError> {
        self.check_fence()?;
        self.remove_queue_impl(queue, now)
    }

    /// An interaction enters a queue. A refusal (unknown queue, full, no
    /// agents) is a [`RoutingDecision::Rejected`], not an error.
    ///
    /// # Errors
    /// The interaction is already routed, or an attribute (`head_start_secs`)
    /// is malformed.
    pub fn enqueue(&mut self, request: RoutingRequest, now: Timestamp) -> Result<(), AcdError> {
        self.check_fence()?;
        self.enqueue_impl(request, now)
    }

    /// The customer hung up. Pending offers are canceled. Unknown or already
    /// answered interactions are ignored.
    pub fn abandon(&mut self, interaction: &InteractionId, now: Timestamp) {
        if self.fenced.is_some() {
            return;
        }
        self.abandon_impl(interaction, now);
    }

    /// The customer asked to be called back: the interaction keeps its place
    /// (and no longer times out for patience); the agent it is offered to
    /// calls the customer.
    ///
    /// # Errors
    /// The interaction is not waiting.
    pub fn request_callback(
        &mut self,
        interaction: &InteractionId,
        _now: Timestamp,
    ) -> Result<(), AcdError> {
        self.check_fence()?;
        let w = self
            .wait_of(interaction)
            .ok_or_else(|| AcdError::UnknownInteraction(interaction.clone()))?;
        let timer = self.waits.get_mut(w).and_then(|slot| {
            slot.callback = true;
            slot.max_wait_timer.take()
        });
        if let Some(t) = timer {
            self.timers.remove(&t);
        }
        Ok(())
    }

    /// Whether the interaction is a callback request.
    #[must_use]
    pub fn is_callback(&self, interaction: &InteractionId) -> bool {
        self.wait_of(interaction)
            .and_then(|w| self.waits.get(w))
            .is_some_and(|w| w.callback)
    }

    /// The agent accepted the offer.
    ///
    /// # Errors
    /// Unknown or already resolved reservation.
    pub fn offer_accepted(
        &mut self,
        reservation: &ReservationId,
        now: Timestamp,
    ) -> Result<(), AcdError> {
        self.check_fence()?;
        self.accept_impl(reservation, now)
    }

    /// The agent declined the offer.
    ///
    /// # Errors
    /// Unknown or already resolved reservation.
    pub fn offer_declined(
        &mut self,
        reservation: &ReservationId,
        now: Timestamp,
    ) -> Result<(), AcdError> {
        self.check_fence()?;
        self.offer_failed(reservation, OfferEnd::Declined, now)
    }

    /// The offer rang out without an answer.
    ///
    /// # Errors
    /// Unknown or already resolved reservation.
    pub fn offer_timed_out(
        &mut self,
        reservation: &ReservationId,
        now: Timestamp,
    ) -> Result<(), AcdError> {
        self.check_fence()?;
        self.offer_failed(reservation, OfferEnd::TimedOut, now)
    }

    /// The offer ended without the agent taking it, for the given reason.
    ///
    /// # Errors
    /// Unknown or already resolved reservation.
    pub fn offer_failed(
        &mut self,
        reservation: &ReservationId,
        outcome: OfferEnd,
        now: Timestamp,
    ) -> Result<(), AcdError> {
        self.check_fence()?;
        let r = self
            .find_reservation(reservation)
            .ok_or_else(|| AcdError::UnknownReservation(reservation.clone()))?;
        self.end_offer(r, outcome, now);
        Ok(())
    }

    /// The conversation is over: after-call work starts (the wrap-up of the
    /// queue the interaction came from), then the agent is free again.
    ///
    /// # Errors
    /// Unknown interaction, or one handled by another agent.
    pub fn interaction_ended(
        &mut self,
        interaction: &InteractionId,
        agent: &AgentId,
        now: Timestamp,
    ) -> Result<(), AcdError> {
        self.check_fence()?;
        self.interaction_ended_impl(interaction, agent, now)
    }

    /// Fires everything due at `now`: offer timeouts, wrap-up and delay ends,
    /// maximum waits, escalation steps, sticky waits.
    pub fn tick(&mut self, now: Timestamp) {
        if self.fenced.is_some() {
            return;
        }
        loop {
            let tree = self.timers.first_key_value().map(|(k, t)| (*k, *t));
            let fifo = self.offer_timers.front().copied();
            let (key, timer) = match (tree, fifo) {
                (Some(t), Some((fk, r))) if fk < t.0 => (fk, Timer::OfferExpiry(r)),
                (None, Some((fk, r))) => (fk, Timer::OfferExpiry(r)),
                (Some(t), _) => t,
                (None, None) => break,
            };
            if key.0 > now {
                break;
            }
            if fifo.is_some_and(|f| f.0 == key) {
                self.offer_timers.pop_front();
            } else {
                self.timers.remove(&key);
            }
            self.fire(timer, key, now);
        }
    }

    /// When [`tick`](Self::tick) must next be called.
    #[must_use]
    pub fn next_timeout(&self) -> Option<Timestamp> {
        let tree = self.timers.first_key_value().map(|(k, _)| k.0);
        let fifo = self.offer_timers.front().map(|(k, _)| k.0);
        match (tree, fifo) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Schedules the expiry of reservation `r`.
    pub(crate) fn add_offer_timer(&mut self, key: TimerKey, r: u32) -> bool {
        if self.offer_timers.back().is_none_or(|b| b.0 <= key) {
            self.offer_timers.push_back((key, r));
            true
        } else {
            self.timers.insert(key, Timer::OfferExpiry(r));
            false
        }
    }

    /// Forgets the expiry of a resolved reservation (its slot is gone).
    pub(crate) fn cancel_offer_timer(&mut self, key: TimerKey, in_fifo: bool) {
        if !in_fifo {
            self.timers.remove(&key);
            return;
        }
        let live =
            |s: &Self, e: &(TimerKey, u32)| s.reservations.get(e.1).is_some_and(|r| r.timer == e.0);
        while self.offer_timers.back().is_some_and(|e| !live(self, e)) {
            self.offer_timers.pop_back();
        }
        while self.offer_timers.front().is_some_and(|e| !live(self, e)) {
            self.offer_timers.pop_front();
        }
    }

    /// The next decision, if any.
    pub fn poll_decision(&mut self) -> Option<RoutingDecision> {
        self.decisions.pop_front()
    }

    /// Decisions not yet drained.
    #[must_use]
    pub fn pending_decisions(&self) -> usize {
        self.decisions.len()
    }

    /// Discards every pending decision (benchmarks, simulators that do not
    /// need them).
    pub fn clear_decisions(&mut self) {
        self.decisions.clear();
    }

    /// The slot of a waiting (or ringing) interaction.
    pub(crate) fn wait_of(&self, interaction: &InteractionId) -> Option<u32> {
        match self.interactions.get(interaction) {
            Some(Tracked::Waiting(w)) => Some(*w),
            _ => None,
        }
    }

    /// The slot of a pending reservation. Reservation ids end in `.<slot>`,
    /// so no map is needed; the id itself is checked.
    pub(crate) fn find_reservation(&self, id: &ReservationId) -> Option<u32> {
        let (_, tail) = id.as_str().rsplit_once('.')?;
        let r: u32 = tail.parse().ok()?;
        let slot = self.reservations.get(r)?;
        (std::ptr::eq(slot.id.as_str(), id.as_str()) || slot.id == *id).then_some(r)
    }

    pub(crate) fn add_timer(&mut self, at: Timestamp, timer: Timer) -> TimerKey {
        self.seq += 1;
        let key = (at, self.seq);
        self.timers.insert(key, timer);
        key
    }

    pub(crate) fn cancel_timer(&mut self, key: Option<TimerKey>) {
        if let Some(k) = key {
            self.timers.remove(&k);
        }
    }

    fn fire(&mut self, timer: Timer, key: TimerKey, now: Timestamp) {
        match timer {
            Timer::OfferExpiry(r) => {
                if self.reservations.get(r).is_some_and(|s| s.timer == key) {
                    self.end_offer(r, OfferEnd::TimedOut, now);
                }
            }
            Timer::WrapUpEnd(a) => self.end_wrap_up_impl(a, now),
            Timer::DelayEnd(a) => {
                if let Some(slot) = self.agents.get_mut(a) {
                    slot.delay = None;
                }
                self.refresh_agent(a, now);
                self.route_agent(a, now);
            }
            Timer::MaxWait(w) => self.max_wait_reached(w, now),
            Timer::Escalation(w) => self.escalation_due(w, now),
            Timer::StickyEnd(w) => self.sticky_ended(w, now),
        }
    }
}

pub(crate) fn secs(s: u32) -> Duration {
    Duration::from_secs(u64::from(s))
}
