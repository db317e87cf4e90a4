//! # callcore-sim
//!
//! Capacity planning for callcore:
//! - [`erlang`]: Erlang B, Erlang C and Erlang A (with patience) and the
//!   staffing table a planner reads;
//! - [`Simulation`]: a deterministic discrete-event simulator that runs the
//!   real `callcore-acd` engine in virtual time — Poisson or day-curve
//!   arrivals per queue, exponential / lognormal / empirical handle times,
//!   caller patience, agents with shifts and breaks — and reports per queue
//!   and interval: offered, answered, abandoned, service level, ASA, AHT,
//!   occupancy; [`compare_strategies`] runs one workload under several
//!   routing strategies with the same seeds.
//!
//! ```
//! use callcore_sim::{Scenario, compare_strategies, comparison_table, erlang};
//!
//! // M/M/12: 200 calls an hour of 180 s each, for 4 hours.
//! let scenario = Scenario::single_queue(12, 200.0, 180.0, None, 4.0, 7);
//! let runs = compare_strategies(&scenario, &["longest_idle", "random"])?;
//! let formula = erlang::erlang_c(12, 10.0);
//! for (_, report) in &runs {
//!     assert!((report.total.p_wait - formula).abs() < 0.2);
//! }
//! println!("{}", comparison_table(&runs));
//! # Ok::<(), callcore_sim::SimError>(())
//! ```
#![allow(clippy::cast_precision_loss)]

pub mod erlang;
mod error;
mod report;
mod scenario;
mod sim;

pub use error::SimError;
pub use report::{Counts, Figures, QueueReport, SimReport, comparison_table};
pub use scenario::{AgentSpec, Arrivals, Distribution, QueueSpec, Scenario, Shift, Span};
pub use sim::{Simulation, compare_strategies, simulate};
