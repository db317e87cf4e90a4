//! Checks a flow before it runs; errors name the node and the field.
//!
//! Caught: a missing start node, a target naming no node, nodes nothing leads
//! to, loops no path leaves (every node must be able to reach a hang-up, a
//! transfer or a queue), menus without choices or with duplicate keys, digit
//! ranges that cannot be met, `ask` nodes with nothing to ask, bad hours.

use std::collections::{BTreeSet, VecDeque};

use super::model::{FlowSpec, Node};
use crate::error::IvrError;

fn err(field: impl Into<String>, message: impl Into<String>) -> IvrError {
    IvrError::invalid("flow", field, message)
}

impl FlowSpec {
    /// Validates the flow (see the [module docs](self)).
    pub fn validate(&self) -> Result<(), IvrError> {
        if !self.nodes.contains_key(&self.start) {
            return Err(err("start", format!("unknown node {:?}", self.start)));
        }
        for (id, node) in &self.nodes {
            for (field, target) in node.targets() {
                if !self.nodes.contains_key(target) {
                    return Err(err(
                        format!("nodes.{id}.{field}"),
                        format!("unknown node {target:?}"),
                    ));
                }
            }
            check_node(id, node)?;
        }
        for (i, g) in self.global_commands.iter().enumerate() {
            if !self.nodes.contains_key(&g.goto) {
                return Err(err(
                    format!("global_commands[{i}].goto"),
                    format!("unknown node {:?}", g.goto),
                ));
            }
            if g.words.is_empty() && g.digits.is_empty() && g.intent.is_none() {
                return Err(err(
                    format!("global_commands[{i}]"),
                    "needs words, digits or an intent",
                ));
            }
        }
        if let Some(h) = &self.hours {
            h.validate()?;
            if !self.nodes.contains_key(&h.after_hours) {
                return Err(err(
                    "hours.after_hours",
                    format!("unknown node {:?}", h.after_hours),
                ));
            }
        }
        self.check_reachable()?;
        self.check_exits()
    }

    fn entry_points(&self) -> Vec<&str> {
        let mut entries = vec![self.start.as_str()];
        entries.extend(self.global_commands.iter().map(|g| g.goto.as_str()));
        if let Some(h) = &self.hours {
            entries.push(&h.after_hours);
        }
        entries
    }

    fn check_reachable(&self) -> Result<(), IvrError> {
        let mut seen: BTreeSet<&str> = BTreeSet::new();
        let mut todo: VecDeque<&str> = self.entry_points().into();
        while let Some(id) = todo.pop_front() {
            if !seen.insert(id) {
                continue;
            }
            if let Some(node) = self.nodes.get(id) {
                todo.extend(node.targets().into_iter().map(|(_, t)| t));
            }
        }
        match self.nodes.keys().find(|id| !seen.contains(id.as_str())) {
            Some(id) => Err(err(
                format!("nodes.{id}"),
                "unreachable: no node leads here",
            )),
            None => Ok(()),
        }
    }

    fn check_exits(&self) -> Result<(), IvrError> {
        // Nodes from which an ending node can be reached, grown backwards.
        let mut can_exit: BTreeSet<&str> = self
            .nodes
            .iter()
            .filter(|(_, n)| n.can_end())
            .map(|(id, _)| id.as_str())
            .collect();
        loop {
            let before = can_exit.len();
            for (id, node) in &self.nodes {
                if node.targets().iter().any(|(_, t)| can_exit.contains(t)) {
                    can_exit.insert(id);
                }
            }
            if can_exit.len() == before {
                break;
            }
        }
        match self.nodes.keys().find(|id| !can_exit.contains(id.as_str())) {
            Some(id) => Err(err(
                format!("nodes.{id}"),
                "loop without exit: no path from here reaches a hangup, transfer or queue",
            )),
            None => Ok(()),
        }
    }
}

fn check_node(id: &str, node: &Node) -> Result<(), IvrError> {
    match node {
        Node::Menu { choices, .. } => {
            if choices.is_empty() {
                return Err(err(
                    format!("nodes.{id}.choices"),
                    "a menu needs at least one choice",
                ));
            }
            let mut keys = BTreeSet::new();
            for (i, c) in choices.iter().enumerate() {
                if c.key.is_empty() || !keys.insert(c.key.as_str()) {
                    return Err(err(
                        format!("nodes.{id}.choices[{i}].key"),
                        format!("empty or duplicate key {:?}", c.key),
                    ));
                }
            }
        }
        Node::CollectDigits { min, max, var, .. } => {
            if *max == 0 || min > max {
                return Err(err(
                    format!("nodes.{id}.max"),
                    format!("min {min} and max {max} cannot be met"),
                ));
            }
            if var.is_empty() {
                return Err(err(format!("nodes.{id}.var"), "is empty"));
            }
        }
        Node::Ask {
            routes,
            slots,
            otherwise,
            ..
        } => {
            if routes.is_empty() && slots.is_empty() {
                return Err(err(
                    format!("nodes.{id}.routes"),
                    "an ask node needs routes or slots",
                ));
            }
            if !slots.is_empty() && routes.is_empty() && otherwise.is_none() {
                return Err(err(
                    format!("nodes.{id}.otherwise"),
                    "needed to leave once the slots are filled",
                ));
            }
        }
        Node::Set { var, .. } | Node::Record { var, .. } if var.is_empty() => {
            return Err(err(format!("nodes.{id}.var"), "is empty"));
        }
        Node::Voicemail { queue, .. } if queue.trim().is_empty() => {
            return Err(err(format!("nodes.{id}.queue"), "is empty"));
        }
        Node::Bot { knowledge_base, .. } if knowledge_base.trim().is_empty() => {
            return Err(err(format!("nodes.{id}.knowledge_base"), "is empty"));
        }
        Node::Bot { max_answers: 0, .. } => {
            return Err(err(format!("nodes.{id}.max_answers"), "must be above 0"));
        }
        Node::Voicemail { max_secs: 0, .. } => {
            return Err(err(format!("nodes.{id}.max_secs"), "must be above 0"));
        }
        Node::Task {
            handler,
            webhook: None,
            ..
        } if handler.is_empty() => {
            return Err(err(
                format!("nodes.{id}.handler"),
                "is empty (name a handler or give a webhook)",
            ));
        }
        Node::Task {
            webhook: Some(w), ..
        } => {
            if let Err(message) = super::webhook::check_url(&w.url) {
                return Err(err(format!("nodes.{id}.webhook.url"), message));
            }
            if w.timeout_ms == 0 {
                return Err(err(
                    format!("nodes.{id}.webhook.timeout_ms"),
                    "must be above 0",
                ));
            }
        }
        _ => {}
    }
    Ok(())
}
