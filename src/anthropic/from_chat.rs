//! A chat answer as a Messages answer: a whole `chat.completion` as a `message`, and a stream
//! of `chat.completion.chunk`s as Anthropic's events in the order its SDKs check
//! (`message_start`, content blocks opened, filled and closed at indices 0, 1, 2…,
//! `message_delta` with the stop reason and the final usage, `message_stop`).

use std::borrow::Cow;
use std::collections::HashMap;

use serde_json::{Value, json};

use crate::completion::{Chunk, Tokens, Translate};
use crate::openai::response::{ChatDelta, reasoning_text};

/// Anthropic's stop reason for a chat finish reason (a turn with tool calls is a tool use,
/// whatever the finish says).
fn stop_reason(finish: Option<&str>, called: bool) -> &'static str {
    match finish {
        _ if called => "tool_use",
        Some("length") => "max_tokens",
        Some("tool_calls" | "function_call") => "tool_use",
        Some("content_filter") => "refusal",
        _ => "end_turn",
    }
}

/// Anthropic's usage: input excludes what was read from or written to the cache.
fn usage(tokens: &Tokens) -> Value {
    json!({
        "input_tokens": tokens.prompt.saturating_sub(tokens.cached_read).saturating_sub(tokens.cache_write),
        "output_tokens": tokens.completion,
        "cache_read_input_tokens": tokens.cached_read,
        "cache_creation_input_tokens": tokens.cache_write,
    })
}

/// A whole chat answer (its first choice) as a Messages answer, `model` the key that served.
pub fn message(completion: &[u8], tokens: Option<&Tokens>, served: &str) -> Option<Vec<u8>> {
    let completion: Value = serde_json::from_slice(completion).ok()?;
    let choice = completion.get("choices")?.get(0)?;
    let message = choice.get("message")?;
    let mut content = Vec::new();
    if let Some(reasoning) = reasoning_text(message) {
        content.push(json!({"type": "thinking", "thinking": reasoning, "signature": ""}));
    }
    let text = message
        .get("content")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if !text.is_empty() {
        content.push(json!({"type": "text", "text": text}));
    }
    if let Some(refusal) = message.get("refusal").and_then(Value::as_str) {
        content.push(json!({"type": "text", "text": refusal}));
    }
    let calls = message.get("tool_calls").and_then(Value::as_array);
    for call in calls.into_iter().flatten() {
        let function = call.get("function").unwrap_or(&Value::Null);
        let arguments = function
            .get("arguments")
            .and_then(Value::as_str)
            .unwrap_or("{}");
        content.push(json!({
            "type": "tool_use",
            "id": call.get("id").cloned().unwrap_or(Value::Null),
            "name": function.get("name").cloned().unwrap_or(Value::Null),
            "input": serde_json::from_str::<Value>(arguments).unwrap_or_else(|_| json!({})),
        }));
    }
    let called = calls.is_some_and(|c| !c.is_empty());
    let id = completion
        .get("id")
        .and_then(Value::as_str)
        .unwrap_or("chat");
    let answer = json!({
        "id": format!("msg_{id}"),
        "type": "message",
        "role": "assistant",
        "model": served,
        "content": content,
        "stop_reason": stop_reason(choice.get("finish_reason").and_then(Value::as_str), called),
        "stop_sequence": null,
        "usage": usage(&tokens.copied().unwrap_or_default()),
    });
    serde_json::to_vec(&answer).ok()
}

/// The block open now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Open {
    Text(u32),
    Thinking(u32),
    Tool(u32),
}

impl Open {
    fn index(self) -> u32 {
        match self {
            Self::Text(i) | Self::Thinking(i) | Self::Tool(i) => i,
        }
    }
}

/// A chat stream, chunk by chunk, as Anthropic's events.
#[derive(Debug)]
pub struct StreamTranslator {
    served: String,
    started: bool,
    open: Option<Open>,
    next: u32,
    /// A chat tool call's index -> its block's index.
    tools: HashMap<u64, u32>,
    called: bool,
    finish: Option<String>,
    tokens: Tokens,
}

impl StreamTranslator {
    pub fn new(served: &str) -> Self {
        Self {
            served: served.to_owned(),
            started: false,
            open: None,
            next: 0,
            tools: HashMap::new(),
            called: false,
            finish: None,
            tokens: Tokens::default(),
        }
    }

    /// A tool call's piece: a new call opens its `tool_use` block, arguments fill it.
    fn call(&mut self, call: &Value, out: &mut Vec<Chunk>) {
        let position = call.get("index").and_then(Value::as_u64).unwrap_or(0);
        let function = call.get("function").unwrap_or(&Value::Null);
        let named = call.get("id").is_some_and(Value::is_string)
            || function.get("name").is_some_and(Value::is_string);
        let index = match self.tools.get(&position) {
            Some(index) if !named || self.open == Some(Open::Tool(*index)) => *index,
            _ => {
                self.close(out);
                let index = self.next;
                self.next += 1;
                self.tools.insert(position, index);
                self.open = Some(Open::Tool(index));
                self.called = true;
                out.push(event(
                    "content_block_start",
                    &json!({
                        "type": "content_block_start", "index": index,
                        "content_block": {"type": "tool_use",
                            "id": call.get("id").cloned().unwrap_or(Value::Null),
                            "name": function.get("name").cloned().unwrap_or(Value::Null),
                            "input": {}},
                    }),
                    true,
                ));
                index
            }
        };
        if let Some(arguments) = function
            .get("arguments")
            .and_then(Value::as_str)
            .filter(|a| !a.is_empty())
        {
            out.push(block_delta(
                index,
                json!({"type": "input_json_delta", "partial_json": arguments}),
            ));
        }
    }

    /// The index of the open block of `kind`, opening one (and closing another) if needed.
    fn ensure(&mut self, out: &mut Vec<Chunk>, kind: fn(u32) -> Open, block: Value) -> u32 {
        if let Some(open) = self.open
            && std::mem::discriminant(&open) == std::mem::discriminant(&kind(0))
        {
            return open.index();
        }
        self.close(out);
        let index = self.next;
        self.next += 1;
        self.open = Some(kind(index));
        out.push(event(
            "content_block_start",
            &json!({"type": "content_block_start", "index": index, "content_block": block}),
            true,
        ));
        index
    }

    fn close(&mut self, out: &mut Vec<Chunk>) {
        if let Some(open) = self.open.take() {
            out.push(event(
                "content_block_stop",
                &json!({"type": "content_block_stop", "index": open.index()}),
                true,
            ));
        }
    }
}

impl Translate for StreamTranslator {
    /// The events one chat chunk makes.
    fn chunk(&mut self, chunk: &Chunk, out: &mut Vec<Chunk>) {
        let Ok(parsed) = serde_json::from_str::<Value>(&chunk.json) else {
            return;
        };
        if !self.started {
            self.started = true;
            let id = parsed.get("id").and_then(Value::as_str).unwrap_or("chat");
            let start = json!({"type": "message_start", "message": {
                "id": format!("msg_{id}"), "type": "message", "role": "assistant",
                "model": self.served, "content": [], "stop_reason": null, "stop_sequence": null,
                "usage": {"input_tokens": 0, "output_tokens": 0},
            }});
            let mut start = event("message_start", &start, false);
            start.model = chunk.model.clone();
            out.push(start);
        }
        if let Some(tokens) = chunk.usage {
            self.tokens = tokens;
        }
        let Some(delta) = ChatDelta::of(&parsed) else {
            return;
        };
        if let Some(reasoning) = delta.reasoning {
            let index = self.ensure(
                out,
                Open::Thinking,
                json!({"type": "thinking", "thinking": "", "signature": ""}),
            );
            out.push(block_delta(
                index,
                json!({"type": "thinking_delta", "thinking": reasoning}),
            ));
        }
        for text in [delta.content, delta.refusal].into_iter().flatten() {
            let index = self.ensure(out, Open::Text, json!({"type": "text", "text": ""}));
            out.push(block_delta(
                index,
                json!({"type": "text_delta", "text": text}),
            ));
        }
        for call in delta.tool_calls {
            self.call(call, out);
        }
        if let Some(finish) = delta.finish_reason {
            self.close(out);
            self.finish = Some(finish.to_owned());
        }
    }

    /// The stream ended cleanly: the last block closed, the stop reason and the usage, the end.
    fn end(&mut self, out: &mut Vec<Chunk>) {
        self.close(out);
        let reason = stop_reason(self.finish.as_deref(), self.called);
        let mut delta = event(
            "message_delta",
            &json!({"type": "message_delta",
                "delta": {"stop_reason": reason, "stop_sequence": null},
                "usage": usage(&self.tokens)}),
            true,
        );
        delta.usage = Some(self.tokens);
        delta.finish = Some(match reason {
            "tool_use" => "tool_calls",
            "max_tokens" => "length",
            "refusal" => "content_filter",
            _ => "stop",
        });
        out.push(delta);
        out.push(event(
            "message_stop",
            &json!({"type": "message_stop"}),
            true,
        ));
    }
}

fn block_delta(index: u32, delta: Value) -> Chunk {
    event(
        "content_block_delta",
        &json!({"type": "content_block_delta", "index": index, "delta": delta}),
        true,
    )
}

fn event(name: &'static str, data: &Value, output: bool) -> Chunk {
    Chunk {
        json: data.to_string(),
        output,
        usage: None,
        usage_only: false,
        finish: None,
        model: None,
        event: Some(Cow::Borrowed(name)),
    }
}
