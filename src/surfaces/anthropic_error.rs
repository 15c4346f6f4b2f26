//! The gateway's error as an Anthropic API error response: the status (529 for an overloaded
//! upstream), the `{"type":"error","error":{...}}` body, `retry-after`, and for a key over its
//! limit the `x-ratelimit-*` headers the gateway writes on every surface.

use axum::http::header;
use axum::response::{IntoResponse, Response};

use super::openai_error::write_headers;
use crate::anthropic::error::{status, to_json};
use crate::error::Error;

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
        write_headers(error, response.headers_mut());
        response
    }
}
