//! Gateway keys: named keys, digests, model access, the model list, safe-by-default exposure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use serde_json::Value;

const KEYS: &str = r#"
[models.smart]
targets = ["echo/smart-model"]
[auth]
keys = [
  "plain-key-1234",
  { name = "ci", key = "ci-key-5678", models = ["echo/*"] },
  # printf %s gw-key | sha256sum
  { name = "app", sha256 = "7f90faf7347c6538b8ade99c16aa25b3eba67a84506a94ef8e580d7d0d7550e8", models = ["smart", "*-mini"] },
]
"#;

/// The status of the answer to `key` asking `model` a question; any answer is JSON.
async fn status(gateway: &Gateway, key: &str, model: &str) -> u16 {
    let response = gateway.send_as(key, &user(model, "hi")).await;
    let status = response.status().as_u16();
    let _: Value = response.json().await.unwrap();
    status
}

/// An `[auth]` table with the one key `ci-key`, named ci, limited by `limits` (`tpm = 10`).
fn ci_key(limits: &str) -> String {
    format!("[auth]\nkeys = [{{ name = \"ci\", key = \"ci-key\", {limits} }}]\n")
}

/// `ci-key` asks `model` a question.
async fn ask(gateway: &Gateway, model: &str) -> reqwest::Response {
    gateway.send_as("ci-key", &user(model, "hi")).await
}

/// `ci-key` asks `model` a question, streamed.
async fn ask_streamed(gateway: &Gateway, model: &str) -> SseBody {
    read_sse(gateway.send_as("ci-key", &user_stream(model, "hi")).await).await
}

#[tokio::test]
async fn each_key_may_use_only_its_models() {
    let gateway = gateway(KEYS).await;
    assert_eq!(
        status(&gateway, "plain-key-1234", "echo/anything").await,
        200,
        "a plain key may use every model"
    );
    assert_eq!(status(&gateway, "ci-key-5678", "echo/x").await, 200);
    let response = gateway.send_as("ci-key-5678", &user("smart", "hi")).await;
    let error = error_of(response, 403).await;
    assert_eq!(error["code"], "model_not_allowed");
    assert_eq!(error["type"], "permission_error");
    assert!(
        message(&error).contains("'ci'"),
        "named, never the key itself"
    );
    assert_eq!(
        status(&gateway, "gw-key", "smart").await,
        200,
        "a key given as its sha256 digest"
    );
    assert_eq!(status(&gateway, "gw-key", "echo/gpt-4.1-mini").await, 200);
    assert_eq!(status(&gateway, "gw-key", "echo/gpt-4.1").await, 403);
    assert_eq!(status(&gateway, "gw-key-wrong", "smart").await, 401);
}

#[tokio::test]
async fn x_api_key_works_as_well_as_bearer() {
    let gateway = gateway(KEYS).await;
    let response = gateway
        .send_with(&user("echo/x", "hi"), &[("x-api-key", "ci-key-5678")])
        .await;
    assert_eq!(response.status(), 200);
    let response = gateway.send(&user("echo/x", "hi")).await;
    assert_eq!(response.status(), 401);
}

#[tokio::test]
async fn the_model_list_shows_what_the_key_may_use() {
    let gateway = gateway(&format!(
        "{KEYS}\n[providers.more]\nkind = \"echo\"\nmodels = [\"other\", \"thing-mini\"]\n"
    ))
    .await;
    let list = |key: &'static str| {
        let request = gateway.get("/v1/models").bearer_auth(key);
        async move {
            let body: Value = request.send().await.unwrap().json().await.unwrap();
            let mut ids: Vec<String> = body["data"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| m["id"].as_str().unwrap().to_owned())
                .collect();
            ids.sort();
            ids
        }
    };
    assert_eq!(list("ci-key-5678").await, ["echo/echo", "echo/smart-model"]);
    assert_eq!(list("gw-key").await, ["more/thing-mini", "smart"]);
    assert!(list("plain-key-1234").await.len() >= 5);
}

#[test]
fn serving_off_loopback_without_keys_is_refused_unless_meant() {
    use common::process::{stderr_of_failure, stdout_of_success, with_config, write_config};
    let open = write_config("open.toml", "[server]\nlisten = \"0.0.0.0:0\"\n");
    let output = with_config("serve", &open).output().unwrap();
    let stderr = stderr_of_failure(&output);
    assert!(
        stderr.contains("refusing to serve 0.0.0.0:0 without gateway keys")
            && stderr.contains("allow_anonymous"),
        "{stderr}"
    );
    let check = with_config("check", &open).output().unwrap();
    assert!(!check.status.success(), "check says so too");

    let meant = write_config(
        "meant.toml",
        "[server]\nlisten = \"0.0.0.0:0\"\n[auth]\nallow_anonymous = true\n",
    );
    let check = with_config("check", &meant).output().unwrap();
    assert!(stdout_of_success(&check).contains("anonymous requests: allowed anywhere"));
}

#[tokio::test]
async fn requests_per_minute_are_limited_per_key_with_openai_headers() {
    let toml = "[auth]\nkeys = [{ name = \"ci\", key = \"ci-key\", rpm = 3 }, { name = \"other\", key = \"other-key\", rpm = 3 }]\n[limits]\nbackend = \"memory\"\n";
    let gateway = gateway(toml).await;
    // 20 s into a minute, so the window cannot roll over during the test.
    gateway.pin_clock(1_800_000_020);
    for remaining in ["2", "1", "0"] {
        let response = ask(&gateway, "echo/x").await;
        assert_eq!(response.status(), 200);
        let headers = response.headers();
        assert_eq!(headers["x-ratelimit-limit-requests"], "3");
        assert_eq!(headers["x-ratelimit-remaining-requests"], remaining);
        assert_eq!(headers["x-ratelimit-reset-requests"], "40s");
    }
    let response = ask(&gateway, "echo/x").await;
    assert_eq!(response.headers()["retry-after"], "40");
    assert_eq!(response.headers()["x-ratelimit-remaining-requests"], "0");
    let error = error_of(response, 429).await;
    assert_eq!(error["code"], "rate_limit_exceeded");
    assert!(message(&error).contains("'ci'"));

    let other = gateway.send_as("other-key", &user("echo/x", "hi")).await;
    assert_eq!(other.status(), 200, "each key has its own counter");

    gateway.pin_clock(1_800_000_060);
    let next_minute = ask(&gateway, "echo/x").await;
    assert_eq!(next_minute.status(), 200);
    assert_eq!(next_minute.headers()["x-ratelimit-remaining-requests"], "2");
}

#[tokio::test]
async fn tokens_per_minute_count_whole_and_streamed_answers() {
    let gateway = gateway(&ci_key("tpm = 10")).await;
    gateway.pin_clock(T0);
    // Echo counts words: 5 prompt + 5 completion = 10 tokens.
    let response = gateway
        .send_as("ci-key", &user("echo/x", "one two three four five"))
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-ratelimit-limit-tokens"], "10");
    assert_eq!(response.headers()["x-ratelimit-remaining-tokens"], "10");
    let response = ask(&gateway, "echo/x").await;
    assert_eq!(response.headers()["x-ratelimit-remaining-tokens"], "0");
    assert_eq!(response.headers()["retry-after"], "40");
    let error = error_of(response, 429).await;
    assert!(message(&error).contains("10 tokens per minute"));

    gateway.pin_clock(T0 + 40);
    // A stream the client asked no usage of: the usage chunk is counted, and not sent.
    let stream = read_sse(
        gateway
            .send_as("ci-key", &user_stream("echo/x", "a b c d e"))
            .await,
    )
    .await;
    assert_eq!(stream.text(), "a b c d e");
    assert!(
        stream.chunks().iter().all(|c| c.get("usage").is_none()),
        "{}",
        stream.raw
    );
    let response = ask(&gateway, "echo/x").await;
    assert_eq!(response.status(), 429, "the streamed tokens were counted");
}

#[tokio::test]
async fn a_client_that_asks_for_usage_still_gets_it() {
    let gateway = gateway(&ci_key("tpm = 1000")).await;
    let request = with_usage(user("echo/x", "a b"));
    let stream = read_sse(gateway.send_as("ci-key", &request).await).await;
    assert_eq!(stream.chunks().last().unwrap()["usage"]["total_tokens"], 4);
}

#[tokio::test]
async fn openai_upstreams_are_asked_for_usage_when_the_gateway_counts_tokens() {
    let (upstream, gateway) = gateway_with_upstream(&ci_key("tokens_per_day = 20")).await;
    gateway.pin_clock(T0);
    let usage = r#"{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[],"usage":{"prompt_tokens":15,"completion_tokens":5,"total_tokens":20}}"#;
    upstream.push(Reply::sse(format!(
        "{}{}{DONE}",
        text_stream(&["Hi"]),
        data(usage)
    )));
    let stream = ask_streamed(&gateway, "up/m").await;
    assert_eq!(stream.text(), "Hi");
    assert!(
        !stream.raw.contains("total_tokens"),
        "the client did not ask for usage: {}",
        stream.raw
    );
    assert_eq!(stream.done_count(), 1);
    assert_eq!(
        upstream.last_request().json()["stream_options"]["include_usage"],
        true,
        "asked upstream"
    );

    let response = ask(&gateway, "up/m").await;
    assert_eq!(response.status(), 429, "the day's budget of 20 is spent");
    assert!(message(&error_of(response, 429).await).contains("per day"));
    gateway.pin_clock(T0 + 86_400);
    upstream.push(Reply::json(completion_json("new day")));
    let response = ask(&gateway, "up/m").await;
    assert_eq!(response.status(), 200, "a new day, a new budget");
}

#[tokio::test]
async fn limits_for_some_models_inside_a_key() {
    let toml = "[auth]\nkeys = [{ name = \"app\", key = \"app-key\", rpm = 100, model_limits = { \"echo/big-*\" = { rpm = 1 } } }]\n";
    let gateway = gateway(toml).await;
    gateway.pin_clock(T0);
    assert_eq!(status(&gateway, "app-key", "echo/big-model").await, 200);
    let response = gateway
        .send_as("app-key", &user("echo/big-model", "hi"))
        .await;
    let error = error_of(response, 429).await;
    assert!(message(&error).contains("for models 'echo/big-*'"));
    assert_eq!(
        status(&gateway, "app-key", "echo/small").await,
        200,
        "other models are not held back"
    );
}

#[tokio::test]
async fn x_api_key_is_read_beside_another_authorization_scheme() {
    let gateway = gateway(KEYS).await;
    let response = gateway
        .send_with(
            &user("echo/x", "hi"),
            &[
                ("authorization", "Basic b3V0ZXI6cHJveHk="),
                ("x-api-key", "ci-key-5678"),
            ],
        )
        .await;
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn usage_the_client_did_not_ask_for_never_reaches_it() {
    let (upstream, gateway) = gateway_with_upstream(&ci_key("tpm = 30")).await;
    gateway.pin_clock(T0);
    // Usage as some OpenAI-compatible servers send it: `null` on every chunk, the numbers on
    // the last chunk that still has choices.
    let chunk = |delta: &str, finish: &str, usage: &str| {
        data(&format!(
            r#"{{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{{"index":0,"delta":{delta},"finish_reason":{finish}}}],"usage":{usage}}}"#
        ))
    };
    upstream.push(Reply::sse(format!(
        "{}{}{DONE}",
        chunk(r#"{"role":"assistant","content":"Hi"}"#, "null", "null"),
        chunk(
            "{}",
            r#""stop""#,
            r#"{"prompt_tokens":20,"completion_tokens":10,"total_tokens":30}"#
        ),
    )));
    let stream = ask_streamed(&gateway, "up/m").await;
    assert_eq!(stream.text(), "Hi");
    assert!(!stream.raw.contains("usage"), "{}", stream.raw);
    let response = ask(&gateway, "up/m").await;
    assert_eq!(response.status(), 429, "the 30 tokens were counted");
}

#[tokio::test]
async fn a_stream_cut_before_its_usage_is_still_counted() {
    let (upstream, gateway) = gateway_with_upstream(&ci_key("tpm = 10")).await;
    gateway.pin_clock(T0);
    upstream.push(Reply::sse(opening(&["half an answer"]).concat()));
    let stream = ask_streamed(&gateway, "up/m").await;
    assert_eq!(stream.done_count(), 0, "the cut stream ends with an error");
    let response = ask(&gateway, "up/m").await;
    assert_eq!(
        response.status(),
        429,
        "an estimate was counted: streams are never free"
    );
}
