//! The built-in offline provider.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use serde_json::json;

#[tokio::test]
async fn echo_answers_with_the_last_user_message() {
    let gateway = gateway("").await;
    let request = json!({"model": "echo/anything", "messages": [
        {"role": "system", "content": "You are a parrot."},
        {"role": "user", "content": "first question"},
        {"role": "assistant", "content": "first answer"},
        {"role": "user", "content": [{"type": "text", "text": "say"}, {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}}, {"type": "text", "text": "this back"}]}
    ]});
    let body = gateway.whole(&request).await;
    assert_eq!(body["object"], "chat.completion");
    assert_eq!(body["model"], "echo/anything");
    assert!(body["id"].as_str().unwrap().starts_with("chatcmpl-"));
    assert_eq!(body["choices"][0]["message"]["role"], "assistant");
    assert_eq!(body["choices"][0]["message"]["content"], "say this back");
    assert_eq!(body["choices"][0]["finish_reason"], "stop");
    assert_eq!(body["usage"]["completion_tokens"], 3);
    assert_eq!(body["usage"]["prompt_tokens"], 11);
    assert_eq!(body["usage"]["total_tokens"], 14);
}

#[tokio::test]
async fn echo_streams_word_by_word_with_usage_when_asked() {
    let gateway = gateway("").await;
    let text = "the quick  brown fox";
    let request = with_usage(user("echo/x", text));
    let body = read_finished_stream(gateway.send(&request).await, "echo/x").await;
    assert_eq!(body.text(), text);
    let chunks = body.chunks();
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    let words = chunks
        .iter()
        .filter(|c| {
            c["choices"][0]["delta"]["content"]
                .as_str()
                .is_some_and(|s| !s.is_empty())
        })
        .count();
    assert_eq!(words, 4, "one chunk per word");
    let finish = &chunks[chunks.len() - 2];
    assert_eq!(finish["choices"][0]["finish_reason"], "stop");
    assert_eq!(chunks.last().unwrap()["usage"]["completion_tokens"], 4);

    // Without include_usage there is no usage chunk, as with OpenAI.
    let body = gateway.sse(&user_stream("echo/x", "hi")).await;
    assert!(body.chunks().iter().all(|c| c.get("usage").is_none()));
}

#[tokio::test]
async fn echo_can_be_configured_under_another_name() {
    let gateway = gateway(
        "[providers.demo]\nkind = \"echo\"\n[models.default]\ntargets = [\"demo/parrot\"]\n",
    )
    .await;
    let body = gateway.whole(&user("default", "hello")).await;
    assert_eq!(body["model"], "demo/parrot");
    assert_eq!(body["choices"][0]["message"]["content"], "hello");
}
