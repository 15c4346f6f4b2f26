//! Config in two stages: TOML (with `${ENV}` interpolation) -> `RawConfig` (serde, unknown keys
//! rejected) -> a validated `Config` with the built-in catalog merged in and secrets wrapped.
//! Each TOML section has a file holding its raw type and its checks; this one joins them.

mod auth;
mod catalog;
mod describe;
mod env;
mod gateway_key;
mod glob;
mod invalid;
mod ledger;
mod limits;
mod metrics;
mod models;
mod pricing;
mod provider_kind;
mod providers;
mod routing;
mod secret;
mod server;
mod telemetry;
mod units;
mod upstream;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

pub use auth::{AuthConfig, GatewayKey, KeyLimits};
pub use catalog::{CATALOG, CatalogEntry};
pub use describe::describe;
pub use env::{EnvLookup, process_env};
pub use gateway_key::KeyDigest;
pub use glob::Glob;
pub use ledger::{LedgerConfig, LedgerOutput};
pub use limits::{LimitsBackend, LimitsConfig};
pub use metrics::MetricsConfig;
pub use models::{AliasTarget, ModelAlias};
pub use pricing::PricingConfig;
pub use provider_kind::{KindName, ProviderKind};
pub use providers::{ProviderConfig, UnsupportedParams};
pub use routing::{RoutingConfig, Strategy};
pub use secret::Secret;
pub use server::ServerConfig;
pub use telemetry::TelemetryConfig;
pub use upstream::UpstreamBounds;

use invalid::Invalid;

#[derive(Debug, Clone)]
pub struct Config {
    /// The file this came from; `None` when running on built-in defaults.
    pub source: Option<PathBuf>,
    pub server: ServerConfig,
    pub connect_timeout: Duration,
    pub providers: BTreeMap<String, ProviderConfig>,
    pub models: BTreeMap<String, ModelAlias>,
    pub routing: RoutingConfig,
    pub auth: AuthConfig,
    pub limits: LimitsConfig,
    pub metrics: MetricsConfig,
    pub pricing: PricingConfig,
    pub ledger: LedgerConfig,
    pub telemetry: TelemetryConfig,
}

/// A config problem: which file, which key, what is wrong.
#[derive(Debug)]
pub struct ConfigError {
    pub file: String,
    pub path: String,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            write!(f, "{}: {}", self.file, self.message)
        } else {
            write!(f, "{}: {}: {}", self.file, self.path, self.message)
        }
    }
}

impl std::error::Error for ConfigError {}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    server: server::RawServer,
    #[serde(default)]
    upstream: upstream::RawUpstream,
    #[serde(default)]
    providers: BTreeMap<String, providers::RawProvider>,
    #[serde(default)]
    models: BTreeMap<String, models::RawModel>,
    #[serde(default)]
    routing: routing::RawRouting,
    #[serde(default)]
    auth: auth::RawAuth,
    #[serde(default)]
    limits: limits::RawLimits,
    #[serde(default)]
    metrics: metrics::RawMetrics,
    #[serde(default)]
    pricing: pricing::RawPricing,
    #[serde(default)]
    ledger: ledger::RawLedger,
    #[serde(default)]
    telemetry: telemetry::RawTelemetry,
}

impl Config {
    /// Safe by default: without gateway keys, only a loopback address may be served, unless
    /// `[auth] allow_anonymous = true` says the exposure is meant.
    pub fn check_exposure(&self) -> Result<(), String> {
        let listen = self.server.listen;
        if self.auth.keys.is_empty() && !listen.ip().is_loopback() && !self.auth.allow_anonymous {
            return Err(format!(
                "refusing to serve {listen} without gateway keys: anyone who can reach it could spend your provider keys. \
                 Add keys under [auth] keys (e.g. keys = [\"${{SWITCHYARD_KEY}}\"]), listen on 127.0.0.1, \
                 or set [auth] allow_anonymous = true if an outer layer already authenticates."
            ));
        }
        Ok(())
    }

    /// Loads `path`, or the built-in defaults (catalog + echo) when there is no file.
    pub fn load(path: Option<&Path>, env: EnvLookup<'_>) -> Result<Self, ConfigError> {
        let Some(path) = path else {
            return Self::from_toml("", None, env);
        };
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            file: path.display().to_string(),
            path: String::new(),
            message: format!("cannot read the file: {e}"),
        })?;
        Self::from_toml(&text, Some(path), env)
    }

    pub fn from_toml(
        text: &str,
        source: Option<&Path>,
        env: EnvLookup<'_>,
    ) -> Result<Self, ConfigError> {
        let file = source.map_or_else(
            || "<built-in defaults>".to_owned(),
            |p| p.display().to_string(),
        );
        let fail = |path: String, message: String| ConfigError {
            file: file.clone(),
            path,
            message,
        };
        let mut value: toml::Value =
            toml::from_str(text).map_err(|e| fail(String::new(), e.to_string()))?;
        env::interpolate(&mut value, &mut Vec::new(), env).map_err(|e| {
            match e.split_once(": ") {
                Some((path, message)) => fail(path.to_owned(), message.to_owned()),
                None => fail(String::new(), e),
            }
        })?;
        let raw: RawConfig = serde_path_to_error::deserialize(value).map_err(|e| {
            let path = e.path().to_string();
            fail(
                if path == "." { String::new() } else { path },
                e.into_inner().to_string(),
            )
        })?;
        validate(raw, env)
            .map(|mut config| {
                config.source = source.map(Path::to_path_buf);
                // Files the config names are found beside it.
                let ledger = match &mut config.ledger.output {
                    Some(LedgerOutput::File(file)) => Some(file),
                    _ => None,
                };
                for file in [config.pricing.file.as_mut(), ledger].into_iter().flatten() {
                    if let Some(dir) = source.and_then(Path::parent)
                        && file.is_relative()
                    {
                        *file = dir.join(&*file);
                    }
                }
                config
            })
            .map_err(|(path, message)| fail(path, message))
    }
}

/// Sections in the order their errors are reported; aliases come after the providers they name.
fn validate(raw: RawConfig, env: EnvLookup<'_>) -> Result<Config, Invalid> {
    let server = server::validate(raw.server)?;
    let providers = providers::validate(raw.providers, raw.upstream.bounds(), env)?;
    let models = models::validate(raw.models, &providers)?;
    Ok(Config {
        source: None,
        server,
        connect_timeout: raw.upstream.connect_timeout(),
        providers,
        models,
        auth: auth::validate(raw.auth)?,
        limits: limits::validate(raw.limits)?,
        routing: routing::validate(raw.routing),
        metrics: metrics::validate(raw.metrics)?,
        pricing: pricing::validate(raw.pricing)?,
        ledger: ledger::validate(raw.ledger)?,
        telemetry: telemetry::validate(raw.telemetry, env)?,
    })
}

#[cfg(test)]
mod tests;
