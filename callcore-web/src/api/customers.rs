//! One customer across channels: merging two profiles by hand (the customer
//! says "I wrote to you from my other address"). The merged profile keeps
//! both profiles' identities and the whole history; the absorbed one is
//! gone. Automatic merges (an identity proven on a channel) happen in the
//! center when an interaction arrives.
//!
//! A supervisor merges any two profiles of their tenant; an agent only
//! while on a live interaction (`interaction`) whose customer is one of the
//! two. Another tenant's profile is "not found". A supervisor undoes a
//! merge (`unmerge`): the store kept what the merge changed. A supervisor
//! limited to queues merges only two profiles each served through their
//! queues, and unmerges only such a kept profile (403 otherwise; see
//! `customer_profile`).

use axum::Json;
use axum::extract::State;
use callcore::CustomerId;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::customer_profile::profile_for;
use super::screen_pop::CustomerView;
use crate::auth::{AnyUser, Authed, SupervisorUser};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{JsonBody, PathId};
use crate::state::AppState;
use crate::users::Role;

/// What to merge into the profile of the path.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MergeRequest {
    /// The profile merged in (its identities and history move over; it is
    /// deleted).
    pub absorb: String,
    /// An agent: the live interaction they are on whose customer is one of
    /// the two (supervisors need none).
    #[serde(default)]
    pub interaction: Option<String>,
}

/// Merges another profile into this one.
#[utoipa::path(post, path = "/api/v1/customers/{customer}/merge", tag = "customers",
    params(("customer" = String, Path, description = "the profile kept")),
    request_body = MergeRequest,
    responses((status = 200, body = CustomerView, description = "the merged profile"),
        (status = "4XX", body = ErrorBody, description = "no such profile in the tenant (404), the same profile twice (409), an agent not on an interaction of either (403), a profile outside a limited supervisor's queues (403)"),
        (status = 503, body = ErrorBody, description = "store unavailable")),
    security(("session" = ["agent"]), ("bearer" = ["agent"])))]
pub(crate) async fn merge(
    State(st): State<AppState>,
    Authed(p): AnyUser,
    PathId(raw): PathId,
    JsonBody(req): JsonBody<MergeRequest>,
) -> Result<Json<CustomerView>, ApiError> {
    let kept = CustomerId::new(raw.as_str());
    let absorb = req.absorb.trim();
    if absorb.is_empty() || absorb.len() > 128 || absorb.chars().any(char::is_control) {
        return Err(ApiError::bad_input(
            "absorb",
            "1-128 characters, no control characters",
        ));
    }
    let absorbed = CustomerId::new(absorb);
    if st.scope(&p).is_some() {
        // a limited supervisor: both profiles served through their queues
        profile_for(&st, &p, kept.as_str()).await?;
        profile_for(&st, &p, absorbed.as_str())
            .await
            .map_err(|e| e.field("absorb"))?;
    }
    if p.role < Role::Supervisor {
        let raw = req.interaction.as_deref().ok_or_else(|| {
            ApiError::forbidden("an agent merges the customer of an interaction they are on")
        })?;
        let id = st.call_for(&p, raw)?;
        let on =
            st.0.live
                .call(&id)
                .and_then(|c| c.customer)
                .is_some_and(|c| c == kept.as_str() || c == absorbed.as_str());
        if !on {
            return Err(ApiError::forbidden(
                "neither profile is the customer of that interaction",
            ));
        }
    }
    let merged =
        st.0.center
            .stores()
            .customers
            .merge(&p.tenant, &kept, &absorbed)
            .await
            .map_err(|e| ApiError::from_core(&e, "customer"))?;
    // live interactions and records not yet saved follow the merge
    st.0.center.journal_event(
        &p.tenant,
        callcore::EventKind::CustomersMerged {
            kept: kept.clone(),
            absorbed: absorbed.clone(),
        },
    );
    tracing::info!(kept = %kept, absorbed = %absorbed, by = %p.user, "customer profiles merged by hand");
    Ok(Json(CustomerView::of(&merged)))
}

/// Which merge to undo.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UnmergeRequest {
    /// The profile that was merged into the one of the path (it comes back).
    pub absorbed: String,
}

/// Both profiles after a merge was undone.
#[derive(Debug, Serialize, ToSchema)]
pub struct UnmergeResult {
    /// The profile of the path, without what the absorbed one brought.
    pub kept: CustomerView,
    /// The absorbed profile, back as it was with its identities.
    pub restored: CustomerView,
    /// The interactions given back to it.
    pub interactions: Vec<String>,
}

/// Undoes the merge of another profile into this one (a merge by hand or an
/// automatic one): the absorbed profile comes back as it was before, with
/// its identities and the interactions that had moved.
#[utoipa::path(post, path = "/api/v1/customers/{customer}/unmerge", tag = "customers",
    params(("customer" = String, Path, description = "the profile that was kept")),
    request_body = UnmergeRequest,
    responses((status = 200, body = UnmergeResult, description = "both profiles"),
        (status = "4XX", body = ErrorBody, description = "`absorbed` malformed (400), no such profile or merge in the tenant (404), the profile outside a limited supervisor's queues (403), a profile of that id exists again (409)"),
        (status = 503, body = ErrorBody, description = "store unavailable")),
    security(("session" = ["supervisor"]), ("bearer" = ["supervisor"])))]
pub(crate) async fn unmerge(
    State(st): State<AppState>,
    Authed(p): SupervisorUser,
    PathId(raw): PathId,
    JsonBody(req): JsonBody<UnmergeRequest>,
) -> Result<Json<UnmergeResult>, ApiError> {
    let kept = CustomerId::new(raw.as_str());
    let absorbed = req.absorbed.trim();
    if absorbed.is_empty() || absorbed.len() > 128 || absorbed.chars().any(char::is_control) {
        return Err(ApiError::bad_input(
            "absorbed",
            "1-128 characters, no control characters",
        ));
    }
    let absorbed = CustomerId::new(absorbed);
    if st.scope(&p).is_some() {
        // a limited supervisor: the kept profile served through their queues
        profile_for(&st, &p, kept.as_str()).await?;
    }
    let undone =
        st.0.center
            .stores()
            .customers
            .unmerge(&p.tenant, &kept, &absorbed)
            .await
            .map_err(|e| {
                let field = match &e {
                    callcore::CoreError::NotFound {
                        what: "customer", ..
                    } => "customer",
                    _ => "absorbed",
                };
                ApiError::from_core(&e, field)
            })?;
    // live views and records not yet saved follow the store
    st.0.center.journal_event(
        &p.tenant,
        callcore::EventKind::CustomersUnmerged {
            kept: kept.clone(),
            absorbed: absorbed.clone(),
            interactions: undone.interactions.clone(),
        },
    );
    tracing::info!(kept = %kept, absorbed = %absorbed, by = %p.user, "customer merge undone");
    Ok(Json(UnmergeResult {
        kept: CustomerView::of(&undone.kept),
        restored: CustomerView::of(&undone.absorbed),
        interactions: undone
            .interactions
            .iter()
            .map(ToString::to_string)
            .collect(),
    }))
}
