//! `GET /metrics`: the Prometheus scrape, open unless `[metrics] require_key` asks for a
//! gateway key.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};

use super::openai_error::OpenAiError;
use crate::metrics::{CONTENT_TYPE, Dropped};
use crate::state::AppState;

pub async fn scrape(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    if state.config.metrics.require_key
        && let Err(error) = state.pipeline().authenticate(&headers)
    {
        return OpenAiError(error).into_response();
    }
    (
        [(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE))],
        state.metrics.render(
            &state.router.cooling(),
            Dropped {
                redis_errors: state.limits.backend_errors(),
                ledger_rows: state.ledger.dropped(),
                spans: state.tracer.dropped(),
            },
        ),
    )
        .into_response()
}
