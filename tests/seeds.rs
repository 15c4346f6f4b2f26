//! The requests shown by the API descriptions switchyard started from (shared/seeds/) all pass
//! through: a model router's SSE stream, a RAG vendor's bearer-auth stream, a multimedia chat API
//! with image/audio parts, tools and json_schema, and a chat API with thread_id.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use serde_json::json;

const GATEWAY_KEY: &str = "inkeep-style-bearer-key";

async fn setup() -> (FakeUpstream, Gateway) {
    let upstream = FakeUpstream::start().await;
    let toml = format!(
        "{}\n[models.inkeep-qa-expert]\ntargets = [\"openai/inkeep-qa-expert\"]\n[models.\"gpt-4o\"]\ntargets = [\"openai/gpt-4o\"]\n[models.ark-reason]\ntargets = [\"openai/ark-reason\"]\n[models.parrot]\ntargets = [\"echo/parrot\"]\n[auth]\nkeys = [\"{GATEWAY_KEY}\"]\n",
        upstream.provider_toml("openai")
    );
    (upstream, gateway(&toml).await)
}

/// The multimedia seed's request: `context`, image_url given as a bare string, audio input,
/// an assistant turn whose tool_calls is one object, tool content as an array of strings,
/// json_schema, modalities and audio, `ssml_enabled`.
const MULTIMEDIA: &str = r#"{"context":{"locale":"en-GB"},"model":"gpt-4o","messages":[{"role":"system","name":"guide","content":["Be brief.","Use British spelling."]},{"role":"user","content":[{"type":"text","text":"Describe both."},{"type":"image_url","image_url":"https://example.com/cat.png"},{"type":"input_audio","input_audio":{"data":"UklGRiQAAABXQVZF","format":"wav"}}]},{"role":"assistant","content":"Calling a tool.","tool_calls":{"id":"call_1","type":"function","function":{"name":"lookup","arguments":"{\"q\":\"cat\"}"}}},{"role":"tool","tool_call_id":"call_1","content":["a tabby","sleeping"]}],"response_format":{"type":"json_schema","json_schema":{"name":"description","schema":{"type":"object","properties":{"text":{"type":"string"}}}}},"modalities":["text","audio"],"audio":{"voice":"alloy"},"tools":[{"type":"function","function":{"name":"lookup","description":"Look up","parameters":{"type":"object","properties":{"q":{"type":"string"}}},"strict":false}}],"tool_choice":"auto","parallel_tool_calls":true,"stream":true,"ssml_enabled":false}"#;

const ARK: &str = r#"{"model":"ark-reason","messages":[{"role":"user","content":"Plan my week."}],"stream":false,"temperature":1.0,"thread_id":"1"}"#;

fn authed(gateway: &Gateway, body: &str) -> reqwest::RequestBuilder {
    gateway.chat(body.to_owned()).bearer_auth(GATEWAY_KEY)
}

#[tokio::test]
async fn martian_router_stream_with_a_provider_model_key() {
    let (upstream, gateway) = setup().await;
    upstream.push(Reply::sse(format!("{}{DONE}", text_stream(&["Hello"]))));
    let request = json!({"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "Hi"}], "stream": true});
    let body = read_sse(authed(&gateway, &request.to_string()).send().await.unwrap()).await;
    assert_eq!(body.text(), "Hello");
    assert!(
        body.chunks()
            .iter()
            .all(|c| c["model"] == "openai/gpt-4o-mini"),
        "model is the provider/model-name that served"
    );
    assert_eq!(body.done_count(), 1);
    assert_eq!(upstream.last_request().json()["model"], "gpt-4o-mini");
}

#[tokio::test]
async fn inkeep_bearer_stream_through_an_alias_on_the_unversioned_path() {
    let (upstream, gateway) = setup().await;
    // The chunks exactly as the Inkeep description's examples show them.
    let opening = r#"{"id":"chatcmpl-abc123","object":"chat.completion.chunk","created":1781913600,"model":"inkeep-qa-expert","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}"#;
    let content = r#"{"id":"chatcmpl-abc123","object":"chat.completion.chunk","created":1781913600,"model":"inkeep-qa-expert","choices":[{"index":0,"delta":{"content":"Hello"},"finish_reason":null}]}"#;
    let last = r#"{"id":"chatcmpl-abc123","object":"chat.completion.chunk","created":1781913600,"model":"inkeep-qa-expert","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}"#;
    upstream.push(Reply::sse(format!(
        "{}{}{}{DONE}",
        data(opening),
        data(content),
        data(last)
    )));
    let request = json!({"model": "inkeep-qa-expert", "messages": [{"role": "user", "content": "How do I start?"}],
        "stream": true, "response_format": {"type": "json_object"}});
    let response = gateway
        .http
        .post(format!("{}/chat/completions", gateway.url))
        .bearer_auth(GATEWAY_KEY)
        .header("content-type", "application/json")
        .body(request.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let body = read_sse(response).await;
    let chunks = body.chunks();
    assert_eq!(chunks.len(), 3);
    assert!(
        chunks
            .iter()
            .all(|c| c["id"] == "chatcmpl-abc123" && c["created"] == 1781913600)
    );
    assert_eq!(chunks[2]["choices"][0]["finish_reason"], "stop");
    assert_eq!(body.done_count(), 1);
    let forwarded = upstream.last_request();
    assert_eq!(forwarded.json()["response_format"]["type"], "json_object");
    assert!(!format!("{:?}", forwarded.headers).contains(GATEWAY_KEY));

    let anonymous = gateway.chat(request.to_string()).send().await.unwrap();
    assert_eq!(anonymous.status(), 401);
}

#[tokio::test]
async fn multimedia_request_passes_through_byte_for_byte() {
    let (upstream, gateway) = setup().await;
    upstream.push(Reply::sse(format!(
        "{}{DONE}",
        text_stream(&["{\"text\":\"A cat.\"}"])
    )));
    let body = read_sse(authed(&gateway, MULTIMEDIA).send().await.unwrap()).await;
    assert_eq!(body.text(), "{\"text\":\"A cat.\"}");
    let forwarded = upstream.last_request().text();
    // The alias `gpt-4o` targets openai/gpt-4o, so the upstream model name is the same string.
    assert_eq!(forwarded, MULTIMEDIA);
    assert!(
        forwarded.contains(r#""ssml_enabled":false"#)
            && forwarded.contains(r#""context":{"locale":"en-GB"}"#)
    );
}

#[tokio::test]
async fn multimedia_request_is_understood_by_the_echo_provider_too() {
    let (_upstream, gateway) = setup().await;
    let request = MULTIMEDIA
        .replacen(r#""model":"gpt-4o""#, r#""model":"parrot""#, 1)
        .replacen(r#""stream":true"#, r#""stream":false"#, 1);
    let body = json_of(authed(&gateway, &request).send().await.unwrap(), 200).await;
    assert_eq!(body["choices"][0]["message"]["content"], "Describe both.");
    assert_eq!(body["model"], "echo/parrot");
}

#[tokio::test]
async fn ark_request_with_thread_id() {
    let (upstream, gateway) = setup().await;
    upstream.push(Reply::json(completion_json("Monday: rest.")));
    let body = json_of(authed(&gateway, ARK).send().await.unwrap(), 200).await;
    assert_eq!(body["model"], "openai/ark-reason");
    assert_eq!(body["choices"][0]["message"]["content"], "Monday: rest.");
    let forwarded = upstream.last_request().text();
    assert_eq!(
        forwarded, ARK,
        "the alias targets openai/ark-reason: every byte is the client's"
    );
    assert!(forwarded.contains(r#""thread_id":"1""#));
}
