//! The sans-IO pacer: one campaign's dialing state machine.
//!
//! Feed it agent states and call progress with [`Pacer::handle_input`], let
//! time pass with [`Pacer::handle_timeout`], and drain what it wants done with
//! [`Pacer::poll_output`]: dial a lead, show a preview, connect an answered call
//! to an agent, play the safe-harbor message to a person no agent could take in
//! time, and store attempts and leads. [`Pacer::poll_timeout`] says when it next
//! needs the time. No sockets, no clock, no tasks: the tokio glue
//! ([`crate::runner`]) and the simulator ([`crate::sim`]) drive the same code.

mod snapshot;
mod stats;

pub use snapshot::{AbandonmentStatus, AgentCounts, BusyAgent, Forecast, PacingSnapshot};
pub use stats::{AbandonmentLedger, CampaignStats, Empirical};

use crate::rules::{CampaignConfig, LeadBook, LeadTicket};
use crate::strategy::PacingStrategy;
use callcore::{AgentId, DialAttempt, Disposition, InteractionId, Lead, LeadId, Pii, Timestamp};
use std::collections::{BTreeMap, BTreeSet, HashSet, VecDeque};
use std::fmt;
use std::time::Duration;

/// One dial attempt's id within a pacer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CallId(pub u64);

impl fmt::Display for CallId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "call-{}", self.0)
    }
}

/// Who answered, as answering-machine detection (callcore-media) decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AnsweredBy {
    /// A person.
    Person,
    /// An answering machine or voicemail.
    Machine,
}

/// What happened, told to the pacer.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum PacerInput {
    /// The agent is logged in and ready (also: wrap-up finished).
    AgentReady(AgentId),
    /// The agent logged out or went not-ready (after the current call, if any).
    AgentAway(AgentId),
    /// The line was answered.
    CallAnswered {
        /// The line.
        call: CallId,
        /// By whom.
        by: AnsweredBy,
    },
    /// The line ended before an answer.
    CallFailed {
        /// The line.
        call: CallId,
        /// Why (from SIP status, hang-up cause or SIT: see [`crate::rules`]).
        disposition: Disposition,
    },
    /// A call answered by a person ended (either side hung up); a connected
    /// agent goes to wrap-up.
    CallEnded(CallId),
    /// The agent chose to call the previewed lead.
    PreviewAccepted(AgentId),
    /// The agent skipped the previewed lead.
    PreviewSkipped(AgentId),
    /// External routing: the ACD connected the answered call to this agent.
    CallConnected {
        /// The line.
        call: CallId,
        /// The agent the router chose.
        agent: AgentId,
    },
    /// External routing: the agent took other work (an offer rings, an
    /// inbound call, another campaign's call) and is not free.
    AgentBusy(AgentId),
    /// External routing: the agent's interaction ended and after-call work
    /// began.
    AgentWrapUp(AgentId),
}

/// A line to dial.
#[derive(Debug, Clone, PartialEq)]
pub struct DialOrder {
    /// The line's id, used in every later input about it.
    pub call: CallId,
    /// The interaction id to give the call.
    pub interaction: InteractionId,
    /// The lead.
    pub lead: LeadId,
    /// Its E.164 number.
    pub phone: Pii<String>,
    /// Which attempt on this lead.
    pub attempt: u32,
    /// The caller id to present.
    pub caller_id: String,
    /// How long to let it ring (never below the minimum ring time).
    pub ring_timeout: Duration,
    /// The agent reserved for it (progressive, preview).
    pub agent: Option<AgentId>,
}

/// What the pacer wants done.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum PacerOutput {
    /// Place this call.
    Dial(DialOrder),
    /// Show the agent this lead; answer with `PreviewAccepted` or `PreviewSkipped`.
    Preview {
        /// The agent.
        agent: AgentId,
        /// The lead.
        lead: LeadId,
    },
    /// Bridge the answered call to the agent.
    Connect {
        /// The call.
        call: CallId,
        /// The agent.
        agent: AgentId,
    },
    /// No agent was free in time: play this message and hang up.
    SafeHarbor {
        /// The call.
        call: CallId,
        /// The message (identifies the caller and how to opt out).
        message: String,
    },
    /// External routing: hand the person who answered to the ACD (the
    /// campaign's queue); report [`PacerInput::CallConnected`] when an agent
    /// takes them, or [`PacerInput::CallEnded`] when none did within
    /// the abandonment rule's connect time (the ACD side plays the
    /// safe-harbor message then) or the person hung up first.
    Route {
        /// The call.
        call: CallId,
        /// The agent the pacer reserved for it (progressive, preview), to prefer.
        preferred_agent: Option<AgentId>,
    },
    /// Hang up (an answering machine on an agent campaign).
    HangUp(CallId),
    /// Play this message, then hang up and report `CallEnded` (agentless
    /// notification campaigns).
    PlayMessage {
        /// The call.
        call: CallId,
        /// The message.
        message: String,
    },
    /// Store this attempt.
    Attempt(DialAttempt),
    /// Store this lead's new state.
    LeadUpdated(Lead),
}

#[derive(Debug, Clone)]
enum AgentSlot {
    Idle(Timestamp),
    Reserved(CallId),
    Previewing(LeadTicket),
    Talking(Timestamp),
    WrapUp(Timestamp),
    Away,
}

#[derive(Debug, Clone)]
enum CallState {
    Ringing,
    Playing,
    Waiting,
    Connected(AgentId),
}

#[derive(Debug, Clone)]
struct Call {
    lead: LeadId,
    started: Timestamp,
    reserved: Option<AgentId>,
    state: CallState,
}

/// Running totals, for reports and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PacerCounters {
    /// Lines dialed.
    pub dialed: u64,
    /// Attempts answered by a person.
    pub answered_by_person: u64,
    /// Of which connected to an agent.
    pub connected: u64,
    /// Of which abandoned.
    pub abandoned: u64,
    /// Attempts answered by a machine.
    pub machines: u64,
    /// Attempts that failed before answer.
    pub failed: u64,
}

/// One campaign's pacer (see the module documentation).
pub struct Pacer {
    config: CampaignConfig,
    book: LeadBook,
    strategy: Box<dyn PacingStrategy>,
    stats: CampaignStats,
    answer_prior: f64,
    tick: Duration,
    agents: BTreeMap<AgentId, AgentSlot>,
    leaving: HashSet<AgentId>,
    idle: BTreeSet<(Timestamp, AgentId)>,
    calls: BTreeMap<CallId, Call>,
    waiting: VecDeque<CallId>,
    deadlines: BTreeSet<(Timestamp, CallId)>,
    outputs: VecDeque<PacerOutput>,
    next_call: u64,
    /// Distinguishes this run's interaction ids from other runs' (see
    /// [`Pacer::set_run_id`]).
    run_id: Option<String>,
    next_tick: Option<Timestamp>,
    running: bool,
    external_routing: bool,
    counters: PacerCounters,
    ring_ages: Vec<Duration>,
    busy: Vec<BusyAgent>,
}

impl fmt::Debug for Pacer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pacer")
            .field("campaign", &self.config.id)
            .field("strategy", &self.strategy.name())
            .field("calls", &self.calls.len())
            .field("counters", &self.counters)
            .finish_non_exhaustive()
    }
}

impl Pacer {
    /// Makes this run's interaction ids `{campaign}-{run}-{n}` instead of
    /// `{campaign}-{n}`, so that a restarted campaign (or the same campaign on
    /// another node) never reuses an earlier run's ids: the runner passes a
    /// fresh id from its [`IdSource`](callcore::IdSource).
    pub fn set_run_id(&mut self, run: impl Into<String>) {
        self.run_id = Some(run.into());
    }

    /// A pacer over `book`'s leads and rules, deciding with `strategy`.
    #[must_use]
    pub fn new(book: LeadBook, strategy: Box<dyn PacingStrategy>) -> Self {
        let config = book.config().clone();
        Self {
            stats: CampaignStats::new(config.abandonment.period, 300),
            config,
            book,
            strategy,
            answer_prior: 0.3,
            tick: Duration::from_secs(1),
            agents: BTreeMap::new(),
            leaving: HashSet::new(),
            idle: BTreeSet::new(),
            calls: BTreeMap::new(),
            waiting: VecDeque::new(),
            deadlines: BTreeSet::new(),
            outputs: VecDeque::new(),
            next_call: 0,
            run_id: None,
            next_tick: None,
            running: true,
            external_routing: false,
            counters: PacerCounters::default(),
            ring_ages: Vec::new(),
            busy: Vec::new(),
        }
    }

    /// Sets the answer probability assumed before any is measured (0.3).
    pub fn set_answer_prior(&mut self, p: f64) {
        self.answer_prior = p.clamp(0.0, 1.0);
    }

    /// Sets how often the pacer re-decides when nothing happens (1 s).
    pub fn set_tick(&mut self, tick: Duration) {
        self.tick = tick.max(Duration::from_millis(10));
    }

    /// Lets an ACD connect answered calls to agents (off by default: the
    /// pacer picks the agent and emits [`PacerOutput::Connect`]). With it on,
    /// a person who answers leads to [`PacerOutput::Route`], the pacer learns
    /// the outcome from [`PacerInput::CallConnected`] or
    /// [`PacerInput::CallEnded`], and agents' states come from the ACD
    /// ([`PacerInput::AgentReady`], [`PacerInput::AgentBusy`],
    /// [`PacerInput::AgentWrapUp`], [`PacerInput::AgentAway`]) — the pacer's
    /// view of who is free or about to be, for pacing only.
    pub fn set_external_routing(&mut self, on: bool) {
        self.external_routing = on;
    }

    /// Stops or resumes dialing; calls in progress finish normally.
    pub fn set_running(&mut self, running: bool) {
        self.running = running;
    }

    /// The lead book.
    #[must_use]
    pub fn leads(&self) -> &LeadBook {
        &self.book
    }

    /// Mutable lead book (add leads while running).
    pub fn leads_mut(&mut self) -> &mut LeadBook {
        &mut self.book
    }

    /// Measurements so far.
    #[must_use]
    pub fn stats(&self) -> &CampaignStats {
        &self.stats
    }

    /// Totals so far.
    #[must_use]
    pub fn counters(&self) -> PacerCounters {
        self.counters
    }

    /// Lines ringing, waiting for an agent or connected.
    #[must_use]
    pub fn calls_in_progress(&self) -> usize {
        self.calls.len()
    }

    /// How the strategy assigns lines to agents.
    #[must_use]
    pub fn assignment(&self) -> crate::strategy::LineAssignment {
        self.strategy.assignment()
    }

    /// The strategy's name.
    #[must_use]
    pub fn strategy_name(&self) -> &'static str {
        self.strategy.name()
    }

    /// The next thing to do, if any.
    pub fn poll_output(&mut self) -> Option<PacerOutput> {
        self.outputs.pop_front()
    }

    /// When [`Self::handle_timeout`] must next be called.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Timestamp> {
        let deadline = self.deadlines.first().map(|(t, _)| *t);
        [deadline, self.next_tick].into_iter().flatten().min()
    }

    /// Tells the pacer what happened at `now`.
    pub fn handle_input(&mut self, input: PacerInput, now: Timestamp) {
        match input {
            PacerInput::AgentReady(agent) => self.agent_ready(agent, now),
            PacerInput::AgentAway(agent) => self.agent_away(&agent, now),
            PacerInput::CallAnswered { call, by } => self.answered(call, by, now),
            PacerInput::CallFailed { call, disposition } => self.failed(call, disposition, now),
            PacerInput::CallEnded(call) => self.ended(call, now),
            PacerInput::PreviewAccepted(agent) => self.preview_accepted(&agent, now),
            PacerInput::PreviewSkipped(agent) => self.preview_skipped(&agent, now),
            PacerInput::CallConnected { call, agent } => self.routed(call, agent, now),
            PacerInput::AgentBusy(agent) => self.agent_busy(&agent, now),
            PacerInput::AgentWrapUp(agent) => self.agent_wrap_up(&agent, now),
        }
        self.pace(now);
    }

    /// Lets time pass to `now`: abandons people who waited too long, re-paces.
    pub fn handle_timeout(&mut self, now: Timestamp) {
        while let Some(&(t, call)) = self.deadlines.first() {
            if t > now {
                break;
            }
            self.deadlines.pop_first();
            self.waiting.retain(|c| *c != call);
            if let Some(c) = self.calls.remove(&call) {
                if matches!(c.state, CallState::Waiting) {
                    self.outputs.push_back(PacerOutput::SafeHarbor {
                        call,
                        message: self.config.safe_harbor_message.clone(),
                    });
                    self.person_outcome(call, (c.lead, c.started), true, now);
                } else {
                    self.calls.insert(call, c);
                }
            }
        }
        if self.next_tick.is_some_and(|t| t <= now) {
            self.next_tick = None;
        }
        self.pace(now);
    }
}

mod external;
mod machine;

#[cfg(test)]
mod tests;

#[cfg(test)]
mod external_tests;
