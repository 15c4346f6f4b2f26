//! The Gemini kind through the gateway: OpenAI requests in, Gemini requests out to a fake
//! Gemini upstream, OpenAI answers and chunks back.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::fixtures::gemini::*;
use common::*;
use serde_json::{Value, json};

const MODEL: &str = "gem/gemini-2.5-flash";

/// A fake Gemini upstream configured as provider `gem`; `extra` lands in its table.
async fn gemini(extra: &str) -> (FakeUpstream, Gateway) {
    gateway_for(&GEMINI, extra).await
}

/// A one-question request, streamed with usage, and the same not streamed.
fn asked(text: &str) -> (Value, Value) {
    (with_usage(user(MODEL, text)), user(MODEL, text))
}

/// A call as the tests compare it: the signature its id carries (the rest of an id is random
/// per answer), its name and its arguments.
fn call_of(call: &Value) -> (String, String, String) {
    let text = |v: &Value| v.as_str().unwrap().to_owned();
    let id = text(&call["id"]);
    let signature = id.split_once("__thought__").map_or("", |(_, sig)| sig);
    (
        signature.to_owned(),
        text(&call["function"]["name"]),
        text(&call["function"]["arguments"]),
    )
}

#[tokio::test]
async fn a_whole_answer_and_the_request_that_got_it() {
    let (upstream, gateway) = gemini("").await;
    upstream.push(Reply::json(TEXT));
    let request = json!({"model": MODEL, "temperature": 0.3, "max_tokens": 50, "stop": "END",
        "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Capital of France?"}]});
    let response = gateway.send(&request).await;
    assert_eq!(response.headers()["content-type"], "application/json");
    let body = json_of(response, 200).await;
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
    assert_eq!(received.headers["x-goog-api-key"], GEMINI.api_key);
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
    let (stream, whole) = asked("x");
    gateway.send(&whole).await;
    gateway.sse(&stream).await;
    let requests = upstream.requests();
    assert_eq!(requests.len(), 2);
    let key = GEMINI.api_key;
    for received in requests {
        let url = format!("{}?{}", received.path, received.query.unwrap_or_default());
        assert!(!url.contains(key) && !url.contains("key="), "{url}");
        assert_eq!(received.headers["x-goog-api-key"], key);
    }
}

#[tokio::test]
async fn a_stream_of_text_with_usage() {
    let (upstream, gateway) = gemini("").await;
    upstream.push(Reply::sse(TEXT_STREAM));
    let response = gateway.send(&asked("Capital of France?").0).await;
    let body = read_finished_stream(response, MODEL).await;
    assert_eq!(
        body.text(),
        "Paris is the capital of France — about 2.1 million people live there. Note: 1 < 2 & café ☃."
    );
    assert_eq!(body.chunks().last().unwrap()["usage"]["total_tokens"], 64);
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
        let (stream_request, whole_request) = asked("x");
        let streamed = Answer::of_stream(&gateway.sse(&stream_request).await);
        let decoded = Answer::of_whole(&gateway.whole(&whole_request).await);
        assert_eq!(streamed.text(), decoded.text(), "text");
        assert_eq!(streamed.reasoning(), decoded.reasoning(), "reasoning");
        assert_eq!(streamed.calls().len(), decoded.calls().len(), "tool calls");
        for (s, d) in streamed.calls().iter().zip(decoded.calls()) {
            assert_eq!(call_of(s), call_of(d));
        }
        assert_eq!(
            streamed.finish_reason, decoded.finish_reason,
            "finish_reason"
        );
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
    let mut first = with_usage(chat(MODEL, json!([question])));
    first["tools"] = tools.clone();
    let answer = Answer::of_stream(&gateway.sse(&first).await);
    assert_eq!(answer.finish_reason, "tool_calls");
    let calls = answer.calls();
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[0]["function"]["name"], "get_weather");
    assert_eq!(
        calls[0]["function"]["arguments"],
        r#"{"city":"Paris","unit":"celsius"}"#
    );
    assert_eq!(calls[1]["function"]["name"], "get_time");

    // The client echoes the ids it was given, as OpenAI clients do, and nothing else.
    let assistant = json!({"role": "assistant", "content": answer.text(), "tool_calls": calls});
    let second = json!({"model": MODEL, "tools": tools, "messages": [
        question, assistant,
        {"role": "tool", "tool_call_id": calls[1]["id"], "content": "14:05"},
        {"role": "tool", "tool_call_id": calls[0]["id"], "content": "18C, cloudy"}
    ]});
    let answer = gateway.whole(&second).await;
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
    let mut first = user(MODEL, "17 × 23?");
    first["reasoning_effort"] = json!("low");
    let answer = gateway.whole(&first).await;
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

    let second = chat(
        MODEL,
        json!([
            {"role": "user", "content": "17 × 23?"},
            message,
            {"role": "user", "content": "And 17 × 24?"}
        ]),
    );
    gateway.whole(&second).await;
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
    gateway.whole(&chat(MODEL, messages)).await;
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
    let error = error_of(gateway.send(&chat(MODEL, remote)).await, 400).await;
    assert_eq!(error["param"], "messages[0].content[1].image_url");
    assert_eq!(error["type"], "invalid_request_error");
    assert!(message(&error).contains("data: URL"));
    assert_eq!(upstream.requests().len(), before, "nothing was sent");
}

#[tokio::test]
async fn json_schema_reaches_gemini_sanitized_and_openai_untouched() {
    let gem = FakeUpstream::start().await;
    let openai = FakeUpstream::start().await;
    let toml = format!("{}{}", gem.table(&GEMINI), openai.provider_toml("oa"));
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
        let mut request = user(model, "Card?");
        request["response_format"] = format.clone();
        gateway.whole(&request).await;
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
    let (error, dropped, sent) = refused_then_dropped(&GEMINI, TEXT, &request).await;
    assert_eq!(error["param"], "logit_bias");
    assert_eq!(error["code"], "unsupported_parameter");
    assert_says(&error, &["'gem' (gemini)", "user"]);
    assert_eq!(dropped, "logit_bias, user");
    assert_eq!(sent["generationConfig"], json!({"temperature": 0.2}));
    assert!(!sent.to_string().contains("u-7"));
}

#[tokio::test]
async fn upstream_error_statuses() {
    let (upstream, gateway) = gemini("").await;
    let (stream, whole) = asked("x");
    upstream.push(Reply::status(429, QUOTA_ERROR).header("retry-after", "21"));
    let response = gateway.send(&stream).await;
    assert_eq!(response.headers()["retry-after"], "21");
    let error = error_of(response, 429).await;
    assert!(message(&error).contains("exceeded your current quota"));

    upstream.push(Reply::status(503, OVERLOADED));
    let error = error_of(gateway.send(&whole).await, 502).await;
    assert_eq!(error["code"], "upstream_error");
    assert_says(&error, &["'gem'", "overloaded"]);

    upstream.push(Reply::status(400, API_KEY_ERROR));
    let body = json_of(gateway.send(&whole).await, 401).await;
    assert_eq!(body["error"]["type"], "authentication_error");
    assert!(message(&body["error"]).contains("API key not valid"));
    assert!(!body.to_string().contains(GEMINI.api_key));

    upstream.push(Reply::status(400, r#"{"error": {"code": 400, "message": "Invalid value at 'contents[0].parts[0]'", "status": "INVALID_ARGUMENT"}}"#));
    let error = error_of(gateway.send(&whole).await, 400).await;
    assert!(message(&error).contains("Invalid value"));
}

#[tokio::test]
async fn a_blocked_prompt_is_a_filtered_completion() {
    let (upstream, gateway) = gemini("").await;
    upstream.push(Reply::json(BLOCKED));
    let body = gateway.whole(&user(MODEL, "x")).await;
    assert_eq!(body["choices"][0]["finish_reason"], "content_filter");
    assert_eq!(body["choices"][0]["message"]["content"], "");
}

#[tokio::test]
async fn an_error_mid_stream_is_one_error_event_and_no_done() {
    let (upstream, gateway) = gemini("").await;
    upstream.push(Reply::sse(MIDSTREAM_ERROR));
    let body = gateway.sse(&asked("x").0).await;
    assert_eq!(body.text(), "The first half of an answer");
    assert_eq!(body.done_count(), 0);
    let error = body.error();
    assert_eq!(error["code"], "upstream_error");
    assert!(message(&error).contains("internal error"));
}

#[tokio::test]
async fn a_stream_without_a_finish_reason_is_truncated_not_done() {
    let (upstream, gateway) = gemini("").await;
    let cut = TEXT_STREAM.rsplit_once("data: ").unwrap().0;
    upstream.push(Reply::sse(cut));
    let body = gateway.sse(&asked("x").0).await;
    assert_eq!(body.done_count(), 0);
    assert!(message(&body.error()).contains("no finishReason"));
}

#[tokio::test]
async fn the_client_leaving_cancels_the_gemini_request() {
    let (upstream, gateway) = gemini("").await;
    let first = TEXT_STREAM.split_inclusive("\r\n\r\n").next().unwrap();
    upstream.push(Reply::stuck_after([first]));
    let response = gateway.send(&asked("x").0).await;
    assert!(
        upstream
            .released_when_client_leaves(response, "Paris is the capital")
            .await,
        "the Gemini request was still open after the client left"
    );
}
