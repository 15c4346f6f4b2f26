//! Anthropic's Messages API (`POST {base_url}/v1/messages`) behind the OpenAI surface: the
//! request is translated (`request`, `messages`), answers and streams are translated back
//! (`response`, `stream`) with the mappings they share (`mapping`); the Messages surface's
//! requests go on untranslated (`relay`). This file is the glue: URL, headers, policy.

mod mapping;
mod messages;
mod relay;
mod request;
mod response;
mod stream;
mod types;

use std::sync::Arc;

use axum::http::{HeaderMap, HeaderName, HeaderValue};
use bytes::Bytes;

pub use relay::RelayState;
pub use stream::StreamState;

use super::auth::provider_headers;
use super::{Encoded, params};
use crate::completion::Whole;
use crate::config::{ProviderConfig, UnsupportedParams};
use crate::error::Error;
use crate::openai::request::ChatRequest;
use crate::transport::{self, Upstream, UpstreamRequest};
use request::{HONOURED, Settings, translate};

pub struct Anthropic {
    upstream: Arc<Upstream>,
    url: transport::Url,
    /// `/v1/messages/count_tokens`, for the Messages surface's counts.
    count_url: transport::Url,
    headers: HeaderMap,
    default_max_tokens: u64,
    policy: UnsupportedParams,
}

/// What decoding the answer needs to know about the request it answers.
#[derive(Debug, Clone, Default)]
pub struct Shape {
    /// The synthetic tool carrying a structured (`response_format`) answer.
    answer_tool: Option<String>,
}

impl Anthropic {
    pub fn new(
        config: &ProviderConfig,
        default_max_tokens: u64,
        upstream: Arc<Upstream>,
    ) -> Result<Self, Error> {
        let mut headers = HeaderMap::new();
        headers.insert(
            HeaderName::from_static("anthropic-version"),
            HeaderValue::from_static(types::API_VERSION),
        );
        // Configured headers come after the default version, so a config can pin another
        // version or add `anthropic-beta`.
        let headers = provider_headers(config, headers);
        Ok(Self {
            upstream,
            url: transport::parse_url(&format!("{}/v1/messages", config.base_url))?,
            count_url: transport::parse_url(&format!(
                "{}/v1/messages/count_tokens",
                config.base_url
            ))?,
            headers,
            default_max_tokens,
            policy: config.unsupported_params,
        })
    }

    pub fn upstream(&self) -> &Arc<Upstream> {
        &self.upstream
    }

    /// The Messages request for `request`, or a 400 for what Anthropic cannot honour.
    pub fn encode(&self, request: &ChatRequest, model: &str) -> Result<(Encoded, Shape), Error> {
        let provider = self.upstream.provider.as_str();
        params::bound_messages(request, provider, "anthropic")?;
        let mut dropped = params::screen(request, HONOURED, provider, "anthropic", self.policy)?;
        let params = request.params()?;
        let settings = Settings {
            provider,
            default_max_tokens: self.default_max_tokens,
            policy: self.policy,
        };
        let translation = translate(&params, model, request.stream, &settings)?;
        dropped.extend(translation.dropped);
        let body = params::serialize(&translation.request, request.len())
            .map_err(|e| Error::Internal(format!("cannot serialize an Anthropic request: {e}")))?;
        let shape = Shape {
            answer_tool: translation.answer_tool.map(str::to_owned),
        };
        let encoded = Encoded {
            request: UpstreamRequest {
                url: self.url.clone(),
                headers: self.headers.clone(),
                body: Bytes::from(body),
            },
            dropped,
        };
        Ok((encoded, shape))
    }

    /// A whole Messages answer as a `chat.completion` with `model` set to `served`.
    pub fn decode(&self, body: &[u8], served: &str, shape: &Shape) -> Result<Whole, Error> {
        response::decode(body, served, shape.answer_tool.as_deref(), &self.upstream)
    }

    pub fn stream_state(&self, served: &str, include_usage: bool, shape: &Shape) -> StreamState {
        StreamState::new(
            self.upstream.clone(),
            served,
            include_usage,
            shape.answer_tool.clone(),
        )
    }
}

#[cfg(test)]
mod tests;
