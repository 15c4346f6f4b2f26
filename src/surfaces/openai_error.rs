//! The gateway's error as an OpenAI API error response: the status, the `{"error": {...}}`
//! body, `retry-after`, and for a key over its limit the `x-ratelimit-*` headers.

use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};

use crate::error::Error;
use crate::limits::write_quota;
use crate::openai::error::to_json;

pub struct OpenAiError(pub Error);

impl From<Error> for OpenAiError {
    fn from(error: Error) -> Self {
        Self(error)
    }
}

impl IntoResponse for OpenAiError {
    fn into_response(self) -> Response {
        let error = self.0;
        let mut response = (
            error.status(),
            [(header::CONTENT_TYPE, "application/json")],
            to_json(&error),
        )
            .into_response();
        write_headers(error, response.headers_mut());
        response
    }
}

/// The headers an error response carries on every surface: the provider's `retry-after`, or
/// for a key over its limit the `x-ratelimit-*` headers and when to come back.
pub fn write_headers(error: Error, headers: &mut HeaderMap) {
    match error {
        Error::Upstream(upstream) => {
            if let Some(value) = upstream.retry_after {
                headers.insert(header::RETRY_AFTER, value);
            }
        }
        Error::RateLimited { quota, unit, .. } => {
            write_quota(&quota, unit, headers);
            headers.insert(
                header::RETRY_AFTER,
                HeaderValue::from(quota.reset.as_secs().max(1)),
            );
        }
        _ => {}
    }
}
