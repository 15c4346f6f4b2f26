//! Whole answers and streams decoded from Anthropic's wire bytes, and the two agreeing.

use serde_json::{Value, json};

use super::*;
use crate::providers::framing::Flow;
use crate::providers::testkit::{self, Assembled};

const TEXT_STREAM: &str = include_str!("../../../../tests/fixtures/anthropic/text_stream.sse");
const TEXT: &str = include_str!("../../../../tests/fixtures/anthropic/text.json");
const TOOL_STREAM: &str = include_str!("../../../../tests/fixtures/anthropic/tool_use_stream.sse");
const TOOL: &str = include_str!("../../../../tests/fixtures/anthropic/tool_use.json");
const THINKING_STREAM: &str =
    include_str!("../../../../tests/fixtures/anthropic/thinking_stream.sse");
const THINKING: &str = include_str!("../../../../tests/fixtures/anthropic/thinking.json");
const REDACTED_STREAM: &str =
    include_str!("../../../../tests/fixtures/anthropic/redacted_thinking_stream.sse");
const REDACTED: &str = include_str!("../../../../tests/fixtures/anthropic/redacted_thinking.json");
const JSON_STREAM: &str =
    include_str!("../../../../tests/fixtures/anthropic/json_schema_stream.sse");
const JSON_ANSWER: &str = include_str!("../../../../tests/fixtures/anthropic/json_schema.json");
const NO_ARGS_STREAM: &str =
    include_str!("../../../../tests/fixtures/anthropic/no_args_tool_stream.sse");
const NO_ARGS: &str = include_str!("../../../../tests/fixtures/anthropic/no_args_tool.json");
const MIDSTREAM_ERROR: &str =
    include_str!("../../../../tests/fixtures/anthropic/midstream_error.sse");

fn decode(body: &str, answer_tool: Option<&str>) -> Value {
    let shape = Shape {
        answer_tool: answer_tool.map(str::to_owned),
    };
    let bytes = codec()
        .decode(body.as_bytes(), "claude/x", &shape)
        .unwrap_or_else(|e| unreachable!("{e}"));
    serde_json::from_slice(&bytes.json).unwrap_or_default()
}

#[test]
fn whole_text_answer_with_cache_usage() {
    let answer = decode(TEXT, None);
    assert_eq!(answer["object"], "chat.completion");
    assert_eq!(answer["model"], "claude/x");
    assert!(
        answer["id"]
            .as_str()
            .is_some_and(|id| id.starts_with("chatcmpl-"))
    );
    let choice = &answer["choices"][0];
    assert_eq!(
        choice["message"]["content"],
        "Bonjour ! Il fait 18 °C à Paris, \"nuageux\".\nBonne journée ☃"
    );
    assert_eq!(choice["finish_reason"], "stop");
    assert_eq!(
        answer["usage"],
        json!({"prompt_tokens": 1233, "completion_tokens": 23, "total_tokens": 1256,
               "prompt_tokens_details": {"cached_tokens": 1024, "cache_write_tokens": 188}})
    );
}

#[test]
fn whole_tool_use_answer() {
    let message = &decode(TOOL, None)["choices"][0];
    assert_eq!(message["finish_reason"], "tool_calls");
    assert_eq!(
        message["message"]["content"],
        "I'll look up the weather in both cities."
    );
    let calls = &message["message"]["tool_calls"];
    assert_eq!(calls[0]["id"], "toolu_01A09q90qw90lq917835lq9");
    assert_eq!(calls[0]["type"], "function");
    assert_eq!(calls[0]["function"]["name"], "get_weather");
    assert_eq!(
        calls[0]["function"]["arguments"],
        r#"{"city":"Paris","unit":"c"}"#
    );
    assert_eq!(calls[1]["id"], "toolu_01BmN8pYdxkW3Qv7c1kXyZtR");
}

#[test]
fn whole_thinking_answers_carry_signed_reasoning() {
    let message = &decode(THINKING, None)["choices"][0]["message"];
    assert_eq!(
        message["reasoning_content"],
        "The user wants the weather in Paris. I should call get_weather with city \"Paris\"."
    );
    let detail = &message["reasoning_details"][0];
    assert_eq!(detail["type"], "reasoning.text");
    assert_eq!(detail["format"], "anthropic-claude-v1");
    assert_eq!(detail["index"], 0);
    assert!(
        detail["signature"]
            .as_str()
            .is_some_and(|s| s.starts_with("EqQB"))
    );

    let message = &decode(REDACTED, None)["choices"][0]["message"];
    assert_eq!(
        message["reasoning_details"][0]["type"],
        "reasoning.encrypted"
    );
    assert!(
        message["reasoning_details"][0]["data"]
            .as_str()
            .is_some_and(|d| d.starts_with("EmwK"))
    );
    assert_eq!(message["reasoning_details"][1]["index"], 1);
    assert_eq!(message["content"], "42.");
}

#[test]
fn whole_json_answer_is_text() {
    let choice = &decode(JSON_ANSWER, Some("weather_report"))["choices"][0];
    assert_eq!(
        choice["message"]["content"],
        r#"{"city":"Paris","temperature_c":18}"#
    );
    assert!(choice["message"].get("tool_calls").is_none());
    assert_eq!(choice["finish_reason"], "stop");
}

#[test]
fn finish_reasons() {
    use mapping::finish_reason;
    assert_eq!(finish_reason(Some("end_turn"), false), "stop");
    assert_eq!(finish_reason(Some("stop_sequence"), false), "stop");
    assert_eq!(finish_reason(Some("pause_turn"), false), "stop");
    assert_eq!(finish_reason(Some("max_tokens"), true), "length");
    assert_eq!(
        finish_reason(Some("model_context_window_exceeded"), false),
        "length"
    );
    assert_eq!(finish_reason(Some("refusal"), false), "content_filter");
    assert_eq!(finish_reason(Some("tool_use"), true), "tool_calls");
    assert_eq!(finish_reason(Some("tool_use"), false), "stop");
}

#[test]
fn error_bodies_map_to_their_statuses() {
    use axum::http::StatusCode;
    assert_eq!(mapping::error_status("overloaded_error").as_u16(), 529);
    assert_eq!(
        mapping::error_status("rate_limit_error"),
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(
        mapping::error_status("invalid_request_error"),
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        mapping::error_status("api_error"),
        StatusCode::INTERNAL_SERVER_ERROR
    );
    let error = codec()
        .decode(
            br#"{"type":"error","error":{"type":"rate_limit_error","message":"slow down"}}"#,
            "x",
            &Shape::default(),
        )
        .err();
    assert!(
        matches!(error, Some(Error::Upstream(ref status)) if status.status.as_u16() == 429),
        "{error:?}"
    );
    assert!(matches!(
        codec().decode(b"<html>", "x", &Shape::default()),
        Err(Error::UpstreamFailed { .. })
    ));
}

/// Every event of `fixture` through a fresh decoder: the chunks, and how it ended.
async fn run(
    fixture: &str,
    include_usage: bool,
    answer_tool: Option<&str>,
) -> (Vec<Value>, Result<Flow, Error>) {
    let shape = Shape {
        answer_tool: answer_tool.map(str::to_owned),
    };
    let mut state = codec().stream_state("claude/x", include_usage, &shape);
    let (out, flow) = testkit::run(&mut state, fixture);
    let chunks = out
        .iter()
        .map(|c| serde_json::from_str(&c.json).unwrap_or_else(|e| unreachable!("{e}: {}", c.json)))
        .collect();
    (chunks, flow)
}

fn deltas(chunks: &[Value]) -> Vec<&Value> {
    chunks
        .iter()
        .filter_map(|c| c["choices"].get(0).map(|choice| &choice["delta"]))
        .collect()
}

#[tokio::test]
async fn text_stream_is_openai_chunks_with_one_id() {
    let (chunks, flow) = run(TEXT_STREAM, true, None).await;
    assert_eq!(flow.ok(), Some(Flow::Done));
    let id = chunks[0]["id"].clone();
    assert!(id.as_str().is_some_and(|id| id.starts_with("chatcmpl-")));
    for chunk in &chunks {
        assert_eq!(chunk["id"], id);
        assert_eq!(chunk["object"], "chat.completion.chunk");
        assert_eq!(chunk["model"], "claude/x");
    }
    assert_eq!(
        chunks[0]["choices"][0]["delta"],
        json!({"role": "assistant", "content": ""})
    );
    assert_eq!(
        chunks[1]["choices"][0]["delta"],
        json!({"content": "Bonjour"})
    );
    assert_eq!(
        chunks.len(),
        6,
        "role, three texts, finish, usage; ping and block events add nothing"
    );
    assert_eq!(chunks[4]["choices"][0]["finish_reason"], "stop");
    assert_eq!(chunks[5]["choices"], json!([]));
    assert_eq!(chunks[5]["usage"]["prompt_tokens"], 1233);
    assert_eq!(chunks[5]["usage"]["completion_tokens"], 23);

    let (chunks, _) = run(TEXT_STREAM, false, None).await;
    assert!(
        chunks.iter().all(|c| c.get("usage").is_none()),
        "usage only when asked"
    );
}

#[tokio::test]
async fn tool_calls_stream_as_openai_emits_them() {
    let (chunks, flow) = run(TOOL_STREAM, false, None).await;
    assert_eq!(flow.ok(), Some(Flow::Done));
    let calls: Vec<&Value> = deltas(&chunks)
        .into_iter()
        .filter_map(|d| d.get("tool_calls"))
        .collect();
    assert_eq!(
        calls[0],
        &json!([{"index": 0, "id": "toolu_01A09q90qw90lq917835lq9", "type": "function", "function": {"name": "get_weather", "arguments": ""}}])
    );
    assert_eq!(
        calls[1],
        &json!([{"index": 0, "function": {"arguments": "{\"city\": \"Par"}}])
    );
    assert_eq!(
        calls[3][0]["index"], 1,
        "the second call is OpenAI tool 1, Anthropic block 2"
    );
    assert_eq!(calls[3][0]["id"], "toolu_01BmN8pYdxkW3Qv7c1kXyZtR");
    assert_eq!(calls.len(), 6, "empty argument fragments are skipped");
    let last = chunks
        .last()
        .map(|c| c["choices"][0]["finish_reason"].clone());
    assert_eq!(
        last,
        Some(json!("tool_calls")),
        "tool_calls even after text"
    );
}

#[tokio::test]
async fn thinking_streams_as_reasoning_then_one_signed_detail() {
    let (chunks, _) = run(THINKING_STREAM, false, None).await;
    let thinking = deltas(&chunks);
    assert_eq!(
        thinking[1],
        &json!({"reasoning_content": "The user wants the weather in Paris."})
    );
    let details: Vec<&Value> = thinking
        .iter()
        .filter_map(|d| d.get("reasoning_details"))
        .collect();
    assert_eq!(details.len(), 1);
    assert_eq!(
        details[0][0]["text"],
        "The user wants the weather in Paris. I should call get_weather with city \"Paris\"."
    );
    assert!(
        details[0][0]["signature"]
            .as_str()
            .is_some_and(|s| s.ends_with("ifQ=="))
    );

    let (chunks, _) = run(REDACTED_STREAM, false, None).await;
    let details: Vec<Value> = deltas(&chunks)
        .iter()
        .filter_map(|d| d.get("reasoning_details"))
        .map(|d| d[0].clone())
        .collect();
    assert_eq!(details[0]["type"], "reasoning.encrypted");
    assert_eq!(details[0]["index"], 0);
    assert_eq!(details[1]["type"], "reasoning.text");
    assert_eq!(details[1]["index"], 1);
}

#[tokio::test]
async fn json_answers_stream_as_content() {
    let (chunks, _) = run(JSON_STREAM, false, Some("weather_report")).await;
    let text: String = deltas(&chunks)
        .iter()
        .filter_map(|d| d["content"].as_str())
        .collect();
    assert_eq!(text, r#"{"city": "Paris", "temperature_c": 18}"#);
    assert!(
        deltas(&chunks)
            .iter()
            .all(|d| d.get("tool_calls").is_none())
    );
    assert_eq!(
        chunks
            .last()
            .map(|c| c["choices"][0]["finish_reason"].clone()),
        Some(json!("stop"))
    );
}

#[tokio::test]
async fn an_error_event_fails_the_stream_with_its_status() {
    let (chunks, flow) = run(MIDSTREAM_ERROR, false, None).await;
    assert_eq!(chunks.len(), 2);
    match flow {
        Err(Error::UpstreamFailed { detail, .. }) => assert!(
            detail.contains("529") && detail.contains("Overloaded"),
            "{detail}"
        ),
        other => unreachable!("{other:?}"),
    }
    let rate_limited = MIDSTREAM_ERROR.replace("overloaded_error", "rate_limit_error");
    match run(&rate_limited, false, None).await.1 {
        Err(Error::Upstream(status)) => assert_eq!(status.status.as_u16(), 429),
        other => unreachable!("{other:?}"),
    }
}

#[tokio::test]
async fn a_stream_cut_before_message_stop_is_truncated() {
    let cut = TEXT_STREAM
        .split("event: message_stop")
        .next()
        .unwrap_or_default();
    let (chunks, flow) = run(cut, true, None).await;
    assert!(
        matches!(flow, Err(Error::UpstreamFailed { ref detail, .. }) if detail.contains("message_stop")),
        "{flow:?}"
    );
    assert!(chunks.iter().all(|c| c.get("usage").is_none()));
    let (_, flow) = run("event: message_start\ndata: not json\n\n", false, None).await;
    assert!(matches!(flow, Err(Error::UpstreamFailed { .. })));
}

#[tokio::test]
async fn stream_and_whole_give_the_same_answer() {
    let pairs = [
        (TEXT_STREAM, TEXT, None),
        (TOOL_STREAM, TOOL, None),
        (THINKING_STREAM, THINKING, None),
        (REDACTED_STREAM, REDACTED, None),
        (JSON_STREAM, JSON_ANSWER, Some("weather_report")),
        (NO_ARGS_STREAM, NO_ARGS, None),
    ];
    for (stream, whole, answer_tool) in pairs {
        let (chunks, flow) = run(stream, true, answer_tool).await;
        assert_eq!(flow.ok(), Some(Flow::Done));
        let streamed = Assembled::of_stream(&chunks).normalized();
        let decoded = Assembled::of_whole(&decode(whole, answer_tool)).normalized();
        assert_eq!(streamed, decoded);
    }
}

#[tokio::test]
async fn a_call_without_arguments_streams_empty_json_as_the_whole_answer_has() {
    let (chunks, flow) = run(NO_ARGS_STREAM, false, None).await;
    assert_eq!(flow.ok(), Some(Flow::Done));
    let arguments: String = deltas(&chunks)
        .iter()
        .filter_map(|d| d["tool_calls"][0]["function"]["arguments"].as_str())
        .collect();
    assert_eq!(arguments, "{}");
    let whole = decode(NO_ARGS, None);
    assert_eq!(
        whole["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"],
        "{}"
    );
}

#[test]
fn empty_text_and_thinking_blocks_add_nothing() {
    let body = r#"{"id":"msg_1","type":"message","role":"assistant","model":"m","content":[{"type":"thinking","thinking":"","signature":"sig"},{"type":"text","text":""},{"type":"tool_use","id":"t1","name":"f","input":{"a":1}}],"stop_reason":"tool_use","usage":{"input_tokens":1,"output_tokens":1}}"#;
    let message = &decode(body, None)["choices"][0]["message"];
    assert!(message["content"].is_null(), "{message}");
    assert!(message.get("reasoning_content").is_none(), "{message}");
    assert_eq!(message["reasoning_details"][0]["signature"], "sig");
}
