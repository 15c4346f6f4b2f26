//! The mappings between OpenAI Chat Completions and the Anthropic Messages API that the
//! request, answer and stream translations share: finish reasons, usage, reasoning details,
//! error statuses.

use axum::http::{HeaderMap, StatusCode};

use super::types::NativeUsage;
use crate::error::Error;
use crate::openai::message::{REASONING_ENCRYPTED, REASONING_TEXT, ReasoningDetail};
use crate::openai::response::{PromptTokensDetails, Usage};
use crate::transport::{self, Upstream};

/// The `format` of the `reasoning_details` this provider issues and takes back.
pub const REASONING_FORMAT: &str = "anthropic-claude-v1";

/// OpenAI's `finish_reason` for Anthropic's `stop_reason`. `tool_use` is `tool_calls` only when
/// the answer holds a call the client must run: the synthetic JSON-answer tool is not one.
pub fn finish_reason(stop_reason: Option<&str>, has_tool_calls: bool) -> &'static str {
    match stop_reason {
        Some("max_tokens" | "model_context_window_exceeded") => "length",
        Some("refusal") => "content_filter",
        _ if has_tool_calls => "tool_calls",
        // end_turn, stop_sequence, pause_turn (no OpenAI equivalent), and anything newer.
        _ => "stop",
    }
}

/// Prompt tokens count every input token, cached or not, as OpenAI's do.
pub fn usage(native: &NativeUsage) -> Usage {
    let cache_read = native.cache_read_input_tokens.unwrap_or(0);
    let cache_write = native.cache_creation_input_tokens;
    // Counts from upstream are not trusted to be small: they saturate rather than overflow.
    let prompt = native
        .input_tokens
        .unwrap_or(0)
        .saturating_add(cache_read)
        .saturating_add(cache_write.unwrap_or(0));
    Usage {
        prompt_tokens_details: Some(PromptTokensDetails {
            cached_tokens: cache_read,
            cache_write_tokens: cache_write,
        }),
        ..Usage::new(prompt, native.output_tokens.unwrap_or(0))
    }
}

/// A signed thinking block as a `reasoning_details` entry.
pub fn thinking_detail(text: String, signature: String, index: u32) -> ReasoningDetail {
    ReasoningDetail {
        kind: REASONING_TEXT.to_owned(),
        text: Some(text),
        signature: Some(signature),
        data: None,
        format: Some(REASONING_FORMAT.to_owned()),
        index: Some(index),
    }
}

/// A redacted thinking block (encrypted by Anthropic) as a `reasoning_details` entry.
pub fn redacted_detail(data: String, index: u32) -> ReasoningDetail {
    ReasoningDetail {
        kind: REASONING_ENCRYPTED.to_owned(),
        text: None,
        signature: None,
        data: Some(data),
        format: Some(REASONING_FORMAT.to_owned()),
        index: Some(index),
    }
}

/// The HTTP status Anthropic gives each error type, for errors that arrive without one (an
/// `error` event in a stream, an error object in a 200 body).
pub fn error_status(kind: &str) -> StatusCode {
    let code = match kind {
        "invalid_request_error" => 400,
        "authentication_error" => 401,
        "billing_error" => 402,
        "permission_error" => 403,
        "not_found_error" => 404,
        "request_too_large" => 413,
        "rate_limit_error" => 429,
        "timeout_error" => 504,
        "overloaded_error" => 529,
        // api_error and types we do not know: the provider failed.
        _ => 500,
    };
    StatusCode::from_u16(code).unwrap_or(StatusCode::BAD_GATEWAY)
}

/// An Anthropic error body (`{"type":"error","error":{"type":...,"message":...}}`) received
/// without an HTTP error status, as the error the same body would make with its status.
pub fn embedded_error(upstream: &Upstream, kind: &str, body: &str) -> Error {
    transport::status_error(
        upstream,
        error_status(kind),
        &HeaderMap::new(),
        body.as_bytes(),
    )
}

/// A stream event's `data` read as `T`, by both stream decoders (the translating one and the
/// relay): an `error` event (by its name or its `type`, whose error type `error_kind` reads)
/// is the error its body makes; what is not an Anthropic event at all broke the protocol.
pub fn read_event<'a, T: serde::Deserialize<'a>>(
    upstream: &Upstream,
    name: Option<&str>,
    data: &'a str,
    error_kind: impl FnOnce(T) -> Result<T, String>,
) -> Result<T, Error> {
    let named_error = name == Some("error");
    match serde_json::from_str::<T>(data) {
        Ok(event) if !named_error => {
            error_kind(event).map_err(|kind| embedded_error(upstream, &kind, data))
        }
        Ok(event) => {
            let kind = error_kind(event).err().unwrap_or_default();
            Err(embedded_error(upstream, &kind, data))
        }
        Err(_) if named_error => Err(embedded_error(upstream, "", data)),
        Err(e) => Err(malformed(
            upstream,
            format!(
                "sent a stream event that is not an Anthropic event ({e}): {}",
                upstream.quote(data)
            ),
        )),
    }
}

/// The upstream broke the protocol.
pub fn malformed(upstream: &Upstream, what: String) -> Error {
    Error::UpstreamFailed {
        provider: upstream.provider.clone(),
        detail: what,
    }
}
