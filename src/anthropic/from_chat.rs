//! A chat answer as a Messages answer: a whole `chat.completion` as a `message`, and a stream
//! of `chat.completion.chunk`s as Anthropic's events in the order its SDKs check
//! (`message_start`, content blocks opened, filled and closed at indices 0, 1, 2…,
//! `message_delta` with the stop reason and the final usage, `message_stop`).

use std::borrow::Cow;

use serde::Serialize;
use serde_json::{Value, json};

use crate::completion::{Chunk, Tokens, Translate};
use crate::openai::delta;
use crate::openai::response::reasoning_text;

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

/// A tool call: its chat index and id, which later chunks name it by.
#[derive(Debug, Clone, PartialEq, Eq)]
struct CallKey {
    position: u64,
    id: Option<String>,
}

impl CallKey {
    /// Whether a chunk's piece (its index, and its id when it gives one) is this call's.
    fn names(&self, position: u64, id: Option<&str>) -> bool {
        self.position == position && id.is_none_or(|id| self.id.as_deref() == Some(id))
    }
}

/// A tool call that began while another's block was open: written whole once that closes.
#[derive(Debug)]
struct PendingCall {
    key: CallKey,
    name: Value,
    arguments: String,
}

/// A chat stream, chunk by chunk, as Anthropic's events. Anthropic's blocks come one at a
/// time, while a chat stream may interleave its tool calls' arguments: the first call streams
/// as it comes, any that begins while it is open is held and written whole when it closes.
#[derive(Debug)]
pub struct StreamTranslator {
    served: String,
    started: bool,
    open: Option<Open>,
    next: u32,
    /// The call whose block is open.
    live: Option<CallKey>,
    pending: Vec<PendingCall>,
    /// Calls whose blocks are closed.
    done: Vec<CallKey>,
    /// The upstream sent what can no longer be written (arguments for a call whose block is
    /// closed): the stream ended with an `error` event, and nothing follows it.
    broken: bool,
    called: bool,
    finish: Option<String>,
    /// The usage the target reported, if it did.
    tokens: Option<Tokens>,
}

impl StreamTranslator {
    pub fn new(served: &str) -> Self {
        Self {
            served: served.to_owned(),
            started: false,
            open: None,
            next: 0,
            live: None,
            pending: Vec::new(),
            done: Vec::new(),
            broken: false,
            called: false,
            finish: None,
            tokens: None,
        }
    }

    /// A tool call's piece: a new call opens its `tool_use` block (or waits for the open one
    /// to close), arguments fill it.
    fn call(&mut self, call: &Value, out: &mut Vec<Chunk>) {
        let position = call.get("index").and_then(Value::as_u64).unwrap_or(0);
        let id = call
            .get("id")
            .and_then(Value::as_str)
            .filter(|id| !id.is_empty());
        let function = call.get("function").unwrap_or(&Value::Null);
        let arguments = function
            .get("arguments")
            .and_then(Value::as_str)
            .unwrap_or_default();
        // The latest call a piece names is the one it belongs to (some providers give every
        // call the index 0).
        if let Some(pending) = self
            .pending
            .iter_mut()
            .rev()
            .find(|c| c.key.names(position, id))
        {
            pending.arguments.push_str(arguments);
            return;
        }
        if let (Some(live), Some(Open::Tool(index))) = (&self.live, self.open)
            && live.names(position, id)
        {
            if !arguments.is_empty() {
                out.push(block_delta(
                    index,
                    Delta::InputJson {
                        partial_json: arguments,
                    },
                ));
            }
            return;
        }
        if self.done.iter().rev().any(|key| key.names(position, id)) {
            if !arguments.is_empty() {
                self.break_off(out);
            }
            return;
        }
        self.called = true;
        let key = CallKey {
            position,
            id: id.map(str::to_owned),
        };
        let name = function.get("name").cloned().unwrap_or(Value::Null);
        if matches!(self.open, Some(Open::Tool(_))) {
            self.pending.push(PendingCall {
                key,
                name,
                arguments: arguments.to_owned(),
            });
            return;
        }
        self.close(out);
        let index = self.open_tool(&key, name, out);
        self.live = Some(key);
        if !arguments.is_empty() {
            out.push(block_delta(
                index,
                Delta::InputJson {
                    partial_json: arguments,
                },
            ));
        }
    }

    /// Opens a `tool_use` block for `key`'s call.
    fn open_tool(&mut self, key: &CallKey, name: Value, out: &mut Vec<Chunk>) -> u32 {
        let index = self.next;
        self.next += 1;
        self.open = Some(Open::Tool(index));
        out.push(event(
            "content_block_start",
            &json!({
                "type": "content_block_start", "index": index,
                "content_block": {"type": "tool_use", "id": key.id, "name": name, "input": {}},
            }),
            true,
        ));
        index
    }

    /// Arguments for a call already written: Anthropic's format has no way to add them, and
    /// dropping them would hand the client a call it did not make. The answer ends here, as
    /// Anthropic ends a failed stream.
    fn break_off(&mut self, out: &mut Vec<Chunk>) {
        self.broken = true;
        out.push(event(
            "error",
            &json!({"type": "error", "error": {"type": "api_error",
                "message": "The provider sent arguments for a tool call after the call had ended; the answer cannot be written as Anthropic's events."}}),
            true,
        ));
    }

    fn start(&mut self, id: &str, model: Option<Box<str>>, out: &mut Vec<Chunk>) {
        self.started = true;
        let start = json!({"type": "message_start", "message": {
            "id": format!("msg_{id}"), "type": "message", "role": "assistant",
            "model": self.served, "content": [], "stop_reason": null, "stop_sequence": null,
            "usage": {"input_tokens": 0, "output_tokens": 0},
        }});
        let mut start = event("message_start", &start, false);
        start.model = model;
        out.push(start);
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

    /// Closes the open block; a tool's lets the calls held behind it be written, whole.
    fn close(&mut self, out: &mut Vec<Chunk>) {
        let Some(open) = self.open.take() else {
            return;
        };
        out.push(event(
            "content_block_stop",
            &json!({"type": "content_block_stop", "index": open.index()}),
            true,
        ));
        if let Open::Tool(_) = open {
            self.done.extend(self.live.take());
            for call in std::mem::take(&mut self.pending) {
                let index = self.open_tool(&call.key, call.name, out);
                if !call.arguments.is_empty() {
                    out.push(block_delta(
                        index,
                        Delta::InputJson {
                            partial_json: &call.arguments,
                        },
                    ));
                }
                self.open = None;
                out.push(event(
                    "content_block_stop",
                    &json!({"type": "content_block_stop", "index": index}),
                    true,
                ));
                self.done.push(call.key);
            }
        }
    }
}

impl Translate for StreamTranslator {
    /// The events one chat chunk makes.
    fn chunk(&mut self, chunk: &Chunk, out: &mut Vec<Chunk>) {
        if self.broken {
            return;
        }
        let Some(read) = delta::read(&chunk.json) else {
            return;
        };
        if !self.started {
            self.start(
                read.id.as_deref().unwrap_or("chat"),
                chunk.model.clone(),
                out,
            );
        }
        if chunk.usage.is_some() {
            self.tokens = chunk.usage;
        }
        let Some(delta) = read.delta else {
            return;
        };
        if let Some(reasoning) = delta.reasoning.as_deref() {
            let index = self.ensure(
                out,
                Open::Thinking,
                json!({"type": "thinking", "thinking": "", "signature": ""}),
            );
            out.push(block_delta(
                index,
                Delta::Thinking {
                    thinking: reasoning,
                },
            ));
        }
        for text in [delta.content.as_deref(), delta.refusal.as_deref()]
            .into_iter()
            .flatten()
        {
            let index = self.ensure(out, Open::Text, json!({"type": "text", "text": ""}));
            out.push(block_delta(index, Delta::Text { text }));
        }
        for call in &delta.tool_calls {
            self.call(call, out);
            if self.broken {
                return;
            }
        }
        if let Some(finish) = delta.finish_reason {
            self.close(out);
            self.finish = Some(finish.into_owned());
        }
    }

    /// The stream ended cleanly: the last block closed, the stop reason and the usage, the end.
    fn end(&mut self, out: &mut Vec<Chunk>) {
        if self.broken {
            return;
        }
        // A stream that ended before any chunk still makes a whole message.
        if !self.started {
            self.start("chat", None, out);
        }
        self.close(out);
        let reason = stop_reason(self.finish.as_deref(), self.called);
        let mut delta = event(
            "message_delta",
            &json!({"type": "message_delta",
                "delta": {"stop_reason": reason, "stop_sequence": null},
                "usage": usage(&self.tokens.unwrap_or_default())}),
            true,
        );
        // A target that reported no usage leaves the gateway's estimate to be charged.
        delta.usage = self.tokens;
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

/// What a `content_block_delta` adds: most events of a stream, so written without building a
/// `Value`.
#[derive(Serialize)]
#[serde(tag = "type")]
enum Delta<'a> {
    #[serde(rename = "text_delta")]
    Text { text: &'a str },
    #[serde(rename = "thinking_delta")]
    Thinking { thinking: &'a str },
    #[serde(rename = "input_json_delta")]
    InputJson { partial_json: &'a str },
}

#[derive(Serialize)]
struct BlockDelta<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    index: u32,
    delta: Delta<'a>,
}

fn block_delta(index: u32, delta: Delta<'_>) -> Chunk {
    let data = BlockDelta {
        kind: "content_block_delta",
        index,
        delta,
    };
    event("content_block_delta", &data, true)
}

fn event(name: &'static str, data: &impl Serialize, output: bool) -> Chunk {
    // Neither a `Value` nor these structs can fail to serialize.
    let json = serde_json::to_string(data).unwrap_or_default();
    Chunk::named(json, Cow::Borrowed(name), output)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(delta: Value, finish: Option<&'static str>) -> Chunk {
        let json = json!({"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]});
        Chunk {
            json: json.to_string(),
            output: true,
            usage: None,
            usage_only: false,
            finish,
            model: None,
            event: None,
        }
    }

    fn events(chunks: &[Chunk]) -> Vec<Value> {
        let mut translator = StreamTranslator::new("up/m");
        let mut out = Vec::new();
        for chunk in chunks {
            translator.chunk(chunk, &mut out);
        }
        translator.end(&mut out);
        out.iter()
            .map(|e| serde_json::from_str(&e.json).unwrap_or_default())
            .collect()
    }

    fn call(index: u64, id: Option<&str>, name: Option<&str>, arguments: &str) -> Value {
        let mut call = json!({"index": index, "function": {"arguments": arguments}});
        if let Some(id) = id {
            call["id"] = json!(id);
            call["type"] = json!("function");
        }
        if let Some(name) = name {
            call["function"]["name"] = json!(name);
        }
        call
    }

    #[test]
    fn interleaved_tool_calls_are_written_one_block_at_a_time() {
        let events = events(&[
            chunk(
                json!({"tool_calls": [call(0, Some("call_a"), Some("first"), "{\"x\":")]}),
                None,
            ),
            chunk(
                json!({"tool_calls": [call(1, Some("call_b"), Some("second"), "{\"y\":")]}),
                None,
            ),
            chunk(json!({"tool_calls": [call(0, None, None, "1}")]}), None),
            chunk(json!({"tool_calls": [call(1, None, None, "2}")]}), None),
            chunk(json!({}), Some("tool_calls")),
        ]);
        let summary: Vec<(String, Value)> = events
            .iter()
            .map(|e| {
                let detail = match e["type"].as_str() {
                    Some("content_block_start") => e["content_block"]["id"].clone(),
                    Some("content_block_delta") => e["delta"]["partial_json"].clone(),
                    _ => e["index"].clone(),
                };
                (e["type"].as_str().unwrap_or_default().to_owned(), detail)
            })
            .collect();
        let expected: Vec<(String, Value)> = [
            ("message_start", Value::Null),
            ("content_block_start", json!("call_a")),
            ("content_block_delta", json!("{\"x\":")),
            ("content_block_delta", json!("1}")),
            ("content_block_stop", json!(0)),
            ("content_block_start", json!("call_b")),
            ("content_block_delta", json!("{\"y\":2}")),
            ("content_block_stop", json!(1)),
            ("message_delta", Value::Null),
            ("message_stop", Value::Null),
        ]
        .into_iter()
        .map(|(name, detail)| (name.to_owned(), detail))
        .collect();
        assert_eq!(summary, expected);
        assert_eq!(events[8]["delta"]["stop_reason"], "tool_use");
    }

    #[test]
    fn calls_sharing_an_index_are_told_apart_by_their_ids() {
        let events = events(&[
            chunk(
                json!({"tool_calls": [call(0, Some("call_a"), Some("f"), "{}")]}),
                None,
            ),
            chunk(
                json!({"tool_calls": [call(0, Some("call_a"), None, "")]}),
                None,
            ),
            chunk(
                json!({"tool_calls": [call(0, Some("call_b"), Some("g"), "{}")]}),
                None,
            ),
            chunk(json!({}), Some("tool_calls")),
        ]);
        let ids: Vec<&Value> = events
            .iter()
            .filter(|e| e["type"] == "content_block_start")
            .map(|e| &e["content_block"]["id"])
            .collect();
        assert_eq!(ids, [&json!("call_a"), &json!("call_b")]);
    }

    #[test]
    fn arguments_for_a_call_already_written_end_the_stream_with_an_error() {
        let events = events(&[
            chunk(
                json!({"tool_calls": [call(0, Some("call_a"), Some("f"), "{")]}),
                None,
            ),
            chunk(json!({"content": "then text"}), None),
            chunk(json!({"tool_calls": [call(0, None, None, "}")]}), None),
            chunk(json!({"content": "more"}), Some("stop")),
        ]);
        let names: Vec<&str> = events.iter().filter_map(|e| e["type"].as_str()).collect();
        assert_eq!(
            names,
            [
                "message_start",
                "content_block_start",
                "content_block_delta",
                "content_block_stop",
                "content_block_start",
                "content_block_delta",
                "error"
            ]
        );
        assert_eq!(events[6]["error"]["type"], "api_error");
    }

    #[test]
    fn a_stream_that_ends_before_any_chunk_is_still_a_whole_message() {
        let names: Vec<String> = events(&[])
            .iter()
            .filter_map(|e| e["type"].as_str().map(str::to_owned))
            .collect();
        assert_eq!(names, ["message_start", "message_delta", "message_stop"]);
    }
}
