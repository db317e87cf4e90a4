//! Building flows in Rust; the result is the same [`FlowSpec`] a flow file gives.
//!
//! ```
//! use callcore_ivr::flow::{FlowBuilder, MenuChoice};
//! let flow = FlowBuilder::new("support", "welcome")
//!     .say("welcome", "Welcome to Example Telecom.", "menu")
//!     .menu("menu", "What can we do for you?", vec![
//!         MenuChoice::new("1", "your bill", "bill").words(["bill", "balance"]),
//!         MenuChoice::new("2", "an agent", "agents"),
//!     ], "agents")
//!     .say("bill", "Your bill is 42 dollars.", "bye")
//!     .queue("agents", "support")
//!     .hangup("bye", Some("Goodbye."))
//!     .global_command(["agent", "operator"], ["0"], "agents")
//!     .build()
//!     .unwrap();
//! assert_eq!(flow.nodes.len(), 6); // queue() adds a hang-up for when the queue gives up
//! ```

use std::collections::BTreeMap;

use super::hours::BusinessHours;
use super::model::{FlowSpec, GlobalCommand, MenuChoice, Node, Retries, Webhook};
use crate::error::IvrError;

/// Builds a [`FlowSpec`]; [`build`](Self::build) validates it.
#[derive(Debug, Clone)]
pub struct FlowBuilder {
    spec: FlowSpec,
}

impl MenuChoice {
    /// A choice picked by `key`, read out as `label`, leading to `next`.
    pub fn new(key: &str, label: &str, next: &str) -> Self {
        MenuChoice {
            key: key.into(),
            label: label.into(),
            words: Vec::new(),
            intent: None,
            next: next.into(),
        }
    }

    /// Words that also pick this choice.
    #[must_use]
    pub fn words<const N: usize>(mut self, words: [&str; N]) -> Self {
        self.words.extend(words.iter().map(|w| (*w).to_string()));
        self
    }

    /// An NLU intent that also picks this choice.
    #[must_use]
    pub fn intent(mut self, intent: &str) -> Self {
        self.intent = Some(intent.into());
        self
    }
}

impl FlowBuilder {
    /// A flow named `name` starting at node `start`.
    pub fn new(name: &str, start: &str) -> Self {
        FlowBuilder {
            spec: FlowSpec {
                name: name.into(),
                start: start.into(),
                global_commands: Vec::new(),
                hours: None,
                no_input_timeout_ms: 5_000,
                language: None,
                sensitive: Vec::new(),
                nodes: BTreeMap::new(),
            },
        }
    }

    /// The language the flow speaks and hears (`"zh"`; see
    /// [`FlowSpec::language`]).
    #[must_use]
    pub fn language(mut self, language: &str) -> Self {
        self.spec.language = Some(language.into());
        self
    }

    /// Adds any node.
    #[must_use]
    pub fn node(mut self, id: &str, node: Node) -> Self {
        self.spec.nodes.insert(id.into(), node);
        self
    }

    /// Adds a `say` node.
    #[must_use]
    pub fn say(self, id: &str, text: &str, next: &str) -> Self {
        self.node(
            id,
            Node::Say {
                text: text.into(),
                barge_in: false,
                next: next.into(),
            },
        )
    }

    /// Adds a menu with default retries.
    #[must_use]
    pub fn menu(self, id: &str, prompt: &str, choices: Vec<MenuChoice>, on_failure: &str) -> Self {
        self.node(
            id,
            Node::Menu {
                prompt: prompt.into(),
                choices,
                retries: Retries::default(),
                on_failure: on_failure.into(),
                min_confidence: 0.0,
            },
        )
    }

    /// Sets the menu `id`'s least confidence for a spoken answer to count
    /// ([`Node::Menu`]'s `min_confidence`); no effect on other nodes.
    #[must_use]
    pub fn min_confidence(mut self, id: &str, confidence: f32) -> Self {
        if let Some(Node::Menu { min_confidence, .. }) = self.spec.nodes.get_mut(id) {
            *min_confidence = confidence;
        }
        self
    }

    /// Adds a `set` node.
    #[must_use]
    pub fn set(self, id: &str, var: &str, value: &str, next: &str) -> Self {
        self.node(
            id,
            Node::Set {
                var: var.into(),
                value: value.into(),
                next: next.into(),
            },
        )
    }

    /// Adds a `task` node running the handler registered as `handler`.
    #[must_use]
    pub fn task(self, id: &str, handler: &str, next: &str, on_error: &str) -> Self {
        self.node(
            id,
            Node::Task {
                handler: handler.into(),
                webhook: None,
                next: next.into(),
                on_error: on_error.into(),
            },
        )
    }

    /// Adds a `task` node that POSTs the variables to a webhook and merges
    /// its JSON answer into them.
    #[must_use]
    pub fn webhook(self, id: &str, webhook: Webhook, next: &str, on_error: &str) -> Self {
        self.node(
            id,
            Node::Task {
                handler: format!("webhook:{id}"),
                webhook: Some(webhook),
                next: next.into(),
                on_error: on_error.into(),
            },
        )
    }

    /// Adds a `queue` node at normal priority that hangs up if the queue gives up.
    #[must_use]
    pub fn queue(self, id: &str, queue: &str) -> Self {
        let fail = format!("{id}__failed");
        self.node(
            id,
            Node::Queue {
                queue: queue.into(),
                priority: 0,
                skills: Vec::new(),
                on_failure: fail.clone(),
            },
        )
        .node(
            &fail,
            Node::Hangup {
                message: Some("Sorry, nobody is available. Please call again later.".into()),
            },
        )
    }

    /// Adds a `transfer` node.
    #[must_use]
    pub fn transfer(self, id: &str, target: &str) -> Self {
        self.node(
            id,
            Node::Transfer {
                target: target.into(),
            },
        )
    }

    /// Adds a `hangup` node.
    #[must_use]
    pub fn hangup(self, id: &str, message: Option<&str>) -> Self {
        self.node(
            id,
            Node::Hangup {
                message: message.map(String::from),
            },
        )
    }

    /// Adds a command valid at every prompt.
    #[must_use]
    pub fn global_command<const W: usize, const D: usize>(
        mut self,
        words: [&str; W],
        digits: [&str; D],
        goto: &str,
    ) -> Self {
        self.spec.global_commands.push(GlobalCommand {
            words: words.iter().map(|w| (*w).to_string()).collect(),
            digits: digits.iter().map(|d| (*d).to_string()).collect(),
            intent: None,
            goto: goto.into(),
        });
        self
    }

    /// Marks the variable (slot) `var` sensitive: the agent sees it masked.
    #[must_use]
    pub fn sensitive(mut self, var: &str) -> Self {
        if !self.spec.sensitive.iter().any(|v| v == var) {
            self.spec.sensitive.push(var.into());
        }
        self
    }

    /// Sets business hours.
    #[must_use]
    pub fn hours(mut self, hours: BusinessHours) -> Self {
        self.spec.hours = Some(hours);
        self
    }

    /// Validates and returns the flow.
    pub fn build(self) -> Result<FlowSpec, IvrError> {
        self.spec.validate()?;
        Ok(self.spec)
    }
}

impl FlowSpec {
    /// Parses and validates a JSON flow file.
    pub fn from_json(json: &str) -> Result<Self, IvrError> {
        let spec: FlowSpec = serde_json::from_str(json).map_err(|e| IvrError::json("flow", &e))?;
        spec.validate()?;
        Ok(spec)
    }

    /// Parses and validates a TOML flow file.
    pub fn from_toml(text: &str) -> Result<Self, IvrError> {
        let spec: FlowSpec =
            toml::from_str(text).map_err(|e| IvrError::invalid("flow", "toml", e.to_string()))?;
        spec.validate()?;
        Ok(spec)
    }
}
