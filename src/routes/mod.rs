//! The HTTP surface. Knows HTTP and nothing of providers.

mod auth;
mod chat;
mod health;
mod models;

use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post};

use crate::error::Error;
use crate::state::AppState;
use auth::Caller;

pub fn router(state: Arc<AppState>) -> Router {
    let api = Router::new()
        .route("/v1/chat/completions", post(chat::chat_completions))
        .route("/chat/completions", post(chat::chat_completions))
        .route("/v1/models", get(models::list));
    Router::new()
        .merge(api)
        .route("/health", get(health::health))
        .route("/ready", get(health::ready))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state)
}

// Both fallbacks ask for a gateway key first: without one, an unknown path or a wrong method is
// a 401 like any other request, so an unauthenticated caller learns nothing of the surface.
async fn not_found(_: Caller, uri: axum::http::Uri) -> Error {
    Error::RouteNotFound {
        message: format!(
            "Unknown path {}: switchyard serves POST /v1/chat/completions and GET /v1/models.",
            uri.path()
        ),
    }
}

async fn method_not_allowed(_: Caller, method: axum::http::Method, uri: axum::http::Uri) -> Error {
    Error::MethodNotAllowed {
        message: format!("{method} is not allowed on {}.", uri.path()),
    }
}
