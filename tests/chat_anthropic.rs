//! The anthropic kind through the gateway, against a fake Messages API: OpenAI requests in,
//! Anthropic requests out, Anthropic answers and streams back as OpenAI ones.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::fixtures::anthropic::*;
use common::*;
use serde_json::{Value, json};

const MODEL: &str = "claude/claude-sonnet-4-5";

fn weather_tool() -> Value {
    json!([{"type": "function", "function": {"name": "get_weather", "description": "Current weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}, "unit": {"type": "string"}}, "required": ["city"]}}}])
}

/// A gateway with provider `claude` (kind anthropic) in front of a fake Messages API; `extra`
/// lands in the provider's table.
async fn claude(extra: &str) -> (FakeUpstream, Gateway) {
    gateway_for(&ANTHROPIC, extra).await
}

#[tokio::test]
async fn a_whole_answer_is_a_chat_completion() {
    let (upstream, gateway) = claude("").await;
    upstream.push(Reply::json(TEXT));
    let body = gateway
        .whole(&chat(
            MODEL,
            json!([{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Weather?"}]),
        ))
        .await;
    assert_eq!(body["object"], "chat.completion");
    assert_eq!(body["model"], MODEL);
    assert_eq!(
        body["choices"][0]["message"]["content"],
        "Bonjour ! Il fait 18 °C à Paris, \"nuageux\".\nBonne journée ☃"
    );
    assert_eq!(body["choices"][0]["finish_reason"], "stop");
    assert_eq!(body["usage"]["prompt_tokens"], 1233);
    assert_eq!(
        body["usage"]["prompt_tokens_details"]["cached_tokens"],
        1024
    );

    let received = upstream.last_request();
    assert_eq!(received.path, "/v1/messages");
    assert_eq!(received.headers["x-api-key"], ANTHROPIC.api_key);
    assert_eq!(received.headers["anthropic-version"], "2023-06-01");
    assert!(received.headers.get("authorization").is_none());
    assert_eq!(
        received.json(),
        json!({"model": "claude-sonnet-4-5", "max_tokens": 4096,
               "system": [{"type": "text", "text": "Be brief."}],
               "messages": [{"role": "user", "content": [{"type": "text", "text": "Weather?"}]}]})
    );
}

#[tokio::test]
async fn a_stream_is_openai_chunks_with_usage_last_and_one_done() {
    let (upstream, gateway) = claude("default_max_tokens = 512\n").await;
    upstream.push(Reply::sse(TEXT_STREAM));
    let response = gateway.send(&with_usage(user(MODEL, "Weather?"))).await;
    let body = read_finished_stream(response, MODEL).await;
    assert_eq!(
        body.text(),
        "Bonjour ! Il fait 18 °C à Paris, \"nuageux\".\nBonne journée ☃"
    );
    assert_eq!(body.chunks().last().unwrap()["usage"]["total_tokens"], 1256);
    let sent = upstream.last_request().json();
    assert_eq!(sent["stream"], true);
    assert_eq!(sent["max_tokens"], 512, "the provider's configured default");
}

#[tokio::test]
async fn tools_over_two_turns_keep_the_call_ids() {
    let (upstream, gateway) = claude("").await;
    upstream.push(Reply::json(TOOL));
    upstream.push(Reply::json(TEXT));
    let mut messages = vec![json!({"role": "user", "content": "Weather in Paris and Tokyo?"})];
    let mut request = chat(MODEL, json!(messages));
    request["tools"] = weather_tool();
    request["tool_choice"] = json!("auto");
    let first = gateway.whole(&request).await;
    assert_eq!(first["choices"][0]["finish_reason"], "tool_calls");
    let assistant = first["choices"][0]["message"].clone();
    let calls = assistant["tool_calls"].as_array().unwrap().clone();
    assert_eq!(calls.len(), 2);
    messages.push(assistant);
    for (call, result) in calls.iter().zip(["18C", "24C"]) {
        messages.push(json!({"role": "tool", "tool_call_id": call["id"], "content": result}));
    }
    let mut request = chat(MODEL, json!(messages));
    request["tools"] = weather_tool();
    let second = gateway.whole(&request).await;
    assert_eq!(second["choices"][0]["finish_reason"], "stop");

    // A client may leave the tools out once it has its answer; Anthropic still needs them
    // declared for a history with tool calls.
    upstream.push(Reply::json(TEXT));
    messages.push(second["choices"][0]["message"].clone());
    messages.push(json!({"role": "user", "content": "Thanks!"}));
    gateway.whole(&chat(MODEL, json!(messages))).await;
    let sent = upstream.last_request().json();
    assert_eq!(sent["tools"][0]["name"], "get_weather");
    assert_eq!(sent["tool_choice"], json!({"type": "none"}));

    let requests = upstream.requests();
    assert_eq!(requests[0].json()["tool_choice"], json!({"type": "auto"}));
    assert_eq!(
        requests[0].json()["tools"][0]["input_schema"]["required"],
        json!(["city"])
    );
    let sent = requests[1].json();
    let turns = sent["messages"].as_array().unwrap();
    assert_eq!(turns.len(), 3);
    assert_eq!(turns[1]["role"], "assistant");
    assert_eq!(
        turns[1]["content"][1],
        json!({"type": "tool_use", "id": "toolu_01A09q90qw90lq917835lq9", "name": "get_weather", "input": {"city": "Paris", "unit": "c"}})
    );
    assert_eq!(turns[2]["role"], "user", "both results in one user turn");
    assert_eq!(
        turns[2]["content"],
        json!([
            {"type": "tool_result", "tool_use_id": "toolu_01A09q90qw90lq917835lq9", "content": [{"type": "text", "text": "18C"}]},
            {"type": "tool_result", "tool_use_id": "toolu_01BmN8pYdxkW3Qv7c1kXyZtR", "content": [{"type": "text", "text": "24C"}]}
        ])
    );
}

#[tokio::test]
async fn images_as_data_urls_and_https_urls() {
    let (upstream, gateway) = claude("").await;
    upstream.push(Reply::json(TEXT));
    let content = json!([
        {"type": "text", "text": "What differs?"},
        {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,/9j/4AAQSkZJRg==", "detail": "low"}},
        {"type": "image_url", "image_url": {"url": "https://upload.example.org/sky.png"}}
    ]);
    gateway
        .whole(&chat(MODEL, json!([{"role": "user", "content": content}])))
        .await;
    let sent = upstream.last_request().json();
    assert_eq!(
        sent["messages"][0]["content"],
        json!([
            {"type": "text", "text": "What differs?"},
            {"type": "image", "source": {"type": "base64", "media_type": "image/jpeg", "data": "/9j/4AAQSkZJRg=="}},
            {"type": "image", "source": {"type": "url", "url": "https://upload.example.org/sky.png"}}
        ])
    );

    let audio =
        json!([{"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "wav"}}]);
    let request = chat(MODEL, json!([{"role": "user", "content": audio}]));
    let error = error_of(gateway.send(&request).await, 400).await;
    assert_eq!(error["param"], "messages[0].content[0]");
    assert!(message(&error).contains("cannot take audio"));
    assert_eq!(
        upstream.requests().len(),
        1,
        "a refused request never leaves"
    );
}

#[tokio::test]
async fn json_schema_answers_are_text_whole_and_streamed() {
    let (upstream, gateway) = claude("").await;
    upstream.push(Reply::json(JSON_ANSWER));
    upstream.push(Reply::sse(JSON_STREAM));
    let schema = json!({"type": "object", "properties": {"city": {"type": "string"}, "temperature_c": {"type": "number"}}, "required": ["city", "temperature_c"]});
    let format =
        json!({"type": "json_schema", "json_schema": {"name": "weather_report", "schema": schema}});
    let mut request = user(MODEL, "Paris?");
    request["response_format"] = format;
    let body = gateway.whole(&request).await;
    let content = body["choices"][0]["message"]["content"].as_str().unwrap();
    assert_eq!(
        serde_json::from_str::<Value>(content).unwrap(),
        json!({"city": "Paris", "temperature_c": 18})
    );
    assert_eq!(body["choices"][0]["finish_reason"], "stop");
    assert!(body["choices"][0]["message"].get("tool_calls").is_none());

    let sent = upstream.last_request().json();
    assert_eq!(sent["tools"][0]["name"], "weather_report");
    assert_eq!(sent["tools"][0]["input_schema"], schema);
    assert_eq!(
        sent["tool_choice"],
        json!({"type": "tool", "name": "weather_report", "disable_parallel_tool_use": true})
    );
    let raw = upstream.last_request().text();
    assert!(
        raw.contains(r#""properties":{"city":{"type":"string"},"temperature_c""#),
        "the schema's property order is the client's: {raw}"
    );

    let body = gateway.sse(&streamed(request)).await;
    assert_eq!(body.text(), r#"{"city": "Paris", "temperature_c": 18}"#);
    assert!(!body.raw.contains("tool_calls"));
}

#[tokio::test]
async fn unsupported_params_are_a_400_or_dropped_with_a_header() {
    let request = json!({"model": MODEL, "messages": [{"role": "user", "content": "hi"}],
        "seed": 42, "logit_bias": {"50256": -100}, "thread_id": "t-1", "temperature": 0.2});
    let (error, dropped, sent) = refused_then_dropped(&ANTHROPIC, TEXT, &request).await;
    assert_eq!(error["param"], "seed");
    assert_eq!(error["code"], "unsupported_parameter");
    assert_says(&error, &["'claude' (anthropic)", "logit_bias, thread_id"]);
    assert_eq!(dropped, "seed, logit_bias, thread_id");
    assert_eq!(sent["temperature"], 0.2);
    assert!(sent.get("seed").is_none() && sent.get("thread_id").is_none());
}

#[tokio::test]
async fn upstream_error_statuses_become_openai_errors() {
    let (upstream, gateway) = claude("").await;
    upstream.push(Reply::status(429, RATE_LIMITED).header("retry-after", "12"));
    let response = gateway.send(&user(MODEL, "x")).await;
    assert_eq!(response.headers()["retry-after"], "12");
    let error = error_of(response, 429).await;
    assert_eq!(error["type"], "rate_limit_error");
    assert!(message(&error).contains("rate limit"));

    // 529 (overloaded) is the provider failing, whether the client streams or not.
    for request in [user(MODEL, "x"), user_stream(MODEL, "x")] {
        upstream.push(Reply::status(529, OVERLOADED));
        let error = error_of(gateway.send(&request).await, 502).await;
        assert_eq!(error["code"], "upstream_error");
        assert!(message(&error).contains("Overloaded"));
    }

    upstream.push(Reply::status(
        401,
        r#"{"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key"}}"#,
    ));
    let error = error_of(gateway.send(&user(MODEL, "x")).await, 401).await;
    assert_eq!(error["type"], "authentication_error");
}

#[tokio::test]
async fn an_error_event_after_output_ends_the_stream_with_an_error_event() {
    let (upstream, gateway) = claude("").await;
    upstream.push(Reply::sse(MIDSTREAM_ERROR));
    let response = gateway.send(&user_stream(MODEL, "A story")).await;
    assert_eq!(response.status(), 200);
    let body = read_sse(response).await;
    assert_eq!(body.text(), "Once upon a time");
    assert_eq!(
        body.done_count(),
        0,
        "a failed stream must not look complete"
    );
    let error = body.error();
    assert_eq!(error["code"], "upstream_error");
    assert!(message(&error).contains("Overloaded"));
    assert!(!body.raw.contains("finish_reason\":\"stop"));
}

#[tokio::test]
async fn an_error_event_before_output_keeps_its_status() {
    let (upstream, gateway) = claude("").await;
    let start = MIDSTREAM_ERROR
        .split("event: content_block_start")
        .next()
        .unwrap();
    upstream.push(Reply::sse(format!(
        "{start}event: error\ndata: {{\"type\":\"error\",\"error\":{{\"type\":\"rate_limit_error\",\"message\":\"Too fast\"}}}}\n\n"
    )));
    let error = error_of(gateway.send(&user_stream(MODEL, "x")).await, 429).await;
    assert_eq!(error["message"], "Too fast");
}

#[tokio::test]
async fn a_stream_cut_before_message_stop_is_an_error_not_a_finish() {
    let (upstream, gateway) = claude("").await;
    let cut = TEXT_STREAM.split("event: message_delta").next().unwrap();
    upstream.push(Reply::sse(cut));
    let body = gateway.sse(&user_stream(MODEL, "x")).await;
    assert_eq!(body.done_count(), 0);
    assert!(message(&body.error()).contains("no message_stop"));
}

#[tokio::test]
async fn the_client_leaving_cancels_the_upstream_request() {
    let (upstream, gateway) = claude("").await;
    let head = TEXT_STREAM
        .split("event: content_block_stop")
        .next()
        .unwrap();
    upstream.push(Reply::stuck_after([head]));
    let response = gateway.send(&user_stream(MODEL, "x")).await;
    assert!(
        upstream
            .released_when_client_leaves(response, "Bonne journée")
            .await,
        "the upstream request outlived the client"
    );
}

#[tokio::test]
async fn signed_reasoning_comes_back_exactly_on_the_next_turn() {
    let (upstream, gateway) = claude("").await;
    upstream.push(Reply::sse(THINKING_STREAM));
    upstream.push(Reply::json(REDACTED));
    upstream.push(Reply::json(TEXT));
    let mut messages = vec![json!({"role": "user", "content": "Weather in Paris?"})];
    let mut request = with_usage(chat(MODEL, json!(messages)));
    request["tools"] = weather_tool();
    request["reasoning_effort"] = json!("medium");
    let body = gateway.sse(&request).await;
    let first = upstream.last_request().json();
    assert_eq!(
        first["thinking"],
        json!({"type": "enabled", "budget_tokens": 8192})
    );

    let assistant = Answer::of_stream(&body).message;
    assert_eq!(
        assistant["reasoning_details"][0]["format"],
        "anthropic-claude-v1"
    );
    let call_id = assistant["tool_calls"][0]["id"].clone();
    messages.push(assistant);
    messages.push(json!({"role": "tool", "tool_call_id": call_id, "content": "18C"}));
    let mut request = chat(MODEL, json!(messages));
    request["tools"] = weather_tool();
    request["reasoning_effort"] = json!("medium");
    let second = gateway.whole(&request).await;
    let sent = upstream.last_request().json();
    let thinking = json!({"type": "thinking",
        "thinking": "The user wants the weather in Paris. I should call get_weather with city \"Paris\".",
        "signature": "EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds5FpZXwp3Co1Lrqm3lDFxN2ZTJ0aYEu2oyPNkJ7fq9wS0aBRRE3EFYZ3N0cGYyb2MiOjIsInMiOiJzaWduYXR1cmUifQ=="});
    let assistant_turn = &sent["messages"][1]["content"];
    assert_eq!(assistant_turn[0], thinking, "thinking first, unmodified");
    assert_eq!(
        assistant_turn[1],
        json!({"type": "text", "text": "Let me check."})
    );
    assert_eq!(assistant_turn[2]["type"], "tool_use");
    assert_eq!(assistant_turn[2]["id"], call_id);
    assert_eq!(sent["messages"][2]["content"][0]["tool_use_id"], call_id);

    // The whole answer's redacted and signed blocks come back too, in their order.
    messages.push(second["choices"][0]["message"].clone());
    messages.push(json!({"role": "user", "content": "Thanks"}));
    gateway.whole(&chat(MODEL, json!(messages))).await;
    let sent = upstream.last_request().json();
    let turn = &sent["messages"][3]["content"];
    assert_eq!(turn[0]["type"], "redacted_thinking");
    assert!(
        turn[0]["data"]
            .as_str()
            .unwrap()
            .starts_with("EmwKAhgBEgy3")
    );
    assert_eq!(turn[1]["type"], "thinking");
    assert_eq!(turn[1]["thinking"], "Answer briefly.");
    assert_eq!(turn[2], json!({"type": "text", "text": "42."}));
}

#[tokio::test]
async fn stream_and_whole_answers_agree() {
    let cases = [
        (TEXT_STREAM, TEXT, None),
        (TOOL_STREAM, TOOL, None),
        (THINKING_STREAM, THINKING, None),
        (
            JSON_STREAM,
            JSON_ANSWER,
            Some(
                json!({"type": "json_schema", "json_schema": {"name": "weather_report", "schema": {"type": "object"}}}),
            ),
        ),
    ];
    for (stream, answer, format) in cases {
        let (upstream, gateway) = claude("").await;
        upstream.push(Reply::json(answer));
        upstream.push(Reply::sse(stream));
        let mut request = user(MODEL, "x");
        if let Some(format) = format {
            request["response_format"] = format;
        }
        let whole = Answer::of_whole(&gateway.whole(&request).await);
        let body = gateway.sse(&with_usage(request)).await;
        assert_eq!(body.done_count(), 1);
        assert_eq!(Answer::of_stream(&body).normalized(), whole.normalized());
    }
}

#[tokio::test]
async fn the_catalog_entry_takes_its_key_from_the_environment() {
    let upstream = FakeUpstream::start().await;
    let gateway = gateway_with_env(
        &format!("[providers.anthropic]\nbase_url = \"{}\"\n", upstream.root),
        &[("ANTHROPIC_API_KEY", "sk-ant-from-env")],
    )
    .await;
    upstream.push(Reply::json(TEXT));
    let body = gateway
        .whole(&user("anthropic/claude-haiku-4-5", "hi"))
        .await;
    assert_eq!(body["model"], "anthropic/claude-haiku-4-5");
    let received = upstream.last_request();
    assert_eq!(received.headers["x-api-key"], "sk-ant-from-env");
    assert_eq!(received.json()["model"], "claude-haiku-4-5");
}
