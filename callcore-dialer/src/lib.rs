//! # callcore-dialer
//!
//! Outbound campaigns for callcore: leads imported from CSV with E.164
//! numbers, do-not-call lists, calling windows in each lead's time zone,
//! retries per disposition, and a sans-IO [`Pacer`] that dials in preview,
//! progressive, power or predictive mode while keeping the abandonment rate
//! under the regulator's cap (3% of calls answered by a person over a rolling
//! 30 days in the US) and playing a safe-harbor message to anyone no agent can
//! take within 2 s.
//!
//! * [`rules`]: campaign configuration, lead import, DNC, windows, retries,
//!   dispositions from SIP responses and SIT tones, the [`LeadBook`](rules::LeadBook).
//! * [`pacer`]: the state machine (`handle_input`, `handle_timeout`,
//!   `poll_output`, `poll_timeout`) and what it measures.
//! * [`strategy`]: the [`PacingStrategy`] trait and the four built-in modes.
//! * [`sim`]: a seeded discrete-event simulation of a campaign day.
//! * [`media`]: energy/cadence answering-machine detection and SIT screening
//!   over callcore-media's detectors.
//! * [`runner`]: tokio glue placing the pacer's calls through a
//!   [`callcore::Transport`], handing the people who answer to a callcore
//!   `Center` (its router picks the agent) and recording every attempt in a
//!   [`callcore::CampaignStore`].
//!
//! ## Driving the pacer
//!
//! ```
//! use callcore::{DialMode, Disposition, Timestamp};
//! use callcore_dialer::rules::{import_csv, CallingWindows, CampaignConfig, DncLists, ImportSettings, LeadBook};
//! use callcore_dialer::{AnsweredBy, Pacer, PacerInput, PacerOutput, strategy_for};
//!
//! let mut config = CampaignConfig::new("renewals", DialMode::Progressive);
//! config.windows = CallingWindows::always();
//! let dnc = DncLists::default();
//! let report = import_csv("phone\n+1 415 555 0100\n+1 415 555 0101\n", &ImportSettings {
//!     tenant: config.tenant.clone(), campaign: config.id.clone(),
//!     number_plan: &config.number_plan, dnc: &dnc,
//! })?;
//! let mut book = LeadBook::new(config, dnc);
//! book.add_imported(report.leads)?;
//! let mut pacer = Pacer::new(book, strategy_for(DialMode::Progressive).expect("agent mode"));
//!
//! let now = Timestamp::from_secs(1_767_632_400);
//! pacer.handle_input(PacerInput::AgentReady("alice".into()), now);
//! let Some(PacerOutput::Dial(order)) = pacer.poll_output() else { panic!("expected a dial") };
//! assert_eq!(order.phone.expose(), "+14155550100");
//! assert_eq!(order.agent.as_ref().map(|a| a.as_str()), Some("alice"));
//!
//! // The far end answered; AMD says it is a person: connect it to Alice.
//! pacer.handle_input(PacerInput::CallAnswered { call: order.call, by: AnsweredBy::Person }, now);
//! assert!(std::iter::from_fn(|| pacer.poll_output())
//!     .any(|o| matches!(o, PacerOutput::Connect { .. })));
//! # Ok::<(), callcore_dialer::DialerError>(())
//! ```

mod error;
pub mod rules;

pub use error::DialerError;
pub mod media;
pub mod pacer;
pub mod runner;
pub mod sim;
pub mod strategy;

pub use media::{AnswerClassifier, AssumePerson, Classification};
pub use pacer::{
    AnsweredBy, CallId, DialOrder, Pacer, PacerCounters, PacerInput, PacerOutput, PacingSnapshot,
};
pub use runner::{CampaignRunner, RunSummary};
pub use strategy::{LineAssignment, PacingStrategy, strategy_for};
