//! What to simulate: arrival processes, handle-time and patience
//! distributions, queues, agents with shifts and breaks.

use crate::error::{SimError, invalid};
use callcore::{AgentProfile, Channel, QueueDefinition, SeededRng};

/// A handle-time (or patience) distribution, in seconds.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Distribution {
    /// Always this value.
    Constant(f64),
    /// Exponential with this mean.
    Exponential {
        /// Mean, seconds.
        mean: f64,
    },
    /// Lognormal with this mean and standard deviation.
    Lognormal {
        /// Mean, seconds.
        mean: f64,
        /// Standard deviation, seconds.
        std_dev: f64,
    },
    /// Drawn uniformly from observed values (a day's real handle times).
    Empirical(Vec<f64>),
}

impl Distribution {
    /// One draw (never negative).
    pub fn sample(&self, rng: &mut SeededRng) -> f64 {
        let v = match self {
            Self::Constant(v) => *v,
            Self::Exponential { mean } => rng.exponential(*mean),
            Self::Lognormal { mean, std_dev } => rng.lognormal(*mean, *std_dev),
            Self::Empirical(values) => {
                let i = rng.below(values.len() as u64);
                values
                    .get(usize::try_from(i).unwrap_or(0))
                    .copied()
                    .unwrap_or(0.0)
            }
        };
        v.max(0.0)
    }

    /// The mean.
    #[must_use]
    pub fn mean(&self) -> f64 {
        match self {
            Self::Constant(v) => *v,
            Self::Exponential { mean } | Self::Lognormal { mean, .. } => *mean,
            Self::Empirical(values) => values.iter().sum::<f64>() / values.len().max(1) as f64,
        }
    }

    fn validate(&self, field: &'static str) -> Result<(), SimError> {
        let ok = |v: f64| v.is_finite() && v >= 0.0;
        let good = match self {
            Self::Constant(v) | Self::Exponential { mean: v } => ok(*v),
            Self::Lognormal { mean, std_dev } => ok(*mean) && *mean > 0.0 && ok(*std_dev),
            Self::Empirical(values) => !values.is_empty() && values.iter().all(|v| ok(*v)),
        };
        if good {
            Ok(())
        } else {
            Err(invalid(field, "needs finite, non-negative values"))
        }
    }
}

/// How interactions arrive at a queue.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Arrivals {
    /// A Poisson process at a constant rate.
    Poisson {
        /// Interactions per hour.
        per_hour: f64,
    },
    /// A Poisson process whose rate changes per interval (a day's curve);
    /// the last rate holds after the profile ends.
    Profile {
        /// Length of each interval, seconds.
        interval_secs: u32,
        /// Interactions per hour, one value per interval.
        per_hour: Vec<f64>,
    },
}

impl Arrivals {
    /// The rate (per second) at a time (seconds since the start).
    #[must_use]
    pub fn rate_at(&self, t: f64) -> f64 {
        match self {
            Self::Poisson { per_hour } => per_hour / 3600.0,
            Self::Profile {
                interval_secs,
                per_hour,
            } => {
                let i = (t / f64::from((*interval_secs).max(1))).floor();
                #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                let i = (i.max(0.0) as usize).min(per_hour.len().saturating_sub(1));
                per_hour.get(i).copied().unwrap_or(0.0) / 3600.0
            }
        }
    }

    /// The highest rate (per second), for thinning.
    #[must_use]
    pub fn max_rate(&self) -> f64 {
        match self {
            Self::Poisson { per_hour } => per_hour / 3600.0,
            Self::Profile { per_hour, .. } => per_hour.iter().copied().fold(0.0, f64::max) / 3600.0,
        }
    }
}

/// One queue of the scenario and its traffic.
#[derive(Debug, Clone, PartialEq)]
pub struct QueueSpec {
    /// The queue as the ACD sees it (requirements, strategy, wrap-up ...).
    pub definition: QueueDefinition,
    /// Arrival process.
    pub arrivals: Arrivals,
    /// Talk time.
    pub handle: Distribution,
    /// Caller patience; `None` = callers never hang up.
    pub patience: Option<Distribution>,
    /// Channel of its interactions.
    pub channel: Channel,
}

/// A span of time, seconds since the start of the simulation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Span {
    /// Start, seconds.
    pub start: f64,
    /// End, seconds.
    pub end: f64,
}

/// When an agent works.
#[derive(Debug, Clone, PartialEq)]
pub struct Shift {
    /// Logged in for this span.
    pub span: Span,
    /// Not ready ("break") during these spans.
    pub breaks: Vec<Span>,
}

/// One agent of the scenario.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentSpec {
    /// Skills, capacity, queues, rating.
    pub profile: AgentProfile,
    /// Shifts; an agent without shifts works the whole simulation.
    pub shifts: Vec<Shift>,
}

/// A whole simulation.
#[derive(Debug, Clone, PartialEq)]
pub struct Scenario {
    /// Seed of every random draw (same seed, same result).
    pub seed: u64,
    /// Length, seconds.
    pub duration_secs: f64,
    /// Report interval, seconds (1800 for half-hours).
    pub interval_secs: u32,
    /// Queues and their traffic.
    pub queues: Vec<QueueSpec>,
    /// Agents.
    pub agents: Vec<AgentSpec>,
    /// Seconds an agent takes to accept an offer.
    pub answer_secs: f64,
    /// How much proficiency speeds up handling: each point above 5.5 (in the
    /// queue's first required skill) shortens the talk time by this fraction
    /// (0.04 = 4 %), each point below lengthens it; 0 = no effect.
    pub proficiency_effect: f64,
}

impl Scenario {
    /// Checks the inputs.
    ///
    /// # Errors
    /// The first invalid value, named.
    pub fn validate(&self) -> Result<(), SimError> {
        if !(self.duration_secs.is_finite() && self.duration_secs > 0.0) {
            return Err(invalid("duration_secs", "must be positive"));
        }
        if self.interval_secs == 0 {
            return Err(invalid("interval_secs", "must be positive"));
        }
        if !(self.answer_secs.is_finite() && self.answer_secs >= 0.0) {
            return Err(invalid("answer_secs", "must be zero or more"));
        }
        if !(self.proficiency_effect.is_finite() && (0.0..=0.2).contains(&self.proficiency_effect))
        {
            return Err(invalid("proficiency_effect", "must be between 0 and 0.2"));
        }
        for q in &self.queues {
            q.handle.validate("handle")?;
            if let Some(p) = &q.patience {
                p.validate("patience")?;
            }
            let r = q.arrivals.max_rate();
            if !(r.is_finite() && r >= 0.0) {
                return Err(invalid("arrivals", "rates must be finite and non-negative"));
            }
        }
        Ok(())
    }

    /// Every queue's strategy replaced (for strategy comparisons).
    #[must_use]
    pub fn with_strategy(mut self, strategy: &str) -> Self {
        for q in &mut self.queues {
            q.definition.strategy = strategy.to_owned();
        }
        self
    }

    /// A single M/M/N(+M) queue: Poisson arrivals, exponential handle time,
    /// optional exponential patience, `agents` identical agents.
    #[must_use]
    pub fn single_queue(
        agents: u32,
        calls_per_hour: f64,
        aht_secs: f64,
        patience_secs: Option<f64>,
        hours: f64,
        seed: u64,
    ) -> Self {
        Self {
            seed,
            duration_secs: hours * 3600.0,
            interval_secs: 3600,
            queues: vec![QueueSpec {
                definition: QueueDefinition::new("q"),
                arrivals: Arrivals::Poisson {
                    per_hour: calls_per_hour,
                },
                handle: Distribution::Exponential { mean: aht_secs },
                patience: patience_secs.map(|mean| Distribution::Exponential { mean }),
                channel: Channel::Voice,
            }],
            agents: (0..agents)
                .map(|i| AgentSpec {
                    profile: AgentProfile::new(format!("agent{i}")),
                    shifts: Vec::new(),
                })
                .collect(),
            answer_secs: 0.0,
            proficiency_effect: 0.0,
        }
    }

    /// A skills-based day: `agents` agents over three 8-hour shifts with a
    /// 30-minute break each, `queues` queues requiring one of `skills`
    /// skills (agents hold 1–5, proficiency 1–10), a day-shaped arrival
    /// curve sized for about 85 % occupancy, lognormal handle times around
    /// 240 s (4 % shorter per proficiency point above 5.5), exponential
    /// patience around 180 s, 10 s wrap-up.
    #[must_use]
    pub fn skills_day(agents: u32, queues: u32, skills: u32, seed: u64) -> Self {
        let mut rng = SeededRng::new(seed ^ 0x5eed_da7a);
        let skill = |i: u64| format!("skill{i}");
        let aht = 240.0;
        let wrap = 10.0;
        // Agents on duty per half hour: three overlapping 8 h shifts (thirds of
        // the staff) starting 00:00, 08:00, 16:00 → a third on duty at any time
        // minus breaks; traffic is shaped over the day around that.
        let on_duty = f64::from(agents) / 3.0 * (7.5 / 8.0);
        let capacity_per_hour = on_duty * 3600.0 / (aht + wrap) * 0.85;
        let curve: Vec<f64> = (0..48)
            .map(|h| {
                let x = f64::from(h) / 48.0 * std::f64::consts::TAU;
                0.8 + 0.2 * (x - std::f64::consts::PI / 2.0).sin()
            })
            .collect();
        let per_queue = capacity_per_hour / f64::from(queues.max(1));
        let queue_specs = (0..queues)
            .map(|i| {
                let mut def = QueueDefinition::new(format!("queue{i}"))
                    .requiring(skill(u64::from(i % skills.max(1))), 1)
                    .with_wrap_up_secs(10);
                def.max_wait_secs = Some(900);
                QueueSpec {
                    definition: def,
                    arrivals: Arrivals::Profile {
                        interval_secs: 1800,
                        per_hour: curve.iter().map(|c| c * per_queue).collect(),
                    },
                    handle: Distribution::Lognormal {
                        mean: aht,
                        std_dev: 120.0,
                    },
                    patience: Some(Distribution::Exponential { mean: 180.0 }),
                    channel: Channel::Voice,
                }
            })
            .collect();
        let agent_specs = (0..agents)
            .map(|i| {
                let mut p = AgentProfile::new(format!("agent{i}"));
                // Skills spread so that every queue has staff: the agent's
                // home skill plus up to four more.
                p = p.with_skill(
                    skill(u64::from(i % skills.max(1))),
                    u8::try_from(1 + rng.below(10)).unwrap_or(1),
                );
                for _ in 0..rng.below(5) {
                    p = p.with_skill(
                        skill(rng.below(u64::from(skills.max(1)))),
                        u8::try_from(1 + rng.below(10)).unwrap_or(1),
                    );
                }
                let start = f64::from(i % 3) * 8.0 * 3600.0;
                let brk = start + 2.0 * 3600.0 + rng.below(4 * 3600) as f64;
                AgentSpec {
                    profile: p,
                    shifts: vec![Shift {
                        span: Span {
                            start,
                            end: start + 8.0 * 3600.0,
                        },
                        breaks: vec![Span {
                            start: brk,
                            end: brk + 1800.0,
                        }],
                    }],
                }
            })
            .collect();
        Self {
            seed,
            duration_secs: 24.0 * 3600.0,
            interval_secs: 1800,
            queues: queue_specs,
            agents: agent_specs,
            answer_secs: 2.0,
            proficiency_effect: 0.04,
        }
    }
}
