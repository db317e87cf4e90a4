//! The operator console's call-control commands: every action of
//! `CenterHandle`'s call-control API on a live call, by interaction id (as
//! `calls` lists them), so a supervisor at the console can do by hand what a
//! desktop will do through the HTTP API.
//!
//! ```text
//! calls                                   the live calls' interaction ids
//! hold ID | resume ID                     music on hold for the customer
//! mute ID on|off                          the customer stops hearing the agent
//! transfer ID TARGET                      blind: agent:1002 | queue:billing | +4930... | sip:...
//! consult ID TARGET                       attended: customer on hold, agent talks to TARGET
//! swap ID | complete ID | cancel ID       between the two; hand over; back to the customer
//! conference ID | add ID TARGET           three parties; one more
//! leave ID | kick ID LEG                  the agent leaves; a party (or a supervisor, by id) is removed
//! monitor ID SUPERVISOR listen|whisper|barge   rings the supervisor; again: changes the mode
//! hangup ID                               the center hangs up
//! dial AGENT NUMBER                       click-to-dial: the agent's phone first
//! code ID CODE [NOTES...]                 the wrap-up code and notes of a call
//! ```

use callcore::{AgentId, Disposition, InteractionId, LegId, MonitorMode, QueueId};
use callcore_runtime::{CallTarget, CenterHandle};

/// What `help` adds for these commands.
pub const HELP: &str = "calls | hold ID | resume ID | mute ID on|off | transfer ID TARGET | \
consult ID TARGET | swap ID | complete ID | cancel ID | conference ID | add ID TARGET | \
leave ID | kick ID LEG|SUPERVISOR | monitor ID SUPERVISOR listen|whisper|barge | hangup ID | \
dial AGENT NUMBER | code ID CODE [NOTES...]  (TARGET: agent:ID, queue:ID, a number or sip: URI)";

/// A target as the console writes it.
fn target(word: &str) -> CallTarget {
    if let Some(agent) = word.strip_prefix("agent:") {
        CallTarget::Agent(AgentId::new(agent))
    } else if let Some(queue) = word.strip_prefix("queue:") {
        CallTarget::Queue(QueueId::new(queue))
    } else {
        CallTarget::Number(word.to_owned())
    }
}

fn mode(word: &str) -> Result<MonitorMode, String> {
    match word {
        "listen" => Ok(MonitorMode::Listen),
        "whisper" => Ok(MonitorMode::Whisper),
        "barge" => Ok(MonitorMode::Barge),
        other => Err(format!("`{other}`: listen, whisper or barge")),
    }
}

/// Runs a call-control command; `None` when `words` is not one.
pub(crate) async fn run(center: &CenterHandle, words: &[&str]) -> Option<Result<String, String>> {
    let id = |w: &str| InteractionId::new(w);
    let done = |r: Result<(), callcore::CoreError>, what: String| {
        r.map(|()| what).map_err(|e| e.to_string())
    };
    Some(match words {
        ["calls"] => {
            let calls = center.live_calls();
            Ok(if calls.is_empty() {
                "no live calls".to_owned()
            } else {
                calls
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("\n")
            })
        }
        ["hold", i] => done(center.hold(&id(i)).await, format!("{i}: on hold")),
        ["resume", i] => done(center.resume(&id(i)).await, format!("{i}: resumed")),
        ["mute", i, on @ ("on" | "off")] => done(
            center.mute(&id(i), *on == "on").await,
            format!("{i}: mute {on}"),
        ),
        ["transfer", i, t] => done(
            center.transfer(&id(i), target(t)).await,
            format!("{i}: transferred to {t}"),
        ),
        ["consult", i, t] => done(
            center.consult(&id(i), target(t)).await,
            format!("{i}: consulting {t}"),
        ),
        ["swap", i] => done(center.swap(&id(i)).await, format!("{i}: swapped")),
        ["complete", i] => done(
            center.complete_transfer(&id(i)).await,
            format!("{i}: transfer completed"),
        ),
        ["cancel", i] => done(
            center.cancel_consult(&id(i)).await,
            format!("{i}: consultation cancelled"),
        ),
        ["conference", i] => done(center.conference(&id(i)).await, format!("{i}: conference")),
        ["add", i, t] => done(
            center.add_to_conference(&id(i), target(t)).await,
            format!("{i}: adding {t}"),
        ),
        ["leave", i] => done(
            center.leave_conference(&id(i)).await,
            format!("{i}: the agent left"),
        ),
        ["kick", i, leg] => done(
            center.kick(&id(i), &LegId::new(*leg)).await,
            format!("{i}: {leg} removed"),
        ),
        ["monitor", i, supervisor, m] => match mode(m) {
            // a supervisor monitoring the call already changes mode (listen,
            // whisper, barge), one who is not is rung to join it
            Ok(m) => match center
                .set_monitor_mode(&id(i), &AgentId::new(*supervisor), m)
                .await
            {
                Ok(()) => Ok(format!("{i}: {supervisor} now {}", words[3])),
                Err(_) => done(
                    center.monitor(&id(i), &AgentId::new(*supervisor), m).await,
                    format!("{i}: {supervisor} monitoring"),
                ),
            },
            Err(e) => Err(e),
        },
        ["hangup", i] => done(center.hang_up(&id(i)).await, format!("{i}: hung up")),
        ["dial", agent, number] => center
            .dial(&AgentId::new(*agent), number)
            .await
            .map(|i| format!("dialling: {i}"))
            .map_err(|e| e.to_string()),
        ["code", i, code, notes @ ..] => {
            let notes = (!notes.is_empty()).then(|| notes.join(" "));
            done(
                center
                    .set_wrap_up(&id(i), Disposition::Agent((*code).to_owned()), notes)
                    .await,
                format!("{i}: wrap-up code {code}"),
            )
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_are_agents_queues_or_numbers() {
        assert_eq!(target("agent:1002"), CallTarget::Agent("1002".into()));
        assert_eq!(target("queue:billing"), CallTarget::Queue("billing".into()));
        assert_eq!(
            target("+4930123"),
            CallTarget::Number("+4930123".to_owned())
        );
        assert_eq!(
            target("sip:bob@127.0.0.1"),
            CallTarget::Number("sip:bob@127.0.0.1".to_owned())
        );
        assert!(mode("coach").is_err());
    }
}
