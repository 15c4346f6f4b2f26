//! `POST /v1/responses` toward a provider that serves the Responses API itself: the request and
//! every event go on unchanged but for `model`, unknown fields and event types included; errors
//! before the stream are OpenAI's, after it an `error` event; usage metered; a target that does
//! not serve the API is a clear 400 (translation onto chat is not built yet).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::*;
use serde_json::{Value, json};

const NATIVE: &str = "responses = \"native\"\n[auth]\nkeys = [{ name = \"codex\", key = \"codex-key\", tpm = 10000 }]\n";

async fn post(gateway: &Gateway, body: &Value) -> reqwest::Response {
    gateway
        .http
        .post(format!("{}/v1/responses", gateway.url))
        .bearer_auth("codex-key")
        .json(body)
        .send()
        .await
        .unwrap()
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
fn text_stream() -> String {
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
    upstream.push(Reply::sse(text_stream()));
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
        text_stream().replace("\"gpt-5-2025-08-07\"", "\"up/gpt-5\"")
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
    let cut: String = text_stream().split_inclusive("\n\n").take(4).collect();
    upstream.push(Reply::sse(cut));
    let response = post(
        &gateway,
        &json!({"model": "up/gpt-5", "input": "hi", "stream": true}),
    )
    .await;
    assert_eq!(response.status(), 200);
    let body = response.text().await.unwrap();
    let last = body.trim_end().rsplit("\n\n").next().unwrap();
    assert!(last.starts_with("event: error\ndata: "), "{body}");
    let error: Value =
        serde_json::from_str(last.trim_start_matches("event: error\ndata: ")).unwrap();
    assert_eq!(error["type"], "error");
    assert_eq!(error["sequence_number"], 4, "after the four events relayed");
    assert_eq!(error["code"], "upstream_failed");
    assert!(error["param"].is_null());
    assert!(!body.contains("event: response.completed"));
}

#[tokio::test]
async fn a_client_that_leaves_cancels_the_upstream_stream() {
    let (upstream, gateway) = gateway_with_upstream(NATIVE).await;
    let opening: Vec<String> = text_stream()
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

#[tokio::test]
async fn a_target_that_does_not_serve_the_api_is_refused_clearly_and_errors_are_openais() {
    let (upstream, gateway) =
        gateway_with_upstream("[auth]\nkeys = [{ name = \"codex\", key = \"codex-key\" }]\n").await;
    let refused = post(&gateway, &json!({"model": "up/llama", "input": "hi"})).await;
    assert_eq!(refused.status(), 400);
    let error: Value = refused.json().await.unwrap();
    assert_eq!(error["error"]["type"], "invalid_request_error");
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .contains("does not serve the Responses API itself"),
        "{error}"
    );
    let chained = post(
        &gateway,
        &json!({"model": "up/llama", "input": "more", "previous_response_id": "resp_1"}),
    )
    .await;
    let error: Value = chained.json().await.unwrap();
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .contains("previous_response_id"),
        "{error}"
    );
    let bad = post(&gateway, &json!({"model": "up/llama"})).await;
    assert_eq!(bad.status(), 400);
    assert!(upstream.requests().is_empty());
}
