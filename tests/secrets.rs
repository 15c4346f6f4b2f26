//! No upstream key ever appears in an error body, a response header or a log line.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;

/// Collects everything the gateway logs during a test on this thread.
#[derive(Clone, Default)]
struct LogBuffer(Arc<Mutex<Vec<u8>>>);

impl Write for LogBuffer {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn no_upstream_key_in_errors_headers_or_logs() {
    let logs = LogBuffer::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .finish();
    // The only test in this binary, so a global subscriber sees every line the gateway logs.
    tracing::subscriber::set_global_default(subscriber).unwrap();

    let (upstream, gateway) = gateway_with_upstream("").await;
    let key = "sk-upstream-secret-up";
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
        let response = gateway.chat_json(&request).send().await.unwrap();
        let headers = format!("{:?}", response.headers());
        let body = response.text().await.unwrap();
        assert!(!headers.contains(key), "key in headers: {headers}");
        assert!(!body.contains(key), "key in body: {body}");
        assert!(
            body.contains("[redacted]"),
            "the redaction is visible: {body}"
        );
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    let logged = String::from_utf8_lossy(&logs.0.lock().unwrap()).to_string();
    assert!(
        logged.contains("chat completion"),
        "the request lines were captured: {logged}"
    );
    assert!(!logged.contains(key), "key in logs: {logged}");
}
