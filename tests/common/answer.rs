//! What a client makes of the gateway's answers: the JSON of a response with its status, the
//! OpenAI error shape, and an answer assembled the same way whether it came whole or streamed.

use serde_json::{Value, json};

use super::sse::SseBody;

/// The JSON body of a response that must have `status`.
pub async fn json_of(response: reqwest::Response, status: u16) -> Value {
    assert_eq!(response.status(), status);
    response.json().await.expect("a JSON body")
}

/// Asserts the OpenAI error shape and returns the `error` object.
pub async fn error_of(response: reqwest::Response, status: u16) -> Value {
    assert_eq!(response.status(), status);
    assert_eq!(response.headers()["content-type"], "application/json");
    let body: Value = response.json().await.unwrap();
    let error = body["error"].clone();
    for key in ["message", "type", "param", "code"] {
        assert!(error.get(key).is_some(), "missing error.{key} in {body}");
    }
    assert!(error["message"].as_str().is_some_and(|m| !m.is_empty()));
    error
}

/// An error's message, which must be there.
pub fn message(error: &Value) -> &str {
    error["message"].as_str().expect("error.message")
}

/// Asserts that an error's message says each of `parts`.
pub fn assert_says(error: &Value, parts: &[&str]) {
    let message = message(error);
    for part in parts {
        assert!(message.contains(part), "{part:?} missing from {message:?}");
    }
}

/// An answer as the client holds it at the end: the assistant message as it would send it back
/// on the next turn, the finish reason and the usage.
#[derive(Debug, PartialEq)]
pub struct Answer {
    pub message: Value,
    pub finish_reason: Value,
    pub usage: Value,
}

impl Answer {
    /// A stream assembled as the OpenAI SDKs assemble one: the strings of each delta appended to
    /// what came before at their place, the last finish reason and usage kept.
    pub fn of_stream(body: &SseBody) -> Self {
        let mut content: Option<String> = None;
        let mut reasoning = String::new();
        let mut details = Vec::new();
        let mut calls: Vec<Value> = Vec::new();
        let mut finish_reason = Value::Null;
        let mut usage = Value::Null;
        for chunk in body.chunks() {
            if !chunk["usage"].is_null() {
                usage = chunk["usage"].clone();
            }
            let Some(choice) = chunk["choices"].get(0) else {
                continue;
            };
            if !choice["finish_reason"].is_null() {
                finish_reason = choice["finish_reason"].clone();
            }
            let delta = &choice["delta"];
            if let Some(text) = delta["content"].as_str().filter(|t| !t.is_empty()) {
                content.get_or_insert_default().push_str(text);
            }
            reasoning.push_str(delta["reasoning_content"].as_str().unwrap_or_default());
            details.extend(
                delta["reasoning_details"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default(),
            );
            for call in delta["tool_calls"].as_array().into_iter().flatten() {
                let index = call["index"].as_u64().unwrap() as usize;
                if index == calls.len() {
                    assert!(call["id"].is_string() && call["function"]["name"].is_string());
                    assert_eq!(call["type"], "function");
                    calls.push(json!({"id": "", "type": "function",
                        "function": {"name": "", "arguments": ""}}));
                }
                for field in ["/id", "/function/name", "/function/arguments"] {
                    if let Some(piece) = call.pointer(field).and_then(Value::as_str) {
                        let to = calls[index].pointer_mut(field).unwrap();
                        *to = Value::String(format!("{}{piece}", to.as_str().unwrap()));
                    }
                }
            }
        }
        let mut message = json!({"role": "assistant", "content": content});
        if !calls.is_empty() {
            message["tool_calls"] = Value::Array(calls);
        }
        if !reasoning.is_empty() {
            message["reasoning_content"] = Value::String(reasoning);
        }
        if !details.is_empty() {
            message["reasoning_details"] = Value::Array(details);
        }
        Self {
            message,
            finish_reason,
            usage,
        }
    }

    /// The first choice of a whole answer, but its `refusal`, which a stream has no place for.
    pub fn of_whole(body: &Value) -> Self {
        let mut message = body["choices"][0]["message"].clone();
        if let Some(message) = message.as_object_mut() {
            message.remove("refusal");
        }
        Self {
            message,
            finish_reason: body["choices"][0]["finish_reason"].clone(),
            usage: body["usage"].clone(),
        }
    }

    pub fn text(&self) -> &str {
        self.message["content"].as_str().unwrap_or_default()
    }

    pub fn reasoning(&self) -> &str {
        self.message["reasoning_content"]
            .as_str()
            .unwrap_or_default()
    }

    pub fn calls(&self) -> &[Value] {
        self.message["tool_calls"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default()
    }

    /// Tool arguments and a JSON answer compared as values: a stream carries the upstream's
    /// spacing, a whole answer compact JSON.
    pub fn normalized(mut self) -> Self {
        if let Some(calls) = self.message["tool_calls"].as_array_mut() {
            for call in calls {
                let arguments: Value =
                    serde_json::from_str(call["function"]["arguments"].as_str().unwrap()).unwrap();
                call["function"]["arguments"] = arguments;
            }
        }
        if let Some(json) = self.message["content"]
            .as_str()
            .and_then(|c| serde_json::from_str::<Value>(c).ok())
        {
            self.message["content"] = json;
        }
        self
    }
}

/// A response header's value as a number (a limit's remaining count, say).
pub fn header_number(response: &reqwest::Response, name: &str) -> u64 {
    response.headers()[name]
        .to_str()
        .unwrap_or_else(|e| panic!("{name} is not text: {e}"))
        .parse()
        .unwrap_or_else(|e| panic!("{name} is not a number: {e}"))
}
