//! The codec on fixtures of Gemini's wire bytes: requests it must produce, answers and streams
//! it must decode.

mod answers;
mod request;
mod schema;
mod stream;

use serde_json::{Value, json};

use super::*;
use crate::completion::Chunk;
use crate::providers::framing::Flow;
use crate::providers::testkit;
use crate::transport;

const TEXT_STREAM: &str = include_str!("../../../tests/fixtures/gemini/text_stream.sse");
const TEXT: &str = include_str!("../../../tests/fixtures/gemini/text.json");
const TOOL_STREAM: &str = include_str!("../../../tests/fixtures/gemini/tool_stream.sse");
const TOOL: &str = include_str!("../../../tests/fixtures/gemini/tool.json");
const THINKING_STREAM: &str = include_str!("../../../tests/fixtures/gemini/thinking_stream.sse");
const THINKING: &str = include_str!("../../../tests/fixtures/gemini/thinking.json");
const BLOCKED: &str = include_str!("../../../tests/fixtures/gemini/blocked.json");
const BLOCKED_STREAM: &str = include_str!("../../../tests/fixtures/gemini/blocked_stream.sse");
const MIDSTREAM_ERROR: &str = include_str!("../../../tests/fixtures/gemini/midstream_error.sse");
const API_KEY_ERROR: &str = include_str!("../../../tests/fixtures/gemini/error_api_key.json");
const QUOTA_ERROR: &str = include_str!("../../../tests/fixtures/gemini/error_quota_array.json");

fn upstream() -> Arc<Upstream> {
    testkit::upstream("gem", "AIza-test-key", Some(status_hook))
}

fn codec() -> Gemini {
    Gemini {
        upstream: upstream(),
        base_url: "https://generativelanguage.googleapis.com/v1beta".into(),
        headers: HeaderMap::new(),
        policy: UnsupportedParams::Error,
    }
}

fn value(json: &str) -> Value {
    serde_json::from_str(json).unwrap_or_else(|e| unreachable!("{e}: {json}"))
}

/// Every event of `fixture` through a fresh decoder: the chunks, and how it ended.
async fn run(fixture: &str, include_usage: bool) -> (Vec<Chunk>, Result<(), Error>) {
    let mut state = StreamState::new(upstream(), "gem/gemini-2.5-flash", include_usage);
    let (out, end) = testkit::run(&mut state, fixture);
    assert_ne!(
        end.as_ref().ok(),
        Some(&Flow::Done),
        "Gemini streams end at EOF"
    );
    (out, end.map(drop))
}

fn chunks(out: &[Chunk]) -> Vec<Value> {
    out.iter().map(|c| value(&c.json)).collect()
}

/// What a client assembles from a stream: (content, reasoning, tool calls, finish, usage,
/// reasoning_details).
#[derive(Debug, PartialEq)]
struct Assembled {
    content: String,
    reasoning: String,
    calls: Vec<(String, String, String)>,
    finish: Value,
    usage: Value,
    details: Vec<Value>,
}

fn assemble(chunks: &[Value]) -> Assembled {
    let mut assembled = Assembled {
        content: String::new(),
        reasoning: String::new(),
        calls: Vec::new(),
        finish: Value::Null,
        usage: Value::Null,
        details: Vec::new(),
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
                assembled.calls.push(Default::default());
            }
            let slot = &mut assembled.calls[index];
            slot.0 += call["id"].as_str().unwrap_or_default();
            slot.1 += call["function"]["name"].as_str().unwrap_or_default();
            slot.2 += call["function"]["arguments"].as_str().unwrap_or_default();
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

/// The same, from a whole `chat.completion`.
fn assemble_whole(completion: &Value) -> Assembled {
    let message = &completion["choices"][0]["message"];
    Assembled {
        content: message["content"].as_str().unwrap_or_default().to_owned(),
        reasoning: message["reasoning_content"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        calls: message["tool_calls"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| {
                (
                    c["id"].as_str().unwrap_or_default().to_owned(),
                    c["function"]["name"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned(),
                    c["function"]["arguments"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned(),
                )
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

fn decode(fixture: &str) -> Value {
    let body = codec()
        .decode(fixture.as_bytes(), "gem/gemini-2.5-flash")
        .unwrap_or_else(|e| unreachable!("{e}"));
    serde_json::from_slice(&body).unwrap_or_else(|e| unreachable!("{e}"))
}

/// Ids are fresh per answer; what they carry after the random part must agree.
fn without_random_ids(mut assembled: Assembled) -> Assembled {
    for call in &mut assembled.calls {
        assert!(call.0.starts_with("call_"), "{}", call.0);
        call.0 = call
            .0
            .split_once("__thought__")
            .map(|(_, sig)| sig.to_owned())
            .unwrap_or_default();
    }
    assembled
}
