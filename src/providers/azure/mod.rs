//! Azure OpenAI: the OpenAI wire format and codec, with the deployment in the URL, an
//! `api-version` query and an `api-key` header. Without `api_version`, the v1 API
//! (`{base_url}/chat/completions`, the deployment as `model` in the body).

use std::sync::Arc;

use axum::http::HeaderMap;

use super::auth::provider_headers;
use super::openai::{Endpoint, OpenAi};
use crate::config::ProviderConfig;
use crate::error::Error;
use crate::transport::{self, Upstream};

pub fn codec(
    config: &ProviderConfig,
    api_version: Option<&str>,
    upstream: Arc<Upstream>,
) -> Result<OpenAi, Error> {
    let headers = provider_headers(config, HeaderMap::new());
    let endpoint = match api_version {
        Some(version) => {
            let (base, version) = (config.base_url.clone(), version.to_owned());
            Endpoint::PerModel(Box::new(move |model: &str, path: &str| {
                deployment_url(&base, &version, model, path)
            }))
        }
        None => Endpoint::under(&config.base_url)?,
    };
    Ok(OpenAi::with_endpoint(upstream, endpoint, headers))
}

/// The classic URL: the model part of the routing key names the deployment.
fn deployment_url(
    base: &str,
    api_version: &str,
    deployment: &str,
    path: &str,
) -> Result<transport::Url, Error> {
    if !is_deployment_name(deployment) {
        return Err(Error::invalid(
            format!(
                "{deployment:?} is not an Azure deployment name (letters, digits, '-', '_', '.')."
            ),
            Some("model"),
        ));
    }
    transport::parse_url(&format!(
        "{base}/deployments/{deployment}/{path}?api-version={api_version}"
    ))
}

/// The deployment goes into the URL path as it is: only a plain name may, or a crafted one
/// (`../`, `?`, `#`) would send the request, and its key, somewhere else on the host.
fn is_deployment_name(name: &str) -> bool {
    !matches!(name, "" | "." | "..")
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
}
