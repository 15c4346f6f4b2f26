//! The client's request: `ChatRequest::parse` of any bytes; for a request that parses, its typed
//! params, the body forwarded to an OpenAI-compatible upstream (with and without the usage
//! option the gateway adds to count tokens), and the request every provider encodes from it.
//! What goes upstream must be valid JSON; a refusal must be a valid JSON error.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(mut request) =
        switchyard::openai::request::ChatRequest::parse(Bytes::copy_from_slice(data))
    else {
        return;
    };
    let _ = request.params();
    let _ = request.present_params();
    for count_usage in [false, true] {
        request.count_usage = count_usage;
        let body = request.body_with_model(harness::MODEL);
        let value = harness::parse_json(&body, "the forwarded body");
        assert!(value.is_object(), "the forwarded body is not an object");
        for fixture in harness::fixtures() {
            match fixture
                .provider
                .exchange(&request, harness::MODEL, &fixture.served)
            {
                Ok(Some(exchange)) => {
                    let body = &exchange.encoded.request.body;
                    let value = harness::parse_json(body, "an encoded request");
                    assert!(
                        value.is_object(),
                        "{} encoded a non-object: {value}",
                        fixture.name
                    );
                }
                Ok(None) => {}
                Err(error) => harness::check_error(fixture, error),
            }
        }
    }
});
