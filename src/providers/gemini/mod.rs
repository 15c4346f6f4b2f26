//! Google's Gemini API (generativelanguage): `models/{model}:generateContent`, and
//! `:streamGenerateContent?alt=sse` for streams, with the key in `x-goog-api-key`.

mod embed;
mod media;
mod request;
mod response;
mod schema;
mod signature;
mod stream;
mod types;

use std::sync::Arc;

use axum::http::{HeaderMap, StatusCode};
use bytes::Bytes;

pub use stream::StreamState;

use super::auth::provider_headers;
use super::{Encoded, params};
use crate::completion::Whole;
use crate::config::{ProviderConfig, UnsupportedParams};
use crate::error::Error;
use crate::openai::request::ChatRequest;
use crate::transport::{self, Upstream, UpstreamRequest};
use types::{ErrorBody, GenerateContentResponse};

pub struct Gemini {
    upstream: Arc<Upstream>,
    base_url: String,
    headers: HeaderMap,
    policy: UnsupportedParams,
}

impl Gemini {
    pub fn new(config: &ProviderConfig, upstream: Arc<Upstream>) -> Result<Self, Error> {
        // In a header, never in the URL (`?key=` works too, and ends up in every access log).
        let headers = provider_headers(config, HeaderMap::new());
        Ok(Self {
            upstream,
            base_url: config.base_url.clone(),
            headers,
            policy: config.unsupported_params,
        })
    }

    pub fn upstream(&self) -> &Arc<Upstream> {
        &self.upstream
    }

    pub fn encode(&self, request: &ChatRequest, model: &str) -> Result<Encoded, Error> {
        params::bound_messages(request, &self.upstream.provider, "gemini")?;
        let mut params = request.params()?;
        let dropped = params::screen(
            request,
            request::HONOURED,
            &self.upstream.provider,
            "gemini",
            self.policy,
        )?;
        let body = request::translate(&mut params)?;
        // The client's typed request is no longer needed: memory holds at most two forms of
        // the conversation at once.
        drop(params);
        let body = params::serialize(&body, request.len())
            .map_err(|e| Error::Internal(format!("cannot serialize a Gemini request: {e}")))?;
        Ok(Encoded {
            request: UpstreamRequest {
                url: self.url(model, request.stream)?,
                headers: self.headers.clone(),
                body: Bytes::from(body),
            },
            dropped,
        })
    }

    fn url(&self, model: &str, stream: bool) -> Result<transport::Url, Error> {
        let resource = self.resource(model)?;
        let method = if stream {
            "streamGenerateContent?alt=sse"
        } else {
            "generateContent"
        };
        transport::parse_url(&format!("{}/{resource}:{method}", self.base_url))
    }

    /// The model's resource name (`models/x`), for a name that cannot walk out of it.
    fn resource(&self, model: &str) -> Result<String, Error> {
        // The model goes into the path as it is: anything beyond a name would change the URL.
        let plain = !model.is_empty()
            && model
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-._/".contains(c))
            && model
                .split('/')
                .all(|segment| !matches!(segment, "" | "." | ".."));
        if !plain {
            return Err(Error::invalid(
                format!("{model:?} is not a Gemini model name (letters, digits, '-', '.', '_')."),
                Some("model"),
            ));
        }
        // `models/x` and `tunedModels/x` are already resource names.
        Ok(if model.contains('/') {
            model.to_owned()
        } else {
            format!("models/{model}")
        })
    }

    /// A whole answer as a `chat.completion` with `model` set to `served`.
    pub fn decode(&self, body: &[u8], served: &str) -> Result<Whole, Error> {
        let malformed = |what: String| Error::UpstreamFailed {
            provider: self.upstream.provider.clone(),
            detail: what,
        };
        let text = std::str::from_utf8(body)
            .map_err(|_| malformed("sent a response body that is not UTF-8".into()))?;
        let response: GenerateContentResponse = serde_json::from_str(text)
            .map_err(|e| malformed(format!("sent a response that is not a Gemini answer: {e}")))?;
        if let Some(error) = response.error.as_ref().filter(|e| !e.is_null()) {
            return Err(response::embedded_error(&self.upstream, text, error));
        }
        response::completion(&response, served)
            .ok_or_else(|| malformed("sent an answer without candidates".into()))?
            .whole()
    }

    pub fn stream_state(&self, served: &str, include_usage: bool) -> StreamState {
        StreamState::new(self.upstream.clone(), served, include_usage)
    }
}

/// Gemini answers a bad API key with 400 INVALID_ARGUMENT (reason `API_KEY_INVALID`); OpenAI
/// clients expect 401 for that, and must not retry or blame the request.
pub fn status_hook(status: StatusCode, body: &[u8]) -> Option<StatusCode> {
    if status != StatusCode::BAD_REQUEST {
        return None;
    }
    // Checked first: serde would also read `[{...}]` as a struct, field by position.
    let body = body.trim_ascii_start();
    let error = if body.starts_with(b"[") {
        serde_json::from_slice::<Vec<ErrorBody>>(body)
            .ok()?
            .into_iter()
            .next()?
    } else {
        serde_json::from_slice::<ErrorBody>(body).ok()?
    }
    .error?;
    error
        .details
        .iter()
        .any(|d| d.reason.as_deref() == Some("API_KEY_INVALID"))
        .then_some(StatusCode::UNAUTHORIZED)
}

#[cfg(test)]
mod tests;
