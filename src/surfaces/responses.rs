//! `POST /v1/responses`: OpenAI's Responses API (Codex's language), on the same pipeline as chat:
//! relayed to targets that serve it themselves, translated onto chat for the others. Answered
//! as one JSON body or as named events with no `[DONE]`; a failure after the stream started is
//! an `error` event and `response.failed`.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::BytesMut;
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Value, json};

use super::openai_error::OpenAiError;
use crate::completion::Chunk;
use crate::error::Error;
use crate::openai::raw::splice;
use crate::openai::responses::ResponsesRequest;
use crate::pipeline::sse::{KEEP_ALIVE, push_event};
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
    pipeline.answer(trip, answer, ResponsesFraming::default(), |e| {
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
    trip.capture(request.body());
    let attempt = ResponsesAttempt::new(&request, trip.usage());
    pipeline.route(trip, &request.model, &attempt).await
}

/// Each event under its name, as it came; a failure as the API's `error` event, then
/// `response.failed` (what Codex acts on: it ignores `error` events, and a stream that ends
/// without a terminal event is one it retries blind), numbered after the events before them
/// (they count from 0). A silence is OpenAI's own `keepalive` event once the response is
/// announced: Codex times a stream out on events, and comments are none.
#[derive(Default)]
struct ResponsesFraming {
    written: u64,
    /// The response `response.created` announced, which `response.failed` reports as failed:
    /// kept as its text (a stream's whole life long, and Codex's echo its tools), read only
    /// should the stream fail.
    created: Option<Box<RawValue>>,
    /// The `keepalive` events the gateway put into the stream: every event after one is
    /// numbered this much further on, so the numbers still run without a gap or a repeat.
    inserted: u64,
}

/// `response.created`, for the response it announces.
#[derive(Deserialize)]
struct Created {
    response: Box<RawValue>,
}

/// An event's number, as the raw text it came in.
#[derive(Deserialize)]
struct Numbered<'a> {
    #[serde(borrow)]
    sequence_number: Option<&'a RawValue>,
}

/// `json` with its `sequence_number` moved `by` further on; as it is when it has no number.
fn renumbered(json: &str, by: u64) -> Option<String> {
    let raw = serde_json::from_str::<Numbered<'_>>(json)
        .ok()?
        .sequence_number?;
    let number = raw.get().parse::<u64>().ok()?;
    splice(json, raw, &(number + by).to_string())
}

impl Framing for ResponsesFraming {
    fn chunk(&mut self, chunk: &Chunk, frame: &mut BytesMut) {
        if chunk.event.as_deref() == Some("response.created") {
            self.created = serde_json::from_str::<Created>(&chunk.json)
                .ok()
                .map(|created| created.response);
        }
        let moved = (self.inserted > 0)
            .then(|| renumbered(&chunk.json, self.inserted))
            .flatten();
        push_event(
            frame,
            chunk.event.as_deref(),
            moved.as_deref().unwrap_or(&chunk.json),
        );
        self.written += 1;
    }

    /// Before `response.created` an SSE comment: the SDKs' stream helpers want that event
    /// first (openai-python's raises on any other).
    fn keep_alive(&mut self, frame: &mut BytesMut) {
        if self.created.is_none() {
            frame.extend_from_slice(KEEP_ALIVE);
            return;
        }
        let event = format!(
            r#"{{"type":"keepalive","sequence_number":{}}}"#,
            self.written
        );
        push_event(frame, Some("keepalive"), &event);
        self.written += 1;
        self.inserted += 1;
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
        self.written += 1;
        if let Some(mut response) = self
            .created
            .take()
            .and_then(|raw| serde_json::from_str::<Value>(raw.get()).ok())
        {
            response["status"] = json!("failed");
            response["error"] = json!({"code": failure_code(error), "message": error.to_string()});
            let failed = json!({
                "type": "response.failed",
                "sequence_number": self.written,
                "response": response,
            });
            push_event(frame, Some("response.failed"), &failed.to_string());
            self.written += 1;
        }
    }

    fn end(&mut self, _: &mut BytesMut) {}
}

/// The Responses API's code for a failure: a rate limit Codex waits out, or the provider's.
fn failure_code(error: &Error) -> &'static str {
    match error {
        Error::RateLimited { .. } => "rate_limit_exceeded",
        Error::Upstream(status) if status.status == StatusCode::TOO_MANY_REQUESTS => {
            "rate_limit_exceeded"
        }
        _ => "server_error",
    }
}
