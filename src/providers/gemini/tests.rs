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
use crate::providers::testkit::{self, Assembled};
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

fn decode(fixture: &str) -> Value {
    let body = codec()
        .decode(fixture.as_bytes(), "gem/gemini-2.5-flash")
        .unwrap_or_else(|e| unreachable!("{e}"));
    serde_json::from_slice(&body.json).unwrap_or_else(|e| unreachable!("{e}"))
}

/// Ids are fresh per answer; what they carry after the random part must agree.
fn without_random_ids(mut assembled: Assembled) -> Assembled {
    for call in &mut assembled.calls {
        assert!(call.id.starts_with("call_"), "{}", call.id);
        call.id = call
            .id
            .split_once("__thought__")
            .map(|(_, sig)| sig.to_owned())
            .unwrap_or_default();
    }
    assembled
}

fn assemble(chunks: &[Value]) -> Assembled {
    Assembled::of_stream(chunks)
}

fn assemble_whole(completion: &Value) -> Assembled {
    Assembled::of_whole(completion)
}
