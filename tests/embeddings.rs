//! `POST /v1/embeddings`: passed through byte for byte to OpenAI-compatible targets, translated
//! for Gemini (its floats packed as base64 when asked, as OpenAI packs them), deterministic on
//! echo, a clear 400 for a kind without embeddings; metered and routed like chat.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use base64::Engine as _;
use common::*;
use serde_json::{Value, json};

const KEYS: &str = "[auth]\nkeys = [{ name = \"rag\", key = \"rag-key\", tpm = 1000 }]\n";

async fn embed(gateway: &Gateway, body: &Value) -> reqwest::Response {
    gateway
        .http
        .post(format!("{}/v1/embeddings", gateway.url))
        .bearer_auth("rag-key")
        .json(body)
        .send()
        .await
        .unwrap()
}

const OPENAI_ANSWER: &str = r#"{"object":"list","data":[{"object":"embedding","index":0,"embedding":"AACAPwAAAMA="}],"model":"text-embedding-3-small","usage":{"prompt_tokens":8,"total_tokens":8}}"#;

#[tokio::test]
async fn openai_targets_get_the_request_as_it_came_and_answer_with_only_model_replaced() {
    let (upstream, gateway) = gateway_with_upstream(KEYS).await;
    upstream.push(Reply::json(OPENAI_ANSWER));
    let sent = json!({"model": "up/text-embedding-3-small", "input": "The food was delicious",
                      "encoding_format": "base64", "dimensions": 2, "user": "u1", "future": [1]});
    let response = embed(&gateway, &sent).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-ratelimit-remaining-tokens"], "1000");
    assert_eq!(
        response.text().await.unwrap(),
        OPENAI_ANSWER.replace(
            "\"text-embedding-3-small\"",
            "\"up/text-embedding-3-small\""
        )
    );
    let got = upstream.last_request();
    assert_eq!(got.path, "/v1/embeddings");
    let mut expected = sent.clone();
    expected["model"] = json!("text-embedding-3-small");
    assert_eq!(got.json(), expected);
    assert_eq!(got.headers["authorization"], "Bearer sk-upstream-secret-up");

    // The 8 tokens were counted against the key.
    upstream.push(Reply::json(OPENAI_ANSWER));
    let again = embed(&gateway, &sent).await;
    assert_eq!(again.headers()["x-ratelimit-remaining-tokens"], "992");
}

#[tokio::test]
async fn gemini_embeds_in_a_batch_and_its_floats_are_packed_as_openai_packs_them() {
    let (upstream, gateway) = gateway_for(&GEMINI, KEYS).await;
    let answer = r#"{"embeddings":[{"values":[1.0,-2.0,0.5]},{"values":[0.25,0.0,-1.0]}]}"#;
    upstream.push(Reply::json(answer));
    let floats = embed(
        &gateway,
        &json!({"model": "gem/gemini-embedding-001", "input": ["one", "two"], "dimensions": 3}),
    )
    .await;
    assert_eq!(floats.status(), 200);
    let list: Value = floats.json().await.unwrap();
    assert_eq!(list["object"], "list");
    assert_eq!(list["model"], "gem/gemini-embedding-001");
    assert_eq!(
        list["data"][0],
        json!({"object": "embedding", "index": 0, "embedding": [1.0, -2.0, 0.5]})
    );
    assert_eq!(list["data"][1]["index"], 1);
    assert_eq!(
        list["usage"]["prompt_tokens"], 2,
        "estimated: Gemini reports none"
    );
    let got = upstream.last_request();
    assert_eq!(
        got.path,
        "/v1beta/models/gemini-embedding-001:batchEmbedContents"
    );
    assert_eq!(
        got.json(),
        json!({"requests": [
            {"model": "models/gemini-embedding-001", "content": {"parts": [{"text": "one"}]}, "outputDimensionality": 3},
            {"model": "models/gemini-embedding-001", "content": {"parts": [{"text": "two"}]}, "outputDimensionality": 3}
        ]})
    );

    upstream.push(Reply::json(answer));
    let packed = embed(
        &gateway,
        &json!({"model": "gem/gemini-embedding-001", "input": ["one", "two"], "encoding_format": "base64"}),
    )
    .await;
    let list: Value = packed.json().await.unwrap();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(list["data"][0]["embedding"].as_str().unwrap())
        .unwrap();
    let values: Vec<f32> = bytes
        .chunks(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    assert_eq!(values, [1.0, -2.0, 0.5]);

    let tokens = embed(
        &gateway,
        &json!({"model": "gem/gemini-embedding-001", "input": [[1, 2, 3]]}),
    )
    .await;
    assert_eq!(tokens.status(), 400);
    let error: Value = tokens.json().await.unwrap();
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .contains("token ids"),
        "{error}"
    );
}

#[tokio::test]
async fn echo_embeds_deterministically_and_anthropic_has_no_embeddings() {
    let (_upstream, gateway) = gateway_for(&ANTHROPIC, KEYS).await;
    let vector = |list: &Value, i: usize| -> Vec<f64> {
        list["data"][i]["embedding"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect()
    };
    let first: Value = embed(
        &gateway,
        &json!({"model": "echo/embed", "input": ["same", "other", "same"], "dimensions": 16}),
    )
    .await
    .json()
    .await
    .unwrap();
    let (a, b, c) = (vector(&first, 0), vector(&first, 1), vector(&first, 2));
    assert_eq!(a.len(), 16);
    assert_eq!(a, c, "the same text, the same vector");
    assert_ne!(a, b);
    let norm: f64 = a.iter().map(|v| v * v).sum::<f64>().sqrt();
    assert!((norm - 1.0).abs() < 1e-9, "{norm}");

    let refused = embed(
        &gateway,
        &json!({"model": "claude/claude-sonnet-4-5", "input": "x"}),
    )
    .await;
    assert_eq!(refused.status(), 400);
    let error: Value = refused.json().await.unwrap();
    let message = error["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("'claude' (anthropic) has no embeddings"),
        "{message}"
    );
}

#[tokio::test]
async fn an_embedding_alias_falls_back_like_a_chat_one() {
    let (a, b) = (FakeUpstream::start().await, FakeUpstream::start().await);
    let toml = format!(
        "{}{}[routing]\nbackoff_base = \"1ms\"\n[models.embedder]\ntargets = [\"a/text-embedding-3-small\", \"b/text-embedding-3-small\"]\nretries = 0\n{KEYS}",
        a.provider_toml("a"),
        b.provider_toml("b"),
    );
    let gateway = gateway(&toml).await;
    a.push(Reply::status(503, r#"{"error":{"message":"busy"}}"#));
    b.push(Reply::json(OPENAI_ANSWER));
    let response = embed(&gateway, &json!({"model": "embedder", "input": "x"})).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["x-switchyard-target"],
        "b/text-embedding-3-small"
    );
    let list: Value = response.json().await.unwrap();
    assert_eq!(list["model"], "b/text-embedding-3-small");
}

#[tokio::test]
async fn azures_classic_api_embeds_at_the_deployments_url() {
    let (upstream, gateway) = gateway_for(&AZURE_CLASSIC, KEYS).await;
    upstream.push(Reply::json(OPENAI_ANSWER));
    let response = embed(
        &gateway,
        &json!({"model": "azure-eu/embed-prod", "input": "x"}),
    )
    .await;
    assert_eq!(response.status(), 200);
    let got = upstream.last_request();
    assert_eq!(got.path, "/openai/deployments/embed-prod/embeddings");
    assert_eq!(got.query.as_deref(), Some("api-version=2024-10-21"));
    assert_eq!(got.headers["api-key"], "azure-secret-key-1");
}
