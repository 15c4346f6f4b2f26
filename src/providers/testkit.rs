//! What the codecs' unit tests share: an upstream to decode for, and a fixture of wire bytes
//! run through a stream decoder the way `framing::decode` runs a live one.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use super::framing::sse::Decoder;
use super::framing::{EventDecoder, Flow};
use crate::completion::Chunk;
use crate::config::{Secret, UpstreamBounds};
use crate::error::Error;
use crate::transport::{StatusHook, Upstream};

/// Provider `name`, which was sent `secret`.
pub fn upstream(name: &str, secret: &str, status_hook: Option<StatusHook>) -> Arc<Upstream> {
    Arc::new(Upstream {
        provider: name.into(),
        secrets: vec![Secret::new(secret)],
        bounds: UpstreamBounds {
            first_byte: Duration::from_secs(1),
            idle: Duration::from_secs(1),
            max_event: 1 << 20,
        },
        status_hook,
    })
}

/// Every event of `fixture` (one read) through `decoder`: the chunks, and how it ended:
/// `Ok(Done)` when the upstream declared the end, `Ok(Continue)` when it closed cleanly after
/// the last event, or the error.
pub fn run(decoder: &mut impl EventDecoder, fixture: &str) -> (Vec<Chunk>, Result<Flow, Error>) {
    let mut events = Vec::new();
    if let Err(e) = Decoder::new(usize::MAX).feed(fixture.as_bytes(), &mut events) {
        unreachable!("{e}");
    }
    let mut out = Vec::new();
    for event in &events {
        match decoder.map(event, &mut out) {
            Ok(Flow::Continue) => {}
            other => return (out, other),
        }
    }
    let end = decoder.end(&mut out).map(|()| Flow::Continue);
    (out, end)
}

/// A chunk's JSON, parsed.
pub fn json(chunk: &Chunk) -> Value {
    serde_json::from_str(&chunk.json).unwrap_or_else(|e| unreachable!("{e}: {}", chunk.json))
}

/// What a client makes of an answer, streamed or whole: text, reasoning, tool calls, finish
/// reason, usage and reasoning details, to check that a stream and a whole answer agree.
#[derive(Debug, Default, PartialEq)]
pub struct Assembled {
    pub content: String,
    pub reasoning: String,
    pub calls: Vec<Call>,
    pub finish: Value,
    pub usage: Value,
    pub details: Vec<Value>,
}

#[derive(Debug, Default, PartialEq)]
pub struct Call {
    pub id: String,
    pub name: String,
    pub arguments: String,
}

impl Assembled {
    /// The answer as a client accumulates it from parsed chunks.
    pub fn of_stream(chunks: &[Value]) -> Self {
        let mut assembled = Self {
            finish: Value::Null,
            usage: Value::Null,
            ..Self::default()
        };
        for chunk in chunks {
            if !chunk["usage"].is_null() {
                assembled.usage = chunk["usage"].clone();
            }
            let Some(choice) = chunk["choices"].get(0) else {
                continue;
            };
            let delta = &choice["delta"];
            assembled.content += delta["content"].as_str().unwrap_or_default();
            assembled.reasoning += delta["reasoning_content"].as_str().unwrap_or_default();
            for call in delta["tool_calls"].as_array().into_iter().flatten() {
                let index = call["index"].as_u64().unwrap_or(u64::MAX) as usize;
                if index == assembled.calls.len() {
                    assembled.calls.push(Call::default());
                }
                let slot = &mut assembled.calls[index];
                slot.id += call["id"].as_str().unwrap_or_default();
                slot.name += call["function"]["name"].as_str().unwrap_or_default();
                slot.arguments += call["function"]["arguments"].as_str().unwrap_or_default();
            }
            assembled.details.extend(
                delta["reasoning_details"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default(),
            );
            if !choice["finish_reason"].is_null() {
                assembled.finish = choice["finish_reason"].clone();
            }
        }
        assembled
    }

    /// The same from a whole `chat.completion`.
    pub fn of_whole(completion: &Value) -> Self {
        let message = &completion["choices"][0]["message"];
        let text = |value: &Value| value.as_str().unwrap_or_default().to_owned();
        Self {
            content: text(&message["content"]),
            reasoning: text(&message["reasoning_content"]),
            calls: message["tool_calls"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|c| Call {
                    id: text(&c["id"]),
                    name: text(&c["function"]["name"]),
                    arguments: text(&c["function"]["arguments"]),
                })
                .collect(),
            finish: completion["choices"][0]["finish_reason"].clone(),
            usage: completion["usage"].clone(),
            details: message["reasoning_details"]
                .as_array()
                .cloned()
                .unwrap_or_default(),
        }
    }

    /// With JSON text (a structured answer, tool arguments) compared as values, not as the
    /// upstream spaced it.
    pub fn normalized(mut self) -> Self {
        let value = |text: &str| {
            serde_json::from_str::<Value>(text).map_or_else(|_| text.to_owned(), |v| v.to_string())
        };
        self.content = value(&self.content);
        for call in &mut self.calls {
            call.arguments = value(&call.arguments);
        }
        self
    }
}
