//! Stream relay behaviour: as-it-arrives, hold-back before commit, failures, cancellation.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::*;

fn ask() -> serde_json::Value {
    user_stream("up/m", "hi")
}

#[tokio::test]
async fn chunks_reach_the_client_while_the_upstream_is_still_sending() {
    let (upstream, gateway) = gateway_with_upstream("").await;
    upstream.push(Reply::held(&["first"], &[" second"]));
    let response = gateway.send(&ask()).await;
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
    let response = gateway.send(&ask()).await;
    assert_eq!(
        response.status(),
        502,
        "the role chunk was held back, so a real status is still possible"
    );
    let error = error_of(response, 502).await;
    assert_eq!(error["code"], "upstream_error");
    assert_says(&error, &["'up'", "model overloaded"]);
}

#[tokio::test]
async fn a_stream_cut_before_any_output_is_an_http_error() {
    let (upstream, gateway) = gateway_with_upstream("").await;
    upstream.push(Reply::sse(content_chunk(None)));
    let response = gateway.send(&ask()).await;
    assert_eq!(response.status(), 502);
}

#[tokio::test]
async fn hold_back_is_bounded_then_keep_alives_flow() {
    let (upstream, gateway) =
        gateway_with_upstream("[server]\nstream_hold_back = \"100ms\"\nkeep_alive = \"100ms\"\n")
            .await;
    upstream.push(Reply::held(&[], &["late"]));
    let response = tokio::time::timeout(Duration::from_secs(10), gateway.send(&ask()))
        .await
        .expect("the 200 is committed although the upstream is still thinking");
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
        "{}{}",
        opening(&["Partial"]).concat(),
        data(error)
    )));
    let response = gateway.send(&ask()).await;
    assert_eq!(response.status(), 200);
    let body = read_sse(response).await;
    assert_eq!(
        body.done_count(),
        0,
        "a failed stream must not look complete"
    );
    let error = body.error();
    assert_eq!(error["code"], "upstream_error");
    assert!(message(&error).contains("The server had an error"));
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
    upstream.push(Reply::sse(opening(&["Half"]).concat()));
    let body = gateway.sse(&ask()).await;
    assert_eq!(body.done_count(), 0);
    assert!(message(&body.error()).contains("ended before the answer was complete"));
}

#[tokio::test]
async fn a_silent_upstream_mid_stream_hits_the_idle_deadline() {
    let (upstream, gateway) = gateway_with_upstream("idle_timeout = \"300ms\"\n").await;
    upstream.push(Reply::opening_then(
        &["Hi"],
        [Step::Sleep(Duration::from_secs(30))],
        End::Close,
    ));
    let body = tokio::time::timeout(Duration::from_secs(10), gateway.sse(&ask()))
        .await
        .expect("no hang");
    assert_eq!(body.error()["code"], "upstream_timeout");
    assert_eq!(body.done_count(), 0);
}

#[tokio::test]
async fn the_client_leaving_cancels_the_upstream_request() {
    let (upstream, gateway) = gateway_with_upstream("").await;
    upstream.push(Reply::stuck_after(opening(&["tick"])));
    let response = gateway.send(&ask()).await;
    assert!(
        upstream.released_when_client_leaves(response, "tick").await,
        "the upstream connection was still open a second after the client left"
    );
}

#[tokio::test]
async fn many_streams_at_once_each_arrive_whole() {
    let (upstream, gateway) = gateway_with_upstream("").await;
    let words: Vec<String> = (0..20).map(|i| format!("w{i} ")).collect();
    let pieces: Vec<&str> = words.iter().map(String::as_str).collect();
    upstream.always(Reply::sse(format!("{}{DONE}", text_stream(&pieces))));
    let request = ask();
    let requests = (0..50).map(|_| gateway.sse(&request));
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
    upstream.push(Reply::opening_then(&["Hi"], [Step::Wait], End::Close));
    let body = tokio::time::timeout(Duration::from_secs(10), gateway.sse(&ask()))
        .await
        .expect("no hang");
    assert_eq!(body.error()["code"], "upstream_timeout");
}

#[tokio::test]
async fn leaving_during_the_hold_back_cancels_the_upstream_request() {
    let (upstream, gateway) = gateway_with_upstream("").await;
    upstream.push(Reply::stuck_after(opening(&[])));
    // The role chunk is held back (default 10 s), so no response head arrives; give up early.
    let attempt = tokio::time::timeout(Duration::from_millis(300), gateway.send(&ask())).await;
    assert!(attempt.is_err(), "the preamble was held back");
    let left = std::time::Instant::now();
    assert!(
        upstream.wait_abandoned(Duration::from_secs(1)).await,
        "the upstream connection was still open {:?} after the client left",
        left.elapsed()
    );
}
