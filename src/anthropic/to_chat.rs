//! A Messages request as a Chat Completions request, for targets that speak chat (or that the
//! chat codecs translate for): the conversation, tools, limits and sampling mapped as
//! ../shared's mappings describe (system blocks to a system message, tool results to tool
//! messages before the rest of their turn, tool uses to tool calls). What Anthropic alone
//! honours is dropped and named (prompt caching, which such targets do on their own, included);
//! server tools, which only Anthropic can run, are refused.

use serde_json::{Map, Value, json};

use crate::error::Error;

/// A chat request body, and the Anthropic parameters it could not carry.
pub struct Translated {
    pub body: Vec<u8>,
    pub dropped: Vec<String>,
}

/// Fields the chat request carries, one way or another; any other is dropped and named.
const CARRIED: &[&str] = &[
    "model",
    "max_tokens",
    "messages",
    "system",
    "stream",
    "temperature",
    "top_p",
    "stop_sequences",
    "metadata",
    "tools",
    "tool_choice",
    "thinking",
    "output_config",
];

/// `body` (a checked Messages request) as a chat request for `model`, streamed with usage when
/// it is a stream. With `reasoning_back`, each assistant turn's thinking goes back as its
/// `reasoning_content` (empty on a turn with tool calls and no thinking), for a target that
/// wants it (DeepSeek's thinking mode refuses a tool-call turn without it); else it is dropped.
pub fn translate(body: &[u8], reasoning_back: bool) -> Result<Translated, Error> {
    let request: Map<String, Value> = serde_json::from_slice(body)
        .map_err(|e| Error::invalid(format!("The request body is not valid JSON: {e}"), None))?;
    let mut dropped: Vec<String> = request
        .keys()
        .filter(|key| !CARRIED.contains(&key.as_str()))
        .cloned()
        .collect();
    let mut chat = Map::new();
    chat.insert(
        "model".into(),
        request.get("model").cloned().unwrap_or(Value::Null),
    );
    let mut messages = Vec::new();
    if let Some(system) = request.get("system") {
        let text = text_of(system, &mut dropped);
        if !text.is_empty() {
            messages.push(json!({"role": "system", "content": text}));
        }
    }
    for message in request
        .get("messages")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        turn(message, &mut messages, &mut dropped, reasoning_back)?;
    }
    chat.insert("messages".into(), Value::Array(messages));
    if let Some(max) = request.get("max_tokens") {
        // Anthropic's covers thinking and answer alike, as OpenAI's newer name does.
        chat.insert("max_completion_tokens".into(), max.clone());
    }
    for key in ["temperature", "top_p"] {
        if let Some(value) = request.get(key) {
            chat.insert(key.into(), value.clone());
        }
    }
    if let Some(stop) = request.get("stop_sequences") {
        chat.insert("stop".into(), stop.clone());
    }
    if let Some(user) = request
        .get("metadata")
        .and_then(|m| m.get("user_id"))
        .filter(|u| u.is_string())
    {
        chat.insert("user".into(), user.clone());
    }
    if let Some(tools) = request.get("tools").and_then(Value::as_array) {
        let functions = tools
            .iter()
            .map(|tool| function(tool, &mut dropped))
            .collect::<Result<Vec<_>, _>>()?;
        if !functions.is_empty() {
            chat.insert("tools".into(), Value::Array(functions));
        }
    }
    if let Some(choice) = request.get("tool_choice") {
        tool_choice(choice, &mut chat);
    }
    if let Some(effort) = request.get("thinking").and_then(effort) {
        chat.insert("reasoning_effort".into(), json!(effort));
    }
    if let Some(config) = request.get("output_config").and_then(Value::as_object) {
        output_config(config, &mut chat, &mut dropped);
    }
    if request.get("stream").and_then(Value::as_bool) == Some(true) {
        chat.insert("stream".into(), json!(true));
        // The final usage is what `message_delta` reports.
        chat.insert("stream_options".into(), json!({"include_usage": true}));
    }
    dropped.sort();
    dropped.dedup();
    let body = serde_json::to_vec(&Value::Object(chat))
        .map_err(|e| Error::Internal(format!("cannot serialize a chat request: {e}")))?;
    Ok(Translated { body, dropped })
}

/// One Anthropic turn as chat messages: a user turn's tool results first, each its own `tool`
/// message, then the rest; an assistant turn's text and tool uses as one message, with its
/// thinking as `reasoning_content` when that goes back.
fn turn(
    message: &Value,
    out: &mut Vec<Value>,
    dropped: &mut Vec<String>,
    reasoning_back: bool,
) -> Result<(), Error> {
    let role = message
        .get("role")
        .and_then(Value::as_str)
        .unwrap_or("user");
    let blocks: Vec<Value> = match message.get("content") {
        Some(Value::String(text)) => vec![json!({"type": "text", "text": text})],
        Some(Value::Array(blocks)) => blocks.clone(),
        _ => Vec::new(),
    };
    match role {
        "assistant" => {
            let mut text = String::new();
            let mut thinking = String::new();
            let mut calls = Vec::new();
            for block in &blocks {
                note_cache_control(block, dropped);
                match block.get("type").and_then(Value::as_str) {
                    Some("text") => text.push_str(block.get("text").and_then(Value::as_str).unwrap_or_default()),
                    Some("thinking") if reasoning_back => thinking.push_str(block.get("thinking").and_then(Value::as_str).unwrap_or_default()),
                    Some("tool_use") => calls.push(json!({
                        "id": block.get("id").cloned().unwrap_or(Value::Null),
                        "type": "function",
                        "function": {
                            "name": block.get("name").cloned().unwrap_or(Value::Null),
                            "arguments": block.get("input").map_or_else(|| "{}".to_owned(), Value::to_string),
                        },
                    })),
                    // A chat target cannot take a thinking signature back.
                    Some("thinking" | "redacted_thinking") => dropped.push("thinking".into()),
                    Some(other) => return Err(unsupported(other)),
                    None => {}
                }
            }
            let mut assistant = json!({"role": "assistant", "content": if text.is_empty() { Value::Null } else { json!(text) }});
            if reasoning_back && !(thinking.is_empty() && calls.is_empty()) {
                assistant["reasoning_content"] = json!(thinking);
            }
            if !calls.is_empty() {
                assistant["tool_calls"] = Value::Array(calls);
            }
            out.push(assistant);
        }
        "system" => {
            out.push(json!({"role": "system", "content": text_of(&Value::Array(blocks), dropped)}))
        }
        _ => {
            let mut parts = Vec::new();
            for block in &blocks {
                note_cache_control(block, dropped);
                match block.get("type").and_then(Value::as_str) {
                    Some("tool_result") => out.push(json!({
                        "role": "tool",
                        "tool_call_id": block.get("tool_use_id").cloned().unwrap_or(Value::Null),
                        "content": tool_result_text(block, dropped),
                    })),
                    Some("text") => parts.push(json!({"type": "text", "text": block.get("text").cloned().unwrap_or(json!(""))})),
                    Some("image") => parts.push(image(block)?),
                    Some("document") => parts.push(document(block)?),
                    Some("thinking" | "redacted_thinking") => dropped.push("thinking".into()),
                    Some(other) => return Err(unsupported(other)),
                    None => {}
                }
            }
            if !parts.is_empty() {
                out.push(json!({"role": "user", "content": parts}));
            }
        }
    }
    Ok(())
}

/// A system prompt, a system turn or a tool result's content as plain text.
fn text_of(value: &Value, dropped: &mut Vec<String>) -> String {
    match value {
        Value::String(text) => text.clone(),
        Value::Array(blocks) => blocks
            .iter()
            .filter_map(|block| {
                note_cache_control(block, dropped);
                block.get("text").and_then(Value::as_str)
            })
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    }
}

fn tool_result_text(block: &Value, dropped: &mut Vec<String>) -> String {
    let text = block
        .get("content")
        .map(|c| text_of(c, dropped))
        .unwrap_or_default();
    if block.get("is_error").and_then(Value::as_bool) == Some(true) {
        format!("Error: {text}")
    } else {
        text
    }
}

fn image(block: &Value) -> Result<Value, Error> {
    let source = block.get("source").unwrap_or(&Value::Null);
    let url = match source.get("type").and_then(Value::as_str) {
        Some("base64") => format!(
            "data:{};base64,{}",
            source
                .get("media_type")
                .and_then(Value::as_str)
                .unwrap_or("image/png"),
            source
                .get("data")
                .and_then(Value::as_str)
                .unwrap_or_default()
        ),
        Some("url") => source
            .get("url")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
        _ => return Err(unsupported("image source")),
    };
    Ok(json!({"type": "image_url", "image_url": {"url": url}}))
}

fn document(block: &Value) -> Result<Value, Error> {
    let source = block.get("source").unwrap_or(&Value::Null);
    match source.get("type").and_then(Value::as_str) {
        Some("base64") => Ok(json!({"type": "file", "file": {
            "file_data": format!(
                "data:{};base64,{}",
                source.get("media_type").and_then(Value::as_str).unwrap_or("application/pdf"),
                source.get("data").and_then(Value::as_str).unwrap_or_default()
            ),
            "filename": block.get("title").and_then(Value::as_str).unwrap_or("document.pdf"),
        }})),
        Some("text") => {
            Ok(json!({"type": "text", "text": source.get("data").cloned().unwrap_or(json!(""))}))
        }
        _ => Err(unsupported("document source")),
    }
}

/// A custom tool as a chat function; Anthropic's own tools (server tools, its client tools
/// without a schema) only Anthropic knows.
fn function(tool: &Value, dropped: &mut Vec<String>) -> Result<Value, Error> {
    note_cache_control(tool, dropped);
    let kind = tool.get("type").and_then(Value::as_str).unwrap_or("custom");
    let Some(schema) = tool.get("input_schema").filter(|_| kind == "custom") else {
        return Err(unsupported(&format!("tool type '{kind}'")));
    };
    let mut function = json!({
        "name": tool.get("name").cloned().unwrap_or(Value::Null),
        "parameters": schema,
    });
    if let Some(description) = tool.get("description") {
        function["description"] = description.clone();
    }
    if let Some(strict) = tool.get("strict") {
        function["strict"] = strict.clone();
    }
    Ok(json!({"type": "function", "function": function}))
}

fn tool_choice(choice: &Value, chat: &mut Map<String, Value>) {
    let mapped = match choice.get("type").and_then(Value::as_str) {
        Some("auto") => json!("auto"),
        Some("any") => json!("required"),
        Some("none") => json!("none"),
        Some("tool") => {
            json!({"type": "function", "function": {"name": choice.get("name").cloned().unwrap_or(Value::Null)}})
        }
        _ => return,
    };
    chat.insert("tool_choice".into(), mapped);
    if choice
        .get("disable_parallel_tool_use")
        .and_then(Value::as_bool)
        == Some(true)
    {
        chat.insert("parallel_tool_calls".into(), json!(false));
    }
}

/// `output_config`: its `effort` as the reasoning effort of the same name (over one the
/// thinking budget implied), its JSON schema `format` as chat's strict `response_format`; any
/// other part dropped and named.
fn output_config(
    config: &Map<String, Value>,
    chat: &mut Map<String, Value>,
    dropped: &mut Vec<String>,
) {
    for (key, value) in config {
        match (key.as_str(), value) {
            ("effort", Value::String(effort)) => {
                chat.insert("reasoning_effort".into(), json!(effort));
            }
            ("format", format)
                if format.get("type").and_then(Value::as_str) == Some("json_schema") =>
            {
                chat.insert(
                    "response_format".into(),
                    json!({"type": "json_schema", "json_schema": {
                        "name": "output",
                        "schema": format.get("schema").cloned().unwrap_or_else(|| json!({})),
                        "strict": true,
                    }}),
                );
            }
            (_, Value::Null) => {}
            _ => dropped.push(format!("output_config.{key}")),
        }
    }
}

/// `thinking` as a reasoning effort: a budget by its size, adaptive left to the model.
fn effort(thinking: &Value) -> Option<&'static str> {
    match thinking.get("type").and_then(Value::as_str) {
        Some("enabled") => {
            let budget = thinking
                .get("budget_tokens")
                .and_then(Value::as_u64)
                .unwrap_or(0);
            Some(if budget < 4096 {
                "low"
            } else if budget < 16_384 {
                "medium"
            } else {
                "high"
            })
        }
        _ => None,
    }
}

/// `cache_control` is a hint: a chat target caches prompts on its own, so it is dropped (and
/// named), never refused; Claude Code sends it on every request.
fn note_cache_control(block: &Value, dropped: &mut Vec<String>) {
    if block.get("cache_control").is_some() {
        dropped.push("cache_control".into());
    }
}

fn unsupported(what: &str) -> Error {
    Error::invalid(
        format!("A {what} block or tool can only be served by an anthropic-kind target."),
        None,
    )
}
