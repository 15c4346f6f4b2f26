//! No upstream key ever appears in an error body, a response header or a log line.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::logs::Logs;
use common::*;

#[tokio::test]
async fn no_upstream_key_in_errors_headers_or_logs() {
    let logs = Logs::capture(tracing::Level::TRACE);

    let (upstream, gateway) = gateway_with_upstream("").await;
    let key = OPENAI.api_key;
    upstream.push(Reply::status(401, format!(r#"{{"error":{{"message":"Incorrect API key provided: {key}","code":"invalid_api_key"}}}}"#)));
    upstream.push(Reply::status(500, format!("internal failure for {key}")));
    upstream.push(Reply::sse(format!(
        "{}{}",
        content_chunk(Some("x")),
        data(&format!(r#"{{"error":{{"message":"bad key {key}"}}}}"#))
    )));
    for request in [
        user("up/m", "x"),
        user("up/m", "x"),
        user_stream("up/m", "x"),
    ] {
        let response = gateway.send(&request).await;
        let headers = format!("{:?}", response.headers());
        let body = response.text().await.unwrap();
        assert!(!headers.contains(key), "key in headers: {headers}");
        assert!(!body.contains(key), "key in body: {body}");
        assert!(
            body.contains("[redacted]"),
            "the redaction is visible: {body}"
        );
    }
    // Requests that never reach a handler's own log line are logged too.
    let response = gateway
        .get("/v1/nothing")
        .header("x-request-id", "req-unknown-route")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    upstream.push(Reply::json(completion_json("fine")));
    let response = gateway
        .send_with(&user("up/m", "x"), &[("x-request-id", "req-chat-1")])
        .await;
    assert_eq!(response.status(), 200);
    tokio::time::sleep(Duration::from_millis(50)).await;
    let logged = logs.text();
    assert!(
        logged.contains("chat completion"),
        "the request lines were captured: {logged}"
    );
    assert!(!logged.contains(key), "key in logs: {logged}");
    let chat = logs.line_with("request_id=req-chat-1");
    for field in [
        "model=up/m",
        "served=\"up/m\"",
        "stream=false",
        "status=200",
        "outcome=\"ok\"",
        "latency_ms=",
        "first_byte_ms=",
    ] {
        assert!(
            chat.contains(field),
            "{field} missing from the chat line: {chat}"
        );
    }
    let other = logs.line_with("request_id=\"req-unknown-route\"");
    for field in ["path=\"/v1/nothing\"", "status=404", "method=GET"] {
        assert!(other.contains(field), "{field} missing from: {other}");
    }

    // A gateway key appears in the log by its name, never as itself.
    let keyed =
        common::gateway("[auth]\nkeys = [{ name = \"ci-bot\", key = \"gw-secret-key-9876\" }]\n")
            .await;
    let response = keyed
        .send_with(
            &user("echo/x", "hi"),
            &[
                ("authorization", "Bearer gw-secret-key-9876"),
                ("x-request-id", "req-keyed"),
            ],
        )
        .await;
    assert_eq!(response.status(), 200);
    tokio::time::sleep(Duration::from_millis(50)).await;
    let keyed_line = logs.line_with("request_id=req-keyed");
    assert!(keyed_line.contains("key=\"ci-bot\""), "{keyed_line}");
    assert!(
        !logs.text().contains("gw-secret-key-9876"),
        "a gateway key in the logs"
    );
}
