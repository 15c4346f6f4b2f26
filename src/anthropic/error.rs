//! The Anthropic error body, `{"type":"error","error":{"type","message"}}`, and the status the
//! Anthropic SDKs map to their error classes, written from the gateway's error.

use axum::http::StatusCode;
use serde_json::json;

use crate::error::Error;

/// Anthropic's "overloaded" status, which its SDKs retry and raise as `OverloadedError`.
pub const OVERLOADED: u16 = 529;

/// The error types Anthropic's clients know.
const KNOWN: &[&str] = &[
    "invalid_request_error",
    "authentication_error",
    "billing_error",
    "permission_error",
    "not_found_error",
    "request_too_large",
    "rate_limit_error",
    "timeout_error",
    "api_error",
    "overloaded_error",
];

/// The status an Anthropic client gets for `error`: the gateway's, but an overloaded upstream
/// is 529 as Anthropic says it.
pub fn status(error: &Error) -> StatusCode {
    let overloaded = match error {
        Error::Upstream(upstream) => upstream.kind.as_deref() == Some("overloaded_error"),
        Error::UpstreamFailed { detail, .. } | Error::UpstreamBusy { detail, .. } => {
            matches!(failed_with(detail), Some(503 | OVERLOADED))
        }
        _ => false,
    };
    if overloaded {
        StatusCode::from_u16(OVERLOADED).unwrap_or(StatusCode::SERVICE_UNAVAILABLE)
    } else {
        error.status()
    }
}

/// The status a provider failed with, from the detail the transport writes for a failure
/// (`HTTP 529 ...: Overloaded`), which the chat surface reports as a 502 and Anthropic's
/// clients want to see as the overload it was.
fn failed_with(detail: &str) -> Option<u16> {
    detail.strip_prefix("HTTP ")?.get(..3)?.parse().ok()
}

/// The error `type`: an Anthropic upstream's own, else by the status.
pub fn kind(error: &Error) -> &str {
    if let Error::Upstream(upstream) = error
        && let Some(kind) = upstream.kind.as_deref().filter(|k| KNOWN.contains(k))
    {
        return kind;
    }
    match status(error).as_u16() {
        400 | 405 | 408 | 422 => "invalid_request_error",
        401 => "authentication_error",
        402 => "billing_error",
        403 => "permission_error",
        404 => "not_found_error",
        413 => "request_too_large",
        429 => "rate_limit_error",
        504 => "timeout_error",
        503 | OVERLOADED => "overloaded_error",
        _ => "api_error",
    }
}

/// The body Anthropic's clients parse, as a response or as an `error` event's data.
pub fn to_json(error: &Error) -> String {
    json!({
        "type": "error",
        "error": {"type": kind(error), "message": error.to_string()},
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::UpstreamStatus;

    #[test]
    fn errors_get_anthropics_types_and_statuses() {
        let cases = [
            (Error::invalid("bad", None), 400, "invalid_request_error"),
            (Error::Unauthorized("no key"), 401, "authentication_error"),
            (
                Error::Forbidden {
                    message: "no".into(),
                },
                403,
                "permission_error",
            ),
            (
                Error::ModelNotFound {
                    message: "no".into(),
                },
                404,
                "not_found_error",
            ),
            (
                Error::PayloadTooLarge { limit: 1 },
                413,
                "request_too_large",
            ),
            (
                Error::UpstreamFailed {
                    provider: "p".into(),
                    detail: "500".into(),
                },
                502,
                "api_error",
            ),
            (
                Error::DeadlineExceeded(std::time::Duration::from_secs(1)),
                504,
                "timeout_error",
            ),
            (Error::ShuttingDown, 503, "overloaded_error"),
        ];
        for (error, status_code, kind_name) in cases {
            assert_eq!(status(&error).as_u16(), status_code, "{error:?}");
            assert_eq!(kind(&error), kind_name, "{error:?}");
        }
        let overloaded = Error::Upstream(Box::new(UpstreamStatus {
            status: StatusCode::from_u16(OVERLOADED).unwrap_or(StatusCode::SERVICE_UNAVAILABLE),
            message: "Overloaded".into(),
            kind: Some("overloaded_error".into()),
            param: None,
            code: None,
            retry_after: None,
            wait: None,
        }));
        assert_eq!(status(&overloaded).as_u16(), 529);
        let failed = |detail: &str| Error::UpstreamFailed {
            provider: "p".into(),
            detail: detail.into(),
        };
        for detail in [
            "HTTP 529 <unknown status code>: Overloaded",
            "HTTP 503 Service Unavailable",
        ] {
            assert_eq!(status(&failed(detail)).as_u16(), 529, "{detail}");
            assert_eq!(kind(&failed(detail)), "overloaded_error", "{detail}");
        }
        assert_eq!(
            status(&failed("HTTP 500 Internal Server Error")).as_u16(),
            502
        );
        assert_eq!(kind(&failed("connection refused")), "api_error");
        let body: serde_json::Value =
            serde_json::from_str(&to_json(&overloaded)).unwrap_or_default();
        assert_eq!(
            body,
            json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})
        );
    }
}
