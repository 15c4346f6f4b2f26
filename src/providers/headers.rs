//! The headers every request to a provider carries: its configured extras, then its key in the
//! header that provider reads, marked sensitive so no debug output shows it.

use axum::http::{HeaderMap, HeaderName, HeaderValue, header};

use crate::config::ProviderConfig;
use crate::error::Error;

/// Where a provider reads its key.
pub enum KeyHeader {
    /// `Authorization: Bearer <key>` (OpenAI and the compatibles).
    Bearer,
    /// `<name>: <key>` (`x-api-key`, `x-goog-api-key`, Azure's `api-key`).
    Named(&'static str),
}

/// `defaults`, then the config's `headers` (which may override them), then the key.
pub fn provider_headers(
    config: &ProviderConfig,
    mut defaults: HeaderMap,
    key: KeyHeader,
) -> Result<HeaderMap, Error> {
    for (name, value) in &config.headers {
        defaults.insert(name.clone(), value.clone());
    }
    if let Some(secret) = &config.api_key {
        let (name, text) = match key {
            KeyHeader::Bearer => (header::AUTHORIZATION, format!("Bearer {}", secret.expose())),
            KeyHeader::Named(name) => (HeaderName::from_static(name), secret.expose().to_owned()),
        };
        // Validated at config load; this only guards a key set some other way.
        let mut value = HeaderValue::from_str(&text).map_err(|_| {
            Error::Internal(format!(
                "the API key of provider '{}' is not a valid header value",
                config.name
            ))
        })?;
        value.set_sensitive(true);
        defaults.insert(name, value);
    }
    Ok(defaults)
}
