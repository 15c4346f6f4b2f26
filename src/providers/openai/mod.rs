//! Any OpenAI-compatible upstream. The request goes on byte for byte with only `model` replaced
//! (`encode`); answers (`decode`) and chunks (`stream.rs`) come back with `model` set to the
//! routing key that served and the fields a tidy OpenAI answer always has (one id per stream,
//! object, created) filled in where missing.

mod response;
mod responses;
mod stream;
mod view;
use std::sync::Arc;

use axum::http::HeaderMap;

pub use responses::ResponsesState;
pub use stream::StreamState;

use super::auth::provider_headers;
use crate::completion::UsageWanted;
use crate::completion::Whole;
use crate::config::ProviderConfig;
use crate::error::Error;
use crate::openai::embeddings::EmbeddingsRequest;
use crate::openai::request::ChatRequest;
use crate::transport::{self, Upstream, UpstreamRequest, Url};

pub struct OpenAi {
    upstream: Arc<Upstream>,
    endpoint: Endpoint,
    headers: HeaderMap,
}

/// Where requests go.
pub enum Endpoint {
    /// Under `{base_url}`: the same URLs for every model.
    Fixed(Box<Urls>),
    /// A URL made from the upstream model and the operation's path (Azure's deployments),
    /// which refuses a model that cannot be one.
    PerModel(UrlFor),
}

/// `{base_url}/chat/completions`, `{base_url}/embeddings`, `{base_url}/responses`, parsed once.
pub struct Urls {
    chat: Url,
    embeddings: Url,
    responses: Url,
}

impl Endpoint {
    /// The operations' URLs under `base_url`.
    pub fn under(base_url: &str) -> Result<Self, Error> {
        Ok(Self::Fixed(Box::new(Urls {
            chat: transport::parse_url(&format!("{base_url}/{CHAT}"))?,
            embeddings: transport::parse_url(&format!("{base_url}/{EMBEDDINGS}"))?,
            responses: transport::parse_url(&format!("{base_url}/{RESPONSES}"))?,
        })))
    }

    fn url(&self, model: &str, path: &str) -> Result<Url, Error> {
        match self {
            Self::Fixed(urls) => Ok(match path {
                CHAT => urls.chat.clone(),
                RESPONSES => urls.responses.clone(),
                _ => urls.embeddings.clone(),
            }),
            Self::PerModel(url_for) => url_for(model, path),
        }
    }
}

/// The operations' paths under the base URL.
pub const CHAT: &str = "chat/completions";
pub const EMBEDDINGS: &str = "embeddings";
pub const RESPONSES: &str = "responses";

/// Makes the URL for an upstream model and an operation's path.
pub type UrlFor = Box<dyn Fn(&str, &str) -> Result<Url, Error> + Send + Sync>;

impl OpenAi {
    pub fn new(config: &ProviderConfig, upstream: Arc<Upstream>) -> Result<Self, Error> {
        let headers = provider_headers(config, HeaderMap::new());
        let endpoint = Endpoint::under(&config.base_url)?;
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
        Ok(UpstreamRequest {
            url: self.endpoint.url(model, CHAT)?,
            headers: self.headers.clone(),
            body: request.body_with_model(model, usage),
        })
    }

    /// An embeddings request, byte for byte but for `model`.
    pub fn embed(
        &self,
        request: &EmbeddingsRequest,
        model: &str,
    ) -> Result<UpstreamRequest, Error> {
        Ok(UpstreamRequest {
            url: self.endpoint.url(model, EMBEDDINGS)?,
            headers: self.headers.clone(),
            body: request.body_with_model(model),
        })
    }

    /// An embeddings answer with only `model` replaced by `served`, its usage read.
    pub fn embedded(&self, body: &[u8], served: &str) -> Result<Whole, Error> {
        response::embedded(&self.upstream, body, served)
    }

    /// A whole `chat.completion` from upstream, with `model` set to `served`.
    pub fn decode(&self, body: &[u8], served: &str) -> Result<Whole, Error> {
        response::decode(&self.upstream, body, served)
    }

    /// `strip_usage`: the gateway asked upstream for usage the client did not ask for; it is
    /// read from the chunks, and taken out of them.
    pub fn stream_state(&self, served: &str, strip_usage: bool) -> StreamState {
        StreamState::new(self.upstream.clone(), served, strip_usage)
    }
}

#[cfg(test)]
mod tests;
