//! Azure OpenAI: the OpenAI wire format with the deployment in the URL, an `api-version` query
//! and an `api-key` header. Without `api_version`, the v1 API (`{base_url}/chat/completions`,
//! the deployment as `model` in the body).

use std::sync::Arc;

use axum::http::{HeaderMap, HeaderName, HeaderValue};

use super::openai::{Endpoint, OpenAi};
use crate::config::ProviderConfig;
use crate::error::Error;
use crate::transport::Upstream;

pub fn codec(config: &ProviderConfig, upstream: Arc<Upstream>) -> Result<OpenAi, Error> {
    let mut headers = HeaderMap::new();
    for (name, value) in &config.headers {
        headers.insert(name.clone(), value.clone());
    }
    if let Some(key) = &config.api_key {
        let mut value = HeaderValue::from_str(key.expose()).map_err(|_| {
            Error::Internal(format!(
                "the API key of provider '{}' is not a valid header value",
                config.name
            ))
        })?;
        value.set_sensitive(true);
        headers.insert(HeaderName::from_static("api-key"), value);
    }
    let endpoint = match &config.api_version {
        Some(version) => Endpoint::AzureDeployment {
            base: config.base_url.clone(),
            api_version: version.clone(),
        },
        None => Endpoint::Fixed(format!("{}/chat/completions", config.base_url)),
    };
    Ok(OpenAi::with_endpoint(upstream, endpoint, headers))
}
