//! Liveness and readiness, for load balancers and orchestrators.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::state::AppState;

/// The process is up.
pub async fn health() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// Config loaded and not shutting down: send traffic here.
pub async fn ready(State(state): State<Arc<AppState>>) -> (StatusCode, Json<Value>) {
    if !state.lifecycle.is_ready() {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"status": "draining"})),
        )
    } else {
        let providers: Vec<&String> = state.router.provider_names().collect();
        (
            StatusCode::OK,
            Json(json!({"status": "ready", "providers": providers})),
        )
    }
}
