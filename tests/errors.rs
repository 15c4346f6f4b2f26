//! Every error path answers in the OpenAI error shape with the right status, and no secret leaks.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::*;
use futures_util::StreamExt;
use serde_json::{Value, json};

#[tokio::test]
async fn bad_requests_are_400_naming_the_param() {
    let (upstream, gateway) = gateway_with_upstream("").await;
    let cases: [(&str, Value); 7] = [
        ("{not json", Value::Null),
        ("[1,2,3]", Value::Null),
        (
            r#"{"messages":[{"role":"user","content":"x"}]}"#,
            json!("model"),
        ),
        (
            r#"{"model":["a"],"messages":[{"role":"user","content":"x"}]}"#,
            json!("model"),
        ),
        (r#"{"model":"up/m"}"#, json!("messages")),
        (r#"{"model":"up/m","messages":[]}"#, json!("messages")),
        (
            r#"{"model":"up/m","messages":[{"role":"user","content":"x"}],"stream":"yes"}"#,
            json!("stream"),
        ),
    ];
    for (body, param) in cases {
        let error = error_of(gateway.chat(body).send().await.unwrap(), 400).await;
        assert_eq!(error["param"], param, "for {body}");
        assert_eq!(error["type"], "invalid_request_error");
    }
    let error = error_of(
        gateway
            .chat(r#"{"model":"up/m","messages":[{"role":"user","content":"x"},{"role":"wizard","content":"x"}]}"#)
            .send()
            .await
            .unwrap(),
        400,
    )
    .await;
    assert_eq!(error["param"], "messages[1].role");
    assert!(
        upstream.requests().is_empty(),
        "nothing invalid reaches the upstream"
    );
    // The server keeps serving after all that.
    gateway.whole(&user("echo/x", "still here")).await;
}

#[tokio::test]
async fn an_oversized_body_is_413() {
    let (_upstream, gateway) = gateway_with_upstream("[server]\nbody_limit = \"1KiB\"\n").await;
    let big = "x".repeat(2048);
    let error = error_of(gateway.send(&user("echo/x", &big)).await, 413).await;
    assert_eq!(error["code"], "request_too_large");
    // Without a content-length (chunked), the limit still holds.
    let chunks =
        futures_util::stream::iter((0..4).map(|_| Ok::<_, std::io::Error>(vec![b' '; 512])));
    let response = gateway
        .chat(reqwest::Body::wrap_stream(chunks))
        .send()
        .await
        .unwrap();
    error_of(response, 413).await;
    gateway.whole(&user("echo/x", "small")).await;
}

#[tokio::test]
async fn unknown_models_are_404_model_not_found_listing_providers() {
    let (_upstream, gateway) = gateway_with_upstream("").await;
    for model in ["nope/gpt-4o", "no-such-alias"] {
        let error = error_of(gateway.send(&user(model, "x")).await, 404).await;
        assert_eq!(error["code"], "model_not_found");
        assert_says(&error, &["echo", "up"]);
    }
}

#[tokio::test]
async fn upstream_client_errors_pass_through_with_their_message() {
    let (upstream, gateway) = gateway_with_upstream("").await;
    for status in [400u16, 401, 403, 404, 409, 422, 429] {
        let body = json!({"error": {"message": format!("upstream said {status}"), "type": "some_type", "param": "temperature", "code": "some_code"}});
        let mut reply = Reply::status(status, body.to_string());
        if status == 429 {
            reply = reply.header("retry-after", "7");
        }
        upstream.push(reply);
        let response = gateway.send(&user("up/m", "x")).await;
        let retry_after = response.headers().get("retry-after").cloned();
        let error = error_of(response, status).await;
        assert_eq!(error["message"], format!("upstream said {status}"));
        assert_eq!(error["type"], "some_type");
        assert_eq!(error["param"], "temperature");
        assert_eq!(error["code"], "some_code");
        if status == 429 {
            assert_eq!(retry_after.unwrap(), "7");
        }
    }
}

#[tokio::test]
async fn upstream_errors_before_a_stream_starts_keep_their_status() {
    let (upstream, gateway) = gateway_with_upstream("").await;
    upstream.push(Reply::status(
        429,
        r#"{"error":{"message":"slow down","type":"requests","code":"rate_limit_exceeded"}}"#,
    ));
    let error = error_of(gateway.send(&user_stream("up/m", "x")).await, 429).await;
    assert_eq!(error["code"], "rate_limit_exceeded");
}

#[tokio::test]
async fn upstream_failures_are_502_and_timeouts_504_naming_the_provider() {
    let (upstream, gateway) = gateway_with_upstream("first_byte_timeout = \"300ms\"\n").await;
    upstream.push(Reply::status(500, "<html>Internal Server Error</html>"));
    upstream.push(Reply::status(503, r#"{"error":{"message":"overloaded"}}"#));
    for expected in ["Internal Server Error", "overloaded"] {
        let error = error_of(gateway.send(&user("up/m", "x")).await, 502).await;
        assert_says(&error, &["'up'", expected]);
        assert_eq!(error["code"], "upstream_error");
    }
    upstream.push(Reply::Silent);
    let error = error_of(gateway.send(&user("up/m", "x")).await, 504).await;
    assert!(message(&error).contains("'up'"));
    assert_eq!(error["code"], "upstream_timeout");
    upstream.push(Reply::status(408, "request timeout"));
    let error = error_of(gateway.send(&user("up/m", "x")).await, 504).await;
    assert_eq!(error["code"], "upstream_timeout");
    upstream.push(Reply::json("this is not json"));
    error_of(gateway.send(&user("up/m", "x")).await, 502).await;
}

#[tokio::test]
async fn a_refused_connection_is_502() {
    let port = process::free_port();
    let gateway = gateway(&format!(
        "[providers.gone]\nkind = \"openai\"\nbase_url = \"http://127.0.0.1:{port}/v1\"\n"
    ))
    .await;
    let error = error_of(gateway.send(&user("gone/m", "x")).await, 502).await;
    assert_says(&error, &["'gone'", "could not connect"]);
}

#[tokio::test]
async fn gateway_keys_guard_the_api_but_not_health() {
    let gateway = gateway("[auth]\nkeys = [\"k-one\", \"k-two\"]\n").await;
    let request = user("echo/x", "x");
    let error = error_of(gateway.send(&request).await, 401).await;
    assert_eq!(error["code"], "invalid_api_key");
    error_of(gateway.send_as("k-three", &request).await, 401).await;
    assert_eq!(gateway.send_as("k-two", &request).await.status(), 200);
    let models = gateway.get("/v1/models").send().await.unwrap();
    assert_eq!(models.status(), 401);
    let health = gateway.get("/health").send().await.unwrap();
    assert_eq!(health.status(), 200);
}

#[tokio::test]
async fn unknown_routes_and_methods_answer_in_the_error_shape() {
    let gateway = gateway("").await;
    let error = error_of(gateway.get("/v1/nothing").send().await.unwrap(), 404).await;
    assert!(message(&error).contains("/v1/nothing"));
    assert!(!message(&error).contains("keeps no responses"));
    // The Responses API's stateful companions: not served, and the answer says why.
    for path in ["/v1/responses/resp_1", "/v1/responses/resp_1/input_items"] {
        let error = error_of(gateway.get(path).send().await.unwrap(), 404).await;
        assert_eq!(error["type"], "invalid_request_error", "{error}");
        assert_says(&error, &[path, "keeps no responses"]);
    }
    let compact = gateway
        .http
        .post(format!("{}/v1/responses/compact", gateway.url))
        .json(&serde_json::json!({"model": "echo/x", "input": []}))
        .send()
        .await
        .unwrap();
    assert_says(&error_of(compact, 404).await, &["keeps no responses"]);
    let response = gateway.get("/v1/chat/completions").send().await.unwrap();
    assert_eq!(response.status(), 405);
    let body: Value = response.json().await.unwrap();
    assert!(body["error"]["message"].is_string());
}

#[tokio::test]
async fn a_whole_body_that_stalls_is_504() {
    let (upstream, gateway) = gateway_with_upstream("idle_timeout = \"300ms\"\n").await;
    upstream.push(Reply::Sse {
        steps: vec![Step::send("{\"id\":"), Step::Sleep(Duration::from_secs(30))],
        end: End::Close,
    });
    let error = error_of(gateway.send(&user("up/m", "x")).await, 504).await;
    assert!(message(&error).contains("stalled"), "{error}");
}

#[tokio::test]
async fn leaving_while_a_whole_answer_is_pending_cancels_the_upstream_request() {
    let (upstream, gateway) = gateway_with_upstream("").await;
    upstream.push(Reply::Silent);
    let attempt =
        tokio::time::timeout(Duration::from_millis(300), gateway.send(&user("up/m", "x"))).await;
    assert!(attempt.is_err());
    assert!(
        upstream.wait_abandoned(Duration::from_secs(1)).await,
        "the upstream request outlived the client"
    );
}

#[tokio::test]
async fn a_body_that_never_finishes_arriving_is_408() {
    let gateway = gateway("[server]\nbody_timeout = \"200ms\"\n").await;
    let first = futures_util::stream::iter([Ok::<_, std::io::Error>(b"{\"model\":".to_vec())]);
    let body = first.chain(futures_util::stream::pending());
    let response = gateway
        .chat(reqwest::Body::wrap_stream(body))
        .send()
        .await
        .unwrap();
    let error = error_of(response, 408).await;
    assert_eq!(error["code"], "request_timeout");
}
