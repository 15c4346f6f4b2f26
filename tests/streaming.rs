//! Stream relay behaviour: as-it-arrives, hold-back before commit, failures, cancellation.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::*;
use serde_json::Value;

fn send(text: String) -> Step {
    Step::Send(Bytes::from(text))
}

#[tokio::test]
async fn chunks_reach_the_client_while_the_upstream_is_still_sending() {
    let (upstream, gateway) = gateway_with_upstream("").await;
    upstream.push(Reply::Sse {
        steps: vec![
            send(content_chunk(None)),
            send(content_chunk(Some("first"))),
            Step::Wait,
            send(content_chunk(Some(" second"))),
            send(finish_chunk("stop")),
        ],
        end: End::Close,
    });
    let response = gateway
        .chat_json(&user_stream("up/m", "hi"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let mut body = response.bytes_stream();
    // The upstream is parked at Wait: "first" can only arrive if it was relayed before the end.
    read_until(&mut body, "first").await;
    upstream.release();
    let rest = read_until(&mut body, "[DONE]").await;
    assert!(rest.contains("second"));
}

#[tokio::test]
async fn an_upstream_failure_before_any_output_is_an_http_error() {
    let (upstream, gateway) = gateway_with_upstream("").await;
    let error = r#"{"error":{"message":"model overloaded","type":"server_error","param":null,"code":null}}"#;
    upstream.push(Reply::sse(format!(
        "{}{}",
        content_chunk(None),
        data(error)
    )));
    let response = gateway
        .chat_json(&user_stream("up/m", "hi"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        502,
        "the role chunk was held back, so a real status is still possible"
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "upstream_error");
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("'up'") && message.contains("model overloaded"),
        "{message}"
    );
}

#[tokio::test]
async fn a_stream_cut_before_any_output_is_an_http_error() {
    let (upstream, gateway) = gateway_with_upstream("").await;
    upstream.push(Reply::sse(content_chunk(None)));
    let response = gateway
        .chat_json(&user_stream("up/m", "hi"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 502);
}

#[tokio::test]
async fn hold_back_is_bounded_then_keep_alives_flow() {
    let (upstream, gateway) =
        gateway_with_upstream("[server]\nstream_hold_back = \"100ms\"\nkeep_alive = \"100ms\"\n")
            .await;
    upstream.push(Reply::Sse {
        steps: vec![
            send(content_chunk(None)),
            Step::Wait,
            send(content_chunk(Some("late"))),
            send(finish_chunk("stop")),
        ],
        end: End::Close,
    });
    let response = tokio::time::timeout(
        Duration::from_secs(10),
        gateway.chat_json(&user_stream("up/m", "hi")).send(),
    )
    .await
    .expect("the 200 is committed although the upstream is still thinking")
    .unwrap();
    assert_eq!(response.status(), 200);
    let mut body = response.bytes_stream();
    let seen = read_until(&mut body, ": keep-alive").await;
    assert!(
        seen.contains(r#""role":"assistant""#),
        "the held role chunk is sent at commit: {seen}"
    );
    upstream.release();
    let rest = read_until(&mut body, "[DONE]").await;
    assert!(rest.contains("late"));
}

#[tokio::test]
async fn a_failure_after_output_is_one_error_event_and_no_done() {
    let (upstream, gateway) = gateway_with_upstream("").await;
    let error = r#"{"error":{"message":"The server had an error","type":"server_error","param":null,"code":null}}"#;
    upstream.push(Reply::sse(format!(
        "{}{}{}",
        content_chunk(None),
        content_chunk(Some("Partial")),
        data(error)
    )));
    let response = gateway
        .chat_json(&user_stream("up/m", "hi"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body = read_sse(response).await;
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
            .unwrap_or_default()
            .contains("The server had an error")
    );
    assert!(
        !body.raw.contains(r#""finish_reason":"stop""#),
        "no made-up finish: {}",
        body.raw
    );
    assert_eq!(body.text(), "Partial");
}

#[tokio::test]
async fn a_stream_cut_after_output_ends_with_an_error_event() {
    let (upstream, gateway) = gateway_with_upstream("").await;
    upstream.push(Reply::sse(format!(
        "{}{}",
        content_chunk(None),
        content_chunk(Some("Half"))
    )));
    let body = read_sse(
        gateway
            .chat_json(&user_stream("up/m", "hi"))
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
            .unwrap_or_default()
            .contains("ended before the answer was complete")
    );
}

#[tokio::test]
async fn a_silent_upstream_mid_stream_hits_the_idle_deadline() {
    let (upstream, gateway) = gateway_with_upstream("idle_timeout = \"300ms\"\n").await;
    upstream.push(Reply::Sse {
        steps: vec![
            send(content_chunk(None)),
            send(content_chunk(Some("Hi"))),
            Step::Sleep(Duration::from_secs(30)),
        ],
        end: End::Close,
    });
    let response = gateway
        .chat_json(&user_stream("up/m", "hi"))
        .send()
        .await
        .unwrap();
    let body = tokio::time::timeout(Duration::from_secs(10), read_sse(response))
        .await
        .expect("no hang");
    let last: Value = serde_json::from_str(body.data.last().unwrap()).unwrap();
    assert_eq!(last["error"]["code"], "upstream_timeout");
    assert_eq!(body.done_count(), 0);
}

#[tokio::test]
async fn the_client_leaving_cancels_the_upstream_request() {
    let (upstream, gateway) = gateway_with_upstream("").await;
    upstream.push(Reply::Sse {
        steps: vec![
            send(content_chunk(None)),
            send(content_chunk(Some("tick"))),
            Step::Wait,
        ],
        end: End::Hang,
    });
    let response = gateway
        .chat_json(&user_stream("up/m", "hi"))
        .send()
        .await
        .unwrap();
    let mut body = response.bytes_stream();
    read_until(&mut body, "tick").await;
    assert_eq!(upstream.abandoned(), 0);
    let left = std::time::Instant::now();
    drop(body);
    let closed = upstream.wait_abandoned(Duration::from_secs(1)).await;
    assert!(
        closed,
        "the upstream connection was still open {:?} after the client left",
        left.elapsed()
    );
}

#[tokio::test]
async fn many_streams_at_once_each_arrive_whole() {
    let (upstream, gateway) = gateway_with_upstream("").await;
    let words: Vec<String> = (0..20).map(|i| format!("w{i} ")).collect();
    let mut stream = content_chunk(None);
    for word in &words {
        stream.push_str(&content_chunk(Some(word)));
    }
    stream.push_str(&finish_chunk("stop"));
    stream.push_str("data: [DONE]\n\n");
    upstream.always(Reply::sse(stream));
    let requests = (0..50).map(|_| {
        let request = gateway.chat_json(&user_stream("up/m", "hi"));
        async move { read_sse(request.send().await.unwrap()).await }
    });
    let bodies = futures_util::future::join_all(requests).await;
    let expected: String = words.concat();
    for body in bodies {
        assert_eq!(body.text(), expected);
        assert_eq!(body.done_count(), 1);
    }
}

#[tokio::test]
async fn comments_alone_do_not_keep_a_stream_alive() {
    let (upstream, gateway) = gateway_with_upstream("idle_timeout = \"300ms\"\n").await;
    // Step::Wait sends `: waiting` comments every 50 ms and never an event.
    upstream.push(Reply::Sse {
        steps: vec![
            send(content_chunk(None)),
            send(content_chunk(Some("Hi"))),
            Step::Wait,
        ],
        end: End::Close,
    });
    let response = gateway
        .chat_json(&user_stream("up/m", "hi"))
        .send()
        .await
        .unwrap();
    let body = tokio::time::timeout(Duration::from_secs(10), read_sse(response))
        .await
        .expect("no hang");
    let last: Value = serde_json::from_str(body.data.last().unwrap()).unwrap();
    assert_eq!(last["error"]["code"], "upstream_timeout");
}

#[tokio::test]
async fn leaving_during_the_hold_back_cancels_the_upstream_request() {
    let (upstream, gateway) = gateway_with_upstream("").await;
    upstream.push(Reply::Sse {
        steps: vec![send(content_chunk(None)), Step::Wait],
        end: End::Hang,
    });
    // The role chunk is held back (default 10 s), so no response head arrives; give up early.
    let attempt = tokio::time::timeout(
        Duration::from_millis(300),
        gateway.chat_json(&user_stream("up/m", "hi")).send(),
    )
    .await;
    assert!(attempt.is_err(), "the preamble was held back");
    let left = std::time::Instant::now();
    assert!(
        upstream.wait_abandoned(Duration::from_secs(1)).await,
        "the upstream connection was still open {:?} after the client left",
        left.elapsed()
    );
}
