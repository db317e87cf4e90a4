//! Plugging your own routing and flows into the premise center.
//!
//! [`Premise::start`] runs the center its config describes with callcore-acd's
//! engine and the built-in strategies, and the IVR menu as the flow of every
//! number. [`Premise::builder`] starts the same center with your parts instead:
//!
//! - [`PremiseBuilder::strategy`]: a routing strategy of your own (callcore-acd's
//!   [`RoutingStrategy`]), registered under a name that `[[queues]] strategy`
//!   names, and the default of queues that name none;
//!   [`PremiseBuilder::register_strategy`] registers one without making it the
//!   default;
//! - [`PremiseBuilder::router`]: any [`Router`] in place of callcore-acd's engine;
//! - [`PremiseBuilder::flow`] and [`PremiseBuilder::route`]: flows of your own
//!   (any callcore-runtime [`Flow`]) and the numbers that reach them (`"*"`:
//!   every number no DID names, in place of the IVR menu).
//!
//! ```no_run
//! # async fn demo() -> Result<(), callcore_premise::PremiseError> {
//! use callcore::SeededRng;
//! use callcore_acd::{AgentView, LaneView, Rank, RoutingStrategy};
//! use callcore_premise::{Premise, PremiseConfig};
//!
//! /// Least experienced agent first.
//! #[derive(Debug)]
//! struct Coaching;
//!
//! impl RoutingStrategy for Coaching {
//!     fn name(&self) -> &str {
//!         "coaching"
//!     }
//!     fn rank(&self, agent: &AgentView<'_>, _: &LaneView<'_>, _: &mut SeededRng) -> Rank {
//!         Rank(i64::try_from(agent.handled).unwrap_or(i64::MAX), 0)
//!     }
//! }
//!
//! let premise = Premise::builder(PremiseConfig::defaults())
//!     .strategy("coaching", || Box::new(Coaching))
//!     .start()
//!     .await?;
//! # premise.shutdown().await;
//! # Ok(()) }
//! ```

use std::sync::Arc;

use callcore::{Router, SpeechRecognizer};
use callcore_acd::{AcdConfig, AcdEngine, RoutingStrategy, StrategyRegistry};
use callcore_runtime::Flow;

use crate::config::PremiseConfig;
use crate::{Premise, PremiseError};

/// A premise center to start with your own strategies, router and flows
/// ([`Premise::builder`]).
pub struct PremiseBuilder {
    pub(crate) config: PremiseConfig,
    strategies: StrategyRegistry,
    default_strategy: Option<String>,
    router: Option<Box<dyn Router>>,
    pub(crate) flows: Vec<(String, Arc<dyn Flow>)>,
    pub(crate) routes: Vec<(String, String)>,
    transcriber: Option<Arc<dyn SpeechRecognizer>>,
}

impl std::fmt::Debug for PremiseBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PremiseBuilder")
            .field("strategies", &self.strategies)
            .field("default_strategy", &self.default_strategy)
            .field("router", &self.router.as_ref().map(|_| "custom"))
            .field(
                "flows",
                &self.flows.iter().map(|(n, _)| n).collect::<Vec<_>>(),
            )
            .field("routes", &self.routes)
            .field("transcriber", &self.transcriber.is_some())
            .finish_non_exhaustive()
    }
}

/// What the assembly takes from the builder (crate::assembly).
pub(crate) struct Plugins {
    pub(crate) router: Box<dyn Router>,
    pub(crate) default_strategy: Option<String>,
    pub(crate) flows: Vec<(String, Arc<dyn Flow>)>,
    pub(crate) routes: Vec<(String, String)>,
    pub(crate) transcriber: Option<Arc<dyn SpeechRecognizer>>,
}

impl Premise {
    /// A builder for the center of `config` with your own routing strategy,
    /// router or flows (see [`crate::builder`]); [`PremiseBuilder::start`] starts it.
    #[must_use]
    pub fn builder(config: PremiseConfig) -> PremiseBuilder {
        PremiseBuilder {
            config,
            strategies: StrategyRegistry::builtin(),
            default_strategy: None,
            router: None,
            flows: Vec::new(),
            routes: Vec::new(),
            transcriber: None,
        }
    }
}

impl PremiseBuilder {
    /// Registers a routing strategy under `name` (the factory makes one instance
    /// per queue tier) and makes it the strategy of every queue whose config
    /// names none. A queue's `strategy` in the config still wins.
    #[must_use]
    pub fn strategy<F>(mut self, name: impl Into<String>, factory: F) -> Self
    where
        F: Fn() -> Box<dyn RoutingStrategy> + Send + Sync + 'static,
    {
        let name = name.into();
        self.strategies.register(name.clone(), factory);
        self.default_strategy = Some(name);
        self
    }

    /// Registers a routing strategy under `name` for the queues whose config
    /// names it (`[[queues]] strategy = "name"`), without changing the default.
    #[must_use]
    pub fn register_strategy<F>(mut self, name: impl Into<String>, factory: F) -> Self
    where
        F: Fn() -> Box<dyn RoutingStrategy> + Send + Sync + 'static,
    {
        self.strategies.register(name, factory);
        self
    }

    /// Transcribes answered calls for `[quality]` with `recognizer` (a
    /// cloud or in-house ASR behind callcore's [`SpeechRecognizer`]) instead
    /// of the Whisper model of `[ivr] asr_model`: each utterance of either
    /// side is one recognition session (8 kHz). Used when `[quality]
    /// enabled` and `transcribe` are on.
    #[must_use]
    pub fn transcriber(mut self, recognizer: Arc<dyn SpeechRecognizer>) -> Self {
        self.transcriber = Some(recognizer);
        self
    }

    /// Routes with `router` instead of callcore-acd's engine (strategies
    /// registered on this builder are then unused).
    #[must_use]
    pub fn router(mut self, router: Box<dyn Router>) -> Self {
        self.router = Some(router);
        self
    }

    /// Adds a flow under `name` (calls reach it through [`PremiseBuilder::route`]).
    /// The names `ivr` and `queue:<id>` are the premise's own.
    #[must_use]
    pub fn flow(mut self, name: impl Into<String>, flow: Arc<dyn Flow>) -> Self {
        self.flows.push((name.into(), flow));
        self
    }

    /// Sends calls to number `to` (`"*"`: every number no DID names) to the
    /// flow `flow`; these routes win over the config's DIDs and the IVR menu.
    #[must_use]
    pub fn route(mut self, to: impl Into<String>, flow: impl Into<String>) -> Self {
        self.routes.push((to.into(), flow.into()));
        self
    }

    /// The config this builder starts.
    #[must_use]
    pub fn config(&self) -> &PremiseConfig {
        &self.config
    }

    /// Checks everything [`PremiseBuilder::start`] would check before opening a
    /// socket or a database: the config ([`PremiseConfig::validate`]), the
    /// storage the build can open (`storage.database`), each queue's strategy
    /// (`queues[i].strategy`) and the flows routes name.
    ///
    /// # Errors
    /// [`PremiseError::Config`] naming the field at fault.
    pub fn check(&self) -> Result<(), PremiseError> {
        self.config.validate()?;
        crate::storage::Database::of(&self.config.storage, |k| std::env::var(k).ok())?;
        if self.router.is_none() {
            let known = |name: &str| self.strategies.create(name).is_some();
            for (i, q) in self.config.queues.iter().enumerate() {
                if let Some(name) = q.strategy.as_deref().filter(|n| !known(n)) {
                    let names: Vec<&str> = self.strategies.names().collect();
                    return Err(PremiseError::Config {
                        field: format!("queues[{i}].strategy"),
                        detail: format!("no strategy `{name}` (known: {})", names.join(", ")),
                    });
                }
            }
        }
        for (to, flow) in &self.routes {
            let own = flow == crate::trunks::IVR_FLOW
                || flow.strip_prefix("queue:").is_some_and(|q| {
                    self.config.queues.iter().any(|x| x.id == q)
                        && self
                            .config
                            .dids
                            .iter()
                            .any(|d| d.queue.as_deref() == Some(q))
                });
            if !own && !self.flows.iter().any(|(n, _)| n == flow) {
                return Err(PremiseError::Config {
                    field: "routes".into(),
                    detail: format!("the route of `{to}` names no flow `{flow}`"),
                });
            }
        }
        Ok(())
    }

    /// Starts the center ([`Premise::start`] with this builder's parts).
    ///
    /// # Errors
    /// As [`PremiseBuilder::check`] and [`Premise::start`].
    pub async fn start(self) -> Result<Premise, PremiseError> {
        self.check()?;
        let PremiseBuilder {
            config,
            strategies,
            default_strategy,
            router,
            flows,
            routes,
            transcriber,
        } = self;
        let router = router.unwrap_or_else(|| {
            Box::new(AcdEngine::with_strategies(AcdConfig::default(), strategies))
        });
        Premise::assemble(
            config,
            Plugins {
                router,
                default_strategy,
                flows,
                routes,
                transcriber,
            },
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn config(extra: &str) -> PremiseConfig {
        let toml = format!(
            "[[queues]]\nid = \"billing\"\nskill = \"billing\"\n\
             [[queues]]\nid = \"support\"\nskill = \"support\"\n{extra}\n"
        );
        PremiseConfig::from_toml(&crate::with_demo_agents(&toml)).unwrap()
    }

    fn field(r: Result<(), PremiseError>) -> String {
        match r {
            Err(PremiseError::Config { field, .. }) => field,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_queue_naming_an_unknown_strategy_is_refused_by_field() {
        let b = Premise::builder(config("strategy = \"coaching\""));
        assert_eq!(field(b.check()), "queues[1].strategy");
        let b = Premise::builder(config("strategy = \"coaching\""))
            .register_strategy("coaching", || -> Box<dyn RoutingStrategy> {
                Box::new(callcore_acd::strategies::LongestIdle)
            });
        b.check().unwrap();
        let b = Premise::builder(config("strategy = \"round_robin\""));
        b.check().unwrap();
    }

    #[test]
    fn a_route_to_a_missing_flow_is_refused() {
        let b = Premise::builder(config("")).route("*", "mine");
        assert_eq!(field(b.check()), "routes");
        Premise::builder(config(""))
            .route("+4930", "ivr")
            .check()
            .unwrap();
    }
}
