//! `POST /v1/responses`: OpenAI's Responses API (Codex's language), on the same pipeline as chat,
//! relayed to targets that serve it themselves. Answered as one JSON body or as named events
//! with no `[DONE]`; a failure after the stream started is an `error` event in the API's shape.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use bytes::BytesMut;
use serde_json::json;

use super::openai_error::OpenAiError;
use crate::completion::Chunk;
use crate::error::Error;
use crate::openai::responses::ResponsesRequest;
use crate::pipeline::sse::push_event;
use crate::pipeline::{Framing, Pipeline, Trip};
use crate::routing::{ChatAnswer, ResponsesAttempt};
use crate::state::AppState;

pub async fn responses(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let pipeline = state.pipeline();
    let mut trip = pipeline.begin("responses", &headers);
    let answer = serve(&pipeline, &mut trip, &headers, body).await;
    pipeline.answer(trip, answer, ResponsesFraming { written: 0 }, |e| {
        OpenAiError(e).into_response()
    })
}

async fn serve(
    pipeline: &Pipeline<'_>,
    trip: &mut Trip,
    headers: &HeaderMap,
    body: Body,
) -> Result<ChatAnswer, Error> {
    let caller = pipeline.authenticate(headers)?;
    let request = ResponsesRequest::parse(pipeline.read_body(headers, body).await?)?;
    // A Responses stream reports its usage in its last event: nothing to ask for or hide.
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
    let attempt = ResponsesAttempt { request: &request };
    pipeline.route(trip, &request.model, &attempt).await
}

/// Each event under its name, as it came; a failure as the API's `error` event, numbered after
/// the events before it (they count from 0).
struct ResponsesFraming {
    written: u64,
}

impl Framing for ResponsesFraming {
    fn chunk(&mut self, chunk: &Chunk, frame: &mut BytesMut) {
        push_event(frame, chunk.event.as_deref(), &chunk.json);
        self.written += 1;
    }

    fn error(&mut self, error: &Error, frame: &mut BytesMut) {
        let event = json!({
            "type": "error",
            "code": error.label(),
            "message": error.to_string(),
            "param": null,
            "sequence_number": self.written,
        });
        push_event(frame, Some("error"), &event.to_string());
    }

    fn end(&mut self, _: &mut BytesMut) {}
}
