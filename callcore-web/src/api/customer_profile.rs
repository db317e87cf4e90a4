//! Customer profiles outside a live interaction's screen pop: read one
//! (its identities and its history across channels), edit what agents may
//! edit (name, notes, tags), and find one by an address.
//!
//! A supervisor reads and edits any profile of their tenant and searches
//! them; an agent reads and edits the profile of a customer they are on a
//! live interaction with (any other is "not found" to them, as another
//! tenant's is to everyone). A supervisor limited to queues reads, edits,
//! merges and unmerges only profiles served through their queues (one of
//! the profile's interactions, stored or live, came through one of them or,
//! not queued, was taken by one of their agents): 403 otherwise; the
//! history they see lists only their queues' interactions.

use axum::Json;
use axum::extract::State;
use callcore::{CustomerId, CustomerProfile, IdentityKind, Pii};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::screen_pop::{CustomerView, HistoryItem};
use crate::api::history::may_read;
use crate::auth::{AnyUser, Authed, SupervisorUser};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{JsonBody, PathId, QueryArgs};
use crate::state::{AppState, Scope, outside_scope};
use crate::users::{Principal, Role};

/// Past interactions listed at most.
const HISTORY: usize = 100;
/// The longest name, in characters.
const MAX_NAME: usize = 200;
/// The longest notes, in characters.
const MAX_NOTES: usize = 4000;
/// The most tags.
const MAX_TAGS: usize = 50;
/// The longest tag, in characters.
const MAX_TAG: usize = 64;

/// A profile with its history.
#[derive(Debug, Serialize, ToSchema)]
pub struct CustomerDetail {
    /// The profile.
    pub customer: CustomerView,
    /// Its interactions on every channel, newest first (at most 100).
    pub history: Vec<HistoryItem>,
}

/// The editable fields of a profile; those left out stay as they are.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CustomerUpdate {
    /// Display name, at most 200 characters; `""` clears it.
    #[serde(default)]
    pub name: Option<String>,
    /// Notes, at most 4000 characters (line breaks allowed); `""` clears them.
    #[serde(default)]
    pub notes: Option<String>,
    /// Tags (replacing the profile's): at most 50, each 1-64 letters, digits,
    /// `-`, `_`, `.` or `:`.
    #[serde(default)]
    pub tags: Option<Vec<String>>,
}

/// The address to find a profile by: exactly one.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct CustomerQuery {
    /// A phone number as the profile knows it (E.164: `%2B4930…`; a `+` left
    /// unencoded, read as a space, is taken as `+`).
    pub phone: Option<String>,
    /// An e-mail address (any case).
    pub email: Option<String>,
    /// An account or contract number.
    pub account: Option<String>,
}

/// The profiles found.
#[derive(Debug, Serialize, ToSchema)]
pub struct CustomerMatches {
    /// The profile known by the address, if any (one at most).
    pub customers: Vec<CustomerView>,
}

/// Whether a supervisor limited to `scope` may act on profile `id`: one of
/// its interactions, live or stored, is within their queues.
async fn served_within(
    st: &AppState,
    p: &Principal,
    scope: &Scope,
    id: &CustomerId,
) -> Result<bool, ApiError> {
    let live = st.0.live.calls(&p.tenant).iter().any(|c| {
        c.customer.as_deref() == Some(id.as_str())
            && scope.covers(c.queue.as_ref(), c.agents.iter().chain(&c.agent))
    });
    if live {
        return Ok(true);
    }
    let past =
        st.0.center
            .stores()
            .interactions
            .for_customer(&p.tenant, id)
            .await
            .map_err(|e| ApiError::from_core(&e, "customer"))?;
    Ok(past.iter().any(|r| may_read(p, Some(scope), r)))
}

/// The profile `raw` of `p`'s tenant as `p` may see it; 404 otherwise (403
/// outside a limited supervisor's queues).
pub(crate) async fn profile_for(
    st: &AppState,
    p: &Principal,
    raw: &str,
) -> Result<CustomerProfile, ApiError> {
    let id = CustomerId::new(raw);
    let not_found = || ApiError::not_found("customer", "customer");
    if p.role < Role::Supervisor {
        let on =
            st.0.live
                .calls(&p.tenant)
                .iter()
                .any(|c| AppState::may_see(p, c) && c.customer.as_deref() == Some(raw));
        if !on {
            return Err(not_found());
        }
    }
    let profile =
        st.0.center
            .stores()
            .customers
            .get(&p.tenant, &id)
            .await
            .map_err(|e| ApiError::from_core(&e, "customer"))?
            .filter(|c| c.tenant == p.tenant)
            .ok_or_else(not_found)?;
    if let Some(scope) = st.scope(p)
        && !served_within(st, p, &scope, &id).await?
    {
        return Err(outside_scope());
    }
    Ok(profile)
}

async fn detail(
    st: &AppState,
    p: &Principal,
    profile: &CustomerProfile,
) -> Result<CustomerDetail, ApiError> {
    let mut past =
        st.0.center
            .stores()
            .interactions
            .for_customer(&p.tenant, &profile.id)
            .await
            .map_err(|e| ApiError::from_core(&e, "customer"))?;
    let scope = st.scope(p);
    past.retain(|r| {
        r.tenant == p.tenant
            && scope
                .as_ref()
                .is_none_or(|s| s.covers(r.queue.as_ref(), r.agents.iter().chain(&r.agent)))
    });
    Ok(CustomerDetail {
        customer: CustomerView::of(profile),
        history: past
            .iter()
            .rev()
            .take(HISTORY)
            .map(HistoryItem::of)
            .collect(),
    })
}

/// A customer's profile and history.
#[utoipa::path(get, path = "/api/v1/customers/{customer}", tag = "customers",
    params(("customer" = String, Path, description = "the profile id")),
    responses((status = 200, body = CustomerDetail, description = "the profile, its identities and history"),
        (status = "4XX", body = ErrorBody, description = "no such profile in the tenant, or (an agent) not the customer of a live interaction of theirs (404)"),
        (status = 503, body = ErrorBody, description = "store unavailable")),
    security(("session" = ["agent"]), ("bearer" = ["agent"])))]
pub(crate) async fn get(
    State(st): State<AppState>,
    Authed(p): AnyUser,
    PathId(raw): PathId,
) -> Result<Json<CustomerDetail>, ApiError> {
    let profile = profile_for(&st, &p, &raw).await?;
    Ok(Json(detail(&st, &p, &profile).await?))
}

/// Checks an update, naming the field at fault.
fn check(u: &CustomerUpdate) -> Result<(), ApiError> {
    if let Some(name) = &u.name {
        if name.chars().count() > MAX_NAME {
            return Err(ApiError::bad_input(
                "name",
                format!("at most {MAX_NAME} characters"),
            ));
        }
        if name.chars().any(char::is_control) {
            return Err(ApiError::bad_input("name", "no control characters"));
        }
    }
    if let Some(notes) = &u.notes {
        if notes.chars().count() > MAX_NOTES {
            return Err(ApiError::bad_input(
                "notes",
                format!("at most {MAX_NOTES} characters"),
            ));
        }
        if notes
            .chars()
            .any(|c| c.is_control() && c != '\n' && c != '\t')
        {
            return Err(ApiError::bad_input(
                "notes",
                "no control characters but line breaks and tabs",
            ));
        }
    }
    if let Some(tags) = &u.tags {
        if tags.len() > MAX_TAGS {
            return Err(ApiError::bad_input(
                "tags",
                format!("at most {MAX_TAGS} tags"),
            ));
        }
        for (i, t) in tags.iter().enumerate() {
            let ok = !t.is_empty()
                && t.chars().count() <= MAX_TAG
                && t.chars().all(|c| c.is_alphanumeric() || "-_.:".contains(c));
            if !ok {
                return Err(ApiError::bad_input(
                    format!("tags[{i}]"),
                    format!("1-{MAX_TAG} letters, digits, -, _, . or :"),
                ));
            }
        }
    }
    Ok(())
}

/// Edits a customer's name, notes and tags.
#[utoipa::path(patch, path = "/api/v1/customers/{customer}", tag = "customers",
    params(("customer" = String, Path, description = "the profile id")),
    request_body = CustomerUpdate,
    responses((status = 200, body = CustomerDetail, description = "the profile as saved"),
        (status = "4XX", body = ErrorBody, description = "a field refused (400, naming it), no such profile for the user (404)"),
        (status = 503, body = ErrorBody, description = "store unavailable")),
    security(("session" = ["agent"]), ("bearer" = ["agent"])))]
pub(crate) async fn update(
    State(st): State<AppState>,
    Authed(p): AnyUser,
    PathId(raw): PathId,
    JsonBody(u): JsonBody<CustomerUpdate>,
) -> Result<Json<CustomerDetail>, ApiError> {
    check(&u)?;
    let mut profile = profile_for(&st, &p, &raw).await?;
    if let Some(name) = u.name {
        let name = name.trim();
        profile.name = (!name.is_empty()).then(|| Pii::new(name.to_owned()));
    }
    if let Some(notes) = u.notes {
        let notes = notes.trim();
        profile.notes = (!notes.is_empty()).then(|| Pii::new(notes.to_owned()));
    }
    if let Some(tags) = u.tags {
        let mut unique = Vec::with_capacity(tags.len());
        for t in tags {
            if !unique.contains(&t) {
                unique.push(t);
            }
        }
        profile.tags = unique;
    }
    st.0.center
        .stores()
        .customers
        .save(&profile)
        .await
        .map_err(|e| ApiError::from_core(&e, "customer"))?;
    tracing::info!(customer = %profile.id, by = %p.user, "customer profile edited");
    Ok(Json(detail(&st, &p, &profile).await?))
}

/// Finds the profile known by a phone number, e-mail address or account.
#[utoipa::path(get, path = "/api/v1/customers", tag = "customers",
    params(CustomerQuery),
    responses((status = 200, body = CustomerMatches, description = "the profile known by the address (none or one)"),
        (status = "4XX", body = ErrorBody, description = "not exactly one of phone, email, account (400, naming it)"),
        (status = 503, body = ErrorBody, description = "store unavailable")),
    security(("session" = ["supervisor"]), ("bearer" = ["supervisor"])))]
pub(crate) async fn search(
    State(st): State<AppState>,
    Authed(p): SupervisorUser,
    QueryArgs(q): QueryArgs<CustomerQuery>,
) -> Result<Json<CustomerMatches>, ApiError> {
    let given: Vec<(IdentityKind, &str, String)> = [
        (IdentityKind::Phone, "phone", q.phone),
        (IdentityKind::Email, "email", q.email),
        (IdentityKind::Account, "account", q.account),
    ]
    .into_iter()
    .filter_map(|(k, f, v)| v.map(|v| (k, f, v)))
    .collect();
    let [(kind, field, raw)] = given.as_slice() else {
        return Err(ApiError::bad_input(
            "phone",
            "give exactly one of phone, email, account",
        ));
    };
    let value = match kind {
        IdentityKind::Phone => match raw.strip_prefix(' ') {
            Some(rest) => format!("+{}", rest.trim()),
            None => raw.trim().to_owned(),
        },
        IdentityKind::Email => raw.trim().to_lowercase(),
        _ => raw.trim().to_owned(),
    };
    if value.is_empty() || value.chars().count() > 254 || value.chars().any(char::is_control) {
        return Err(ApiError::bad_input(
            *field,
            "1-254 characters, no control characters",
        ));
    }
    let store = &st.0.center.stores().customers;
    let mut found = store
        .find_by_identity(&p.tenant, *kind, &value)
        .await
        .map_err(|e| ApiError::from_core(&e, field))?;
    if found.is_none() && *kind == IdentityKind::Email && value != raw.trim() {
        // an address stored as it was written
        found = store
            .find_by_identity(&p.tenant, *kind, raw.trim())
            .await
            .map_err(|e| ApiError::from_core(&e, field))?;
    }
    Ok(Json(CustomerMatches {
        customers: found
            .filter(|c| c.tenant == p.tenant)
            .iter()
            .map(CustomerView::of)
            .collect(),
    }))
}
