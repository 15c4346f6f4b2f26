//! Prompts and answers as OpenTelemetry's GenAI conventions write them
//! (`gen_ai.input.messages`, `gen_ai.output.messages`: messages of a role and typed parts), for
//! spans, only when `[telemetry] capture_content = true` asks for them. Every surface's shape is
//! read: chat's messages and choices, Anthropic's system, content blocks and events, the
//! Responses API's instructions, items and events. Bounded: each text is cut at `TEXT_LIMIT`, a
//! prompt keeps its last `MESSAGES_LIMIT` messages, a streamed answer its first `CALLS_LIMIT`
//! tool calls.

use serde_json::{Map, Value, json};

const TEXT_LIMIT: usize = 16 << 10;
const MESSAGES_LIMIT: usize = 64;
const CALLS_LIMIT: usize = 32;

/// The request's prompt, as `gen_ai.input.messages`: its system prompt (Anthropic's `system`,
/// the Responses API's `instructions`) first, then its `messages` or its `input`.
pub fn input_messages(body: &[u8]) -> Option<String> {
    let request: Value = serde_json::from_slice(body).ok()?;
    let mut converted = Vec::new();
    for key in ["system", "instructions"] {
        let text = text_of(request.get(key));
        if !text.is_empty() {
            converted.push(json!({"role": "system", "parts": [text_part(&text)]}));
        }
    }
    match (request.get("messages"), request.get("input")) {
        (Some(Value::Array(messages)), _) => {
            let skip = messages.len().saturating_sub(MESSAGES_LIMIT);
            converted.extend(messages.iter().skip(skip).map(message));
        }
        (_, Some(Value::String(text))) => {
            converted.push(json!({"role": "user", "parts": [text_part(text)]}));
        }
        (_, Some(Value::Array(items))) => {
            let skip = items.len().saturating_sub(MESSAGES_LIMIT);
            converted.extend(items.iter().skip(skip).filter_map(item));
        }
        _ => return None,
    }
    Some(Value::Array(converted).to_string())
}

/// A whole answer, as `gen_ai.output.messages`: a chat completion's choices, an Anthropic
/// message, a Responses API response.
pub fn output_messages(answer: &[u8]) -> Option<String> {
    let answer: Value = serde_json::from_slice(answer).ok()?;
    let converted: Vec<Value> = if let Some(choices) = answer.get("choices") {
        choices
            .as_array()?
            .iter()
            .map(|choice| {
                let mut out = message(choice.get("message").unwrap_or(&Value::Null));
                if let (Some(out), Some(finish)) =
                    (out.as_object_mut(), choice.get("finish_reason"))
                {
                    out.insert("finish_reason".into(), finish.clone());
                }
                out
            })
            .collect()
    } else if answer.get("object").and_then(Value::as_str) == Some("response") {
        let parts = answer
            .get("output")?
            .as_array()?
            .iter()
            .flat_map(output_item_parts)
            .collect::<Vec<_>>();
        vec![json!({"role": "assistant", "parts": parts,
            "finish_reason": answer.get("status").cloned().unwrap_or(Value::Null)})]
    } else {
        let blocks = answer.get("content")?.as_array()?;
        vec![
            json!({"role": "assistant", "parts": blocks.iter().map(content_part).collect::<Vec<_>>(),
            "finish_reason": answer.get("stop_reason").cloned().unwrap_or(Value::Null)}),
        ]
    };
    Some(Value::Array(converted).to_string())
}

/// A Responses API input item as a GenAI message; none for reasoning, which is the model's.
fn item(item: &Value) -> Option<Value> {
    let field = |key: &str| item.get(key).and_then(Value::as_str).unwrap_or_default();
    match item.get("type").and_then(Value::as_str) {
        None | Some("message") => Some(message(item)),
        Some("function_call") => Some(json!({"role": "assistant",
            "parts": [tool_call(field("call_id"), field("name"), field("arguments"))]})),
        Some("function_call_output") => Some(json!({"role": "tool", "parts": [{
            "type": "tool_call_response", "id": field("call_id"), "response": text_of(item.get("output")),
        }]})),
        Some(_) => None,
    }
}

/// The parts a Responses API output item holds.
fn output_item_parts(item: &Value) -> Vec<Value> {
    let field = |key: &str| item.get(key).and_then(Value::as_str).unwrap_or_default();
    match item.get("type").and_then(Value::as_str) {
        Some("message") => item
            .get("content")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(content_part)
            .collect(),
        Some("function_call") => vec![tool_call(
            field("call_id"),
            field("name"),
            field("arguments"),
        )],
        Some("reasoning") => {
            vec![json!({"type": "reasoning", "content": text_of(item.get("summary"))})]
        }
        _ => Vec::new(),
    }
}

/// A streamed answer put together from its chunks (a chat stream's first choice) or its events
/// (Anthropic's, the Responses API's).
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
        if chunk.get("choices").is_none() {
            self.see_event(&chunk);
            return;
        }
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

    /// An Anthropic or a Responses API event: its text, its tool calls (each whole once it is
    /// known: Anthropic's filled as they stream, one after another; a Responses call when its
    /// item is done), and how it ended.
    fn see_event(&mut self, event: &Value) {
        let field = |value: &Value, key: &str| -> String {
            value
                .get(key)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        let delta = event.get("delta").unwrap_or(&Value::Null);
        match event.get("type").and_then(Value::as_str) {
            Some("content_block_start") => {
                let block = event.get("content_block").unwrap_or(&Value::Null);
                if block.get("type").and_then(Value::as_str) == Some("tool_use") {
                    self.call(field(block, "id"), field(block, "name"), String::new());
                }
            }
            Some("content_block_delta") => match delta.get("type").and_then(Value::as_str) {
                Some("text_delta") => push_bounded(&mut self.text, &field(delta, "text")),
                Some("input_json_delta") => {
                    if let Some((_, _, arguments)) = self.calls.last_mut() {
                        push_bounded(arguments, &field(delta, "partial_json"));
                    }
                }
                _ => {}
            },
            Some("message_delta") => {
                if let Some(reason) = delta.get("stop_reason").and_then(Value::as_str) {
                    self.finish = Some(reason.to_owned());
                }
            }
            Some("response.output_text.delta") => {
                push_bounded(&mut self.text, &field(event, "delta"));
            }
            Some("response.output_item.done") => {
                let item = event.get("item").unwrap_or(&Value::Null);
                if item.get("type").and_then(Value::as_str) == Some("function_call") {
                    let arguments = cut(&field(item, "arguments")).to_owned();
                    self.call(field(item, "call_id"), field(item, "name"), arguments);
                }
            }
            Some("response.completed" | "response.incomplete" | "response.failed") => {
                let status = event.get("response").map(|r| field(r, "status"));
                self.finish = status.filter(|s| !s.is_empty());
            }
            _ => {}
        }
    }

    fn call(&mut self, id: String, name: String, arguments: String) {
        if self.calls.len() < CALLS_LIMIT {
            self.calls
                .push((cut(&id).to_owned(), cut(&name).to_owned(), arguments));
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

/// A content part of any surface (chat's parts, Anthropic's blocks, the Responses API's parts)
/// as a GenAI part.
fn content_part(part: &Value) -> Value {
    let field = |key: &str| part.get(key).and_then(Value::as_str).unwrap_or_default();
    match part.get("type").and_then(Value::as_str) {
        Some("text" | "input_text" | "output_text") => text_part(field("text")),
        Some("refusal") => text_part(field("refusal")),
        Some("image_url" | "input_image") => {
            let url = match part.get("image_url") {
                Some(Value::String(url)) => url.as_str(),
                image => image
                    .and_then(|i| i.get("url"))
                    .and_then(Value::as_str)
                    .unwrap_or_default(),
            };
            json!({"type": "uri", "modality": "image", "uri": cut(url)})
        }
        Some("thinking") => json!({"type": "reasoning", "content": cut(field("thinking"))}),
        Some("tool_use") => json!({"type": "tool_call", "id": field("id"), "name": field("name"),
            "arguments": part.get("input").cloned().unwrap_or(Value::Null)}),
        Some("tool_result") => json!({"type": "tool_call_response", "id": field("tool_use_id"),
            "response": text_of(part.get("content"))}),
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

    fn parsed(text: Option<String>) -> Value {
        serde_json::from_str(&text.unwrap_or_default()).unwrap_or_default()
    }

    #[test]
    fn anthropic_prompts_answers_and_events_are_read_as_well() {
        let body = br#"{"model":"m","max_tokens":9,"system":[{"type":"text","text":"be brief"}],"messages":[
            {"role":"user","content":"weather?"},
            {"role":"assistant","content":[{"type":"thinking","thinking":"call it","signature":"s"},{"type":"tool_use","id":"toolu_1","name":"look","input":{"q":1}}]},
            {"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_1","content":"sunny"}]}
        ]}"#;
        assert_eq!(
            parsed(input_messages(body)),
            json!([
                {"role": "system", "parts": [{"type": "text", "content": "be brief"}]},
                {"role": "user", "parts": [{"type": "text", "content": "weather?"}]},
                {"role": "assistant", "parts": [
                    {"type": "reasoning", "content": "call it"},
                    {"type": "tool_call", "id": "toolu_1", "name": "look", "arguments": {"q": 1}}
                ]},
                {"role": "user", "parts": [{"type": "tool_call_response", "id": "toolu_1", "response": "sunny"}]}
            ])
        );
        let answer = br#"{"id":"msg_1","type":"message","role":"assistant","model":"m","content":[{"type":"text","text":"Sunny."}],"stop_reason":"end_turn"}"#;
        assert_eq!(
            parsed(output_messages(answer)),
            json!([{"role": "assistant", "parts": [{"type": "text", "content": "Sunny."}], "finish_reason": "end_turn"}])
        );
        let mut out = StreamOutput::default();
        for event in [
            r#"{"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","content":[]}}"#,
            r#"{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#,
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Let me"}}"#,
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":" look."}}"#,
            r#"{"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"toolu_2","name":"look","input":{}}}"#,
            r#"{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"q\":"}}"#,
            r#"{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"2}"}}"#,
            r#"{"type":"message_delta","delta":{"stop_reason":"tool_use"},"usage":{"output_tokens":9}}"#,
        ] {
            out.see(event);
        }
        assert_eq!(
            parsed(Some(out.messages())),
            json!([{"role": "assistant", "parts": [
                {"type": "text", "content": "Let me look."},
                {"type": "tool_call", "id": "toolu_2", "name": "look", "arguments": {"q": 2}}
            ], "finish_reason": "tool_use"}])
        );
    }

    #[test]
    fn responses_prompts_answers_and_events_are_read_as_well() {
        let body = br#"{"model":"m","instructions":"be brief","input":[
            {"role":"user","content":[{"type":"input_text","text":"weather?"},{"type":"input_image","image_url":"https://x/sky.png"}]},
            {"type":"reasoning","summary":[],"encrypted_content":"gAAA"},
            {"type":"function_call","call_id":"call_1","name":"look","arguments":"{\"q\":1}"},
            {"type":"function_call_output","call_id":"call_1","output":"sunny"}
        ]}"#;
        assert_eq!(
            parsed(input_messages(body)),
            json!([
                {"role": "system", "parts": [{"type": "text", "content": "be brief"}]},
                {"role": "user", "parts": [
                    {"type": "text", "content": "weather?"},
                    {"type": "uri", "modality": "image", "uri": "https://x/sky.png"}
                ]},
                {"role": "assistant", "parts": [{"type": "tool_call", "id": "call_1", "name": "look", "arguments": {"q": 1}}]},
                {"role": "tool", "parts": [{"type": "tool_call_response", "id": "call_1", "response": "sunny"}]}
            ])
        );
        assert_eq!(
            parsed(input_messages(br#"{"model":"m","input":"hi"}"#)),
            json!([{"role": "user", "parts": [{"type": "text", "content": "hi"}]}])
        );
        let answer = br#"{"id":"resp_1","object":"response","status":"completed","output":[
            {"type":"reasoning","id":"rs_1","summary":[{"type":"summary_text","text":"think"}]},
            {"type":"message","id":"msg_1","role":"assistant","status":"completed","content":[{"type":"output_text","text":"Sunny.","annotations":[]}]},
            {"type":"function_call","id":"fc_1","call_id":"call_2","name":"look","arguments":"{}","status":"completed"}]}"#;
        assert_eq!(
            parsed(output_messages(answer)),
            json!([{"role": "assistant", "parts": [
                {"type": "reasoning", "content": "think"},
                {"type": "text", "content": "Sunny."},
                {"type": "tool_call", "id": "call_2", "name": "look", "arguments": {}}
            ], "finish_reason": "completed"}])
        );
        let mut out = StreamOutput::default();
        for event in [
            r#"{"type":"response.created","sequence_number":0,"response":{"id":"resp_1","status":"in_progress","output":[]}}"#,
            r#"{"type":"response.output_text.delta","sequence_number":4,"item_id":"msg_1","output_index":0,"content_index":0,"delta":"Sun"}"#,
            r#"{"type":"response.output_text.delta","sequence_number":5,"item_id":"msg_1","output_index":0,"content_index":0,"delta":"ny."}"#,
            r#"{"type":"response.output_item.done","sequence_number":9,"output_index":1,"item":{"type":"function_call","id":"fc_1","call_id":"call_3","name":"look","arguments":"{\"q\":3}","status":"completed"}}"#,
            r#"{"type":"response.incomplete","sequence_number":10,"response":{"id":"resp_1","status":"incomplete","output":[]}}"#,
        ] {
            out.see(event);
        }
        assert_eq!(
            parsed(Some(out.messages())),
            json!([{"role": "assistant", "parts": [
                {"type": "text", "content": "Sunny."},
                {"type": "tool_call", "id": "call_3", "name": "look", "arguments": {"q": 3}}
            ], "finish_reason": "incomplete"}])
        );
    }
}
