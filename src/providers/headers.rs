//! The headers every request to a provider carries: its configured extras, then its key in the
//! header that provider reads, marked sensitive so no debug output shows it.

use std::sync::atomic::{AtomicUsize, Ordering};

use axum::http::{HeaderMap, HeaderName, HeaderValue, header};

use crate::config::ProviderConfig;
use crate::error::Error;

/// Where a provider reads its key.
#[derive(Clone, Copy)]
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
    if let Some(secret) = config.api_key() {
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

/// A provider's keys, as ready header values, with a rotating first choice so that several
/// keys share the load.
pub struct KeyRing {
    name: HeaderName,
    values: Vec<HeaderValue>,
    next: AtomicUsize,
}

impl KeyRing {
    pub fn new(config: &ProviderConfig, key: KeyHeader) -> Result<Self, Error> {
        let name = match key {
            KeyHeader::Bearer => header::AUTHORIZATION,
            KeyHeader::Named(name) => HeaderName::from_static(name),
        };
        let values = config
            .api_keys
            .iter()
            .map(|secret| {
                let text = match key {
                    KeyHeader::Bearer => format!("Bearer {}", secret.expose()),
                    KeyHeader::Named(_) => secret.expose().to_owned(),
                };
                let mut value = HeaderValue::from_str(&text).map_err(|_| {
                    Error::Internal(format!(
                        "a key of provider '{}' is not a valid header value",
                        config.name
                    ))
                })?;
                value.set_sensitive(true);
                Ok(value)
            })
            .collect::<Result<_, Error>>()?;
        Ok(Self {
            name,
            values,
            next: AtomicUsize::new(0),
        })
    }

    pub fn len(&self) -> usize {
        self.values.len()
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// Every key index, starting one further round each call.
    pub fn rotation(&self) -> Vec<usize> {
        let n = self.values.len();
        if n < 2 {
            return (0..n.max(1)).collect();
        }
        let start = self.next.fetch_add(1, Ordering::Relaxed) % n;
        (0..n).map(|i| (start + i) % n).collect()
    }

    /// The header that sends key `index`; `None` for a provider without keys.
    pub fn header(&self, index: usize) -> Option<(HeaderName, HeaderValue)> {
        self.values
            .get(index)
            .map(|value| (self.name.clone(), value.clone()))
    }
}
