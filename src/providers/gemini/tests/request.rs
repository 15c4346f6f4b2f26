//! OpenAI requests -> the Gemini requests the codec must produce, and the ones it must refuse.

use serde_json::{Value, json};

use super::{codec, value};
use crate::config::UnsupportedParams;
use crate::error::Error;
use crate::openai::request::ChatRequest;
use crate::providers::gemini::request;

const OPENAI: &str = include_str!("../../../../tests/fixtures/gemini/request_openai.json");
const GEMINI: &str = include_str!("../../../../tests/fixtures/gemini/request_gemini.json");

fn chat(json: &str) -> ChatRequest {
    ChatRequest::parse(bytes::Bytes::copy_from_slice(json.as_bytes()))
        .unwrap_or_else(|e| unreachable!("{e}"))
}

fn translate(json: &str) -> Result<Value, Error> {
    let mut params = chat(json).params()?;
    let request = request::translate(&mut params)?;
    Ok(serde_json::to_value(request).unwrap_or_default())
}

/// The 400 for `messages`, and the param it names.
fn refusal(messages: Value) -> (String, Option<String>) {
    let json = json!({"model": "g/m", "messages": messages}).to_string();
    match translate(&json) {
        Err(Error::InvalidRequest { message, param, .. }) => (message, param),
        other => unreachable!("expected a 400, got {other:?}"),
    }
}

#[test]
fn a_rich_request_translates_to_the_expected_gemini_request() {
    let translated = translate(OPENAI).unwrap_or_else(|e| unreachable!("{e}"));
    let expected = value(GEMINI);
    assert_eq!(
        translated,
        expected,
        "got:\n{}",
        serde_json::to_string_pretty(&translated).unwrap_or_default()
    );
    // Declared property order survives into propertyOrdering and the wire.
    let wire = serde_json::to_string(&translated).unwrap_or_default();
    assert!(wire.find("\"temp\"") < wire.find("\"level\""));
}

#[test]
fn encode_screens_params_and_builds_the_upstream_request() {
    let encoded = codec()
        .encode(&chat(OPENAI), "gemini-2.5-flash")
        .unwrap_or_else(|e| unreachable!("{e}"));
    assert!(encoded.dropped.is_empty(), "{:?}", encoded.dropped);
    assert!(
        encoded
            .request
            .url
            .to_string()
            .ends_with("/models/gemini-2.5-flash:streamGenerateContent?alt=sse")
    );
    let body: Value = serde_json::from_slice(&encoded.request.body).unwrap_or_default();
    assert_eq!(body, value(GEMINI));

    let extra = r#"{"model":"g/m","messages":[{"role":"user","content":"hi"}],"logit_bias":{"1":2},"user":"u-1","n":2,"parallel_tool_calls":false,"thread_id":"t","logprobs":true,"temperature":0.1}"#;
    match codec().encode(&chat(extra), "m") {
        Err(Error::InvalidRequest { param, message, .. }) => {
            assert_eq!(param.as_deref(), Some("logit_bias"));
            assert!(message.contains("'gem' (gemini)"), "{message}");
            for other in ["user", "n", "parallel_tool_calls", "thread_id", "logprobs"] {
                assert!(message.contains(other), "{other} in {message}");
            }
        }
        other => unreachable!("{:?}", other.map(|e| e.dropped)),
    }
    let mut dropping = codec();
    dropping.policy = UnsupportedParams::Drop;
    let encoded = dropping
        .encode(&chat(extra), "m")
        .unwrap_or_else(|e| unreachable!("{e}"));
    assert_eq!(
        encoded.dropped,
        [
            "logit_bias",
            "user",
            "n",
            "parallel_tool_calls",
            "thread_id",
            "logprobs"
        ]
    );
    let body: Value = serde_json::from_slice(&encoded.request.body).unwrap_or_default();
    assert_eq!(
        body,
        json!({"contents": [{"role": "user", "parts": [{"text": "hi"}]}],
               "generationConfig": {"temperature": 0.1}})
    );
}

#[test]
fn consecutive_turns_of_one_role_merge_and_empty_text_is_left_out() {
    let json = json!({"model": "g/m", "messages": [
        {"role": "user", "content": "a"},
        {"role": "user", "content": [{"type": "text", "text": ""}, "b"]},
        {"role": "assistant", "content": ""},
        {"role": "assistant", "content": "c"},
        {"role": "system", "content": "late system"},
        {"role": "assistant", "content": [{"type": "refusal", "refusal": "no"}]},
        {"role": "function", "name": "f", "content": "{\"x\":1}"}
    ]})
    .to_string();
    let translated = translate(&json).unwrap_or_else(|e| unreachable!("{e}"));
    assert_eq!(
        translated,
        json!({
            "contents": [
                {"role": "user", "parts": [{"text": "a"}, {"text": "b"}]},
                {"role": "model", "parts": [{"text": "c"}, {"text": "no"}]},
                {"role": "user", "parts": [{"functionResponse": {"name": "f", "response": {"content": "{\"x\":1}"}}}]}
            ],
            "systemInstruction": {"parts": [{"text": "late system"}]}
        })
    );
}

#[test]
fn tool_choice_modes() {
    for (choice, config) in [
        (json!("auto"), json!({"mode": "AUTO"})),
        (json!("none"), json!({"mode": "NONE"})),
        (json!("required"), json!({"mode": "ANY"})),
    ] {
        let json = json!({"model": "g/m", "messages": [{"role": "user", "content": "x"}],
            "tools": [{"type": "function", "function": {"name": "f"}}], "tool_choice": choice})
        .to_string();
        let translated = translate(&json).unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(translated["toolConfig"]["functionCallingConfig"], config);
        assert_eq!(
            translated["tools"],
            json!([{"functionDeclarations": [{"name": "f"}]}])
        );
    }
}

#[test]
fn json_object_and_reasoning_effort() {
    let json = json!({"model": "g/m", "messages": [{"role": "user", "content": "x"}],
        "response_format": {"type": "json_object"}, "reasoning_effort": "none", "max_tokens": 7})
    .to_string();
    let translated = translate(&json).unwrap_or_else(|e| unreachable!("{e}"));
    assert_eq!(
        translated["generationConfig"],
        json!({"responseMimeType": "application/json", "maxOutputTokens": 7,
               "thinkingConfig": {"thinkingBudget": 0}})
    );
    let json = json!({"model": "g/m", "messages": [{"role": "user", "content": "x"}],
        "reasoning_effort": "ludicrous"})
    .to_string();
    assert!(matches!(
        translate(&json),
        Err(Error::InvalidRequest { param: Some(p), .. }) if p == "reasoning_effort"
    ));
}

#[test]
fn what_gemini_cannot_take_is_a_400_naming_the_param() {
    let cases = [
        (
            json!([{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}]}]),
            "messages[0].content[0].image_url",
            "Files API",
        ),
        (
            json!([{"role": "user", "content": [{"type": "image_url", "image_url": "data:image/png,notbase64"}]}]),
            "messages[0].content[0].image_url",
            "base64",
        ),
        (
            json!([{"role": "user", "content": [{"type": "file", "file": {"file_id": "file-abc"}}]}]),
            "messages[0].content[0].file.file_id",
            "file ids",
        ),
        (
            json!([{"role": "user", "content": [{"type": "input_audio", "input_audio": {"data": "AA=="}}]}]),
            "messages[0].content[0].input_audio.format",
            "required",
        ),
        (
            json!([{"role": "user", "content": [{"type": "video", "video": {}}]}]),
            "messages[0].content[0]",
            "cannot take",
        ),
        (
            json!([{"role": "user", "content": "x"},
                   {"role": "assistant", "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{city: Paris}"}}]}]),
            "messages[1].tool_calls[0].function.arguments",
            "not valid JSON",
        ),
        (
            json!([{"role": "user", "content": "x"},
                   {"role": "assistant", "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "[1]"}}]}]),
            "messages[1].tool_calls[0].function.arguments",
            "JSON object",
        ),
        (
            json!([{"role": "user", "content": "x"}, {"role": "tool", "tool_call_id": "nope", "content": "1"}]),
            "messages[1].tool_call_id",
            "answers no tool call",
        ),
        (
            json!([{"role": "system", "content": [{"type": "image_url", "image_url": "data:image/png;base64,AA=="}]},
                   {"role": "user", "content": "x"}]),
            "messages[0].content[0]",
            "only text",
        ),
        (
            json!([{"role": "system", "content": "only this"}]),
            "messages",
            "at least one",
        ),
    ];
    for (messages, param, words) in cases {
        let (message, got) = refusal(messages);
        assert_eq!(got.as_deref(), Some(param), "{message}");
        assert!(message.contains(words), "{message:?} should say {words:?}");
    }
    let custom_tool = json!({"model": "g/m", "messages": [{"role": "user", "content": "x"}],
        "tools": [{"type": "custom", "function": {"name": "f"}}]})
    .to_string();
    assert!(matches!(
        translate(&custom_tool),
        Err(Error::InvalidRequest { param: Some(p), .. }) if p == "tools[0].type"
    ));
}

#[test]
fn a_tool_result_finds_its_function_by_the_plain_id() {
    // A client that trims what it does not understand may send back only the plain id.
    let json = json!({"model": "g/m", "messages": [
        {"role": "user", "content": "x"},
        {"role": "assistant", "tool_calls": [{"id": "call_1__thought__QUJD", "type": "function", "function": {"name": "lookup", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "found"}
    ]})
    .to_string();
    let translated = translate(&json).unwrap_or_else(|e| unreachable!("{e}"));
    assert_eq!(
        translated["contents"][1]["parts"][0]["thoughtSignature"],
        "QUJD"
    );
    assert_eq!(
        translated["contents"][2]["parts"][0]["functionResponse"],
        json!({"name": "lookup", "response": {"content": "found"}})
    );
}

#[test]
fn model_names_cannot_walk_out_of_the_models_path() {
    for model in [
        "../../files/x",
        "models/../x",
        "a?key=1",
        "a#b",
        "",
        "models//x",
    ] {
        let request = chat(r#"{"model":"g/m","messages":[{"role":"user","content":"hi"}]}"#);
        match codec().encode(&request, model) {
            Err(Error::InvalidRequest { param, .. }) => assert_eq!(param.as_deref(), Some("model")),
            other => unreachable!(
                "{model:?} should be refused, got {:?}",
                other.map(|e| e.request.url)
            ),
        }
    }
    let request = chat(r#"{"model":"g/m","messages":[{"role":"user","content":"hi"}]}"#);
    let ok = codec()
        .encode(&request, "tunedModels/my-model.v2")
        .map(|e| e.request.url);
    assert!(ok.is_ok_and(|url| {
        url.to_string()
            .ends_with("/tunedModels/my-model.v2:generateContent")
    }));
}

#[test]
fn a_text_signature_goes_back_on_the_text_whatever_its_index() {
    let messages = json!([
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "Hello.", "reasoning_details": [
            {"type": "reasoning.encrypted", "data": "c2lnLTE=", "format": "google-gemini-v1", "index": 3},
            {"type": "reasoning.encrypted", "data": "c2lnLTI=", "format": "google-gemini-v1", "index": 4}
        ]},
        {"role": "user", "content": "again"}
    ]);
    let body = translate(&json!({"model": "g/m", "messages": messages}).to_string())
        .unwrap_or_else(|e| unreachable!("{e}"));
    let model_turn = &body["contents"][1]["parts"][0];
    assert_eq!(model_turn["text"], "Hello.");
    assert_eq!(model_turn["thoughtSignature"], "c2lnLTE=");
}
