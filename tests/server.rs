//! Health, readiness, the model list, request ids, HTTP/1.1 and HTTP/2 on one port, and
//! graceful shutdown.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::*;
use futures_util::StreamExt;
use serde_json::Value;

#[tokio::test]
async fn health_and_ready() {
    let gateway = gateway("").await;
    let health = gateway.get("/health").send().await.unwrap();
    assert_eq!(health.status(), 200);
    assert_eq!(health.json::<Value>().await.unwrap()["status"], "ok");
    let ready = gateway.get("/ready").send().await.unwrap();
    assert_eq!(ready.status(), 200);
    assert_eq!(ready.json::<Value>().await.unwrap()["status"], "ready");
    gateway.start_draining();
    let ready = gateway.get("/ready").send().await.unwrap();
    assert_eq!(ready.status(), 503);
}

#[tokio::test]
async fn models_lists_aliases_and_known_keys() {
    let (_upstream, gateway) = gateway_with_upstream(
        "models = [\"gpt-4.1\"]\n[models.smart]\ntargets = [\"up/gpt-4o\", \"echo/x\"]\n",
    )
    .await;
    let list: Value = gateway
        .get("/v1/models")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["object"], "list");
    let ids: Vec<&str> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    for expected in ["smart", "up/gpt-4o", "up/gpt-4.1", "echo/x", "echo/echo"] {
        assert!(ids.contains(&expected), "{expected} missing from {ids:?}");
    }
    assert!(
        list["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m["object"] == "model" && m["owned_by"].is_string())
    );
}

#[tokio::test]
async fn request_ids_are_kept_or_made() {
    let gateway = gateway("").await;
    let response = gateway
        .send_with(&user("echo/x", "hi"), &[("x-request-id", "req-123")])
        .await;
    assert_eq!(response.headers()["x-request-id"], "req-123");
    let response = gateway.send(&user("nope/x", "hi")).await;
    let id = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(id.len(), 36, "a generated uuid: {id}");
}

#[tokio::test]
async fn http2_with_prior_knowledge_and_http1_are_served_on_the_same_port() {
    let gateway = gateway("").await;
    let h2 = reqwest::Client::builder()
        .http2_prior_knowledge()
        .build()
        .unwrap();
    let chat = format!("{}/v1/chat/completions", gateway.url);
    let whole = h2
        .post(&chat)
        .json(&user("echo/x", "over h2"))
        .send()
        .await
        .unwrap();
    assert_eq!(whole.version(), reqwest::Version::HTTP_2);
    assert_eq!(whole.status(), 200);
    let answer: Value = whole.json().await.unwrap();
    assert!(
        answer["choices"][0]["message"]["content"]
            .as_str()
            .unwrap()
            .contains("over h2"),
        "{answer}"
    );
    let stream = h2
        .post(&chat)
        .json(&user_stream("echo/x", "streamed"))
        .send()
        .await
        .unwrap();
    assert_eq!(stream.version(), reqwest::Version::HTTP_2);
    let text = stream.text().await.unwrap();
    assert!(
        text.contains("streamed") && text.ends_with("data: [DONE]\n\n"),
        "{text}"
    );

    let h1 = gateway.send(&user("echo/x", "over h1")).await;
    assert_eq!(h1.version(), reqwest::Version::HTTP_11);
    assert_eq!(h1.status(), 200);
    // A client that opens with a method beginning like the preface is still HTTP/1.1.
    let put = reqwest::Client::new().put(&chat).send().await.unwrap();
    assert_eq!(put.version(), reqwest::Version::HTTP_11);
    assert_eq!(put.status(), 405);
}

#[tokio::test]
async fn a_request_whose_first_byte_comes_alone_is_still_served() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let gateway = gateway("").await;
    let body = user("echo/x", "one byte first").to_string();
    let request = format!(
        "POST /v1/chat/completions HTTP/1.1\r\nhost: gateway\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let address = gateway.url.trim_start_matches("http://").to_owned();
    let mut tcp = tokio::net::TcpStream::connect(&address).await.unwrap();
    tcp.set_nodelay(true).unwrap();
    // "P" could begin POST or HTTP/2's preface: the gateway cannot tell yet.
    tcp.write_all(&request.as_bytes()[..1]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    tcp.write_all(&request.as_bytes()[1..]).await.unwrap();
    let mut answer = String::new();
    tcp.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains("one byte first"), "{answer}");
}

#[tokio::test]
async fn a_connection_that_has_sent_nothing_does_not_hold_up_shutdown() {
    // Long enough that waiting for either would fail the bound below.
    let toml = "[server]\nheader_read_timeout = \"60s\"\nshutdown_grace = \"60s\"\n";
    let (gateway, mut shutdown) = stoppable_gateway(toml).await;
    let address = gateway.url.trim_start_matches("http://").to_owned();
    let silent = tokio::net::TcpStream::connect(&address).await.unwrap();
    // The gateway has accepted it and waits for its first bytes.
    tokio::time::sleep(Duration::from_millis(50)).await;
    shutdown.begin();
    assert!(
        shutdown.returned_within(Duration::from_secs(10)).await,
        "the server waited on a connection that never sent a byte"
    );
    drop(silent);
}

#[tokio::test]
async fn shutdown_stops_accepting_and_lets_streams_finish() {
    let upstream = FakeUpstream::start().await;
    let (gateway, mut shutdown) = stoppable_gateway(&upstream.provider_toml("up")).await;

    upstream.push(Reply::held(&["before"], &[" after"]));
    let response = gateway.send(&user_stream("up/m", "hi")).await;
    let mut body = response.bytes_stream();
    read_until(&mut body, "before").await;

    shutdown.begin();
    // Wait (bounded) for the drain to begin, then check new work is refused.
    for _ in 0..100 {
        if gateway.is_draining() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(gateway.is_draining());
    // A client of its own: the gateway's keeps the stream's connection, which is not new.
    let fresh = reqwest::Client::new()
        .get(format!("{}/health", gateway.url))
        .send()
        .await;
    assert!(
        fresh.is_err(),
        "a new connection was accepted during shutdown"
    );

    upstream.release();
    let rest = read_until(&mut body, "[DONE]").await;
    assert!(
        rest.contains("after"),
        "the in-flight stream finished: {rest}"
    );
    assert!(
        shutdown.returned_within(Duration::from_secs(10)).await,
        "the server exits once the stream is done"
    );
}

#[tokio::test]
async fn the_server_returns_when_the_grace_period_ends() {
    let upstream = FakeUpstream::start().await;
    let toml = format!(
        "[server]\nshutdown_grace = \"200ms\"\n{}",
        upstream.provider_toml("up")
    );
    let (gateway, mut shutdown) = stoppable_gateway(&toml).await;
    upstream.push(Reply::stuck_after(opening(&["forever"])));
    let response = gateway.send(&user_stream("up/m", "hi")).await;
    let mut body = response.bytes_stream();
    read_until(&mut body, "forever").await;
    shutdown.begin();
    // The stream outliving the grace period ends as a failed stream does: an error event, no
    // [DONE], and a body that closes properly (no transport error).
    let rest = tokio::time::timeout(Duration::from_secs(10), async {
        let mut rest = String::new();
        while let Some(piece) = body.next().await {
            rest.push_str(&String::from_utf8_lossy(&piece.expect("a clean end")));
        }
        rest
    })
    .await
    .expect("the stream ended");
    let events = SseBody::parse(rest.clone());
    assert_eq!(events.error()["code"], "shutting_down", "{rest}");
    assert!(!rest.contains("[DONE]"), "{rest}");
    assert!(
        shutdown.returned_within(Duration::from_secs(10)).await,
        "run() returns when the grace period is over"
    );
}

#[tokio::test]
async fn ready_answers_503_through_the_ready_delay_while_requests_are_still_served() {
    let (gateway, mut shutdown) =
        stoppable_gateway("[server]\nshutdown_ready_delay = \"700ms\"\n").await;
    let url = &gateway.url;
    // One kept-alive connection, as a load balancer's health checker holds.
    let checker = reqwest::Client::builder()
        .pool_max_idle_per_host(1)
        .build()
        .unwrap();
    let ready = checker.get(format!("{url}/ready")).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    shutdown.begin();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let ready = checker.get(format!("{url}/ready")).send().await.unwrap();
    assert_eq!(ready.status(), 503, "seen over the kept-alive connection");
    // New connections are still accepted and served during the delay.
    let served = reqwest::Client::new()
        .post(format!("{url}/v1/chat/completions"))
        .body(user("echo/x", "still here").to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(served.status(), 200);
    assert!(
        shutdown.returned_within(Duration::from_secs(10)).await,
        "run() returns after the delay"
    );
    let fresh = reqwest::Client::new()
        .get(format!("{url}/ready"))
        .send()
        .await;
    assert!(fresh.is_err(), "the listener is closed after the delay");
}

#[tokio::test]
async fn every_answer_says_the_gateways_own_overhead_without_upstream_waiting() {
    let (upstream, gateway) = gateway_with_upstream("").await;
    upstream.push(Reply::after(
        Duration::from_millis(500),
        completion_json("slow upstream"),
    ));
    let started = std::time::Instant::now();
    let response = gateway.send(&user("up/m", "hi")).await;
    let took = started.elapsed();
    let overhead: f64 = response.headers()["x-switchyard-overhead-ms"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(took >= Duration::from_millis(500));
    assert!(
        (0.0..400.0).contains(&overhead),
        "the 500 ms upstream wait is not overhead: {overhead}"
    );
    // Streams and errors say it too.
    let stream = gateway.send(&user_stream("echo/x", "hi")).await;
    assert!(stream.headers().contains_key("x-switchyard-overhead-ms"));
    let error = gateway.send(&user("nope/x", "hi")).await;
    assert!(error.headers().contains_key("x-switchyard-overhead-ms"));
}
