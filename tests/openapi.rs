//! openapi/switchyard.yaml against the code: every request example is a request the gateway
//! accepts, every response example has the shape the gateway emits (and the echo examples are
//! what the echo provider really answers), and every documented path is served.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use bytes::Bytes;
use common::*;
use serde::Deserialize;
use serde_json::{Map, Value};
use switchyard::openai::request::ChatRequest;

fn document() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/openapi/switchyard.yaml");
    let text = std::fs::read_to_string(path).expect("read openapi/switchyard.yaml");
    serde_norway::from_str(&text).expect("openapi/switchyard.yaml is YAML")
}

/// Follows a local `$ref` (repeatedly) to the object it names.
fn resolve<'a>(doc: &'a Value, value: &'a Value) -> &'a Value {
    let mut value = value;
    while let Some(reference) = value.get("$ref").and_then(Value::as_str) {
        let pointer = reference
            .strip_prefix('#')
            .unwrap_or_else(|| panic!("only local refs: {reference}"));
        value = doc
            .pointer(pointer)
            .unwrap_or_else(|| panic!("dangling $ref {reference}"));
    }
    value
}

/// (path, method, operation) for every operation in the document.
fn operations(doc: &Value) -> Vec<(String, String, &Value)> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, operation) in item.as_object().expect("path item") {
            out.push((path.clone(), method.clone(), operation));
        }
    }
    out
}

fn chat_operations(doc: &Value) -> Vec<(String, &Value)> {
    operations(doc)
        .into_iter()
        .filter(|(path, _, _)| path.ends_with("/chat/completions"))
        .map(|(path, _, operation)| (path, operation))
        .collect()
}

/// The named examples of a media type (`examples`), or its single `example`.
fn examples<'a>(doc: &'a Value, media: &'a Value) -> Vec<(String, &'a Value)> {
    let mut out = Vec::new();
    if let Some(named) = media.get("examples").and_then(Value::as_object) {
        for (name, example) in named {
            let example = resolve(doc, example);
            out.push((name.clone(), &example["value"]));
        }
    }
    if let Some(example) = media.get("example") {
        out.push(("example".to_owned(), example));
    }
    out
}

fn request_examples(doc: &Value) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    for (path, operation) in chat_operations(doc) {
        let body = resolve(doc, &operation["requestBody"]);
        let media = &body["content"]["application/json"];
        for (name, example) in examples(doc, media) {
            out.push((format!("{path} {name}"), example.clone()));
        }
    }
    assert!(!out.is_empty(), "the chat operations have request examples");
    out
}

#[test]
fn every_request_example_is_accepted_by_the_gateway() {
    let doc = document();
    for (name, example) in request_examples(&doc) {
        let body = Bytes::from(serde_json::to_vec(&example).unwrap());
        let request = ChatRequest::parse(body).unwrap_or_else(|e| panic!("{name}: {e}"));
        let params = request
            .params()
            .unwrap_or_else(|e| panic!("{name}: params: {e}"));
        assert!(!params.messages.is_empty(), "{name}");
        assert_eq!(request.stream, example["stream"] == Value::Bool(true));
    }
}

#[test]
fn request_examples_cover_every_role_part_and_format() {
    let doc = document();
    let all = Value::Array(request_examples(&doc).into_iter().map(|(_, e)| e).collect());
    let text = all.to_string();
    for needle in [
        r#""role":"system""#,
        r#""role":"developer""#,
        r#""role":"user""#,
        r#""role":"assistant""#,
        r#""role":"tool""#,
        r#""type":"text""#,
        r#""type":"image_url""#,
        r#""type":"input_audio""#,
        r#""type":"file""#,
        r#""type":"json_object""#,
        r#""type":"json_schema""#,
    ] {
        assert!(text.contains(needle), "no request example has {needle}");
    }
}

#[test]
fn the_request_schema_lists_every_readme_field_and_lets_unknown_ones_through() {
    let doc = document();
    let schema = &doc["components"]["schemas"]["ChatRequest"];
    assert_eq!(schema["additionalProperties"], Value::Bool(true));
    let properties = schema["properties"].as_object().expect("properties");
    for field in [
        "model",
        "messages",
        "tools",
        "tool_choice",
        "parallel_tool_calls",
        "response_format",
        "modalities",
        "audio",
        "stream",
        "stream_options",
        "n",
        "temperature",
        "top_p",
        "max_tokens",
        "max_completion_tokens",
        "stop",
        "seed",
        "logprobs",
        "top_logprobs",
        "presence_penalty",
        "frequency_penalty",
        "logit_bias",
        "user",
        "metadata",
        "reasoning_effort",
    ] {
        assert!(properties.contains_key(field), "ChatRequest lacks {field}");
    }
}

/// What the gateway emits for a whole answer (src/openai/response.rs).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct Completion {
    id: String,
    object: String,
    created: u64,
    model: String,
    choices: Vec<CompletionChoice>,
    usage: Option<Usage>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct CompletionChoice {
    index: u32,
    message: ResponseMessage,
    finish_reason: Option<String>,
    logprobs: Option<Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct ResponseMessage {
    role: String,
    content: Option<String>,
    refusal: Option<String>,
    #[serde(default)]
    tool_calls: Vec<switchyard::openai::message::ToolCall>,
    reasoning_content: Option<String>,
    #[serde(default)]
    reasoning_details: Vec<switchyard::openai::message::ReasoningDetail>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct Usage {
    prompt_tokens: u64,
    completion_tokens: u64,
    total_tokens: u64,
    prompt_tokens_details: Option<Map<String, Value>>,
    completion_tokens_details: Option<Map<String, Value>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct ErrorBody {
    error: ErrorObject,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct ErrorObject {
    message: String,
    #[serde(rename = "type")]
    kind: String,
    param: Option<String>,
    code: Option<Value>,
}

fn chat_ok_response(doc: &Value) -> &Value {
    let (_, operation) = chat_operations(doc).into_iter().next().expect("chat");
    resolve(doc, &operation["responses"]["200"])
}

#[test]
fn every_completion_example_has_the_fields_the_gateway_emits() {
    let doc = document();
    let media = &chat_ok_response(&doc)["content"]["application/json"];
    let all = examples(&doc, media);
    assert!(all.len() >= 2);
    for (name, example) in all {
        let completion: Completion = serde_json::from_value(example.clone())
            .unwrap_or_else(|e| panic!("example {name}: {e}"));
        assert_eq!(completion.object, "chat.completion", "{name}");
        assert!(completion.id.starts_with("chatcmpl-"), "{name}");
        assert!(!completion.choices.is_empty(), "{name}");
        for choice in &completion.choices {
            assert_eq!(choice.message.role, "assistant", "{name}");
        }
        if let Some(usage) = &completion.usage {
            assert_eq!(
                usage.total_tokens,
                usage.prompt_tokens + usage.completion_tokens,
                "{name}"
            );
        }
    }
}

/// The stream example parsed by its framing: `data: <json>\n\n` events ending in `data: [DONE]`.
fn sse_events(text: &str) -> Vec<String> {
    text.split("\n\n")
        .map(str::trim)
        .filter(|event| !event.is_empty() && !event.starts_with(':'))
        .map(|event| {
            event
                .strip_prefix("data: ")
                .unwrap_or_else(|| panic!("not a data event: {event:?}"))
                .to_owned()
        })
        .collect()
}

fn without_volatile(mut value: Value) -> Value {
    if let Some(object) = value.as_object_mut() {
        object.remove("id");
        object.remove("created");
    }
    value
}

#[test]
fn the_stream_example_is_framed_as_the_gateway_frames_it() {
    let doc = document();
    let example = chat_ok_response(&doc)["content"]["text/event-stream"]["example"]
        .as_str()
        .expect("a text/event-stream example");
    let events = sse_events(example);
    assert_eq!(events.last().map(String::as_str), Some("[DONE]"));
    let chunks: Vec<Value> = events[..events.len() - 1]
        .iter()
        .map(|e| serde_json::from_str(e).unwrap())
        .collect();
    let ids: std::collections::BTreeSet<String> =
        chunks.iter().map(|c| c["id"].to_string()).collect();
    assert_eq!(ids.len(), 1, "one id per stream");
    for chunk in &chunks {
        assert_eq!(chunk["object"], "chat.completion.chunk");
    }
}

#[test]
fn every_error_example_is_the_openai_error_shape() {
    let doc = document();
    let (_, operation) = chat_operations(&doc).into_iter().next().expect("chat");
    let responses = operation["responses"].as_object().expect("responses");
    for status in [
        "400", "401", "403", "404", "405", "408", "413", "429", "502", "503", "504",
    ] {
        assert!(
            responses.contains_key(status),
            "chat lacks a {status} response"
        );
    }
    for (status, response) in responses {
        if status.starts_with('2') {
            continue;
        }
        let response = resolve(&doc, response);
        let media = &response["content"]["application/json"];
        assert_eq!(
            resolve(&doc, &media["schema"]),
            &doc["components"]["schemas"]["ErrorResponse"],
            "{status}"
        );
        assert!(
            response["headers"].get("x-request-id").is_some(),
            "{status}"
        );
        let all = examples(&doc, media);
        assert!(!all.is_empty(), "{status} has no example");
        for (name, example) in all {
            let _: ErrorBody = serde_json::from_value(example.clone())
                .unwrap_or_else(|e| panic!("{status} {name}: {e}"));
        }
    }
}

#[tokio::test]
async fn the_echo_examples_are_what_the_echo_provider_answers() {
    let doc = document();
    let gateway = gateway("").await;
    let requests = request_examples(&doc);
    let request = |name: &str| {
        requests
            .iter()
            .find(|(n, _)| n == &format!("/v1/chat/completions {name}"))
            .map(|(_, e)| e.clone())
            .unwrap_or_else(|| panic!("no request example {name}"))
    };
    let response = chat_ok_response(&doc);

    // Whole answer.
    let expected = examples(&doc, &response["content"]["application/json"])
        .into_iter()
        .find(|(name, _)| name == "echo")
        .map(|(_, e)| e.clone())
        .expect("an echo response example");
    let answer = gateway.send(&request("simple")).await;
    assert_eq!(answer.status(), 200);
    let answer: Value = answer.json().await.unwrap();
    assert_eq!(without_volatile(answer), without_volatile(expected));

    // Stream.
    let expected = sse_events(
        response["content"]["text/event-stream"]["example"]
            .as_str()
            .unwrap(),
    );
    let answer = gateway.send(&request("streamed")).await;
    assert_eq!(answer.status(), 200);
    assert!(
        answer.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let got = sse_events(&answer.text().await.unwrap());
    assert_eq!(got.len(), expected.len());
    for (got, expected) in got.iter().zip(&expected) {
        if expected == "[DONE]" {
            assert_eq!(got, expected);
        } else {
            let got: Value = serde_json::from_str(got).unwrap();
            let expected: Value = serde_json::from_str(expected).unwrap();
            assert_eq!(without_volatile(got), without_volatile(expected));
        }
    }

    // Every request example gets an answer from echo.
    for (name, example) in &requests {
        let answer = gateway.send(example).await;
        assert_eq!(answer.status(), 200, "{name}");
        assert!(answer.headers().contains_key("x-request-id"), "{name}");
        assert_eq!(
            answer.headers()["x-switchyard-target"],
            "echo/demo",
            "{name}"
        );
    }
}

#[tokio::test]
async fn every_documented_path_is_served() {
    let doc = document();
    let gateway = gateway("").await;
    let simple = request_examples(&doc).remove(0).1;
    let operations = operations(&doc);
    assert_eq!(operations.len(), 9);
    for (path, method, _) in operations {
        if path == "/v1/responses" {
            // Served by echo through the translation onto chat: a response object.
            let response = gateway
                .http
                .post(format!("{}{path}", gateway.url))
                .json(&serde_json::json!({"model": "echo/demo", "input": "hi"}))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 200, "{path}");
            let body: Value = response.json().await.unwrap();
            assert_eq!(body["object"], "response", "{body}");
            assert_eq!(body["output"][0]["content"][0]["text"], "hi", "{body}");
            continue;
        }
        if path == "/v1/embeddings" {
            let response = gateway
                .http
                .post(format!("{}{path}", gateway.url))
                .json(&serde_json::json!({"model": "echo/embed", "input": "hi"}))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 200, "{path}");
            continue;
        }
        if path.starts_with("/v1/messages") {
            // Served in Anthropic's shape: the chat example, which has no `max_tokens`, is a
            // Messages request only to count its tokens.
            let response = gateway
                .http
                .post(format!("{}{path}", gateway.url))
                .body(simple.to_string())
                .send()
                .await
                .unwrap();
            let status = response.status();
            let body: Value = response.json().await.unwrap();
            if path.ends_with("count_tokens") {
                assert_eq!(status, 200, "{path}: {body}");
                assert!(body["input_tokens"].as_u64().is_some(), "{path}: {body}");
            } else {
                assert_eq!(status, 400, "{path}: {body}");
                assert_eq!(
                    body["error"]["type"], "invalid_request_error",
                    "{path}: {body}"
                );
            }
            continue;
        }
        let response = match method.as_str() {
            "get" => gateway.get(&path).send().await.unwrap(),
            "post" => gateway
                .http
                .post(format!("{}{path}", gateway.url))
                .header("content-type", "application/json")
                .body(simple.to_string())
                .send()
                .await
                .unwrap(),
            other => panic!("unexpected method {other} on {path}"),
        };
        assert_eq!(response.status(), 200, "{method} {path}");
    }
}
