//! Request parts read with errors in the API's shape, naming the field:
//! JSON bodies, query strings, path segments.

use std::collections::HashMap;

use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use bytes::Bytes;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// Longest id accepted in a path.
const MAX_ID: usize = 128;

/// A JSON body (`Content-Type: application/json`).
#[derive(Debug)]
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|v| {
                let v = v.trim();
                v == "application/json" || v.ends_with("+json")
            });
        if !json {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "send the body as application/json",
            )
            .field("content-type"));
        }
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|_| ApiError::bad_input("body", "the body could not be read (too large?)"))?;
        parse(&bytes).map(JsonBody)
    }
}

/// Parses `bytes` as JSON `T`, naming the field at fault.
pub(crate) fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let message = e.inner().to_string();
        ApiError::bad_input(field_of(&e.path().to_string(), &message, "body"), message)
    })?;
    de.end()
        .map_err(|e| ApiError::bad_input("body", e.to_string()))?;
    Ok(value)
}

/// The field a deserialization error is about: its path, or the field a
/// missing/unknown-field message names (whose path is the parent's).
fn field_of(path: &str, message: &str, whole: &str) -> String {
    let named = ["missing field `", "unknown field `"]
        .iter()
        .find_map(|p| message.strip_prefix(p))
        .and_then(|rest| rest.split('`').next());
    match (path, named) {
        (".", Some(name)) => name.to_owned(),
        (".", None) => whole.to_owned(),
        (p, Some(name)) if message.starts_with("missing") => format!("{p}.{name}"),
        (p, _) => p.to_owned(),
    }
}

/// Query parameters.
#[derive(Debug)]
pub struct QueryArgs<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for QueryArgs<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let q = parts.uri.query().unwrap_or("");
        let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(q.as_bytes()));
        serde_path_to_error::deserialize(de)
            .map(QueryArgs)
            .map_err(|e| {
                let message = e.inner().to_string();
                ApiError::bad_input(field_of(&e.path().to_string(), &message, "query"), message)
            })
    }
}

/// The one id in a route's path (`/calls/{interaction}`): checked for length
/// and control characters, errors naming the segment.
#[derive(Debug, Clone)]
pub struct PathId(pub String);

impl<S: Send + Sync> FromRequestParts<S> for PathId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Path(params) = Path::<HashMap<String, String>>::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError::bad_input("path", "a path segment is not valid UTF-8"))?;
        let (name, value) = params
            .into_iter()
            .next()
            .ok_or_else(|| ApiError::bad_input("path", "an id is missing"))?;
        if value.is_empty() || value.len() > MAX_ID || value.chars().any(char::is_control) {
            return Err(ApiError::bad_input(
                name,
                format!("1-{MAX_ID} characters, no control characters"),
            ));
        }
        Ok(PathId(value))
    }
}
