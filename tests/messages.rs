//! `POST /v1/messages`, the Anthropic Messages surface, toward anthropic-kind targets: the body
//! goes on byte for byte with only `model` replaced and the client's version and beta headers,
//! the answer and every event come back unchanged but for `model`; errors are Anthropic's, a
//! failure before output falls back, one after it is an `error` event; keys, limits and
//! metering apply as on the chat surface.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::fixtures::anthropic;
use common::*;
use serde_json::{Value, json};

/// A Messages request as Claude Code sends one: a cached system block, a field newer than this
/// code, and `?beta=true` on the path.
fn request(model: &str, stream: bool) -> String {
    format!(
        r#"{{"model":"{model}","max_tokens":1024,"stream":{stream},"system":[{{"type":"text","text":"You are terse.","cache_control":{{"type":"ephemeral","ttl":"1h"}}}}],"messages":[{{"role":"user","content":"Bonjour"}}],"thinking":{{"type":"adaptive"}},"future_field":{{"keep":[1,"two"]}}}}"#
    )
}

async fn post(gateway: &Gateway, body: String, key: &str) -> reqwest::Response {
    gateway
        .http
        .post(format!("{}/v1/messages?beta=true", gateway.url))
        .header("x-api-key", key)
        .header("anthropic-version", "2023-06-01")
        .header(
            "anthropic-beta",
            "interleaved-thinking-2025-05-14,fine-grained-tool-streaming-2025-05-14",
        )
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap()
}

const KEYS: &str = "[auth]\nkeys = [{ name = \"cc\", key = \"cc-key\", tpm = 100000 }]\n";

#[tokio::test]
async fn a_whole_message_goes_on_byte_for_byte_and_comes_back_with_only_model_replaced() {
    let (upstream, gateway) = gateway_for(&ANTHROPIC, KEYS).await;
    upstream.push(Reply::json(anthropic::TEXT));
    let sent = request("claude/claude-sonnet-4-5", false);
    let response = post(&gateway, sent.clone(), "cc-key").await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["x-switchyard-target"],
        "claude/claude-sonnet-4-5"
    );
    // 21 fresh, 188 written to and 1,024 read from the cache, 23 out: all counted.
    assert_eq!(response.headers()["x-ratelimit-remaining-tokens"], "100000");
    let body = response.text().await.unwrap();
    assert_eq!(
        body,
        anthropic::TEXT.replace(
            "\"model\":\"claude-sonnet-4-5-20250929\"",
            "\"model\":\"claude/claude-sonnet-4-5\""
        )
    );

    let got = upstream.last_request();
    assert_eq!(got.path, "/v1/messages");
    assert_eq!(
        got.text(),
        sent.replace("claude/claude-sonnet-4-5", "claude-sonnet-4-5")
    );
    assert_eq!(got.headers["anthropic-version"], "2023-06-01");
    assert_eq!(
        got.headers["anthropic-beta"],
        "interleaved-thinking-2025-05-14,fine-grained-tool-streaming-2025-05-14"
    );
    assert_eq!(got.headers["x-api-key"], "sk-ant-upstream-secret");

    let after = post(
        &gateway,
        request("claude/claude-sonnet-4-5", false),
        "cc-key",
    )
    .await;
    assert_eq!(
        after.headers()["x-ratelimit-remaining-tokens"],
        (100_000 - 21 - 188 - 1024 - 23).to_string(),
        "the first answer's tokens were counted"
    );
}

#[tokio::test]
async fn every_event_of_a_stream_is_relayed_under_its_name_with_only_model_replaced() {
    let (upstream, gateway) = gateway_for(&ANTHROPIC, KEYS).await;
    upstream.push(Reply::sse(anthropic::TEXT_STREAM));
    let response = post(
        &gateway,
        request("claude/claude-sonnet-4-5", true),
        "cc-key",
    )
    .await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let body = response.text().await.unwrap();
    assert_eq!(
        body,
        anthropic::TEXT_STREAM.replace(
            "\"model\":\"claude-sonnet-4-5-20250929\"",
            "\"model\":\"claude/claude-sonnet-4-5\""
        )
    );
    assert!(!body.contains("[DONE]"));
    // The stream's usage was counted: 21 + 188 + 1024 in, 23 out.
    let after = post(
        &gateway,
        request("claude/claude-sonnet-4-5", false),
        "cc-key",
    )
    .await;
    assert_eq!(
        after.headers()["x-ratelimit-remaining-tokens"],
        (100_000 - 21 - 188 - 1024 - 23).to_string()
    );
}

#[tokio::test]
async fn errors_are_anthropics_before_the_stream_and_an_error_event_after_it() {
    let (upstream, gateway) = gateway_for(&ANTHROPIC, KEYS).await;
    let error_of = |body: &str| serde_json::from_str::<Value>(body).unwrap();

    let response = post(
        &gateway,
        request("claude/claude-sonnet-4-5", false),
        "wrong",
    )
    .await;
    assert_eq!(response.status(), 401);
    let body = error_of(&response.text().await.unwrap());
    assert_eq!(body["type"], "error");
    assert_eq!(body["error"]["type"], "authentication_error");

    let response = post(&gateway, "{\"model\":\"claude/x\"}".into(), "cc-key").await;
    assert_eq!(response.status(), 400);
    let body = error_of(&response.text().await.unwrap());
    assert_eq!(body["error"]["type"], "invalid_request_error");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("messages")
    );

    let response = post(&gateway, request("nowhere/model", false), "cc-key").await;
    assert_eq!(response.status(), 404);
    assert_eq!(
        error_of(&response.text().await.unwrap())["error"]["type"],
        "not_found_error"
    );

    // The provider's own refusal keeps its type and status.
    upstream.push(Reply::status(
        400,
        r#"{"type":"error","error":{"type":"invalid_request_error","message":"thinking.budget_tokens: must be at least 1024"}}"#,
    ));
    let response = post(
        &gateway,
        request("claude/claude-sonnet-4-5", false),
        "cc-key",
    )
    .await;
    assert_eq!(response.status(), 400);
    let body = error_of(&response.text().await.unwrap());
    assert_eq!(body["error"]["type"], "invalid_request_error");
    assert_eq!(
        body["error"]["message"],
        "thinking.budget_tokens: must be at least 1024"
    );

    // After output: one error event, and no message_stop.
    upstream.push(Reply::sse(anthropic::MIDSTREAM_ERROR));
    let response = post(
        &gateway,
        request("claude/claude-sonnet-4-5", true),
        "cc-key",
    )
    .await;
    assert_eq!(response.status(), 200);
    let body = response.text().await.unwrap();
    assert!(body.contains("event: content_block_delta"), "{body}");
    let last = body.trim_end().rsplit("\n\n").next().unwrap();
    assert!(last.starts_with("event: error\ndata: "), "{body}");
    let error = error_of(last.trim_start_matches("event: error\ndata: "));
    assert_eq!(error["type"], "error");
    assert_eq!(error["error"]["type"], "overloaded_error");
    assert!(!body.contains("message_stop"), "{body}");
}

#[tokio::test]
async fn an_overloaded_target_before_output_falls_back_and_no_second_message_start_is_seen() {
    let (a, b) = (FakeUpstream::start().await, FakeUpstream::start().await);
    let toml = format!(
        "{}{}[routing]\nbackoff_base = \"1ms\"\n[models.claude-sonnet-4-5]\ntargets = [\"first/claude-sonnet-4-5\", \"second/claude-sonnet-4-5\"]\nretries = 0\n{KEYS}",
        table("first", &a),
        table("second", &b),
    );
    let gateway = gateway(&toml).await;
    // The first sends its preamble, then fails before any content: nothing was committed.
    a.push(Reply::sse(
        "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_a\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude-sonnet-4-5\",\"content\":[],\"stop_reason\":null,\"stop_sequence\":null,\"usage\":{\"input_tokens\":3,\"output_tokens\":1}}}\n\n\
         event: ping\ndata: {\"type\": \"ping\"}\n\n\
         event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n",
    ));
    b.push(Reply::sse(anthropic::TEXT_STREAM));
    let response = post(&gateway, request("claude-sonnet-4-5", true), "cc-key").await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["x-switchyard-target"],
        "second/claude-sonnet-4-5"
    );
    let body = response.text().await.unwrap();
    assert_eq!(body.matches("event: message_start").count(), 1, "{body}");
    assert!(!body.contains("msg_a"), "{body}");
    assert!(
        body.contains("\"model\":\"second/claude-sonnet-4-5\""),
        "{body}"
    );
    assert!(body.ends_with("event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"));
}

#[tokio::test]
async fn a_client_that_leaves_cancels_the_upstream_stream() {
    let (upstream, gateway) = gateway_for(&ANTHROPIC, KEYS).await;
    let events: Vec<String> = anthropic::TEXT_STREAM
        .split_inclusive("\n\n")
        .take(4)
        .map(str::to_owned)
        .collect();
    upstream.push(Reply::stuck_after(events));
    let response = post(
        &gateway,
        request("claude/claude-sonnet-4-5", true),
        "cc-key",
    )
    .await;
    let mut body = response.bytes_stream();
    read_until(&mut body, "Bonjour").await;
    drop(body);
    assert!(upstream.wait_abandoned(Duration::from_secs(5)).await);
}

#[tokio::test]
async fn toward_a_chat_target_the_request_is_translated_and_the_message_comes_back() {
    let (upstream, gateway) = gateway_with_upstream(KEYS).await;
    upstream.push(Reply::json(completion_json("Bonjour !")));
    let sent = r#"{"model":"up/gpt-4o","max_tokens":300,"temperature":0.2,"stop_sequences":["END"],
        "metadata":{"user_id":"u-1"},
        "system":[{"type":"text","text":"Be brief.","cache_control":{"type":"ephemeral"}}],
        "tools":[{"name":"get_weather","description":"Weather","input_schema":{"type":"object","properties":{"city":{"type":"string"}}}}],
        "tool_choice":{"type":"any","disable_parallel_tool_use":true},
        "messages":[
          {"role":"user","content":"Weather in Paris?"},
          {"role":"assistant","content":[{"type":"text","text":"Looking."},{"type":"tool_use","id":"toolu_1","name":"get_weather","input":{"city":"Paris"}}]},
          {"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_1","content":"18 C"},{"type":"text","text":"And so?"}]}
        ]}"#;
    let response = post(&gateway, sent.to_owned(), "cc-key").await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["x-switchyard-dropped-params"],
        "cache_control"
    );
    let message: Value = response.json().await.unwrap();
    assert_eq!(message["type"], "message");
    assert_eq!(message["role"], "assistant");
    assert_eq!(message["model"], "up/gpt-4o");
    assert_eq!(
        message["content"],
        serde_json::json!([{"type": "text", "text": "Bonjour !"}])
    );
    assert_eq!(message["stop_reason"], "end_turn");
    assert_eq!(message["usage"]["input_tokens"], 3);
    assert_eq!(message["usage"]["output_tokens"], 2);

    let chat = upstream.last_request().json();
    assert_eq!(chat["model"], "gpt-4o");
    assert_eq!(chat["max_completion_tokens"], 300);
    assert_eq!(chat["temperature"], 0.2);
    assert_eq!(chat["stop"], serde_json::json!(["END"]));
    assert_eq!(chat["user"], "u-1");
    assert_eq!(chat["tool_choice"], "required");
    assert_eq!(chat["parallel_tool_calls"], false);
    assert_eq!(chat["tools"][0]["function"]["name"], "get_weather");
    assert_eq!(chat["tools"][0]["function"]["parameters"]["type"], "object");
    assert_eq!(
        chat["messages"],
        serde_json::json!([
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": [{"type": "text", "text": "Weather in Paris?"}]},
            {"role": "assistant", "content": "Looking.", "tool_calls": [
                {"id": "toolu_1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}
            ]},
            {"role": "tool", "tool_call_id": "toolu_1", "content": "18 C"},
            {"role": "user", "content": [{"type": "text", "text": "And so?"}]}
        ])
    );
}

/// Posts `sent`, which must be served with nothing dropped; the chat request `upstream` got.
async fn carried_whole(gateway: &Gateway, upstream: &FakeUpstream, sent: &str) -> Value {
    let response = post(gateway, sent.to_owned(), "cc-key").await;
    assert_eq!(response.status(), 200);
    let dropped = response.headers().get("x-switchyard-dropped-params");
    assert!(dropped.is_none(), "{dropped:?}");
    upstream.last_request().json()
}

#[tokio::test]
async fn toward_a_target_that_wants_reasoning_back_thinking_goes_back_as_reasoning_content() {
    // As DeepSeek's thinking mode: a tool-call turn without its reasoning is a 400.
    let (upstream, gateway) =
        gateway_with_upstream(&format!("send_reasoning_back = true\n{KEYS}")).await;
    upstream.always(Reply::json(completion_json("Done.")));
    let sent = r#"{"model":"up/deepseek-v4","max_tokens":300,
        "tools":[{"name":"get_weather","input_schema":{"type":"object"}}],
        "messages":[
          {"role":"user","content":"Weather in Paris and Rome?"},
          {"role":"assistant","content":[{"type":"thinking","thinking":"Paris first.","signature":""},{"type":"tool_use","id":"toolu_1","name":"get_weather","input":{"city":"Paris"}}]},
          {"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_1","content":"18 C"}]},
          {"role":"assistant","content":[{"type":"tool_use","id":"toolu_2","name":"get_weather","input":{"city":"Rome"}}]},
          {"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_2","content":"21 C"}]},
          {"role":"assistant","content":[{"type":"thinking","thinking":"Both known.","signature":""},{"type":"text","text":"Warm."}]},
          {"role":"user","content":"Thanks"}
        ]}"#;
    let chat = carried_whole(&gateway, &upstream, sent).await;
    let assistants: Vec<&Value> = chat["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["role"] == "assistant")
        .collect();
    let reasoning: Vec<&Value> = assistants.iter().map(|m| &m["reasoning_content"]).collect();
    // A tool-call turn without thinking still carries the field, empty.
    assert_eq!(
        reasoning,
        [&json!("Paris first."), &json!(""), &json!("Both known.")]
    );

    // A target that does not want it is sent none: the thinking follows its policy, here drop.
    let (plain, gateway) =
        gateway_with_upstream(&format!("unsupported_params = \"drop\"\n{KEYS}")).await;
    plain.push(Reply::json(completion_json("Done.")));
    let response = post(&gateway, sent.to_owned(), "cc-key").await;
    assert_eq!(
        response.headers()["x-switchyard-dropped-params"],
        "thinking"
    );
    let chat = plain.last_request().json();
    assert!(
        chat["messages"]
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m.get("reasoning_content").is_none()),
        "{chat}"
    );
}

#[tokio::test]
async fn output_config_becomes_the_reasoning_effort_and_a_strict_json_schema() {
    let (upstream, gateway) = gateway_with_upstream(KEYS).await;
    upstream.push(Reply::json(completion_json(r#"{"city":"Paris"}"#)));
    let sent = r#"{"model":"up/gpt-5","max_tokens":3000,
        "thinking":{"type":"enabled","budget_tokens":2048},
        "output_config":{"effort":"high","format":{"type":"json_schema","schema":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"],"additionalProperties":false}}},
        "messages":[{"role":"user","content":"Where?"}]}"#;
    let chat = carried_whole(&gateway, &upstream, sent).await;
    assert_eq!(
        chat["reasoning_effort"], "high",
        "the effort asked for, over the budget's low"
    );
    assert_eq!(
        chat["response_format"],
        json!({"type": "json_schema", "json_schema": {"name": "output", "strict": true, "schema":
            {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"], "additionalProperties": false}}})
    );

    // A part a chat target has no place for follows the provider's policy: by default a 400.
    let odd = sent.replace(r#""effort":"high""#, r#""effort":"high","future":1"#);
    let refused = post(&gateway, odd, "cc-key").await;
    assert_eq!(refused.status(), 400);
    let body = refused.text().await.unwrap();
    assert!(body.contains("output_config.future"), "{body}");
}

#[tokio::test]
async fn a_chat_stream_comes_back_as_anthropics_events_in_order() {
    use common::fixtures::openai;
    let (upstream, gateway) =
        gateway_with_upstream(&format!("unsupported_params = \"drop\"\n{KEYS}")).await;
    upstream.push(Reply::sse(openai::TOOL_STREAM));
    let response = post(&gateway, request("up/gpt-4o", true), "cc-key").await;
    assert_eq!(response.status(), 200);
    let body = response.text().await.unwrap();
    let events = named_events(&body);
    let names: Vec<&str> = events.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(names.first(), Some(&"message_start"), "{body}");
    assert_eq!(names.last(), Some(&"message_stop"), "{body}");
    for (name, data) in &events {
        assert_eq!(data["type"], *name, "each event's name is its type");
    }
    let (_, start) = &events[0];
    assert_eq!(start["message"]["model"], "up/gpt-4o");
    assert_eq!(start["message"]["usage"]["input_tokens"], 0);
    // Blocks open, fill and close in order, at indices 0, 1, ...
    let mut open: Option<u64> = None;
    let mut next: u64 = 0;
    let mut inputs: Vec<String> = Vec::new();
    for (name, data) in &events {
        match name.as_str() {
            "content_block_start" => {
                assert_eq!(open, None, "one block at a time: {body}");
                assert_eq!(data["index"], next);
                open = Some(next);
                next += 1;
                assert_eq!(data["content_block"]["type"], "tool_use");
                inputs.push(String::new());
            }
            "content_block_delta" => {
                assert_eq!(Some(data["index"].as_u64().unwrap()), open);
                let piece = data["delta"]["partial_json"].as_str().unwrap();
                inputs.last_mut().unwrap().push_str(piece);
            }
            "content_block_stop" => {
                assert_eq!(Some(data["index"].as_u64().unwrap()), open);
                open = None;
            }
            _ => {}
        }
    }
    assert_eq!(next, 2, "two tool calls: {body}");
    let inputs: Vec<Value> = inputs
        .iter()
        .map(|i| serde_json::from_str(i).unwrap())
        .collect();
    assert_eq!(inputs[0], serde_json::json!({"city": "Paris"}));
    let (_, delta) = &events[events.len() - 2];
    assert_eq!(delta["type"], "message_delta");
    assert_eq!(delta["delta"]["stop_reason"], "tool_use");
    assert!(
        delta["usage"]["output_tokens"].as_u64().is_some(),
        "{delta}"
    );
    // The upstream was asked for the usage message_delta reports.
    assert_eq!(
        upstream.last_request().json()["stream_options"]["include_usage"],
        true
    );
}

#[tokio::test]
async fn a_gemini_target_serves_the_messages_api_through_the_translation() {
    use common::fixtures::gemini;
    let (upstream, gateway) =
        gateway_for(&GEMINI, &format!("unsupported_params = \"drop\"\n{KEYS}")).await;
    upstream.push(Reply::sse(gemini::TEXT_STREAM));
    let response = post(&gateway, request("gem/gemini-2.5-flash", true), "cc-key").await;
    assert_eq!(response.status(), 200);
    // What Claude Code sends that only Anthropic honours, dropped by this provider's policy and
    // named; the cache hint always is.
    assert_eq!(
        response.headers()["x-switchyard-dropped-params"],
        "cache_control, future_field"
    );
    let events = named_events(&response.text().await.unwrap());
    let text: String = events
        .iter()
        .filter(|(name, _)| name == "content_block_delta")
        .filter_map(|(_, data)| data["delta"]["text"].as_str())
        .collect();
    assert!(text.starts_with("Paris is the capital of France"), "{text}");
    assert_eq!(events.last().unwrap().0, "message_stop");
    let (_, delta) = &events[events.len() - 2];
    assert_eq!(delta["delta"]["stop_reason"], "end_turn");
}

#[tokio::test]
async fn what_a_chat_target_cannot_honour_follows_its_policy_but_the_cache_hint_is_always_dropped()
{
    let (upstream, gateway) = gateway_with_upstream(KEYS).await;
    let sent = r#"{"model":"up/gpt-4o","max_tokens":10,"top_k":5,"container":"c1","messages":[{"role":"user","content":[{"type":"text","text":"hi","cache_control":{"type":"ephemeral"}}]}]}"#;
    let response = post(&gateway, sent.to_owned(), "cc-key").await;
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["type"], "invalid_request_error");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("'container'") && message.contains("top_k"),
        "{message}"
    );
    assert!(!message.contains("cache_control"), "{message}");
    assert!(upstream.requests().is_empty());

    let sent = r#"{"model":"up/gpt-4o","max_tokens":10,"messages":[{"role":"user","content":[{"type":"text","text":"hi","cache_control":{"type":"ephemeral"}}]}]}"#;
    upstream.push(Reply::json(completion_json("hello")));
    let response = post(&gateway, sent.to_owned(), "cc-key").await;
    assert_eq!(
        response.status(),
        200,
        "a cache hint alone is never refused"
    );
    assert_eq!(
        response.headers()["x-switchyard-dropped-params"],
        "cache_control"
    );
}

#[tokio::test]
async fn count_tokens_toward_a_chat_target_is_an_estimate() {
    let (upstream, gateway) = gateway_with_upstream(KEYS).await;
    let response = gateway
        .http
        .post(format!("{}/v1/messages/count_tokens", gateway.url))
        .header("x-api-key", "cc-key")
        .body(r#"{"model":"up/gpt-4o","messages":[{"role":"user","content":"one two three four five six seven eight"}]}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let count: Value = response.json().await.unwrap();
    let tokens = count["input_tokens"].as_u64().unwrap();
    assert!((10..60).contains(&tokens), "{count}");
    assert!(
        upstream.requests().is_empty(),
        "nothing was generated to count"
    );
}

#[tokio::test]
async fn server_tools_only_anthropic_can_run_are_refused_toward_other_targets() {
    let (upstream, gateway) = gateway_with_upstream(KEYS).await;
    let sent = r#"{"model":"up/gpt-4o","max_tokens":10,"tools":[{"type":"web_search_20250305","name":"web_search"}],"messages":[{"role":"user","content":"news?"}]}"#;
    let response = post(&gateway, sent.to_owned(), "cc-key").await;
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["type"], "invalid_request_error");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("web_search_20250305"),
        "{body}"
    );
    assert!(upstream.requests().is_empty());
}

/// An anthropic-kind provider `name` at `upstream`.
fn table(name: &str, upstream: &FakeUpstream) -> String {
    format!(
        "[providers.{name}]\nkind = \"anthropic\"\nbase_url = \"{}\"\napi_key = \"sk-ant-{name}-secret\"\n",
        upstream.root
    )
}

#[tokio::test]
async fn the_model_list_is_anthropics_when_the_client_speaks_anthropic_and_pages() {
    let (_upstream, gateway) = gateway_for(
        &ANTHROPIC,
        "models = [\"claude-sonnet-4-5\", \"claude-haiku-4-5\"]\n\
         [models.claude-opus-4-1]\ntargets = [\"claude/claude-sonnet-4-5\"]\n\
         [auth]\nkeys = [{ name = \"cc\", key = \"cc-key\", models = [\"claude*\"] }]\n",
    )
    .await;
    let list = |query: &str, anthropic: bool| {
        let mut request = gateway
            .get(&format!("/v1/models{query}"))
            .header("x-api-key", "cc-key");
        if anthropic {
            request = request.header("anthropic-version", "2023-06-01");
        }
        async move {
            let response = request.send().await.unwrap();
            assert_eq!(response.status(), 200);
            response.json::<Value>().await.unwrap()
        }
    };
    let ids = |page: &Value| -> Vec<String> {
        page["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let all = list("", true).await;
    assert_eq!(
        ids(&all),
        [
            "claude-opus-4-1",
            "claude/claude-haiku-4-5",
            "claude/claude-sonnet-4-5"
        ],
        "what the key may use: {all}"
    );
    assert_eq!(all["data"][0]["type"], "model");
    assert_eq!(all["data"][0]["created_at"], "1970-01-01T00:00:00Z");
    assert_eq!(all["has_more"], false);
    assert_eq!(all["first_id"], "claude-opus-4-1");
    assert_eq!(all["last_id"], "claude/claude-sonnet-4-5");

    let first = list("?limit=2", true).await;
    assert_eq!(ids(&first), ["claude-opus-4-1", "claude/claude-haiku-4-5"]);
    assert_eq!(first["has_more"], true);
    let next = list("?limit=2&after_id=claude%2Fclaude-haiku-4-5", true).await;
    assert_eq!(ids(&next), ["claude/claude-sonnet-4-5"]);
    assert_eq!(next["has_more"], false);
    let before = list("?before_id=claude%2Fclaude-sonnet-4-5&limit=1", true).await;
    assert_eq!(ids(&before), ["claude/claude-haiku-4-5"]);
    assert_eq!(before["has_more"], true);

    // Without anthropic-version: OpenAI's list, as before.
    let openai = list("", false).await;
    assert_eq!(openai["object"], "list");
    assert_eq!(openai["data"][0]["object"], "model");

    let refused = gateway
        .get("/v1/models?limit=0")
        .header("x-api-key", "cc-key")
        .header("anthropic-version", "2023-06-01")
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 400);
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["type"], "invalid_request_error");
}

#[tokio::test]
async fn count_tokens_is_relayed_to_an_anthropic_target_as_it_came() {
    let (upstream, gateway) = gateway_for(&ANTHROPIC, KEYS).await;
    upstream.push(Reply::json(r#"{"input_tokens":2095}"#));
    let sent = r#"{"model":"claude/claude-sonnet-4-5","system":"terse","messages":[{"role":"user","content":"Bonjour"}],"tools":[{"name":"t","input_schema":{"type":"object"}}]}"#;
    let response = gateway
        .http
        .post(format!(
            "{}/v1/messages/count_tokens?beta=true",
            gateway.url
        ))
        .header("x-api-key", "cc-key")
        .header("anthropic-version", "2023-06-01")
        .body(sent)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), r#"{"input_tokens":2095}"#);
    let got = upstream.last_request();
    assert_eq!(got.path, "/v1/messages/count_tokens");
    assert_eq!(
        got.text(),
        sent.replace("claude/claude-sonnet-4-5", "claude-sonnet-4-5")
    );
    assert_eq!(got.headers["anthropic-version"], "2023-06-01");
}

#[tokio::test]
async fn a_translated_stream_that_fails_after_output_ends_with_an_error_event_and_is_metered() {
    let (upstream, gateway) = gateway_with_upstream(KEYS).await;
    let sent = r#"{"model":"up/gpt-4o","max_tokens":50,"stream":true,"messages":[{"role":"user","content":"hi"}]}"#;
    upstream.push(Reply::sse(include_str!(
        "fixtures/openai/midstream_error.sse"
    )));
    let response = post(&gateway, sent.to_owned(), "cc-key").await;
    assert_eq!(response.status(), 200);
    let body = response.text().await.unwrap();
    let events = named_events(&body);
    let names: Vec<&str> = events.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "message_start",
            "content_block_start",
            "content_block_delta",
            "error"
        ],
        "{body}"
    );
    assert_eq!(events[3].1["type"], "error");
    assert_eq!(events[3].1["error"]["type"], "api_error");

    // A whole translated answer's usage counts against the key as a relayed one's does.
    upstream.push(Reply::json(completion_json("fine")));
    let sent =
        r#"{"model":"up/gpt-4o","max_tokens":50,"messages":[{"role":"user","content":"hi"}]}"#;
    let first = post(&gateway, sent.to_owned(), "cc-key").await;
    assert_eq!(first.status(), 200);
    let before: u64 = header_number(&first, "x-ratelimit-remaining-tokens");
    upstream.push(Reply::json(completion_json("again")));
    let second = post(&gateway, sent.to_owned(), "cc-key").await;
    let after: u64 = header_number(&second, "x-ratelimit-remaining-tokens");
    assert_eq!(before - after, 5, "3 prompt and 2 completion tokens");
}

#[tokio::test]
async fn thinking_another_target_produced_is_left_out_when_the_conversation_comes_to_anthropic() {
    let (upstream, gateway) = gateway_for(&ANTHROPIC, KEYS).await;
    upstream.push(Reply::json(anthropic::TEXT));
    // The gateway wrote GPT's reasoning as a thinking block without a signature; Claude's own
    // signed block stays.
    let sent = r#"{"model":"claude/claude-sonnet-4-5","max_tokens":64,"messages":[
        {"role":"user","content":"hi"},
        {"role":"assistant","content":[{"type":"thinking","thinking":"GPT thought","signature":""},{"type":"text","text":"Hello"}]},
        {"role":"assistant","content":[{"type":"thinking","thinking":"Claude thought","signature":"EqQBCkYIBx"},{"type":"text","text":"Again"}]},
        {"role":"user","content":"and?"}]}"#;
    let response = post(&gateway, sent.to_owned(), "cc-key").await;
    assert_eq!(response.status(), 200);
    let got = upstream.last_request().json();
    assert_eq!(
        got["messages"][1]["content"],
        serde_json::json!([{"type": "text", "text": "Hello"}])
    );
    assert_eq!(got["messages"][2]["content"][0]["signature"], "EqQBCkYIBx");
    assert_eq!(got["model"], "claude-sonnet-4-5");
}

#[tokio::test]
async fn a_key_over_its_limit_gets_anthropics_429_with_the_limit_headers() {
    let (upstream, gateway) = gateway_for(
        &ANTHROPIC,
        "[auth]\nkeys = [{ name = \"cc\", key = \"cc-key\", rpm = 1 }]\n",
    )
    .await;
    upstream.push(Reply::json(anthropic::TEXT));
    let first = post(
        &gateway,
        request("claude/claude-sonnet-4-5", false),
        "cc-key",
    )
    .await;
    assert_eq!(first.status(), 200);
    let refused = post(
        &gateway,
        request("claude/claude-sonnet-4-5", false),
        "cc-key",
    )
    .await;
    assert_eq!(refused.status(), 429);
    assert_eq!(refused.headers()["x-ratelimit-remaining-requests"], "0");
    assert!(refused.headers().contains_key("retry-after"));
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["type"], "error");
    assert_eq!(body["error"]["type"], "rate_limit_error");
}

#[tokio::test]
async fn a_silent_stream_is_kept_alive_with_anthropics_ping_events() {
    let (upstream, gateway) = gateway_for(
        &ANTHROPIC,
        &format!("[server]\nkeep_alive = \"100ms\"\n{KEYS}"),
    )
    .await;
    // The opening and a first delta, without the upstream's own ping; then silence.
    let events: Vec<String> = anthropic::TEXT_STREAM
        .split_inclusive("\n\n")
        .filter(|event| !event.starts_with("event: ping"))
        .take(3)
        .map(str::to_owned)
        .collect();
    upstream.push(Reply::stuck_after(events));
    let response = post(
        &gateway,
        request("claude/claude-sonnet-4-5", true),
        "cc-key",
    )
    .await;
    let mut body = response.bytes_stream();
    let seen = read_until(&mut body, "event: ping\ndata: {\"type\": \"ping\"}\n\n").await;
    assert!(
        !seen.contains(": keep-alive"),
        "an SSE comment instead of a ping: {seen}"
    );
}
