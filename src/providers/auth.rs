//! How a provider's requests are authenticated, applied once to each request just before it is
//! sent. Today that is one of the provider's API keys in the header it reads; a signed request
//! (AWS SigV4) or an OAuth token (Vertex) would be another variant of `Auth`.

use std::sync::atomic::{AtomicUsize, Ordering};

use axum::http::{HeaderMap, HeaderName, HeaderValue, header};

use crate::config::ProviderConfig;
use crate::error::Error;
use crate::transport::UpstreamRequest;

/// Where a provider reads its API key.
#[derive(Clone, Copy)]
pub enum KeyHeader {
    /// `Authorization: Bearer <key>` (OpenAI and the compatibles).
    Bearer,
    /// `<name>: <key>` (`x-api-key`, `x-goog-api-key`, Azure's `api-key`).
    Named(&'static str),
}

/// A provider's authentication.
pub enum Auth {
    /// One of its API keys in a header (none for a provider configured without keys).
    Header(KeyRing),
}

impl Auth {
    pub fn keys(&self) -> &KeyRing {
        match self {
            Self::Header(ring) => ring,
        }
    }

    /// Authenticates `request` with API key `index`.
    pub fn apply(&self, request: &mut UpstreamRequest, index: usize) {
        match self {
            Self::Header(ring) => {
                if let Some((name, value)) = ring.header(index) {
                    request.headers.insert(name, value);
                }
            }
        }
    }
}

/// `defaults`, then the config's `headers` (which may override them): what every request to
/// the provider carries besides its authentication.
pub fn provider_headers(config: &ProviderConfig, mut defaults: HeaderMap) -> HeaderMap {
    for (name, value) in &config.headers {
        defaults.insert(name.clone(), value.clone());
    }
    defaults
}

/// A provider's API keys, as ready header values marked sensitive (so no debug output shows
/// them), with a rotating first choice so that several keys share the load.
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
                // Validated at config load; this only guards a key set some other way.
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
