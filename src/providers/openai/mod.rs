//! Any OpenAI-compatible upstream. The request goes on byte for byte with only `model` replaced
//! (`encode`); answers (`decode`) and chunks (`stream.rs`) come back with `model` set to the
//! routing key that served and the fields a tidy OpenAI answer always has (one id per stream,
//! object, created) filled in where missing.

mod stream;
mod view;
use std::sync::Arc;

use axum::http::{HeaderMap, StatusCode, Uri};
use bytes::Bytes;
use serde_json::value::RawValue;

pub use stream::StreamState;

use super::auth::provider_headers;
use crate::completion::UsageWanted;
use crate::config::ProviderConfig;
use crate::error::Error;
use crate::openai::raw::{RawObject, is_empty_value, json_string};
use crate::openai::request::ChatRequest;
use crate::openai::response::{CHAT_COMPLETION, new_completion_id, unix_now};
use crate::transport::{self, Upstream, UpstreamRequest};

pub struct OpenAi {
    upstream: Arc<Upstream>,
    endpoint: Endpoint,
    headers: HeaderMap,
}

/// Where requests go.
pub enum Endpoint {
    /// `{base_url}/chat/completions`.
    Fixed(Uri),
    /// A URL made from the upstream model (Azure's deployments), which refuses a model that
    /// cannot be one.
    PerModel(UrlFor),
}

/// Makes the URL for an upstream model.
pub type UrlFor = Box<dyn Fn(&str) -> Result<Uri, Error> + Send + Sync>;

impl OpenAi {
    pub fn new(config: &ProviderConfig, upstream: Arc<Upstream>) -> Result<Self, Error> {
        let headers = provider_headers(config, HeaderMap::new());
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

    pub fn encode(
        &self,
        request: &ChatRequest,
        model: &str,
        usage: UsageWanted,
    ) -> Result<UpstreamRequest, Error> {
        let url = match &self.endpoint {
            Endpoint::Fixed(url) => url.clone(),
            Endpoint::PerModel(url_for) => url_for(model)?,
        };
        Ok(UpstreamRequest {
            url,
            headers: self.headers.clone(),
            body: request.body_with_model(model, usage),
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
        StreamState::new(self.upstream.clone(), served, strip_usage)
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

/// An error an upstream put inside a 200 body or a stream event.
pub(super) fn embedded_error(upstream: &Upstream, body: &str) -> Error {
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
pub(super) fn string_or(value: Option<&RawValue>, fresh: fn() -> String) -> String {
    match value.map(RawValue::get) {
        Some(raw) if raw.starts_with('"') && raw != "\"\"" => raw.to_owned(),
        _ => json_string(&fresh()),
    }
}

pub(super) fn number_or_now(value: Option<&RawValue>) -> String {
    match value.map(RawValue::get) {
        // Azure's first stream chunk says `"created":0`: as good as absent.
        Some(raw) if !raw.is_empty() && raw != "0" && raw.bytes().all(|b| b.is_ascii_digit()) => {
            raw.to_owned()
        }
        _ => unix_now().to_string(),
    }
}

#[cfg(test)]
mod tests;
