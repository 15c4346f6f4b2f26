//! `POST /v1/chat/completions`: read and validate the request, ask routing, answer as one JSON
//! body or as Server-Sent Events.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;

use crate::completion::{Answer, Completion};
use crate::error::Error;
use crate::openai::request::ChatRequest;
use crate::routing;
use crate::state::AppState;
use crate::stream::relay;
use crate::telemetry::{Logged, RequestLog};

pub async fn chat_completions(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let request_id = headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let mut log = RequestLog::new(request_id);
    let (completion, dropped) = match serve(&state, &headers, body, &mut log).await {
        Ok(Answer {
            completion,
            dropped_params,
        }) => (Ok(completion), dropped_params),
        Err(error) => (Err(error), Vec::new()),
    };
    let mut response = match completion {
        Ok(Completion::Whole(json)) => {
            log.first_byte();
            log.complete();
            (
                [(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                )],
                json,
            )
                .into_response()
        }
        Ok(Completion::Stream(stream)) => {
            match relay::hold_back(stream, state.config.server.stream_hold_back).await {
                Ok(held) => relay::respond(held, state.config.server.keep_alive, log),
                Err(error) => {
                    log.reject(&error);
                    error.into_response()
                }
            }
        }
        Err(error) => {
            log.reject(&error);
            error.into_response()
        }
    };
    if !dropped.is_empty()
        && let Ok(value) = HeaderValue::from_str(&dropped.join(", "))
    {
        response.headers_mut().insert(DROPPED_PARAMS, value);
    }
    response.extensions_mut().insert(Logged);
    response
}

/// Lists the request parameters the provider could not honour and the gateway dropped.
const DROPPED_PARAMS: HeaderName = HeaderName::from_static("x-switchyard-dropped-params");

async fn serve(
    state: &AppState,
    headers: &HeaderMap,
    body: Body,
    log: &mut RequestLog,
) -> Result<Answer, Error> {
    if state.is_draining() {
        return Err(Error::ShuttingDown);
    }
    let server = &state.config.server;
    let body = tokio::time::timeout(
        server.body_timeout,
        read_body(headers, body, server.body_limit),
    )
    .await
    .map_err(|_| Error::RequestTimeout(server.body_timeout))??;
    let request = ChatRequest::parse(body)?;
    log.request(&request.model, request.stream);
    let (target, completion) = routing::complete(state, &request).await?;
    log.served(&target.key);
    Ok(completion)
}

/// The whole body, refused with 413 as soon as it is known to exceed `limit`.
async fn read_body(headers: &HeaderMap, body: Body, limit: usize) -> Result<Bytes, Error> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(Error::PayloadTooLarge { limit });
    }
    let mut stream = body.into_data_stream();
    // Trust a declared length only so far: memory grows with bytes that really arrive.
    let mut buffer = BytesMut::with_capacity(declared.unwrap_or(0).min(1 << 20));
    while let Some(piece) = stream.next().await {
        let piece = piece
            .map_err(|e| Error::invalid(format!("Could not read the request body: {e}"), None))?;
        if buffer.len() + piece.len() > limit {
            return Err(Error::PayloadTooLarge { limit });
        }
        buffer.extend_from_slice(&piece);
    }
    Ok(buffer.freeze())
}
