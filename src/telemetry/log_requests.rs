//! The line logged for every request that does not log itself, as a plain tower service.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use axum::http::{HeaderValue, Method, Uri};
use tower::Service;

use super::millis;
use crate::error::Fault;
use crate::metrics::{Finished, Metrics};

/// Marks a response whose request already logged its own, richer line (chat completions).
#[derive(Debug, Clone, Copy)]
pub struct Logged;

/// One line for every request that does not log itself: rejected keys, unknown routes, models.
/// Health and readiness probes log at debug level, as load balancers call them constantly.
///
/// A plain service around the routes rather than `axum::middleware::from_fn`, which boxes the
/// inner service and its future on every request, chat requests included, that log themselves.
#[derive(Clone)]
pub struct LogRequests<S> {
    pub inner: S,
    pub metrics: Arc<Metrics>,
}

impl<S, B, R> Service<axum::http::Request<B>> for LogRequests<S>
where
    S: Service<axum::http::Request<B>, Response = axum::http::Response<R>>,
{
    type Response = axum::http::Response<R>;
    type Error = S::Error;
    type Future = Logging<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: axum::http::Request<B>) -> Self::Future {
        let seen = Seen {
            started: Instant::now(),
            method: request.method().clone(),
            uri: request.uri().clone(),
            request_id: request.headers().get("x-request-id").cloned(),
        };
        Logging {
            inner: self.inner.call(request),
            seen: Some(seen),
            metrics: self.metrics.clone(),
        }
    }
}

pin_project_lite::pin_project! {
    /// The routes' future, logging its response unless the response says it was logged.
    pub struct Logging<F> {
        #[pin]
        inner: F,
        seen: Option<Seen>,
        metrics: Arc<Metrics>,
    }
}

/// What the line says of the request, kept while it is served.
pub struct Seen {
    started: Instant,
    method: Method,
    uri: Uri,
    request_id: Option<HeaderValue>,
}

impl<F, R, E> Future for Logging<F>
where
    F: Future<Output = Result<axum::http::Response<R>, E>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = std::task::ready!(this.inner.poll(cx));
        if let (Ok(response), Some(seen)) = (&result, this.seen.take())
            && response.extensions().get::<Logged>().is_none()
        {
            seen.log(response.status().as_u16(), this.metrics);
        }
        Poll::Ready(result)
    }
}

impl Seen {
    fn log(self, status: u16, metrics: &Metrics) {
        let request_id = self
            .request_id
            .as_ref()
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        let latency_ms = millis(self.started.elapsed());
        let method = &self.method;
        let path = self.uri.path();
        if matches!(path, "/health" | "/ready") {
            tracing::debug!(request_id, %method, path, status, latency_ms, "request");
        } else {
            tracing::info!(request_id, %method, path, status, latency_ms, "request");
        }
        // Only the status is known here, not the error: its class says whose fault it was.
        let fault = match status {
            429 | 403 => Some(Fault::Policy),
            400..=499 => Some(Fault::Caller),
            500.. => Some(Fault::Gateway),
            _ => None,
        };
        metrics.finished(&Finished {
            surface: match path {
                "/v1/models" | "/models" => "models",
                "/health" | "/ready" => "health",
                "/metrics" => "metrics",
                _ => "other",
            },
            model: "",
            key: None,
            served: None,
            tokens: None,
            cost: None,
            status,
            outcome: if fault.is_some() { "error" } else { "ok" },
            fault,
            stream: false,
            duration: self.started.elapsed(),
            first_token: None,
        });
    }
}
