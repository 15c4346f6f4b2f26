use std::time::Duration;

use futures_util::StreamExt;
use serde_json::{Value, json};

use super::*;
use crate::completion::Chunk;
use crate::config::{ProviderKind, Secret, Timeouts};
use crate::providers::Flow;
use crate::stream::upstream::events_from_pieces;

macro_rules! fixture {
    ($name:literal) => {
        include_str!(concat!("../../../tests/fixtures/anthropic/", $name))
    };
}

const TEXT_STREAM: &str = fixture!("text_stream.sse");
const TEXT: &str = fixture!("text.json");
const TOOL_STREAM: &str = fixture!("tool_use_stream.sse");
const TOOL: &str = fixture!("tool_use.json");
const THINKING_STREAM: &str = fixture!("thinking_stream.sse");
const THINKING: &str = fixture!("thinking.json");
const REDACTED_STREAM: &str = fixture!("redacted_thinking_stream.sse");
const REDACTED: &str = fixture!("redacted_thinking.json");
const JSON_STREAM: &str = fixture!("json_schema_stream.sse");
const JSON_ANSWER: &str = fixture!("json_schema.json");
const MIDSTREAM_ERROR: &str = fixture!("midstream_error.sse");
const RICH_REQUEST: &str = fixture!("rich_request.openai.json");
const RICH_EXPECTED: &str = fixture!("rich_request.anthropic.json");

fn config(policy: UnsupportedParams) -> ProviderConfig {
    ProviderConfig {
        name: "claude".into(),
        kind: ProviderKind::Anthropic,
        base_url: "https://api.anthropic.com".into(),
        api_key: Some(Secret::new("sk-ant-secret-key")),
        headers: vec![(
            HeaderName::from_static("anthropic-beta"),
            HeaderValue::from_static("interleaved-thinking-2025-05-14"),
        )],
        models: Vec::new(),
        timeouts: Timeouts {
            first_byte: Duration::from_secs(1),
            idle: Duration::from_secs(1),
        },
        unsupported_params: policy,
        api_version: None,
        default_max_tokens: 4096,
    }
}

fn codec_with(policy: UnsupportedParams) -> Anthropic {
    let config = config(policy);
    let upstream = Arc::new(Upstream {
        provider: config.name.clone(),
        secrets: vec![Secret::new("sk-ant-secret-key")],
        timeouts: config.timeouts,
    });
    Anthropic::new(&config, upstream).unwrap_or_else(|e| unreachable!("{e}"))
}

fn codec() -> Anthropic {
    codec_with(UnsupportedParams::Error)
}

fn chat(json: &str) -> ChatRequest {
    ChatRequest::parse(Bytes::copy_from_slice(json.as_bytes()))
        .unwrap_or_else(|e| unreachable!("{e}"))
}

/// The Messages request body the codec makes for `request`.
fn encode(codec: &Anthropic, request: &Value) -> Result<(Value, Encoded, Shape), Error> {
    let (encoded, shape) = codec.encode(&chat(&request.to_string()), "claude-x")?;
    let body =
        serde_json::from_slice(&encoded.request.body).unwrap_or_else(|e| unreachable!("{e}"));
    Ok((body, encoded, shape))
}

fn body_of(request: Value) -> Value {
    encode(&codec(), &request)
        .map(|(body, ..)| body)
        .unwrap_or_else(|e| unreachable!("{e}"))
}

/// The 400 `request` gets: (param, message).
fn refusal(codec: &Anthropic, request: Value) -> (Option<String>, String) {
    match encode(codec, &request) {
        Err(Error::InvalidRequest { param, message, .. }) => (param, message),
        Err(other) => unreachable!("expected a 400, got {other:?}"),
        Ok((body, ..)) => unreachable!("expected a 400, got {body}"),
    }
}

fn with(extra: Value) -> Value {
    let mut request = json!({"model": "claude/x", "messages": [{"role": "user", "content": "hi"}]});
    if let (Some(request), Some(extra)) = (request.as_object_mut(), extra.as_object()) {
        request.extend(extra.clone());
    }
    request
}

#[test]
fn a_rich_request_becomes_the_expected_messages_request() {
    let (encoded, shape) = codec()
        .encode(&chat(RICH_REQUEST), "claude-sonnet-4-5")
        .unwrap_or_else(|e| unreachable!("{e}"));
    let body: Value = serde_json::from_slice(&encoded.request.body).unwrap_or_default();
    let expected: Value = serde_json::from_str(RICH_EXPECTED).unwrap_or_default();
    assert_eq!(body, expected);
    assert!(encoded.dropped.is_empty());
    assert!(shape.answer_tool.is_none());
    let raw = String::from_utf8_lossy(&encoded.request.body);
    assert!(
        raw.contains(r#""input":{"unit":"c","city":"Tokyo"}"#),
        "tool arguments keep their bytes and key order: {raw}"
    );
    assert!(
        raw.contains(r#""properties":{"unit":"#),
        "schemas keep their key order: {raw}"
    );
}

#[test]
fn url_and_headers() {
    let (_, encoded, _) =
        encode(&codec(), &with(json!({}))).unwrap_or_else(|e| unreachable!("{e}"));
    let request = encoded.request;
    assert_eq!(request.url, "https://api.anthropic.com/v1/messages");
    assert_eq!(request.headers["x-api-key"], "sk-ant-secret-key");
    assert!(request.headers["x-api-key"].is_sensitive());
    assert_eq!(request.headers["anthropic-version"], "2023-06-01");
    assert_eq!(
        request.headers["anthropic-beta"],
        "interleaved-thinking-2025-05-14"
    );
    assert!(request.headers.get("authorization").is_none());
}

#[test]
fn max_tokens_default_and_thinking_budget() {
    let body = body_of(with(json!({})));
    assert_eq!(body["max_tokens"], 4096);
    assert!(body.get("thinking").is_none() && body.get("stream").is_none());

    let body = body_of(with(json!({"reasoning_effort": "low"})));
    assert_eq!(
        body["thinking"],
        json!({"type": "enabled", "budget_tokens": 2048})
    );
    assert_eq!(
        body["max_tokens"],
        4096 + 2048,
        "the answer keeps the default room"
    );

    let body = body_of(with(
        json!({"reasoning_effort": "high", "max_tokens": 5000}),
    ));
    assert_eq!(body["thinking"]["budget_tokens"], 4999);
    assert_eq!(body["max_tokens"], 5000);

    let body = body_of(with(json!({"reasoning_effort": "none"})));
    assert!(body.get("thinking").is_none());

    let (param, _) = refusal(
        &codec(),
        with(json!({"reasoning_effort": "low", "max_completion_tokens": 1000})),
    );
    assert_eq!(param.as_deref(), Some("max_completion_tokens"));
    let (param, _) = refusal(&codec(), with(json!({"reasoning_effort": "extreme"})));
    assert_eq!(param.as_deref(), Some("reasoning_effort"));
}

#[test]
fn tool_choices() {
    let tools = json!([{"type": "function", "function": {"name": "f"}}]);
    let choice = |extra: Value| {
        let mut request = with(json!({"tools": tools}));
        if let (Some(request), Some(extra)) = (request.as_object_mut(), extra.as_object()) {
            request.extend(extra.clone());
        }
        body_of(request).get("tool_choice").cloned()
    };
    assert_eq!(choice(json!({})), None);
    assert_eq!(
        choice(json!({"tool_choice": "auto"})),
        Some(json!({"type": "auto"}))
    );
    assert_eq!(
        choice(json!({"tool_choice": "none"})),
        Some(json!({"type": "none"}))
    );
    assert_eq!(
        choice(json!({"tool_choice": "required"})),
        Some(json!({"type": "any"}))
    );
    assert_eq!(
        choice(json!({"tool_choice": {"type": "function", "function": {"name": "f"}}})),
        Some(json!({"type": "tool", "name": "f"}))
    );
    assert_eq!(
        choice(json!({"parallel_tool_calls": false})),
        Some(json!({"type": "auto", "disable_parallel_tool_use": true}))
    );
    assert_eq!(
        choice(json!({"parallel_tool_calls": false, "tool_choice": "none"})),
        Some(json!({"type": "none"}))
    );
}

#[test]
fn a_tool_history_without_tools_declares_them_unoffered() {
    let messages = json!([
        {"role": "user", "content": "x"},
        {"role": "assistant", "tool_calls": [
            {"id": "t1", "type": "function", "function": {"name": "f", "arguments": "{}"}},
            {"id": "t2", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "t1", "content": "1"},
        {"role": "tool", "tool_call_id": "t2", "content": "2"}
    ]);
    let body = body_of(with(json!({"messages": messages})));
    assert_eq!(body["tools"].as_array().map(Vec::len), Some(1));
    assert_eq!(body["tools"][0]["name"], "f");
    assert_eq!(body["tool_choice"], json!({"type": "none"}));

    let tools = json!([{"type": "function", "function": {"name": "g"}}]);
    let body = body_of(with(json!({"messages": messages, "tools": tools})));
    assert_eq!(
        body["tools"],
        json!([{"name": "g", "input_schema": {"type": "object", "properties": {}}}])
    );
    assert!(body.get("tool_choice").is_none());

    let body = body_of(with(
        json!({"messages": messages, "response_format": {"type": "json_object"}}),
    ));
    assert_eq!(body["tools"].as_array().map(Vec::len), Some(2));
    assert_eq!(
        body["tool_choice"],
        json!({"type": "tool", "name": "json_response"})
    );
}

#[test]
fn response_formats_become_a_forced_answer_tool() {
    let schema = json!({"type": "object", "properties": {"reasoning": {"type": "string"}, "answer": {"type": "string"}}});
    let format = json!({"type": "json_schema", "json_schema": {"name": "verdict", "schema": schema, "strict": true}});
    let (body, _, shape) = encode(&codec(), &with(json!({"response_format": format})))
        .unwrap_or_else(|e| unreachable!("{e}"));
    assert_eq!(shape.answer_tool.as_deref(), Some("verdict"));
    assert_eq!(body["tools"][0]["name"], "verdict");
    assert_eq!(body["tools"][0]["input_schema"], schema);
    assert_eq!(body["tools"][0]["strict"], true);
    assert_eq!(
        body["tool_choice"],
        json!({"type": "tool", "name": "verdict"})
    );

    let (body, _, shape) = encode(
        &codec(),
        &with(json!({"response_format": {"type": "json_object"}})),
    )
    .unwrap_or_else(|e| unreachable!("{e}"));
    assert_eq!(shape.answer_tool.as_deref(), Some("json_response"));
    assert_eq!(body["tools"][0]["input_schema"], json!({"type": "object"}));

    let tools = json!([{"type": "function", "function": {"name": "f"}}]);
    let body = body_of(with(json!({"response_format": format, "tools": tools})));
    assert_eq!(body["tools"].as_array().map(Vec::len), Some(2));
    assert_eq!(
        body["tool_choice"],
        json!({"type": "any"}),
        "a real tool or the answer tool"
    );

    let body = body_of(with(json!({"response_format": {"type": "text"}})));
    assert!(body.get("tools").is_none());

    let clash = json!([{"type": "function", "function": {"name": "verdict"}}]);
    let (param, _) = refusal(
        &codec(),
        with(json!({"response_format": format, "tools": clash})),
    );
    assert_eq!(param.as_deref(), Some("response_format.json_schema.name"));
    let (param, _) = refusal(
        &codec(),
        with(json!({"response_format": format, "reasoning_effort": "low"})),
    );
    assert_eq!(param.as_deref(), Some("response_format"));
}

#[test]
fn what_anthropic_cannot_take_is_a_400_naming_it() {
    let user = |content: Value| with(json!({"messages": [{"role": "user", "content": content}]}));
    let audio = user(
        json!([{"type": "text", "text": "x"}, {"type": "input_audio", "input_audio": {"data": "UklG", "format": "wav"}}]),
    );
    let (param, message) = refusal(&codec(), audio);
    assert_eq!(param.as_deref(), Some("messages[0].content[1]"));
    assert!(
        message.contains("'claude' (anthropic) cannot take audio"),
        "{message}"
    );

    let file_id = user(json!([{"type": "file", "file": {"file_id": "file-abc"}}]));
    let (param, message) = refusal(&codec(), file_id);
    assert_eq!(
        param.as_deref(),
        Some("messages[0].content[0].file.file_id")
    );
    assert!(message.contains("file_data"), "{message}");

    let text_file =
        user(json!([{"type": "file", "file": {"file_data": "data:text/csv;base64,YQ=="}}]));
    assert_eq!(
        refusal(&codec(), text_file).0.as_deref(),
        Some("messages[0].content[0]")
    );

    let bmp =
        user(json!([{"type": "image_url", "image_url": {"url": "data:image/bmp;base64,Qk0="}}]));
    let (param, message) = refusal(&codec(), bmp);
    assert_eq!(param.as_deref(), Some("messages[0].content[0]"));
    assert!(message.contains("image/webp"), "{message}");

    let ftp = user(json!([{"type": "image_url", "image_url": "ftp://x/a.png"}]));
    assert_eq!(
        refusal(&codec(), ftp).0.as_deref(),
        Some("messages[0].content[0]")
    );

    let bad_arguments = with(json!({"messages": [
        {"role": "user", "content": "x"},
        {"role": "assistant", "tool_calls": [{"id": "t1", "type": "function", "function": {"name": "f", "arguments": "{\"a\":"}}]}
    ]}));
    assert_eq!(
        refusal(&codec(), bad_arguments).0.as_deref(),
        Some("messages[1].tool_calls[0].function.arguments")
    );
    let array_arguments = with(json!({"messages": [
        {"role": "user", "content": "x"},
        {"role": "assistant", "tool_calls": [{"id": "t1", "type": "function", "function": {"name": "f", "arguments": "[1]"}}]}
    ]}));
    assert_eq!(
        refusal(&codec(), array_arguments).0.as_deref(),
        Some("messages[1].tool_calls[0].function.arguments")
    );
    let no_id = with(json!({"messages": [{"role": "tool", "content": "x"}]}));
    assert_eq!(
        refusal(&codec(), no_id).0.as_deref(),
        Some("messages[0].tool_call_id")
    );
    let only_system = with(json!({"messages": [{"role": "system", "content": "x"}]}));
    assert_eq!(
        refusal(&codec(), only_system).0.as_deref(),
        Some("messages")
    );
    let custom_tool = with(json!({"tools": [{"type": "custom", "function": {"name": "f"}}]}));
    assert_eq!(
        refusal(&codec(), custom_tool).0.as_deref(),
        Some("tools[0].type")
    );
}

#[test]
fn unsupported_params_are_refused_or_dropped_and_reported() {
    let request = with(
        json!({"seed": 7, "logit_bias": {"1": 2}, "thread_id": "t", "n": 1, "stop": ["END", "\n"]}),
    );
    let (param, message) = refusal(&codec(), request.clone());
    assert_eq!(param.as_deref(), Some("seed"));
    assert!(message.contains("nor logit_bias, thread_id"), "{message}");

    let (body, encoded, _) = encode(&codec_with(UnsupportedParams::Drop), &request)
        .unwrap_or_else(|e| unreachable!("{e}"));
    assert_eq!(
        encoded.dropped,
        ["seed", "logit_bias", "thread_id", "stop[1]"]
    );
    assert_eq!(body["stop_sequences"], json!(["END"]));
    assert!(body.get("seed").is_none() && body.get("thread_id").is_none());

    let (param, _) = refusal(&codec(), with(json!({"stop": "\n"})));
    assert_eq!(param.as_deref(), Some("stop"));
}

#[test]
fn temperature_is_clamped_and_user_becomes_metadata() {
    let body = body_of(with(
        json!({"temperature": 0.3, "top_p": 0.5, "user": "u-1", "stop": "END"}),
    ));
    assert_eq!(body["temperature"], 0.3);
    assert_eq!(body["top_p"], 0.5);
    assert_eq!(body["metadata"], json!({"user_id": "u-1"}));
    assert_eq!(body["stop_sequences"], json!(["END"]));
    assert_eq!(
        body_of(with(json!({"temperature": 2}))).get("temperature"),
        Some(&json!(1.0))
    );
}

fn decode(body: &str, answer_tool: Option<&str>) -> Value {
    let shape = Shape {
        answer_tool: answer_tool.map(str::to_owned),
    };
    let bytes = codec()
        .decode(body.as_bytes(), "claude/x", &shape)
        .unwrap_or_else(|e| unreachable!("{e}"));
    serde_json::from_slice(&bytes).unwrap_or_default()
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
    use convert::finish_reason;
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
    assert_eq!(convert::error_status("overloaded_error").as_u16(), 529);
    assert_eq!(
        convert::error_status("rate_limit_error"),
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(
        convert::error_status("invalid_request_error"),
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        convert::error_status("api_error"),
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
    let mut events = std::pin::pin!(events_from_pieces(vec![Bytes::copy_from_slice(
        fixture.as_bytes()
    )]));
    let mut out: Vec<Chunk> = Vec::new();
    let mut flow = Ok(Flow::Continue);
    while let Some(event) = events.next().await {
        let event = event.unwrap_or_else(|e| unreachable!("{e}"));
        flow = state.map(&event, &mut out);
        if !matches!(flow, Ok(Flow::Continue)) {
            break;
        }
    }
    if matches!(flow, Ok(Flow::Continue)) {
        flow = state.end().map(|()| Flow::Continue);
    }
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

/// The answer a client assembles from chunks, or reads from a whole message: text, calls (with
/// arguments parsed), reasoning, finish reason and usage.
fn assembled_stream(chunks: &[Value]) -> Value {
    let mut content = String::new();
    let mut reasoning = String::new();
    let mut details = Vec::new();
    let mut calls: Vec<Value> = Vec::new();
    let mut arguments: Vec<String> = Vec::new();
    let mut finish = Value::Null;
    let mut usage = Value::Null;
    for chunk in chunks {
        if let Some(u) = chunk.get("usage") {
            usage = u.clone();
        }
        let Some(choice) = chunk["choices"].get(0) else {
            continue;
        };
        if !choice["finish_reason"].is_null() {
            finish = choice["finish_reason"].clone();
        }
        let delta = &choice["delta"];
        content.push_str(delta["content"].as_str().unwrap_or_default());
        reasoning.push_str(delta["reasoning_content"].as_str().unwrap_or_default());
        details.extend(
            delta["reasoning_details"]
                .as_array()
                .cloned()
                .unwrap_or_default(),
        );
        for call in delta["tool_calls"].as_array().cloned().unwrap_or_default() {
            let index = call["index"].as_u64().unwrap_or_default() as usize;
            if index == calls.len() {
                calls.push(json!({"id": call["id"], "name": call["function"]["name"]}));
                arguments.push(String::new());
            }
            arguments[index].push_str(call["function"]["arguments"].as_str().unwrap_or_default());
        }
    }
    for (call, arguments) in calls.iter_mut().zip(arguments) {
        call["arguments"] = serde_json::from_str(&arguments).unwrap_or_default();
    }
    json!({"content": content, "reasoning": reasoning, "details": details, "calls": calls, "finish": finish, "usage": usage})
}

fn assembled_whole(answer: &Value) -> Value {
    let message = &answer["choices"][0]["message"];
    let calls: Vec<Value> = message["tool_calls"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|c| {
            let arguments: Value =
                serde_json::from_str(c["function"]["arguments"].as_str().unwrap_or_default())
                    .unwrap_or_default();
            json!({"id": c["id"], "name": c["function"]["name"], "arguments": arguments})
        })
        .collect();
    let content = message["content"].as_str().unwrap_or_default();
    // A JSON answer streams as the upstream spaced it; compare its value.
    let content = serde_json::from_str::<Value>(content)
        .map_or_else(|_| content.to_owned(), |v| v.to_string());
    json!({"content": content, "reasoning": message["reasoning_content"].as_str().unwrap_or_default(),
           "details": message["reasoning_details"].as_array().cloned().unwrap_or_default(),
           "calls": calls, "finish": answer["choices"][0]["finish_reason"], "usage": answer["usage"]})
}

#[tokio::test]
async fn stream_and_whole_give_the_same_answer() {
    let pairs = [
        (TEXT_STREAM, TEXT, None),
        (TOOL_STREAM, TOOL, None),
        (THINKING_STREAM, THINKING, None),
        (REDACTED_STREAM, REDACTED, None),
        (JSON_STREAM, JSON_ANSWER, Some("weather_report")),
    ];
    for (stream, whole, answer_tool) in pairs {
        let (chunks, flow) = run(stream, true, answer_tool).await;
        assert_eq!(flow.ok(), Some(Flow::Done));
        let mut streamed = assembled_stream(&chunks);
        if answer_tool.is_some() {
            let text: Value =
                serde_json::from_str(streamed["content"].as_str().unwrap_or_default())
                    .unwrap_or_default();
            streamed["content"] = Value::String(text.to_string());
        }
        assert_eq!(streamed, assembled_whole(&decode(whole, answer_tool)));
    }
}
