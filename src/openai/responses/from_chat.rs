//! A chat answer as a Responses answer: a whole `chat.completion` as a response object, and a
//! stream of `chat.completion.chunk`s as the Responses events in the order the SDKs and Codex
//! read them (`response.created`, `response.in_progress`, each output item added, filled and
//! done, then `response.completed` or `response.incomplete` with the whole response), numbered
//! from 0. Reasoning a target gives becomes a reasoning item with its text as the summary and
//! what the target signed as its `encrypted_content`.

use std::borrow::Cow;
use std::fmt::Write;

use serde::Serialize;
use serde_json::{Value, json};

use super::object::{CUSTOM_INPUT, Shell, Status, logprobs, new_id};
use super::reasoning;
use crate::completion::{Chunk, Tokens, Translate};
use crate::openai::delta;
use crate::openai::raw::push_json_string;
use crate::openai::response::reasoning_text;

/// A whole chat answer (its first choice) as a response object.
pub fn response(completion: &[u8], tokens: Option<&Tokens>, shell: &Shell) -> Option<Vec<u8>> {
    let completion: Value = serde_json::from_slice(completion).ok()?;
    let choice = completion.get("choices")?.get(0)?;
    let message = choice.get("message")?;
    let status = Status::of_finish(choice.get("finish_reason").and_then(Value::as_str));
    let mut output = Vec::new();
    let details = message
        .get("reasoning_details")
        .and_then(Value::as_array)
        .map_or(&[][..], Vec::as_slice);
    let reasoning = reasoning_text(message);
    if reasoning.is_some() || !details.is_empty() {
        output.push(reasoning_item(
            &new_id("rs"),
            reasoning.unwrap_or_default(),
            details,
        ));
    }
    let mut content = Vec::new();
    if let Some(text) = message
        .get("content")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())
    {
        content.push(text_part(text, logprobs(choice.get("logprobs"), true)));
    }
    if let Some(refusal) = message.get("refusal").and_then(Value::as_str) {
        content.push(json!({"type": "refusal", "refusal": refusal}));
    }
    if !content.is_empty() {
        output.push(message_item(&new_id("msg"), content, status.item_status()));
    }
    for call in message
        .get("tool_calls")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let function = call.get("function").unwrap_or(&Value::Null);
        let text = |key: &str| {
            function
                .get(key)
                .and_then(Value::as_str)
                .unwrap_or_default()
        };
        let call_id = call.get("id").and_then(Value::as_str).unwrap_or_default();
        output.push(if shell.is_custom(text("name")) {
            custom_item(
                &new_id("ctc"),
                call_id,
                text("name"),
                &custom_input(text("arguments")),
            )
        } else {
            call_item(
                &new_id("fc"),
                call_id,
                text("name"),
                text("arguments"),
                status.item_status(),
            )
        });
    }
    // No usage reported is none written (`usage: null`), not zeros.
    serde_json::to_vec(&shell.response(status, output, tokens)).ok()
}

fn text_part(text: &str, logprobs: Vec<Value>) -> Value {
    json!({"type": "output_text", "text": text, "annotations": [], "logprobs": logprobs})
}

fn message_item(id: &str, content: Vec<Value>, status: &str) -> Value {
    json!({"type": "message", "id": id, "status": status, "role": "assistant", "content": content})
}

fn custom_item(id: &str, call_id: &str, name: &str, input: &str) -> Value {
    json!({"type": "custom_tool_call", "id": id, "call_id": call_id, "name": name, "input": input})
}

/// A custom tool's input from the arguments of the function it was given to the target as
/// (`to_chat::custom_function`); the arguments as they are when they are not that object.
fn custom_input(arguments: &str) -> String {
    serde_json::from_str::<Value>(arguments)
        .ok()
        .and_then(|a| a.get(CUSTOM_INPUT)?.as_str().map(str::to_owned))
        .unwrap_or_else(|| arguments.to_owned())
}

fn call_item(id: &str, call_id: &str, name: &str, arguments: &str, status: &str) -> Value {
    json!({"type": "function_call", "id": id, "call_id": call_id, "name": name,
        "arguments": arguments, "status": status})
}

/// A reasoning item: the target's reasoning text as its summary, and what the target signed
/// (for it to have back on the next turn) as its `encrypted_content`.
fn reasoning_item(id: &str, text: &str, details: &[Value]) -> Value {
    let mut item =
        json!({"type": "reasoning", "id": id, "summary": [{"type": "summary_text", "text": text}]});
    if let Some(sealed) = reasoning::seal(details) {
        item["encrypted_content"] = json!(sealed);
    }
    item
}

/// A reasoning item being written: its place in `output`, its id, its summary and signed
/// details so far.
#[derive(Debug)]
struct OpenReasoning {
    index: usize,
    id: String,
    text: String,
    details: Vec<Value>,
}

/// A content part of the open message: text or a refusal, and what it holds so far.
#[derive(Debug)]
struct OpenPart {
    refusal: bool,
    text: String,
    logprobs: Vec<Value>,
}

#[derive(Debug)]
struct OpenMessage {
    index: usize,
    id: String,
    /// Parts already done.
    done: Vec<Value>,
    part: Option<OpenPart>,
}

/// A function call being written; chat's tool-call index finds it again.
#[derive(Debug)]
struct OpenCall {
    /// A custom tool's call: its input is written whole when it closes, not as it comes.
    custom: bool,
    chat_index: u64,
    index: usize,
    id: String,
    call_id: String,
    name: String,
    arguments: String,
}

/// A chat stream, chunk by chunk, as the Responses events.
#[derive(Debug)]
pub struct ResponsesStream {
    shell: Shell,
    sequence: u64,
    started: bool,
    /// Every output item by its index; `None` while it is still being written.
    items: Vec<Option<Value>>,
    reasoning: Option<OpenReasoning>,
    message: Option<OpenMessage>,
    calls: Vec<OpenCall>,
    finish: Option<&'static str>,
    /// The usage the target reported, if it did.
    tokens: Option<Tokens>,
}

impl ResponsesStream {
    pub fn new(shell: Shell) -> Self {
        Self {
            shell,
            sequence: 0,
            started: false,
            items: Vec::new(),
            reasoning: None,
            message: None,
            calls: Vec::new(),
            finish: None,
            tokens: None,
        }
    }

    /// An event named `name` with the next sequence number and `fields`.
    fn event(&mut self, name: &'static str, fields: &impl Serialize) -> Chunk {
        numbered(next(&mut self.sequence), name, fields)
    }

    fn start(&mut self, model: Option<Box<str>>, out: &mut Vec<Chunk>) {
        self.started = true;
        let response = self.shell.response(Status::InProgress, Vec::new(), None);
        // Held back with the stream's preamble: they are not output.
        let mut created = self.event("response.created", &json!({"response": response}));
        created.output = false;
        created.model = model;
        out.push(created);
        let mut progress = self.event("response.in_progress", &json!({"response": response}));
        progress.output = false;
        out.push(progress);
    }

    fn add_item(&mut self, item: Value, out: &mut Vec<Chunk>) -> usize {
        let index = self.items.len();
        self.items.push(None);
        let added = self.event(
            "response.output_item.added",
            &json!({"output_index": index, "item": item}),
        );
        out.push(added);
        index
    }

    fn finish_item(&mut self, index: usize, item: Value, out: &mut Vec<Chunk>) {
        let done = self.event(
            "response.output_item.done",
            &json!({"output_index": index, "item": item}),
        );
        out.push(done);
        self.items[index] = Some(item);
    }

    fn reasoning(&mut self, delta: &str, out: &mut Vec<Chunk>) {
        self.open_reasoning(out);
        let Some(open) = self.reasoning.as_mut() else {
            return;
        };
        open.text.push_str(delta);
        let fields = SummaryDelta {
            item_id: &open.id,
            output_index: open.index,
            summary_index: 0,
            delta,
        };
        let sequence = next(&mut self.sequence);
        out.push(numbered(
            sequence,
            "response.reasoning_summary_text.delta",
            &fields,
        ));
    }

    /// Signed reasoning goes with the reasoning item it signs (one opened for it if none is).
    fn reasoning_details(&mut self, details: &[Value], out: &mut Vec<Chunk>) {
        self.open_reasoning(out);
        if let Some(open) = self.reasoning.as_mut() {
            open.details.extend_from_slice(details);
        }
    }

    fn open_reasoning(&mut self, out: &mut Vec<Chunk>) {
        if self.reasoning.is_none() {
            self.close_message(out);
            let id = new_id("rs");
            let index = self.add_item(json!({"type": "reasoning", "id": id, "summary": []}), out);
            let added = self.event(
                "response.reasoning_summary_part.added",
                &json!({"item_id": id, "output_index": index, "summary_index": 0,
                    "part": {"type": "summary_text", "text": ""}}),
            );
            out.push(added);
            self.reasoning = Some(OpenReasoning {
                index,
                id,
                text: String::new(),
                details: Vec::new(),
            });
        }
    }

    fn close_reasoning(&mut self, out: &mut Vec<Chunk>) {
        let Some(open) = self.reasoning.take() else {
            return;
        };
        let fields = json!({"item_id": open.id, "output_index": open.index, "summary_index": 0});
        let mut done = fields.clone();
        done["text"] = json!(open.text);
        let event = self.event("response.reasoning_summary_text.done", &done);
        out.push(event);
        let mut done = fields;
        done["part"] = json!({"type": "summary_text", "text": open.text});
        let event = self.event("response.reasoning_summary_part.done", &done);
        out.push(event);
        let item = reasoning_item(&open.id, &open.text, &open.details);
        self.finish_item(open.index, item, out);
    }

    /// Text (or, with `refusal`, a refusal) into the open message, opening it and its part as
    /// needed.
    fn text(&mut self, delta: &str, refusal: bool, logprobs: Vec<Value>, out: &mut Vec<Chunk>) {
        self.close_reasoning(out);
        if self.message.is_none() {
            let id = new_id("msg");
            let index = self.add_item(
                json!({"type": "message", "id": id, "status": "in_progress", "role": "assistant", "content": []}),
                out,
            );
            self.message = Some(OpenMessage {
                index,
                id,
                done: Vec::new(),
                part: None,
            });
        }
        if self
            .message
            .as_ref()
            .and_then(|m| m.part.as_ref())
            .is_some_and(|p| p.refusal != refusal)
        {
            self.close_part(out);
        }
        let Some(message) = self.message.as_mut() else {
            return;
        };
        if message.part.is_none() {
            message.part = Some(OpenPart {
                refusal,
                text: String::new(),
                logprobs: Vec::new(),
            });
            let part = if refusal {
                json!({"type": "refusal", "refusal": ""})
            } else {
                json!({"type": "output_text", "text": "", "annotations": [], "logprobs": []})
            };
            let added = json!({"item_id": message.id, "output_index": message.index,
                "content_index": message.done.len(), "part": part});
            let sequence = next(&mut self.sequence);
            out.push(numbered(sequence, "response.content_part.added", &added));
        }
        let OpenMessage {
            index,
            id,
            done,
            part: Some(part),
        } = message
        else {
            return;
        };
        part.text.push_str(delta);
        let stripped = if refusal || logprobs.is_empty() {
            Vec::new()
        } else {
            without_bytes(&logprobs)
        };
        let fields = TextDelta {
            item_id: id,
            output_index: *index,
            content_index: done.len(),
            delta,
            logprobs: (!refusal).then_some(&stripped[..]),
        };
        let name = if refusal {
            "response.refusal.delta"
        } else {
            "response.output_text.delta"
        };
        let sequence = next(&mut self.sequence);
        out.push(numbered(sequence, name, &fields));
        part.logprobs.extend(logprobs);
    }

    fn close_part(&mut self, out: &mut Vec<Chunk>) {
        let Some(message) = self.message.as_mut() else {
            return;
        };
        let Some(part) = message.part.take() else {
            return;
        };
        let (id, index, content_index) = (message.id.clone(), message.index, message.done.len());
        let fields = json!({"item_id": id, "output_index": index, "content_index": content_index});
        let mut done = fields.clone();
        let whole = if part.refusal {
            done["refusal"] = json!(part.text);
            let event = self.event("response.refusal.done", &done);
            out.push(event);
            json!({"type": "refusal", "refusal": part.text})
        } else {
            done["text"] = json!(part.text);
            done["logprobs"] = json!([]);
            let event = self.event("response.output_text.done", &done);
            out.push(event);
            text_part(&part.text, part.logprobs)
        };
        let mut done = fields;
        done["part"] = whole.clone();
        let event = self.event("response.content_part.done", &done);
        out.push(event);
        if let Some(message) = self.message.as_mut() {
            message.done.push(whole);
        }
    }

    fn close_message(&mut self, out: &mut Vec<Chunk>) {
        self.close_part(out);
        let Some(message) = self.message.take() else {
            return;
        };
        let status = Status::of_finish(self.finish).item_status();
        let item = message_item(&message.id, message.done, status);
        self.finish_item(message.index, item, out);
    }

    fn call(&mut self, call: &Value, out: &mut Vec<Chunk>) {
        let chat_index = call.get("index").and_then(Value::as_u64).unwrap_or(0);
        let function = call.get("function").unwrap_or(&Value::Null);
        let call_id = call
            .get("id")
            .and_then(Value::as_str)
            .filter(|id| !id.is_empty());
        let known = self.calls.iter().position(|open| {
            open.chat_index == chat_index && call_id.is_none_or(|id| id == open.call_id)
        });
        let position = match known {
            Some(position) => position,
            None => {
                self.close_reasoning(out);
                self.close_message(out);
                let call_id = call_id.unwrap_or_default().to_owned();
                let name = function
                    .get("name")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned();
                let custom = self.shell.is_custom(&name);
                let (id, item) = if custom {
                    let id = new_id("ctc");
                    let item = custom_item(&id, &call_id, &name, "");
                    (id, item)
                } else {
                    let id = new_id("fc");
                    let item = json!({"type": "function_call", "id": id, "call_id": call_id,
                        "name": name, "arguments": "", "status": "in_progress"});
                    (id, item)
                };
                let index = self.add_item(item, out);
                self.calls.push(OpenCall {
                    custom,
                    chat_index,
                    index,
                    id,
                    call_id,
                    name,
                    arguments: String::new(),
                });
                self.calls.len() - 1
            }
        };
        if let Some(arguments) = function
            .get("arguments")
            .and_then(Value::as_str)
            .filter(|a| !a.is_empty())
        {
            let open = &mut self.calls[position];
            open.arguments.push_str(arguments);
            if open.custom {
                return;
            }
            let fields = ArgumentsDelta {
                item_id: &open.id,
                output_index: open.index,
                delta: arguments,
            };
            let sequence = next(&mut self.sequence);
            out.push(numbered(
                sequence,
                "response.function_call_arguments.delta",
                &fields,
            ));
        }
    }

    fn close_calls(&mut self, out: &mut Vec<Chunk>) {
        let status = Status::of_finish(self.finish).item_status();
        for open in std::mem::take(&mut self.calls) {
            if open.custom {
                // The arguments are a JSON object around the input: written once it is whole.
                let input = custom_input(&open.arguments);
                if !input.is_empty() {
                    let delta =
                        json!({"output_index": open.index, "item_id": open.id, "delta": input});
                    let event = self.event("response.custom_tool_call_input.delta", &delta);
                    out.push(event);
                }
                let done = json!({"output_index": open.index, "item_id": open.id, "input": input});
                let event = self.event("response.custom_tool_call_input.done", &done);
                out.push(event);
                let item = custom_item(&open.id, &open.call_id, &open.name, &input);
                self.finish_item(open.index, item, out);
                continue;
            }
            let done = json!({"item_id": open.id, "output_index": open.index,
                "name": open.name, "arguments": open.arguments});
            let event = self.event("response.function_call_arguments.done", &done);
            out.push(event);
            let item = call_item(&open.id, &open.call_id, &open.name, &open.arguments, status);
            self.finish_item(open.index, item, out);
        }
    }

    fn close_all(&mut self, out: &mut Vec<Chunk>) {
        self.close_reasoning(out);
        self.close_message(out);
        self.close_calls(out);
    }
}

/// The sequence number `sequence` holds, moved on to the next.
fn next(sequence: &mut u64) -> u64 {
    let number = *sequence;
    *sequence += 1;
    number
}

/// An event named `name`, numbered `sequence`, with `fields` (an object) after those two, in
/// one buffer: the deltas that are most of a stream are typed structs, never `Value`s.
fn numbered(sequence: u64, name: &'static str, fields: &impl Serialize) -> Chunk {
    let mut head = String::with_capacity(name.len() + 40);
    head.push_str(r#"{"type":"#);
    push_json_string(&mut head, name);
    let _ = write!(head, r#","sequence_number":{sequence}"#);
    let mut json = head.into_bytes();
    json.reserve(160);
    let start = json.len();
    // Neither a `Value` nor these structs can fail to serialize; the object's `{` becomes the
    // comma after the sequence number, or `}` closes an empty one.
    if serde_json::to_writer(&mut json, fields).is_ok() && json.len() > start + 2 {
        json[start] = b',';
    } else {
        json.truncate(start);
        json.push(b'}');
    }
    let json = String::from_utf8(json).unwrap_or_default();
    Chunk::named(json, Cow::Borrowed(name), true)
}

/// A text or refusal delta's fields.
#[derive(Serialize)]
struct TextDelta<'a> {
    item_id: &'a str,
    output_index: usize,
    content_index: usize,
    delta: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    logprobs: Option<&'a [Value]>,
}

/// A reasoning summary's delta's fields.
#[derive(Serialize)]
struct SummaryDelta<'a> {
    item_id: &'a str,
    output_index: usize,
    summary_index: u32,
    delta: &'a str,
}

/// A function call's arguments' delta's fields.
#[derive(Serialize)]
struct ArgumentsDelta<'a> {
    item_id: &'a str,
    output_index: usize,
    delta: &'a str,
}

/// Log probabilities as a delta event gives them: without each token's bytes, which the
/// part's keep.
fn without_bytes(logprobs: &[Value]) -> Vec<Value> {
    logprobs
        .iter()
        .map(|l| {
            let mut l = l.clone();
            if let Some(l) = l.as_object_mut() {
                l.remove("bytes");
                for top in l
                    .get_mut("top_logprobs")
                    .and_then(Value::as_array_mut)
                    .into_iter()
                    .flatten()
                {
                    if let Some(top) = top.as_object_mut() {
                        top.remove("bytes");
                    }
                }
            }
            l
        })
        .collect()
}

impl Translate for ResponsesStream {
    fn chunk(&mut self, chunk: &Chunk, out: &mut Vec<Chunk>) {
        let Some(read) = delta::read(&chunk.json) else {
            return;
        };
        if !self.started {
            self.start(chunk.model.clone(), out);
        }
        if chunk.usage.is_some() {
            self.tokens = chunk.usage;
        }
        if let Some(delta) = read.delta {
            if let Some(reasoning) = delta.reasoning.as_deref() {
                self.reasoning(reasoning, out);
            }
            if !delta.reasoning_details.is_empty() {
                self.reasoning_details(&delta.reasoning_details, out);
            }
            if let Some(text) = delta.content.as_deref() {
                self.text(text, false, logprobs(delta.logprobs.as_ref(), true), out);
            }
            if let Some(refusal) = delta.refusal.as_deref() {
                self.text(refusal, true, Vec::new(), out);
            }
            for call in &delta.tool_calls {
                self.call(call, out);
            }
        }
        if let Some(finish) = chunk.finish {
            self.finish = Some(finish);
            self.close_all(out);
        }
    }

    fn end(&mut self, out: &mut Vec<Chunk>) {
        if !self.started {
            self.start(None, out);
        }
        self.close_all(out);
        let status = Status::of_finish(self.finish);
        let output = self.items.drain(..).flatten().collect();
        let response = self.shell.response(status, output, self.tokens.as_ref());
        let mut terminal = self.event(status.terminal_event(), &json!({"response": response}));
        // A target that reported no usage leaves the gateway's estimate to be charged.
        terminal.usage = self.tokens;
        terminal.finish = Some(self.finish.unwrap_or("stop"));
        out.push(terminal);
    }
}

#[cfg(test)]
#[test]
fn an_event_is_its_type_its_number_and_its_fields_in_one_object() {
    let event = numbered(3, "response.x", &json!({"item_id": "a", "delta": "b"}));
    assert_eq!(
        event.json,
        r#"{"type":"response.x","sequence_number":3,"item_id":"a","delta":"b"}"#
    );
    assert_eq!(event.event.as_deref(), Some("response.x"));
    let bare = numbered(0, "response.y", &json!({}));
    assert_eq!(bare.json, r#"{"type":"response.y","sequence_number":0}"#);
}
