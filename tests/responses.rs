//! `POST /v1/responses`. Toward a provider that serves the Responses API itself: the request and
//! every event go on unchanged but for `model`, unknown fields and event types included. Toward
//! any other (a chat-only openai-kind server, anthropic, gemini): translated onto chat and back,
//! whole response objects and the exact event sequence. Either way errors before the stream are
//! OpenAI's, after it an `error` event and `response.failed`; usage is metered; what only
//! OpenAI's own servers can do is a clear 400 toward the others.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::*;
use serde_json::{Value, json};

const NATIVE: &str = "responses = \"native\"\n[auth]\nkeys = [{ name = \"codex\", key = \"codex-key\", tpm = 10000 }]\n";

async fn post(gateway: &Gateway, body: &Value) -> reqwest::Response {
    gateway
        .post_json("/v1/responses", Some("codex-key"), body)
        .await
}

fn response_object(status: &str, output: Value, usage: Value) -> Value {
    json!({"id": "resp_1", "object": "response", "created_at": 1767225600, "status": status,
           "model": "gpt-5-2025-08-07", "output": output, "error": null, "incomplete_details": null,
           "usage": usage, "tool_choice": "auto", "tools": [], "parallel_tool_calls": true,
           "future_field": {"kept": true}})
}

fn event(name: &str, data: &Value) -> String {
    format!("event: {name}\ndata: {data}\n\n")
}

/// A text stream as OpenAI sends it, with an event type newer than this code in the middle.
fn native_stream() -> String {
    let usage = json!({"input_tokens": 12, "input_tokens_details": {"cached_tokens": 4},
                       "output_tokens": 3, "output_tokens_details": {"reasoning_tokens": 1}, "total_tokens": 15});
    let message = json!({"type": "message", "id": "msg_1", "status": "completed", "role": "assistant",
                         "content": [{"type": "output_text", "text": "Hi there", "annotations": []}]});
    [
        event("response.created", &json!({"type": "response.created", "sequence_number": 0, "response": response_object("in_progress", json!([]), Value::Null)})),
        event("response.in_progress", &json!({"type": "response.in_progress", "sequence_number": 1, "response": response_object("in_progress", json!([]), Value::Null)})),
        event("response.output_item.added", &json!({"type": "response.output_item.added", "sequence_number": 2, "output_index": 0, "item": {"type": "message", "id": "msg_1", "status": "in_progress", "role": "assistant", "content": []}})),
        event("response.output_text.delta", &json!({"type": "response.output_text.delta", "sequence_number": 3, "item_id": "msg_1", "output_index": 0, "content_index": 0, "delta": "Hi", "logprobs": []})),
        event("response.future_thing", &json!({"type": "response.future_thing", "sequence_number": 4, "whatever": [1]})),
        event("response.output_text.delta", &json!({"type": "response.output_text.delta", "sequence_number": 5, "item_id": "msg_1", "output_index": 0, "content_index": 0, "delta": " there", "logprobs": []})),
        event("response.output_item.done", &json!({"type": "response.output_item.done", "sequence_number": 6, "output_index": 0, "item": message})),
        event("response.completed", &json!({"type": "response.completed", "sequence_number": 7, "response": response_object("completed", json!([message]), usage)})),
    ]
    .concat()
}

#[tokio::test]
async fn a_whole_response_goes_on_as_it_came_and_comes_back_with_only_model_replaced() {
    let (upstream, gateway) = gateway_with_upstream(NATIVE).await;
    let answer = response_object(
        "completed",
        json!([]),
        json!({"input_tokens": 20, "output_tokens": 5, "total_tokens": 25}),
    );
    upstream.push(Reply::json(answer.to_string()));
    let sent = json!({"model": "up/gpt-5", "input": [{"role": "user", "content": "hi"}],
                      "instructions": "Be brief.", "store": false, "reasoning": {"effort": "low"},
                      "include": ["reasoning.encrypted_content"], "brand_new": 1});
    let response = post(&gateway, &sent).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-ratelimit-remaining-tokens"], "10000");
    let body = response.text().await.unwrap();
    assert_eq!(
        body,
        answer
            .to_string()
            .replace("\"gpt-5-2025-08-07\"", "\"up/gpt-5\"")
    );
    let got = upstream.last_request();
    assert_eq!(got.path, "/v1/responses");
    let mut expected = sent.clone();
    expected["model"] = json!("gpt-5");
    assert_eq!(got.json(), expected);
    // 25 tokens counted.
    upstream.push(Reply::json(answer.to_string()));
    let again = post(&gateway, &sent).await;
    assert_eq!(again.headers()["x-ratelimit-remaining-tokens"], "9975");
}

#[tokio::test]
async fn every_event_is_relayed_under_its_name_with_only_the_model_replaced() {
    let (upstream, gateway) = gateway_with_upstream(NATIVE).await;
    upstream.push(Reply::sse(native_stream()));
    let response = post(
        &gateway,
        &json!({"model": "up/gpt-5", "input": "hi", "stream": true}),
    )
    .await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let body = response.text().await.unwrap();
    assert_eq!(
        body,
        native_stream().replace("\"gpt-5-2025-08-07\"", "\"up/gpt-5\"")
    );
    // 15 tokens counted from response.completed's usage.
    upstream.push(Reply::json(
        response_object(
            "completed",
            json!([]),
            json!({"input_tokens": 1, "output_tokens": 1, "total_tokens": 2}),
        )
        .to_string(),
    ));
    let after = post(&gateway, &json!({"model": "up/gpt-5", "input": "hi"})).await;
    assert_eq!(after.headers()["x-ratelimit-remaining-tokens"], "9985");
}

#[tokio::test]
async fn a_stream_cut_after_output_ends_with_an_error_event_in_sequence() {
    let (upstream, gateway) = gateway_with_upstream(NATIVE).await;
    let cut: String = native_stream().split_inclusive("\n\n").take(4).collect();
    upstream.push(Reply::sse(cut));
    let response = post(
        &gateway,
        &json!({"model": "up/gpt-5", "input": "hi", "stream": true}),
    )
    .await;
    assert_eq!(response.status(), 200);
    let body = response.text().await.unwrap();
    let events = named_events(&body);
    let names: Vec<&str> = events.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(names[4..], ["error", "response.failed"], "{body}");
    let error = &events[4].1;
    assert_eq!(error["sequence_number"], 4, "after the four events relayed");
    assert_eq!(error["code"], "upstream_failed");
    assert!(error["param"].is_null());
    // Codex acts on `response.failed` (it ignores `error` events): the response the stream
    // announced, failed, with a code the API defines.
    let failed = &events[5].1;
    assert_eq!(failed["sequence_number"], 5);
    assert_eq!(failed["response"]["id"], "resp_1");
    assert_eq!(failed["response"]["status"], "failed");
    assert_eq!(failed["response"]["error"]["code"], "server_error");
    assert!(
        failed["response"]["error"]["message"]
            .as_str()
            .unwrap()
            .contains("failed"),
        "{failed}"
    );
    assert!(!body.contains("event: response.completed"));
}

#[tokio::test]
async fn a_client_that_leaves_cancels_the_upstream_stream() {
    let (upstream, gateway) = gateway_with_upstream(NATIVE).await;
    let opening: Vec<String> = native_stream()
        .split_inclusive("\n\n")
        .take(4)
        .map(str::to_owned)
        .collect();
    upstream.push(Reply::stuck_after(opening));
    let response = post(
        &gateway,
        &json!({"model": "up/gpt-5", "input": "hi", "stream": true}),
    )
    .await;
    let mut body = response.bytes_stream();
    read_until(&mut body, "output_text.delta").await;
    drop(body);
    assert!(upstream.wait_abandoned(Duration::from_secs(5)).await);
}

fn names(events: &[(String, Value)]) -> Vec<&str> {
    events.iter().map(|(name, _)| name.as_str()).collect()
}

/// Every event numbered in order from 0.
fn assert_numbered(events: &[(String, Value)]) {
    for (number, (name, data)) in events.iter().enumerate() {
        assert_eq!(data["sequence_number"], number, "{name}");
    }
}

const KEYS: &str = "[auth]\nkeys = [{ name = \"codex\", key = \"codex-key\", tpm = 100000 }]\n";

/// A turn as Codex sends one: instructions, the history with a function call and its output,
/// a function tool, reasoning asked for, and its hints (no state kept, encrypted reasoning
/// wanted back, a cache key).
fn codex_turn(model: &str, stream: bool) -> Value {
    json!({
        "model": model,
        "instructions": "You are Codex.",
        "input": [
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Weather in Paris?"}]},
            {"type": "function_call", "call_id": "call_1", "name": "get_weather", "arguments": "{\"city\":\"Paris\"}"},
            {"type": "function_call_output", "call_id": "call_1", "output": "18C"},
        ],
        "tools": [{"type": "function", "name": "get_weather", "description": "Weather",
                   "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}, "strict": false}],
        "tool_choice": "auto",
        "parallel_tool_calls": true,
        "reasoning": {"effort": "low", "summary": "auto"},
        "store": false,
        "stream": stream,
        "include": ["reasoning.encrypted_content"],
        "prompt_cache_key": "conversation-1",
    })
}

#[tokio::test]
async fn toward_a_target_that_wants_reasoning_back_the_reasoning_items_text_goes_back() {
    let (upstream, gateway) =
        gateway_with_upstream(&format!("send_reasoning_back = true\n{KEYS}")).await;
    upstream.push(Reply::json(completion_json("18C and cloudy.")));
    let mut turn = codex_turn("up/deepseek-v4", false);
    // The reasoning item the gateway wrote on the turn before, as Codex sends it back.
    turn["input"].as_array_mut().unwrap().insert(
        1,
        json!({"type": "reasoning", "id": "rs_1", "summary": [{"type": "summary_text", "text": "Look it up."}]}),
    );
    let response = post(&gateway, &turn).await;
    assert_eq!(response.status(), 200);
    let dropped = response.headers()["x-switchyard-dropped-params"]
        .to_str()
        .unwrap();
    assert!(
        !dropped.split(", ").any(|name| name == "reasoning"),
        "{dropped}"
    );
    let chat = upstream.last_request().json();
    let assistant = &chat["messages"][2];
    assert_eq!(assistant["role"], "assistant", "{chat}");
    assert_eq!(assistant["reasoning_content"], "Look it up.");
    assert_eq!(assistant["tool_calls"][0]["id"], "call_1");
}

#[tokio::test]
async fn toward_a_chat_only_target_the_request_is_translated_and_a_response_object_comes_back() {
    let (upstream, gateway) = gateway_with_upstream(KEYS).await;
    upstream.push(Reply::json(completion_json("18C and cloudy.")));
    let response = post(&gateway, &codex_turn("up/gpt-4o-mini", false)).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["x-switchyard-dropped-params"],
        "prompt_cache_key, reasoning.summary"
    );
    let before: u64 = header_number(&response, "x-ratelimit-remaining-tokens");
    let answer: Value = response.json().await.unwrap();
    assert!(answer["id"].as_str().unwrap().starts_with("resp_"));
    assert_eq!(answer["object"], "response");
    assert_eq!(answer["status"], "completed");
    assert_eq!(answer["model"], "up/gpt-4o-mini");
    assert_eq!(answer["instructions"], "You are Codex.");
    assert_eq!(answer["store"], false, "nothing is kept to continue from");
    assert_eq!(answer["tools"][0]["name"], "get_weather");
    let output = answer["output"].as_array().unwrap();
    assert_eq!(output.len(), 1, "{answer}");
    assert_eq!(output[0]["type"], "message");
    assert_eq!(output[0]["role"], "assistant");
    assert_eq!(
        output[0]["content"],
        json!([{"type": "output_text", "text": "18C and cloudy.", "annotations": [], "logprobs": []}])
    );
    assert_eq!(
        answer["usage"],
        json!({"input_tokens": 3, "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
               "output_tokens": 2, "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": 5})
    );

    let got = upstream.last_request();
    assert_eq!(got.path, "/v1/chat/completions");
    let chat = got.json();
    assert_eq!(chat["model"], "gpt-4o-mini");
    assert_eq!(
        chat["messages"],
        json!([
            {"role": "system", "content": "You are Codex."},
            {"role": "user", "content": [{"type": "text", "text": "Weather in Paris?"}]},
            {"role": "assistant", "content": null, "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}
            ]},
            {"role": "tool", "tool_call_id": "call_1", "content": "18C"},
        ])
    );
    assert_eq!(
        chat["tools"],
        json!([{"type": "function", "function": {"name": "get_weather", "description": "Weather",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}, "strict": false}}])
    );
    assert_eq!(chat["tool_choice"], "auto");
    assert_eq!(chat["reasoning_effort"], "low");
    assert!(chat.get("store").is_none() && chat.get("include").is_none());

    // Its usage counts against the key as a chat answer's does.
    upstream.push(Reply::json(completion_json("again")));
    let again = post(&gateway, &codex_turn("up/gpt-4o-mini", false)).await;
    let after: u64 = header_number(&again, "x-ratelimit-remaining-tokens");
    assert_eq!(before - after, 5, "3 prompt and 2 completion tokens");
}

#[tokio::test]
async fn a_translated_stream_is_the_exact_event_sequence_the_sdks_read() {
    use common::fixtures::openai;
    let (upstream, gateway) = gateway_with_upstream(KEYS).await;
    upstream.push(Reply::sse(format!("{}{DONE}", openai::TOOL_STREAM)));
    let response = post(&gateway, &codex_turn("up/gpt-4o", true)).await;
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let body = response.text().await.unwrap();
    assert!(!body.contains("[DONE]"), "{body}");
    let events = named_events(&body);
    assert_eq!(
        names(&events),
        [
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.function_call_arguments.delta",
            "response.function_call_arguments.delta",
            "response.output_item.added",
            "response.function_call_arguments.delta",
            "response.function_call_arguments.done",
            "response.output_item.done",
            "response.function_call_arguments.done",
            "response.output_item.done",
            "response.completed",
        ],
        "{body}"
    );
    assert_numbered(&events);
    let created = &events[0].1["response"];
    assert_eq!(created["status"], "in_progress");
    assert_eq!(created["model"], "up/gpt-4o");
    assert_eq!(created["output"], json!([]));
    let first = &events[2].1;
    assert_eq!(first["output_index"], 0);
    assert_eq!(first["item"]["call_id"], "call_J1kXz");
    assert_eq!(first["item"]["status"], "in_progress");
    let item_id = first["item"]["id"].as_str().unwrap();
    assert!(item_id.starts_with("fc_"));
    assert_eq!(events[3].1["item_id"], item_id);
    assert_eq!(events[5].1["output_index"], 1);
    assert_eq!(
        events[7].1,
        json!({"type": "response.function_call_arguments.done", "sequence_number": 7,
               "item_id": item_id, "output_index": 0, "name": "get_weather",
               "arguments": "{\"city\": \"Paris\"}"})
    );
    // Codex builds its history from the items `output_item.done` carries: each complete.
    assert_eq!(
        events[8].1["item"],
        json!({"type": "function_call", "id": item_id, "call_id": "call_J1kXz", "name": "get_weather",
               "arguments": "{\"city\": \"Paris\"}", "status": "completed"})
    );
    let completed = &events[11].1["response"];
    assert_eq!(completed["id"], created["id"]);
    assert_eq!(completed["status"], "completed");
    assert_eq!(completed["output"][0], events[8].1["item"]);
    assert_eq!(completed["output"][1], events[10].1["item"]);
    // The upstream was asked for the usage `response.completed` reports.
    assert_eq!(
        upstream.last_request().json()["stream_options"],
        json!({"include_usage": true})
    );

    upstream.push(Reply::sse(format!(
        "{}{}{DONE}",
        text_stream(&["Hel", "lo"]),
        data(
            r#"{"id":"chatcmpl-up","object":"chat.completion.chunk","created":1700000000,"model":"up-model","choices":[],"usage":{"prompt_tokens":9,"completion_tokens":2,"total_tokens":11}}"#
        )
    )));
    let body = post(&gateway, &codex_turn("up/gpt-4o", true))
        .await
        .text()
        .await
        .unwrap();
    let events = named_events(&body);
    assert_eq!(
        names(&events),
        [
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.content_part.added",
            "response.output_text.delta",
            "response.output_text.delta",
            "response.output_text.done",
            "response.content_part.done",
            "response.output_item.done",
            "response.completed",
        ],
        "{body}"
    );
    assert_numbered(&events);
    assert_eq!(
        events[3].1["part"],
        json!({"type": "output_text", "text": "", "annotations": [], "logprobs": []})
    );
    assert_eq!(events[6].1["text"], "Hello");
    let completed = &events[9].1["response"];
    assert_eq!(completed["output"][0]["content"][0]["text"], "Hello");
    assert_eq!(completed["usage"]["input_tokens"], 9);
    assert_eq!(completed["usage"]["output_tokens"], 2);
    assert_eq!(completed["usage"]["total_tokens"], 11);
}

#[tokio::test]
async fn anthropic_and_gemini_targets_serve_the_responses_api_through_the_translation() {
    use common::fixtures::{anthropic, gemini};
    let (claude, gateway) = gateway_for(&ANTHROPIC, KEYS).await;
    claude.push(Reply::json(anthropic::TOOL));
    let answer: Value = post(&gateway, &codex_turn("claude/claude-sonnet-4-5", false))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(answer["object"], "response", "{answer}");
    let call = answer["output"]
        .as_array()
        .unwrap()
        .iter()
        .find(|item| item["type"] == "function_call")
        .unwrap_or_else(|| panic!("no function call: {answer}"));
    assert!(call["call_id"].as_str().unwrap().starts_with("toolu_"));
    assert!(serde_json::from_str::<Value>(call["arguments"].as_str().unwrap()).is_ok());
    let sent = claude.last_request().json();
    assert_eq!(sent["system"][0]["text"], "You are Codex.", "{sent}");
    assert_eq!(sent["messages"][1]["content"][0]["type"], "tool_use");
    assert_eq!(sent["messages"][2]["content"][0]["type"], "tool_result");

    claude.push(Reply::sse(anthropic::TEXT_STREAM));
    let body = post(&gateway, &codex_turn("claude/claude-sonnet-4-5", true))
        .await
        .text()
        .await
        .unwrap();
    let events = named_events(&body);
    assert_numbered(&events);
    assert_eq!(names(&events).last(), Some(&"response.completed"), "{body}");
    let completed = &events.last().unwrap().1["response"];
    assert!(completed["usage"]["output_tokens"].as_u64().unwrap() > 0);
    let text: String = events
        .iter()
        .filter(|(name, _)| name == "response.output_text.delta")
        .filter_map(|(_, data)| data["delta"].as_str())
        .collect();
    assert_eq!(completed["output"][0]["content"][0]["text"], text.as_str());

    let (gem, gateway) = gateway_for(&GEMINI, KEYS).await;
    gem.push(Reply::sse(gemini::TOOL_STREAM));
    let body = post(&gateway, &codex_turn("gem/gemini-2.5-flash", true))
        .await
        .text()
        .await
        .unwrap();
    let events = named_events(&body);
    assert_numbered(&events);
    let done: Vec<&Value> = events
        .iter()
        .filter(|(name, data)| {
            name == "response.output_item.done" && data["item"]["type"] == "function_call"
        })
        .map(|(_, data)| &data["item"])
        .collect();
    assert!(!done.is_empty(), "{body}");
    assert!(done.iter().all(|item| item["status"] == "completed"));
    assert_eq!(names(&events).last(), Some(&"response.completed"), "{body}");
}

#[tokio::test]
async fn errors_before_a_translated_stream_are_openais_and_after_it_response_failed() {
    let (upstream, gateway) = gateway_with_upstream(KEYS).await;
    upstream.push(Reply::status(
        400,
        r#"{"error":{"message":"This model's maximum context length is 8192 tokens.","type":"invalid_request_error","param":"messages","code":"context_length_exceeded"}}"#,
    ));
    let refused = post(&gateway, &codex_turn("up/gpt-4o", true)).await;
    assert_eq!(refused.status(), 400);
    let error: Value = refused.json().await.unwrap();
    assert_eq!(error["error"]["code"], "context_length_exceeded");
    assert_eq!(error["error"]["type"], "invalid_request_error");

    upstream.push(Reply::sse(include_str!(
        "fixtures/openai/midstream_error.sse"
    )));
    let response = post(&gateway, &codex_turn("up/gpt-4o", true)).await;
    assert_eq!(response.status(), 200);
    let body = response.text().await.unwrap();
    let events = named_events(&body);
    assert_eq!(
        names(&events),
        [
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.content_part.added",
            "response.output_text.delta",
            "error",
            "response.failed",
        ],
        "{body}"
    );
    assert_numbered(&events);
    let failed = &events[6].1["response"];
    assert_eq!(failed["id"], events[0].1["response"]["id"]);
    assert_eq!(failed["status"], "failed");
    assert_eq!(failed["error"]["code"], "server_error");
}

#[tokio::test]
async fn what_only_openais_own_servers_can_do_is_refused_toward_a_chat_target() {
    let (upstream, gateway) = gateway_with_upstream(KEYS).await;
    let chained = post(
        &gateway,
        &json!({"model": "up/llama", "input": "more", "previous_response_id": "resp_1"}),
    )
    .await;
    let error = error_of(chained, 400).await;
    assert_eq!(error["param"], "previous_response_id");
    assert_says(
        &error,
        &["'up'", "previous_response_id", "responses = \"native\""],
    );
    for (tool, named) in [
        (json!({"type": "web_search"}), "web_search"),
        (
            json!({"type": "file_search", "vector_store_ids": ["vs_1"]}),
            "file_search",
        ),
        (
            json!({"type": "computer_use_preview", "display_width": 1024, "display_height": 768, "environment": "browser"}),
            "computer_use_preview",
        ),
    ] {
        let refused = post(
            &gateway,
            &json!({"model": "up/llama", "input": "search", "tools": [tool]}),
        )
        .await;
        let error = error_of(refused, 400).await;
        assert_eq!(error["param"], "tools");
        assert_says(&error, &[named, "responses = \"native\""]);
    }
    let bad = post(&gateway, &json!({"model": "up/llama"})).await;
    assert_eq!(bad.status(), 400);
    assert!(upstream.requests().is_empty());
}

/// Two fake upstreams as providers `first` and `second` (`settings` in each one's table), and a
/// gateway whose model `coder` is `model` at the first, falling back to the second.
async fn falling_back(model: &str, settings: &str) -> (FakeUpstream, FakeUpstream, Gateway) {
    let (a, b) = (FakeUpstream::start().await, FakeUpstream::start().await);
    let toml = format!(
        "{}{settings}{}{settings}[routing]\nbackoff_base = \"1ms\"\n[models.coder]\ntargets = [\"first/{model}\", \"second/{model}\"]\nretries = 0\n{KEYS}",
        a.provider_toml("first"),
        b.provider_toml("second"),
    );
    let gateway = gateway(&toml).await;
    (a, b, gateway)
}

#[tokio::test]
async fn a_failure_before_output_falls_back_and_the_client_sees_one_response_created() {
    let (a, b, gateway) = falling_back("llama", "").await;
    // The first opens its stream, then fails before any content: nothing was committed.
    a.push(Reply::sse(format!(
        "{}{}",
        content_chunk(None),
        data(
            r#"{"error":{"message":"overloaded","type":"server_error","param":null,"code":null}}"#
        )
    )));
    b.push(Reply::sse(format!("{}{DONE}", text_stream(&["Hi"]))));
    let response = post(&gateway, &codex_turn("coder", true)).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-switchyard-target"], "second/llama");
    let events = named_events(&response.text().await.unwrap());
    assert_eq!(
        names(&events)
            .iter()
            .filter(|name| **name == "response.created")
            .count(),
        1
    );
    assert_numbered(&events);
    assert_eq!(events.last().unwrap().0, "response.completed");
}

/// The rest of a body, to its end.
async fn rest_of(
    body: &mut (impl futures_util::Stream<Item = reqwest::Result<bytes::Bytes>> + Unpin),
) -> String {
    let mut rest = String::new();
    while let Some(piece) = futures_util::StreamExt::next(body).await {
        rest.push_str(&String::from_utf8_lossy(&piece.unwrap()));
    }
    rest
}

#[tokio::test]
async fn a_silent_stream_is_kept_alive_with_openais_keepalive_events_in_sequence() {
    let (upstream, gateway) =
        gateway_with_upstream(&format!("[server]\nkeep_alive = \"100ms\"\n{KEYS}")).await;
    // Some text, then the model thinks a while.
    upstream.push(Reply::held(&["Hel"], &["lo"]));
    let response = post(&gateway, &codex_turn("up/gpt-4o", true)).await;
    assert_eq!(response.status(), 200);
    let mut body = response.bytes_stream();
    let mut seen = read_until(&mut body, "event: keepalive").await;
    upstream.release();
    seen.push_str(&rest_of(&mut body).await);
    // Codex times a stream out on events, which SSE comments are not.
    assert!(!seen.contains(": keep-alive"), "{seen}");
    let events = named_events(&seen);
    let keepalive = events
        .iter()
        .find(|(name, _)| name == "keepalive")
        .map(|(_, data)| data.clone())
        .unwrap();
    assert_eq!(
        keepalive.as_object().unwrap().len(),
        2,
        "as OpenAI's: {keepalive}"
    );
    // The events after it are numbered on from it: no gap, no number twice.
    assert_numbered(&events);
    assert_eq!(events.last().unwrap().0, "response.completed");
    let completed = &events.last().unwrap().1["response"];
    assert_eq!(completed["output"][0]["content"][0]["text"], "Hello");
}

#[tokio::test]
async fn before_response_created_a_silence_is_a_comment() {
    let (upstream, gateway) = gateway_with_upstream(&format!(
        "responses = \"native\"\n[server]\nstream_hold_back = \"100ms\"\nkeep_alive = \"100ms\"\n{KEYS}"
    ))
    .await;
    // Nothing at all until released: the hold-back commits the 200 with no event to show.
    upstream.push(Reply::Sse {
        steps: vec![Step::Wait, Step::send(native_stream())],
        end: End::Close,
    });
    let response = post(
        &gateway,
        &json!({"model": "up/gpt-5", "input": "hi", "stream": true}),
    )
    .await;
    assert_eq!(response.status(), 200);
    let mut body = response.bytes_stream();
    let seen = read_until(&mut body, ": keep-alive\n\n").await;
    upstream.release();
    let rest = rest_of(&mut body).await;
    // openai-python's stream helper raises on any event before `response.created`.
    assert!(!seen.contains("event:"), "{seen}");
    let events: String = format!("{seen}{rest}")
        .split_inclusive("\n\n")
        .filter(|event| !event.starts_with(':'))
        .collect();
    let events = named_events(&events);
    assert_eq!(events[0].0, "response.created");
    assert_numbered(&events);
}

#[tokio::test]
async fn an_upstream_keepalive_is_no_output_so_a_failure_after_it_still_falls_back() {
    let (a, b, gateway) = falling_back("gpt-5", "responses = \"native\"\n").await;
    // OpenAI's opening and a keepalive while the model thinks, then the stream breaks off.
    let opening: String = native_stream().split_inclusive("\n\n").take(2).collect();
    let keepalive = event(
        "keepalive",
        &json!({"type": "keepalive", "sequence_number": 2}),
    );
    a.push(Reply::sse(format!("{opening}{keepalive}")));
    b.push(Reply::sse(native_stream()));
    let response = post(
        &gateway,
        &json!({"model": "coder", "input": "hi", "stream": true}),
    )
    .await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-switchyard-target"], "second/gpt-5");
    let events = named_events(&response.text().await.unwrap());
    assert_eq!(names(&events), names(&named_events(&native_stream())));
    assert_numbered(&events);
}

#[tokio::test]
async fn a_client_that_leaves_a_translated_stream_cancels_the_upstream() {
    let (upstream, gateway) = gateway_with_upstream(KEYS).await;
    upstream.push(Reply::stuck_after(opening(&["Hel"])));
    let response = post(&gateway, &codex_turn("up/gpt-4o", true)).await;
    let mut body = response.bytes_stream();
    read_until(&mut body, "output_text.delta").await;
    drop(body);
    assert!(upstream.wait_abandoned(Duration::from_secs(5)).await);
}

#[tokio::test]
async fn claudes_signed_thinking_comes_back_to_it_through_the_client_on_the_next_turn() {
    use common::fixtures::anthropic;
    let (claude, gateway) = gateway_for(&ANTHROPIC, KEYS).await;
    claude.push(Reply::json(anthropic::THINKING));
    let first = codex_turn("claude/claude-sonnet-4-5", false);
    let answer: Value = post(&gateway, &first).await.json().await.unwrap();
    let output = answer["output"].as_array().unwrap().clone();
    let kinds: Vec<&str> = output.iter().map(|i| i["type"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["reasoning", "message", "function_call"], "{answer}");
    assert!(output[0]["encrypted_content"].is_string(), "{answer}");
    let thinking: Value =
        serde_json::from_str::<Value>(anthropic::THINKING).unwrap()["content"][0].clone();
    assert_eq!(output[0]["summary"][0]["text"], thinking["thinking"]);

    // Codex's next turn: the history as it got it, and the call's result.
    let mut next = first.clone();
    let mut input = first["input"].as_array().unwrap().clone();
    input.extend(output.iter().cloned());
    input.push(
        json!({"type": "function_call_output", "call_id": output[2]["call_id"], "output": "18C"}),
    );
    next["input"] = Value::Array(input);
    claude.push(Reply::json(anthropic::TEXT));
    let response = post(&gateway, &next).await;
    assert_eq!(response.status(), 200);
    let sent = claude.last_request().json();
    let turns = sent["messages"].as_array().unwrap();
    let last_assistant = turns
        .iter()
        .rev()
        .find(|t| t["role"] == "assistant")
        .unwrap();
    assert_eq!(
        last_assistant["content"][0],
        json!({"type": "thinking", "thinking": thinking["thinking"], "signature": thinking["signature"]}),
        "{sent}"
    );
    assert_eq!(last_assistant["content"][2]["type"], "tool_use", "{sent}");

    // Streamed, the signature reaches the reasoning item Codex keeps from `output_item.done`.
    claude.push(Reply::sse(anthropic::THINKING_STREAM));
    let body = post(&gateway, &codex_turn("claude/claude-sonnet-4-5", true))
        .await
        .text()
        .await
        .unwrap();
    let events = named_events(&body);
    let reasoning = events
        .iter()
        .find(|(name, data)| {
            name == "response.output_item.done" && data["item"]["type"] == "reasoning"
        })
        .map(|(_, data)| &data["item"])
        .unwrap_or_else(|| panic!("no reasoning item: {body}"));
    assert!(reasoning["encrypted_content"].is_string(), "{reasoning}");
}

#[tokio::test]
async fn a_translated_stream_whose_target_reports_no_usage_is_charged_the_estimate() {
    use common::fixtures::openai;
    let (upstream, gateway) = gateway_with_upstream(KEYS).await;
    let remaining =
        |response: &reqwest::Response| header_number(response, "x-ratelimit-remaining-tokens");
    // A server that ignores `stream_options.include_usage`: its stream has no usage chunk.
    upstream.push(Reply::sse(format!("{}{DONE}", openai::TOOL_STREAM)));
    let streamed = post(&gateway, &codex_turn("up/gpt-4o", true)).await;
    let before = remaining(&streamed);
    let events = named_events(&streamed.text().await.unwrap());
    let completed = &events.last().unwrap().1["response"];
    assert_eq!(
        completed["usage"],
        Value::Null,
        "no usage is none, not zeros"
    );

    // The same through the Messages surface.
    upstream.push(Reply::sse(format!("{}{DONE}", openai::TOOL_STREAM)));
    let messages = gateway
        .post_json(
            "/v1/messages",
            Some("codex-key"),
            &json!({"model": "up/gpt-4o", "max_tokens": 64, "stream": true,
                    "messages": [{"role": "user", "content": "weather?"}]}),
        )
        .await;
    let between = remaining(&messages);
    messages.text().await.unwrap();

    upstream.push(Reply::json(completion_json("fine")));
    let after = remaining(&post(&gateway, &codex_turn("up/gpt-4o", false)).await);
    assert!(before > between, "the Responses stream was charged nothing");
    assert!(between > after, "the Messages stream was charged nothing");
}
