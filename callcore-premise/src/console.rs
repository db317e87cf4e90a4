//! Operator commands for a running premise center, one line each, as the
//! `premise` example reads them from its standard input (the HTTP API comes
//! with another issue):
//!
//! ```text
//! agents                                  every agent: state, reachable, since
//! state 1001 not_ready:lunch              available | offline | not_ready:<reason>
//! wrapup-end 1001                         end after-call work now
//! wrapup 1001 120                         after-call work ends 120 s from now
//! live                                    the live summary line
//! prometheus                              the live figures as Prometheus text
//! report queue hour 8                     queue|agent|volume|campaigns, quarter|hour|day, hours back
//! campaign renewals                       start a campaign of the config
//! ```
//!
//! and the call-control commands of [`crate::console_calls`] (`calls`, `hold`,
//! `transfer`, `consult`, `conference`, `monitor`, `dial` ...).

use std::time::Duration;

use callcore::AgentId;
use callcore_analytics::report::{IntervalLength, ReportKind};

use crate::Premise;

/// What `help` prints.
pub const HELP: &str = "commands: agents | state AGENT available|offline|not_ready:REASON | \
wrapup-end AGENT | wrapup AGENT SECS | live | prometheus | \
report queue|agent|volume|campaigns quarter|hour|day [HOURS_BACK] | campaign NAME | \
calls: see `help calls`";

/// Runs one command line and returns what to print.
pub async fn command(premise: &Premise, line: &str) -> String {
    match run(premise, line).await {
        Ok(out) => out,
        Err(e) => format!("error: {e}"),
    }
}

async fn run(premise: &Premise, line: &str) -> Result<String, String> {
    let words: Vec<&str> = line.split_whitespace().collect();
    let center = premise.center();
    let err = |e: &dyn std::fmt::Display| e.to_string();
    match words.as_slice() {
        [] => Ok(String::new()),
        ["help"] => Ok(HELP.to_owned()),
        ["help", "calls"] => Ok(crate::console_calls::HELP.to_owned()),
        ["agents"] => {
            let snapshot = center.snapshot().await.map_err(|e| err(&e))?;
            Ok(snapshot
                .agents
                .iter()
                .map(|a| {
                    format!(
                        "{:<8} {:<24} {}  since {}",
                        a.agent.as_str(),
                        a.state.to_string(),
                        if a.reachable {
                            "reachable"
                        } else {
                            "unreachable"
                        },
                        a.since
                    )
                })
                .collect::<Vec<_>>()
                .join("\n"))
        }
        ["state", agent, state] => {
            premise
                .set_agent_state(agent, state)
                .await
                .map_err(|e| err(&e))?;
            Ok(format!("{agent}: {state}"))
        }
        ["wrapup-end", agent] => {
            center
                .end_wrap_up(&AgentId::new(*agent))
                .await
                .map_err(|e| err(&e))?;
            Ok(format!("{agent}: after-call work ended"))
        }
        ["wrapup", agent, secs] => {
            let secs: u32 = secs.parse().map_err(|_| format!("`{secs}`: seconds"))?;
            center
                .extend_wrap_up(&AgentId::new(*agent), secs)
                .await
                .map_err(|e| err(&e))?;
            Ok(format!("{agent}: after-call work ends in {secs} s"))
        }
        ["live"] => Ok(crate::analytics::summary_line(&premise.live())),
        ["prometheus"] => Ok(premise.prometheus()),
        ["report", kind, interval, rest @ ..] => {
            let kind = match *kind {
                "queue" => ReportKind::QueueService,
                "agent" => ReportKind::AgentPerformance,
                "volume" => ReportKind::CallVolume,
                "campaigns" => ReportKind::Campaigns,
                other => return Err(format!("`{other}`: queue, agent, volume or campaigns")),
            };
            let interval = match *interval {
                "quarter" => IntervalLength::QuarterHour,
                "hour" => IntervalLength::Hour,
                "day" => IntervalLength::Day,
                other => return Err(format!("`{other}`: quarter, hour or day")),
            };
            let hours: u64 = match rest {
                [] => 24,
                [h] => h.parse().map_err(|_| format!("`{h}`: hours"))?,
                _ => return Err(HELP.to_owned()),
            };
            let to = center.clock().now() + Duration::from_secs(1);
            let from = to - Duration::from_secs(hours * 3600);
            let report = premise
                .report(kind, from, to, interval)
                .await
                .map_err(|e| err(&e))?;
            Ok(report.to_csv())
        }
        ["campaign", name] => {
            premise.start_campaign(name).map_err(|e| err(&e))?;
            Ok(format!("campaign {name} running"))
        }
        other => match crate::console_calls::run(center, other).await {
            Some(result) => result,
            None => Err(HELP.to_owned()),
        },
    }
}
