//! OpenAI-compatible upstreams through the gateway: passthrough, whole answers, streams.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::fixtures::openai::*;
use common::*;
use serde_json::Value;

async fn setup() -> (FakeUpstream, Gateway) {
    gateway_with_upstream("\n[models.smart]\ntargets = [\"up/gpt-4o\", \"echo/x\"]\n").await
}

/// A request using every field of the Chat Completions API and some of other vendors' dialects,
/// in an unusual order with unusual spacing: it must reach the upstream byte for byte.
const EVERY_FIELD: &str = r#"{
  "ssml_enabled": false,
  "context": {"tenant": "acme", "nested": [1, 2.50, null]},
  "messages": [
    {"role": "system", "content": "Be terse.", "name": "sys"},
    {"role": "developer", "content": [{"type": "text", "text": "Use metric units."}]},
    {"role": "user", "content": [
      {"type": "text", "text": "What is in this image and audio?"},
      {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo=", "detail": "high"}},
      {"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "wav"}},
      {"type": "file", "file": {"file_data": "data:application/pdf;base64,JVBERi0=", "filename": "a.pdf"}}
    ]},
    {"role": "assistant", "content": null, "tool_calls": [{"id": "call_a1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}], "reasoning_content": "kept"},
    {"role": "tool", "tool_call_id": "call_a1", "content": "18C, cloudy"}
  ],
  "model": "up/gpt-4o",
  "tools": [{"type": "function", "function": {"name": "get_weather", "description": "Weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"], "additionalProperties": false}, "strict": true}}],
  "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
  "parallel_tool_calls": false,
  "response_format": {"type": "json_schema", "json_schema": {"name": "answer", "schema": {"type": "object", "properties": {"a": {"type": "string"}}}, "strict": true}},
  "modalities": ["text", "audio"],
  "audio": {"voice": "alloy", "format": "wav"},
  "stream": false,
  "n": 1,
  "temperature": 0.70,
  "top_p": 1e0,
  "max_tokens": 100,
  "max_completion_tokens": 200,
  "stop": ["END", "STOP"],
  "seed": 42,
  "logprobs": true,
  "top_logprobs": 3,
  "presence_penalty": -0.5,
  "frequency_penalty": 0.25,
  "logit_bias": {"50256": -100},
  "user": "user-1234",
  "metadata": {"trace": "abc"},
  "reasoning_effort": "low",
  "thread_id": "1",
  "unicode": "caf\u00e9 ☃ \"quoted\""
}"#;

#[tokio::test]
async fn every_field_reaches_the_upstream_unchanged_but_model() {
    let (upstream, gateway) = setup().await;
    upstream.push(Reply::json(completion_json("ok")));
    let response = gateway.chat(EVERY_FIELD).send().await.unwrap();
    assert_eq!(response.status(), 200);

    let received = upstream.last_request();
    assert_eq!(received.path, "/v1/chat/completions");
    let expected = EVERY_FIELD.replacen(r#""model": "up/gpt-4o""#, r#""model": "gpt-4o""#, 1);
    assert_eq!(received.text(), expected);
}

#[tokio::test]
async fn whole_answer_is_relayed_with_the_served_key_as_model() {
    let (upstream, gateway) = setup().await;
    upstream.push(Reply::json(COMPLETION));
    let response = gateway.send(&user("up/gpt-4o", "Weather in Paris?")).await;
    assert_eq!(response.headers()["content-type"], "application/json");
    let body = json_of(response, 200).await;
    assert_eq!(body["model"], "up/gpt-4o");
    assert_eq!(body["id"], "chatcmpl-AHbQ9wholeresp");
    assert_eq!(
        body["choices"][0]["message"]["tool_calls"][0]["function"]["name"],
        "get_weather"
    );
    assert_eq!(body["usage"]["total_tokens"], 60);
    assert_eq!(body["system_fingerprint"], "fp_6b68a8204b");
}

#[tokio::test]
async fn the_upstream_gets_its_own_key_and_never_the_gateways() {
    let (upstream, gateway) = gateway_with_upstream(
        "headers = { \"X-Title\" = \"switchyard-test\" }\n[auth]\nkeys = [\"gw-key-1\"]\n",
    )
    .await;
    upstream.push(Reply::json(completion_json("ok")));
    let response = gateway.send_as("gw-key-1", &user("up/m", "hi")).await;
    assert_eq!(response.status(), 200);
    let received = upstream.last_request();
    assert_eq!(
        received.headers["authorization"],
        format!("Bearer {}", OPENAI.api_key)
    );
    assert_eq!(received.headers["x-title"], "switchyard-test");
    let all_headers = format!("{:?}", received.headers);
    assert!(
        !all_headers.contains("gw-key-1"),
        "the gateway key leaked upstream: {all_headers}"
    );
}

#[tokio::test]
async fn both_paths_and_alias_and_slashed_model_names() {
    let (upstream, gateway) = setup().await;
    upstream.always(Reply::json(completion_json("ok")));

    let response = gateway
        .http
        .post(format!("{}/chat/completions", gateway.url))
        .body(user("up/a", "x").to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        200,
        "POST /chat/completions is the same handler"
    );

    let body = gateway.whole(&user("smart", "x")).await;
    assert_eq!(
        body["model"], "up/gpt-4o",
        "an alias answers with the key that served"
    );
    assert_eq!(upstream.last_request().json()["model"], "gpt-4o");

    let key = "up/meta-llama/Llama-3.3-70B-Instruct-Turbo";
    let body = gateway.whole(&user(key, "x")).await;
    assert_eq!(body["model"], key);
    assert_eq!(
        upstream.last_request().json()["model"],
        "meta-llama/Llama-3.3-70B-Instruct-Turbo"
    );
}

#[tokio::test]
async fn a_stream_is_relayed_as_openai_chunks_then_one_done() {
    let (upstream, gateway) = setup().await;
    upstream.push(Reply::sse(TEXT_STREAM));
    let response = gateway.send(&with_usage(user("up/gpt-4o", "hi"))).await;
    let headers = response.headers().clone();
    assert_eq!(headers["cache-control"], "no-cache");
    assert_eq!(headers["x-accel-buffering"], "no");
    assert!(headers.contains_key("x-request-id"));

    let body = read_finished_stream(response, "up/gpt-4o").await;
    assert_eq!(body.data.last().map(String::as_str), Some("[DONE]"));
    assert_eq!(body.text(), "Hello, café ☃!");
    let chunks = body.chunks();
    assert_eq!(chunks.len(), 5);
    assert_eq!(chunks[0]["id"], "chatcmpl-AHbPtqZ3bD1yXEGYzVrQjdB1WJJtz");
    assert_eq!(chunks[4]["usage"]["total_tokens"], 13);
    assert!(
        body.raw.starts_with("data: {"),
        "no event: lines, no preamble: {}",
        &body.raw[..40]
    );
}

#[tokio::test]
async fn streamed_tool_calls_arrive_exactly_as_emitted() {
    let (upstream, gateway) = setup().await;
    upstream.push(Reply::sse(TOOL_STREAM));
    let body = gateway.sse(&user_stream("up/gpt-4o", "weather")).await;
    let chunks = body.chunks();
    assert_eq!(chunks.len(), 7);
    let calls: Vec<&Value> = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"].get("tool_calls"))
        .collect();
    assert_eq!(calls[0][0]["id"], "call_J1kXz");
    assert_eq!(calls[0][0]["function"]["name"], "get_weather");
    let arguments: String = calls
        .iter()
        .filter(|c| c[0]["index"] == 0)
        .filter_map(|c| c[0]["function"]["arguments"].as_str())
        .collect();
    assert_eq!(arguments, r#"{"city": "Paris"}"#);
    assert_eq!(calls[3][0]["function"]["name"], "get_time");
    assert_eq!(chunks[6]["choices"][0]["finish_reason"], "tool_calls");
    assert_eq!(body.done_count(), 1);
}

#[tokio::test]
async fn untidy_upstream_streams_become_tidy() {
    for fixture in [ARK_STREAM, OPENROUTER_STREAM] {
        let (upstream, gateway) = setup().await;
        upstream.push(Reply::sse(fixture));
        let body = gateway.sse(&user_stream("up/m", "hi")).await;
        let chunks = body.chunks();
        let first_id = chunks[0]["id"].clone();
        assert!(first_id.is_string());
        for chunk in &chunks {
            assert_eq!(chunk["id"], first_id, "one id per stream");
            assert_eq!(chunk["object"], "chat.completion.chunk");
            assert!(chunk["created"].is_u64());
            assert_eq!(chunk["model"], "up/m");
            assert!(chunk["choices"].is_array());
            for choice in chunk["choices"].as_array().into_iter().flatten() {
                assert!(
                    choice["index"].is_u64(),
                    "every choice has an index: {chunk}"
                );
            }
        }
        assert_eq!(body.done_count(), 1);
        assert!(
            !body.raw.contains("OPENROUTER"),
            "upstream comments are not relayed"
        );
    }
}

#[tokio::test]
async fn a_stream_ending_after_finish_without_done_gets_one_done() {
    let (upstream, gateway) = setup().await;
    upstream.push(Reply::sse(text_stream(&["Hi"])));
    let body = gateway.sse(&user_stream("up/m", "hi")).await;
    assert_eq!(body.text(), "Hi");
    assert_eq!(body.done_count(), 1);
    assert!(body.raw.ends_with(DONE));
}

/// An upstream whose answers already say what the gateway would (id, object, created) gets them
/// relayed as they came, key order and spacing included: only `model` changes.
#[tokio::test]
async fn tidy_answers_and_chunks_keep_their_bytes_but_model() {
    let (upstream, gateway) = setup().await;
    let answer = r#"{"object": "chat.completion", "id": "a1", "created": 7, "model": "m", "x_vendor": {"model": "keep"}, "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}]}"#;
    upstream.push(Reply::json(answer));
    let response = gateway.send(&user("up/m", "hi")).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.text().await.unwrap(),
        answer.replacen(r#""model": "m""#, r#""model": "up/m""#, 1)
    );

    let chunks = [
        r#"{"object": "chat.completion.chunk", "id": "c1", "created": 7, "model": "m", "choices": [{"index": 0, "delta": {"role": "assistant", "content": "hi"}, "finish_reason": null}]}"#,
        r#"{"object": "chat.completion.chunk", "id": "c1", "created": 7, "model": "m", "x_vendor": {"model": "keep"}, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}"#,
    ];
    upstream.push(Reply::sse(format!(
        "{}{}{DONE}",
        data(chunks[0]),
        data(chunks[1])
    )));
    let stream = gateway.sse(&user_stream("up/m", "hi")).await;
    let expected: Vec<String> = chunks
        .iter()
        .map(|c| c.replacen(r#""model": "m""#, r#""model": "up/m""#, 1))
        .chain(["[DONE]".to_owned()])
        .collect();
    assert_eq!(stream.data, expected);
}
