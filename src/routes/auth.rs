//! Gateway keys: with `[auth] keys` set, every API request needs one of them.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::config::KeyDigest;
use crate::error::Error;
use crate::state::AppState;

pub async fn require_key(
    State(state): State<Arc<AppState>>,
    request: Request,
    next: Next,
) -> Response {
    let keys = &state.config.auth.keys;
    if keys.is_empty() {
        return next.run(request).await;
    }
    let Some(presented) = presented_key(request.headers()) else {
        return Error::Unauthorized("Missing gateway key: send 'Authorization: Bearer <key>'.")
            .into_response();
    };
    let presented = KeyDigest::of(presented);
    // Every key is compared, so timing tells nothing about which one is close.
    let matched = keys
        .iter()
        .fold(false, |found, key| key.matches(&presented) | found);
    if matched {
        next.run(request).await
    } else {
        Error::Unauthorized("Invalid gateway key.").into_response()
    }
}

fn presented_key(headers: &HeaderMap) -> Option<&str> {
    if let Some(value) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        let (scheme, token) = value.split_once(' ')?;
        return scheme.eq_ignore_ascii_case("bearer").then(|| token.trim());
    }
    headers
        .get("x-api-key")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
}
