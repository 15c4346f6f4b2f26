//! What the fuzz targets share: one config with a provider of each kind, requests varied by a
//! flags byte, the two decoding paths driven as `providers::framing` and `Exchange::send` drive
//! them (without a network), and the invariants every output must keep.
//!
//! A failed invariant is a panic, which libFuzzer reports as a crash with its input.

use std::collections::{BTreeMap, HashMap};
use std::sync::LazyLock;

use bytes::Bytes;
use serde::de::IgnoredAny;
use serde_json::json;
use serde_json::value::RawValue;
use switchyard::completion::{Chunk, UsageWanted};
use switchyard::config::{Config, ProviderKind};
use switchyard::error::Error;
use switchyard::openai::request::ChatRequest;
use switchyard::providers::Provider;
use switchyard::providers::framing::sse;
use switchyard::providers::framing::{EventDecoder, Flow};
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
    /// An OpenAI-compatible wire: answers relayed as they came, but for a few fields.
    pub relays: bool,
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
            relays: matches!(
                provider_config.kind,
                ProviderKind::Openai | ProviderKind::Azure { .. }
            ),
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
pub const METRICS: u8 = 32;

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
    ChatRequest::parse(Bytes::from(body.to_string())).expect("the harness request parses")
}

/// Who wants usage, as the pipeline decides it for a request shaped by `flags`.
pub fn usage(flags: u8) -> UsageWanted {
    UsageWanted {
        by_client: flags & INCLUDE_USAGE != 0,
        by_gateway: flags & COUNT_USAGE != 0,
        by_metrics: flags & METRICS != 0,
    }
}

/// Decodes `body` as a whole answer from `fixture`, as `Exchange::send` does.
pub fn whole(fixture: &Fixture, flags: u8, body: &[u8]) {
    let request = request(flags, false);
    let exchange = fixture
        .provider
        .exchange(&request, usage(flags), MODEL, &fixture.served)
        .expect("the harness request encodes")
        .expect("a provider with a wire");
    match exchange.decoders.whole(body) {
        Ok(answer) => {
            let fields = check_answer(&answer.json, &fixture.served);
            if fixture.relays {
                let head = ["id", "object", "created", "model"];
                check_relayed(body, &fields, &head, &[], Relayed::Answer);
            }
        }
        Err(error) => check_error(fixture, error),
    }
}

/// Decodes `body` as an upstream SSE stream from `fixture`, as `providers::framing::decode` does:
/// events one by one until the decoder says done or fails, then the end of the stream.
pub fn stream(fixture: &Fixture, flags: u8, body: &[u8]) {
    let request = request(flags, true);
    let exchange = fixture
        .provider
        .exchange(&request, usage(flags), MODEL, &fixture.served)
        .expect("the harness request encodes")
        .expect("a provider with a wire");
    let mut events = Vec::new();
    let fed = sse::Decoder::new(MAX_EVENT).feed(body, &mut events);
    assert!(
        fed.is_ok(),
        "no fuzz input holds an event of {MAX_EVENT} bytes"
    );
    // What the OpenAI decoder takes out of each chunk: the usage the gateway asked for itself.
    let stripped: &[&str] = if usage(flags).strip_from_chunks() {
        &["usage"]
    } else {
        &[]
    };

    let mut decoder = exchange.decoders.stream();
    let mut out = Vec::new();
    let mut flow = Ok(Flow::Continue);
    let mut id = None;
    for event in &events {
        flow = decoder.map(event, &mut out);
        for chunk in &out {
            let fields = check_chunk(chunk, &fixture.served, &mut id);
            if fixture.relays {
                // One chunk per event, that event's object with the head fields set.
                let data = event.data.as_deref().unwrap_or_default();
                let head = ["id", "object", "created", "model", "choices"];
                check_relayed(
                    data.as_bytes(),
                    &fields,
                    &head[..4],
                    stripped,
                    Relayed::Chunk,
                );
            }
        }
        out.clear();
        if !matches!(flow, Ok(Flow::Continue)) {
            break;
        }
    }
    if matches!(flow, Ok(Flow::Continue)) {
        flow = decoder.end(&mut out).map(|()| Flow::Done);
    }
    for chunk in &out {
        check_chunk(chunk, &fixture.served, &mut id);
    }
    if let Err(error) = flow {
        check_error(fixture, error);
    }
}

/// What `check_relayed` checks: a whole answer, or a chunk (whose choices all get an index,
/// which strict clients accumulate a stream by).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Relayed {
    Answer,
    Chunk,
}

/// The choices of a raw `choices` array, each as its sorted fields, with `"index"` set to its
/// place where it had none; `None` when every choice had one (or it is not an array of objects,
/// which the gateway relays as it came).
fn with_indexes(choices: &str) -> Option<Vec<Vec<(String, String)>>> {
    let parsed: Vec<HashMap<String, &RawValue>> = serde_json::from_str(choices).ok()?;
    if parsed.iter().all(|choice| choice.contains_key("index")) {
        return None;
    }
    Some(
        parsed
            .iter()
            .enumerate()
            .map(|(place, choice)| {
                let mut fields: Vec<_> = choice
                    .iter()
                    .map(|(k, v)| (k.clone(), v.get().to_owned()))
                    .collect();
                if !choice.contains_key("index") {
                    fields.push(("index".to_owned(), place.to_string()));
                }
                fields.sort();
                fields
            })
            .collect(),
    )
}

/// Panics unless `text` is valid JSON by the grammar. (Not by `serde_json::Value`, which also
/// refuses numbers beyond `f64`: valid JSON, which the gateway relays as it came.)
pub fn check_json(text: &[u8], what: &str) {
    if let Err(e) = serde_json::from_slice::<IgnoredAny>(text) {
        panic!(
            "{what} is not valid JSON ({e}): {}",
            String::from_utf8_lossy(text)
        );
    }
}

/// The top-level fields of a JSON object, each value as its raw text; a key that repeats has
/// its last value, as JSON parsers read it. Panics unless `text` is one valid JSON object.
pub fn fields<'a>(text: &'a [u8], what: &str) -> HashMap<String, &'a RawValue> {
    check_json(text, what);
    let text = std::str::from_utf8(text)
        .unwrap_or_else(|e| panic!("{what} is not UTF-8 ({e}): {:?}", text));
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{what} is not an object ({e}): {text}"))
}

/// The string a raw JSON value holds, if it is a string.
fn string(value: Option<&&RawValue>) -> Option<String> {
    serde_json::from_str(value?.get()).ok()
}

/// A whole answer: a `chat.completion` object reporting the key that served.
pub fn check_answer<'a>(answer: &'a [u8], served: &str) -> HashMap<String, &'a RawValue> {
    let fields = fields(answer, "a whole answer");
    let text = String::from_utf8_lossy(answer);
    assert_eq!(
        string(fields.get("object")).as_deref(),
        Some("chat.completion"),
        "in {text}"
    );
    assert_eq!(
        string(fields.get("model")).as_deref(),
        Some(served),
        "in {text}"
    );
    fields
}

/// A chunk: a `chat.completion.chunk` object reporting the key that served, with one id for
/// the whole stream.
pub fn check_chunk<'a>(
    chunk: &'a Chunk,
    served: &str,
    stream_id: &mut Option<String>,
) -> HashMap<String, &'a RawValue> {
    let text = &chunk.json;
    let fields = fields(text.as_bytes(), "a chunk");
    assert_eq!(
        string(fields.get("object")).as_deref(),
        Some("chat.completion.chunk"),
        "in {text}"
    );
    assert_eq!(
        string(fields.get("model")).as_deref(),
        Some(served),
        "in {text}"
    );
    let id = string(fields.get("id")).unwrap_or_else(|| panic!("a chunk without an id: {text}"));
    let first = stream_id.get_or_insert_with(|| id.clone());
    assert_eq!(*first, id, "a stream's chunks carry one id: {text}");
    fields
}

/// What an OpenAI-compatible upstream sent, as the gateway relays it: the same object, every
/// field the same bytes, but the `head` fields it sets (`created` a number, `id` a string), the
/// `stripped` ones gone, `choices` added (empty) to a chunk that had none, and an `index` (its
/// place) written into every choice of a chunk that had none.
pub fn check_relayed(
    upstream: &[u8],
    relayed: &HashMap<String, &RawValue>,
    head: &[&str],
    stripped: &[&str],
    what: Relayed,
) {
    let text = String::from_utf8_lossy(upstream);
    let sent: HashMap<String, &RawValue> = serde_json::from_str(text.trim())
        .unwrap_or_else(|e| panic!("relayed what is not a JSON object ({e}): {text}"));
    let shown = |fields: &HashMap<String, &RawValue>| {
        let mut kept: Vec<(String, String)> = fields
            .iter()
            .filter(|(key, _)| !head.contains(&key.as_str()) && !stripped.contains(&key.as_str()))
            .map(|(key, value)| (key.clone(), value.get().to_owned()))
            .collect();
        kept.sort();
        kept
    };
    let mut expected = shown(&sent);
    if let (Relayed::Chunk, Some(sent_choices), Some(relayed_choices)) =
        (what, sent.get("choices"), relayed.get("choices"))
        && let Some(indexed) = with_indexes(sent_choices.get())
    {
        let relayed_choices: Vec<HashMap<String, &RawValue>> =
            serde_json::from_str(relayed_choices.get())
                .unwrap_or_else(|e| panic!("relayed choices are not objects ({e}): {text}"));
        let as_text = |choices: &[HashMap<String, &RawValue>]| -> Vec<Vec<(String, String)>> {
            choices
                .iter()
                .map(|choice| {
                    let mut fields: Vec<_> = choice
                        .iter()
                        .map(|(k, v)| (k.clone(), v.get().to_owned()))
                        .collect();
                    fields.sort();
                    fields
                })
                .collect()
        };
        assert_eq!(
            as_text(&relayed_choices),
            indexed,
            "choices relayed otherwise than sent with their indexes: {text}"
        );
        let choices = |(key, _): &(String, String)| key != "choices";
        expected.retain(choices);
        let got: Vec<_> = shown(relayed).into_iter().filter(choices).collect();
        assert_eq!(got, expected, "relayed otherwise than sent: {text}");
        return;
    }
    if !sent.contains_key("choices") && relayed.get("choices").is_some_and(|c| c.get() == "[]") {
        expected.push(("choices".to_owned(), "[]".to_owned()));
        expected.sort();
    }
    let got = shown(relayed);
    assert_eq!(got, expected, "relayed otherwise than sent: {text}");
    for key in stripped {
        assert!(!relayed.contains_key(*key), "{key} not taken out of {text}");
    }
    let created = relayed.get("created").map_or("", |c| c.get());
    assert!(
        !created.is_empty() && created.bytes().all(|b| b.is_ascii_digit()),
        "created is not a number: {created}"
    );
}

/// An error, as the gateway would render it once redacted: valid JSON, without the key.
pub fn check_error(fixture: &Fixture, error: Error) {
    let error = fixture.upstream.redact_error(error);
    let json = switchyard::openai::error::to_json(&error);
    check_json(json.as_bytes(), "an error");
    for key in &fixture.keys {
        assert!(
            !json.contains(key.as_str()),
            "an error shows the key: {json}"
        );
    }
}

/// A translated surface's request as chat, as its translation wrote it: a refusal is a 400; a
/// body is a JSON object, and once the gateway parses it, encoded by every provider or refused
/// with a JSON error that shows no key.
pub fn check_translated(translated: Result<Vec<u8>, Error>) {
    let body = match translated {
        Ok(body) => body,
        Err(error) => {
            assert!(
                matches!(error, Error::InvalidRequest { .. }),
                "a refusal that is not a 400: {error}"
            );
            return;
        }
    };
    fields(&body, "a translated request");
    let Ok(chat) = ChatRequest::parse(body.into()) else {
        return;
    };
    for fixture in fixtures() {
        match fixture
            .provider
            .exchange(&chat, UsageWanted::default(), MODEL, &fixture.served)
        {
            Ok(Some(exchange)) => {
                fields(&exchange.encoded.request.body, "an encoded request");
            }
            Ok(None) => {}
            Err(error) => check_error(fixture, error),
        }
    }
}

/// `data`, line by line, as the chat chunks a codec hands on (with the finish label it puts on
/// a chunk), for the translating surfaces' stream targets.
pub fn chat_chunks(data: &[u8]) -> impl Iterator<Item = Chunk> + '_ {
    data.split(|byte| *byte == b'\n').filter_map(|line| {
        let json = std::str::from_utf8(line).ok()?;
        let finish = serde_json::from_str::<serde_json::Value>(json)
            .ok()
            .and_then(|chunk| {
                switchyard::openai::response::finish_label(
                    &chunk.pointer("/choices/0/finish_reason")?.to_string(),
                )
            });
        Some(Chunk {
            json: json.to_owned(),
            output: true,
            usage: None,
            usage_only: false,
            finish,
            model: None,
            event: None,
        })
    })
}
