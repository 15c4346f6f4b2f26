//! Gateway keys: with `[auth] keys` set, every API request needs one of them, sent as
//! `Authorization: Bearer <key>` (as OpenAI SDKs do) or `x-api-key` (as Anthropic's do).

use axum::http::{HeaderMap, header};

use crate::config::{GatewayKey, KeyDigest};
use crate::error::Error;

/// Who is calling: the gateway key it presented (`None` when the gateway has no keys).
#[derive(Debug, Clone, Copy)]
pub struct Caller<'a> {
    pub key: Option<&'a GatewayKey>,
}

impl Caller<'_> {
    /// 403 unless this caller's key may use `model` (a routing key or an alias).
    pub fn check_model(&self, model: &str) -> Result<(), Error> {
        match self.key {
            Some(key) if !key.may_use(model) => Err(Error::Forbidden {
                message: format!("The key '{}' may not use the model '{model}'.", key.name),
            }),
            _ => Ok(()),
        }
    }
}

/// The caller of a request with `headers`, or 401.
pub fn authenticate<'a>(keys: &'a [GatewayKey], headers: &HeaderMap) -> Result<Caller<'a>, Error> {
    if keys.is_empty() {
        return Ok(Caller { key: None });
    }
    let Some(presented) = presented_key(headers) else {
        return Err(Error::Unauthorized(
            "Missing gateway key: send 'Authorization: Bearer <key>'.",
        ));
    };
    let presented = KeyDigest::of(presented);
    // Every key is compared, so timing tells nothing about which one is close.
    let matched = keys.iter().fold(None, |found, key| {
        if key.digest.matches(&presented) {
            Some(key)
        } else {
            found
        }
    });
    match matched {
        Some(key) => Ok(Caller { key: Some(key) }),
        None => Err(Error::Unauthorized("Invalid gateway key.")),
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
