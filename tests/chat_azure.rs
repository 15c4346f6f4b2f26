//! Azure OpenAI: deployment in the URL, api-version query, api-key header, its stream quirks.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use serde_json::Value;

async fn azure(api_version: Option<&str>) -> (FakeUpstream, Gateway) {
    let upstream = FakeUpstream::start().await;
    let base = upstream.base_url.trim_end_matches("/v1").to_owned();
    let version = api_version
        .map(|v| format!("api_version = \"{v}\"\n"))
        .unwrap_or_default();
    let (base_url, _) = match api_version {
        Some(_) => (format!("{base}/openai"), ()),
        None => (format!("{base}/openai/v1"), ()),
    };
    let toml = format!(
        "[providers.azure-eu]\nkind = \"azure\"\nbase_url = \"{base_url}\"\napi_key = \"azure-secret-key-1\"\n{version}"
    );
    (upstream, gateway(&toml).await)
}

#[tokio::test]
async fn classic_api_puts_the_deployment_in_the_url() {
    let (upstream, gateway) = azure(Some("2024-10-21")).await;
    upstream.push(Reply::json(completion_json("hello from azure")));
    let body: Value = gateway
        .chat_json(&user("azure-eu/gpt4o-prod", "hi"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["model"], "azure-eu/gpt4o-prod");
    assert_eq!(body["choices"][0]["message"]["content"], "hello from azure");
    let received = upstream.last_request();
    assert_eq!(
        received.path,
        "/openai/deployments/gpt4o-prod/chat/completions"
    );
    assert_eq!(received.query.as_deref(), Some("api-version=2024-10-21"));
    assert_eq!(received.headers["api-key"], "azure-secret-key-1");
    assert!(received.headers.get("authorization").is_none());
    assert_eq!(received.json()["model"], "gpt4o-prod");
}

#[tokio::test]
async fn v1_api_without_api_version() {
    let (upstream, gateway) = azure(None).await;
    upstream.push(Reply::json(completion_json("v1")));
    let response = gateway
        .chat_json(&user("azure-eu/gpt-4.1", "hi"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let received = upstream.last_request();
    assert_eq!(received.path, "/openai/v1/chat/completions");
    assert_eq!(received.query, None);
    assert_eq!(received.json()["model"], "gpt-4.1");
}

#[tokio::test]
async fn azure_streams_with_an_empty_first_chunk_are_tidied() {
    let (upstream, gateway) = azure(Some("2024-10-21")).await;
    upstream.push(Reply::sse(include_str!("fixtures/azure/stream.sse")));
    let body = read_sse(
        gateway
            .chat_json(&user_stream("azure-eu/gpt4o-prod", "hi"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(body.text(), "Hi there");
    let chunks = body.chunks();
    let id = chunks[0]["id"].clone();
    assert!(chunks.iter().all(|c| c["id"] == id
        && c["model"] == "azure-eu/gpt4o-prod"
        && c["created"].as_u64() > Some(0)));
    assert_eq!(body.done_count(), 1);
}

#[tokio::test]
async fn azure_content_filter_400_passes_through() {
    let (upstream, gateway) = azure(Some("2024-10-21")).await;
    upstream.push(Reply::status(
        400,
        r#"{"error":{"code":"content_filter","param":"prompt","message":"The response was filtered due to the prompt triggering Azure OpenAI's content management policy.","status":400,"innererror":{"code":"ResponsibleAIPolicyViolation"}}}"#,
    ));
    let response = gateway
        .chat_json(&user("azure-eu/gpt4o-prod", "hi"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "content_filter");
    assert_eq!(body["error"]["param"], "prompt");
}

#[tokio::test]
async fn a_deployment_name_cannot_change_the_url() {
    let (upstream, gateway) = azure(Some("2024-10-21")).await;
    for model in [
        "azure-eu/../../other",
        "azure-eu/x?api-version=1",
        "azure-eu/a#b",
        "azure-eu/..",
    ] {
        let response = gateway.chat_json(&user(model, "hi")).send().await.unwrap();
        assert_eq!(response.status(), 400, "{model}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["param"], "model");
    }
    assert!(upstream.requests().is_empty(), "nothing was sent upstream");
}

#[tokio::test]
async fn stream_and_whole_of_one_answer_agree() {
    let (upstream, gateway) = azure(Some("2024-10-21")).await;
    upstream.push(Reply::sse(include_str!("fixtures/azure/stream.sse")));
    upstream.push(Reply::json(include_str!("fixtures/azure/whole.json")));
    let streamed = read_sse(
        gateway
            .chat_json(&user_stream("azure-eu/gpt4o-prod", "hi"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let whole: Value = gateway
        .chat_json(&user("azure-eu/gpt4o-prod", "hi"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        streamed.text(),
        whole["choices"][0]["message"]["content"].as_str().unwrap()
    );
    let finish = streamed
        .chunks()
        .iter()
        .find_map(|c| c["choices"][0]["finish_reason"].as_str().map(str::to_owned));
    assert_eq!(
        finish.as_deref(),
        whole["choices"][0]["finish_reason"].as_str()
    );
    assert_eq!(whole["model"], "azure-eu/gpt4o-prod");
    assert!(
        whole["prompt_filter_results"].is_array(),
        "Azure's extra fields pass through"
    );
}
