//! Call flows: a model with two front doors (the Rust [`FlowBuilder`] and
//! JSON/TOML flow files), validation whose errors name the node and field, a
//! sans-IO [`FlowRun`] engine, scripted callers in virtual time ([`sim`]) and
//! [`IvrFlow`], which runs a flow as callcore's [`Flow`](callcore_runtime::Flow).

mod adapter;
mod builder;
pub mod callback;
mod callback_numbers;
mod engine;
mod hours;
mod matching;
mod model;
pub mod sim;
mod validate;
pub mod webhook;
mod wording;

pub use adapter::{FlowTask, IvrFlow};
pub use builder::FlowBuilder;
pub use callback::{
    AttemptResult, CallbackBook, CallbackDialer, CallbackPolicy, CallbackRequest,
    SharedCallbackBook,
};
pub use callback_numbers::{CallbackNumbers, CallbackRefused};
pub use engine::{
    Action, FlowChannel, FlowEnd, FlowRun, Input, KnowledgeBases, QueueResult, fill_template,
};
pub use hours::{BusinessHours, LocalTime, OpenSpan};
pub use model::{
    BranchRule, Condition, FlowSpec, GlobalCommand, IntentRoute, MenuChoice, Node, Retries,
    SlotRequest, Webhook,
};
pub use wording::{is_chinese, spoken_choice};
