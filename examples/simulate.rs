//! A whole call center in virtual time: synthetic callers dial in, wait, talk
//! and hang up (or give up); synthetic agents answer. Everything runs through the
//! real `Center` runtime (flows, routing task, event journal, records) over the
//! in-memory transport, on a virtual clock: an hour of traffic takes a moment.
//!
//! ```text
//! cargo run --release --example simulate -- [--seed N] [--agents N]
//!     [--calls-per-hour N] [--aht SECS] [--patience SECS] [--hours H]
//!     [--router acd|basic] [--strategies a,b,c] [--compare-agents N] [--day-agents N]
//! ```
//!
//! Then, with callcore-sim (the callcore-acd engine driven by a discrete-event
//! loop, no runtime): the same skills-based workload (same seed: same
//! arrivals, handle times and patience) under several routing strategies,
//! side by side; and a whole day of a 10,000-agent center (`--day-agents 0`
//! skips it), with the wall time it took.
//!
//! This is a simulation: no real call is placed and no audio flows.

use async_trait::async_trait;
use callcore::{
    AgentProfile, AgentState, CenterConfig, Clock, CoreError, Endpoint, EventKind, InteractionId,
    QueueDefinition, SeededRng, Timestamp, VirtualClock,
};
use callcore_runtime::memory::{MemoryTransport, PhoneBehavior};
use callcore_runtime::{BusError, Center, Flow, FlowContext, FlowOutcome, QueueOptions};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::oneshot;

#[path = "cli.rs"]
mod cli;

use clap::Parser;

/// A whole call center in virtual time (synthetic callers and agents through the real
/// Center runtime; no real call is placed), then routing strategies compared in
/// callcore-sim and a timed 10,000-agent day.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "simulate",
    args_override_self = true,
    after_help = "Examples:\n  cargo run --release --example simulate -- --agents 20 --calls-per-hour 400 --hours 2"
)]
struct Params {
    /// seed of every random draw (same seed: same run)
    #[arg(long, value_name = "N", default_value_t = 42)]
    seed: u64,
    /// agents in the runtime simulation
    #[arg(long, value_name = "N", default_value = "12", value_parser = cli::positive_u32)]
    agents: u32,
    /// offered calls per hour
    #[arg(long, value_name = "N", default_value = "200", value_parser = cli::positive)]
    calls_per_hour: f64,
    /// mean handle time
    #[arg(long = "aht", value_name = "SECS", default_value = "180", value_parser = cli::positive)]
    aht_secs: f64,
    /// mean caller patience before abandoning
    #[arg(long = "patience", value_name = "SECS", default_value = "120", value_parser = cli::positive)]
    patience_secs: f64,
    /// simulated hours of traffic
    #[arg(long, value_name = "H", default_value = "1", value_parser = cli::positive)]
    hours: f64,
    /// callcore-acd engine or callcore's BasicRouter
    #[arg(long, value_name = "acd|basic", default_value = "acd", value_parser = ["acd", "basic"])]
    router: String,
    /// strategies compared in callcore-sim
    #[arg(
        long,
        value_name = "A,B,..",
        value_delimiter = ',',
        default_value = "longest_idle,best_proficiency,fewest_interactions,round_robin,random"
    )]
    strategies: Vec<String>,
    /// agents in the strategy comparison (0 counts as 1)
    #[arg(long, value_name = "N", default_value_t = 300)]
    compare_agents: u32,
    /// agents of the timed day (0 skips it)
    #[arg(long, value_name = "N", default_value_t = 10_000)]
    day_agents: u32,
}

/// Straight to the support queue, announcing the position.
#[derive(Debug)]
struct SupportLine;

#[async_trait]
impl Flow for SupportLine {
    async fn run(&self, call: &mut FlowContext) -> Result<FlowOutcome, CoreError> {
        call.say("Thank you for calling. All our agents are busy.")
            .await?;
        let options = QueueOptions {
            announce_position: true,
            ..QueueOptions::default()
        };
        let outcome = call.enqueue_with("support".into(), options).await?;
        Ok(FlowOutcome::Done(outcome.end_reason()))
    }
}

type Waiters = Arc<Mutex<HashMap<InteractionId, oneshot::Sender<()>>>>;

fn secs(d: f64) -> Duration {
    Duration::from_secs_f64(d.max(0.0))
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut p = Params::parse();
    p.compare_agents = p.compare_agents.max(1);
    let start = Timestamp::from_secs(1_767_600_000); // a Monday, 08:00 UTC
    let clock = VirtualClock::new(start);
    let transport = MemoryTransport::new(Arc::new(clock.clone()));
    let config = CenterConfig {
        event_buffer: Some(1 << 16),
        ..CenterConfig::default()
    };
    let router: Box<dyn callcore::Router> = if p.router == "basic" {
        Box::new(callcore::BasicRouter::new())
    } else {
        let mut acd = callcore_acd::AcdConfig::default();
        acd.seed = p.seed;
        Box::new(callcore_acd::AcdEngine::new(acd))
    };
    let center = Center::builder()
        .clock(Arc::new(clock.clone()))
        .transport(transport.clone())
        .router(router)
        .flow("support", Arc::new(SupportLine))
        .config(config)
        .build()?
        .start()
        .await?;
    let mut queue = QueueDefinition::new("support").with_wrap_up_secs(10);
    queue.service_level_secs = 20;
    center.add_queue(queue).await?;
    for i in 0..p.agents {
        let address = format!("sip:agent{i}@sim");
        transport.add_phone(&address, PhoneBehavior::AnswerAfter(Duration::from_secs(2)));
        let id = format!("agent{i}");
        center
            .add_agent(AgentProfile::new(id.as_str()).with_endpoint(Endpoint::Sip(address)))
            .await?;
        center
            .set_agent_state(&id.as_str().into(), AgentState::Available)
            .await?;
    }

    // One dispatcher tells each caller when an agent picks up.
    let waiters: Waiters = Arc::default();
    let mut events = center.subscribe();
    let dispatch_waiters = waiters.clone();
    tokio::spawn(async move {
        loop {
            match events.recv().await {
                Ok(e) => {
                    if let EventKind::Connected { interaction, .. } = &e.kind
                        && let Some(tx) = dispatch_waiters
                            .lock()
                            .unwrap_or_else(std::sync::PoisonError::into_inner)
                            .remove(interaction)
                    {
                        let _ = tx.send(());
                    }
                }
                Err(BusError::Lagged(n)) => eprintln!("simulate: dispatcher lagged by {n} events"),
                Err(_) => return,
            }
        }
    });

    // Poisson arrivals; exponential patience; lognormal talk time.
    let mut rng = SeededRng::new(p.seed);
    let horizon = p.hours * 3600.0;
    let mut t = 0.0;
    let mut callers = Vec::new();
    let mut n = 0u32;
    loop {
        t += rng.exponential(3600.0 / p.calls_per_hour);
        if t >= horizon {
            break;
        }
        n += 1;
        let arrival = start + secs(t);
        let patience = secs(rng.exponential(p.patience_secs));
        let talk = secs(rng.lognormal(p.aht_secs, p.aht_secs * 0.6));
        let caller_number = format!("+4930{:07}", rng.below(10_000_000));
        let (clock, transport, waiters) = (clock.clone(), transport.clone(), waiters.clone());
        callers.push(tokio::spawn(async move {
            clock.sleep_until(arrival).await;
            let (tx, rx) = oneshot::channel();
            let far = transport.call(&caller_number, "100");
            waiters
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .insert(InteractionId::new(far.id().as_str()), tx);
            tokio::select! {
                _ = rx => {
                    tokio::select! {
                        () = clock.sleep(talk) => far.hangup(),
                        _ = far.ended() => {}
                    }
                }
                () = clock.sleep(patience) => far.hangup(),
                _ = far.ended() => {}
            }
        }));
    }
    let all_done = async {
        for c in callers {
            let _ = c.await;
        }
    };
    let limit = start + secs(horizon + 6.0 * 3600.0);
    clock.drive(all_done, limit).await?;
    // Let the last wrap-ups finish.
    clock
        .drive(clock.sleep(Duration::from_secs(60)), limit)
        .await?;
    center.flush().await;

    let records = center
        .stores()
        .interactions
        .between(&"default".into(), start, limit)
        .await?;
    let offered = records.len();
    let answered: Vec<_> = records.iter().filter(|r| r.answered_at.is_some()).collect();
    let abandoned = records.iter().filter(|r| r.abandoned).count();
    #[allow(clippy::cast_precision_loss)]
    let mean = |xs: &[f64]| {
        if xs.is_empty() {
            0.0
        } else {
            xs.iter().sum::<f64>() / xs.len() as f64
        }
    };
    #[allow(clippy::cast_precision_loss)]
    let waits: Vec<f64> = answered.iter().map(|r| r.wait_ms as f64 / 1000.0).collect();
    #[allow(clippy::cast_precision_loss)]
    let talks: Vec<f64> = answered.iter().map(|r| r.talk_ms as f64 / 1000.0).collect();
    let within_sl = waits.iter().filter(|w| **w <= 20.0).count();
    #[allow(clippy::cast_precision_loss)]
    let pct = |a: usize, b: usize| {
        if b == 0 {
            0.0
        } else {
            100.0 * a as f64 / b as f64
        }
    };

    println!("callcore simulate — SIMULATED center: virtual time, in-memory transport,");
    println!("synthetic callers and agents; no real call was placed.");
    println!(
        "workload: seed {}, {} agents, {} calls/h for {} h, mean talk {} s, mean patience {} s, wrap-up 10 s",
        p.seed, p.agents, p.calls_per_hour, p.hours, p.aht_secs, p.patience_secs
    );
    println!(
        "router: {} (longest idle)",
        if p.router == "basic" {
            "callcore::BasicRouter"
        } else {
            "callcore_acd::AcdEngine"
        }
    );
    println!();
    println!("calls arrived          {n}");
    println!("calls offered          {offered}");
    println!(
        "answered               {} ({:.1}%)",
        answered.len(),
        pct(answered.len(), offered)
    );
    println!(
        "abandoned              {abandoned} ({:.1}%)",
        pct(abandoned, offered)
    );
    println!("average wait (ASA)     {:.1} s", mean(&waits));
    println!(
        "service level (20 s)   {:.1}% of answered",
        pct(within_sl, answered.len())
    );
    println!("average talk time      {:.1} s", mean(&talks));
    center.shutdown().await;
    compare_strategies(&p)?;
    simulate_day(&p)?;
    Ok(())
}

/// The same skills-based workload under each strategy (same seeds).
fn compare_strategies(p: &Params) -> Result<(), Box<dyn std::error::Error>> {
    let queues = (p.compare_agents / 30).clamp(1, 100);
    let skills = (queues / 2).max(1);
    let mut scenario = callcore_sim::Scenario::skills_day(p.compare_agents, queues, skills, p.seed);
    // A busier day than the planned one (30 % more calls), where the choice
    // of agent shows: proficient agents talk shorter.
    for q in &mut scenario.queues {
        if let callcore_sim::Arrivals::Profile { per_hour, .. } = &mut q.arrivals {
            per_hour.iter_mut().for_each(|r| *r *= 1.3);
        }
    }
    let names: Vec<&str> = p.strategies.iter().map(String::as_str).collect();
    let runs = callcore_sim::compare_strategies(&scenario, &names)?;
    println!();
    println!(
        "strategy comparison — callcore-sim, SIMULATED: one busy day, {} agents in three shifts, {queues} queues, \
         {skills} skills, talk 4 % shorter per proficiency point, seed {} (same arrivals, handle times and \
         patience for every strategy)",
        p.compare_agents, p.seed
    );
    print!("{}", callcore_sim::comparison_table(&runs));
    Ok(())
}

/// A whole day of a large center, timed.
fn simulate_day(p: &Params) -> Result<(), Box<dyn std::error::Error>> {
    if p.day_agents == 0 {
        return Ok(());
    }
    let scenario = callcore_sim::Scenario::skills_day(p.day_agents, 100, 50, p.seed);
    // Wall time of the run, for the report only (the simulation itself reads
    // no clock).
    #[allow(clippy::disallowed_methods)]
    let started = std::time::Instant::now();
    let report = callcore_sim::simulate(scenario)?;
    let took = started.elapsed();
    println!();
    println!(
        "one day, {} agents, 100 queues, 50 skills (callcore-sim, SIMULATED): {} interactions, \
         {} engine decisions, simulated in {:.2} s wall time",
        p.day_agents,
        report.total.offered,
        report.decisions,
        took.as_secs_f64()
    );
    let t = report.total;
    println!(
        "answered {} ({:.1}%), abandoned {}, SL {:.1}%, ASA {:.1} s, AHT {:.1} s, occupancy {:.1}%",
        t.answered,
        100.0 * t.answered as f64 / t.offered.max(1) as f64,
        t.abandoned,
        t.service_level * 100.0,
        t.asa_secs,
        t.aht_secs,
        report.occupancy * 100.0
    );
    Ok(())
}
