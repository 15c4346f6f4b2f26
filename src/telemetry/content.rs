//! Prompts and answers as OpenTelemetry's GenAI conventions write them
//! (`gen_ai.input.messages`, `gen_ai.output.messages`: messages of a role and typed parts), for
//! spans, only when `[telemetry] capture_content = true` asks for them. Bounded: each text is
//! cut at `TEXT_LIMIT`, a prompt keeps its last `MESSAGES_LIMIT` messages, a streamed answer its
//! first `CALLS_LIMIT` tool calls.

use serde_json::{Map, Value, json};

const TEXT_LIMIT: usize = 16 << 10;
const MESSAGES_LIMIT: usize = 64;
const CALLS_LIMIT: usize = 32;

/// The request's `messages`, as `gen_ai.input.messages`.
pub fn input_messages(body: &[u8]) -> Option<String> {
    let request: Value = serde_json::from_slice(body).ok()?;
    let messages = request.get("messages")?.as_array()?;
    let skip = messages.len().saturating_sub(MESSAGES_LIMIT);
    let converted: Vec<Value> = messages.iter().skip(skip).map(message).collect();
    Some(Value::Array(converted).to_string())
}

/// A whole answer's choices, as `gen_ai.output.messages`.
pub fn output_messages(answer: &[u8]) -> Option<String> {
    let answer: Value = serde_json::from_slice(answer).ok()?;
    let choices = answer.get("choices")?.as_array()?;
    let converted: Vec<Value> = choices
        .iter()
        .map(|choice| {
            let mut out = message(choice.get("message").unwrap_or(&Value::Null));
            if let (Some(out), Some(finish)) = (out.as_object_mut(), choice.get("finish_reason")) {
                out.insert("finish_reason".into(), finish.clone());
            }
            out
        })
        .collect();
    Some(Value::Array(converted).to_string())
}

/// A streamed answer put together from its chunks (the first choice).
#[derive(Debug, Default)]
pub struct StreamOutput {
    text: String,
    /// (id, name, arguments) by the index the chunks give.
    calls: Vec<(String, String, String)>,
    finish: Option<String>,
}

impl StreamOutput {
    pub fn see(&mut self, chunk: &str) {
        let Ok(chunk) = serde_json::from_str::<Value>(chunk) else {
            return;
        };
        let Some(choice) = chunk.get("choices").and_then(|c| c.get(0)) else {
            return;
        };
        if let Some(finish) = choice.get("finish_reason").and_then(Value::as_str) {
            self.finish = Some(finish.to_owned());
        }
        let Some(delta) = choice.get("delta") else {
            return;
        };
        if let Some(text) = delta.get("content").and_then(Value::as_str) {
            push_bounded(&mut self.text, text);
        }
        for call in delta
            .get("tool_calls")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let index = call.get("index").and_then(Value::as_u64).unwrap_or(0) as usize;
            if index >= CALLS_LIMIT {
                continue;
            }
            if self.calls.len() <= index {
                self.calls.resize_with(index + 1, Default::default);
            }
            let (id, name, arguments) = &mut self.calls[index];
            if let Some(piece) = call.get("id").and_then(Value::as_str) {
                push_bounded(id, piece);
            }
            let function = call.get("function");
            if let Some(piece) = function.and_then(|f| f.get("name")).and_then(Value::as_str) {
                push_bounded(name, piece);
            }
            if let Some(piece) = function
                .and_then(|f| f.get("arguments"))
                .and_then(Value::as_str)
            {
                push_bounded(arguments, piece);
            }
        }
    }

    /// What was streamed, as `gen_ai.output.messages`.
    pub fn messages(&self) -> String {
        let mut parts = Vec::new();
        if !self.text.is_empty() {
            parts.push(json!({"type": "text", "content": self.text}));
        }
        for (id, name, arguments) in &self.calls {
            parts.push(tool_call(id, name, arguments));
        }
        let mut message = json!({"role": "assistant", "parts": parts});
        if let (Some(out), Some(finish)) = (message.as_object_mut(), &self.finish) {
            out.insert("finish_reason".into(), json!(finish));
        }
        json!([message]).to_string()
    }
}

/// One chat message as a GenAI message: its role and its parts.
fn message(message: &Value) -> Value {
    let role = message
        .get("role")
        .and_then(Value::as_str)
        .unwrap_or("user");
    let mut parts = Vec::new();
    if role == "tool" {
        parts.push(json!({
            "type": "tool_call_response",
            "id": message.get("tool_call_id").cloned().unwrap_or(Value::Null),
            "response": text_of(message.get("content")),
        }));
    } else {
        match message.get("content") {
            Some(Value::String(text)) => parts.push(text_part(text)),
            Some(Value::Array(items)) => parts.extend(items.iter().map(content_part)),
            _ => {}
        }
        for call in message
            .get("tool_calls")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let function = call.get("function");
            fn field(value: Option<&Value>) -> &str {
                value.and_then(Value::as_str).unwrap_or_default()
            }
            parts.push(tool_call(
                field(call.get("id")),
                field(function.and_then(|f| f.get("name"))),
                field(function.and_then(|f| f.get("arguments"))),
            ));
        }
    }
    json!({"role": role, "parts": parts})
}

fn content_part(part: &Value) -> Value {
    match part.get("type").and_then(Value::as_str) {
        Some("text") => text_part(part.get("text").and_then(Value::as_str).unwrap_or_default()),
        Some("image_url") => {
            let url = part
                .get("image_url")
                .and_then(|i| i.get("url"))
                .and_then(Value::as_str)
                .unwrap_or_default();
            json!({"type": "uri", "modality": "image", "uri": cut(url)})
        }
        Some(other) => {
            let mut generic = Map::new();
            generic.insert("type".into(), json!(other));
            Value::Object(generic)
        }
        None => json!({"type": "unknown"}),
    }
}

fn text_part(text: &str) -> Value {
    json!({"type": "text", "content": cut(text)})
}

fn tool_call(id: &str, name: &str, arguments: &str) -> Value {
    // Arguments are JSON text; the convention carries them as JSON when they are.
    let arguments =
        serde_json::from_str::<Value>(arguments).unwrap_or_else(|_| json!(cut(arguments)));
    json!({"type": "tool_call", "id": id, "name": name, "arguments": arguments})
}

/// A message's content as text: a string, or its text parts joined.
fn text_of(content: Option<&Value>) -> String {
    match content {
        Some(Value::String(text)) => cut(text).to_owned(),
        Some(Value::Array(items)) => {
            let joined: String = items
                .iter()
                .filter_map(|item| item.get("text").and_then(Value::as_str))
                .collect();
            cut(&joined).to_owned()
        }
        _ => String::new(),
    }
}

/// `text` cut to `TEXT_LIMIT` bytes at a character boundary.
fn cut(text: &str) -> &str {
    cut_to(text, TEXT_LIMIT)
}

fn push_bounded(into: &mut String, piece: &str) {
    let room = TEXT_LIMIT.saturating_sub(into.len());
    into.push_str(cut_to(piece, room));
}

/// `text` cut to `limit` bytes at a character boundary.
fn cut_to(text: &str, limit: usize) -> &str {
    if text.len() <= limit {
        return text;
    }
    let mut end = limit;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chat_messages_become_genai_messages_with_typed_parts() {
        let body = br#"{"model":"m","messages":[
            {"role":"system","content":"be brief"},
            {"role":"user","content":[{"type":"text","text":"what is in"},{"type":"image_url","image_url":{"url":"https://x/cat.png"}}]},
            {"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"look","arguments":"{\"q\":1}"}}]},
            {"role":"tool","tool_call_id":"call_1","content":"a cat"}
        ]}"#;
        let input: Value =
            serde_json::from_str(&input_messages(body).unwrap_or_default()).unwrap_or_default();
        assert_eq!(
            input,
            json!([
                {"role": "system", "parts": [{"type": "text", "content": "be brief"}]},
                {"role": "user", "parts": [
                    {"type": "text", "content": "what is in"},
                    {"type": "uri", "modality": "image", "uri": "https://x/cat.png"}
                ]},
                {"role": "assistant", "parts": [{"type": "tool_call", "id": "call_1", "name": "look", "arguments": {"q": 1}}]},
                {"role": "tool", "parts": [{"type": "tool_call_response", "id": "call_1", "response": "a cat"}]}
            ])
        );
    }

    #[test]
    fn a_streamed_answer_is_put_together_and_bounded() {
        let mut out = StreamOutput::default();
        for chunk in [
            r#"{"choices":[{"index":0,"delta":{"role":"assistant","content":"Hel"}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"content":"lo"}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"c","function":{"name":"f","arguments":"{\"a\""}}]}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":":2}"}}]}}]}"#,
            r#"{"choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}"#,
        ] {
            out.see(chunk);
        }
        let messages: Value = serde_json::from_str(&out.messages()).unwrap_or_default();
        assert_eq!(
            messages,
            json!([{"role": "assistant", "parts": [
                {"type": "text", "content": "Hello"},
                {"type": "tool_call", "id": "c", "name": "f", "arguments": {"a": 2}}
            ], "finish_reason": "tool_calls"}])
        );
        let mut long = StreamOutput::default();
        let piece = format!(
            r#"{{"choices":[{{"delta":{{"content":"{}"}}}}]}}"#,
            "x".repeat(1000)
        );
        for _ in 0..100 {
            long.see(&piece);
        }
        assert_eq!(long.text.len(), TEXT_LIMIT);
    }
}
