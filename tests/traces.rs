//! OpenTelemetry traces: a fake OTLP/HTTP collector (a fake upstream that records what it is
//! sent) receives the request's server span and a client span per upstream attempt, in the
//! trace the client's `traceparent` named, with the GenAI attributes and never the prompt; each
//! provider is sent a `traceparent` naming its attempt's span.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::*;
use serde_json::Value;

const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT: &str = "00f067aa0ba902b7";

/// Every span the collector has received so far.
fn spans(collector: &FakeUpstream) -> Vec<Value> {
    collector
        .requests()
        .iter()
        .filter(|r| r.path == "/v1/traces")
        .flat_map(|r| {
            let body = r.json();
            body["resourceSpans"][0]["scopeSpans"][0]["spans"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .collect()
}

async fn spans_within(collector: &FakeUpstream, count: usize) -> Vec<Value> {
    for _ in 0..100 {
        let spans = spans(collector);
        if spans.len() >= count {
            return spans;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    spans(collector)
}

/// The value of attribute `key` of `span`, as OTLP's JSON writes it.
fn attribute<'a>(span: &'a Value, key: &str) -> Option<&'a Value> {
    span["attributes"]
        .as_array()?
        .iter()
        .find(|a| a["key"] == key)
        .map(|a| &a["value"])
}

fn text<'a>(span: &'a Value, key: &str) -> Option<&'a str> {
    attribute(span, key)?["stringValue"].as_str()
}

fn int(span: &Value, key: &str) -> Option<i64> {
    attribute(span, key)?["intValue"].as_str()?.parse().ok()
}

#[tokio::test]
async fn a_request_and_each_attempt_are_spans_in_the_callers_trace() {
    let collector = FakeUpstream::start().await;
    collector.always(Reply::json("{}"));
    let (a, b) = (FakeUpstream::start().await, FakeUpstream::start().await);
    let toml = format!(
        "{}{}[routing]\nbackoff_base = \"1ms\"\n[models.smart]\ntargets = [\"a/m\", \"b/m\"]\nretries = 0\n\
         [telemetry]\notlp_endpoint = \"{}\"\n[auth]\nkeys = [{{ name = \"ci\", key = \"ci-key\" }}]\n",
        a.provider_toml("a"),
        b.provider_toml("b"),
        collector.root,
    );
    let gateway = gateway(&toml).await;
    a.push(Reply::status(503, r#"{"error":{"message":"busy"}}"#));
    b.push(Reply::json(completion_json("from b")));
    let response = gateway
        .send_with(
            &user("smart", "a secret prompt"),
            &[
                ("authorization", "Bearer ci-key"),
                ("traceparent", &format!("00-{TRACE}-{PARENT}-01")),
            ],
        )
        .await;
    assert_eq!(response.status(), 200);

    let spans = spans_within(&collector, 3).await;
    assert_eq!(spans.len(), 3, "{spans:#?}");
    let export = collector
        .requests()
        .into_iter()
        .find(|r| r.path == "/v1/traces")
        .unwrap();
    assert_eq!(export.headers["content-type"], "application/json");
    assert!(
        !export.text().contains("secret prompt"),
        "no prompt in spans"
    );
    let resource = &export.json()["resourceSpans"][0]["resource"];
    assert_eq!(text(resource, "service.name"), Some("switchyard"));

    for span in &spans {
        assert_eq!(
            span["traceId"], TRACE,
            "every span in the caller's trace: {span}"
        );
    }
    let server = spans.iter().find(|s| s["kind"] == 2).unwrap();
    assert_eq!(server["parentSpanId"], PARENT);
    assert_eq!(server["name"], "chat smart");
    assert_eq!(text(server, "gen_ai.operation.name"), Some("chat"));
    assert_eq!(text(server, "gen_ai.request.model"), Some("smart"));
    assert_eq!(int(server, "http.response.status_code"), Some(200));
    assert_eq!(text(server, "switchyard.target"), Some("b/m"));
    assert_eq!(text(server, "switchyard.key"), Some("ci"));
    assert_eq!(int(server, "switchyard.attempts"), Some(2));
    assert_eq!(int(server, "gen_ai.usage.input_tokens"), Some(3));
    assert!(server["status"].get("code").is_none(), "{server}");
    let finishes = |span: &Value| attribute(span, "gen_ai.response.finish_reasons").cloned();
    let stop = serde_json::json!({"arrayValue": {"values": [{"stringValue": "stop"}]}});
    assert_eq!(finishes(server), Some(stop.clone()));

    let mut clients: Vec<&Value> = spans.iter().filter(|s| s["kind"] == 3).collect();
    clients.sort_by_key(|s| {
        s["startTimeUnixNano"]
            .as_str()
            .unwrap()
            .parse::<u128>()
            .unwrap()
    });
    let (failed, served) = (clients[0], clients[1]);
    for client in [failed, served] {
        assert_eq!(client["parentSpanId"], server["spanId"], "{client}");
        assert_eq!(text(client, "gen_ai.provider.name"), Some("openai"));
        assert_eq!(text(client, "gen_ai.request.model"), Some("m"));
        assert_eq!(text(client, "server.address"), Some("127.0.0.1"));
        assert!(int(client, "server.port").is_some());
    }
    assert_eq!(text(failed, "switchyard.target"), Some("a/m"));
    assert_eq!(text(failed, "error.type"), Some("upstream_failed"));
    assert_eq!(failed["status"]["code"], 2);
    assert_eq!(text(failed, "switchyard.attempt.result"), Some("fell_back"));
    assert_eq!(text(served, "switchyard.target"), Some("b/m"));
    assert_eq!(int(served, "gen_ai.usage.input_tokens"), Some(3));
    assert_eq!(int(served, "gen_ai.usage.output_tokens"), Some(2));
    // As the provider named it, not as it was asked for.
    assert_eq!(text(served, "gen_ai.response.model"), Some("up-model"));
    assert_eq!(finishes(served), Some(stop));
    assert!(finishes(failed).is_none());
    assert!(text(served, "error.type").is_none());

    // Each provider was told which span its work belongs to.
    for (upstream, span) in [(&a, failed), (&b, served)] {
        let sent = upstream.last_request().headers["traceparent"]
            .to_str()
            .unwrap()
            .to_owned();
        assert_eq!(
            sent,
            format!("00-{TRACE}-{}-01", span["spanId"].as_str().unwrap())
        );
    }
}

#[tokio::test]
async fn a_request_without_traceparent_begins_a_trace_and_a_stream_has_its_first_chunk_time() {
    let collector = FakeUpstream::start().await;
    collector.always(Reply::json("{}"));
    let (upstream, gateway) = gateway_with_upstream(&format!(
        "[telemetry]\notlp_endpoint = \"{}/\"\n",
        collector.root
    ))
    .await;
    upstream.push(Reply::sse(text_stream(&["one", " two"])));
    let stream = read_sse(
        gateway
            .chat_json(&user_stream("up/m", "hi"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(stream.text(), "one two");
    let spans = spans_within(&collector, 2).await;
    assert_eq!(spans.len(), 2, "{spans:#?}");
    let server = spans.iter().find(|s| s["kind"] == 2).unwrap();
    assert!(
        server.get("parentSpanId").is_none(),
        "a new trace: {server}"
    );
    assert_eq!(server["traceId"].as_str().unwrap().len(), 32);
    let client = spans.iter().find(|s| s["kind"] == 3).unwrap();
    assert_eq!(client["traceId"], server["traceId"]);
    assert_eq!(
        attribute(client, "gen_ai.request.stream").unwrap()["boolValue"],
        true
    );
    assert_eq!(text(client, "gen_ai.response.model"), Some("up-model"));
    assert_eq!(
        attribute(client, "gen_ai.response.finish_reasons").unwrap()["arrayValue"]["values"][0]["stringValue"],
        "stop"
    );
    assert!(
        attribute(client, "gen_ai.response.time_to_first_chunk").unwrap()["doubleValue"]
            .as_f64()
            .unwrap()
            >= 0.0
    );
}

#[tokio::test]
async fn a_collector_that_refuses_spans_never_fails_a_request_and_the_drops_are_counted() {
    let collector = FakeUpstream::start().await;
    collector.always(Reply::status(503, "{}"));
    let (upstream, gateway) = gateway_with_upstream(&format!(
        "[telemetry]\notlp_endpoint = \"{}\"\n",
        collector.root
    ))
    .await;
    upstream.always(Reply::json(completion_json("fine")));
    for _ in 0..2 {
        assert_eq!(gateway.send(&user("up/m", "hi")).await.status(), 200);
    }
    let dropped = gateway
        .counter_reaching("switchyard_spans_dropped_total", 4.0)
        .await;
    assert_eq!(dropped, 4.0, "two requests, two spans each");
}

/// A collector that accepts every span, and a gateway in front of a fake upstream exporting
/// to it, with `telemetry` added to its `[telemetry]` table.
async fn traced(telemetry: &str) -> (FakeUpstream, FakeUpstream, Gateway) {
    let collector = FakeUpstream::start().await;
    collector.always(Reply::json("{}"));
    let (upstream, gateway) = gateway_with_upstream(&format!(
        "[telemetry]\notlp_endpoint = \"{}\"\n{telemetry}",
        collector.root
    ))
    .await;
    (collector, upstream, gateway)
}

#[tokio::test]
async fn prompts_and_answers_are_in_spans_only_when_asked_for() {
    let (collector, upstream, gateway) = traced("capture_content = true\n").await;
    upstream.push(Reply::json(completion_json("a whole answer")));
    assert_eq!(
        gateway
            .send(&user("up/m", "the first prompt"))
            .await
            .status(),
        200
    );
    upstream.push(Reply::sse(text_stream(&["a streamed", " answer"])));
    let stream = read_sse(
        gateway
            .chat_json(&user_stream("up/m", "the second prompt"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(stream.text(), "a streamed answer");
    let spans = spans_within(&collector, 4).await;
    let messages = |span: &Value, key: &str| -> Value {
        serde_json::from_str(text(span, key).unwrap_or_else(|| panic!("no {key}: {span}"))).unwrap()
    };
    for (prompt, answer) in [
        ("the first prompt", "a whole answer"),
        ("the second prompt", "a streamed answer"),
    ] {
        let client = spans
            .iter()
            .filter(|s| s["kind"] == 3)
            .find(|s| text(s, "gen_ai.input.messages").is_some_and(|m| m.contains(prompt)))
            .unwrap_or_else(|| panic!("no span with {prompt}: {spans:#?}"));
        assert_eq!(
            messages(client, "gen_ai.input.messages"),
            serde_json::json!([{"role": "user", "parts": [{"type": "text", "content": prompt}]}])
        );
        assert_eq!(
            messages(client, "gen_ai.output.messages"),
            serde_json::json!([{"role": "assistant", "parts": [{"type": "text", "content": answer}], "finish_reason": "stop"}])
        );
    }
}

#[tokio::test]
async fn the_messages_and_responses_surfaces_put_their_prompts_and_answers_in_spans_too() {
    let (collector, upstream, gateway) = traced("capture_content = true\n").await;
    let client = &gateway;
    let post =
        |path: &'static str, body: Value| async move { client.post_json(path, None, &body).await };
    // A Responses request translated for the chat upstream, answered whole.
    upstream.push(Reply::json(completion_json("a responses answer")));
    let response = post(
        "/v1/responses",
        serde_json::json!({"model": "up/m", "instructions": "be brief", "input": "the responses prompt"}),
    )
    .await;
    assert_eq!(response.status(), 200);
    // A Messages request, streamed: its events are what the span puts together.
    upstream.push(Reply::sse(text_stream(&["a messages", " answer"])));
    let response = post(
        "/v1/messages",
        serde_json::json!({"model": "up/m", "max_tokens": 50, "stream": true, "system": "be kind",
                           "messages": [{"role": "user", "content": "the messages prompt"}]}),
    )
    .await;
    assert_eq!(response.status(), 200);
    response.text().await.unwrap();
    let embedded = post(
        "/v1/embeddings",
        serde_json::json!({"model": "echo/e", "input": "hi"}),
    )
    .await;
    assert_eq!(embedded.status(), 200);

    let spans = spans_within(&collector, 5).await;
    // Each a chat by the conventions' names (embeddings apart); which API was spoken is the
    // span's `switchyard.surface`.
    for (surface, operation) in [
        ("responses", "chat"),
        ("messages", "chat"),
        ("embeddings", "embeddings"),
    ] {
        let server = spans
            .iter()
            .find(|s| s["kind"] == 2 && text(s, "switchyard.surface") == Some(surface))
            .unwrap_or_else(|| panic!("no {surface} server span: {spans:#?}"));
        assert_eq!(text(server, "gen_ai.operation.name"), Some(operation));
        let model = if surface == "embeddings" {
            "echo/e"
        } else {
            "up/m"
        };
        assert_eq!(server["name"], format!("{operation} {model}"));
    }
    let messages = |span: &Value, key: &str| -> Value {
        serde_json::from_str(text(span, key).unwrap_or_else(|| panic!("no {key}: {span}"))).unwrap()
    };
    for (prompt, system, answer, finish) in [
        (
            "the responses prompt",
            "be brief",
            "a responses answer",
            "completed",
        ),
        (
            "the messages prompt",
            "be kind",
            "a messages answer",
            "end_turn",
        ),
    ] {
        let client = spans
            .iter()
            .filter(|s| s["kind"] == 3)
            .find(|s| text(s, "gen_ai.input.messages").is_some_and(|m| m.contains(prompt)))
            .unwrap_or_else(|| panic!("no span with {prompt}: {spans:#?}"));
        assert_eq!(text(client, "gen_ai.operation.name"), Some("chat"));
        assert_eq!(
            messages(client, "gen_ai.input.messages"),
            serde_json::json!([
                {"role": "system", "parts": [{"type": "text", "content": system}]},
                {"role": "user", "parts": [{"type": "text", "content": prompt}]}
            ])
        );
        assert_eq!(
            messages(client, "gen_ai.output.messages"),
            serde_json::json!([{"role": "assistant", "parts": [{"type": "text", "content": answer}], "finish_reason": finish}])
        );
    }
}

#[tokio::test]
async fn translated_answers_name_the_model_and_provider_as_the_provider_did() {
    use common::fixtures::{anthropic, gemini};
    let collector = FakeUpstream::start().await;
    collector.always(Reply::json("{}"));
    let (upstream, gateway) = gateway_for_all(
        &[&ANTHROPIC, &GEMINI],
        &format!("[telemetry]\notlp_endpoint = \"{}\"\n", collector.root),
    )
    .await;
    upstream.push(Reply::json(anthropic::TEXT));
    assert_eq!(
        gateway
            .send(&user("claude/claude-sonnet-4-5", "hi"))
            .await
            .status(),
        200
    );
    upstream.push(Reply::sse(gemini::TEXT_STREAM));
    let stream = read_sse(
        gateway
            .chat_json(&user_stream("gem/gemini-2.5-flash", "hi"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(stream.done_count(), 1);
    let spans = spans_within(&collector, 4).await;
    let client = |system: &str| {
        spans
            .iter()
            .find(|s| s["kind"] == 3 && text(s, "gen_ai.provider.name") == Some(system))
            .unwrap_or_else(|| panic!("no {system} span: {spans:#?}"))
    };
    assert_eq!(
        text(client("anthropic"), "gen_ai.response.model"),
        Some("claude-sonnet-4-5-20250929")
    );
    assert_eq!(
        text(client("gcp.gemini"), "gen_ai.response.model"),
        Some("gemini-2.5-flash")
    );
}
