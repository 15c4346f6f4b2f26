//! The OpenAI error body, `{"error": {"message", "type", "param", "code"}}`, written from the
//! gateway's error: what OpenAI clients parse from a failed response or a failed stream.

use serde::Serialize;
use serde_json::Value;

use crate::error::Error;

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

/// The body OpenAI clients parse.
pub fn body(error: &Error) -> ErrorBody<'_> {
    ErrorBody {
        error: ErrorObject {
            message: error.to_string(),
            kind: kind(error),
            param: param(error),
            code: code(error),
        },
    }
}

pub fn to_json(error: &Error) -> String {
    serde_json::to_string(&body(error)).unwrap_or_else(|_| {
        r#"{"error":{"message":"internal error","type":"server_error","param":null,"code":null}}"#
            .to_owned()
    })
}

/// The OpenAI error `type`.
fn kind(error: &Error) -> &str {
    match error {
        Error::InvalidRequest { .. }
        | Error::PayloadTooLarge { .. }
        | Error::RequestTimeout(_)
        | Error::ModelNotFound { .. }
        | Error::RouteNotFound { .. }
        | Error::MethodNotAllowed { .. } => "invalid_request_error",
        Error::Unauthorized(_) => "authentication_error",
        Error::Forbidden { .. } => "permission_error",
        Error::RateLimited { .. } => "rate_limit_error",
        Error::Upstream(upstream) => match (&upstream.kind, upstream.status.as_u16()) {
            (Some(kind), _) => kind,
            (None, 401) => "authentication_error",
            (None, 403) => "permission_error",
            (None, 404) => "not_found_error",
            (None, 429) => "rate_limit_error",
            (None, _) => "invalid_request_error",
        },
        Error::UpstreamFailed { .. }
        | Error::UpstreamBusy { .. }
        | Error::UpstreamTimeout { .. }
        | Error::DeadlineExceeded(_) => "upstream_error",
        Error::ShuttingDown | Error::LimitsUnavailable | Error::Internal(_) => "server_error",
    }
}

fn code(error: &Error) -> Value {
    let code = match error {
        Error::InvalidRequest { code, .. } => *code,
        Error::PayloadTooLarge { .. } => Some("request_too_large"),
        Error::RequestTimeout(_) => Some("request_timeout"),
        Error::Unauthorized(_) => Some("invalid_api_key"),
        Error::Forbidden { .. } => Some("model_not_allowed"),
        Error::RateLimited { .. } => Some("rate_limit_exceeded"),
        Error::ModelNotFound { .. } => Some("model_not_found"),
        Error::RouteNotFound { .. } => Some("not_found"),
        Error::MethodNotAllowed { .. } => Some("method_not_allowed"),
        Error::Upstream(upstream) => return upstream.code.clone().unwrap_or(Value::Null),
        Error::UpstreamFailed { .. } | Error::UpstreamBusy { .. } => Some("upstream_error"),
        Error::UpstreamTimeout { .. } => Some("upstream_timeout"),
        Error::DeadlineExceeded(_) => Some("deadline_exceeded"),
        Error::ShuttingDown => Some("shutting_down"),
        Error::LimitsUnavailable => Some("limits_unavailable"),
        Error::Internal(_) => None,
    };
    code.map_or(Value::Null, |c| Value::String(c.to_owned()))
}

fn param(error: &Error) -> Value {
    match error {
        Error::InvalidRequest { param, .. } => param.clone().map_or(Value::Null, Value::String),
        Error::Upstream(upstream) => upstream.param.clone().unwrap_or(Value::Null),
        _ => Value::Null,
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
            let body: Value = serde_json::from_str(&to_json(&error)).unwrap_or_default();
            let object = body["error"].as_object().cloned().unwrap_or_default();
            let mut keys: Vec<_> = object.keys().cloned().collect();
            keys.sort();
            assert_eq!(keys, ["code", "message", "param", "type"], "{error:?}");
        }
    }

    #[test]
    fn invalid_request_names_its_param() {
        let body: Value = serde_json::from_str(&to_json(&Error::invalid("bad", Some("messages"))))
            .unwrap_or_default();
        assert_eq!(body["error"]["param"], "messages");
        assert_eq!(body["error"]["type"], "invalid_request_error");
    }
}
