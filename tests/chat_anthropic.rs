//! The anthropic kind through the gateway, against a fake Messages API: OpenAI requests in,
//! Anthropic requests out, Anthropic answers and streams back as OpenAI ones.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::*;
use serde_json::{Value, json};

const TEXT_STREAM: &str = include_str!("fixtures/anthropic/text_stream.sse");
const TEXT: &str = include_str!("fixtures/anthropic/text.json");
const TOOL_STREAM: &str = include_str!("fixtures/anthropic/tool_use_stream.sse");
const TOOL: &str = include_str!("fixtures/anthropic/tool_use.json");
const THINKING_STREAM: &str = include_str!("fixtures/anthropic/thinking_stream.sse");
const THINKING: &str = include_str!("fixtures/anthropic/thinking.json");
const REDACTED: &str = include_str!("fixtures/anthropic/redacted_thinking.json");
const JSON_STREAM: &str = include_str!("fixtures/anthropic/json_schema_stream.sse");
const JSON_ANSWER: &str = include_str!("fixtures/anthropic/json_schema.json");
const MIDSTREAM_ERROR: &str = include_str!("fixtures/anthropic/midstream_error.sse");
const OVERLOADED: &str = include_str!("fixtures/anthropic/overloaded_error.json");
const RATE_LIMITED: &str = include_str!("fixtures/anthropic/rate_limit_error.json");

const MODEL: &str = "claude/claude-sonnet-4-5";

/// A gateway with provider `claude` (kind anthropic) in front of a fake Messages API; `extra`
/// lands in the provider's table.
async fn claude(extra: &str) -> (FakeUpstream, Gateway) {
    let upstream = FakeUpstream::start().await;
    let base = upstream.base_url.trim_end_matches("/v1");
    let toml = format!(
        "[providers.claude]\nkind = \"anthropic\"\nbase_url = \"{base}\"\napi_key = \"sk-ant-upstream-secret\"\n{extra}"
    );
    (upstream, gateway(&toml).await)
}

fn stream_with_usage(messages: Value) -> Value {
    json!({"model": MODEL, "stream": true, "stream_options": {"include_usage": true}, "messages": messages})
}

fn weather_tool() -> Value {
    json!([{"type": "function", "function": {"name": "get_weather", "description": "Current weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}, "unit": {"type": "string"}}, "required": ["city"]}}}])
}

async fn whole(gateway: &Gateway, request: &Value) -> Value {
    let response = gateway.chat_json(request).send().await.unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

/// What a client makes of a streamed answer: the assistant message (as it would send it back)
/// plus finish reason and usage, the same shape `answer_of_whole` gives.
fn answer_of_stream(body: &SseBody) -> Value {
    let mut content: Option<String> = None;
    let mut reasoning = String::new();
    let mut details = Vec::new();
    let mut calls: Vec<Value> = Vec::new();
    let mut finish = Value::Null;
    let mut usage = Value::Null;
    for chunk in body.chunks() {
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
        if let Some(text) = delta["content"].as_str().filter(|t| !t.is_empty()) {
            content.get_or_insert_default().push_str(text);
        }
        reasoning.push_str(delta["reasoning_content"].as_str().unwrap_or_default());
        details.extend(
            delta["reasoning_details"]
                .as_array()
                .cloned()
                .unwrap_or_default(),
        );
        for call in delta["tool_calls"].as_array().cloned().unwrap_or_default() {
            let index = call["index"].as_u64().unwrap() as usize;
            if index == calls.len() {
                assert!(call["id"].is_string() && call["function"]["name"].is_string());
                assert_eq!(call["type"], "function");
                calls.push(json!({"id": call["id"], "type": "function",
                    "function": {"name": call["function"]["name"], "arguments": ""}}));
            }
            let arguments = calls[index]["function"]["arguments"]
                .as_str()
                .unwrap()
                .to_owned()
                + call["function"]["arguments"].as_str().unwrap_or_default();
            calls[index]["function"]["arguments"] = Value::String(arguments);
        }
    }
    let mut message = json!({"role": "assistant", "content": content});
    if !calls.is_empty() {
        message["tool_calls"] = Value::Array(calls);
    }
    if !reasoning.is_empty() {
        message["reasoning_content"] = Value::String(reasoning);
    }
    if !details.is_empty() {
        message["reasoning_details"] = Value::Array(details);
    }
    json!({"message": message, "finish_reason": finish, "usage": usage})
}

fn answer_of_whole(body: &Value) -> Value {
    let mut message = body["choices"][0]["message"].clone();
    if let Some(message) = message.as_object_mut() {
        message.remove("refusal");
    }
    json!({"message": message, "finish_reason": body["choices"][0]["finish_reason"], "usage": body["usage"]})
}

/// Tool arguments (and a JSON answer) compared as values: a stream carries the upstream's
/// spacing, a whole answer compact JSON.
fn normalized(mut answer: Value) -> Value {
    if let Some(calls) = answer["message"]["tool_calls"].as_array_mut() {
        for call in calls {
            let arguments: Value =
                serde_json::from_str(call["function"]["arguments"].as_str().unwrap()).unwrap();
            call["function"]["arguments"] = arguments;
        }
    }
    if let Some(json) = answer["message"]["content"]
        .as_str()
        .and_then(|c| serde_json::from_str::<Value>(c).ok())
    {
        answer["message"]["content"] = json;
    }
    answer
}

#[tokio::test]
async fn a_whole_answer_is_a_chat_completion() {
    let (upstream, gateway) = claude("").await;
    upstream.push(Reply::json(TEXT));
    let body = whole(
        &gateway,
        &json!({"model": MODEL, "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Weather?"}]}),
    )
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
    assert_eq!(received.headers["x-api-key"], "sk-ant-upstream-secret");
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
    let response = gateway
        .chat_json(&stream_with_usage(
            json!([{"role": "user", "content": "Weather?"}]),
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let body = read_sse(response).await;
    assert_eq!(body.done_count(), 1);
    assert_eq!(
        body.text(),
        "Bonjour ! Il fait 18 °C à Paris, \"nuageux\".\nBonne journée ☃"
    );
    let chunks = body.chunks();
    let id = chunks[0]["id"].clone();
    assert!(
        chunks.iter().all(|c| c["id"] == id
            && c["model"] == MODEL
            && c["object"] == "chat.completion.chunk")
    );
    let last = chunks.last().unwrap();
    assert_eq!(last["choices"], json!([]));
    assert_eq!(last["usage"]["total_tokens"], 1256);
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
    let first = whole(
        &gateway,
        &json!({"model": MODEL, "messages": messages, "tools": weather_tool(), "tool_choice": "auto"}),
    )
    .await;
    assert_eq!(first["choices"][0]["finish_reason"], "tool_calls");
    let assistant = first["choices"][0]["message"].clone();
    let calls = assistant["tool_calls"].as_array().unwrap().clone();
    assert_eq!(calls.len(), 2);
    messages.push(assistant);
    for (call, result) in calls.iter().zip(["18C", "24C"]) {
        messages.push(json!({"role": "tool", "tool_call_id": call["id"], "content": result}));
    }
    let second = whole(
        &gateway,
        &json!({"model": MODEL, "messages": messages, "tools": weather_tool()}),
    )
    .await;
    assert_eq!(second["choices"][0]["finish_reason"], "stop");

    // A client may leave the tools out once it has its answer; Anthropic still needs them
    // declared for a history with tool calls.
    upstream.push(Reply::json(TEXT));
    messages.push(second["choices"][0]["message"].clone());
    messages.push(json!({"role": "user", "content": "Thanks!"}));
    whole(&gateway, &json!({"model": MODEL, "messages": messages})).await;
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
    whole(
        &gateway,
        &json!({"model": MODEL, "messages": [{"role": "user", "content": content}]}),
    )
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
    let response = gateway
        .chat_json(&json!({"model": MODEL, "messages": [{"role": "user", "content": audio}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let error: Value = response.json().await.unwrap();
    assert_eq!(error["error"]["param"], "messages[0].content[0]");
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .contains("cannot take audio")
    );
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
    let request = json!({"model": MODEL, "messages": [{"role": "user", "content": "Paris?"}], "response_format": format});
    let body = whole(&gateway, &request).await;
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
    let raw = String::from_utf8_lossy(&upstream.last_request().body).into_owned();
    assert!(
        raw.contains(r#""properties":{"city":{"type":"string"},"temperature_c""#),
        "the schema's property order is the client's: {raw}"
    );

    let mut streamed = request.clone();
    streamed["stream"] = json!(true);
    let body = read_sse(gateway.chat_json(&streamed).send().await.unwrap()).await;
    assert_eq!(body.text(), r#"{"city": "Paris", "temperature_c": 18}"#);
    assert!(!body.raw.contains("tool_calls"));
}

#[tokio::test]
async fn unsupported_params_are_a_400_or_dropped_with_a_header() {
    let request = json!({"model": MODEL, "messages": [{"role": "user", "content": "hi"}],
        "seed": 42, "logit_bias": {"50256": -100}, "thread_id": "t-1", "temperature": 0.2});
    let (upstream, gateway) = claude("").await;
    let response = gateway.chat_json(&request).send().await.unwrap();
    assert_eq!(response.status(), 400);
    let error: Value = response.json().await.unwrap();
    assert_eq!(error["error"]["param"], "seed");
    assert_eq!(error["error"]["code"], "unsupported_parameter");
    let message = error["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("'claude' (anthropic)") && message.contains("logit_bias, thread_id"),
        "{message}"
    );
    assert!(upstream.requests().is_empty());

    let (upstream, gateway) = claude("unsupported_params = \"drop\"\n").await;
    upstream.push(Reply::json(TEXT));
    let response = gateway.chat_json(&request).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["x-switchyard-dropped-params"],
        "seed, logit_bias, thread_id"
    );
    let sent = upstream.last_request().json();
    assert_eq!(sent["temperature"], 0.2);
    assert!(sent.get("seed").is_none() && sent.get("thread_id").is_none());
}

#[tokio::test]
async fn upstream_error_statuses_become_openai_errors() {
    let (upstream, gateway) = claude("").await;
    upstream.push(Reply::Json {
        status: 429,
        headers: vec![("retry-after", "12".to_owned())],
        body: RATE_LIMITED.to_owned(),
    });
    let response = gateway.chat_json(&user(MODEL, "x")).send().await.unwrap();
    assert_eq!(response.status(), 429);
    assert_eq!(response.headers()["retry-after"], "12");
    let error: Value = response.json().await.unwrap();
    assert_eq!(error["error"]["type"], "rate_limit_error");
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .contains("rate limit")
    );

    // 529 (overloaded) is the provider failing, whether the client streams or not.
    for request in [user(MODEL, "x"), user_stream(MODEL, "x")] {
        upstream.push(Reply::status(529, OVERLOADED));
        let response = gateway.chat_json(&request).send().await.unwrap();
        assert_eq!(response.status(), 502);
        let error: Value = response.json().await.unwrap();
        assert_eq!(error["error"]["code"], "upstream_error");
        assert!(
            error["error"]["message"]
                .as_str()
                .unwrap()
                .contains("Overloaded")
        );
    }

    upstream.push(Reply::status(
        401,
        r#"{"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key"}}"#,
    ));
    let response = gateway.chat_json(&user(MODEL, "x")).send().await.unwrap();
    assert_eq!(response.status(), 401);
    let error: Value = response.json().await.unwrap();
    assert_eq!(error["error"]["type"], "authentication_error");
}

#[tokio::test]
async fn an_error_event_after_output_ends_the_stream_with_an_error_event() {
    let (upstream, gateway) = claude("").await;
    upstream.push(Reply::sse(MIDSTREAM_ERROR));
    let response = gateway
        .chat_json(&user_stream(MODEL, "A story"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body = read_sse(response).await;
    assert_eq!(body.text(), "Once upon a time");
    assert_eq!(
        body.done_count(),
        0,
        "a failed stream must not look complete"
    );
    let last: Value = serde_json::from_str(body.data.last().unwrap()).unwrap();
    assert_eq!(last["error"]["code"], "upstream_error");
    assert!(
        last["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Overloaded")
    );
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
    let response = gateway
        .chat_json(&user_stream(MODEL, "x"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 429);
    let error: Value = response.json().await.unwrap();
    assert_eq!(error["error"]["message"], "Too fast");
}

#[tokio::test]
async fn a_stream_cut_before_message_stop_is_an_error_not_a_finish() {
    let (upstream, gateway) = claude("").await;
    let cut = TEXT_STREAM.split("event: message_delta").next().unwrap();
    upstream.push(Reply::sse(cut));
    let body = read_sse(
        gateway
            .chat_json(&user_stream(MODEL, "x"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(body.done_count(), 0);
    let last: Value = serde_json::from_str(body.data.last().unwrap()).unwrap();
    assert!(
        last["error"]["message"]
            .as_str()
            .unwrap()
            .contains("no message_stop")
    );
}

#[tokio::test]
async fn the_client_leaving_cancels_the_upstream_request() {
    let (upstream, gateway) = claude("").await;
    let head = TEXT_STREAM
        .split("event: content_block_stop")
        .next()
        .unwrap();
    upstream.push(Reply::Sse {
        steps: vec![Step::Send(Bytes::from(head.to_owned())), Step::Wait],
        end: End::Hang,
    });
    let response = gateway
        .chat_json(&user_stream(MODEL, "x"))
        .send()
        .await
        .unwrap();
    let mut body = response.bytes_stream();
    read_until(&mut body, "Bonne journée").await;
    assert_eq!(upstream.abandoned(), 0);
    drop(body);
    assert!(
        upstream.wait_abandoned(Duration::from_secs(1)).await,
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
    let mut request = stream_with_usage(Value::Array(messages.clone()));
    request["tools"] = weather_tool();
    request["reasoning_effort"] = json!("medium");
    let body = read_sse(gateway.chat_json(&request).send().await.unwrap()).await;
    let first = upstream.last_request().json();
    assert_eq!(
        first["thinking"],
        json!({"type": "enabled", "budget_tokens": 8192})
    );

    let streamed = answer_of_stream(&body);
    let assistant = streamed["message"].clone();
    assert_eq!(
        assistant["reasoning_details"][0]["format"],
        "anthropic-claude-v1"
    );
    let call_id = assistant["tool_calls"][0]["id"].clone();
    messages.push(assistant);
    messages.push(json!({"role": "tool", "tool_call_id": call_id, "content": "18C"}));
    let second = whole(
        &gateway,
        &json!({"model": MODEL, "messages": messages, "tools": weather_tool(), "reasoning_effort": "medium"}),
    )
    .await;
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
    whole(&gateway, &json!({"model": MODEL, "messages": messages})).await;
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
        let mut request = stream_with_usage(json!([{"role": "user", "content": "x"}]));
        request["stream"] = json!(false);
        if let Some(format) = format {
            request["response_format"] = format;
        }
        let whole_answer = answer_of_whole(&whole(&gateway, &request).await);
        request["stream"] = json!(true);
        let body = read_sse(gateway.chat_json(&request).send().await.unwrap()).await;
        assert_eq!(body.done_count(), 1);
        let streamed = answer_of_stream(&body);
        assert_eq!(normalized(streamed), normalized(whole_answer));
    }
}

#[tokio::test]
async fn the_catalog_entry_takes_its_key_from_the_environment() {
    let upstream = FakeUpstream::start().await;
    let base = upstream.base_url.trim_end_matches("/v1");
    let gateway = gateway_with_env(
        &format!("[providers.anthropic]\nbase_url = \"{base}\"\n"),
        &[("ANTHROPIC_API_KEY", "sk-ant-from-env")],
    )
    .await;
    upstream.push(Reply::json(TEXT));
    let body = whole(&gateway, &user("anthropic/claude-haiku-4-5", "hi")).await;
    assert_eq!(body["model"], "anthropic/claude-haiku-4-5");
    let received = upstream.last_request();
    assert_eq!(received.headers["x-api-key"], "sk-ant-from-env");
    assert_eq!(received.json()["model"], "claude-haiku-4-5");
}
