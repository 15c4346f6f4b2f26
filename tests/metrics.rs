//! `GET /metrics` after scripted traffic: the exact values of the requests, attempts, retries,
//! streams and rate-limit series, and label values that never come from what a client typed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::*;

/// Fast backoff so retries cost milliseconds.
const FAST: &str = "[routing]\nbackoff_base = \"1ms\"\nbackoff_max = \"5ms\"\n";

/// One sample line of the text format: its name, its labels, its value.
#[derive(Debug)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

fn samples(text: &str) -> Vec<Sample> {
    text.lines()
        .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
        .map(|line| {
            let (series, value) = line.rsplit_once(' ').unwrap();
            let (name, labels) = match series.split_once('{') {
                Some((name, rest)) => (name, rest.trim_end_matches('}')),
                None => (series, ""),
            };
            let labels = labels
                .split("\",")
                .filter(|pair| !pair.is_empty())
                .map(|pair| {
                    let (key, value) = pair.split_once("=\"").unwrap();
                    (key.to_owned(), value.trim_end_matches('"').to_owned())
                })
                .collect();
            Sample {
                name: name.to_owned(),
                labels,
                value: value.parse().unwrap(),
            }
        })
        .collect()
}

/// The value of the one series of `name` with exactly `labels`, or 0 if there is none yet.
fn value(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    let wanted: BTreeMap<String, String> = labels
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let found: Vec<Sample> = samples(text)
        .into_iter()
        .filter(|s| s.name == name && s.labels == wanted)
        .collect();
    assert!(found.len() <= 1, "{name} {labels:?} twice: {found:?}");
    found.first().map_or(0.0, |s| s.value)
}

async fn scrape(gateway: &Gateway) -> String {
    let response = gateway.get("/metrics").send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    response.text().await.unwrap()
}

fn requests<'a>(
    model: &'a str,
    key: &'a str,
    status_class: &'a str,
    outcome: &'a str,
    error_type: &'a str,
) -> [(&'a str, &'a str); 6] {
    [
        ("surface", "chat"),
        ("model", model),
        ("key", key),
        ("status_class", status_class),
        ("outcome", outcome),
        ("error_type", error_type),
    ]
}

/// `switchyard_requests_total` of the chat surface with these labels.
fn chat_requests(
    text: &str,
    model: &str,
    key: &str,
    status_class: &str,
    outcome: &str,
    error_type: &str,
) -> f64 {
    value(
        text,
        "switchyard_requests_total",
        &requests(model, key, status_class, outcome, error_type),
    )
}

fn attempt<'a>(provider: &'a str, target: &'a str, result: &'a str) -> [(&'a str, &'a str); 3] {
    [
        ("provider", provider),
        ("target", target),
        ("result", result),
    ]
}

#[tokio::test]
async fn scripted_traffic_gives_exact_counts() {
    let a = FakeUpstream::start().await;
    let b = FakeUpstream::start().await;
    let toml = format!(
        "{}{}{FAST}[models.smart]\ntargets = [\"a/m\", \"b/m\"]\nretries = 1\n\
         [auth]\nkeys = [{{ name = \"ci\", key = \"ci-key\" }}, {{ name = \"tight\", key = \"tight-key\", rpm = 1 }}]\n",
        a.provider_toml("a"),
        b.provider_toml("b"),
    );
    let gateway = gateway(&toml).await;

    // Retried on a, then fell back to b, which answers.
    a.push(Reply::status(503, r#"{"error":{"message":"busy"}}"#));
    a.push(Reply::status(503, r#"{"error":{"message":"busy"}}"#));
    b.push(Reply::json(completion_json("from b")));
    let response = gateway.send_as("ci-key", &user("smart", "hi")).await;
    assert_eq!(response.status(), 200);

    // A request the provider refuses: no retry, the caller's 400 passed on.
    a.push(Reply::status(400, r#"{"error":{"message":"bad"}}"#));
    let response = gateway.send_as("ci-key", &user("a/m", "hi")).await;
    assert_eq!(response.status(), 400);

    // A model the config does not name is counted as `unknown`, never by its name.
    a.push(Reply::json(completion_json("fine")));
    let response = gateway
        .send_as("ci-key", &user("a/made-up-by-a-client", "hi"))
        .await;
    assert_eq!(response.status(), 200);

    // No key; then a key over its limit.
    let response = gateway.send(&user("smart", "hi")).await;
    assert_eq!(response.status(), 401);
    b.push(Reply::json(completion_json("once")));
    assert_eq!(
        gateway
            .send_as("tight-key", &user("b/m", "hi"))
            .await
            .status(),
        200
    );
    assert_eq!(
        gateway
            .send_as("tight-key", &user("b/m", "hi"))
            .await
            .status(),
        429
    );

    tokio::time::sleep(Duration::from_millis(50)).await;
    let text = scrape(&gateway).await;
    // One request each; a provider's 400 is the provider's answer, not the gateway's judgement.
    for [model, key, status_class, outcome, error_type] in [
        ["smart", "ci", "2xx", "ok", "none"],
        ["a/m", "ci", "4xx", "error", "provider"],
        ["unknown", "ci", "2xx", "ok", "none"],
        ["unknown", "none", "4xx", "error", "caller"],
        ["b/m", "tight", "2xx", "ok", "none"],
        ["b/m", "tight", "4xx", "error", "policy"],
    ] {
        assert_eq!(
            chat_requests(&text, model, key, status_class, outcome, error_type),
            1.0,
            "{model} {key} {status_class} {outcome} {error_type}"
        );
    }
    assert!(
        !text.contains("made-up-by-a-client"),
        "a client's model name became a label"
    );

    for (provider, target, result, count) in [
        ("a", "a/m", "retried", 1.0),
        ("a", "a/m", "fell_back", 1.0),
        ("b", "b/m", "success", 2.0),
        ("a", "a/m", "failed", 1.0),
        ("a", "unknown", "success", 1.0),
    ] {
        assert_eq!(
            value(
                &text,
                "switchyard_upstream_attempts_total",
                &attempt(provider, target, result)
            ),
            count,
            "{provider} {target} {result}"
        );
    }

    // Four routed requests: one with two retries, three with none.
    let retries = [("surface", "chat")];
    assert_eq!(
        value(&text, "switchyard_request_retries_count", &retries),
        4.0
    );
    assert_eq!(
        value(&text, "switchyard_request_retries_sum", &retries),
        2.0
    );
    assert_eq!(
        value(
            &text,
            "switchyard_request_retries_bucket",
            &[("surface", "chat"), ("le", "0")]
        ),
        3.0
    );

    assert_eq!(
        value(&text, "switchyard_rate_limited_total", &[("key", "tight")]),
        1.0
    );
    // Six chat requests, each with its overhead; the durations of all six, none a stream.
    assert_eq!(
        value(&text, "switchyard_overhead_seconds_count", &retries),
        6.0
    );
    assert_eq!(
        value(
            &text,
            "switchyard_request_duration_seconds_count",
            &[("surface", "chat"), ("stream", "false")]
        ),
        6.0
    );
}

#[tokio::test]
async fn a_stream_is_in_flight_until_it_ends_and_a_client_leaving_is_counted() {
    let (upstream, gateway) = gateway_with_upstream("").await;
    upstream.push(Reply::held(&["first"], &["second"]));
    let in_flight =
        |text: &str| value(text, "switchyard_streams_in_flight", &[("surface", "chat")]);

    let response = gateway
        .chat_json(&user_stream("up/m", "hi"))
        .send()
        .await
        .unwrap();
    let mut body = response.bytes_stream();
    read_until(&mut body, "first").await;
    assert_eq!(in_flight(&scrape(&gateway).await), 1.0);
    upstream.release();
    read_until(&mut body, "[DONE]").await;
    drop(body);
    tokio::time::sleep(Duration::from_millis(50)).await;
    let text = scrape(&gateway).await;
    assert_eq!(in_flight(&text), 0.0);
    assert_eq!(
        value(
            &text,
            "switchyard_time_to_first_token_seconds_count",
            &[("surface", "chat")]
        ),
        1.0
    );

    // A client that leaves mid-stream: an outcome of its own, and the stream no longer counted.
    upstream.push(Reply::stuck_after(opening(&["going"])));
    let response = gateway
        .chat_json(&user_stream("up/m", "hi"))
        .send()
        .await
        .unwrap();
    assert!(
        upstream
            .released_when_client_leaves(response, "going")
            .await
    );
    tokio::time::sleep(Duration::from_millis(50)).await;
    let text = scrape(&gateway).await;
    assert_eq!(in_flight(&text), 0.0);
    assert_eq!(
        chat_requests(&text, "unknown", "none", "2xx", "client_closed", "none"),
        1.0
    );
    assert_eq!(
        chat_requests(&text, "unknown", "none", "2xx", "ok", "none"),
        1.0
    );
}

#[tokio::test]
async fn an_attempt_the_client_leaves_is_cancelled() {
    let (upstream, gateway) = gateway_with_upstream("").await;
    upstream.push(Reply::after(
        Duration::from_secs(30),
        completion_json("late"),
    ));
    let request = gateway.chat_json(&user("up/m", "hi")).send();
    // The client gives up before the provider answers.
    assert!(
        tokio::time::timeout(Duration::from_millis(200), request)
            .await
            .is_err()
    );
    assert!(upstream.wait_abandoned(Duration::from_secs(1)).await);
    tokio::time::sleep(Duration::from_millis(50)).await;
    let text = scrape(&gateway).await;
    assert_eq!(
        value(
            &text,
            "switchyard_upstream_attempts_total",
            &attempt("up", "unknown", "cancelled")
        ),
        1.0
    );
    // The request itself: the client left, no status was sent (499), nobody's fault.
    assert_eq!(
        chat_requests(&text, "unknown", "none", "4xx", "client_closed", "none"),
        1.0
    );
    assert_eq!(
        chat_requests(&text, "unknown", "none", "2xx", "ok", "none"),
        0.0,
        "an abandoned request counted as answered"
    );
}

#[tokio::test]
async fn metrics_can_be_off_keyed_or_on_a_port_of_their_own() {
    let off = gateway("[metrics]\nenabled = false\n").await;
    assert_eq!(off.get("/metrics").send().await.unwrap().status(), 404);

    let keyed = gateway("[auth]\nkeys = [\"scrape-key\"]\n[metrics]\nrequire_key = true\n").await;
    assert_eq!(keyed.get("/metrics").send().await.unwrap().status(), 401);
    let response = keyed
        .get("/metrics")
        .bearer_auth("scrape-key")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);

    // Open by default, even where API calls need a key.
    let open = gateway("[auth]\nkeys = [\"api-key\"]\n").await;
    assert_eq!(open.get("/metrics").send().await.unwrap().status(), 200);

    let port = process::free_port();
    let own = gateway(&format!("[metrics]\nlisten = \"127.0.0.1:{port}\"\n")).await;
    assert_eq!(own.get("/metrics").send().await.unwrap().status(), 404);
    own.whole(&user("echo/x", "hi")).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    let text = reqwest::get(format!("http://127.0.0.1:{port}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(
        chat_requests(&text, "unknown", "none", "2xx", "ok", "none"),
        1.0
    );
}

#[tokio::test]
async fn cooldowns_of_targets_and_api_keys_are_gauges() {
    let a = FakeUpstream::start().await;
    let b = FakeUpstream::start().await;
    let toml = format!(
        "[providers.a]\nkind = \"openai\"\nbase_url = \"{}\"\napi_key = [\"key-one-aaaa\", \"key-two-bbbb\"]\n\
         {}{FAST}cooldown_failures = 1\ncooldown = \"60s\"\n[models.smart]\ntargets = [\"b/m\", \"a/m\"]\n",
        a.base_url,
        b.provider_toml("b"),
    );
    let gateway = gateway(&toml).await;
    // b fails and cools down; a's first key is rate limited and cools down, its second serves.
    b.push(Reply::status(503, r#"{"error":{"message":"down"}}"#));
    a.push(Reply::status(429, r#"{"error":{"message":"slow down"}}"#));
    a.push(Reply::json(completion_json("from a")));
    let response = gateway.send(&user("smart", "hi")).await;
    assert_eq!(response.status(), 200);

    let text = scrape(&gateway).await;
    let cooling = |target: &str| value(&text, "switchyard_targets_cooling", &[("target", target)]);
    assert_eq!(cooling("b/m"), 1.0);
    assert_eq!(cooling("a/m"), 0.0);
    assert_eq!(
        value(&text, "switchyard_api_keys_cooling", &[("provider", "a")]),
        1.0
    );
    assert!(
        text.contains("switchyard_targets_cooling{target=\"a/m\"} 0"),
        "a target at rest shows 0: {text}"
    );
}

#[tokio::test]
async fn the_grafana_dashboard_asks_only_for_series_the_gateway_serves() {
    let dashboard: serde_json::Value =
        serde_json::from_str(include_str!("../deploy/grafana/switchyard.json")).unwrap();
    let a = FakeUpstream::start().await;
    // A price for the whole answer's model, and none for the stream's: both cost series show.
    let prices = std::env::temp_dir().join(format!(
        "switchyard-prices-{}-dashboard.toml",
        std::process::id()
    ));
    std::fs::write(&prices, "[prices.\"a/m\"]\ninput = 1.0\noutput = 1.0\n").unwrap();
    let toml = format!(
        "[providers.a]\nkind = \"openai\"\nbase_url = \"{}\"\napi_key = [\"key-one-aaaa\", \"key-two-bbbb\"]\n\
         [pricing]\nfile = \"{}\"\n\
         [auth]\nkeys = [{{ name = \"ci\", key = \"ci-key\", rpm = 2 }}]\n",
        a.base_url,
        prices.display()
    );
    let gateway = gateway(&toml).await;
    // Traffic that makes every family show: a whole answer, a stream, a refusal by limits.
    a.push(Reply::json(completion_json("whole")));
    assert_eq!(
        gateway.send_as("ci-key", &user("a/m", "hi")).await.status(),
        200
    );
    let stream = gateway
        .chat_json(&user_stream("echo/x", "a stream"))
        .bearer_auth("ci-key")
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);
    stream.text().await.unwrap();
    assert_eq!(
        gateway.send_as("ci-key", &user("a/m", "hi")).await.status(),
        429
    );
    tokio::time::sleep(Duration::from_millis(50)).await;
    let text = scrape(&gateway).await;
    let families: Vec<(&str, &str)> = text
        .lines()
        .filter_map(|line| line.strip_prefix("# TYPE "))
        .filter_map(|rest| rest.split_once(' '))
        .collect();

    let mut asked = 0;
    for panel in dashboard["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().unwrap() {
            let expr = target["expr"].as_str().unwrap();
            for name in expr
                .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .filter(|word| word.starts_with("switchyard_"))
            {
                asked += 1;
                let served = families.iter().any(|(family, kind)| {
                    *family == name
                        || (*kind == "histogram"
                            && ["_bucket", "_sum", "_count"]
                                .iter()
                                .any(|suffix| name.strip_suffix(suffix) == Some(family)))
                });
                assert!(
                    served,
                    "panel {:?} asks for {name}, which /metrics does not serve",
                    panel["title"]
                );
                assert!(
                    samples(&text).iter().any(|s| s.name.starts_with(name)),
                    "{name} has no sample after the traffic"
                );
            }
        }
    }
    assert!(
        asked >= 20,
        "the dashboard's queries were not read: {asked}"
    );
    let _ = std::fs::remove_file(&prices);
}

#[tokio::test]
async fn tokens_are_counted_by_kind_for_whole_answers_and_streams() {
    use common::fixtures::{anthropic, openai};
    let (upstream, gateway) = gateway_for_all(&[&OPENAI, &ANTHROPIC], "").await;
    let tokens = |text: &str, provider: &str, kind: &str| {
        value(
            text,
            "switchyard_tokens_total",
            &[
                ("provider", provider),
                ("target", "unknown"),
                ("kind", kind),
            ],
        )
    };

    // A whole answer: its usage, read as the answer is relayed.
    upstream.push(Reply::json(completion_json("whole")));
    gateway.whole(&user("up/m", "hi")).await;
    // A translated stream the client asked no usage of: the provider reports it anyway, and the
    // client still sees none.
    upstream.push(Reply::sse(anthropic::TEXT_STREAM));
    let body = gateway
        .sse(&user_stream("claude/claude-sonnet-4-5", "hi"))
        .await;
    assert!(
        body.chunks().iter().all(|c| c.get("usage").is_none()),
        "usage the client did not ask for was sent"
    );
    // An OpenAI stream whose client asked for usage.
    upstream.push(Reply::sse(openai::TEXT_STREAM));
    gateway.sse(&with_usage(user_stream("up/m", "hi"))).await;
    tokio::time::sleep(Duration::from_millis(50)).await;

    let text = scrape(&gateway).await;
    let stream_usage = body_usage(openai::TEXT_STREAM);
    assert_eq!(tokens(&text, "up", "prompt"), 3.0 + stream_usage.0);
    assert_eq!(tokens(&text, "up", "completion"), 2.0 + stream_usage.1);
    // Anthropic's 21 fresh + 188 written + 1,024 read prompt tokens, and 23 of output.
    assert_eq!(tokens(&text, "claude", "prompt"), 1233.0);
    assert_eq!(tokens(&text, "claude", "completion"), 23.0);
    assert_eq!(tokens(&text, "claude", "cached_read"), 1024.0);
    assert_eq!(tokens(&text, "claude", "cache_write"), 188.0);
    assert!(
        !text.contains("kind=\"reasoning\""),
        "a part no provider reported shows as zero"
    );
}

/// The prompt and completion tokens of the last usage in a recorded OpenAI stream.
fn body_usage(sse: &str) -> (f64, f64) {
    let usage = sse
        .lines()
        .rev()
        .filter_map(|line| line.strip_prefix("data: "))
        .filter_map(|data| serde_json::from_str::<serde_json::Value>(data).ok())
        .find_map(|chunk| chunk.get("usage").filter(|u| !u.is_null()).cloned())
        .expect("the recorded stream reports usage");
    (
        usage["prompt_tokens"].as_f64().unwrap(),
        usage["completion_tokens"].as_f64().unwrap(),
    )
}

/// The embedded catalog's price of `model` at `provider`: [input, output, cache read, cache write].
fn catalog_price(provider: &str, model: &str) -> [f64; 4] {
    let catalog: serde_json::Value =
        serde_json::from_str(include_str!("../src/pricing/catalog.json")).unwrap();
    let price = &catalog["prices"][provider][model];
    let input = price[0].as_f64().unwrap();
    let or_input = |v: &serde_json::Value| v.as_f64().unwrap_or(input);
    [
        input,
        price[1].as_f64().unwrap(),
        or_input(&price[2]),
        or_input(&price[3]),
    ]
}

#[tokio::test]
async fn answers_are_priced_by_the_catalog_and_unpriced_ones_are_counted() {
    use common::fixtures::anthropic;
    let (upstream, gateway) = gateway_for_all(&[&OPENAI, &ANTHROPIC], "").await;
    let [input, output, read, write] = catalog_price("anthropic", "claude-sonnet-4-5");
    // 21 fresh, 188 written and 1,024 read prompt tokens, and 23 of output.
    let expected = 21.0 * input + 188.0 * write + 1024.0 * read + 23.0 * output;

    upstream.push(Reply::json(anthropic::TEXT));
    let response = gateway.send(&user("claude/claude-sonnet-4-5", "hi")).await;
    assert_eq!(response.status(), 200);
    let header: f64 = response.headers()["x-switchyard-cost-usd"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        (header - expected).abs() < 1e-9,
        "{header} against {expected}"
    );

    // The same answer streamed: no header by then, but the same dollars in the metrics.
    upstream.push(Reply::sse(anthropic::TEXT_STREAM));
    gateway
        .sse(&user_stream("claude/claude-sonnet-4-5", "hi"))
        .await;
    // A provider on a host the catalog does not know: its answers are unpriced, never guessed.
    upstream.push(Reply::json(completion_json("fine")));
    let response = gateway.send(&user("up/gpt-4o", "hi")).await;
    assert!(response.headers().get("x-switchyard-cost-usd").is_none());
    tokio::time::sleep(Duration::from_millis(50)).await;

    let text = scrape(&gateway).await;
    let cost = value(
        &text,
        "switchyard_cost_usd_total",
        &[
            ("provider", "claude"),
            ("target", "unknown"),
            ("key", "none"),
        ],
    );
    assert!((cost - 2.0 * expected).abs() < 1e-9, "{cost}");
    assert_eq!(
        value(
            &text,
            "switchyard_unpriced_answers_total",
            &[("provider", "up"), ("target", "unknown")]
        ),
        1.0
    );
}

#[tokio::test]
async fn routes_that_do_not_log_themselves_are_counted_under_their_surface() {
    let gateway = gateway("").await;
    assert_eq!(
        gateway.get("/v1/models").send().await.unwrap().status(),
        200
    );
    assert_eq!(
        gateway.get("/v1/nothing").send().await.unwrap().status(),
        404
    );
    tokio::time::sleep(Duration::from_millis(50)).await;
    let text = scrape(&gateway).await;
    let counted = |surface, class, outcome, error_type| {
        value(
            &text,
            "switchyard_requests_total",
            &[
                ("surface", surface),
                ("model", "unknown"),
                ("key", "none"),
                ("status_class", class),
                ("outcome", outcome),
                ("error_type", error_type),
            ],
        )
    };
    assert_eq!(counted("models", "2xx", "ok", "none"), 1.0);
    assert_eq!(counted("other", "4xx", "error", "caller"), 1.0);
}

#[tokio::test]
async fn the_responses_and_embeddings_surfaces_are_limited_and_counted_like_chat() {
    let gateway =
        gateway("[auth]\nkeys = [{ name = \"codex\", key = \"codex-key\", rpm = 2 }]\n").await;
    let client = &gateway;
    let post = |path: &'static str, body: serde_json::Value| async move {
        client.post_json(path, Some("codex-key"), &body).await
    };
    let served = post(
        "/v1/responses",
        serde_json::json!({"model": "echo/m", "input": "hello"}),
    )
    .await;
    assert_eq!(served.status(), 200);
    assert_eq!(served.headers()["x-ratelimit-remaining-requests"], "1");
    let embedded = post(
        "/v1/embeddings",
        serde_json::json!({"model": "echo/e", "input": "hi"}),
    )
    .await;
    assert_eq!(embedded.status(), 200);
    assert_eq!(embedded.headers()["x-ratelimit-remaining-requests"], "0");
    let refused = post(
        "/v1/responses",
        serde_json::json!({"model": "echo/m", "input": "again"}),
    )
    .await;
    assert_eq!(refused.status(), 429);
    assert_eq!(refused.headers()["x-ratelimit-limit-requests"], "2");
    assert!(refused.headers().contains_key("retry-after"));
    let error = error_of(refused, 429).await;
    assert_eq!(error["code"], "rate_limit_exceeded", "{error}");

    tokio::time::sleep(Duration::from_millis(50)).await;
    let text = scrape(&gateway).await;
    let counted = |surface: &str, outcome: &str| -> f64 {
        samples(&text)
            .into_iter()
            .filter(|s| {
                s.name == "switchyard_requests_total"
                    && s.labels.get("surface").map(String::as_str) == Some(surface)
                    && s.labels.get("key").map(String::as_str) == Some("codex")
                    && s.labels.get("outcome").map(String::as_str) == Some(outcome)
            })
            .map(|s| s.value)
            .sum()
    };
    assert_eq!(counted("responses", "ok"), 1.0);
    assert_eq!(counted("responses", "error"), 1.0, "the refused one");
    assert_eq!(counted("embeddings", "ok"), 1.0);
}
