//! Azure OpenAI: the OpenAI wire format with the deployment in the URL, an `api-version` query
//! and an `api-key` header. Without `api_version`, the v1 API (`{base_url}/chat/completions`,
//! the deployment as `model` in the body).

use std::sync::Arc;

use axum::http::HeaderMap;

use super::headers::{KeyHeader, provider_headers};
use super::openai::{Endpoint, OpenAi};
use crate::config::ProviderConfig;
use crate::error::Error;
use crate::transport::{self, Upstream};

pub fn codec(
    config: &ProviderConfig,
    api_version: Option<&str>,
    upstream: Arc<Upstream>,
) -> Result<OpenAi, Error> {
    let headers = provider_headers(config, HeaderMap::new(), KeyHeader::Named("api-key"))?;
    let endpoint = match api_version {
        Some(version) => Endpoint::AzureDeployment {
            base: config.base_url.clone(),
            api_version: version.to_owned(),
        },
        None => Endpoint::Fixed(transport::parse_url(&format!(
            "{}/chat/completions",
            config.base_url
        ))?),
    };
    Ok(OpenAi::with_endpoint(upstream, endpoint, headers))
}
