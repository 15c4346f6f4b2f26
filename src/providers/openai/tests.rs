use axum::http::StatusCode;
use serde_json::Value;

use super::*;
use crate::completion::Chunk;
use crate::providers::framing::sse::Event;
use crate::providers::framing::{EventDecoder, Flow};
use crate::providers::testkit::{self, json};

const TEXT_STREAM: &str = include_str!("../../../tests/fixtures/openai/text_stream.sse");
const TOOL_STREAM: &str = include_str!("../../../tests/fixtures/openai/tool_calls_stream.sse");
const OPENROUTER_STREAM: &str =
    include_str!("../../../tests/fixtures/openai/openrouter_stream.sse");
const ARK_STREAM: &str = include_str!("../../../tests/fixtures/openai/ark_seed_stream.sse");
const TRUNCATED_STREAM: &str = include_str!("../../../tests/fixtures/openai/truncated_stream.sse");
const MIDSTREAM_ERROR: &str = include_str!("../../../tests/fixtures/openai/midstream_error.sse");
const COMPLETION: &str = include_str!("../../../tests/fixtures/openai/completion.json");

fn upstream() -> Arc<Upstream> {
    testkit::upstream("up", "sk-secret-key", None)
}

fn state() -> StreamState {
    StreamState::new(upstream(), "up/gpt-4o", false)
}

/// Every event of `fixture` through a fresh decoder: the chunks, and how it ended.
async fn run(fixture: &str) -> (Vec<Chunk>, Result<Flow, Error>) {
    testkit::run(&mut state(), fixture)
}

#[tokio::test]
async fn text_stream_keeps_every_field_but_model() {
    let (chunks, end) = run(TEXT_STREAM).await;
    assert_eq!(end.ok(), Some(Flow::Done));
    assert_eq!(chunks.len(), 5);
    let outputs: Vec<bool> = chunks.iter().map(|c| c.output).collect();
    assert_eq!(
        outputs,
        [false, true, true, true, false],
        "role chunk and usage chunk carry no output"
    );
    for chunk in &chunks {
        let value = json(chunk);
        assert_eq!(value["model"], "up/gpt-4o");
        assert_eq!(value["id"], "chatcmpl-AHbPtqZ3bD1yXEGYzVrQjdB1WJJtz");
        assert_eq!(value["object"], "chat.completion.chunk");
        assert_eq!(value["created"], 1728933141);
        assert_eq!(value["system_fingerprint"], "fp_6b68a8204b");
        assert!(
            value.get("obfuscation").is_some(),
            "unknown fields pass through"
        );
    }
    assert_eq!(
        json(&chunks[2])["choices"][0]["delta"]["content"],
        ", café ☃!"
    );
    assert_eq!(json(&chunks[4])["usage"]["total_tokens"], 13);
    // Only `model` changed: the rest of the chunk is the upstream's bytes.
    let upstream_line = TEXT_STREAM
        .lines()
        .nth(2)
        .unwrap_or_default()
        .trim_start_matches("data: ");
    assert_eq!(
        chunks[1].json,
        upstream_line.replace("\"gpt-4o-2024-08-06\"", "\"up/gpt-4o\"")
    );
}

#[tokio::test]
async fn tool_call_stream_is_output_from_the_first_call() {
    let (chunks, end) = run(TOOL_STREAM).await;
    assert_eq!(end.ok(), Some(Flow::Done));
    assert!(
        !chunks[0].output,
        "role-only chunk with content null is preamble"
    );
    assert!(chunks[1..].iter().all(|c| c.output));
    assert_eq!(
        json(&chunks[1])["choices"][0]["delta"]["tool_calls"][0]["function"]["name"],
        "get_weather"
    );
    assert_eq!(
        json(&chunks[6])["choices"][0]["finish_reason"],
        "tool_calls"
    );
}

#[tokio::test]
async fn openrouter_comments_and_crlf_are_tolerated() {
    let (chunks, end) = run(OPENROUTER_STREAM).await;
    assert_eq!(end.ok(), Some(Flow::Done));
    assert_eq!(chunks.len(), 3);
    assert_eq!(
        json(&chunks[1])["choices"][0]["delta"]["content"],
        "Bonjour"
    );
    assert_eq!(
        json(&chunks[2])["choices"][0]["native_finish_reason"],
        "end_turn"
    );
    assert_eq!(json(&chunks[2])["model"], "up/gpt-4o");
}

#[tokio::test]
async fn untidy_chunks_get_one_id_object_created_and_model() {
    let (chunks, end) = run(ARK_STREAM).await;
    assert_eq!(end.ok(), Some(Flow::Done));
    let (first, last) = (json(&chunks[0]), json(&chunks[1]));
    assert_eq!(last["id"], first["id"]);
    assert_eq!(last["id"], "chatcmpl-xyz");
    assert_eq!(last["object"], "chat.completion.chunk");
    assert_eq!(last["created"], 1680000000);
    assert_eq!(last["model"], "up/gpt-4o");
    assert_eq!(last["choices"][0]["finish_reason"], "stop");
    assert_eq!(
        last["choices"][0]["index"], 0,
        "a choice without index gets 0"
    );
    assert_eq!(last["choices"][0]["delta"], serde_json::json!({}));
}

#[tokio::test]
async fn choices_without_index_are_numbered_by_their_place() {
    let stream = concat!(
        "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",",
        "\"choices\":[{\"delta\":{\"content\":\"a\"}},{\"index\":1,\"delta\":{\"content\":\"b\"}},",
        "{\"delta\":{\"content\":\"c\"}}]}\n\n",
        "data: [DONE]\n\n"
    );
    let (chunks, _) = run(stream).await;
    let choices = json(&chunks[0])["choices"].clone();
    let indexes: Vec<Value> = (0..3).map(|i| choices[i]["index"].clone()).collect();
    assert_eq!(indexes, [0, 1, 2]);
    assert_eq!(
        choices[2]["delta"]["content"], "c",
        "the rest of a choice is kept"
    );
    assert_eq!(json(&chunks[0])["model"], "up/gpt-4o");
}

#[tokio::test]
async fn a_stream_without_any_id_gets_a_generated_one() {
    let stream = "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"x\"}}]}\n\ndata: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n";
    let (chunks, end) = run(stream).await;
    assert!(end.is_ok(), "a finish_reason then EOF is a clean end");
    let ids: Vec<Value> = chunks.iter().map(|c| json(c)["id"].clone()).collect();
    assert!(
        ids[0]
            .as_str()
            .is_some_and(|id| id.starts_with("chatcmpl-"))
    );
    assert_eq!(ids[0], ids[1]);
}

#[tokio::test]
async fn a_cut_stream_is_an_error_not_a_clean_end() {
    let (chunks, end) = run(TRUNCATED_STREAM).await;
    assert_eq!(chunks.len(), 2);
    assert!(matches!(end, Err(Error::UpstreamFailed { .. })), "{end:?}");
}

#[tokio::test]
async fn an_error_event_ends_the_stream_with_that_error() {
    let (chunks, end) = run(MIDSTREAM_ERROR).await;
    assert_eq!(chunks.len(), 2);
    match end {
        Err(Error::UpstreamFailed { provider, detail }) => {
            assert_eq!(provider, "up");
            assert!(detail.contains("The server had an error"), "{detail}");
        }
        other => unreachable!("{other:?}"),
    }
}

#[tokio::test]
async fn an_error_event_with_a_client_status_keeps_it() {
    let stream =
        "data: {\"error\":{\"code\":429,\"message\":\"Rate limit for sk-secret-key\"}}\n\n";
    let (_, end) = run(stream).await;
    match end {
        Err(error @ Error::Upstream(_)) => {
            assert_eq!(error.status(), StatusCode::TOO_MANY_REQUESTS);
            assert!(
                !error.to_string().contains("sk-secret-key"),
                "the key is redacted: {error}"
            );
        }
        other => unreachable!("{other:?}"),
    }
}

#[test]
fn whole_response_keeps_every_field_but_model() {
    let config = crate::config::Config::from_toml(
        "[providers.up]\nkind = \"openai\"\nbase_url = \"http://127.0.0.1:1\"",
        None,
        &|_| None,
    )
    .unwrap_or_else(|e| unreachable!("{e}"));
    let codec =
        OpenAi::new(&config.providers["up"], upstream()).unwrap_or_else(|e| unreachable!("{e}"));
    let body = codec
        .decode(format!("\n\n{COMPLETION}").as_bytes(), "up/gpt-4o")
        .unwrap_or_else(|e| unreachable!("{e}"));
    let decoded: Value = serde_json::from_slice(&body.json).unwrap_or_default();
    let mut expected: Value = serde_json::from_str(COMPLETION).unwrap_or_default();
    expected["model"] = "up/gpt-4o".into();
    assert_eq!(decoded, expected);
    assert_eq!(
        body.tokens.map(|t| (t.prompt, t.completion, t.total)),
        Some((44, 16, 60)),
        "read as the answer was relayed"
    );

    let error = codec.decode(
        br#"{"error":{"message":"quota","type":"insufficient_quota","code":"insufficient_quota"}}"#,
        "up/x",
    );
    assert!(
        matches!(error, Err(Error::UpstreamFailed { .. })),
        "{error:?}"
    );
    assert!(codec.decode(b"<html>", "up/x").is_err());
}

#[tokio::test]
async fn azure_empty_first_chunk_gets_a_real_id_and_created() {
    let (chunks, end) = run(include_str!("../../../tests/fixtures/azure/stream.sse")).await;
    assert_eq!(end.ok(), Some(Flow::Done));
    assert_eq!(chunks.len(), 4);
    let first = json(&chunks[0]);
    assert_eq!(first["choices"], serde_json::json!([]));
    assert!(first["prompt_filter_results"].is_array(), "nothing lost");
    assert!(
        first["id"]
            .as_str()
            .is_some_and(|id| id.starts_with("chatcmpl-"))
    );
    assert!(first["created"].as_u64().is_some_and(|c| c > 0));
    assert_eq!(first["object"], "chat.completion.chunk");
    for chunk in &chunks[1..] {
        assert_eq!(json(chunk)["id"], first["id"], "one id per stream");
        assert_eq!(json(chunk)["created"], first["created"]);
    }
    assert!(!chunks[0].output && !chunks[1].output && chunks[2].output);
}

#[tokio::test]
async fn with_n_choices_every_one_must_finish_for_a_clean_end() {
    let choice = |index: u32, finish: &str| {
        let finish = if finish.is_empty() {
            "null".to_owned()
        } else {
            format!("\"{finish}\"")
        };
        format!(
            "data: {{\"id\":\"c\",\"choices\":[{{\"index\":{index},\"delta\":{{\"content\":\"x\"}},\"finish_reason\":{finish}}}]}}\n\n"
        )
    };
    let cut = format!("{}{}{}", choice(0, ""), choice(1, ""), choice(0, "stop"));
    let (_, end) = run(&cut).await;
    assert!(end.is_err(), "choice 1 never finished: the stream was cut");
    let whole = format!("{cut}{}", choice(1, "length"));
    let (_, end) = run(&whole).await;
    assert!(end.is_ok(), "{end:?}");
}

#[test]
fn usage_the_client_did_not_ask_for_is_stripped_however_its_key_is_spelled() {
    // Found by fuzzing: the one-pass path read `"\u0075sage"` as usage but kept its bytes.
    let mut state = StreamState::new(upstream(), "up/gpt-4o", true);
    let mut out = Vec::new();
    for data in [
        r#"{"id":"x","object":"chat.completion.chunk","created":1,"model":"m","choices":[],"\u0075sage":{"total_tokens":3}}"#,
        r#"{"id":"x","object":"chat.completion.chunk","created":1,"model":"m","choices":[],"usage":{"total_tokens":3}}"#,
    ] {
        let event = Event {
            event: None,
            data: Some(data.to_owned()),
        };
        assert_eq!(state.map(&event, &mut out).ok(), Some(Flow::Continue));
    }
    assert_eq!(out.len(), 2);
    for chunk in &out {
        assert_eq!(chunk.usage.map(|t| t.total), Some(3), "counted");
        assert!(chunk.usage_only);
        let json = json(chunk);
        assert!(json.get("usage").is_none(), "not sent on: {json}");
    }
}
