//! Gemini answers -> OpenAI: the whole `chat.completion`, and the per-part, finish and usage
//! mappings that streams share with it, so both give the same answer.

use axum::http::{HeaderMap, StatusCode};
use serde_json::Value;

use super::signature;
use super::types::{Candidate, GenerateContentResponse, Part, UsageMetadata};
use crate::error::Error;
use crate::openai::message::{FunctionCall, ReasoningDetail, ToolCall};
use crate::openai::response::{
    ChatCompletion, CompletionTokensDetails, PromptTokensDetails, ResponseMessage, Usage,
};
use crate::transport::{self, Upstream};

/// One Gemini part, as an OpenAI client sees it.
#[derive(Debug, Default)]
pub struct Piece<'a> {
    pub content: Option<&'a str>,
    pub reasoning: Option<&'a str>,
    pub call: Option<Call<'a>>,
    /// A signature on text or a thought (a call's rides in its id).
    pub detail: Option<ReasoningDetail>,
}

#[derive(Debug)]
pub struct Call<'a> {
    pub id: String,
    pub name: &'a str,
    /// The arguments object, as compact JSON.
    pub arguments: String,
}

pub fn piece(part: &Part) -> Piece<'_> {
    let mut piece = Piece::default();
    if let Some(call) = &part.function_call {
        piece.call = Some(Call {
            id: signature::issue_id(part.thought_signature.as_deref()),
            name: &call.name,
            arguments: call
                .args
                .as_ref()
                .map_or_else(|| "{}".to_owned(), Value::to_string),
        });
        return piece;
    }
    match (&part.text, part.is_thought()) {
        (Some(text), true) if !text.is_empty() => piece.reasoning = Some(text),
        (Some(text), false) if !text.is_empty() => piece.content = Some(text),
        // Images, code execution and other outputs have no place in a chat completion.
        _ => {}
    }
    piece.detail = part
        .thought_signature
        .as_deref()
        .filter(|s| !s.is_empty())
        .map(|s| signature::detail(s, 0)); // numbered by the caller, in order of appearance
    piece
}

/// `finishReason` as OpenAI's `finish_reason`. Gemini says STOP after function calls, so a turn
/// that called one says `tool_calls`, unless it was cut short or filtered: that says more.
pub fn finish_reason(reason: Option<&str>, called: bool) -> &'static str {
    match reason.unwrap_or("STOP") {
        "MAX_TOKENS" => "length",
        "SAFETY" | "RECITATION" | "BLOCKLIST" | "PROHIBITED_CONTENT" | "SPII" => "content_filter",
        reason if reason.starts_with("IMAGE_") => "content_filter",
        _ if called => "tool_calls",
        // STOP, OTHER, LANGUAGE, MALFORMED_FUNCTION_CALL, unspecified...
        _ => "stop",
    }
}

/// A prompt Gemini blocked outright (`promptFeedback.blockReason`, no candidates) is answered as
/// OpenAI answers a filtered completion: empty content, `content_filter`, rather than an error,
/// so clients handle it the way they already handle filtering.
pub const BLOCKED: &str = "content_filter";

pub fn usage(meta: &UsageMetadata) -> Usage {
    // Counts from upstream are not trusted to be small: they saturate rather than overflow.
    let mut usage = Usage::new(
        meta.prompt_token_count
            .saturating_add(meta.tool_use_prompt_token_count),
        meta.candidates_token_count
            .saturating_add(meta.thoughts_token_count),
    );
    usage.prompt_tokens_details = Some(PromptTokensDetails {
        cached_tokens: meta.cached_content_token_count,
        cache_write_tokens: None,
    });
    usage.completion_tokens_details = Some(CompletionTokensDetails {
        reasoning_tokens: meta.thoughts_token_count,
    });
    usage
}

/// An error inside a 200 body or a stream event, with the status its `code` gives.
pub fn embedded_error(upstream: &Upstream, body: &str, error: &Value) -> Error {
    let status = error
        .get("code")
        .and_then(Value::as_u64)
        .and_then(|c| u16::try_from(c).ok())
        .and_then(|c| StatusCode::from_u16(c).ok())
        .filter(|s| s.is_client_error() || s.is_server_error())
        .unwrap_or(StatusCode::BAD_GATEWAY);
    transport::status_error(upstream, status, &HeaderMap::new(), body.as_bytes())
}

/// A whole answer. Only the first candidate counts: `n` > 1 is refused before the request.
pub fn completion(response: &GenerateContentResponse, served: &str) -> Option<ChatCompletion> {
    let (message, finish) = match response.candidates.first() {
        Some(candidate) => message(candidate),
        None => {
            response
                .prompt_feedback
                .as_ref()
                .and_then(|f| f.block_reason.as_ref())?;
            let message = ResponseMessage {
                role: "assistant",
                content: Some(String::new()),
                ..ResponseMessage::default()
            };
            (message, BLOCKED)
        }
    };
    let usage = response
        .usage_metadata
        .as_ref()
        .map(usage)
        .unwrap_or_default();
    let mut completion = ChatCompletion::single(served, message, finish, usage);
    completion.upstream_model = response.model_version.as_deref().map(Box::from);
    Some(completion)
}

fn message(candidate: &Candidate) -> (ResponseMessage, &'static str) {
    let mut content = String::new();
    let mut reasoning = String::new();
    let mut tool_calls = Vec::new();
    let mut reasoning_details = Vec::new();
    let parts = candidate.content.as_ref().map_or(&[][..], |c| &c.parts);
    for part in parts {
        let piece = piece(part);
        content.push_str(piece.content.unwrap_or_default());
        reasoning.push_str(piece.reasoning.unwrap_or_default());
        if let Some(call) = piece.call {
            tool_calls.push(ToolCall {
                id: call.id,
                kind: "function".to_owned(),
                function: FunctionCall {
                    name: call.name.to_owned(),
                    arguments: call.arguments,
                },
            });
        }
        reasoning_details.extend(piece.detail.map(|mut detail| {
            detail.index = u32::try_from(reasoning_details.len()).ok();
            detail
        }));
    }
    let finish = finish_reason(candidate.finish_reason.as_deref(), !tool_calls.is_empty());
    let message = ResponseMessage {
        role: "assistant",
        content: (!content.is_empty() || tool_calls.is_empty()).then_some(content),
        refusal: None,
        tool_calls,
        reasoning_content: (!reasoning.is_empty()).then_some(reasoning),
        reasoning_details,
    };
    (message, finish)
}
