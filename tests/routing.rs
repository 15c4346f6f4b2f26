//! Routing over fake upstreams that fail on demand: fallback, retries and backoff, retry-after,
//! non-retryable errors, weights, latency, cooldowns, first-token timeouts, deadlines.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

/// Fast backoff so retries cost milliseconds, not seconds.
const FAST: &str = "[routing]\nbackoff_base = \"1ms\"\nbackoff_max = \"5ms\"\n";

/// Two fake upstreams as providers `a` and `b`, and a gateway with `extra` config.
async fn two(extra: &str) -> (FakeUpstream, FakeUpstream, Gateway) {
    let a = FakeUpstream::start().await;
    let b = FakeUpstream::start().await;
    let toml = format!(
        "{}{}{FAST}{extra}",
        a.provider_toml("a"),
        b.provider_toml("b")
    );
    (a.clone(), b.clone(), gateway(&toml).await)
}

/// `two` with the alias `smart` over `a/m`, then `b/m`; `settings` land in its table.
async fn smart(settings: &str) -> (FakeUpstream, FakeUpstream, Gateway) {
    two(&format!(
        "[models.smart]\ntargets = [\"a/m\", \"b/m\"]\n{settings}"
    ))
    .await
}

fn ask() -> Value {
    user("smart", "hi")
}

fn attempts(response: &reqwest::Response) -> (String, String) {
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default()
    };
    (
        header("x-switchyard-attempts"),
        header("x-switchyard-target"),
    )
}

fn fail(status: u16) -> Reply {
    Reply::status(
        status,
        format!(r#"{{"error":{{"message":"failing with {status}"}}}}"#),
    )
}

#[tokio::test]
async fn fallback_moves_to_the_next_target_in_order() {
    let (a, b, gateway) = two("[models.smart]\ntargets = [\"a/m1\", \"b/m2\"]\n").await;
    a.always(fail(500));
    b.always(Reply::json(completion_json("from b")));
    let response = gateway.send(&ask()).await;
    assert_eq!(response.status(), 200);
    assert_eq!(attempts(&response), ("2".into(), "b/m2".into()));
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["model"], "b/m2");
    assert_eq!(body["choices"][0]["message"]["content"], "from b");
    assert_eq!(a.requests().len(), 1, "no retries unless configured");
    assert_eq!(b.last_request().json()["model"], "m2");
}

#[tokio::test]
async fn retries_each_target_then_falls_back() {
    let (a, b, gateway) = smart("retries = 2\n").await;
    a.always(fail(503));
    b.always(Reply::json(completion_json("ok")));
    let response = gateway.send(&ask()).await;
    assert_eq!(response.status(), 200);
    assert_eq!(attempts(&response), ("4".into(), "b/m".into()));
    assert_eq!(a.requests().len(), 3, "one try and two retries");
}

#[tokio::test]
async fn plain_keys_retry_per_provider() {
    let a = FakeUpstream::start().await;
    let gateway = gateway(&format!("{}retries = 1\n{FAST}", a.provider_toml("a"))).await;
    a.push(fail(502))
        .push(Reply::json(completion_json("second time")));
    let response = gateway.send(&user("a/m", "hi")).await;
    assert_eq!(response.status(), 200);
    assert_eq!(attempts(&response), ("2".into(), "a/m".into()));
}

#[tokio::test]
async fn a_short_retry_after_is_waited_out_and_a_long_one_moves_on() {
    let (a, b, gateway) = smart("retries = 1\n").await;
    a.push(
        Reply::status(429, r#"{"error":{"message":"slow down"}}"#).header("retry-after-ms", "300"),
    );
    a.push(Reply::json(completion_json("after waiting")));
    let started = Instant::now();
    let response = gateway.send(&ask()).await;
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "retry-after was honoured"
    );
    assert_eq!(attempts(&response), ("2".into(), "a/m".into()));

    a.push(
        Reply::status(429, r#"{"error":{"message":"come back in a minute"}}"#)
            .header("retry-after", "60"),
    );
    b.push(Reply::json(completion_json("b instead")));
    let response = tokio::time::timeout(Duration::from_secs(10), gateway.send(&ask()))
        .await
        .expect("a long retry-after is not waited out");
    assert_eq!(attempts(&response), ("2".into(), "b/m".into()));
    assert_eq!(a.requests().len(), 3);
}

#[tokio::test]
async fn non_retryable_errors_return_at_once() {
    let (a, b, gateway) = smart("retries = 2\n").await;
    for status in [400u16, 401, 403, 404, 422] {
        a.push(fail(status));
        let response = gateway.send(&ask()).await;
        let seen = attempts(&response);
        let body = response.text().await.unwrap();
        assert_eq!(seen, ("1".into(), "a/m".into()), "{status}: {body}");
    }
    assert_eq!(a.requests().len(), 5);
    assert!(b.requests().is_empty());
}

#[tokio::test]
async fn weighted_targets_share_traffic_by_weight() {
    let toml = "[models.split]\nstrategy = \"weighted\"\ntargets = [{ key = \"a/m\", weight = 3 }, { key = \"b/m\", weight = 1 }]\n";
    let (a, b, gateway) = two(toml).await;
    a.always(Reply::json(completion_json("a")));
    b.always(Reply::json(completion_json("b")));
    let total = 400;
    for _ in 0..total {
        let response = gateway.send(&user("split", "hi")).await;
        assert_eq!(response.status(), 200);
    }
    let share = a.requests().len() as f64 / f64::from(total);
    assert_eq!(a.requests().len() + b.requests().len(), total as usize);
    assert!(
        (0.65..=0.85).contains(&share),
        "weight 3:1 gave a {share:.2} of the traffic"
    );
}

#[tokio::test]
async fn weighted_targets_fall_back_to_the_others() {
    let toml = "[models.split]\nstrategy = \"weighted\"\ntargets = [{ key = \"a/m\", weight = 1 }, { key = \"b/m\", weight = 1 }]\n";
    let (a, b, gateway) = two(toml).await;
    a.always(fail(500));
    b.always(Reply::json(completion_json("b")));
    for _ in 0..20 {
        let response = gateway.send(&user("split", "hi")).await;
        assert_eq!(response.status(), 200);
        assert_eq!(attempts(&response).1, "b/m");
    }
}

#[tokio::test]
async fn least_latency_prefers_the_fast_target() {
    let toml = "[models.quick]\nstrategy = \"least_latency\"\ntargets = [\"a/m\", \"b/m\"]\n";
    let (a, b, gateway) = two(toml).await;
    a.always(Reply::after(
        Duration::from_millis(60),
        completion_json("slow"),
    ));
    b.always(Reply::json(completion_json("fast")));
    // Warm up: both get measured.
    for _ in 0..6 {
        gateway.send(&user("quick", "hi")).await;
    }
    let before = b.requests().len();
    for _ in 0..30 {
        gateway.send(&user("quick", "hi")).await;
    }
    let fast_share = (b.requests().len() - before) as f64 / 30.0;
    assert!(
        fast_share >= 0.8,
        "the fast target took only {fast_share:.2} of the traffic"
    );
    assert!(!a.requests().is_empty(), "the slow target was measured too");
}

#[tokio::test]
async fn a_failing_target_cools_down_then_one_probe_tries_it() {
    let toml = "[models.smart]\ntargets = [\"a/m\", \"b/m\"]\n[routing]\ncooldown_failures = 2\ncooldown = \"1s\"\n";
    let a = FakeUpstream::start().await;
    let b = FakeUpstream::start().await;
    let gateway = gateway(&format!(
        "{}{}{toml}",
        a.provider_toml("a"),
        b.provider_toml("b")
    ))
    .await;
    a.always(fail(500));
    b.always(Reply::json(completion_json("b")));

    for _ in 0..2 {
        let response = gateway.send(&ask()).await;
        assert_eq!(attempts(&response), ("2".into(), "b/m".into()));
    }
    // Two failures in a row: `a` is skipped while it cools down.
    let response = gateway.send(&ask()).await;
    assert_eq!(attempts(&response), ("1".into(), "b/m".into()));
    assert_eq!(a.requests().len(), 2);

    tokio::time::sleep(Duration::from_millis(1100)).await;
    a.always(Reply::json(completion_json("a is back")));
    let response = gateway.send(&ask()).await;
    assert_eq!(
        attempts(&response),
        ("1".into(), "a/m".into()),
        "the half-open probe went to a"
    );
    let response = gateway.send(&ask()).await;
    assert_eq!(attempts(&response).1, "a/m", "a healthy again");
}

#[tokio::test]
async fn a_target_cooling_alone_is_still_tried() {
    let a = FakeUpstream::start().await;
    let gateway = gateway(&format!(
        "{}{FAST}cooldown_failures = 1\ncooldown = \"60s\"\n",
        a.provider_toml("a")
    ))
    .await;
    a.push(fail(500))
        .push(Reply::json(completion_json("still served")));
    let first = gateway.send(&user("a/m", "hi")).await;
    assert_eq!(first.status(), 502);
    let second = gateway.send(&user("a/m", "hi")).await;
    assert_eq!(second.status(), 200, "health alone never fails a request");
}

#[tokio::test]
async fn a_stream_silent_past_the_first_token_timeout_moves_to_the_next_target() {
    let (a, b, gateway) = smart("first_token_timeout = \"200ms\"\n").await;
    a.push(Reply::stuck_after(opening(&[])));
    b.push(Reply::sse(format!("{}{DONE}", text_stream(&["from b"]))));
    let response = gateway.send(&user_stream("smart", "hi")).await;
    assert_eq!(response.status(), 200);
    assert_eq!(attempts(&response), ("2".into(), "b/m".into()));
    let body = read_sse(response).await;
    assert_eq!(body.text(), "from b", "no output of a's is spliced in");
    assert!(body.chunks().iter().all(|c| c["model"] == "b/m"));
    assert!(
        a.wait_abandoned(Duration::from_secs(2)).await,
        "a's stream was dropped"
    );
}

#[tokio::test]
async fn no_retry_or_fallback_once_output_reached_the_client() {
    let (a, b, gateway) = smart("retries = 2\n").await;
    let error = r#"{"error":{"message":"upstream broke","type":"server_error"}}"#;
    a.push(Reply::sse(format!(
        "{}{}",
        opening(&["Partial"]).concat(),
        data(error)
    )));
    let response = gateway.send(&user_stream("smart", "hi")).await;
    assert_eq!(response.status(), 200);
    let body = read_sse(response).await;
    assert_eq!(body.text(), "Partial");
    assert_eq!(body.done_count(), 0);
    assert!(body.data.last().unwrap().contains("upstream broke"));
    assert_eq!(a.requests().len(), 1);
    assert!(
        b.requests().is_empty(),
        "two models' output is never spliced together"
    );
}

#[tokio::test]
async fn a_failure_before_output_falls_back_for_streams_too() {
    let (a, b, gateway) = smart("").await;
    a.push(Reply::sse(format!(
        "{}{}",
        content_chunk(None),
        data(r#"{"error":{"message":"overloaded"}}"#)
    )));
    b.push(Reply::sse(text_stream(&["b streams"])));
    let response = gateway.send(&user_stream("smart", "hi")).await;
    assert_eq!(attempts(&response), ("2".into(), "b/m".into()));
    assert_eq!(read_sse(response).await.text(), "b streams");
}

#[tokio::test]
async fn one_deadline_bounds_the_whole_request() {
    let (a, _b, gateway) = smart("").await;
    a.always(Reply::Silent);
    let started = Instant::now();
    let response = gateway
        .send_with(&ask(), &[("x-switchyard-deadline-ms", "300")])
        .await;
    assert!(started.elapsed() < Duration::from_secs(10));
    let error = error_of(response, 504).await;
    assert_eq!(error["code"], "deadline_exceeded");
}

#[tokio::test]
async fn a_hundred_parallel_requests_through_a_failing_target() {
    let (a, b, gateway) = smart("").await;
    a.always(fail(500));
    b.always(Reply::json(completion_json("b")));
    let request = ask();
    let requests = (0..100).map(|_| gateway.send(&request));
    let responses = futures_util::future::join_all(requests).await;
    for response in responses {
        assert_eq!(response.status(), 200);
        assert_eq!(attempts(&response).1, "b/m");
    }
    assert_eq!(b.requests().len(), 100);
}

/// A provider `a` holding two keys, in front of one fake upstream.
async fn two_keys(extra: &str) -> (FakeUpstream, Gateway) {
    let a = FakeUpstream::start().await;
    let toml = format!(
        "[providers.a]\nkind = \"openai\"\nbase_url = \"{}\"\napi_key = [\"key-one-aaaa\", \"key-two-bbbb\"]\n{FAST}{extra}",
        a.base_url
    );
    (a.clone(), gateway(&toml).await)
}

fn key_of(request: &Recorded) -> String {
    request.headers["authorization"]
        .to_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn a_rate_limited_or_refused_key_moves_to_the_next_key() {
    let (a, gateway) = two_keys("").await;
    for status in [429u16, 401, 403] {
        a.push(fail(status))
            .push(Reply::json(completion_json("other key")));
        let response = gateway.send(&user("a/m", "hi")).await;
        assert_eq!(response.status(), 200, "after a {status}");
        assert_eq!(attempts(&response), ("2".into(), "a/m".into()));
        let sent = a.requests();
        let last_two = &sent[sent.len() - 2..];
        assert_ne!(
            key_of(&last_two[0]),
            key_of(&last_two[1]),
            "the second try used the other key"
        );
    }
    // Both keys refused: the refusal is returned, not retried further.
    a.push(fail(401)).push(fail(401));
    let response = gateway.send(&user("a/m", "hi")).await;
    assert_eq!(response.status(), 401);
    assert_eq!(attempts(&response).0, "2");
}

#[tokio::test]
async fn a_failing_key_cools_down_while_the_other_serves() {
    let (a, gateway) = two_keys("cooldown_failures = 1\ncooldown = \"60s\"\n").await;
    a.push(fail(429));
    a.always(Reply::json(completion_json("ok")));
    let response = gateway.send(&user("a/m", "hi")).await;
    assert_eq!(response.status(), 200);
    let sent = a.requests();
    let (limited, good) = (key_of(&sent[0]), key_of(&sent[1]));
    assert_ne!(limited, good);
    for _ in 0..6 {
        let response = gateway.send(&user("a/m", "hi")).await;
        assert_eq!(attempts(&response).0, "1");
        assert_eq!(
            key_of(&a.last_request()),
            good,
            "the cooling key is not used"
        );
    }
}

#[tokio::test]
async fn keys_share_the_load_in_turn() {
    let (a, gateway) = two_keys("").await;
    a.always(Reply::json(completion_json("ok")));
    for _ in 0..6 {
        gateway.send(&user("a/m", "hi")).await;
    }
    let keys: Vec<String> = a.requests().iter().map(key_of).collect();
    let first = keys.iter().filter(|k| k.ends_with("key-one-aaaa")).count();
    assert_eq!(first, 3, "{keys:?}");
}

#[tokio::test]
async fn a_wait_that_would_overrun_the_deadline_falls_back_at_once() {
    let (a, b, gateway) = smart("retries = 3\n").await;
    a.push(Reply::status(503, r#"{"error":{"message":"busy"}}"#).header("retry-after", "5"));
    b.push(Reply::json(completion_json("b")));
    let response = gateway
        .send_with(&ask(), &[("x-switchyard-deadline-ms", "2000")])
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(attempts(&response), ("2".into(), "b/m".into()));
}
