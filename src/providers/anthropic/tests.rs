//! The codec on fixtures of Anthropic's wire bytes: requests here, answers and streams in
//! `answers`.

mod answers;

use std::time::Duration;

use serde_json::{Value, json};

use super::*;
use crate::config::{ProviderKind, Secret, UpstreamBounds};

const RICH_REQUEST: &str =
    include_str!("../../../tests/fixtures/anthropic/rich_request.openai.json");
const RICH_EXPECTED: &str =
    include_str!("../../../tests/fixtures/anthropic/rich_request.anthropic.json");

fn config(policy: UnsupportedParams) -> ProviderConfig {
    ProviderConfig {
        name: "claude".into(),
        kind: ProviderKind::Anthropic {
            default_max_tokens: 4096,
        },
        base_url: "https://api.anthropic.com".into(),
        api_keys: vec![Secret::new("sk-ant-secret-key")],
        headers: vec![(
            HeaderName::from_static("anthropic-beta"),
            HeaderValue::from_static("interleaved-thinking-2025-05-14"),
        )],
        models: Vec::new(),
        bounds: UpstreamBounds {
            first_byte: Duration::from_secs(1),
            idle: Duration::from_secs(1),
            max_event: 1 << 20,
        },
        unsupported_params: policy,
        responses_native: false,
        send_reasoning_back: false,
        retries: None,
    }
}

fn codec_with(policy: UnsupportedParams) -> Anthropic {
    let config = config(policy);
    let upstream = Arc::new(Upstream {
        provider: config.name.clone(),
        secrets: vec![Secret::new("sk-ant-secret-key")],
        bounds: config.bounds,
        status_hook: None,
    });
    Anthropic::new(&config, 4096, upstream).unwrap_or_else(|e| unreachable!("{e}"))
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
    let mut request = encoded.request;
    assert!(
        request.headers.get("x-api-key").is_none(),
        "the codec does not authenticate"
    );
    let auth = crate::providers::authentication(&config(UnsupportedParams::Error))
        .unwrap_or_else(|e| unreachable!("{e}"));
    auth.apply(&mut request, 0);
    assert_eq!(
        request.url.to_string(),
        "https://api.anthropic.com/v1/messages"
    );
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
        json!({"type": "tool", "name": "json_response", "disable_parallel_tool_use": true})
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
        json!({"type": "tool", "name": "verdict", "disable_parallel_tool_use": true})
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

#[test]
fn the_forced_answer_tool_is_one_call() {
    let body = body_of(with(
        json!({"response_format": {"type": "json_schema", "json_schema": {"name": "report", "schema": {"type": "object"}}}}),
    ));
    assert_eq!(body["tool_choice"]["type"], "tool");
    assert_eq!(body["tool_choice"]["disable_parallel_tool_use"], true);
}

#[test]
fn thinking_with_a_forced_tool_choice_is_refused_naming_it() {
    let tools =
        json!([{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]);
    for choice in [
        json!("required"),
        json!({"type": "function", "function": {"name": "f"}}),
    ] {
        let (param, message) = refusal(
            &codec(),
            with(json!({"tools": tools, "tool_choice": choice, "reasoning_effort": "low"})),
        );
        assert_eq!(param.as_deref(), Some("tool_choice"));
        assert!(message.contains("'claude' (anthropic)"), "{message}");
    }
    let auto = body_of(with(
        json!({"tools": tools, "tool_choice": "auto", "reasoning_effort": "low"}),
    ));
    assert_eq!(auto["thinking"]["type"], "enabled");
}

#[test]
fn plain_text_files_become_text_documents() {
    // "Hello, doc." in base64.
    let part = json!({"type": "file", "file": {"file_data": "data:text/plain;base64,SGVsbG8sIGRvYy4=", "filename": "notes.txt"}});
    let body = body_of(with(
        json!({"messages": [{"role": "user", "content": [part]}]}),
    ));
    assert_eq!(
        body["messages"][0]["content"][0],
        json!({"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "Hello, doc."}, "title": "notes.txt"})
    );
    let csv = json!({"type": "file", "file": {"file_data": "data:text/csv;base64,YSxi"}});
    let (param, message) = refusal(
        &codec(),
        with(json!({"messages": [{"role": "user", "content": [csv]}]})),
    );
    assert_eq!(param.as_deref(), Some("messages[0].content[0]"));
    assert!(message.contains("text/csv"), "{message}");
}
