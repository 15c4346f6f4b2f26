//! `POST /v1/embeddings`: OpenAI's embeddings, on the same pipeline as chat (keys, limits,
//! routing with fallbacks, metering, the log line), answered as OpenAI's list.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};

use super::chat::ChatFraming;
use super::openai_error::OpenAiError;
use crate::error::Error;
use crate::openai::embeddings::EmbeddingsRequest;
use crate::pipeline::{Pipeline, Trip};
use crate::routing::{ChatAnswer, EmbeddingsAttempt};
use crate::state::AppState;

pub async fn embeddings(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let pipeline = state.pipeline();
    let mut trip = pipeline.begin("embeddings", &headers);
    let answer = serve(&pipeline, &mut trip, &headers, body).await;
    // An embeddings answer is always whole: the chat framing is never used.
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
    let request = EmbeddingsRequest::parse(pipeline.read_body(headers, body).await?)?;
    pipeline
        .admit(trip, &caller, &request.model, false, request.len(), false)
        .await?;
    let attempt = EmbeddingsAttempt { request: &request };
    pipeline.route(trip, &request.model, &attempt).await
}
