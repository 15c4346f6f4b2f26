//! The HTTP surfaces: one module per inbound API, each owning its wire format in and out and
//! the shape of its errors, all on the shared pipeline. Knows HTTP; knows no provider.

mod anthropic_error;
mod chat;
mod embeddings;
mod health;
mod messages;
mod metrics;
mod models;
mod openai_error;
mod responses;

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, Method, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use crate::error::Error;
use crate::state::AppState;
use openai_error::OpenAiError;

pub fn router(state: Arc<AppState>) -> Router {
    let mut api = Router::new()
        .route("/v1/chat/completions", post(chat::chat_completions))
        .route("/chat/completions", post(chat::chat_completions))
        .route("/v1/messages", post(messages::messages))
        .route("/v1/embeddings", post(embeddings::embeddings))
        .route("/v1/responses", post(responses::responses))
        .route("/responses", post(responses::responses))
        .route("/embeddings", post(embeddings::embeddings))
        .route("/v1/messages/count_tokens", post(messages::count_tokens))
        .route("/v1/models", get(models::list));
    let metrics = &state.config.metrics;
    if metrics.enabled && metrics.listen.is_none() {
        api = api.route("/metrics", get(metrics::scrape));
    }
    Router::new()
        .merge(api)
        .route("/health", get(health::health))
        .route("/ready", get(health::ready))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state)
}

/// `/metrics` alone, for a listener of its own (`[metrics] listen`).
pub fn metrics_router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/metrics", get(metrics::scrape))
        .fallback(not_found)
        .with_state(state)
}

async fn not_found(State(state): State<Arc<AppState>>, headers: HeaderMap, uri: Uri) -> Response {
    let path = uri.path();
    // The Responses API's stateful companions (a stored response, its input items, compaction,
    // cancellation): the gateway keeps no responses, so it says that rather than only "unknown".
    let stateless = if path.starts_with("/v1/responses/") || path.starts_with("/responses/") {
        " It keeps no responses (POST /v1/responses is stateless): send the whole conversation in 'input'."
    } else {
        ""
    };
    refuse(&state, &headers, || Error::RouteNotFound {
        message: format!(
            "Unknown path {path}: switchyard serves POST /v1/chat/completions, POST /v1/messages, POST /v1/responses, POST /v1/embeddings and GET /v1/models.{stateless}"
        ),
    })
}

async fn method_not_allowed(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    method: Method,
    uri: Uri,
) -> Response {
    refuse(&state, &headers, || Error::MethodNotAllowed {
        message: format!("{method} is not allowed on {}.", uri.path()),
    })
}

/// `error`, once the caller has shown a gateway key: without one, an unknown path or a wrong
/// method is a 401 like any other request, so an unauthenticated caller learns nothing of the
/// surface.
fn refuse(state: &AppState, headers: &HeaderMap, error: impl FnOnce() -> Error) -> Response {
    let error = state
        .pipeline()
        .authenticate(headers)
        .err()
        .unwrap_or_else(error);
    OpenAiError(error).into_response()
}
