//! Voicemail: a caller records a message after a prompt
//! ([`FlowContext::voicemail`]); the recording is filed in the recording
//! store under the caller's interaction, and the message becomes an
//! interaction of its own, routed like a call and offered to an agent.
//!
//! The message's interaction (`<caller's id>-voicemail`, channel voice,
//! inbound, from the caller) carries the attributes `voicemail` (the
//! recording's id), `voicemail_for` (the caller's interaction) and
//! `voicemail_file` (where the audio is), the caller's IVR context and the
//! skills the caller's last queue stay required (a French caller's message
//! goes to a French speaker). It
//! waits in its queue like any call, from the time the message was left (not
//! the caller's earlier place: a queue that overflowed the caller after its
//! maximum wait would overflow the message at once). When an agent's phone
//! answers,
//! the agent hears who called and then the message, and the agent is
//! released into after-call work (call the customer back from there); an
//! agent who accepts on the desktop sees the attributes and plays the file
//! there, and is released at once. A queue that refuses it, times it out or
//! overflows it to voicemail again gets it back a minute later (at most
//! [`DELIVERY_ATTEMPTS`] times); the recording stays in the store whatever
//! happens.

use crate::FlowContext;
use crate::center::Shared;
use crate::routing_task::{QueueSignal, RouterCommand, Waiter};
use callcore::{
    Channel, CoreError, Destination, Direction, EndReason, EventKind, Interaction, InteractionId,
    Leg, Prompt, QueueId, RecordSpec, RecordingId, RecordingMeta, RouterInput, RoutingRequest,
    SkillRequirement, Timestamp,
};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// Times a voicemail is queued before it is given up (its recording stays).
pub const DELIVERY_ATTEMPTS: u32 = 30;

/// Wait before a refused or timed-out voicemail is queued again.
const RETRY_AFTER: Duration = Duration::from_secs(60);

/// How a voicemail is taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VoicemailOptions {
    /// Said before recording.
    pub prompt: String,
    /// Longest message.
    pub max_duration: Duration,
    /// The message ends after this much silence.
    pub silence_timeout: Duration,
    /// Said after the message.
    pub thanks: String,
}

impl Default for VoicemailOptions {
    fn default() -> Self {
        Self {
            prompt: "Please leave your name, number and message after the tone, \
                     then press the hash key."
                .into(),
            max_duration: Duration::from_secs(120),
            silence_timeout: Duration::from_secs(5),
            thanks: "Thank you. Your message will be passed to an agent. Goodbye.".into(),
        }
    }
}

/// A message the caller left.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Voicemail {
    /// Its recording.
    pub recording: RecordingId,
    /// The interaction that brings it to an agent.
    pub delivery: InteractionId,
}

impl FlowContext {
    /// Takes a voicemail: says `options.prompt`, records the caller until
    /// the hash key, silence or the maximum length, files the recording and
    /// queues the message in `queue` for an agent (see [`crate::voicemail`]),
    /// then says `options.thanks`. `None` when the caller hung up before
    /// anything was recorded.
    ///
    /// # Errors
    /// Media errors; [`CoreError::LegEnded`] when the caller hung up before
    /// the recording started.
    pub async fn voicemail(
        &mut self,
        queue: QueueId,
        options: &VoicemailOptions,
    ) -> Result<Option<Voicemail>, CoreError> {
        self.say(&options.prompt).await?;
        let spec = RecordSpec {
            max_duration: options.max_duration,
            silence_timeout: options.silence_timeout,
            terminator: Some('#'),
        };
        let started = self.clock().now();
        let recording = match self.record(&spec).await {
            Ok(id) => id,
            Err(CoreError::LegEnded) => return Ok(None),
            Err(e) => return Err(e),
        };
        let ended = self.clock().now();
        let interaction = self.interaction().clone();
        let stored = self
            .stores()
            .recordings
            .get(&interaction.tenant, &recording)
            .await?;
        let file = match stored {
            // absolute, so that the agent's leg finds it whatever its prompts folder
            Some(meta) => {
                std::fs::canonicalize(&meta.path).map_or(meta.path, |p| p.display().to_string())
            }
            None => {
                // a transport that does not file its recordings: the id is the file
                let meta = RecordingMeta {
                    id: recording.clone(),
                    tenant: interaction.tenant.clone(),
                    interaction: interaction.id.clone(),
                    path: recording.to_string(),
                    channels: 1,
                    started_at: started,
                    duration_ms: u64::try_from(ended.duration_since(started).as_millis())
                        .unwrap_or(u64::MAX),
                };
                self.stores().recordings.save(&meta).await?;
                meta.path
            }
        };
        self.record_step("voicemail", recording.to_string());
        self.interaction_mut()
            .attributes
            .insert("voicemail".into(), recording.to_string());
        let delivery = message_interaction(&interaction, &recording, &file, &queue, ended);
        let id = delivery.id.clone();
        // the agent for the message needs what the caller's agent needed
        let skills = self.glue.call.required_skills().to_vec();
        tokio::spawn(deliver(
            self.glue.shared.clone(),
            Delivery {
                message: delivery,
                queue,
                file,
                skills,
            },
            ended,
        ));
        if !self.customer_hung_up() {
            let _ = self.say(&options.thanks).await;
        }
        Ok(Some(Voicemail {
            recording,
            delivery: id,
        }))
    }
}

/// The interaction that brings `recording` to an agent.
fn message_interaction(
    caller: &Interaction,
    recording: &RecordingId,
    file: &str,
    queue: &QueueId,
    now: Timestamp,
) -> Interaction {
    let mut m = Interaction::new(
        InteractionId::from(format!("{}-voicemail", caller.id)),
        caller.tenant.clone(),
        Channel::Voice,
        Direction::Inbound,
        caller.from.expose().clone(),
        queue.to_string(),
        now,
    );
    m.customer = caller.customer.clone();
    m.context = caller.context.clone();
    m.attributes.clone_from(&caller.attributes);
    m.attributes
        .insert("voicemail".into(), recording.to_string());
    m.attributes
        .insert("voicemail_for".into(), caller.id.to_string());
    m.attributes.insert("voicemail_file".into(), file.into());
    m
}

/// Routes the message to an agent and plays it to them (see the module
/// docs).
/// A message on its way to an agent.
struct Delivery {
    message: Interaction,
    queue: QueueId,
    file: String,
    skills: Vec<SkillRequirement>,
}

async fn deliver(shared: Arc<Shared>, delivery: Delivery, left_at: Timestamp) {
    let Delivery {
        message,
        mut queue,
        file,
        skills,
    } = delivery;
    let tenant = message.tenant.clone();
    let id = message.id.clone();
    let from = message.from.expose().clone();
    shared.emitter.emit(
        &tenant,
        EventKind::InteractionCreated {
            interaction: Box::new(message.clone()),
        },
    );
    let mut enqueued_at = left_at;
    for _ in 0..DELIVERY_ATTEMPTS {
        let request = RoutingRequest {
            interaction: id.clone(),
            tenant: tenant.clone(),
            channel: Channel::Voice,
            queue: queue.clone(),
            priority: 0,
            customer: message.customer.clone(),
            preferred_agent: None,
            attributes: message.attributes.clone(),
            required_skills: skills.clone(),
            enqueued_at,
        };
        let (tx, mut signals) = mpsc::unbounded_channel();
        let waiter = Waiter {
            tenant: tenant.clone(),
            from: from.clone(),
            signals: tx,
        };
        if shared
            .router
            .send(RouterCommand::Enqueue(Box::new(request), waiter))
            .is_err()
        {
            return; // the center stopped
        }
        let mut moved = false;
        while let Some(signal) = signals.recv().await {
            match signal {
                QueueSignal::Queued { .. } => {}
                QueueSignal::Connected { agent, queue, leg } => {
                    shared.emitter.emit(
                        &tenant,
                        EventKind::Connected {
                            interaction: id.clone(),
                            agent: agent.clone(),
                            queue,
                        },
                    );
                    if let Some(leg) = leg {
                        play_to_agent(&*leg, &from, &file).await;
                    }
                    let _ = shared.router.send(RouterCommand::Input(
                        RouterInput::InteractionEnded {
                            interaction: id.clone(),
                            agent,
                        },
                        None,
                    ));
                    shared.emitter.emit(
                        &tenant,
                        EventKind::Ended {
                            interaction: id,
                            reason: EndReason::Completed,
                        },
                    );
                    return;
                }
                QueueSignal::Overflow(Destination::Queue(q)) => {
                    queue = q;
                    moved = true;
                }
                QueueSignal::Rejected(_) | QueueSignal::TimedOut | QueueSignal::Overflow(_) => {}
            }
        }
        if !moved {
            shared.clock.sleep(RETRY_AFTER).await;
            // a fresh entry: the old one timed out against its queue's limit
            enqueued_at = shared.clock.now();
        }
    }
    tracing::warn!(interaction = %id, "voicemail not delivered; its recording stays filed");
    shared.emitter.emit(
        &tenant,
        EventKind::Ended {
            interaction: id,
            reason: EndReason::QueueTimeout,
        },
    );
}

/// The agent's answered phone hears who called, then the message; then it is
/// hung up.
async fn play_to_agent(leg: &dyn Leg, from: &str, file: &str) {
    let media = leg.media();
    let intro = format!("Voicemail from {from}.");
    let played = match media.say(&intro, false).await {
        Ok(_) => media.play(&Prompt::File(file.to_owned()), false).await,
        Err(e) => Err(e),
    };
    if let Err(e) = played
        && !matches!(e, CoreError::LegEnded)
    {
        tracing::warn!(error = %e, "playing the voicemail to the agent failed");
    }
    let _ = leg.hangup(callcore::HangupCause::Local).await;
}
