//! Running a [`FlowSpec`] as callcore's [`Flow`] on a live interaction.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use async_trait::async_trait;
use callcore::{
    Channel, CoreError, Destination, EndReason, IntentResult, ListenSpec, NluContext, Prompt,
    SkillRequirement, Timestamp,
};
use callcore_runtime::{
    Flow, FlowContext, FlowOutcome, QueueOptions, QueueOutcome, VoicemailOptions, WaitOptions,
};

use super::callback::{CallbackRequest, SharedCallbackBook};
use super::callback_numbers::CallbackRefused;
use super::engine::{Action, FlowChannel, FlowEnd, FlowRun, Input, KnowledgeBases, QueueResult};
use super::model::FlowSpec;
use crate::kb::KnowledgeBase;

/// A business handler a `task` node runs, e.g. look up a bill or block a card.
/// It gets the flow's variables and returns variables to set, or an error
/// message (the flow then goes to the node's `on_error`).
#[async_trait]
pub trait FlowTask: Send + Sync {
    /// Runs the task.
    async fn run(
        &self,
        variables: &BTreeMap<String, String>,
    ) -> Result<BTreeMap<String, String>, String>;
}

/// A flow file or builder result, runnable by callcore's `Center`.
#[derive(Clone)]
pub struct IvrFlow {
    spec: Arc<FlowSpec>,
    tasks: HashMap<String, Arc<dyn FlowTask>>,
    callbacks: Option<SharedCallbackBook>,
    waiting: HashMap<String, WaitOptions>,
    voicemail: VoicemailOptions,
    voicemail_queues: HashMap<String, String>,
    knowledge: Arc<KnowledgeBases>,
}

/// Queue-to-queue overflows followed for one `queue` node before giving up.
const MAX_OVERFLOW_HOPS: u32 = 8;

impl std::fmt::Debug for IvrFlow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IvrFlow")
            .field("flow", &self.spec.name)
            .field("tasks", &self.tasks.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl IvrFlow {
    /// Wraps a validated flow.
    pub fn new(spec: FlowSpec) -> Self {
        IvrFlow {
            spec: Arc::new(spec),
            tasks: HashMap::new(),
            callbacks: None,
            waiting: HashMap::new(),
            voicemail: VoicemailOptions::default(),
            voicemail_queues: HashMap::new(),
            knowledge: Arc::default(),
        }
    }

    /// Registers the knowledge base the flow's `bot` nodes name `name`
    /// (see [`Node::Bot`](super::Node::Bot)).
    #[must_use]
    pub fn with_knowledge_base(mut self, name: &str, kb: Arc<KnowledgeBase>) -> Self {
        Arc::make_mut(&mut self.knowledge).insert(name.into(), kb);
        self
    }

    /// The flow it runs.
    pub fn spec(&self) -> &FlowSpec {
        &self.spec
    }

    /// What callers hear while waiting in `queue` (music, announcements,
    /// callback key); queues not named here get [`WaitOptions::default`]
    /// (music on hold). A callback asked for with the key is booked like an
    /// accepted `callback_offer` (see [`with_callbacks`](Self::with_callbacks)),
    /// keeping the time the caller started waiting as their place.
    #[must_use]
    pub fn with_waiting(mut self, queue: &str, waiting: WaitOptions) -> Self {
        self.waiting.insert(queue.into(), waiting);
        self
    }

    /// Prompts and lengths of voicemails: `voicemail` nodes (whose own
    /// prompt and length win) and queues that overflow to voicemail.
    #[must_use]
    pub fn with_voicemail(mut self, voicemail: VoicemailOptions) -> Self {
        self.voicemail = voicemail;
        self
    }

    /// Voicemails left by callers `queue` overflowed go to `messages` (a
    /// queue without the maximum wait that sent the caller away; default:
    /// `queue` itself).
    #[must_use]
    pub fn with_voicemail_queue(mut self, queue: &str, messages: &str) -> Self {
        self.voicemail_queues.insert(queue.into(), messages.into());
        self
    }

    /// Whether this call's number may be called back: always without a book
    /// (nothing is dialled then), else by the book's [`CallbackNumbers`] rule.
    ///
    /// [`CallbackNumbers`]: super::CallbackNumbers
    fn callback_permitted(&self, call: &FlowContext) -> Result<(), CallbackRefused> {
        let Some(book) = &self.callbacks else {
            return Ok(());
        };
        let i = call.interaction();
        book.lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .policy()
            .numbers
            .check(i.from.expose(), &i.attributes)
    }

    /// Books a callback for the caller in `queue`, their place being
    /// `waiting_since`; refused (and journaled as a `callback_refused` step) for a
    /// number that may not be called back.
    fn book_callback(
        &self,
        call: &mut FlowContext,
        queue: &str,
        waiting_since: Timestamp,
    ) -> Result<(), CallbackRefused> {
        if let Some(book) = &self.callbacks {
            let i = call.interaction();
            let request = CallbackRequest {
                interaction: i.id.clone(),
                tenant: i.tenant.clone(),
                number: i.from.expose().clone(),
                queue: queue.into(),
                waiting_since,
                context: i.context.clone(),
                attributes: i.attributes.clone(),
                attempts: 0,
                not_before: waiting_since,
            };
            let booked = book
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .book(request);
            if let Err(why) = booked {
                tracing::info!(queue, reason = %why, "callback refused");
                call.record_step("callback_refused", why.to_string());
                return Err(why);
            }
        }
        call.interaction_mut()
            .attributes
            .insert("callback_queue".into(), queue.to_owned());
        call.record_step("callback_requested", queue);
        Ok(())
    }

    /// Waits in `queue`, following overflows to other queues and to
    /// voicemail.
    async fn wait_in_queue(
        &self,
        call: &mut FlowContext,
        mut queue: String,
        priority: i32,
        required_skills: Vec<SkillRequirement>,
    ) -> Result<QueueResult, CoreError> {
        for _ in 0..=MAX_OVERFLOW_HOPS {
            let mut waiting = self.waiting.get(&queue).cloned().unwrap_or_default();
            if waiting.callback_key.is_some()
                && let Err(why) = self.callback_permitted(call)
            {
                // toll fraud: no callback offer to a number nobody vouched for
                call.record_step("callback_not_offered", why.to_string());
                waiting.callback_key = None;
            }
            let options = QueueOptions {
                priority,
                required_skills: required_skills.clone(),
                waiting,
                ..QueueOptions::default()
            };
            return Ok(
                match call.enqueue_with(queue.clone().into(), options).await? {
                    QueueOutcome::Served { .. } => QueueResult::Served,
                    QueueOutcome::Abandoned => QueueResult::Abandoned,
                    QueueOutcome::CallbackRequested {
                        queue,
                        waiting_since,
                        kept_by_router,
                    } => {
                        if kept_by_router {
                            // the router keeps the place; the center calls back
                            call.interaction_mut()
                                .attributes
                                .insert("callback_queue".into(), queue.to_string());
                            call.record_step("callback_requested", queue.as_str());
                            QueueResult::CallbackRequested
                        } else {
                            match self.book_callback(call, queue.as_str(), waiting_since) {
                                Ok(()) => QueueResult::CallbackRequested,
                                Err(_) => QueueResult::GaveUp,
                            }
                        }
                    }
                    QueueOutcome::Overflow(Destination::Queue(next)) => {
                        call.record_step("overflow", next.to_string());
                        queue = next.to_string();
                        continue;
                    }
                    QueueOutcome::Overflow(Destination::Callback) => {
                        // the queue offers a callback in its place: booked, keeping
                        // the time the caller called in
                        let since = call.interaction().created_at;
                        if self.book_callback(call, &queue, since).is_err() {
                            return Ok(QueueResult::GaveUp);
                        }
                        let waiting = self.waiting.get(&queue).cloned().unwrap_or_default();
                        let _ = call.say(&waiting.callback_confirmation).await;
                        QueueResult::CallbackRequested
                    }
                    QueueOutcome::Overflow(Destination::Voicemail) => {
                        let to = self.voicemail_queues.get(&queue).unwrap_or(&queue);
                        match call.voicemail(to.as_str().into(), &self.voicemail).await {
                            Ok(_) | Err(CoreError::LegEnded) => QueueResult::LeftVoicemail,
                            Err(e) => return Err(e),
                        }
                    }
                    _ => QueueResult::GaveUp,
                },
            );
        }
        Ok(QueueResult::GaveUp)
    }

    /// Books accepted callback offers into `book`, which a
    /// [`CallbackDialer`](super::CallbackDialer) places when the caller's turn
    /// comes. Without a book the request is only recorded on the interaction
    /// (`callback_queue` attribute, `CallbackRequested` end reason).
    #[must_use]
    pub fn with_callbacks(mut self, book: SharedCallbackBook) -> Self {
        self.callbacks = Some(book);
        self
    }

    /// Registers the handler for `task` nodes naming `name`.
    #[must_use]
    pub fn with_task(mut self, name: &str, task: Arc<dyn FlowTask>) -> Self {
        self.tasks.insert(name.into(), task);
        self
    }

    async fn perform(
        &self,
        call: &mut FlowContext,
        action: Action,
    ) -> Result<Option<Input>, CoreError> {
        Ok(Some(match action {
            Action::Say { text, barge_in } => {
                Input::PlayDone(call.say_with(&text, barge_in).await?)
            }
            Action::Play { file, barge_in } => {
                Input::PlayDone(call.play(&Prompt::File(file), barge_in).await?)
            }
            Action::Listen {
                no_input_timeout,
                hints,
                language,
            } => {
                let spec = ListenSpec {
                    no_input_timeout,
                    hints,
                    language,
                    ..ListenSpec::default()
                };
                Input::Heard(call.listen(&spec).await?)
            }
            Action::CollectDigits(spec) => Input::Digits(call.collect_digits(&spec).await?),
            Action::Understand {
                text,
                expected_intents,
            } => {
                let result = match call.providers().nlu.clone() {
                    Some(nlu) => {
                        let context = NluContext {
                            expected_intents,
                            ..NluContext::default()
                        };
                        nlu.recognize(&text, &context).await?
                    }
                    None => IntentResult::default(),
                };
                if let Some(intent) = &result.intent {
                    call.set_intent(intent);
                }
                Input::Understood(result)
            }
            Action::RunTask { handler, variables } => {
                call.record_step("task", handler.clone());
                Input::TaskDone(match self.tasks.get(&handler) {
                    Some(task) => task.run(&variables).await,
                    None => Err(format!("no task handler {handler:?}")),
                })
            }
            Action::CallWebhook {
                handler,
                url,
                timeout,
                variables,
            } => {
                call.record_step("task", handler);
                #[cfg(feature = "webhook")]
                let result = super::webhook::call(&url, &variables, timeout).await;
                #[cfg(not(feature = "webhook"))]
                let result = {
                    let _ = (&variables, timeout);
                    Err(format!(
                        "webhook {url}: callcore-ivr was built without the `webhook` feature"
                    ))
                };
                Input::TaskDone(result)
            }
            Action::Enqueue {
                queue,
                priority,
                skills,
                context,
            } => {
                // the bot's question, answers and hand-off reason, the
                // intent and slots: journaled for the agent's screen pop when
                // the interaction enters the queue (`context_shared`)
                call.interaction_mut().context = context;
                if !skills.is_empty() {
                    // for the agent's screen; routing reads `required_skills`
                    call.interaction_mut()
                        .attributes
                        .insert("skills".into(), skills.join(","));
                }
                let required = skills
                    .iter()
                    .map(|s| SkillRequirement {
                        skill: s.as_str().into(),
                        min_proficiency: 1,
                    })
                    .collect();
                Input::QueueDone(self.wait_in_queue(call, queue, priority, required).await?)
            }
            Action::BookCallback { queue, context } => {
                call.interaction_mut().context = context;
                let since = call.interaction().created_at;
                // The caller's place: when they called in.
                Input::CallbackBooked(self.book_callback(call, &queue, since).is_ok())
            }
            Action::Voicemail {
                prompt,
                queue,
                max_duration,
            } => {
                let mut options = self.voicemail.clone();
                if let Some(p) = prompt {
                    options.prompt = p;
                }
                options.max_duration = max_duration;
                let left = call.voicemail(queue.into(), &options).await?;
                Input::Recorded(left.map(|v| v.recording.to_string()))
            }
            Action::Record { max_duration } => {
                let spec = callcore::RecordSpec {
                    max_duration,
                    silence_timeout: std::time::Duration::from_secs(5),
                    terminator: Some('#'),
                };
                Input::Recorded(
                    call.leg()
                        .media()
                        .record(&spec)
                        .await
                        .ok()
                        .map(|id| id.to_string()),
                )
            }
            Action::Transfer { target, context } => {
                call.interaction_mut().context = context;
                call.transfer(&target).await?;
                return Ok(None);
            }
            Action::Hangup => {
                call.hangup().await?;
                return Ok(None);
            }
        }))
    }
}

#[async_trait]
impl Flow for IvrFlow {
    async fn run(&self, call: &mut FlowContext) -> Result<FlowOutcome, CoreError> {
        let channel = if call.interaction().channel == Channel::Voice {
            FlowChannel::Voice
        } else {
            FlowChannel::Text
        };
        let attributes = call.interaction().attributes.clone();
        let mut run = FlowRun::start_with_knowledge(
            self.spec.clone(),
            channel,
            attributes,
            call.clock().now(),
            self.knowledge.clone(),
        );
        while let Some(action) = run.poll_output() {
            let input = match self.perform(call, action).await {
                Ok(Some(input)) => input,
                Ok(None) => break,
                Err(CoreError::LegEnded) => Input::CallerHungUp,
                Err(e) => return Err(e),
            };
            run.handle_input(input, call.clock().now());
        }
        let callback = run.variables().contains_key("callback_queue");
        let reason = match run.end() {
            Some(FlowEnd::Transferred(_)) => EndReason::Transferred,
            // whoever left the conversation with the agent first ended it
            Some(FlowEnd::Served(_)) if call.customer_hung_up() => EndReason::CustomerHangup,
            Some(FlowEnd::Served(_)) => EndReason::AgentHangup,
            Some(FlowEnd::CallerLeft) => EndReason::CustomerHangup,
            Some(FlowEnd::Runaway) => EndReason::Error,
            _ if callback => EndReason::CallbackRequested,
            _ => EndReason::Completed,
        };
        Ok(FlowOutcome::Done(reason))
    }
}
