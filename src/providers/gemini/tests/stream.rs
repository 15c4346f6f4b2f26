//! The stream state machine on Gemini SSE fixtures.

use super::*;

#[tokio::test]
async fn text_stream_with_crlf_framing() {
    let (out, end) = run(TEXT_STREAM, true).await;
    assert!(end.is_ok(), "{end:?}");
    let chunks = chunks(&out);
    assert_eq!(
        chunks.len(),
        6,
        "role, three deltas, finish, usage: {chunks:#?}"
    );
    let id = &chunks[0]["id"];
    assert!(id.as_str().is_some_and(|id| id.starts_with("chatcmpl-")));
    for chunk in &chunks {
        assert_eq!(&chunk["id"], id, "one id per stream");
        assert_eq!(chunk["object"], "chat.completion.chunk");
        assert_eq!(chunk["model"], "gem/gemini-2.5-flash");
    }
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    assert!(!out[0].output && out[1].output && !out[5].output);
    assert_eq!(chunks[5]["choices"], json!([]));
    let assembled = assemble(&chunks);
    assert_eq!(
        assembled.content,
        "Paris is the capital of France — about 2.1 million people live there. Note: 1 < 2 & café ☃."
    );
    assert_eq!(assembled.finish, "stop");
    assert_eq!(
        assembled.usage,
        json!({"prompt_tokens": 9, "completion_tokens": 55, "total_tokens": 64,
               "prompt_tokens_details": {"cached_tokens": 0},
               "completion_tokens_details": {"reasoning_tokens": 31}})
    );
}

#[tokio::test]
async fn usage_chunk_only_when_asked_for() {
    let (out, end) = run(TEXT_STREAM, false).await;
    assert!(end.is_ok());
    assert!(chunks(&out).iter().all(|c| c["usage"].is_null()));
    assert_eq!(out.len(), 5);
}

#[tokio::test]
async fn function_calls_arrive_whole_with_the_signature_in_the_id() {
    let (out, end) = run(TOOL_STREAM, true).await;
    assert!(end.is_ok(), "{end:?}");
    let chunks = chunks(&out);
    let call_deltas: Vec<&Value> = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"].get("tool_calls"))
        .collect();
    assert_eq!(call_deltas.len(), 2, "one delta per call");
    let first = &call_deltas[0][0];
    assert_eq!(first["index"], 0);
    assert_eq!(first["type"], "function");
    assert_eq!(first["function"]["name"], "get_weather");
    assert_eq!(
        first["function"]["arguments"],
        r#"{"city":"Paris","unit":"celsius"}"#
    );
    let id = first["id"].as_str().unwrap_or_default();
    let signature = value(TOOL)["candidates"][0]["content"]["parts"][1]["thoughtSignature"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(signature.contains('+') && signature.contains('/'));
    let (plain, carried) = signature::split_id(id);
    assert!(plain.starts_with("call_") && !plain.contains("__"));
    assert_eq!(carried.as_deref(), Some(signature.as_str()));
    assert!(
        id.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-'),
        "{id}"
    );
    let second = &call_deltas[1][0];
    assert_eq!(second["index"], 1);
    assert!(
        !second["id"]
            .as_str()
            .unwrap_or_default()
            .contains("__thought__")
    );
    let assembled = assemble(&chunks);
    assert_eq!(assembled.content, "Let me look both up.");
    assert_eq!(
        assembled.finish, "tool_calls",
        "Gemini says STOP after calls"
    );
    assert_eq!(assembled.usage["completion_tokens"], 142);
}

#[tokio::test]
async fn thoughts_become_reasoning_content_and_signatures_reasoning_details() {
    let (out, end) = run(THINKING_STREAM, true).await;
    assert!(end.is_ok(), "{end:?}");
    let assembled = assemble(&chunks(&out));
    assert_eq!(
        assembled.reasoning,
        "**Weighing the numbers**\n\nThe user wants 17 × 23. 17 × 20 = 340 and 17 × 3 = 51, so 391."
    );
    assert_eq!(assembled.content, "17 × 23 = 391.");
    let signature =
        value(THINKING)["candidates"][0]["content"]["parts"][1]["thoughtSignature"].clone();
    assert_eq!(
        assembled.details,
        [
            json!({"type": "reasoning.encrypted", "data": signature, "format": "google-gemini-v1", "index": 0})
        ]
    );
    assert_eq!(
        assembled.usage,
        json!({"prompt_tokens": 14, "completion_tokens": 185, "total_tokens": 199,
               "prompt_tokens_details": {"cached_tokens": 8},
               "completion_tokens_details": {"reasoning_tokens": 176}})
    );
}

#[tokio::test]
async fn streams_and_whole_answers_agree() {
    for (stream, whole) in [
        (TEXT_STREAM, TEXT),
        (TOOL_STREAM, TOOL),
        (THINKING_STREAM, THINKING),
    ] {
        let (out, end) = run(stream, true).await;
        assert!(end.is_ok());
        let streamed = without_random_ids(assemble(&chunks(&out)));
        let decoded = without_random_ids(assemble_whole(&decode(whole)));
        assert_eq!(streamed, decoded);
    }
}

#[tokio::test]
async fn a_blocked_prompt_is_content_filter_with_empty_content() {
    let whole = decode(BLOCKED);
    assert_eq!(whole["choices"][0]["finish_reason"], "content_filter");
    assert_eq!(whole["choices"][0]["message"]["content"], "");
    assert_eq!(whole["usage"]["prompt_tokens"], 12);
    let (out, end) = run(BLOCKED_STREAM, true).await;
    assert!(end.is_ok());
    let assembled = assemble(&chunks(&out));
    assert_eq!(assembled.finish, "content_filter");
    assert_eq!(assembled.content, "");
    assert_eq!(assembled.usage["prompt_tokens"], 12);
}

#[tokio::test]
async fn an_end_before_a_finish_reason_is_a_truncation() {
    let cut = TEXT_STREAM
        .rsplit_once("data: ")
        .map(|(head, _)| head)
        .unwrap_or_default();
    let (out, end) = run(cut, true).await;
    assert_eq!(
        assemble(&chunks(&out)).content,
        "Paris is the capital of France — about 2.1 million people live"
    );
    match end {
        Err(Error::UpstreamFailed { provider, detail }) => {
            assert_eq!(provider, "gem");
            assert!(detail.contains("no finishReason"), "{detail}");
        }
        other => unreachable!("{other:?}"),
    }
    let (_, empty) = run("", true).await;
    assert!(empty.is_err(), "an empty body is no answer");
}

#[tokio::test]
async fn an_error_event_mid_stream_ends_it_with_the_mapped_status() {
    let (out, end) = run(MIDSTREAM_ERROR, true).await;
    assert_eq!(
        assemble(&chunks(&out)).content,
        "The first half of an answer"
    );
    match end {
        Err(Error::UpstreamFailed { detail, .. }) => {
            assert!(
                detail.contains("HTTP 500") && detail.contains("internal error"),
                "{detail}"
            );
        }
        other => unreachable!("{other:?}"),
    }
    let quota = format!("data: {}\n\n", QUOTA_ERROR.replace('\n', ""));
    let (out, end) = run(&quota, true).await;
    assert!(out.is_empty(), "no role chunk before an error");
    match end {
        Err(Error::Upstream(status)) => {
            assert_eq!(status.status, 429);
            assert!(status.message.contains("quota"), "{}", status.message);
        }
        other => unreachable!("{other:?}"),
    }
}

#[tokio::test]
async fn each_signed_part_gets_its_own_reasoning_details_index() {
    let event = |parts: &str, finish: &str| {
        format!(
            "data: {{\"candidates\":[{{\"index\":0,{finish}\"content\":{{\"role\":\"model\",\"parts\":[{parts}]}}}}]}}\r\n\r\n"
        )
    };
    let stream = format!(
        "{}{}",
        event(
            r#"{"text":"Thinking...","thought":true,"thoughtSignature":"c2lnLTE="}"#,
            ""
        ),
        event(
            r#"{"text":"Done.","thoughtSignature":"c2lnLTI="}"#,
            "\"finishReason\":\"STOP\","
        ),
    );
    let (out, end) = run(&stream, false).await;
    assert!(end.is_ok(), "{end:?}");
    let indexes: Vec<Value> = chunks(&out)
        .iter()
        .flat_map(|c| {
            c["choices"][0]["delta"]["reasoning_details"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .map(|d| d["index"].clone())
        .collect();
    assert_eq!(
        indexes,
        [json!(0), json!(1)],
        "distinct indexes, so a client's merge keeps both"
    );
}

#[test]
fn cut_short_or_filtered_turns_say_so_even_with_a_call() {
    assert_eq!(response::finish_reason(Some("MAX_TOKENS"), true), "length");
    assert_eq!(
        response::finish_reason(Some("SAFETY"), true),
        "content_filter"
    );
    assert_eq!(response::finish_reason(Some("STOP"), true), "tool_calls");
    assert_eq!(response::finish_reason(Some("STOP"), false), "stop");
}
