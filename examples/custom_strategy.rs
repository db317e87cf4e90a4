//! Plugging your own routing strategy into callcore-acd.
//!
//! A strategy ranks free agents when they enter a queue's pool (lower first)
//! and may override `pick` to choose among them; the engine keeps the pools
//! ordered, so the strategy never scans every agent. This one, "coaching",
//! sends calls to the least experienced qualified agent first (fewest calls
//! handled, then lowest proficiency), so that juniors get practice while
//! seniors stay free for escalations. It is registered under a name that
//! queues then use in `QueueDefinition::strategy`.
//!
//! ```text
//! cargo run --example custom_strategy
//! cargo run --release --example custom_strategy -- --premise-calls 4
//! ```
//!
//! With `--premise-calls N` it then runs the premise center (its embedded
//! defaults: SIP on 127.0.0.1:5060, agents 1001 and 1002) with "coaching" as the
//! strategy of every queue, through `Premise::builder(config).strategy(..)`, and
//! places N self-driven calls over real SIP and RTP; the records say which agent
//! took each call.

use callcore::{
    AgentProfile, AgentState, Channel, QueueDefinition, RoutingDecision, RoutingRequest, SeededRng,
    Timestamp,
};
use callcore_acd::{
    AcdConfig, AcdEngine, AgentView, LaneView, Rank, RoutingStrategy, StrategyRegistry,
};
use callcore_premise::demo::run_demo_calls;
use callcore_premise::{Premise, PremiseConfig};

#[path = "cli.rs"]
mod cli;

use clap::Parser;

/// Plugging your own routing strategy ("coaching": least experienced agent first) into
/// callcore-acd, and the offers it makes.
#[derive(Debug, Parser)]
#[command(
    name = "custom_strategy",
    args_override_self = true,
    after_help = "Examples:\n  cargo run --example custom_strategy\n  \
                  cargo run --release --example custom_strategy -- --premise-calls 4"
)]
struct Args {
    /// then run the premise center (embedded defaults, SIP on 127.0.0.1:5060) with coaching on every queue and place N self-driven calls [default: off]
    #[arg(long, value_name = "N")]
    premise_calls: Option<usize>,
}

/// Least experienced first.
#[derive(Debug, Default)]
struct Coaching;

impl RoutingStrategy for Coaching {
    fn name(&self) -> &str {
        "coaching"
    }

    fn rank(&self, agent: &AgentView<'_>, lane: &LaneView<'_>, _rng: &mut SeededRng) -> Rank {
        let handled = i64::try_from(agent.handled).unwrap_or(i64::MAX);
        Rank(handled, agent.proficiency_sum(lane.requirements))
    }
}

fn call(id: &str, at: Timestamp) -> RoutingRequest {
    RoutingRequest {
        interaction: id.into(),
        tenant: callcore::TenantId::default(),
        channel: Channel::Voice,
        queue: "mortgages".into(),
        priority: 0,
        customer: None,
        preferred_agent: None,
        attributes: Default::default(),
        required_skills: Vec::new(),
        enqueued_at: at,
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let mut strategies = StrategyRegistry::builtin();
    strategies.register("coaching", || Box::new(Coaching));
    let mut acd = AcdEngine::with_strategies(AcdConfig::default(), strategies);

    let t0 = Timestamp::from_secs(1_767_600_000);
    let mut queue = QueueDefinition::new("mortgages").requiring("mortgages", 3);
    queue.strategy = "coaching".into();
    acd.add_queue(queue, t0)?;
    for (name, proficiency) in [("senior", 9), ("mid", 6), ("junior", 3)] {
        acd.add_agent(
            AgentProfile::new(name).with_skill("mortgages", proficiency),
            t0,
        )?;
        acd.set_agent_state(&name.into(), AgentState::Available, t0)?;
    }

    // Six calls, one a minute; each is answered and lasts 30 s.
    for i in 0..6i64 {
        let at = Timestamp::from_secs(1_767_600_000 + 60 * i);
        acd.tick(at);
        acd.enqueue(call(&format!("call-{i}"), at), at)?;
        let offer = std::iter::from_fn(|| acd.poll_decision()).find_map(|d| match d {
            RoutingDecision::Offer {
                reservation,
                agent,
                interaction,
                ..
            } => Some((reservation, agent, interaction)),
            _ => None,
        });
        let Some((reservation, agent, interaction)) = offer else {
            println!("{}: nobody free", at);
            continue;
        };
        println!("{interaction} → {agent}");
        acd.offer_accepted(&reservation, at)?;
        let end = Timestamp::from_secs(1_767_600_000 + 60 * i + 30);
        acd.interaction_ended(&interaction, &agent, end)?;
        acd.clear_decisions();
    }
    for name in ["senior", "mid", "junior"] {
        if let Some(s) = acd.agent_status(&name.into()) {
            println!("{name:>6}: {} calls", s.handled);
        }
    }
    if let Some(calls) = args.premise_calls {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?
            .block_on(premise_demo(calls))?;
    }
    Ok(())
}

/// The premise center with "coaching" on every queue, and `calls` self-driven calls.
async fn premise_demo(calls: usize) -> Result<(), callcore_premise::PremiseError> {
    let premise = Premise::builder(PremiseConfig::defaults())
        .strategy("coaching", || Box::new(Coaching))
        .start()
        .await?;
    println!("\n{}", premise.banner());
    let summary = run_demo_calls(&premise, calls).await?;
    println!("{summary}");
    for record in premise.records().await? {
        let agent = record.agent.as_ref().map_or("nobody", |a| a.as_str());
        println!("{} → {agent}", record.id);
    }
    premise.shutdown().await;
    Ok(())
}
