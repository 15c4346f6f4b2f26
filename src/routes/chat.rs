//! `POST /v1/chat/completions`: read and validate the request, ask routing, answer as one JSON
//! body or as Server-Sent Events.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;

use super::auth::Caller;
use crate::error::Error;
use crate::limits::{Limiter, Quotas};
use crate::openai::request::ChatRequest;
use crate::routing::{self, Ready, Routed};
use crate::state::AppState;
use crate::stream::relay::{self, Meter};
use crate::telemetry::{Logged, RequestLog};

pub async fn chat_completions(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let request_id = headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let received = std::time::Instant::now();
    let mut log = RequestLog::new(request_id);
    let mut quotas = Quotas::default();
    // The key whose tokens this request counts against, and whether the client wants usage.
    let mut metered: Option<(usize, Vec<String>)> = None;
    let mut include_usage = false;
    // For a stream cut before it reports usage: about four bytes of request per prompt token.
    let mut prompt_estimate = 0;
    let request = match read_request(&state, &headers, body).await {
        Ok(mut request) => {
            log.request(&request.model, request.stream);
            if let Some(key) = caller.key(&state) {
                log.key(&key.name);
            }
            include_usage = request.include_usage;
            prompt_estimate = request.len() as u64 / 4;
            match (
                caller.check_model(&state, &request.model),
                caller.indexed_key(&state),
            ) {
                (Err(error), _) => Err(error),
                (Ok(()), None) => Ok(request),
                (Ok(()), Some((index, key))) => {
                    let models = limited_models(&state, &request.model);
                    match state.limits.admit(key, &models).await {
                        Ok(admitted) => {
                            quotas = admitted;
                            request.count_usage = key.counts_tokens();
                            metered = request.count_usage.then_some((index, models));
                            Ok(request)
                        }
                        Err(error) => Err(error),
                    }
                }
            }
        }
        Err(error) => Err(error),
    };
    let routed = match request {
        Ok(request) => routing::complete(&state, &request, requested_deadline(&headers)).await,
        Err(error) => Routed {
            result: Err(error),
            target: None,
            attempts: 0,
            dropped_params: Vec::new(),
            waited: Duration::ZERO,
        },
    };
    if let Some(target) = &routed.target {
        log.served(&target.key);
    }
    let mut response = match routed.result {
        Ok(Ready::Whole(json)) => {
            if let Some((key, models)) = metered {
                Limiter::record_detached(&state, key, models, usage_of(&json));
            }
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
        Ok(Ready::Stream(held)) => {
            let meter = metered
                .map(|(key, models)| Meter::new(state.clone(), key, models, prompt_estimate));
            relay::respond(
                held,
                state.config.server.keep_alive,
                log,
                meter,
                include_usage,
                state.cut_signal(),
            )
        }
        Err(error) => {
            log.reject(&error);
            error.into_response()
        }
    };
    let headers = response.headers_mut();
    // The gateway's own time: everything but waiting on providers (for a stream, up to the
    // moment its first bytes go out).
    let overhead = received.elapsed().saturating_sub(routed.waited);
    if let Ok(value) = HeaderValue::from_str(&format!("{:.3}", overhead.as_secs_f64() * 1e3)) {
        headers.insert(OVERHEAD, value);
    }
    quotas.write(headers);
    if routed.attempts > 0 {
        headers.insert(ATTEMPTS, HeaderValue::from(routed.attempts));
    }
    if let Some(value) = routed
        .target
        .and_then(|t| HeaderValue::from_str(&t.key).ok())
    {
        headers.insert(TARGET, value);
    }
    if !routed.dropped_params.is_empty()
        && let Ok(value) = HeaderValue::from_str(&routed.dropped_params.join(", "))
    {
        headers.insert(DROPPED_PARAMS, value);
    }
    response.extensions_mut().insert(Logged);
    response
}

/// Lists the request parameters the provider could not honour and the gateway dropped.
const DROPPED_PARAMS: HeaderName = HeaderName::from_static("x-switchyard-dropped-params");
/// How many attempts (retries and fallbacks included) the request took.
const ATTEMPTS: HeaderName = HeaderName::from_static("x-switchyard-attempts");
/// The provider/model target that served (or, on an error, was tried last).
const TARGET: HeaderName = HeaderName::from_static("x-switchyard-target");
/// The time the gateway itself spent on the request, in milliseconds.
const OVERHEAD: HeaderName = HeaderName::from_static("x-switchyard-overhead-ms");
/// A client's own deadline for the whole request, in milliseconds (the config's is the cap).
const DEADLINE_MS: &str = "x-switchyard-deadline-ms";

/// The names a request's model limits are looked up by: the model asked for, and for an alias
/// its targets.
fn limited_models(state: &AppState, model: &str) -> Vec<String> {
    let mut models = vec![model.to_owned()];
    if let Some(alias) = state.config.models.get(model) {
        models.extend(alias.targets.iter().map(|t| t.key.clone()));
    }
    models
}

/// The tokens a whole `chat.completion` body reports.
fn usage_of(json: &[u8]) -> u64 {
    #[derive(serde::Deserialize)]
    struct Body<'a> {
        #[serde(borrow)]
        usage: Option<&'a serde_json::value::RawValue>,
    }
    serde_json::from_slice::<Body<'_>>(json)
        .ok()
        .and_then(|body| body.usage)
        .and_then(crate::providers::total_tokens)
        .unwrap_or(0)
}

fn requested_deadline(headers: &HeaderMap) -> Option<Duration> {
    headers
        .get(DEADLINE_MS)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_millis)
}

async fn read_request(
    state: &AppState,
    headers: &HeaderMap,
    body: Body,
) -> Result<ChatRequest, Error> {
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
    ChatRequest::parse(body)
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
