//! The client's request: `ChatRequest::parse` of any bytes; for a request that parses, its typed
//! params, the body forwarded to an OpenAI-compatible upstream (with and without the usage
//! option the gateway adds to count tokens), and the request every provider encodes from it.
//! The forwarded body must be the client's, byte for byte, but `model` (and `stream_options`
//! when the gateway asks for usage); every encoded request valid JSON; a refusal a valid JSON
//! error.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Value};
use switchyard::completion::UsageWanted;
use switchyard::openai::request::ChatRequest;

fuzz_target!(|data: &[u8]| {
    let Ok(request) = ChatRequest::parse(Bytes::copy_from_slice(data)) else {
        return;
    };
    let _ = request.params();
    let _ = request.present_params();
    let sent = harness::fields(data, "a request that parsed");
    for count_usage in [false, true] {
        let usage = UsageWanted {
            by_client: request.include_usage,
            by_gateway: count_usage,
            // Counted by the metrics or not, a forwarded request is the same.
            by_metrics: true,
        };
        let body = request.body_with_model(harness::MODEL, usage);
        let forwarded = harness::fields(&body, "the forwarded body");
        let text = String::from_utf8_lossy(&body);
        assert_eq!(
            forwarded.get("model").map(|m| m.get()),
            Some("\"fuzz-model\""),
            "{text}"
        );
        let asks_usage = request.stream && count_usage && !request.include_usage;
        for (key, value) in &sent {
            if key == "model" || (key == "stream_options" && asks_usage) {
                continue;
            }
            assert_eq!(
                forwarded.get(key).map(|v| v.get()),
                Some(value.get()),
                "{key} changed: {text}"
            );
        }
        if asks_usage {
            let options = forwarded.get("stream_options").map(|o| o.get());
            let options: Map<String, Value> = serde_json::from_str(options.unwrap_or_default())
                .unwrap_or_else(|e| panic!("stream_options is not an object ({e}): {text}"));
            assert_eq!(
                options.get("include_usage"),
                Some(&Value::Bool(true)),
                "{text}"
            );
            // The client's own options are kept (when serde_json can read them as values).
            let client = sent.get("stream_options").map_or("null", |o| o.get());
            if let Ok(mut client) = serde_json::from_str::<Map<String, Value>>(client) {
                client.insert("include_usage".into(), Value::Bool(true));
                assert_eq!(options, client, "{text}");
            }
        }
        assert_eq!(
            forwarded.len(),
            sent.len() + usize::from(asks_usage && !sent.contains_key("stream_options")),
            "fields added or lost: {text}"
        );

        for fixture in harness::fixtures() {
            match fixture
                .provider
                .exchange(&request, usage, harness::MODEL, &fixture.served)
            {
                Ok(Some(exchange)) => {
                    harness::fields(&exchange.encoded.request.body, "an encoded request");
                }
                Ok(None) => {}
                Err(error) => harness::check_error(fixture, error),
            }
        }
    }
});
