//! The Responses surface toward targets that do not serve the API, both ways. The bytes as a
//! request (`ResponsesRequest::parse`, `to_chat::translate`): a refusal is a 400; a translated
//! request is a JSON object, and once the gateway parses it as chat every provider encodes it
//! (or refuses it with a JSON error showing no key). The same bytes, line by line, as a chat
//! stream's chunks through `ResponsesStream`: every event JSON whose `type` is its name,
//! numbered from 0; every item added is done once; one terminal event, last, whose response
//! holds the done items in order.
#![no_main]

use std::collections::BTreeMap;

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Value};
use switchyard::completion::Translate;
use switchyard::openai::responses::from_chat::ResponsesStream;
use switchyard::openai::responses::object::{Echo, Shell};
use switchyard::openai::responses::{ResponsesRequest, to_chat};

fuzz_target!(|data: &[u8]| {
    request(data);
    stream(data);
});

fn request(data: &[u8]) {
    let Ok(request) = ResponsesRequest::parse(Bytes::copy_from_slice(data)) else {
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
    let mut stream = ResponsesStream::new(Shell::new(harness::MODEL, &Echo::of(&Map::new())));
    let mut out = Vec::new();
    for chunk in harness::chat_chunks(data) {
        stream.chunk(&chunk, &mut out);
    }
    stream.end(&mut out);

    let mut items: BTreeMap<u64, Option<Value>> = BTreeMap::new();
    let last = out.len() - 1;
    for (number, event) in out.iter().enumerate() {
        let name = event.event.as_deref().unwrap_or_default();
        let payload: Value = serde_json::from_str(&event.json)
            .unwrap_or_else(|e| panic!("event {number} is not JSON ({e}): {}", event.json));
        assert_eq!(payload["type"], name, "{}", event.json);
        assert_eq!(payload["sequence_number"], number, "{}", event.json);
        let terminal = matches!(name, "response.completed" | "response.incomplete");
        assert_eq!(
            terminal,
            number == last,
            "a terminal event not last: {name}"
        );
        match name {
            "response.output_item.added" => {
                let index = payload["output_index"].as_u64().expect("an output index");
                assert_eq!(index, items.len() as u64, "items added out of order");
                items.insert(index, None);
            }
            "response.output_item.done" => {
                let index = payload["output_index"].as_u64().expect("an output index");
                let slot = items
                    .get_mut(&index)
                    .expect("an item done that was never added");
                assert!(slot.is_none(), "an item done twice");
                *slot = Some(payload["item"].clone());
            }
            _ => {}
        }
        if terminal {
            let done: Vec<Value> = items
                .values()
                .map(|item| item.clone().expect("an item never done"))
                .collect();
            assert_eq!(payload["response"]["output"], Value::Array(done));
        }
    }
}
