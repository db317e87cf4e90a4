//! The screen pop: what the agent desktop shows with an offered or live
//! call — the customer's profile, their history across channels and what
//! the IVR or bot already did (intent, steps, what it heard), so that the
//! customer is never asked twice.
//!
//! Scoped like the call itself: an agent sees the pop of a call offered to
//! them or that they are part of, a supervisor any call of their tenant; a
//! call of another tenant is "not found".

use axum::Json;
use axum::extract::State;
use callcore::{CustomerProfile, InteractionRecord};
use serde::Serialize;
use std::collections::BTreeMap;
use utoipa::ToSchema;

use crate::auth::{AnyUser, Authed};
use crate::error::{ApiError, ErrorBody};
use crate::extract::PathId;
use crate::live::{IvrStep, LiveCall};
use crate::state::AppState;

/// Past interactions shown at most.
const HISTORY: usize = 20;

/// The customer's profile, as the desktop shows it (personal data: shown only
/// to users who may see the call, never logged).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CustomerView {
    /// The profile id.
    pub id: String,
    /// Display name.
    pub name: Option<String>,
    /// A VIP customer.
    pub vip: bool,
    /// Addresses across channels: `phone:+4930…`, `email:…`.
    pub identities: Vec<String>,
    /// Preferences (`language=zh`).
    pub preferences: BTreeMap<String, String>,
    /// Free tags (`churn_risk`).
    pub tags: Vec<String>,
    /// The agent who served them last.
    pub last_agent: Option<String>,
    /// Open cases, orders, tickets.
    pub open_business: Vec<String>,
    /// Agents' notes on the customer.
    pub notes: Option<String>,
}

impl CustomerView {
    pub(crate) fn of(p: &CustomerProfile) -> Self {
        let kind = |k: &callcore::IdentityKind| {
            serde_json::to_value(k)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default()
        };
        CustomerView {
            id: p.id.to_string(),
            name: p.name.as_ref().map(|n| n.expose().clone()),
            vip: p.vip,
            identities: p
                .identities
                .iter()
                .map(|i| format!("{}:{}", kind(&i.kind), i.value.expose()))
                .collect(),
            preferences: p.preferences.clone(),
            tags: p.tags.clone(),
            last_agent: p.last_agent.as_ref().map(ToString::to_string),
            open_business: p.open_business.clone(),
            notes: p.notes.as_ref().map(|n| n.expose().clone()),
        }
    }
}

/// One past interaction of the customer, on any channel.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct HistoryItem {
    /// The interaction.
    pub id: String,
    /// `voice`, `chat`, `email`, …
    pub channel: String,
    /// `inbound` or `outbound`.
    pub direction: String,
    /// When it arrived (milliseconds since the epoch).
    pub created_at: i64,
    /// The queue it waited in.
    pub queue: Option<String>,
    /// The (last) agent who handled it.
    pub agent: Option<String>,
    /// The intent the IVR recognised.
    pub intent: Option<String>,
    /// The wrap-up code or outcome.
    pub disposition: Option<String>,
    /// The agent's wrap-up notes.
    pub notes: Option<String>,
}

fn name<T: Serialize>(v: &T) -> Option<String> {
    match serde_json::to_value(v).ok()? {
        serde_json::Value::String(s) => Some(s),
        serde_json::Value::Null => None,
        other => Some(other.to_string()),
    }
}

impl HistoryItem {
    pub(crate) fn of(r: &InteractionRecord) -> Self {
        HistoryItem {
            id: r.id.to_string(),
            channel: name(&r.channel).unwrap_or_default(),
            direction: name(&r.direction).unwrap_or_default(),
            created_at: r.created_at.as_millis(),
            queue: r.queue.as_ref().map(ToString::to_string),
            agent: r.agent.as_ref().map(ToString::to_string),
            intent: r.intent.clone(),
            disposition: r.disposition.as_ref().and_then(|d| match d {
                callcore::Disposition::Agent(code) => Some(code.clone()),
                other => name(other),
            }),
            notes: r.notes.as_ref().map(|n| n.expose().clone()),
        }
    }
}

/// A slot (variable) the IVR or bot collected: personal data, shown only to
/// users who may see the call, never logged.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SlotView {
    /// The slot's name (`account`, `card_number`).
    pub name: String,
    /// Its value; masked (`••••••••••••1111`) when the flow marked it sensitive.
    pub value: String,
    /// The flow marked it sensitive (the value is masked).
    pub sensitive: bool,
}

/// One line of the conversation with the IVR or bot (what it asked, what the
/// customer answered): personal data, as [`SlotView`].
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ConversationLine {
    /// `bot` or `customer`.
    pub speaker: String,
    /// The words (sensitive slots masked where repeated).
    pub text: String,
    /// When (milliseconds since the epoch).
    pub at: i64,
}

/// What the IVR or bot learned before the handoff.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct IvrContext {
    /// The recognised intent, if any (the last `intent` step, else the one
    /// the flow handed over).
    pub intent: Option<String>,
    /// What it did and heard, oldest first.
    pub steps: Vec<IvrStep>,
    /// The slots it collected, by name.
    pub slots: Vec<SlotView>,
    /// What it asked and was answered, oldest first.
    pub conversation: Vec<ConversationLine>,
}

impl IvrContext {
    fn of(steps: Vec<IvrStep>, handed: Option<callcore::InteractionContext>) -> Self {
        let handed = handed.map(|c| c.masked()).unwrap_or_default();
        let intent = steps
            .iter()
            .rev()
            .find(|s| s.step == "intent")
            .map(|s| s.detail.clone())
            .or_else(|| handed.intent.clone());
        let slots = handed
            .slots
            .iter()
            .map(|(name, value)| SlotView {
                name: name.clone(),
                value: value.expose().clone(),
                sensitive: handed.sensitive.contains(name),
            })
            .collect();
        let conversation = handed
            .transcript
            .iter()
            .map(|l| ConversationLine {
                speaker: name(&l.speaker).unwrap_or_default(),
                text: l.text.expose().clone(),
                at: l.at.as_millis(),
            })
            .collect();
        IvrContext {
            intent,
            steps,
            slots,
            conversation,
        }
    }
}

/// What a flow's bot learned before it handed the customer over (from the
/// flow's variables): shown so that the customer is not asked again.
#[derive(Debug, Clone, Default, Serialize, ToSchema)]
pub struct Handoff {
    /// The customer's question the bot could not answer (`bot_question`).
    pub bot_question: Option<String>,
    /// The knowledge-base entries the bot answered, in order (`bot_answered`).
    pub bot_answered: Vec<String>,
    /// Why it handed off: `asked_for_agent`, `no_answer`, `guess_rejected`,
    /// `unclear`, `no_knowledge_base` (`bot_handoff`).
    pub bot_handoff: Option<String>,
    /// The recognised intent.
    pub intent: Option<String>,
    /// Every slot and variable the flow collected (personal data).
    pub slots: BTreeMap<String, String>,
}

impl Handoff {
    fn of(c: &callcore::InteractionContext) -> Self {
        let slot = |k: &str| c.slots.get(k).map(|v| v.expose().clone());
        Handoff {
            bot_question: slot("bot_question"),
            bot_answered: slot("bot_answered")
                .map(|l| {
                    l.split(',')
                        .filter(|e| !e.is_empty())
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default(),
            bot_handoff: slot("bot_handoff"),
            intent: c.intent.clone(),
            slots: c
                .slots
                .iter()
                .map(|(k, v)| (k.clone(), v.expose().clone()))
                .collect(),
        }
    }
}

/// The screen pop of a call.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ScreenPop {
    /// The call.
    pub call: LiveCall,
    /// The customer's profile, when the center identified them.
    pub customer: Option<CustomerView>,
    /// Their earlier interactions across channels, newest first (at most 20).
    pub history: Vec<HistoryItem>,
    /// The IVR context.
    pub ivr: IvrContext,
    /// What the flow handed over (the bot's question, answers, reason,
    /// intent and slots), when it queued the customer with a context.
    pub handoff: Option<Handoff>,
}

/// The screen pop of a call offered to the agent or that they are on.
#[utoipa::path(get, path = "/api/v1/calls/{interaction}/screen-pop", tag = "calls",
    params(("interaction" = String, Path, description = "the call's interaction id")),
    responses((status = 200, body = ScreenPop, description = "profile, history, IVR context"),
        (status = "4XX", body = ErrorBody, description = "no such live call for the user"),
        (status = 503, body = ErrorBody, description = "store unavailable")),
    security(("session" = ["agent"]), ("bearer" = ["agent"])))]
pub(crate) async fn screen_pop(
    State(st): State<AppState>,
    Authed(p): AnyUser,
    PathId(raw): PathId,
) -> Result<Json<ScreenPop>, ApiError> {
    let id = st.call_for(&p, &raw)?;
    let call =
        st.0.live
            .call(&id)
            .ok_or_else(|| ApiError::not_found("live call", "interaction"))?;
    let stores = st.0.center.stores();
    let (customer, history) = match &call.customer {
        Some(c) => {
            let customer_id = callcore::CustomerId::new(c.as_str());
            let profile = stores
                .customers
                .get(&p.tenant, &customer_id)
                .await
                .map_err(|e| ApiError::from_core(&e, "interaction"))?
                .filter(|pr| pr.tenant == p.tenant);
            let mut past = stores
                .interactions
                .for_customer(&p.tenant, &customer_id)
                .await
                .map_err(|e| ApiError::from_core(&e, "interaction"))?;
            // a supervisor limited to queues: their queues' history only
            let scope = st.scope(&p);
            past.retain(|r| {
                r.id != id
                    && r.tenant == p.tenant
                    && scope
                        .as_ref()
                        .is_none_or(|s| s.covers(r.queue.as_ref(), r.agents.iter().chain(&r.agent)))
            });
            let history = past.iter().rev().take(HISTORY).map(HistoryItem::of);
            (profile.as_ref().map(CustomerView::of), history.collect())
        }
        None => (None, Vec::new()),
    };
    let handed = st.0.live.context(&id);
    let handoff = handed.as_ref().map(|c| Handoff::of(&c.masked()));
    let ivr = IvrContext::of(st.0.live.ivr(&id), handed);
    Ok(Json(ScreenPop {
        call,
        customer,
        history,
        ivr,
        handoff,
    }))
}
