//! `POST /v1/chat/completions`: OpenAI's Chat Completions, the gateway's own language. The
//! request is decoded and validated here, goes through the pipeline, and is answered as one
//! JSON body or as Server-Sent Events ending in `data: [DONE]`.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use bytes::BytesMut;

use super::openai_error::OpenAiError;
use crate::completion::Chunk;
use crate::error::Error;
use crate::openai::request::ChatRequest;
use crate::pipeline::sse::push_event;
use crate::pipeline::{Framing, Pipeline, Trip};
use crate::routing::{ChatAnswer, ChatAttempt};
use crate::state::AppState;

pub async fn chat_completions(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let pipeline = state.pipeline();
    let mut trip = pipeline.begin("chat", &headers);
    let answer = serve(&pipeline, &mut trip, &headers, body).await;
    pipeline.answer(trip, answer, ChatFraming, |e| {
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
    let request = ChatRequest::parse(pipeline.read_body(headers, body).await?)?;
    pipeline
        .admit(
            trip,
            &caller,
            &request.model,
            request.stream,
            request.len(),
            request.include_usage,
        )
        .await?;
    trip.capture(request.body());
    let attempt = ChatAttempt {
        request: &request,
        usage: trip.usage(),
    };
    pipeline.route(trip, &request.model, &attempt).await
}

/// `data: <chunk>` per chunk, an OpenAI error object as the last event of a failed stream,
/// `data: [DONE]` after a clean end.
pub(super) struct ChatFraming;

impl Framing for ChatFraming {
    fn chunk(&mut self, chunk: &Chunk, frame: &mut BytesMut) {
        push_event(frame, None, &chunk.json);
    }

    fn error(&mut self, error: &Error, frame: &mut BytesMut) {
        push_event(frame, None, &crate::openai::error::to_json(error));
    }

    fn end(&mut self, frame: &mut BytesMut) {
        push_event(frame, None, "[DONE]");
    }
}
