//! Gateway keys: with `[auth] keys` set, every API request needs one of them, sent as
//! `Authorization: Bearer <key>` (as OpenAI SDKs do) or `x-api-key`.

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};

use crate::config::{GatewayKey, KeyDigest};
use crate::error::Error;
use crate::state::AppState;

/// Who is calling: the gateway key it presented (`None` when the gateway has no keys).
#[derive(Debug, Clone, Copy)]
pub struct Caller {
    key: Option<usize>,
}

impl Caller {
    pub fn key<'a>(&self, state: &'a AppState) -> Option<&'a GatewayKey> {
        self.indexed_key(state).map(|(_, key)| key)
    }

    /// The key and its position in `[auth] keys`.
    pub fn indexed_key<'a>(&self, state: &'a AppState) -> Option<(usize, &'a GatewayKey)> {
        self.key
            .and_then(|i| state.config.auth.keys.get(i).map(|key| (i, key)))
    }

    /// 403 unless this caller's key may use `model` (a routing key or an alias).
    pub fn check_model(&self, state: &AppState, model: &str) -> Result<(), Error> {
        match self.key(state) {
            Some(key) if !key.may_use(model) => Err(Error::Forbidden {
                message: format!("The key '{}' may not use the model '{model}'.", key.name),
            }),
            _ => Ok(()),
        }
    }
}

/// Checks the gateway key before anything else of the request is read. An extractor rather than
/// a middleware layer: a layer costs a boxed clone of the whole inner service on every request.
impl FromRequestParts<Arc<AppState>> for Caller {
    type Rejection = Error;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        let keys = &state.config.auth.keys;
        if keys.is_empty() {
            return Ok(Caller { key: None });
        }
        let Some(presented) = presented_key(&parts.headers) else {
            return Err(Error::Unauthorized(
                "Missing gateway key: send 'Authorization: Bearer <key>'.",
            ));
        };
        let presented = KeyDigest::of(presented);
        // Every key is compared, so timing tells nothing about which one is close.
        let matched = keys.iter().enumerate().fold(None, |found, (i, key)| {
            if key.digest.matches(&presented) {
                Some(i)
            } else {
                found
            }
        });
        match matched {
            Some(index) => Ok(Caller { key: Some(index) }),
            None => Err(Error::Unauthorized("Invalid gateway key.")),
        }
    }
}

/// A Bearer token, else `x-api-key` (an outer proxy's Basic auth does not hide the latter).
fn presented_key(headers: &HeaderMap) -> Option<&str> {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim());
    bearer.or_else(|| {
        headers
            .get("x-api-key")
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    })
}
