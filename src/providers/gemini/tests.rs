//! The codec on fixtures of Gemini's wire bytes: requests it must produce, answers and streams
//! it must decode.

mod request;
mod schema;

use std::time::Duration;

use futures_util::StreamExt;
use serde_json::{Value, json};

use super::*;
use crate::completion::Chunk;
use crate::config::{Secret, Timeouts};
use crate::providers::Flow;
use crate::stream::upstream::events_from_pieces;
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
    Arc::new(Upstream {
        provider: "gem".into(),
        secrets: vec![Secret::new("AIza-test-key")],
        timeouts: Timeouts {
            first_byte: Duration::from_secs(1),
            idle: Duration::from_secs(1),
        },
        status_hook: Some(status_hook),
    })
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
    let pieces = vec![Bytes::copy_from_slice(fixture.as_bytes())];
    let mut events = std::pin::pin!(events_from_pieces(pieces));
    let mut state = StreamState::new(upstream(), "gem/gemini-2.5-flash", include_usage);
    let mut out = Vec::new();
    while let Some(event) = events.next().await {
        let event = event.unwrap_or_else(|e| unreachable!("{e}"));
        match state.map(&event, &mut out) {
            Ok(Flow::Continue) => {}
            Ok(Flow::Done) => unreachable!("Gemini streams end at EOF"),
            Err(error) => return (out, Err(error)),
        }
    }
    let end = state.end(&mut out);
    (out, end)
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

#[tokio::test]
async fn text_stream_with_crlf_framing() {
    let (out, end) = run(TEXT_STREAM, true).await;
    assert!(end.is_ok(), "{end:?}");
    let chunks = chunks(&out);
    assert_eq!(
        chunks.len(),
        6,
        "role, three deltas, finish, usage: {chunks:#?}"
    );
    let id = &chunks[0]["id"];
    assert!(id.as_str().is_some_and(|id| id.starts_with("chatcmpl-")));
    for chunk in &chunks {
        assert_eq!(&chunk["id"], id, "one id per stream");
        assert_eq!(chunk["object"], "chat.completion.chunk");
        assert_eq!(chunk["model"], "gem/gemini-2.5-flash");
    }
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    assert!(!out[0].output && out[1].output && !out[5].output);
    assert_eq!(chunks[5]["choices"], json!([]));
    let assembled = assemble(&chunks);
    assert_eq!(
        assembled.content,
        "Paris is the capital of France — about 2.1 million people live there. Note: 1 < 2 & café ☃."
    );
    assert_eq!(assembled.finish, "stop");
    assert_eq!(
        assembled.usage,
        json!({"prompt_tokens": 9, "completion_tokens": 55, "total_tokens": 64,
               "prompt_tokens_details": {"cached_tokens": 0},
               "completion_tokens_details": {"reasoning_tokens": 31}})
    );
}

#[tokio::test]
async fn usage_chunk_only_when_asked_for() {
    let (out, end) = run(TEXT_STREAM, false).await;
    assert!(end.is_ok());
    assert!(chunks(&out).iter().all(|c| c["usage"].is_null()));
    assert_eq!(out.len(), 5);
}

#[tokio::test]
async fn function_calls_arrive_whole_with_the_signature_in_the_id() {
    let (out, end) = run(TOOL_STREAM, true).await;
    assert!(end.is_ok(), "{end:?}");
    let chunks = chunks(&out);
    let call_deltas: Vec<&Value> = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"].get("tool_calls"))
        .collect();
    assert_eq!(call_deltas.len(), 2, "one delta per call");
    let first = &call_deltas[0][0];
    assert_eq!(first["index"], 0);
    assert_eq!(first["type"], "function");
    assert_eq!(first["function"]["name"], "get_weather");
    assert_eq!(
        first["function"]["arguments"],
        r#"{"city":"Paris","unit":"celsius"}"#
    );
    let id = first["id"].as_str().unwrap_or_default();
    let signature = value(TOOL)["candidates"][0]["content"]["parts"][1]["thoughtSignature"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(signature.contains('+') && signature.contains('/'));
    let (plain, carried) = signature::split_id(id);
    assert!(plain.starts_with("call_") && !plain.contains("__"));
    assert_eq!(carried.as_deref(), Some(signature.as_str()));
    assert!(
        id.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-'),
        "{id}"
    );
    let second = &call_deltas[1][0];
    assert_eq!(second["index"], 1);
    assert!(
        !second["id"]
            .as_str()
            .unwrap_or_default()
            .contains("__thought__")
    );
    let assembled = assemble(&chunks);
    assert_eq!(assembled.content, "Let me look both up.");
    assert_eq!(
        assembled.finish, "tool_calls",
        "Gemini says STOP after calls"
    );
    assert_eq!(assembled.usage["completion_tokens"], 142);
}

#[tokio::test]
async fn thoughts_become_reasoning_content_and_signatures_reasoning_details() {
    let (out, end) = run(THINKING_STREAM, true).await;
    assert!(end.is_ok(), "{end:?}");
    let assembled = assemble(&chunks(&out));
    assert_eq!(
        assembled.reasoning,
        "**Weighing the numbers**\n\nThe user wants 17 × 23. 17 × 20 = 340 and 17 × 3 = 51, so 391."
    );
    assert_eq!(assembled.content, "17 × 23 = 391.");
    let signature =
        value(THINKING)["candidates"][0]["content"]["parts"][1]["thoughtSignature"].clone();
    assert_eq!(
        assembled.details,
        [
            json!({"type": "reasoning.encrypted", "data": signature, "format": "google-gemini-v1", "index": 0})
        ]
    );
    assert_eq!(
        assembled.usage,
        json!({"prompt_tokens": 14, "completion_tokens": 185, "total_tokens": 199,
               "prompt_tokens_details": {"cached_tokens": 8},
               "completion_tokens_details": {"reasoning_tokens": 176}})
    );
}

#[tokio::test]
async fn streams_and_whole_answers_agree() {
    for (stream, whole) in [
        (TEXT_STREAM, TEXT),
        (TOOL_STREAM, TOOL),
        (THINKING_STREAM, THINKING),
    ] {
        let (out, end) = run(stream, true).await;
        assert!(end.is_ok());
        let streamed = without_random_ids(assemble(&chunks(&out)));
        let decoded = without_random_ids(assemble_whole(&decode(whole)));
        assert_eq!(streamed, decoded);
    }
}

#[test]
fn whole_answers_decode_to_tidy_completions() {
    let text = decode(TEXT);
    assert_eq!(text["object"], "chat.completion");
    assert_eq!(text["model"], "gem/gemini-2.5-flash");
    assert!(
        text["id"]
            .as_str()
            .is_some_and(|id| id.starts_with("chatcmpl-"))
    );
    assert_eq!(text["choices"][0]["message"]["role"], "assistant");
    assert!(text["choices"][0]["message"].get("tool_calls").is_none());
    let tool = decode(TOOL);
    let message = &tool["choices"][0]["message"];
    assert_eq!(message["content"], "Let me look both up.");
    assert_eq!(message["tool_calls"][1]["function"]["name"], "get_time");
    assert_eq!(message["tool_calls"][1]["type"], "function");
    assert_eq!(tool["choices"][0]["finish_reason"], "tool_calls");
}

#[tokio::test]
async fn a_blocked_prompt_is_content_filter_with_empty_content() {
    let whole = decode(BLOCKED);
    assert_eq!(whole["choices"][0]["finish_reason"], "content_filter");
    assert_eq!(whole["choices"][0]["message"]["content"], "");
    assert_eq!(whole["usage"]["prompt_tokens"], 12);
    let (out, end) = run(BLOCKED_STREAM, true).await;
    assert!(end.is_ok());
    let assembled = assemble(&chunks(&out));
    assert_eq!(assembled.finish, "content_filter");
    assert_eq!(assembled.content, "");
    assert_eq!(assembled.usage["prompt_tokens"], 12);
}

#[tokio::test]
async fn an_end_before_a_finish_reason_is_a_truncation() {
    let cut = TEXT_STREAM
        .rsplit_once("data: ")
        .map(|(head, _)| head)
        .unwrap_or_default();
    let (out, end) = run(cut, true).await;
    assert_eq!(
        assemble(&chunks(&out)).content,
        "Paris is the capital of France — about 2.1 million people live"
    );
    match end {
        Err(Error::UpstreamFailed { provider, detail }) => {
            assert_eq!(provider, "gem");
            assert!(detail.contains("no finishReason"), "{detail}");
        }
        other => unreachable!("{other:?}"),
    }
    let (_, empty) = run("", true).await;
    assert!(empty.is_err(), "an empty body is no answer");
}

#[tokio::test]
async fn an_error_event_mid_stream_ends_it_with_the_mapped_status() {
    let (out, end) = run(MIDSTREAM_ERROR, true).await;
    assert_eq!(
        assemble(&chunks(&out)).content,
        "The first half of an answer"
    );
    match end {
        Err(Error::UpstreamFailed { detail, .. }) => {
            assert!(
                detail.contains("HTTP 500") && detail.contains("internal error"),
                "{detail}"
            );
        }
        other => unreachable!("{other:?}"),
    }
    let quota = format!("data: {}\n\n", QUOTA_ERROR.replace('\n', ""));
    let (out, end) = run(&quota, true).await;
    assert!(out.is_empty(), "no role chunk before an error");
    match end {
        Err(Error::Upstream(status)) => {
            assert_eq!(status.status, 429);
            assert!(status.message.contains("quota"), "{}", status.message);
        }
        other => unreachable!("{other:?}"),
    }
}

#[test]
fn an_error_behind_a_200_is_an_error() {
    let error = codec().decode(API_KEY_ERROR.as_bytes(), "gem/m");
    match error {
        Err(Error::Upstream(status)) => assert_eq!(status.status, 401),
        other => unreachable!("{other:?}"),
    }
    let garbage = codec().decode(b"<html>oops</html>", "gem/m");
    assert!(matches!(garbage, Err(Error::UpstreamFailed { .. })));
    let nothing = codec().decode(b"{}", "gem/m");
    assert!(matches!(nothing, Err(Error::UpstreamFailed { .. })));
}

#[test]
fn api_key_invalid_is_a_401_and_nothing_else_changes() {
    let bad_request = StatusCode::BAD_REQUEST;
    assert_eq!(
        status_hook(bad_request, API_KEY_ERROR.as_bytes()),
        Some(StatusCode::UNAUTHORIZED)
    );
    let wrapped = format!("[{API_KEY_ERROR}]");
    assert_eq!(
        status_hook(bad_request, wrapped.as_bytes()),
        Some(StatusCode::UNAUTHORIZED)
    );
    assert_eq!(
        status_hook(StatusCode::TOO_MANY_REQUESTS, QUOTA_ERROR.as_bytes()),
        None
    );
    let plain_400 =
        br#"{"error":{"code":400,"message":"Invalid JSON payload","status":"INVALID_ARGUMENT"}}"#;
    assert_eq!(status_hook(bad_request, plain_400), None);
    assert_eq!(status_hook(bad_request, b"not json"), None);
    match transport::status_error(
        &upstream(),
        bad_request,
        &HeaderMap::new(),
        API_KEY_ERROR.as_bytes(),
    ) {
        Error::Upstream(status) => {
            assert_eq!(status.status, 401);
            assert_eq!(status.kind, None, "INVALID_ARGUMENT described the 400");
        }
        other => unreachable!("{other:?}"),
    }
}

#[test]
fn signatures_survive_the_trip_through_an_id() {
    for signature in [
        "CiQB+sjaf/H2vqX0Zt3gHk9uYpWm7Qe=",
        "Ab+/Cd==",
        "AbCd",
        "Ab-_Cd==",
    ] {
        let id = signature::issue_id(Some(signature));
        let (plain, carried) = signature::split_id(&id);
        assert!(plain.starts_with("call_") && plain.len() == 37, "{plain}");
        if signature.contains(['-', '_']) {
            // Already URL-safe: the same bytes come back in the standard alphabet, which Gemini
            // reads alike.
            assert_eq!(carried.as_deref(), Some("Ab+/Cd=="));
        } else {
            assert_eq!(carried.as_deref(), Some(signature));
        }
    }
    assert_eq!(signature::split_id("call_abc"), ("call_abc", None));
    assert_eq!(signature::split_id("toolu_01"), ("toolu_01", None));
    assert!(!signature::issue_id(None).contains("__thought__"));
}

#[test]
fn the_url_names_the_model_and_method_and_never_the_key() {
    let gemini = codec();
    let whole = gemini.url("gemini-2.5-flash", false);
    assert_eq!(
        whole.ok().as_deref(),
        Some(
            "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:generateContent"
        )
    );
    let stream = gemini.url("gemini-2.5-flash", true);
    assert_eq!(
        stream.ok().as_deref(),
        Some(
            "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
        )
    );
    let tuned = gemini.url("tunedModels/my-model-7", false);
    assert!(tuned.is_ok_and(|u| u.ends_with("/v1beta/tunedModels/my-model-7:generateContent")));
    for bad in ["", "a?key=x", "a b", "a#b"] {
        assert!(
            matches!(gemini.url(bad, false), Err(Error::InvalidRequest { .. })),
            "{bad:?}"
        );
    }
}
