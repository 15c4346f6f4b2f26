//! `POST /v1/messages`: Anthropic's Messages API, the language of Claude Code and the Anthropic
//! SDKs (which add `?beta=true`; the route is the path alone). The request is checked here, goes
//! through the same pipeline as chat (keys, limits, routing, metering, the log line), and is
//! answered as one JSON body or as named Server-Sent Events with no `[DONE]`, errors in
//! Anthropic's shape. Served so far by anthropic-kind targets, untranslated.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use bytes::BytesMut;

use super::anthropic_error::AnthropicError;
use crate::anthropic::error::to_json;
use crate::anthropic::request::MessagesRequest;
use crate::completion::Chunk;
use crate::error::Error;
use crate::pipeline::sse::push_event;
use crate::pipeline::{Framing, Pipeline, Trip};
use crate::routing::{ChatAnswer, MessagesAttempt};
use crate::state::AppState;

pub async fn messages(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    answer(&state, headers, body, MessagesRequest::parse).await
}

/// `POST /v1/messages/count_tokens`: the prompt's input tokens, as the target counts them.
pub async fn count_tokens(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    answer(&state, headers, body, MessagesRequest::parse_counting).await
}

async fn answer(
    state: &AppState,
    headers: HeaderMap,
    body: Body,
    parse: fn(bytes::Bytes) -> Result<MessagesRequest, Error>,
) -> Response {
    let pipeline = state.pipeline();
    let mut trip = pipeline.begin("messages", &headers);
    let answer = serve(&pipeline, &mut trip, &headers, body, parse).await;
    pipeline.answer(trip, answer, MessagesFraming, |e| {
        AnthropicError(e).into_response()
    })
}

async fn serve(
    pipeline: &Pipeline<'_>,
    trip: &mut Trip,
    headers: &HeaderMap,
    body: Body,
    parse: fn(bytes::Bytes) -> Result<MessagesRequest, Error>,
) -> Result<ChatAnswer, Error> {
    let caller = pipeline.authenticate(headers)?;
    let request = parse(pipeline.read_body(headers, body).await?)?;
    // An Anthropic stream always reports its usage: nothing to ask for, nothing to hide.
    pipeline
        .admit(
            trip,
            &caller,
            &request.model,
            request.stream,
            request.len(),
            true,
        )
        .await?;
    trip.capture(request.body());
    let attempt = MessagesAttempt::new(&request, headers, trip.usage());
    pipeline.route(trip, &request.model, &attempt).await
}

/// Each event under its own name, as it came; an Anthropic `error` event as the last event of a
/// failed stream; nothing after a clean end (the upstream's `message_stop` was its last event).
struct MessagesFraming;

impl Framing for MessagesFraming {
    fn chunk(&mut self, chunk: &Chunk, frame: &mut BytesMut) {
        push_event(frame, chunk.event.as_deref(), &chunk.json);
    }

    fn error(&mut self, error: &Error, frame: &mut BytesMut) {
        push_event(frame, Some("error"), &to_json(error));
    }

    fn end(&mut self, _: &mut BytesMut) {}

    fn keep_alive(&mut self, frame: &mut BytesMut) {
        frame.extend_from_slice(PING);
    }
}

/// Anthropic's own keep-alive, which Claude Code counts as activity.
const PING: &[u8] = b"event: ping\ndata: {\"type\": \"ping\"}\n\n";
