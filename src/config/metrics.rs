//! `[metrics]`: the Prometheus endpoint, on the main listener or a port of its own.

use std::net::SocketAddr;

use serde::Deserialize;

use super::invalid::{Invalid, invalid};

#[derive(Debug, Clone)]
pub struct MetricsConfig {
    /// Whether `GET /metrics` is served at all (default: yes).
    pub enabled: bool,
    /// A listener of its own for `/metrics`, which the main one then does not serve: for a
    /// scrape port that is not exposed with the API.
    pub listen: Option<SocketAddr>,
    /// Whether a scrape must show a gateway key, as API calls do (default: no; Prometheus
    /// scrapes without one).
    pub require_key: bool,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            listen: None,
            require_key: false,
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawMetrics {
    enabled: Option<bool>,
    listen: Option<String>,
    require_key: Option<bool>,
}

pub(super) fn validate(raw: RawMetrics) -> Result<MetricsConfig, Invalid> {
    let listen = raw
        .listen
        .map(|listen| {
            listen.parse::<SocketAddr>().map_err(|_| {
                invalid(
                    "metrics.listen",
                    format!("{listen:?} is not an address such as \"127.0.0.1:9090\""),
                )
            })
        })
        .transpose()?;
    Ok(MetricsConfig {
        enabled: raw.enabled.unwrap_or(true),
        listen,
        require_key: raw.require_key.unwrap_or(false),
    })
}
