//! `[limits]`: where the per-key counters live, and what happens when they cannot be reached.
//! The limits themselves are set per gateway key, under `[auth]`.

use serde::Deserialize;

use super::invalid::{Invalid, invalid};

/// Where per-key counters live.
#[derive(Debug, Clone, Default)]
pub struct LimitsConfig {
    pub backend: LimitsBackend,
    /// When the shared backend cannot be reached: serve without limits (`true`) or refuse.
    pub allow_on_backend_error: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum LimitsBackend {
    /// In this process: each replica counts alone.
    #[default]
    Memory,
    /// In Redis: every replica shares the counts.
    Redis { url: String },
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLimits {
    #[serde(default)]
    backend: Backend,
    redis_url: Option<String>,
    #[serde(default)]
    on_backend_error: OnBackendError,
}

/// `backend`; `redis_url` is a key of its own, read only for `"redis"`.
#[derive(Deserialize, Default)]
#[serde(rename_all = "lowercase")]
enum Backend {
    #[default]
    Memory,
    Redis,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "lowercase")]
enum OnBackendError {
    /// Serve without limits.
    #[default]
    Allow,
    /// Refuse with a 503 `limits_unavailable`.
    Deny,
}

pub(super) fn validate(raw: RawLimits) -> Result<LimitsConfig, Invalid> {
    let backend = match raw.backend {
        Backend::Memory => LimitsBackend::Memory,
        Backend::Redis => {
            let url = raw
                .redis_url
                .unwrap_or_else(|| "redis://127.0.0.1:6379".to_owned());
            if let Err(e) = redis::Client::open(url.as_str()) {
                return Err(invalid(
                    "limits.redis_url",
                    // The URL may hold a password: it is not repeated.
                    format!("is not a Redis URL this gateway can use: {e}"),
                ));
            }
            LimitsBackend::Redis { url }
        }
    };
    Ok(LimitsConfig {
        backend,
        allow_on_backend_error: matches!(raw.on_backend_error, OnBackendError::Allow),
    })
}
