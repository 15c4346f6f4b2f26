//! The Gemini kind through the gateway: OpenAI requests in, Gemini requests out to a fake
//! Gemini upstream, OpenAI answers and chunks back.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::*;
use serde_json::{Value, json};

const TEXT_STREAM: &str = include_str!("fixtures/gemini/text_stream.sse");
const TEXT: &str = include_str!("fixtures/gemini/text.json");
const TOOL_STREAM: &str = include_str!("fixtures/gemini/tool_stream.sse");
const TOOL: &str = include_str!("fixtures/gemini/tool.json");
const THINKING_STREAM: &str = include_str!("fixtures/gemini/thinking_stream.sse");
const THINKING: &str = include_str!("fixtures/gemini/thinking.json");
const BLOCKED: &str = include_str!("fixtures/gemini/blocked.json");
const MIDSTREAM_ERROR: &str = include_str!("fixtures/gemini/midstream_error.sse");
const API_KEY_ERROR: &str = include_str!("fixtures/gemini/error_api_key.json");
const QUOTA_ERROR: &str = include_str!("fixtures/gemini/error_quota_array.json");
const OVERLOADED: &str = include_str!("fixtures/gemini/error_overloaded.json");

const KEY: &str = "AIzaSy-fake-gemini-key-0001";
const MODEL: &str = "gem/gemini-2.5-flash";

/// A fake Gemini upstream configured as provider `gem`; `extra` lands in its table.
async fn gemini(extra: &str) -> (FakeUpstream, Gateway) {
    let upstream = FakeUpstream::start().await;
    let base = upstream.base_url.trim_end_matches("/v1");
    let toml = format!(
        "[providers.gem]\nkind = \"gemini\"\nbase_url = \"{base}/v1beta\"\napi_key = \"{KEY}\"\n{extra}"
    );
    (upstream, gateway(&toml).await)
}

fn stream_request(messages: Value) -> Value {
    json!({"model": MODEL, "stream": true, "stream_options": {"include_usage": true}, "messages": messages})
}

fn whole_request(messages: Value) -> Value {
    json!({"model": MODEL, "messages": messages})
}

async fn body_of(response: reqwest::Response, status: u16) -> Value {
    assert_eq!(response.status(), status);
    response.json().await.unwrap()
}

/// What a client makes of an answer; a call is (id, name, arguments).
#[derive(Debug, Default)]
struct Answer {
    text: String,
    reasoning: String,
    calls: Vec<(String, String, String)>,
    finish: Value,
    usage: Value,
}

/// A stream assembled the way OpenAI clients assemble one.
fn assemble(body: &SseBody) -> Answer {
    let mut answer = Answer {
        text: body.text(),
        ..Answer::default()
    };
    let Answer {
        reasoning,
        calls,
        finish,
        usage,
        ..
    } = &mut answer;
    for chunk in body.chunks() {
        if !chunk["usage"].is_null() {
            *usage = chunk["usage"].clone();
        }
        let Some(choice) = chunk["choices"].get(0) else {
            continue;
        };
        *reasoning += choice["delta"]["reasoning_content"]
            .as_str()
            .unwrap_or_default();
        for call in choice["delta"]["tool_calls"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let index = call["index"].as_u64().unwrap() as usize;
            if index == calls.len() {
                calls.push(Default::default());
            }
            calls[index].0 += call["id"].as_str().unwrap_or_default();
            calls[index].1 += call["function"]["name"].as_str().unwrap_or_default();
            calls[index].2 += call["function"]["arguments"].as_str().unwrap_or_default();
        }
        if !choice["finish_reason"].is_null() {
            *finish = choice["finish_reason"].clone();
        }
    }
    answer
}

fn assemble_whole(body: &Value) -> Answer {
    let message = &body["choices"][0]["message"];
    let calls = message["tool_calls"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| {
            let text = |v: &Value| v.as_str().unwrap().to_owned();
            (
                text(&c["id"]),
                text(&c["function"]["name"]),
                text(&c["function"]["arguments"]),
            )
        })
        .collect();
    Answer {
        text: message["content"].as_str().unwrap_or_default().to_owned(),
        reasoning: message["reasoning_content"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        calls,
        finish: body["choices"][0]["finish_reason"].clone(),
        usage: body["usage"].clone(),
    }
}

/// The signature a gateway-issued id carries (the rest of an id is random per answer).
fn carried(id: &str) -> &str {
    id.split_once("__thought__").map_or("", |(_, sig)| sig)
}

#[tokio::test]
async fn a_whole_answer_and_the_request_that_got_it() {
    let (upstream, gateway) = gemini("").await;
    upstream.push(Reply::json(TEXT));
    let request = json!({"model": MODEL, "temperature": 0.3, "max_tokens": 50, "stop": "END",
        "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Capital of France?"}]});
    let response = gateway.chat_json(&request).send().await.unwrap();
    assert_eq!(response.headers()["content-type"], "application/json");
    let body = body_of(response, 200).await;
    assert_eq!(body["object"], "chat.completion");
    assert_eq!(body["model"], MODEL);
    assert_eq!(
        body["choices"][0]["message"]["content"],
        "Paris is the capital of France — about 2.1 million people live there. Note: 1 < 2 & café ☃."
    );
    assert_eq!(body["choices"][0]["finish_reason"], "stop");
    assert_eq!(body["usage"]["prompt_tokens"], 9);
    assert_eq!(body["usage"]["completion_tokens"], 55);
    assert_eq!(
        body["usage"]["completion_tokens_details"]["reasoning_tokens"],
        31
    );

    let received = upstream.last_request();
    assert_eq!(
        received.path,
        "/v1beta/models/gemini-2.5-flash:generateContent"
    );
    assert_eq!(received.query, None);
    assert_eq!(received.headers["x-goog-api-key"], KEY);
    assert!(received.headers.get("authorization").is_none());
    assert_eq!(
        received.json(),
        json!({
            "contents": [{"role": "user", "parts": [{"text": "Capital of France?"}]}],
            "systemInstruction": {"parts": [{"text": "Be brief."}]},
            "generationConfig": {"stopSequences": ["END"], "maxOutputTokens": 50, "temperature": 0.3}
        })
    );
}

#[tokio::test]
async fn the_api_key_never_appears_in_a_url() {
    let (upstream, gateway) = gemini("").await;
    upstream.push(Reply::json(TEXT));
    upstream.push(Reply::sse(TEXT_STREAM));
    gateway
        .chat_json(&whole_request(json!([{"role": "user", "content": "x"}])))
        .send()
        .await
        .unwrap();
    read_sse(
        gateway
            .chat_json(&stream_request(json!([{"role": "user", "content": "x"}])))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let requests = upstream.requests();
    assert_eq!(requests.len(), 2);
    for received in requests {
        let url = format!("{}?{}", received.path, received.query.unwrap_or_default());
        assert!(!url.contains(KEY) && !url.contains("key="), "{url}");
        assert_eq!(received.headers["x-goog-api-key"], KEY);
    }
}

#[tokio::test]
async fn a_stream_of_text_with_usage() {
    let (upstream, gateway) = gemini("").await;
    upstream.push(Reply::sse(TEXT_STREAM));
    let response = gateway
        .chat_json(&stream_request(
            json!([{"role": "user", "content": "Capital of France?"}]),
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let body = read_sse(response).await;
    assert_eq!(body.done_count(), 1);
    assert_eq!(
        body.text(),
        "Paris is the capital of France — about 2.1 million people live there. Note: 1 < 2 & café ☃."
    );
    let chunks = body.chunks();
    let id = chunks[0]["id"].clone();
    assert!(chunks.iter().all(|c| c["id"] == id && c["model"] == MODEL));
    let last = chunks.last().unwrap();
    assert_eq!(last["choices"], json!([]));
    assert_eq!(last["usage"]["total_tokens"], 64);
    let received = upstream.last_request();
    assert_eq!(
        received.path,
        "/v1beta/models/gemini-2.5-flash:streamGenerateContent"
    );
    assert_eq!(received.query.as_deref(), Some("alt=sse"));
}

#[tokio::test]
async fn streams_and_whole_answers_give_the_same_text_tool_calls_and_usage() {
    for (stream, whole) in [
        (TEXT_STREAM, TEXT),
        (TOOL_STREAM, TOOL),
        (THINKING_STREAM, THINKING),
    ] {
        let (upstream, gateway) = gemini("").await;
        upstream.push(Reply::sse(stream));
        upstream.push(Reply::json(whole));
        let messages = json!([{"role": "user", "content": "x"}]);
        let streamed = assemble(
            &read_sse(
                gateway
                    .chat_json(&stream_request(messages.clone()))
                    .send()
                    .await
                    .unwrap(),
            )
            .await,
        );
        let decoded = assemble_whole(
            &body_of(
                gateway
                    .chat_json(&whole_request(messages))
                    .send()
                    .await
                    .unwrap(),
                200,
            )
            .await,
        );
        assert_eq!(streamed.text, decoded.text, "text");
        assert_eq!(streamed.reasoning, decoded.reasoning, "reasoning");
        assert_eq!(streamed.calls.len(), decoded.calls.len(), "tool calls");
        for (s, d) in streamed.calls.iter().zip(&decoded.calls) {
            assert_eq!((carried(&s.0), &s.1, &s.2), (carried(&d.0), &d.1, &d.2));
        }
        assert_eq!(streamed.finish, decoded.finish, "finish_reason");
        assert_eq!(streamed.usage, decoded.usage, "usage");
    }
}

#[tokio::test]
async fn tools_across_turns_with_the_thought_signature_restored() {
    let (upstream, gateway) = gemini("").await;
    upstream.push(Reply::sse(TOOL_STREAM));
    upstream.push(Reply::json(TEXT));
    let tools = json!([
        {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object",
            "properties": {"city": {"type": "string"}, "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}},
            "required": ["city"], "additionalProperties": false}}},
        {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object",
            "properties": {"timezone": {"type": "string"}}}}}
    ]);
    let question = json!({"role": "user", "content": "Weather and time in Paris?"});
    let mut first = stream_request(json!([question]));
    first["tools"] = tools.clone();
    let body = read_sse(gateway.chat_json(&first).send().await.unwrap()).await;
    let Answer {
        text,
        calls,
        finish,
        ..
    } = assemble(&body);
    assert_eq!(finish, "tool_calls");
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[0].1, "get_weather");
    assert_eq!(calls[0].2, r#"{"city":"Paris","unit":"celsius"}"#);
    assert_eq!(calls[1].1, "get_time");

    // The client echoes the ids it was given, as OpenAI clients do, and nothing else.
    let assistant = json!({"role": "assistant", "content": text, "tool_calls": calls.iter().map(|(id, name, arguments)| {
        json!({"id": id, "type": "function", "function": {"name": name, "arguments": arguments}})
    }).collect::<Vec<_>>()});
    let second = json!({"model": MODEL, "tools": tools, "messages": [
        question, assistant,
        {"role": "tool", "tool_call_id": calls[1].0, "content": "14:05"},
        {"role": "tool", "tool_call_id": calls[0].0, "content": "18C, cloudy"}
    ]});
    let answer = body_of(gateway.chat_json(&second).send().await.unwrap(), 200).await;
    assert_eq!(answer["choices"][0]["finish_reason"], "stop");

    let sent = upstream.last_request().json();
    let signature = serde_json::from_str::<Value>(TOOL).unwrap()["candidates"][0]["content"]["parts"][1]
        ["thoughtSignature"]
        .clone();
    assert_eq!(
        sent["contents"],
        json!([
            {"role": "user", "parts": [{"text": "Weather and time in Paris?"}]},
            {"role": "model", "parts": [
                {"text": "Let me look both up."},
                {"functionCall": {"name": "get_weather", "args": {"city": "Paris", "unit": "celsius"}}, "thoughtSignature": signature},
                {"functionCall": {"name": "get_time", "args": {"timezone": "Europe/Paris"}}}
            ]},
            {"role": "user", "parts": [
                {"functionResponse": {"name": "get_time", "response": {"content": "14:05"}}},
                {"functionResponse": {"name": "get_weather", "response": {"content": "18C, cloudy"}}}
            ]}
        ])
    );
    assert_eq!(
        sent["tools"][0]["functionDeclarations"][0]["parameters"],
        json!({"type": "object", "properties": {"city": {"type": "string"},
               "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}}, "required": ["city"]})
    );
}

#[tokio::test]
async fn text_signatures_come_back_through_reasoning_details() {
    let (upstream, gateway) = gemini("").await;
    upstream.push(Reply::json(THINKING));
    upstream.push(Reply::json(TEXT));
    let mut first = whole_request(json!([{"role": "user", "content": "17 × 23?"}]));
    first["reasoning_effort"] = json!("low");
    let answer = body_of(gateway.chat_json(&first).send().await.unwrap(), 200).await;
    let message = answer["choices"][0]["message"].clone();
    assert_eq!(message["content"], "17 × 23 = 391.");
    assert!(
        message["reasoning_content"]
            .as_str()
            .unwrap()
            .contains("17 × 20 = 340")
    );
    let details = message["reasoning_details"].clone();
    assert_eq!(details[0]["format"], "google-gemini-v1");
    assert_eq!(
        upstream.last_request().json()["generationConfig"]["thinkingConfig"],
        json!({"thinkingBudget": 1024, "includeThoughts": true})
    );

    let second = whole_request(json!([
        {"role": "user", "content": "17 × 23?"},
        message,
        {"role": "user", "content": "And 17 × 24?"}
    ]));
    body_of(gateway.chat_json(&second).send().await.unwrap(), 200).await;
    let model_turn = upstream.last_request().json()["contents"][1].clone();
    assert_eq!(
        model_turn,
        json!({"role": "model", "parts": [{"text": "17 × 23 = 391.", "thoughtSignature": details[0]["data"]}]})
    );
}

#[tokio::test]
async fn images_inline_files_api_and_refused_urls() {
    let (upstream, gateway) = gemini("").await;
    upstream.always(Reply::json(TEXT));
    let messages = json!([{"role": "user", "content": [
        {"type": "text", "text": "Compare these."},
        {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,/9j/4AAQSkZJRg==", "detail": "low"}},
        {"type": "image_url", "image_url": {"url": "https://generativelanguage.googleapis.com/v1beta/files/img-9"}}
    ]}]);
    body_of(
        gateway
            .chat_json(&whole_request(messages))
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    assert_eq!(
        upstream.last_request().json()["contents"][0]["parts"],
        json!([
            {"text": "Compare these."},
            {"inlineData": {"mimeType": "image/jpeg", "data": "/9j/4AAQSkZJRg=="}},
            {"fileData": {"fileUri": "https://generativelanguage.googleapis.com/v1beta/files/img-9"}}
        ])
    );

    let before = upstream.requests().len();
    let remote = json!([{"role": "user", "content": [
        {"type": "text", "text": "What is this?"},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}
    ]}]);
    let error = body_of(
        gateway
            .chat_json(&whole_request(remote))
            .send()
            .await
            .unwrap(),
        400,
    )
    .await;
    assert_eq!(error["error"]["param"], "messages[0].content[1].image_url");
    assert_eq!(error["error"]["type"], "invalid_request_error");
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .contains("data: URL")
    );
    assert_eq!(upstream.requests().len(), before, "nothing was sent");
}

#[tokio::test]
async fn json_schema_reaches_gemini_sanitized_and_openai_untouched() {
    let gem = FakeUpstream::start().await;
    let openai = FakeUpstream::start().await;
    let toml = format!(
        "[providers.gem]\nkind = \"gemini\"\nbase_url = \"{}beta\"\napi_key = \"{KEY}\"\n{}",
        gem.base_url,
        openai.provider_toml("oa")
    );
    let gateway = gateway(&toml).await;
    gem.push(Reply::json(TEXT));
    openai.push(Reply::json(completion_json("{}")));
    let schema = json!({"$schema": "http://json-schema.org/draft-07/schema#", "type": "object",
        "properties": {"name": {"type": "string"}, "tags": {"type": "array", "items": {"$ref": "#/$defs/Tag"}},
                       "score": {"type": "integer", "enum": [1, 2, 3]}},
        "required": ["name"], "additionalProperties": false,
        "$defs": {"Tag": {"type": "string", "$comment": "short", "propertyNames": {"maxLength": 3}}}});
    let format = json!({"type": "json_schema", "json_schema": {"name": "card", "strict": true, "schema": schema}});
    for model in [MODEL, "oa/gpt-4o"] {
        let mut request = whole_request(json!([{"role": "user", "content": "Card?"}]));
        request["model"] = json!(model);
        request["response_format"] = format.clone();
        body_of(gateway.chat_json(&request).send().await.unwrap(), 200).await;
    }
    assert_eq!(
        gem.last_request().json()["generationConfig"],
        json!({"responseMimeType": "application/json", "responseSchema": {
            "type": "object",
            "properties": {"name": {"type": "string"}, "tags": {"type": "array", "items": {"type": "string"}},
                           "score": {"type": "integer", "description": "Allowed values: 1, 2, 3."}},
            "required": ["name"],
            "propertyOrdering": ["name", "tags", "score"]
        }})
    );
    assert_eq!(openai.last_request().json()["response_format"], format);
}

#[tokio::test]
async fn an_unsupported_param_is_a_400_or_dropped_and_reported() {
    let request = json!({"model": MODEL, "logit_bias": {"50256": -100}, "user": "u-7", "temperature": 0.2,
        "messages": [{"role": "user", "content": "hi"}]});
    let (upstream, gateway) = gemini("").await;
    upstream.always(Reply::json(TEXT));
    let error = body_of(gateway.chat_json(&request).send().await.unwrap(), 400).await;
    assert_eq!(error["error"]["param"], "logit_bias");
    assert_eq!(error["error"]["code"], "unsupported_parameter");
    let message = error["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("'gem' (gemini)") && message.contains("user"),
        "{message}"
    );
    assert!(upstream.requests().is_empty());

    let (upstream, gateway) = gemini("unsupported_params = \"drop\"\n").await;
    upstream.always(Reply::json(TEXT));
    let response = gateway.chat_json(&request).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["x-switchyard-dropped-params"],
        "logit_bias, user"
    );
    let sent = upstream.last_request().json();
    assert_eq!(sent["generationConfig"], json!({"temperature": 0.2}));
    assert!(!sent.to_string().contains("u-7"));
}

#[tokio::test]
async fn upstream_error_statuses() {
    let (upstream, gateway) = gemini("").await;
    upstream.push(Reply::Json {
        status: 429,
        headers: vec![("retry-after", "21".to_owned())],
        body: QUOTA_ERROR.to_owned(),
    });
    let response = gateway
        .chat_json(&stream_request(json!([{"role": "user", "content": "x"}])))
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["retry-after"], "21");
    let error = body_of(response, 429).await;
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .contains("exceeded your current quota")
    );

    upstream.push(Reply::status(503, OVERLOADED));
    let error = body_of(
        gateway
            .chat_json(&whole_request(json!([{"role": "user", "content": "x"}])))
            .send()
            .await
            .unwrap(),
        502,
    )
    .await;
    assert_eq!(error["error"]["code"], "upstream_error");
    let message = error["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("'gem'") && message.contains("overloaded"),
        "{message}"
    );

    upstream.push(Reply::status(400, API_KEY_ERROR));
    let error = body_of(
        gateway
            .chat_json(&whole_request(json!([{"role": "user", "content": "x"}])))
            .send()
            .await
            .unwrap(),
        401,
    )
    .await;
    assert_eq!(error["error"]["type"], "authentication_error");
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .contains("API key not valid")
    );
    assert!(!error.to_string().contains(KEY));

    upstream.push(Reply::status(400, r#"{"error": {"code": 400, "message": "Invalid value at 'contents[0].parts[0]'", "status": "INVALID_ARGUMENT"}}"#));
    let error = body_of(
        gateway
            .chat_json(&whole_request(json!([{"role": "user", "content": "x"}])))
            .send()
            .await
            .unwrap(),
        400,
    )
    .await;
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Invalid value")
    );
}

#[tokio::test]
async fn a_blocked_prompt_is_a_filtered_completion() {
    let (upstream, gateway) = gemini("").await;
    upstream.push(Reply::json(BLOCKED));
    let body = body_of(
        gateway
            .chat_json(&whole_request(json!([{"role": "user", "content": "x"}])))
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    assert_eq!(body["choices"][0]["finish_reason"], "content_filter");
    assert_eq!(body["choices"][0]["message"]["content"], "");
}

#[tokio::test]
async fn an_error_mid_stream_is_one_error_event_and_no_done() {
    let (upstream, gateway) = gemini("").await;
    upstream.push(Reply::sse(MIDSTREAM_ERROR));
    let body = read_sse(
        gateway
            .chat_json(&stream_request(json!([{"role": "user", "content": "x"}])))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(body.text(), "The first half of an answer");
    assert_eq!(body.done_count(), 0);
    let last: Value = serde_json::from_str(body.data.last().unwrap()).unwrap();
    assert_eq!(last["error"]["code"], "upstream_error");
    assert!(
        last["error"]["message"]
            .as_str()
            .unwrap()
            .contains("internal error")
    );
}

#[tokio::test]
async fn a_stream_without_a_finish_reason_is_truncated_not_done() {
    let (upstream, gateway) = gemini("").await;
    let cut = TEXT_STREAM.rsplit_once("data: ").unwrap().0;
    upstream.push(Reply::sse(cut));
    let body = read_sse(
        gateway
            .chat_json(&stream_request(json!([{"role": "user", "content": "x"}])))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(body.done_count(), 0);
    let last: Value = serde_json::from_str(body.data.last().unwrap()).unwrap();
    assert!(
        last["error"]["message"]
            .as_str()
            .unwrap()
            .contains("no finishReason")
    );
}

#[tokio::test]
async fn the_client_leaving_cancels_the_gemini_request() {
    let (upstream, gateway) = gemini("").await;
    let first = TEXT_STREAM.split_inclusive("\r\n\r\n").next().unwrap();
    upstream.push(Reply::Sse {
        steps: vec![Step::Send(Bytes::from(first.to_owned())), Step::Wait],
        end: End::Hang,
    });
    let response = gateway
        .chat_json(&stream_request(json!([{"role": "user", "content": "x"}])))
        .send()
        .await
        .unwrap();
    let mut body = response.bytes_stream();
    read_until(&mut body, "Paris is the capital").await;
    assert_eq!(upstream.abandoned(), 0);
    drop(body);
    assert!(
        upstream.wait_abandoned(Duration::from_secs(1)).await,
        "the Gemini request was still open after the client left"
    );
}
