//! The Messages surface toward targets that are not Anthropic's, both ways. The bytes as a
//! request (`MessagesRequest::parse`, `to_chat::translate`): a refusal is a 400; a translated
//! request is a JSON object, and once the gateway parses it as chat every provider encodes it
//! (or refuses it with a JSON error showing no key). The same bytes, line by line, as a chat
//! stream's chunks through the `StreamTranslator`: every event JSON whose `type` is its name,
//! `message_start` first, content blocks opened one at a time at indices 0, 1, 2…, each closed
//! before the next opens, their deltas inside them, and `message_delta` then `message_stop` last
//! (or, for what Anthropic's format cannot say, one `error` event last).
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use switchyard::anthropic::from_chat::StreamTranslator;
use switchyard::anthropic::request::MessagesRequest;
use switchyard::anthropic::to_chat;
use switchyard::completion::Translate;

fuzz_target!(|data: &[u8]| {
    request(data);
    stream(data);
});

fn request(data: &[u8]) {
    let Ok(request) = MessagesRequest::parse(Bytes::copy_from_slice(data)) else {
        return;
    };
    // Both ways a target takes reasoning: dropped, and sent back as `reasoning_content`.
    for reasoning_back in [false, true] {
        harness::check_translated(
            to_chat::translate(request.body(), reasoning_back).map(|t| t.body),
        );
    }
}

fn stream(data: &[u8]) {
    let mut translator = StreamTranslator::new(harness::MODEL);
    let mut out = Vec::new();
    for chunk in harness::chat_chunks(data) {
        translator.chunk(&chunk, &mut out);
    }
    translator.end(&mut out);

    let names: Vec<&str> = out
        .iter()
        .map(|event| event.event.as_deref().unwrap_or_default())
        .collect();
    // A clean end, or an `error` event (what Anthropic's format cannot say) and nothing after.
    let broken = names.last() == Some(&"error");
    assert!(
        broken
            || (names.len() >= 2 && names[names.len() - 2..] == ["message_delta", "message_stop"]),
        "{names:?}"
    );
    assert_eq!(
        names.iter().filter(|name| **name == "error").count(),
        usize::from(broken),
        "{names:?}"
    );
    let (mut open, mut next) = (None::<u64>, 0u64);
    for (number, event) in out.iter().enumerate() {
        let payload: Value = serde_json::from_str(&event.json)
            .unwrap_or_else(|e| panic!("event {number} is not JSON ({e}): {}", event.json));
        assert_eq!(payload["type"], names[number], "{}", event.json);
        assert_eq!(
            names[number] == "message_start",
            number == 0,
            "message_start not first: {names:?}"
        );
        let index = payload["index"].as_u64();
        match names[number] {
            "content_block_start" => {
                assert_eq!(open, None, "a block opened inside another: {names:?}");
                assert_eq!(index, Some(next), "{}", event.json);
                open = index;
                next += 1;
            }
            "content_block_delta" => assert_eq!(index, open, "{}", event.json),
            "content_block_stop" => {
                assert_eq!(index, open, "{}", event.json);
                open = None;
            }
            "message_delta" => assert_eq!(open, None, "a block left open"),
            _ => {}
        }
    }
}
