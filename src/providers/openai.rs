//! Any OpenAI-compatible upstream. The request goes on byte for byte with only `model` replaced;
//! responses and chunks come back with `model` set to the key that served and the fields a tidy
//! OpenAI answer always has (one id per stream, object, created) filled in where missing.

use std::collections::BTreeSet;
use std::sync::Arc;

use crate::stream::sse::Event;
use axum::http::{HeaderMap, StatusCode};
use bytes::Bytes;
use serde_json::value::RawValue;

use super::Flow;
use super::headers::{KeyHeader, provider_headers};
use crate::completion::Chunk;
use crate::config::ProviderConfig;
use crate::error::Error;
use crate::openai::raw::{RawObject, is_empty_value, json_string};
use crate::openai::request::ChatRequest;
use crate::openai::response::{
    CHAT_COMPLETION, CHAT_COMPLETION_CHUNK, new_completion_id, unix_now,
};
use crate::transport::{self, Upstream, UpstreamRequest};

pub struct OpenAi {
    upstream: Arc<Upstream>,
    endpoint: Endpoint,
    headers: HeaderMap,
}

/// Where requests go.
pub enum Endpoint {
    /// `{base_url}/chat/completions`.
    Fixed(axum::http::Uri),
    /// Azure's classic form: the model part of the key names the deployment.
    AzureDeployment { base: String, api_version: String },
}

impl OpenAi {
    pub fn new(config: &ProviderConfig, upstream: Arc<Upstream>) -> Result<Self, Error> {
        let headers = provider_headers(config, HeaderMap::new(), KeyHeader::Bearer)?;
        let endpoint = Endpoint::Fixed(transport::parse_url(&format!(
            "{}/chat/completions",
            config.base_url
        ))?);
        Ok(Self::with_endpoint(upstream, endpoint, headers))
    }

    pub fn with_endpoint(upstream: Arc<Upstream>, endpoint: Endpoint, headers: HeaderMap) -> Self {
        Self {
            upstream,
            endpoint,
            headers,
        }
    }

    pub fn upstream(&self) -> &Arc<Upstream> {
        &self.upstream
    }

    pub fn encode(&self, request: &ChatRequest, model: &str) -> Result<UpstreamRequest, Error> {
        let url = match &self.endpoint {
            Endpoint::Fixed(url) => url.clone(),
            Endpoint::AzureDeployment { base, api_version } => {
                if !is_deployment_name(model) {
                    return Err(Error::invalid(
                        format!(
                            "{model:?} is not an Azure deployment name (letters, digits, '-', '_', '.')."
                        ),
                        Some("model"),
                    ));
                }
                transport::parse_url(&format!(
                    "{base}/deployments/{model}/chat/completions?api-version={api_version}"
                ))?
            }
        };
        Ok(UpstreamRequest {
            url,
            headers: self.headers.clone(),
            body: request.body_with_model(model),
        })
    }

    /// A whole `chat.completion` from upstream, with `model` set to `served`.
    pub fn decode(&self, body: &[u8], served: &str) -> Result<Bytes, Error> {
        let text = std::str::from_utf8(body)
            .map_err(|_| self.malformed("a response body that is not UTF-8"))?
            .trim_start();
        if let Some(json) = view::read::<view::AnswerView<'_>>(text)
            .and_then(|answer| splice_answer(text, &answer, served))
        {
            return Ok(Bytes::from(json));
        }
        let object = RawObject::parse(text)
            .map_err(|_| self.malformed("a response body that is not a JSON object"))?;
        if object.get("error").is_some_and(|e| !is_empty_value(e)) {
            return Err(self.embedded_error(text));
        }
        let id = string_or(object.get("id"), new_completion_id);
        let created = number_or_now(object.get("created"));
        let served = json_string(served);
        let object_type = json_string(CHAT_COMPLETION);
        let mut out = String::with_capacity(text.len() + 64);
        object.write_with_head(
            &[
                ("id", &id),
                ("object", &object_type),
                ("created", &created),
                ("model", &served),
            ],
            &[],
            &mut out,
        );
        Ok(Bytes::from(out))
    }

    /// `strip_usage`: the gateway asked upstream for usage the client did not ask for; it is
    /// read from the chunks, and taken out of them.
    pub fn stream_state(&self, served: &str, strip_usage: bool) -> StreamState {
        StreamState {
            upstream: self.upstream.clone(),
            served: json_string(served),
            id: None,
            created: None,
            choices: ChoiceProgress::default(),
            strip_usage,
        }
    }

    fn malformed(&self, what: &str) -> Error {
        Error::UpstreamFailed {
            provider: self.upstream.provider.to_string(),
            detail: format!("sent {what}"),
        }
    }

    fn embedded_error(&self, body: &str) -> Error {
        embedded_error(&self.upstream, body)
    }
}

/// Decodes one OpenAI-format SSE stream into normalized chunks.
pub struct StreamState {
    upstream: Arc<Upstream>,
    /// The served key, as a JSON string literal.
    served: String,
    id: Option<String>,
    created: Option<String>,
    /// Which choices have finished: once all that appeared have, an end without `[DONE]` is
    /// still a clean end.
    choices: ChoiceProgress,
    strip_usage: bool,
}

/// The choice indexes seen in a stream, and which of them reported a finish_reason.
#[derive(Debug, Default)]
pub struct ChoiceProgress {
    // Sets: an upstream numbering every chunk's choice anew costs a lookup each, not a scan
    // (found by fuzzing: quadratic in the stream's length).
    open: BTreeSet<u64>,
    finished: BTreeSet<u64>,
}

impl ChoiceProgress {
    fn see(&mut self, index: u64, finish: bool) {
        if finish {
            self.open.remove(&index);
            self.finished.insert(index);
        } else if !self.finished.contains(&index) {
            self.open.insert(index);
        }
    }

    fn all_finished(&self) -> bool {
        self.open.is_empty() && !self.finished.is_empty()
    }
}

impl StreamState {
    pub fn map(&mut self, event: &Event, out: &mut Vec<Chunk>) -> Result<Flow, Error> {
        let Some(data) = event.data.as_deref().map(str::trim) else {
            return Ok(Flow::Continue);
        };
        if data.is_empty() {
            return Ok(Flow::Continue);
        }
        if data == "[DONE]" {
            return Ok(Flow::Done);
        }
        if event.event.as_deref() != Some("error")
            && let Some(chunk) = view::read::<view::ChunkView<'_>>(data)
            && let Some(chunk) = self.splice(data, &chunk)
        {
            out.push(chunk);
            return Ok(Flow::Continue);
        }
        let object = RawObject::parse(data).map_err(|_| Error::UpstreamFailed {
            provider: self.upstream.provider.to_string(),
            detail: format!(
                "sent a stream event that is not a JSON object: {}",
                self.upstream.quote(data)
            ),
        })?;
        let is_error = event.event.as_deref() == Some("error")
            || object.get("error").is_some_and(|e| !is_empty_value(e))
            || object.get("object").map(RawValue::get) == Some("\"error\"");
        if is_error {
            return Err(embedded_error(&self.upstream, data));
        }

        let id = self
            .id
            .get_or_insert_with(|| string_or(object.get("id"), new_completion_id));
        let created = self
            .created
            .get_or_insert_with(|| number_or_now(object.get("created")));
        let choices = object.get("choices");
        let (output, finish) =
            choices.map_or((false, false), |c| inspect_choices(c, &mut self.choices));
        // Strict clients accumulate a stream by choice `index`: one the upstream left out is
        // written in (the seed's own ARK example ends with such a chunk).
        let indexed = choices.and_then(|c| with_indexes(c.get()));

        let object_type = "\"chat.completion.chunk\"";
        debug_assert_eq!(object_type, json_string(CHAT_COMPLETION_CHUNK));
        let mut head = [
            ("id", id.as_str()),
            ("object", object_type),
            ("created", created.as_str()),
            ("model", self.served.as_str()),
            ("choices", indexed.as_deref().unwrap_or("[]")),
        ];
        let head = if choices.is_some() && indexed.is_none() {
            &head[..4]
        } else {
            &mut head[..]
        };
        let mut json = String::with_capacity(data.len() + 48);
        let skip: &[&str] = if self.strip_usage { &["usage"] } else { &[] };
        object.write_with_head(head, skip, &mut json);
        let usage = object.get("usage").and_then(total_tokens);
        let usage_only = usage.is_some() && choices.is_none_or(|c| c.get().trim() == "[]");
        out.push(Chunk {
            json,
            output: output || finish,
            usage,
            usage_only,
        });
        Ok(Flow::Continue)
    }

    /// The common chunk, which already carries the stream's id and created time, with only
    /// `model` replaced; `None` leaves it to the general path.
    fn splice(&mut self, data: &str, chunk: &view::ChunkView<'_>) -> Option<Chunk> {
        if chunk.error.is_some_and(|e| !is_empty_value(e))
            || chunk.object.map(RawValue::get) != Some("\"chat.completion.chunk\"")
            // `"usage": null` reads as no usage here, yet must go too; so must a key spelled
            // with escapes (`"\u0075sage"`, found by fuzzing), which the view reads as usage.
            || (self.strip_usage && (data.contains("\"usage\"") || data.contains("\\u")))
        {
            return None;
        }
        let (id, created, model) = (chunk.id?, chunk.created?, chunk.model?);
        let choices = chunk.choices.as_ref()?;
        if choices.iter().any(|choice| choice.index.is_none()) {
            return None;
        }
        let stream_id = self
            .id
            .get_or_insert_with(|| string_or(Some(id), new_completion_id));
        let stream_created = self
            .created
            .get_or_insert_with(|| number_or_now(Some(created)));
        if id.get() != stream_id || created.get() != stream_created {
            return None;
        }
        let json = view::splice(data, model, &self.served)?;
        let mut output = false;
        for choice in choices {
            let finished = choice.finished();
            self.choices.see(choice.index.unwrap_or(0), finished);
            output |= finished || choice.delta.as_ref().is_some_and(|d| d.0);
        }
        let usage = chunk.usage.and_then(total_tokens);
        Some(Chunk {
            json,
            output,
            usage,
            usage_only: usage.is_some() && choices.is_empty(),
        })
    }

    /// The upstream closed the stream without `[DONE]`.
    pub fn end(&mut self) -> Result<(), Error> {
        if self.choices.all_finished() {
            Ok(())
        } else {
            Err(Error::UpstreamFailed {
                provider: self.upstream.provider.to_string(),
                detail:
                    "the stream ended before the answer was complete (no finish_reason, no [DONE])"
                        .into(),
            })
        }
    }
}

/// A whole answer that already has its id, object and created time, with only `model`
/// replaced; `None` leaves it to the general path.
fn splice_answer(text: &str, answer: &view::AnswerView<'_>, served: &str) -> Option<String> {
    let id = answer.id?.get();
    let created = answer.created?.get();
    let usable = answer.error.is_none_or(is_empty_value)
        && answer.object.map(RawValue::get) == Some("\"chat.completion\"")
        && id.starts_with('"')
        && id != "\"\""
        && created != "0"
        && !created.is_empty()
        && created.bytes().all(|b| b.is_ascii_digit());
    if !usable {
        return None;
    }
    view::splice(text, answer.model?, &json_string(served))
}

/// The deployment goes into the URL path as it is: only a plain name may, or a crafted one
/// (`../`, `?`, `#`) would send the request, and its key, somewhere else on the host.
fn is_deployment_name(name: &str) -> bool {
    !matches!(name, "" | "." | "..")
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
}

/// `total_tokens` (or prompt + completion) of a raw `usage` object.
pub fn total_tokens(usage: &RawValue) -> Option<u64> {
    #[derive(serde::Deserialize)]
    struct Counts {
        total_tokens: Option<u64>,
        prompt_tokens: Option<u64>,
        completion_tokens: Option<u64>,
    }
    let counts: Counts = serde_json::from_str(usage.get()).ok()?;
    counts
        .total_tokens
        .or_else(|| Some(counts.prompt_tokens? + counts.completion_tokens.unwrap_or(0)))
}

/// (has real output, has a finish_reason) over a raw `choices` array; records each choice's
/// progress.
fn inspect_choices(choices: &RawValue, progress: &mut ChoiceProgress) -> (bool, bool) {
    let Ok(choices) = serde_json::from_str::<Vec<RawObject<'_>>>(choices.get()) else {
        return (false, false);
    };
    let mut output = false;
    let mut finish = false;
    for (position, choice) in choices.iter().enumerate() {
        let finished = choice
            .get("finish_reason")
            .is_some_and(|f| !is_empty_value(f));
        let index = choice
            .get("index")
            .and_then(|i| i.get().parse::<u64>().ok())
            .unwrap_or(position as u64);
        progress.see(index, finished);
        finish |= finished;
        let delta = choice
            .get("delta")
            .and_then(|d| RawObject::parse(d.get()).ok());
        output |= delta.is_some_and(|d| {
            d.fields()
                .any(|(key, value)| key != "role" && !is_empty_value(value))
        });
    }
    (output, finish)
}

/// The raw `choices` array with `"index"` written into every choice that has none (its place
/// in the array: 0 for the usual single choice); `None` when every choice has one already.
fn with_indexes(choices: &str) -> Option<String> {
    let parsed = serde_json::from_str::<Vec<RawObject<'_>>>(choices).ok()?;
    if parsed.iter().all(|choice| choice.get("index").is_some()) {
        return None;
    }
    let mut out = String::with_capacity(choices.len() + 12 * parsed.len());
    out.push('[');
    for (position, choice) in parsed.iter().enumerate() {
        if position > 0 {
            out.push(',');
        }
        match choice.get("index") {
            Some(_) => choice.write_with_head(&[], &[], &mut out),
            None => choice.write_with_head(&[("index", &position.to_string())], &[], &mut out),
        }
    }
    out.push(']');
    Some(out)
}

/// An error an upstream put inside a 200 body or a stream event.
fn embedded_error(upstream: &Upstream, body: &str) -> Error {
    let code = serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| {
            v.get("error")
                .and_then(|e| e.get("code"))
                .or(v.get("code"))
                .and_then(serde_json::Value::as_u64)
        });
    let status = code
        .and_then(|c| u16::try_from(c).ok())
        .and_then(|c| StatusCode::from_u16(c).ok())
        .filter(|s| s.is_client_error() || s.is_server_error())
        .unwrap_or(StatusCode::BAD_GATEWAY);
    transport::status_error(upstream, status, &HeaderMap::new(), body.as_bytes())
}

/// The raw JSON of a non-empty string value, or a fresh one.
fn string_or(value: Option<&RawValue>, fresh: fn() -> String) -> String {
    match value.map(RawValue::get) {
        Some(raw) if raw.starts_with('"') && raw != "\"\"" => raw.to_owned(),
        _ => json_string(&fresh()),
    }
}

fn number_or_now(value: Option<&RawValue>) -> String {
    match value.map(RawValue::get) {
        // Azure's first stream chunk says `"created":0`: as good as absent.
        Some(raw) if !raw.is_empty() && raw != "0" && raw.bytes().all(|b| b.is_ascii_digit()) => {
            raw.to_owned()
        }
        _ => unix_now().to_string(),
    }
}

mod view;

#[cfg(test)]
mod tests;
