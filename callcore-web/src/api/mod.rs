//! The routes under `/api/v1` and the OpenAPI document generated from them.
//!
//! Every route is added through [`utoipa_axum::routes!`], which takes its
//! path and method from the handler's `#[utoipa::path]`: the document and
//! the router cannot disagree. Each operation names its minimum role in its
//! `security` requirement (OpenAPI 3.1 role names); the handler enforces it
//! with its [`Authed`](crate::auth::Authed) extractor, and the route-table
//! tests check both for every operation of the document.

pub(crate) mod agents;
pub(crate) mod calls;
pub(crate) mod chats;
pub(crate) mod coaching;
pub(crate) mod config;
pub(crate) mod customer_profile;
pub(crate) mod customers;
pub(crate) mod events;
pub(crate) mod history;
pub(crate) mod messages;
pub(crate) mod quality;
pub(crate) mod queues;
pub(crate) mod reports;
pub(crate) mod screen_pop;
pub(crate) mod session;

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::extract::{MatchedPath, Request};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::IntoResponse;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{ApiError, ErrorBody};
use crate::sessions::SESSION_COOKIE;
use crate::state::AppState;

/// The path of the OpenAPI document.
pub const OPENAPI_PATH: &str = "/api/openapi.json";

#[derive(OpenApi)]
#[openapi(
    info(title = "callcore API", version = "1", description = "Agents, supervisors and administrators of a callcore center: live call control, agent states, queues, history, configuration, events. Errors: {\"error\":{\"code\",\"message\",\"field\"}}."),
    modifiers(&Security),
    components(schemas(ErrorBody))
)]
struct ApiDoc;

struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let c = openapi.components.get_or_insert_with(Default::default);
        c.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new(SESSION_COOKIE))),
        );
        c.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The routes and their document.
pub(crate) fn build(state: AppState) -> (Router, utoipa::openapi::OpenApi) {
    let (router, doc) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(session::login))
        .routes(routes!(session::logout))
        .routes(routes!(session::me))
        .routes(routes!(session::create_token))
        .routes(routes!(session::revoke_token))
        .routes(routes!(agents::list))
        .routes(routes!(agents::get))
        .routes(routes!(agents::set_state))
        .routes(routes!(agents::dial))
        .routes(routes!(agents::end_wrap_up))
        .routes(routes!(queues::list))
        .routes(routes!(queues::get))
        .routes(routes!(calls::list))
        .routes(routes!(calls::get))
        .routes(routes!(calls::hold))
        .routes(routes!(calls::resume))
        .routes(routes!(calls::mute))
        .routes(routes!(calls::transfer))
        .routes(routes!(calls::consult))
        .routes(routes!(calls::swap))
        .routes(routes!(calls::complete_transfer))
        .routes(routes!(calls::cancel_consult))
        .routes(routes!(calls::conference))
        .routes(routes!(calls::add_to_conference))
        .routes(routes!(calls::leave_conference))
        .routes(routes!(calls::kick))
        .routes(routes!(calls::monitor))
        .routes(routes!(calls::monitor_mode))
        .routes(routes!(calls::hang_up))
        .routes(routes!(screen_pop::screen_pop))
        .routes(routes!(customers::merge))
        .routes(routes!(customers::unmerge))
        .routes(routes!(customer_profile::search))
        .routes(routes!(customer_profile::get, customer_profile::update))
        .routes(routes!(calls::accept_offer))
        .routes(routes!(calls::decline_offer))
        .routes(routes!(history::list))
        .routes(routes!(history::get))
        .routes(routes!(history::events))
        .routes(routes!(quality::get))
        .routes(routes!(history::recordings))
        .routes(routes!(history::download))
        .routes(routes!(history::wrap_up))
        .routes(routes!(messages::list, messages::reply))
        .routes(routes!(chats::socket))
        .routes(routes!(chats::file))
        .routes(routes!(reports::report))
        .routes(routes!(reports::notifications))
        .routes(routes!(coaching::scorecard))
        .routes(routes!(coaching::coaching))
        .routes(routes!(coaching::reviews))
        .routes(routes!(coaching::complete_review))
        .routes(routes!(config::queues))
        .routes(routes!(config::skills))
        .routes(routes!(config::reason_codes))
        .routes(routes!(config::campaigns))
        .routes(routes!(config::trunks))
        .routes(routes!(events::feed))
        .with_state(state)
        .split_for_parts();
    let json = doc.to_json().unwrap_or_else(|_| "{}".to_owned());
    let router = guard(router, &doc)
        .route(
            OPENAPI_PATH,
            axum::routing::get(move || {
                let json = json.clone();
                async move { ([(header::CONTENT_TYPE, "application/json")], json).into_response() }
            }),
        )
        .fallback(not_found);
    (router, doc)
}

/// Refuses (500) any route of `router` that is not an operation of `doc`:
/// every route the API serves declares its role there, which the tests check.
fn guard(router: Router, doc: &utoipa::openapi::OpenApi) -> Router {
    // every route the router serves is an operation of the document (which
    // declares its role, which the tests check): one added around it is
    // refused, and a method the document does not list for a path never
    // reaches a handler (405)
    let table: Arc<HashMap<String, Vec<&'static str>>> = Arc::new(
        doc.paths
            .paths
            .iter()
            .map(|(path, item)| (path.clone(), operations(item)))
            .collect(),
    );
    router.route_layer(axum::middleware::from_fn(
        move |req: Request, next: Next| {
            let table = table.clone();
            async move {
                let methods = req
                    .extensions()
                    .get::<MatchedPath>()
                    .and_then(|p| table.get(p.as_str()));
                let Some(methods) = methods else {
                    tracing::error!("web API: a route outside the route table was called");
                    return ApiError::new(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "internal",
                        "this route is not in the route table",
                    )
                    .into_response();
                };
                let method = req.method().as_str().to_ascii_lowercase();
                if methods.contains(&method.as_str()) {
                    return next.run(req).await;
                }
                let allow = methods.join(", ").to_ascii_uppercase();
                let mut r = ApiError::new(
                    StatusCode::METHOD_NOT_ALLOWED,
                    "method_not_allowed",
                    format!("this path takes {allow}"),
                )
                .into_response();
                if let Ok(v) = header::HeaderValue::from_str(&allow) {
                    r.headers_mut().insert(header::ALLOW, v);
                }
                r
            }
        },
    ))
}

/// The methods of a path item that have an operation.
fn operations(item: &utoipa::openapi::PathItem) -> Vec<&'static str> {
    [
        ("get", item.get.is_some()),
        ("put", item.put.is_some()),
        ("post", item.post.is_some()),
        ("delete", item.delete.is_some()),
        ("patch", item.patch.is_some()),
        ("head", item.head.is_some()),
        ("options", item.options.is_some()),
    ]
    .into_iter()
    .filter_map(|(m, has)| has.then_some(m))
    .collect()
}

async fn not_found(uri: axum::http::Uri) -> axum::response::Response {
    if uri.path().starts_with("/api/") {
        ApiError::not_found("route", "path").into_response()
    } else {
        axum::http::StatusCode::NOT_FOUND.into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tower::ServiceExt as _;

    #[tokio::test]
    async fn a_route_outside_the_document_is_refused() {
        let doc = ApiDoc::openapi();
        let mut doc_with_me = doc.clone();
        doc_with_me.paths.paths.insert(
            "/documented".into(),
            utoipa::openapi::PathItem::new(
                utoipa::openapi::HttpMethod::Get,
                utoipa::openapi::path::Operation::new(),
            ),
        );
        let router = Router::new()
            .route("/documented", axum::routing::get(|| async { "ok" }))
            .route("/sneaked-in", axum::routing::get(|| async { "ok" }));
        let app = guard(router, &doc_with_me);
        let status = |path: &'static str| {
            let app = app.clone();
            async move {
                let req = axum::http::Request::get(path)
                    .body(axum::body::Body::empty())
                    .unwrap_or_default();
                app.oneshot(req)
                    .await
                    .map(|r| r.status().as_u16())
                    .unwrap_or(0)
            }
        };
        assert_eq!(status("/documented").await, 200);
        assert_eq!(status("/sneaked-in").await, 500);
        let req = axum::http::Request::post("/documented")
            .body(axum::body::Body::empty())
            .unwrap_or_default();
        let r = app.clone().oneshot(req).await.map(|r| r.status().as_u16());
        assert_eq!(r.unwrap_or(0), 405);
    }
}
