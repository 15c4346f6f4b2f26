//! The gateway's one error type and its mapping to an HTTP status and the OpenAI error body.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
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
    RequestTimeout(std::time::Duration),
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
        quota: crate::limits::Quota,
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
        retry_after: std::time::Duration,
    },
    #[error("provider '{provider}' timed out: {detail}")]
    UpstreamTimeout { provider: String, detail: String },

    /// The whole request, across every attempt, ran past its deadline.
    #[error("no target answered within the request deadline of {0:?}")]
    DeadlineExceeded(std::time::Duration),

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

    /// The OpenAI error `type`.
    fn kind(&self) -> &str {
        match self {
            Self::InvalidRequest { .. }
            | Self::PayloadTooLarge { .. }
            | Self::RequestTimeout(_)
            | Self::ModelNotFound { .. }
            | Self::RouteNotFound { .. }
            | Self::MethodNotAllowed { .. } => "invalid_request_error",
            Self::Unauthorized(_) => "authentication_error",
            Self::Forbidden { .. } => "permission_error",
            Self::RateLimited { .. } => "rate_limit_error",
            Self::Upstream(upstream) => match (&upstream.kind, upstream.status.as_u16()) {
                (Some(kind), _) => kind,
                (None, 401) => "authentication_error",
                (None, 403) => "permission_error",
                (None, 404) => "not_found_error",
                (None, 429) => "rate_limit_error",
                (None, _) => "invalid_request_error",
            },
            Self::UpstreamFailed { .. }
            | Self::UpstreamBusy { .. }
            | Self::UpstreamTimeout { .. }
            | Self::DeadlineExceeded(_) => "upstream_error",
            Self::ShuttingDown | Self::LimitsUnavailable | Self::Internal(_) => "server_error",
        }
    }

    fn code(&self) -> Value {
        let code = match self {
            Self::InvalidRequest { code, .. } => *code,
            Self::PayloadTooLarge { .. } => Some("request_too_large"),
            Self::RequestTimeout(_) => Some("request_timeout"),
            Self::Unauthorized(_) => Some("invalid_api_key"),
            Self::Forbidden { .. } => Some("model_not_allowed"),
            Self::RateLimited { .. } => Some("rate_limit_exceeded"),
            Self::ModelNotFound { .. } => Some("model_not_found"),
            Self::RouteNotFound { .. } => Some("not_found"),
            Self::MethodNotAllowed { .. } => Some("method_not_allowed"),
            Self::Upstream(upstream) => return upstream.code.clone().unwrap_or(Value::Null),
            Self::UpstreamFailed { .. } | Self::UpstreamBusy { .. } => Some("upstream_error"),
            Self::UpstreamTimeout { .. } => Some("upstream_timeout"),
            Self::DeadlineExceeded(_) => Some("deadline_exceeded"),
            Self::ShuttingDown => Some("shutting_down"),
            Self::LimitsUnavailable => Some("limits_unavailable"),
            Self::Internal(_) => None,
        };
        code.map_or(Value::Null, |c| Value::String(c.to_owned()))
    }

    fn param(&self) -> Value {
        match self {
            Self::InvalidRequest { param, .. } => param.clone().map_or(Value::Null, Value::String),
            Self::Upstream(upstream) => upstream.param.clone().unwrap_or(Value::Null),
            _ => Value::Null,
        }
    }

    /// The body OpenAI clients parse: `{"error": {"message", "type", "param", "code"}}`.
    pub fn body(&self) -> ErrorBody<'_> {
        ErrorBody {
            error: ErrorObject {
                message: self.to_string(),
                kind: self.kind(),
                param: self.param(),
                code: self.code(),
            },
        }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(&self.body()).unwrap_or_else(|_| {
            r#"{"error":{"message":"internal error","type":"server_error","param":null,"code":null}}"#
                .to_owned()
        })
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

    /// How long the provider asked to be left alone, if it said.
    pub fn retry_after(&self) -> Option<std::time::Duration> {
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
    pub wait: Option<std::time::Duration>,
}

#[derive(Serialize)]
pub struct ErrorBody<'a> {
    error: ErrorObject<'a>,
}

#[derive(Serialize)]
struct ErrorObject<'a> {
    message: String,
    #[serde(rename = "type")]
    kind: &'a str,
    param: Value,
    code: Value,
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let mut response = (
            self.status(),
            [(header::CONTENT_TYPE, "application/json")],
            self.to_json(),
        )
            .into_response();
        match self {
            Self::Upstream(upstream) => {
                if let Some(value) = upstream.retry_after {
                    response.headers_mut().insert(header::RETRY_AFTER, value);
                }
            }
            Self::RateLimited { quota, unit, .. } => {
                quota.write(unit, response.headers_mut());
                response.headers_mut().insert(
                    header::RETRY_AFTER,
                    HeaderValue::from(quota.reset.as_secs().max(1)),
                );
            }
            _ => {}
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_error_has_the_four_openai_keys() {
        let errors = [
            Error::invalid("bad", Some("messages")),
            Error::PayloadTooLarge { limit: 10 },
            Error::Unauthorized("missing key"),
            Error::UpstreamTimeout {
                provider: "p".into(),
                detail: "x".into(),
            },
        ];
        for error in errors {
            let body: Value = serde_json::from_str(&error.to_json()).unwrap_or_default();
            let object = body["error"].as_object().cloned().unwrap_or_default();
            let mut keys: Vec<_> = object.keys().cloned().collect();
            keys.sort();
            assert_eq!(keys, ["code", "message", "param", "type"], "{error:?}");
        }
    }

    #[test]
    fn invalid_request_names_its_param() {
        let body: Value = serde_json::from_str(&Error::invalid("bad", Some("messages")).to_json())
            .unwrap_or_default();
        assert_eq!(body["error"]["param"], "messages");
        assert_eq!(body["error"]["type"], "invalid_request_error");
    }
}
