//! The parts of [`FlowRun`] that follow NLU, tasks, queues and conditions.

use std::collections::BTreeMap;

use callcore::{IntentResult, Pii};

use super::super::hours::{LocalTime, parse_hhmm};
use super::super::model::{Condition, Node};
use super::{Action, Asking, FlowEnd, FlowRun, QueueResult};

impl FlowRun {
    pub(super) fn understood(&mut self, r: IntentResult) {
        if let Some(intent) = &r.intent
            && let Some(g) = self
                .spec
                .global_commands
                .iter()
                .find(|g| g.intent.as_ref() == Some(intent))
        {
            let goto = g.goto.clone();
            self.context.intent = Some(intent.clone());
            return self.enter(&goto);
        }
        match self.node_spec() {
            Some(Node::Menu { choices, .. }) => {
                match choices
                    .iter()
                    .find(|c| c.intent.is_some() && c.intent == r.intent)
                {
                    Some(c) => {
                        self.context.intent.clone_from(&r.intent);
                        self.enter(&c.next.clone());
                    }
                    None => self.retry(false),
                }
            }
            Some(Node::Ask { routes, slots, .. }) => {
                for slot in &r.slots {
                    self.variables.insert(slot.name.clone(), slot.value.clone());
                }
                match self.asking.clone() {
                    Asking::Intent => {
                        if r.intent.is_some() {
                            self.context.intent.clone_from(&r.intent);
                        } else if !routes.is_empty() {
                            return self.retry(false);
                        }
                    }
                    Asking::Slot(i)
                        if slots
                            .get(i)
                            .is_some_and(|s| !self.variables.contains_key(&s.name)) =>
                    {
                        return self.retry(false);
                    }
                    _ => {}
                }
                self.next_slot_or_confirm();
            }
            _ => self.retry(false),
        }
    }

    /// Asks for the first missing slot, then for confirmation, then routes.
    pub(super) fn next_slot_or_confirm(&mut self) {
        let Some(Node::Ask { slots, confirm, .. }) = self.node_spec() else {
            return;
        };
        if let Some(i) = slots
            .iter()
            .position(|s| !self.variables.contains_key(&s.name))
        {
            if self.asking != Asking::Slot(i) {
                self.attempts = 0;
                self.no_input = 0;
                self.no_match = 0;
            }
            self.asking = Asking::Slot(i);
            return self.prompt("");
        }
        if confirm.is_some() && self.asking != Asking::Confirm {
            self.asking = Asking::Confirm;
            return self.prompt("");
        }
        self.route();
    }

    pub(super) fn route(&mut self) {
        let Some(Node::Ask {
            routes, otherwise, ..
        }) = self.node_spec()
        else {
            return;
        };
        let next = routes
            .iter()
            .find(|r| self.context.intent.as_ref() == Some(&r.intent))
            .map(|r| r.next.clone())
            .or(otherwise);
        match next {
            Some(n) => {
                self.sync_slots();
                self.enter(&n);
            }
            None => {
                self.asking = Asking::Intent;
                self.retry(false);
            }
        }
    }

    /// The caller said the confirmation was wrong: forget the slots and ask again.
    pub(super) fn reject_slots(&mut self) {
        let Some(Node::Ask { slots, .. }) = self.node_spec() else {
            return;
        };
        for s in &slots {
            self.variables.remove(&s.name);
        }
        self.asking = if slots.is_empty() {
            Asking::Intent
        } else {
            Asking::Slot(0)
        };
        self.retry(false);
    }

    pub(super) fn fill_slot_with_digits(&mut self, i: usize, digits: String) {
        if let Some(Node::Ask { slots, .. }) = self.node_spec()
            && let Some(s) = slots.get(i)
        {
            self.variables.insert(s.name.clone(), digits);
        }
        self.next_slot_or_confirm();
    }

    pub(super) fn task_done(&mut self, result: Result<BTreeMap<String, String>, String>) {
        let Some(Node::Task { next, on_error, .. }) = self.node_spec() else {
            return;
        };
        match result {
            Ok(vars) => {
                self.variables.extend(vars);
                self.enter(&next);
            }
            Err(e) => {
                self.variables.insert("task_error".into(), e);
                self.enter(&on_error);
            }
        }
    }

    pub(super) fn queue_done(&mut self, result: QueueResult) {
        let Some(Node::Queue {
            queue, on_failure, ..
        }) = self.node_spec()
        else {
            return;
        };
        match result {
            QueueResult::Served => self.finish(FlowEnd::Served(queue)),
            QueueResult::Abandoned => self.finish(FlowEnd::CallerLeft),
            QueueResult::GaveUp => self.enter(&on_failure),
            QueueResult::CallbackRequested => {
                self.variables
                    .insert("callback_queue".into(), queue.clone());
                self.finish(FlowEnd::CallbackBooked(queue));
            }
            QueueResult::LeftVoicemail => {
                self.outputs.push_back(Action::Hangup);
                self.finish(FlowEnd::HungUp);
            }
        }
    }

    pub(super) fn callback_booked(&mut self, booked: bool) {
        let Some(Node::CallbackOffer {
            queue,
            accepted,
            declined,
            ..
        }) = self.node_spec()
        else {
            return;
        };
        if booked {
            self.variables.insert("callback_queue".into(), queue);
            self.enter(&accepted);
        } else {
            self.enter(&declined);
        }
    }

    pub(super) fn recorded(&mut self, id: Option<String>) {
        let (var, next) = match self.node_spec() {
            Some(Node::Record { var, next, .. }) => (var, next),
            Some(Node::Voicemail { next, .. }) => ("voicemail".to_owned(), next),
            _ => return,
        };
        if let Some(id) = id {
            self.variables.insert(var, id);
        }
        self.enter(&next);
    }

    /// Copies variables (slots included) into the handoff context, the
    /// sensitive ones masked (in the slots and in the transcript).
    pub(super) fn sync_slots(&mut self) {
        self.context.slots = self
            .variables
            .iter()
            .map(|(k, v)| (k.clone(), Pii::new(v.clone())))
            .collect();
        self.context.sensitive = self
            .spec
            .sensitive
            .iter()
            .filter(|s| self.variables.contains_key(*s))
            .cloned()
            .collect();
        self.context = self.context.masked();
    }

    pub(super) fn holds(&self, condition: &Condition) -> bool {
        let matches = |value: Option<&String>, equals: &Option<String>| match (value, equals) {
            (Some(v), Some(e)) => v == e,
            (Some(_), None) => true,
            (None, _) => false,
        };
        let now = self.now.as_millis();
        match condition {
            Condition::Intent { is } => self.context.intent.as_ref() == Some(is),
            Condition::Var { name, equals } => matches(self.variables.get(name), equals),
            Condition::Attribute { name, equals } => matches(self.attributes.get(name), equals),
            Condition::Open => self.spec.hours.as_ref().is_none_or(|h| h.is_open(now)),
            Condition::TimeBetween { from, to } => {
                let minute = self
                    .spec
                    .hours
                    .as_ref()
                    .map_or_else(|| LocalTime::at(now, 0), |h| h.local(now))
                    .minute;
                match (parse_hhmm(from), parse_hhmm(to)) {
                    (Some(f), Some(t)) if f <= t => f <= minute && minute < t,
                    (Some(f), Some(t)) => minute >= f || minute < t,
                    _ => false,
                }
            }
        }
    }
}
