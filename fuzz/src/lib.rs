//! What the fuzz targets share: one config with a provider of each kind, requests varied by a
//! flags byte, the two decoding paths driven as `stream::upstream` and `Exchange::send` drive
//! them (without a network), and the invariants every output must keep.
//!
//! A failed invariant is a panic, which libFuzzer reports as a crash with its input.
#![allow(clippy::panic, clippy::expect_used, clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::sync::LazyLock;

use bytes::Bytes;
use serde_json::{Value, json};
use switchyard::completion::Chunk;
use switchyard::config::Config;
use switchyard::error::Error;
use switchyard::openai::request::ChatRequest;
use switchyard::providers::{Flow, Provider};
use switchyard::stream::sse;
use switchyard::transport::Upstream;

/// One provider of each kind (Azure with a deployment API version), keys given inline. The
/// translating providers drop what they cannot honour, so more requests reach their encoders;
/// `*-strict` ones refuse it instead, for the request target.
const CONFIG: &str = r#"
[providers.oai]
kind = "openai"
base_url = "http://127.0.0.1:9/v1"
api_key = "sk-fuzz-openai-key-0123456789"

[providers.az]
kind = "azure"
base_url = "http://127.0.0.1:9/openai"
api_key = "azure-fuzz-key-0123456789"
api_version = "2024-10-21"

[providers.az-v1]
kind = "azure"
base_url = "http://127.0.0.1:9/openai/v1"
api_key = "azure-fuzz-key-0123456789"

[providers.claude]
kind = "anthropic"
base_url = "http://127.0.0.1:9"
api_key = "sk-ant-fuzz-key-0123456789"
unsupported_params = "drop"

[providers.claude-strict]
kind = "anthropic"
base_url = "http://127.0.0.1:9"
api_key = "sk-ant-fuzz-key-0123456789"

[providers.gem]
kind = "gemini"
base_url = "http://127.0.0.1:9/v1beta"
api_key = "AIzaFuzzKey0123456789"
unsupported_params = "drop"

[providers.gem-strict]
kind = "gemini"
base_url = "http://127.0.0.1:9/v1beta"
api_key = "AIzaFuzzKey0123456789"
"#;

/// The upstream model every call asks for (a valid Azure deployment name).
pub const MODEL: &str = "fuzz-model";

/// The largest upstream event in the stream targets (the gateway's default is 4 MiB; inputs are
/// far smaller, so this bound never cuts one short; the `sse` target fuzzes the bound itself).
pub const MAX_EVENT: usize = 1 << 20;

/// A configured provider, with what is needed to check its errors.
pub struct Fixture {
    pub name: &'static str,
    pub served: String,
    pub provider: Provider,
    /// The same secrets and bounds as the provider's own, to redact errors as the gateway does.
    pub upstream: Upstream,
    pub keys: Vec<String>,
}

static PROVIDERS: LazyLock<BTreeMap<&'static str, Fixture>> = LazyLock::new(|| {
    let config =
        Config::from_toml(CONFIG, None, &|_: &str| None).expect("the fuzz config is valid");
    [
        "oai",
        "az",
        "az-v1",
        "claude",
        "claude-strict",
        "gem",
        "gem-strict",
    ]
    .into_iter()
    .map(|name| {
        let provider_config = &config.providers[name];
        let fixture = Fixture {
            name,
            served: format!("{name}/{MODEL}"),
            provider: Provider::new(provider_config).expect("the fuzz providers build"),
            upstream: Upstream {
                provider: name.to_owned(),
                secrets: provider_config.api_keys.clone(),
                bounds: provider_config.bounds,
                status_hook: None,
            },
            keys: provider_config
                .api_keys
                .iter()
                .map(|key| key.expose().to_owned())
                .collect(),
        };
        (name, fixture)
    })
    .collect()
});

/// The provider configured as `name` (one of those in `CONFIG`).
pub fn fixture(name: &str) -> &'static Fixture {
    &PROVIDERS[name]
}

/// Every configured provider, for the request target.
pub fn fixtures() -> impl Iterator<Item = &'static Fixture> {
    PROVIDERS.values()
}

/// The decoder targets' inputs start with one byte of request flags; the seeds use printable
/// ones (`@` is none, `A` include_usage, `B` count_usage, `D` tools, `H` json_schema, `P`
/// json_object, and their sums), then a newline, which SSE reads as a blank line and a JSON
/// parser as whitespace.
pub fn split_flags(data: &[u8]) -> (u8, &[u8]) {
    match data.split_first() {
        Some((&flags, rest)) => (flags, rest),
        None => (0, data),
    }
}

pub const INCLUDE_USAGE: u8 = 1;
pub const COUNT_USAGE: u8 = 2;
pub const TOOLS: u8 = 4;
pub const JSON_SCHEMA: u8 = 8;
pub const JSON_OBJECT: u8 = 16;

/// A request shaped by `flags`: what the decoders read of it is whether it streams, whether
/// usage is wanted (by the client or by the gateway), and for Anthropic whether a structured
/// answer comes back as a synthetic tool (`weather_report` is the name the fixtures use).
pub fn request(flags: u8, stream: bool) -> ChatRequest {
    let mut body = json!({
        "model": format!("any/{MODEL}"),
        "messages": [{"role": "user", "content": "What is the weather in Paris?"}],
    });
    if stream {
        body["stream"] = json!(true);
    }
    if flags & INCLUDE_USAGE != 0 {
        body["stream_options"] = json!({"include_usage": true});
    }
    if flags & TOOLS != 0 {
        body["tools"] = json!([
            {"type": "function", "function": {"name": "get_weather", "description": "Weather",
             "parameters": {"type": "object", "properties": {"location": {"type": "string"}},
                            "required": ["location"]}}},
            {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object"}}}
        ]);
    }
    if flags & JSON_SCHEMA != 0 {
        body["response_format"] = json!({"type": "json_schema", "json_schema": {
            "name": "weather_report",
            "schema": {"type": "object", "properties": {"temperature": {"type": "number"}}}
        }});
    } else if flags & JSON_OBJECT != 0 {
        body["response_format"] = json!({"type": "json_object"});
    }
    let mut request =
        ChatRequest::parse(Bytes::from(body.to_string())).expect("the harness request parses");
    request.count_usage = flags & COUNT_USAGE != 0;
    request
}

/// Decodes `body` as a whole answer from `fixture`, as `Exchange::send` does.
pub fn whole(fixture: &Fixture, flags: u8, body: &[u8]) {
    let request = request(flags, false);
    let exchange = fixture
        .provider
        .exchange(&request, MODEL, &fixture.served)
        .expect("the harness request encodes")
        .expect("a provider with a wire");
    match exchange.decoders.whole(body) {
        Ok(answer) => check_answer(&answer, &fixture.served),
        Err(error) => check_error(fixture, error),
    }
}

/// Decodes `body` as an upstream SSE stream from `fixture`, as `stream::upstream::decode` does:
/// events one by one until the decoder says done or fails, then the end of the stream.
pub fn stream(fixture: &Fixture, flags: u8, body: &[u8]) {
    let request = request(flags, true);
    let exchange = fixture
        .provider
        .exchange(&request, MODEL, &fixture.served)
        .expect("the harness request encodes")
        .expect("a provider with a wire");
    let mut events = Vec::new();
    let fed = sse::Decoder::new(MAX_EVENT).feed(body, &mut events);
    assert!(
        fed.is_ok(),
        "no fuzz input holds an event of {MAX_EVENT} bytes"
    );

    let mut decoder = exchange.decoders.stream();
    let mut out = Vec::new();
    let mut flow = Ok(Flow::Continue);
    for event in &events {
        flow = decoder.map(event, &mut out);
        if !matches!(flow, Ok(Flow::Continue)) {
            break;
        }
    }
    if matches!(flow, Ok(Flow::Continue)) {
        flow = decoder.end(&mut out).map(|()| Flow::Done);
    }

    let mut id = None;
    for chunk in &out {
        check_chunk(chunk, &fixture.served, &mut id);
    }
    if let Err(error) = flow {
        check_error(fixture, error);
    }
}

/// `text` parsed as JSON, or a panic naming what it was.
pub fn parse_json(text: &[u8], what: &str) -> Value {
    serde_json::from_slice(text).unwrap_or_else(|e| {
        panic!(
            "{what} is not valid JSON ({e}): {}",
            String::from_utf8_lossy(text)
        )
    })
}

/// A whole answer: a `chat.completion` object reporting the key that served.
pub fn check_answer(answer: &[u8], served: &str) {
    let value = parse_json(answer, "a whole answer");
    assert!(
        value.is_object(),
        "a whole answer is not an object: {value}"
    );
    assert_eq!(value["object"], "chat.completion", "in {value}");
    assert_eq!(value["model"], served, "in {value}");
}

/// A chunk: a `chat.completion.chunk` object reporting the key that served, with one id for
/// the whole stream.
pub fn check_chunk(chunk: &Chunk, served: &str, stream_id: &mut Option<Value>) {
    let value = parse_json(chunk.json.as_bytes(), "a chunk");
    assert!(value.is_object(), "a chunk is not an object: {value}");
    assert_eq!(value["object"], "chat.completion.chunk", "in {value}");
    assert_eq!(value["model"], served, "in {value}");
    let id = &value["id"];
    assert!(id.is_string(), "a chunk without a string id: {value}");
    let first = stream_id.get_or_insert_with(|| id.clone());
    assert_eq!(first, id, "a stream's chunks carry one id: {value}");
}

/// An error, as the gateway would render it once redacted: valid JSON, without the key.
pub fn check_error(fixture: &Fixture, error: Error) {
    let error = fixture.upstream.redact_error(error);
    let json = error.to_json();
    parse_json(json.as_bytes(), "an error");
    for key in &fixture.keys {
        assert!(
            !json.contains(key.as_str()),
            "an error shows the key: {json}"
        );
    }
}
