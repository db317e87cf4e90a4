//! Configuration reads (secrets never shown).

use axum::Json;
use axum::extract::State;

use crate::auth::{AdminUser, AnyUser, Authed, SupervisorUser};
use crate::config_view::{CampaignConfig, QueueConfig, TrunkConfig};
use crate::error::ErrorBody;
use crate::state::AppState;

/// The tenant's queue settings.
#[utoipa::path(get, path = "/api/v1/config/queues", tag = "configuration",
    responses((status = 200, body = Vec<QueueConfig>, description = "queues"),
        (status = "4XX", body = ErrorBody, description = "not a supervisor")),
    security(("session" = ["supervisor"]), ("bearer" = ["supervisor"])))]
pub(crate) async fn queues(
    State(st): State<AppState>,
    Authed(p): SupervisorUser,
) -> Json<Vec<QueueConfig>> {
    Json(st.configuration(&p.tenant).queues)
}

/// The skills agents have and queues require.
#[utoipa::path(get, path = "/api/v1/config/skills", tag = "configuration",
    responses((status = 200, body = Vec<String>, description = "skills"),
        (status = "4XX", body = ErrorBody, description = "not a supervisor")),
    security(("session" = ["supervisor"]), ("bearer" = ["supervisor"])))]
pub(crate) async fn skills(
    State(st): State<AppState>,
    Authed(p): SupervisorUser,
) -> Json<Vec<String>> {
    Json(st.configuration(&p.tenant).skills)
}

/// The not-ready reason codes (what the desktop offers).
#[utoipa::path(get, path = "/api/v1/config/reason-codes", tag = "configuration",
    responses((status = 200, body = Vec<String>, description = "reason codes"),
        (status = "4XX", body = ErrorBody, description = "not logged in")),
    security(("session" = ["agent"]), ("bearer" = ["agent"])))]
pub(crate) async fn reason_codes(
    State(st): State<AppState>,
    Authed(p): AnyUser,
) -> Json<Vec<String>> {
    Json(st.configuration(&p.tenant).reason_codes)
}

/// The outbound campaigns.
#[utoipa::path(get, path = "/api/v1/config/campaigns", tag = "configuration",
    responses((status = 200, body = Vec<CampaignConfig>, description = "campaigns"),
        (status = "4XX", body = ErrorBody, description = "not an administrator")),
    security(("session" = ["administrator"]), ("bearer" = ["administrator"])))]
pub(crate) async fn campaigns(
    State(st): State<AppState>,
    Authed(p): AdminUser,
) -> Json<Vec<CampaignConfig>> {
    Json(st.configuration(&p.tenant).campaigns)
}

/// The carriers' trunks, passwords left out.
#[utoipa::path(get, path = "/api/v1/config/trunks", tag = "configuration",
    responses((status = 200, body = Vec<TrunkConfig>, description = "trunks"),
        (status = "4XX", body = ErrorBody, description = "not an administrator")),
    security(("session" = ["administrator"]), ("bearer" = ["administrator"])))]
pub(crate) async fn trunks(
    State(st): State<AppState>,
    Authed(p): AdminUser,
) -> Json<Vec<TrunkConfig>> {
    Json(st.configuration(&p.tenant).trunks)
}
