//! Chat Completions requests as clients send them.

use serde_json::{Value, json};

/// A request for `model` with `messages`.
pub fn chat(model: &str, messages: Value) -> Value {
    json!({"model": model, "messages": messages})
}

/// A one-question request.
pub fn user(model: &str, text: &str) -> Value {
    chat(model, json!([{"role": "user", "content": text}]))
}

pub fn user_stream(model: &str, text: &str) -> Value {
    streamed(user(model, text))
}

/// `request`, streamed.
pub fn streamed(mut request: Value) -> Value {
    request["stream"] = json!(true);
    request
}

/// `request`, streamed with usage at the end, as a client that counts tokens asks.
pub fn with_usage(mut request: Value) -> Value {
    request["stream_options"] = json!({"include_usage": true});
    streamed(request)
}
