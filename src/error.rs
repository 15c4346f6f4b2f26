//! The gateway's one error type: who is at fault, the HTTP status, and the retry facts. It
//! renders nothing: each surface writes it in its own shape (the chat surface as OpenAI's
//! `{"error": {...}}`).

use std::time::Duration;

use axum::http::{HeaderValue, StatusCode};
use serde_json::Value;

/// Everything that can go wrong while serving a request, grouped by who is at fault.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    // The caller.
    #[error("{message}")]
    InvalidRequest {
        message: String,
        param: Option<String>,
        code: Option<&'static str>,
    },
    #[error("request body is larger than the limit of {limit} bytes")]
    PayloadTooLarge { limit: usize },
    #[error("the request body did not arrive within {0:?}")]
    RequestTimeout(Duration),
    #[error("{0}")]
    Unauthorized(&'static str),
    #[error("{message}")]
    Forbidden { message: String },
    /// The shared limits backend cannot be reached and `on_backend_error = "deny"`.
    #[error("the gateway cannot check this key's limits right now; retry shortly")]
    LimitsUnavailable,
    /// A gateway key over its own limit.
    #[error("{message}")]
    RateLimited {
        message: String,
        quota: Quota,
        /// `requests` or `tokens`: which headers describe the limit that was hit.
        unit: &'static str,
    },
    #[error("{message}")]
    ModelNotFound { message: String },
    #[error("{message}")]
    RouteNotFound { message: String },
    #[error("{message}")]
    MethodNotAllowed { message: String },

    // The provider.
    /// An error status from the provider that the client should see as it is (4xx).
    #[error("{}", .0.message)]
    Upstream(Box<UpstreamStatus>),
    /// The provider failed: 5xx, a refused connection, a malformed answer, a cut stream.
    #[error("provider '{provider}' failed: {detail}")]
    UpstreamFailed { provider: String, detail: String },
    /// A 5xx that said when to come back (`retry-after`).
    #[error("provider '{provider}' failed: {detail}")]
    UpstreamBusy {
        provider: String,
        detail: String,
        retry_after: Duration,
    },
    #[error("provider '{provider}' timed out: {detail}")]
    UpstreamTimeout { provider: String, detail: String },

    /// The whole request, across every attempt, ran past its deadline.
    #[error("no target answered within the request deadline of {0:?}")]
    DeadlineExceeded(Duration),

    // The gateway.
    #[error("the gateway is shutting down")]
    ShuttingDown,
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    pub fn invalid(message: impl Into<String>, param: Option<&str>) -> Self {
        Self::InvalidRequest {
            message: message.into(),
            param: param.map(str::to_owned),
            code: None,
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::InvalidRequest { .. } => StatusCode::BAD_REQUEST,
            Self::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::RequestTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden { .. } => StatusCode::FORBIDDEN,
            Self::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::ModelNotFound { .. } | Self::RouteNotFound { .. } => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            Self::Upstream(upstream) => upstream.status,
            Self::UpstreamFailed { .. } | Self::UpstreamBusy { .. } => StatusCode::BAD_GATEWAY,
            Self::UpstreamTimeout { .. } | Self::DeadlineExceeded(_) => StatusCode::GATEWAY_TIMEOUT,
            Self::ShuttingDown | Self::LimitsUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The same error with `redact` applied to every text in it that may quote a provider.
    pub fn redact_with(mut self, redact: impl Fn(&str) -> String) -> Self {
        let text = match &mut self {
            Self::Upstream(upstream) => &mut upstream.message,
            Self::UpstreamFailed { detail, .. }
            | Self::UpstreamBusy { detail, .. }
            | Self::UpstreamTimeout { detail, .. }
            | Self::Internal(detail) => detail,
            Self::InvalidRequest { message, .. } => message,
            _ => return self,
        };
        *text = redact(text);
        self
    }

    /// Who is at fault, for logs, metrics and the surfaces' error types.
    pub fn fault(&self) -> Fault {
        match self {
            Self::InvalidRequest { .. }
            | Self::PayloadTooLarge { .. }
            | Self::RequestTimeout(_)
            | Self::Unauthorized(_)
            | Self::ModelNotFound { .. }
            | Self::RouteNotFound { .. }
            | Self::MethodNotAllowed { .. } => Fault::Caller,
            Self::Forbidden { .. } | Self::RateLimited { .. } | Self::LimitsUnavailable => {
                Fault::Policy
            }
            Self::Upstream(_)
            | Self::UpstreamFailed { .. }
            | Self::UpstreamBusy { .. }
            | Self::UpstreamTimeout { .. }
            | Self::DeadlineExceeded(_) => Fault::Provider,
            Self::ShuttingDown | Self::Internal(_) => Fault::Gateway,
        }
    }

    /// How long the provider asked to be left alone, if it said.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Upstream(upstream) => upstream.wait,
            Self::UpstreamBusy { retry_after, .. } => Some(*retry_after),
            _ => None,
        }
    }

    /// A short label for logs and metrics.
    pub fn label(&self) -> &'static str {
        match self {
            Self::InvalidRequest { .. } => "invalid_request",
            Self::PayloadTooLarge { .. } => "payload_too_large",
            Self::RequestTimeout(_) => "request_timeout",
            Self::Unauthorized(_) => "unauthorized",
            Self::Forbidden { .. } => "forbidden",
            Self::RateLimited { .. } => "rate_limited",
            Self::ModelNotFound { .. } => "model_not_found",
            Self::RouteNotFound { .. } => "route_not_found",
            Self::MethodNotAllowed { .. } => "method_not_allowed",
            Self::Upstream(_) => "upstream_status",
            Self::UpstreamFailed { .. } | Self::UpstreamBusy { .. } => "upstream_failed",
            Self::UpstreamTimeout { .. } => "upstream_timeout",
            Self::DeadlineExceeded(_) => "deadline_exceeded",
            Self::ShuttingDown => "shutting_down",
            Self::LimitsUnavailable => "limits_unavailable",
            Self::Internal(_) => "internal",
        }
    }
}

/// Who a failure is down to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The request itself: malformed, unauthenticated, asking for what does not exist.
    Caller,
    /// The gateway's rules for this caller: model access, limits and budgets.
    Policy,
    /// The provider: its error statuses, failures and timeouts.
    Provider,
    /// The gateway itself: shutting down, a bug.
    Gateway,
}

/// One limit's state: what a 429 reports and what admitted requests' headers say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    pub limit: u64,
    pub remaining: u64,
    pub reset: Duration,
}

/// A provider's own error answer, relayed.
#[derive(Debug)]
pub struct UpstreamStatus {
    pub status: StatusCode,
    pub message: String,
    pub kind: Option<String>,
    pub param: Option<Value>,
    pub code: Option<Value>,
    pub retry_after: Option<HeaderValue>,
    /// `retry-after` (or `retry-after-ms`) as a wait, for the router.
    pub wait: Option<Duration>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_error_names_who_is_at_fault() {
        let provider = |detail: &str| Error::UpstreamFailed {
            provider: "p".into(),
            detail: detail.into(),
        };
        let cases = [
            (Error::invalid("bad", None), Fault::Caller),
            (Error::Unauthorized("no key"), Fault::Caller),
            (Error::PayloadTooLarge { limit: 1 }, Fault::Caller),
            (
                Error::Forbidden {
                    message: "m".into(),
                },
                Fault::Policy,
            ),
            (Error::LimitsUnavailable, Fault::Policy),
            (provider("503"), Fault::Provider),
            (
                Error::DeadlineExceeded(Duration::from_secs(1)),
                Fault::Provider,
            ),
            (Error::ShuttingDown, Fault::Gateway),
            (Error::Internal("bug".into()), Fault::Gateway),
        ];
        for (error, fault) in cases {
            assert_eq!(error.fault(), fault, "{error:?}");
        }
    }
}
