//! The gateway's error as an Anthropic API error response: the status (529 for an overloaded
//! upstream), the `{"type":"error","error":{...}}` body, `retry-after`, and for a key over its
//! limit the `x-ratelimit-*` headers the gateway writes on every surface.

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

use crate::anthropic::error::{status, to_json};
use crate::error::Error;
use crate::limits::write_quota;

pub struct AnthropicError(pub Error);

impl IntoResponse for AnthropicError {
    fn into_response(self) -> Response {
        let error = self.0;
        let mut response = (
            status(&error),
            [(header::CONTENT_TYPE, "application/json")],
            to_json(&error),
        )
            .into_response();
        match error {
            Error::Upstream(upstream) => {
                if let Some(value) = upstream.retry_after {
                    response.headers_mut().insert(header::RETRY_AFTER, value);
                }
            }
            Error::RateLimited { quota, unit, .. } => {
                write_quota(&quota, unit, response.headers_mut());
                response.headers_mut().insert(
                    header::RETRY_AFTER,
                    HeaderValue::from(quota.reset.as_secs().max(1)),
                );
            }
            _ => {}
        }
        response
    }
}
