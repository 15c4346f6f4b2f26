//! Fault injection: a fake upstream that resets, stalls, trickles, and sends oversized or
//! invalid events on command, and fake clients that stall, trickle and vanish. Each case is a
//! way a broken provider or a hostile client once bent the gateway.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use axum::body::Bytes;
use serde_json::Value;

use common::*;

fn send(text: impl Into<String>) -> Step {
    Step::Send(Bytes::from(text.into()))
}

/// The error object of the last event of a stream that failed after its first output.
fn last_error(body: &SseBody) -> Value {
    let last: Value = serde_json::from_str(body.data.last().expect("an event")).unwrap();
    assert!(
        last["error"].is_object(),
        "ends with an error: {}",
        body.raw
    );
    assert_eq!(
        body.done_count(),
        0,
        "no [DONE] after an error: {}",
        body.raw
    );
    last["error"].clone()
}

async fn stream(gateway: &Gateway, model: &str) -> reqwest::Response {
    gateway
        .chat_json(&user_stream(model, "hi"))
        .send()
        .await
        .unwrap()
}

/// An openai-kind and an azure-kind provider in front of one fake upstream.
async fn openai_and_azure() -> (FakeUpstream, Gateway) {
    let upstream = FakeUpstream::start().await;
    let toml = format!(
        "{}[providers.az]\nkind = \"azure\"\nbase_url = \"{}\"\napi_key = \"azure-secret-key-1\"\n",
        upstream.provider_toml("up"),
        upstream.base_url
    );
    let gateway = gateway(&toml).await;
    (upstream, gateway)
}

#[tokio::test]
async fn a_provider_key_echoed_in_a_non_json_event_never_reaches_the_client() {
    let (upstream, gateway) = openai_and_azure().await;
    for (model, key) in [
        ("up/m", "sk-upstream-secret-up"),
        ("az/deployment", "azure-secret-key-1"),
    ] {
        // Before any output: the 502's body.
        upstream.push(Reply::sse(format!(
            "data: proxy echo: Authorization: Bearer {key}\n\n"
        )));
        let response = stream(&gateway, model).await;
        assert_eq!(response.status(), 502, "{model}");
        let body = response.text().await.unwrap();
        assert!(!body.contains(key), "{model}: key in the 502: {body}");
        assert!(body.contains("[redacted]"), "{model}: {body}");

        // After output: the error event.
        upstream.push(Reply::sse(format!(
            "{}{}data: <html>{key}</html>\n\n",
            content_chunk(None),
            content_chunk(Some("Hi"))
        )));
        let body = read_sse(stream(&gateway, model).await).await;
        assert!(
            !body.raw.contains(key),
            "{model}: key in the stream: {}",
            body.raw
        );
        let error = last_error(&body);
        assert!(
            error["message"].as_str().unwrap().contains("[redacted]"),
            "{model}: {error}"
        );

        // A key longer than the quoted preview, cut where the preview ends, leaks no part of it.
        let padding = "x".repeat(100);
        upstream.push(Reply::sse(format!("data: {padding}{key}{key}\n\n")));
        let body = stream(&gateway, model).await.text().await.unwrap();
        assert!(
            !body.contains(&key[..8]),
            "{model}: part of the key: {body}"
        );
    }
}

#[tokio::test]
async fn a_key_echoed_in_a_whole_answer_that_cannot_be_read_is_redacted() {
    let (upstream, gateway) = openai_and_azure().await;
    for (model, key) in [
        ("up/m", "sk-upstream-secret-up"),
        ("az/deployment", "azure-secret-key-1"),
    ] {
        upstream.push(Reply::json(format!("<html>bad gateway for {key}</html>")));
        let response = gateway.chat_json(&user(model, "hi")).send().await.unwrap();
        assert_eq!(response.status(), 502, "{model}");
        let body = response.text().await.unwrap();
        assert!(!body.contains(key), "{model}: {body}");
    }
}

#[tokio::test]
async fn an_event_over_the_size_limit_fails_the_stream_cleanly() {
    let (upstream, gateway) = gateway_with_upstream("max_event_size = \"64KiB\"\n").await;
    let endless = "x".repeat(256 << 10);
    // Before any output: a 502, and the upstream connection is dropped.
    upstream.push(Reply::Sse {
        steps: vec![send(format!("data: {endless}"))],
        end: End::Hang,
    });
    let response = stream(&gateway, "up/m").await;
    assert_eq!(response.status(), 502);
    let body: Value = response.json().await.unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("larger than 65536 bytes"),
        "{body}"
    );
    assert!(upstream.wait_abandoned(Duration::from_secs(5)).await);

    // After output: an error event, no [DONE].
    upstream.push(Reply::Sse {
        steps: vec![
            send(content_chunk(None)),
            send(content_chunk(Some("Hi"))),
            send(format!("data: {endless}")),
        ],
        end: End::Hang,
    });
    let body = read_sse(stream(&gateway, "up/m").await).await;
    assert_eq!(body.text(), "Hi");
    assert_eq!(last_error(&body)["code"], "upstream_error");

    // Events under the limit pass, however many.
    let big = "y".repeat(60 << 10);
    upstream.push(Reply::sse(format!(
        "{}{}{}{}",
        content_chunk(None),
        content_chunk(Some(&big)),
        content_chunk(Some(&big)),
        finish_chunk("stop")
    )));
    let body = read_sse(stream(&gateway, "up/m").await).await;
    assert_eq!(body.text().len(), 2 * big.len());
    assert_eq!(body.done_count(), 1);
}

#[tokio::test]
async fn a_trickling_upstream_is_alive_however_slow_its_bytes() {
    let (upstream, gateway) = gateway_with_upstream("idle_timeout = \"400ms\"\n").await;
    // The last two events take about 2 s to arrive, a byte every 5 ms: never 400 ms without one.
    let mut steps = vec![send(content_chunk(None)), send(content_chunk(Some("Hi")))];
    let last = format!("{}{}", content_chunk(Some(" there")), finish_chunk("stop"));
    for byte in last.into_bytes() {
        steps.push(Step::Sleep(Duration::from_millis(5)));
        steps.push(Step::Send(Bytes::from(vec![byte])));
    }
    upstream.push(Reply::Sse {
        steps,
        end: End::Close,
    });
    let body = read_sse(stream(&gateway, "up/m").await).await;
    assert_eq!(body.text(), "Hi there", "{}", body.raw);
    assert_eq!(body.done_count(), 1);

    // A byte every 500 ms is silence longer than the deadline: the stream fails.
    let mut steps = vec![send(content_chunk(None)), send(content_chunk(Some("Hi")))];
    for byte in b"data: {" {
        steps.push(Step::Sleep(Duration::from_millis(500)));
        steps.push(Step::Send(Bytes::from(vec![*byte])));
    }
    upstream.push(Reply::Sse {
        steps,
        end: End::Hang,
    });
    let body = read_sse(stream(&gateway, "up/m").await).await;
    assert_eq!(last_error(&body)["code"], "upstream_timeout");
}

#[tokio::test]
async fn an_upstream_reset_mid_stream_is_an_error_event() {
    let (upstream, gateway) = gateway_with_upstream("").await;
    upstream.push(Reply::Sse {
        steps: vec![
            send(content_chunk(None)),
            send(content_chunk(Some("Hi"))),
            // Lets the bytes out before the abort, which would otherwise discard them.
            Step::Sleep(Duration::from_millis(100)),
        ],
        end: End::Reset,
    });
    let body = read_sse(stream(&gateway, "up/m").await).await;
    assert_eq!(body.text(), "Hi");
    assert_eq!(last_error(&body)["code"], "upstream_error");
}
