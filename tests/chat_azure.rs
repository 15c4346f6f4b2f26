//! Azure OpenAI: deployment in the URL, api-version query, api-key header, its stream quirks.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::fixtures::azure::*;
use common::*;

const DEPLOYMENT: &str = "azure-eu/gpt4o-prod";

#[tokio::test]
async fn classic_api_puts_the_deployment_in_the_url() {
    let (upstream, gateway) = gateway_for(&AZURE_CLASSIC, "").await;
    upstream.push(Reply::json(completion_json("hello from azure")));
    let body = gateway.whole(&user(DEPLOYMENT, "hi")).await;
    assert_eq!(body["model"], DEPLOYMENT);
    assert_eq!(body["choices"][0]["message"]["content"], "hello from azure");
    let received = upstream.last_request();
    assert_eq!(
        received.path,
        "/openai/deployments/gpt4o-prod/chat/completions"
    );
    assert_eq!(received.query.as_deref(), Some("api-version=2024-10-21"));
    assert_eq!(received.headers["api-key"], AZURE.api_key);
    assert!(received.headers.get("authorization").is_none());
    assert_eq!(received.json()["model"], "gpt4o-prod");
}

#[tokio::test]
async fn v1_api_without_api_version() {
    let (upstream, gateway) = gateway_for(&AZURE, "").await;
    upstream.push(Reply::json(completion_json("v1")));
    let response = gateway.send(&user("azure-eu/gpt-4.1", "hi")).await;
    assert_eq!(response.status(), 200);
    let received = upstream.last_request();
    assert_eq!(received.path, "/openai/v1/chat/completions");
    assert_eq!(received.query, None);
    assert_eq!(received.json()["model"], "gpt-4.1");
}

#[tokio::test]
async fn azure_streams_with_an_empty_first_chunk_are_tidied() {
    let (upstream, gateway) = gateway_for(&AZURE_CLASSIC, "").await;
    upstream.push(Reply::sse(STREAM));
    let body = gateway.sse(&user_stream(DEPLOYMENT, "hi")).await;
    assert_eq!(body.text(), "Hi there");
    let chunks = body.chunks();
    let id = chunks[0]["id"].clone();
    assert!(
        chunks
            .iter()
            .all(|c| c["id"] == id && c["model"] == DEPLOYMENT && c["created"].as_u64() > Some(0))
    );
    assert_eq!(body.done_count(), 1);
}

#[tokio::test]
async fn azure_content_filter_400_passes_through() {
    let (upstream, gateway) = gateway_for(&AZURE_CLASSIC, "").await;
    upstream.push(Reply::status(
        400,
        r#"{"error":{"code":"content_filter","param":"prompt","message":"The response was filtered due to the prompt triggering Azure OpenAI's content management policy.","status":400,"innererror":{"code":"ResponsibleAIPolicyViolation"}}}"#,
    ));
    let error = error_of(gateway.send(&user(DEPLOYMENT, "hi")).await, 400).await;
    assert_eq!(error["code"], "content_filter");
    assert_eq!(error["param"], "prompt");
}

#[tokio::test]
async fn a_deployment_name_cannot_change_the_url() {
    let (upstream, gateway) = gateway_for(&AZURE_CLASSIC, "").await;
    for model in [
        "azure-eu/../../other",
        "azure-eu/x?api-version=1",
        "azure-eu/a#b",
        "azure-eu/..",
    ] {
        let response = gateway.send(&user(model, "hi")).await;
        assert_eq!(response.status(), 400, "{model}");
        let error = error_of(response, 400).await;
        assert_eq!(error["param"], "model");
    }
    assert!(upstream.requests().is_empty(), "nothing was sent upstream");
}

#[tokio::test]
async fn stream_and_whole_of_one_answer_agree() {
    let (upstream, gateway) = gateway_for(&AZURE_CLASSIC, "").await;
    upstream.push(Reply::sse(STREAM));
    upstream.push(Reply::json(WHOLE));
    let streamed = Answer::of_stream(&gateway.sse(&user_stream(DEPLOYMENT, "hi")).await);
    let body = gateway.whole(&user(DEPLOYMENT, "hi")).await;
    let whole = Answer::of_whole(&body);
    assert!(whole.message["content"].is_string());
    assert_eq!(streamed.message["content"], whole.message["content"]);
    assert_eq!(streamed.finish_reason, whole.finish_reason);
    assert_eq!(body["model"], DEPLOYMENT);
    assert!(
        body["prompt_filter_results"].is_array(),
        "Azure's extra fields pass through"
    );
}
