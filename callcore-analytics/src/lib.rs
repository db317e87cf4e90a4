//! # callcore-analytics
//!
//! Call-center metrics from callcore's event stream, live and historical.
//!
//! - [`MetricsEngine`] folds [`callcore::Event`]s into counters per 15-minute
//!   (and finer) bucket and per [`Dimension`] (tenant, queue, agent, channel,
//!   campaign): offered, answered, abandoned and short abandons, answer rate,
//!   service level by a named [`ServiceLevelFormula`], ASA, AHT, talk, hold
//!   and after-call work, occupancy, CSAT; [`MetricsEngine::snapshot`] adds
//!   contacts waiting, longest wait and agents by state, since midnight and
//!   over sliding windows. The README defines every metric.
//! - [`report`]: interval reports (15 minutes, hour, day) built by replaying a
//!   journal through the same engine, so they equal the live figures; CSV and
//!   JSON export.
//! - [`queue_log`]: an Asterisk-style `queue_log` flat journal.
//! - [`prometheus`]: the text exposition of a live snapshot.
//! - [`quality`]: quality-inspection rules over transcripts and call events,
//!   live alerts and scores.
//! - [`coaching`]: per-agent scorecards over a period from the records'
//!   quality results against the team's, coaching items from them, and the
//!   review flags of a new agent's first scored calls.
//!
//! ```
//! use callcore::{Event, EventKind, Timestamp};
//! use callcore_analytics::{Dimension, MetricsConfig, MetricsEngine};
//! let mut engine = MetricsEngine::new(MetricsConfig::default())?;
//! let at = |s: i64| Timestamp::from_secs(1_700_000_000 + s);
//! let ev = |seq, s, kind| Event { seq, at: at(s), tenant: "default".into(), kind };
//! engine.apply(&ev(1, 0, EventKind::Queued { interaction: "c1".into(), queue: "support".into(),
//!     position: 1, estimated_wait_secs: None }));
//! engine.apply(&ev(2, 12, EventKind::Connected { interaction: "c1".into(), agent: "alice".into(),
//!     queue: "support".into() }));
//! let day = engine.since_midnight(&Dimension::queue("default", "support"), at(60));
//! assert_eq!((day.offered, day.answered, day.answered_within_sl), (1, 1, 1));
//! assert_eq!(day.summary(Default::default()).asa_secs, Some(12.0));
//! # Ok::<(), callcore_analytics::AnalyticsError>(())
//! ```

mod buckets;
mod business_time;
mod channel_levels;
pub mod coaching;
mod config;
mod counters;
mod dims;
mod engine;
mod error;
mod export;
mod live;
pub mod prometheus;
pub mod quality;
pub mod queue_log;
pub mod report;

pub use business_time::BusinessCalendar;
pub use channel_levels::ChannelServiceFigures;
pub use config::{MetricsConfig, ServiceLevelFormula};
pub use counters::{Counters, MetricsSummary};
pub use dims::Dimension;
pub use engine::MetricsEngine;
pub use error::AnalyticsError;
pub use live::{AgentLive, LiveRow, LiveSnapshot};
