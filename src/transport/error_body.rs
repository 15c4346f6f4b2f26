//! Reading an error body from any provider: OpenAI's `{"error":{...}}`, Anthropic's and Gemini's
//! variants of it, the flat `{"object":"error","message":...}` of vLLM and Mistral, or plain text.

use serde::Deserialize;
use serde_json::Value;

#[derive(Debug, Default, PartialEq)]
pub struct UpstreamError {
    pub message: Option<String>,
    pub kind: Option<String>,
    pub param: Option<Value>,
    pub code: Option<Value>,
}

#[derive(Deserialize)]
struct Envelope {
    error: Option<Value>,
    message: Option<Value>,
    detail: Option<Value>,
    #[serde(rename = "type")]
    kind: Option<Value>,
    code: Option<Value>,
    param: Option<Value>,
}

/// Longest piece of a non-JSON error body quoted back to the client.
const TEXT_LIMIT: usize = 300;

pub fn parse_error_body(body: &[u8]) -> UpstreamError {
    // Gemini wraps some errors in an array.
    if let Ok(Value::Array(items)) = serde_json::from_slice::<Value>(body)
        && let Some(first) = items.first()
    {
        return parse_error_body(first.to_string().as_bytes());
    }
    if let Ok(envelope) = serde_json::from_slice::<Envelope>(body) {
        return match envelope.error {
            Some(Value::Object(error)) => UpstreamError {
                message: error.get("message").and_then(text),
                kind: error.get("type").or(error.get("status")).and_then(text),
                param: error.get("param").filter(|v| !v.is_null()).cloned(),
                code: error.get("code").filter(|v| !v.is_null()).cloned(),
            },
            Some(Value::Array(errors)) => errors
                .first()
                .map(|first| parse_error_body(first.to_string().as_bytes()))
                .unwrap_or_default(),
            Some(Value::String(message)) => UpstreamError {
                message: Some(message),
                ..UpstreamError::default()
            },
            _ => UpstreamError {
                message: envelope
                    .message
                    .as_ref()
                    .or(envelope.detail.as_ref())
                    .and_then(text),
                kind: envelope
                    .kind
                    .as_ref()
                    .and_then(text)
                    .filter(|k| k != "error"),
                param: envelope.param.filter(|v| !v.is_null()),
                code: envelope.code.filter(|v| !v.is_null()),
            },
        };
    }
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    UpstreamError {
        message: (!text.is_empty()).then(|| truncate(text, TEXT_LIMIT)),
        ..UpstreamError::default()
    }
}

fn text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Null => None,
        other => Some(other.to_string()),
    }
}

fn truncate(text: &str, limit: usize) -> String {
    match text.char_indices().nth(limit) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn openai_shape() {
        let body = br#"{"error":{"message":"Bad","type":"invalid_request_error","param":"tools","code":"bad_tools"}}"#;
        let error = parse_error_body(body);
        assert_eq!(error.message.as_deref(), Some("Bad"));
        assert_eq!(error.kind.as_deref(), Some("invalid_request_error"));
        assert_eq!(error.param, Some(json!("tools")));
        assert_eq!(error.code, Some(json!("bad_tools")));
    }

    #[test]
    fn anthropic_gemini_flat_and_text_shapes() {
        let anthropic = parse_error_body(
            br#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#,
        );
        assert_eq!(anthropic.kind.as_deref(), Some("overloaded_error"));
        assert_eq!(anthropic.message.as_deref(), Some("Overloaded"));
        let gemini = parse_error_body(
            br#"[{"error":{"code":400,"message":"Bad arg","status":"INVALID_ARGUMENT"}}]"#,
        );
        assert_eq!(gemini.message.as_deref(), Some("Bad arg"));
        let gemini = parse_error_body(
            br#"{"error":{"code":400,"message":"Bad arg","status":"INVALID_ARGUMENT"}}"#,
        );
        assert_eq!(gemini.kind.as_deref(), Some("INVALID_ARGUMENT"));
        assert_eq!(gemini.code, Some(json!(400)));
        let flat = parse_error_body(
            br#"{"object":"error","message":"no such model","type":"NotFoundError","code":404}"#,
        );
        assert_eq!(flat.message.as_deref(), Some("no such model"));
        assert_eq!(flat.code, Some(json!(404)));
        let text = parse_error_body(b"<html>502 Bad Gateway</html>\n");
        assert_eq!(
            text.message.as_deref(),
            Some("<html>502 Bad Gateway</html>")
        );
        assert_eq!(parse_error_body(b"").message, None);
    }
}
