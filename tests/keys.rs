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

async fn status(gateway: &Gateway, key: &str, model: &str) -> (u16, Value) {
    let response = gateway
        .chat_json(&user(model, "hi"))
        .bearer_auth(key)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

#[tokio::test]
async fn each_key_may_use_only_its_models() {
    let gateway = gateway(KEYS).await;
    assert_eq!(
        status(&gateway, "plain-key-1234", "echo/anything").await.0,
        200,
        "a plain key may use every model"
    );
    assert_eq!(status(&gateway, "ci-key-5678", "echo/x").await.0, 200);
    let (code, body) = status(&gateway, "ci-key-5678", "smart").await;
    assert_eq!(code, 403);
    assert_eq!(body["error"]["code"], "model_not_allowed");
    assert_eq!(body["error"]["type"], "permission_error");
    assert!(
        body["error"]["message"].as_str().unwrap().contains("'ci'"),
        "named, never the key itself"
    );
    assert_eq!(
        status(&gateway, "gw-key", "smart").await.0,
        200,
        "a key given as its sha256 digest"
    );
    assert_eq!(status(&gateway, "gw-key", "echo/gpt-4.1-mini").await.0, 200);
    assert_eq!(status(&gateway, "gw-key", "echo/gpt-4.1").await.0, 403);
    assert_eq!(status(&gateway, "gw-key-wrong", "smart").await.0, 401);
}

#[tokio::test]
async fn x_api_key_works_as_well_as_bearer() {
    let gateway = gateway(KEYS).await;
    let response = gateway
        .chat_json(&user("echo/x", "hi"))
        .header("x-api-key", "ci-key-5678")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let response = gateway
        .chat_json(&user("echo/x", "hi"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
}

#[tokio::test]
async fn the_model_list_shows_what_the_key_may_use() {
    let gateway = gateway(&format!(
        "{KEYS}\n[providers.more]\nkind = \"echo\"\nmodels = [\"other\", \"thing-mini\"]\n"
    ))
    .await;
    let list = |key: &'static str| {
        let request = gateway
            .http
            .get(format!("{}/v1/models", gateway.url))
            .bearer_auth(key);
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
    use std::process::Command;
    let bin = env!("CARGO_BIN_EXE_switchyard");
    let dir = std::env::temp_dir().join(format!("switchyard-keys-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let open = dir.join("open.toml");
    std::fs::write(&open, "[server]\nlisten = \"0.0.0.0:0\"\n").unwrap();
    let output = Command::new(bin)
        .args(["serve", "--config"])
        .arg(&open)
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("refusing to serve 0.0.0.0:0 without gateway keys")
            && stderr.contains("allow_anonymous"),
        "{stderr}"
    );
    let check = Command::new(bin)
        .args(["check", "--config"])
        .arg(&open)
        .output()
        .unwrap();
    assert!(!check.status.success(), "check says so too");

    let meant = dir.join("meant.toml");
    std::fs::write(
        &meant,
        "[server]\nlisten = \"0.0.0.0:0\"\n[auth]\nallow_anonymous = true\n",
    )
    .unwrap();
    let check = Command::new(bin)
        .args(["check", "--config"])
        .arg(&meant)
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
    assert!(
        String::from_utf8_lossy(&check.stdout).contains("anonymous requests: allowed anywhere")
    );
}

#[tokio::test]
async fn requests_per_minute_are_limited_per_key_with_openai_headers() {
    let toml = "[auth]\nkeys = [{ name = \"ci\", key = \"ci-key\", rpm = 3 }, { name = \"other\", key = \"other-key\", rpm = 3 }]\n[limits]\nbackend = \"memory\"\n";
    let gateway = gateway(toml).await;
    // 20 s into a minute, so the window cannot roll over during the test.
    gateway.state.limits.pin_clock(1_800_000_020);
    for remaining in ["2", "1", "0"] {
        let response = gateway
            .chat_json(&user("echo/x", "hi"))
            .bearer_auth("ci-key")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let headers = response.headers();
        assert_eq!(headers["x-ratelimit-limit-requests"], "3");
        assert_eq!(headers["x-ratelimit-remaining-requests"], remaining);
        assert_eq!(headers["x-ratelimit-reset-requests"], "40s");
    }
    let response = gateway
        .chat_json(&user("echo/x", "hi"))
        .bearer_auth("ci-key")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 429);
    assert_eq!(response.headers()["retry-after"], "40");
    assert_eq!(response.headers()["x-ratelimit-remaining-requests"], "0");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "rate_limit_exceeded");
    assert!(body["error"]["message"].as_str().unwrap().contains("'ci'"));

    let other = gateway
        .chat_json(&user("echo/x", "hi"))
        .bearer_auth("other-key")
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), 200, "each key has its own counter");

    gateway.state.limits.pin_clock(1_800_000_060);
    let next_minute = gateway
        .chat_json(&user("echo/x", "hi"))
        .bearer_auth("ci-key")
        .send()
        .await
        .unwrap();
    assert_eq!(next_minute.status(), 200);
    assert_eq!(next_minute.headers()["x-ratelimit-remaining-requests"], "2");
}
