//! Config in two stages: TOML (with `${ENV}` interpolation) -> `RawConfig` (serde, unknown keys
//! rejected) -> a validated `Config` with the built-in catalog merged in and secrets wrapped.

mod auth;
mod catalog;
mod describe;
mod env;
mod gateway_key;
mod glob;
mod secret;
mod units;

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use axum::http::{HeaderName, HeaderValue};
use serde::Deserialize;

pub use auth::{AuthConfig, GatewayKey, KeyLimits};
pub use catalog::{CATALOG, CatalogEntry};
pub use describe::describe;
pub use gateway_key::KeyDigest;
pub use glob::Glob;
pub use secret::Secret;
use units::{ByteSize, ConfigDuration};

/// The environment as the loader sees it; tests pass their own.
pub type EnvLookup<'a> = &'a dyn Fn(&str) -> Option<String>;

pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

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
}

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

#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    pub body_limit: usize,
    /// Longest wait for a client to finish sending its request body.
    pub body_timeout: Duration,
    /// How long a stream's preamble may be held back waiting for real output before the 200 is
    /// committed anyway.
    pub stream_hold_back: Duration,
    pub keep_alive: Duration,
    pub shutdown_grace: Duration,
    /// How long a client may take to send a request's head (the request line and headers).
    pub header_read_timeout: Duration,
    /// How long a kept-alive connection may sit with no request in flight before it is closed.
    pub idle_timeout: Duration,
    /// On SIGTERM, how long `/ready` answers 503 (and requests are still served) before the
    /// listener closes: the time a load balancer needs to see it and stop sending.
    pub shutdown_ready_delay: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProviderKind {
    Openai,
    Anthropic,
    Azure,
    Gemini,
    Echo,
}

impl ProviderConfig {
    /// The first key: the one sent unless it is rate limited or refused.
    pub fn api_key(&self) -> Option<&Secret> {
        self.api_keys.first()
    }
}

impl ProviderKind {
    /// How `switchyard check` names the kind.
    pub fn label(self) -> &'static str {
        match self {
            Self::Openai => "openai-compatible",
            Self::Anthropic => "anthropic",
            Self::Azure => "azure",
            Self::Gemini => "gemini",
            Self::Echo => "echo",
        }
    }
}

/// What to do with a request parameter the provider cannot honour.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UnsupportedParams {
    /// Refuse the request with a 400 naming the parameter.
    #[default]
    Error,
    /// Drop the parameter and say so in the `x-switchyard-dropped-params` header.
    Drop,
}

#[derive(Debug, Clone)]
pub struct ProviderConfig {
    pub name: String,
    pub kind: ProviderKind,
    pub base_url: String,
    /// The provider's keys; with several, a rate limit or refusal on one moves to the next.
    pub api_keys: Vec<Secret>,
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// Model names listed by `GET /v1/models` (the provider serves others too).
    pub models: Vec<String>,
    pub bounds: UpstreamBounds,
    pub unsupported_params: UnsupportedParams,
    /// Azure: the `api-version` query; without one the v1 API (`{base_url}/chat/completions`).
    pub api_version: Option<String>,
    /// Anthropic requires `max_tokens`: used when the client sets none.
    pub default_max_tokens: u64,
    /// Retries on retryable errors for plain keys of this provider; `None`: `[routing] retries`.
    pub retries: Option<u32>,
}

/// Per-attempt deadlines and sizes on the way to an upstream.
#[derive(Debug, Clone, Copy)]
pub struct UpstreamBounds {
    /// From sending the request to the response head.
    pub first_byte: Duration,
    /// Longest a response body may go without progress: a stream without a byte of an event
    /// (comments and blank lines are not progress), a whole body without a byte.
    pub idle: Duration,
    /// The largest stream event taken from the provider; a bigger one fails the stream.
    pub max_event: usize,
}

/// Far above any real chunk (a long tool call's arguments arrive in many small events), and
/// small enough that a provider streaming one endless line cannot grow the gateway's memory.
const DEFAULT_MAX_EVENT: usize = 4 << 20;

/// An alias: a small routing policy over provider/model targets.
#[derive(Debug, Clone)]
pub struct ModelAlias {
    pub strategy: Strategy,
    pub targets: Vec<AliasTarget>,
    /// Retries per target on retryable errors; `None`: each provider's own `retries`.
    pub retries: Option<u32>,
    /// Streams: give up on a target that sends no real output by then, and try the next.
    pub first_token_timeout: Option<Duration>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AliasTarget {
    pub key: String,
    pub weight: u32,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// Targets in order.
    #[default]
    Fallback,
    /// Pick by weight, then the others.
    Weighted,
    /// Prefer the target with the lowest recent time to first byte.
    LeastLatency,
}

/// How the router retries, backs off and cools targets down.
#[derive(Debug, Clone)]
pub struct RoutingConfig {
    /// One deadline for a whole request, across every attempt.
    pub deadline: Duration,
    /// Retries per target for plain provider/model keys (a provider's `retries` overrides it).
    pub retries: u32,
    pub backoff_base: Duration,
    pub backoff_max: Duration,
    /// A provider's retry-after is waited out when it is at most this long; longer ones move on.
    pub retry_after_max: Duration,
    /// Consecutive failures that put a target (or a key) in cooldown.
    pub cooldown_failures: u32,
    pub cooldown: Duration,
    pub cooldown_max: Duration,
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

const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
const DEFAULT_MAX_TOKENS: u64 = 4096;

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    server: RawServer,
    #[serde(default)]
    upstream: RawUpstream,
    #[serde(default)]
    providers: BTreeMap<String, RawProvider>,
    #[serde(default)]
    models: BTreeMap<String, RawModel>,
    #[serde(default)]
    routing: RawRouting,
    #[serde(default)]
    auth: auth::RawAuth,
    #[serde(default)]
    limits: RawLimits,
}

/// `[limits]`: where the per-key counters live.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawLimits {
    backend: Option<String>,
    redis_url: Option<String>,
    on_backend_error: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawRouting {
    deadline: Option<ConfigDuration>,
    retries: Option<u32>,
    backoff_base: Option<ConfigDuration>,
    backoff_max: Option<ConfigDuration>,
    retry_after_max: Option<ConfigDuration>,
    cooldown_failures: Option<u32>,
    cooldown: Option<ConfigDuration>,
    cooldown_max: Option<ConfigDuration>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawServer {
    listen: Option<String>,
    body_limit: Option<ByteSize>,
    body_timeout: Option<ConfigDuration>,
    stream_hold_back: Option<ConfigDuration>,
    keep_alive: Option<ConfigDuration>,
    shutdown_grace: Option<ConfigDuration>,
    header_read_timeout: Option<ConfigDuration>,
    idle_timeout: Option<ConfigDuration>,
    shutdown_ready_delay: Option<ConfigDuration>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawUpstream {
    connect_timeout: Option<ConfigDuration>,
    first_byte_timeout: Option<ConfigDuration>,
    idle_timeout: Option<ConfigDuration>,
    max_event_size: Option<ByteSize>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawProvider {
    kind: Option<ProviderKind>,
    base_url: Option<String>,
    api_key: Option<OneOrMany>,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    #[serde(default)]
    models: Vec<String>,
    first_byte_timeout: Option<ConfigDuration>,
    idle_timeout: Option<ConfigDuration>,
    max_event_size: Option<ByteSize>,
    unsupported_params: Option<UnsupportedParams>,
    api_version: Option<String>,
    default_max_tokens: Option<u64>,
    retries: Option<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawModel {
    #[serde(default)]
    strategy: Strategy,
    targets: Vec<RawTarget>,
    retries: Option<u32>,
    first_token_timeout: Option<ConfigDuration>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawTarget {
    Key(String),
    Weighted(WeightedTarget),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WeightedTarget {
    key: String,
    #[serde(default = "one")]
    weight: u32,
}

fn one() -> u32 {
    1
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
                config
            })
            .map_err(|(path, message)| fail(path, message))
    }
}

type Invalid = (String, String);

fn validate(raw: RawConfig, env: EnvLookup<'_>) -> Result<Config, Invalid> {
    let listen = raw.server.listen.as_deref().unwrap_or(DEFAULT_LISTEN);
    let listen: SocketAddr = listen.parse().map_err(|_| {
        (
            "server.listen".to_owned(),
            format!("{listen:?} is not an address such as \"127.0.0.1:8080\" or \"0.0.0.0:8080\""),
        )
    })?;
    let server = ServerConfig {
        listen,
        body_limit: raw.server.body_limit.map_or(32 << 20, |b| b.0),
        body_timeout: dur(raw.server.body_timeout, 60),
        stream_hold_back: dur(raw.server.stream_hold_back, 10),
        keep_alive: dur(raw.server.keep_alive, 15),
        shutdown_grace: dur(raw.server.shutdown_grace, 30),
        // nginx's client_header_timeout and keepalive_timeout.
        header_read_timeout: dur(raw.server.header_read_timeout, 60),
        idle_timeout: dur(raw.server.idle_timeout, 75),
        shutdown_ready_delay: dur(raw.server.shutdown_ready_delay, 0),
    };
    for (key, value) in [
        ("server.header_read_timeout", server.header_read_timeout),
        ("server.idle_timeout", server.idle_timeout),
    ] {
        if value.is_zero() {
            return Err((key.into(), "must be greater than zero".into()));
        }
    }
    if server.keep_alive.is_zero() {
        return Err((
            "server.keep_alive".into(),
            "must be greater than zero".into(),
        ));
    }
    let defaults = UpstreamBounds {
        first_byte: dur(raw.upstream.first_byte_timeout, 300),
        idle: dur(raw.upstream.idle_timeout, 300),
        max_event: raw
            .upstream
            .max_event_size
            .map_or(DEFAULT_MAX_EVENT, |b| b.0),
    };

    let mut providers = BTreeMap::new();
    for entry in CATALOG {
        if raw.providers.contains_key(entry.name) {
            continue;
        }
        let key = match entry.key_from(env) {
            Some((var, key)) => {
                if HeaderValue::from_str(&key).is_err() {
                    return Err((
                        format!("providers.{}", entry.name),
                        format!(
                            "{var} contains characters an HTTP header cannot carry (a stray newline?)"
                        ),
                    ));
                }
                Some(key)
            }
            None if entry.key_env.is_empty() => None,
            None => continue, // the variable that enables it is not set
        };
        providers.insert(
            entry.name.to_owned(),
            catalog_provider(entry, key, defaults),
        );
    }
    if !raw.providers.contains_key("echo") {
        providers.insert("echo".to_owned(), echo_provider("echo", defaults));
    }
    for (name, provider) in raw.providers {
        let provider =
            validate_provider(&name, provider, defaults, env).map_err(|(key, message)| {
                (
                    format!("providers.{name}.{key}")
                        .trim_end_matches('.')
                        .to_owned(),
                    message,
                )
            })?;
        providers.insert(name, provider);
    }

    let mut models = BTreeMap::new();
    for (alias, model) in raw.models {
        if alias.is_empty() || alias.contains('/') {
            return Err((
                format!("models.{alias}"),
                "an alias name must be non-empty and contain no '/' (keys with '/' are provider/model)".into(),
            ));
        }
        if model.targets.is_empty() {
            return Err((
                format!("models.{alias}.targets"),
                "must list at least one provider/model target".into(),
            ));
        }
        let mut targets = Vec::with_capacity(model.targets.len());
        for (i, target) in model.targets.into_iter().enumerate() {
            let (key, weight) = match target {
                RawTarget::Key(key) => (key, 1),
                RawTarget::Weighted(WeightedTarget { key, weight }) => (key, weight),
            };
            check_target(&key, &providers)
                .map_err(|m| (format!("models.{alias}.targets.{i}"), m))?;
            if weight == 0 {
                return Err((
                    format!("models.{alias}.targets.{i}.weight"),
                    "must be at least 1 (leave a target out to send it nothing)".into(),
                ));
            }
            targets.push(AliasTarget { key, weight });
        }
        models.insert(
            alias,
            ModelAlias {
                strategy: model.strategy,
                targets,
                retries: model.retries,
                first_token_timeout: model.first_token_timeout.map(|d| d.0),
            },
        );
    }

    let auth = auth::validate(raw.auth)?;
    let limits = validate_limits(raw.limits)?;

    let r = raw.routing;
    let routing = RoutingConfig {
        deadline: dur(r.deadline, 600),
        retries: r.retries.unwrap_or(0),
        backoff_base: r.backoff_base.map_or(Duration::from_millis(200), |d| d.0),
        backoff_max: dur(r.backoff_max, 5),
        retry_after_max: dur(r.retry_after_max, 10),
        cooldown_failures: r.cooldown_failures.unwrap_or(3).max(1),
        cooldown: dur(r.cooldown, 30),
        cooldown_max: dur(r.cooldown_max, 300),
    };

    Ok(Config {
        source: None,
        server,
        connect_timeout: dur(raw.upstream.connect_timeout, 10),
        providers,
        models,
        routing,
        auth,
        limits,
    })
}

fn validate_limits(raw: RawLimits) -> Result<LimitsConfig, Invalid> {
    let backend = match raw.backend.as_deref() {
        None | Some("memory") => LimitsBackend::Memory,
        Some("redis") => {
            let url = raw
                .redis_url
                .unwrap_or_else(|| "redis://127.0.0.1:6379".to_owned());
            if let Err(e) = redis::Client::open(url.as_str()) {
                return Err((
                    "limits.redis_url".into(),
                    // The URL may hold a password: it is not repeated.
                    format!("is not a Redis URL this gateway can use: {e}"),
                ));
            }
            LimitsBackend::Redis { url }
        }
        Some(other) => {
            return Err((
                "limits.backend".into(),
                format!("{other:?} is not \"memory\" or \"redis\""),
            ));
        }
    };
    let allow_on_backend_error = match raw.on_backend_error.as_deref() {
        None | Some("allow") => true,
        Some("deny") => false,
        Some(other) => {
            return Err((
                "limits.on_backend_error".into(),
                format!("{other:?} is not \"allow\" or \"deny\""),
            ));
        }
    };
    Ok(LimitsConfig {
        backend,
        allow_on_backend_error,
    })
}

fn dur(value: Option<ConfigDuration>, default_secs: u64) -> Duration {
    value.map_or(Duration::from_secs(default_secs), |d| d.0)
}

fn catalog_provider(
    entry: &CatalogEntry,
    key: Option<String>,
    bounds: UpstreamBounds,
) -> ProviderConfig {
    ProviderConfig {
        name: entry.name.to_owned(),
        kind: entry.kind,
        base_url: entry.base_url.to_owned(),
        api_keys: key.map(Secret::new).into_iter().collect(),
        headers: Vec::new(),
        models: Vec::new(),
        bounds,
        unsupported_params: UnsupportedParams::Error,
        api_version: None,
        default_max_tokens: DEFAULT_MAX_TOKENS,
        retries: None,
    }
}

fn echo_provider(name: &str, bounds: UpstreamBounds) -> ProviderConfig {
    ProviderConfig {
        name: name.to_owned(),
        kind: ProviderKind::Echo,
        base_url: String::new(),
        api_keys: Vec::new(),
        headers: Vec::new(),
        models: vec!["echo".to_owned()],
        bounds,
        unsupported_params: UnsupportedParams::Error,
        api_version: None,
        default_max_tokens: DEFAULT_MAX_TOKENS,
        retries: None,
    }
}

fn validate_provider(
    name: &str,
    raw: RawProvider,
    defaults: UpstreamBounds,
    env: EnvLookup<'_>,
) -> Result<ProviderConfig, Invalid> {
    let valid_name = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
    if !valid_name {
        return Err((
            String::new(),
            "a provider name is its routing prefix: letters, digits, '_', '.', '-', no '/'".into(),
        ));
    }
    let builtin = catalog::find(name);
    let kind = raw
        .kind
        .or(builtin.map(|b| b.kind))
        .or((name == "echo").then_some(ProviderKind::Echo))
        .ok_or_else(|| {
            (
                "kind".to_owned(),
                "missing; one of \"openai\", \"anthropic\", \"gemini\", \"azure\", \"echo\""
                    .to_owned(),
            )
        })?;
    let bounds = UpstreamBounds {
        first_byte: raw.first_byte_timeout.map_or(defaults.first_byte, |d| d.0),
        idle: raw.idle_timeout.map_or(defaults.idle, |d| d.0),
        max_event: raw.max_event_size.map_or(defaults.max_event, |b| b.0),
    };
    if raw.api_version.is_some() && kind != ProviderKind::Azure {
        return Err((
            "api_version".into(),
            "only azure providers take an api_version".into(),
        ));
    }
    if kind == ProviderKind::Echo {
        let mut provider = echo_provider(name, bounds);
        if !raw.models.is_empty() {
            provider.models = raw.models;
        }
        return Ok(provider);
    }

    let base_url = raw
        .base_url
        .or(builtin.map(|b| b.base_url.to_owned()))
        .ok_or_else(|| {
            (
                "base_url".to_owned(),
                "missing; the provider's API root, e.g. \"https://api.groq.com/openai/v1\""
                    .to_owned(),
            )
        })?;
    let base_url = base_url.trim_end_matches('/').to_owned();
    let parsed = base_url.parse::<axum::http::Uri>().map_err(|e| {
        (
            "base_url".to_owned(),
            format!("{base_url:?} is not a URL: {e}"),
        )
    })?;
    if !matches!(parsed.scheme_str(), Some("http" | "https")) || parsed.host().is_none() {
        return Err((
            "base_url".into(),
            "must start with http:// or https://".into(),
        ));
    }

    let api_keys = match raw.api_key {
        Some(OneOrMany::One(key)) => vec![key],
        Some(OneOrMany::Many(keys)) if keys.is_empty() => {
            return Err(("api_key".into(), "lists no key".into()));
        }
        Some(OneOrMany::Many(keys)) => keys,
        None => match builtin.filter(|b| !b.key_env.is_empty()) {
            Some(entry) => vec![entry.key_from(env).map(|(_, key)| key).ok_or_else(|| {
                (
                    "api_key".to_owned(),
                    format!(
                        "not set here, and {} is not in the environment",
                        entry.key_vars()
                    ),
                )
            })?],
            None => Vec::new(),
        },
    };
    let many = api_keys.len() > 1;
    let api_keys = api_keys
        .into_iter()
        .enumerate()
        .map(|(i, key)| {
            let path = if many {
                format!("api_key.{i}")
            } else {
                "api_key".to_owned()
            };
            if key.trim().is_empty() {
                return Err((path, "is empty".into()));
            }
            if HeaderValue::from_str(&key).is_err() {
                return Err((
                    path,
                    "contains characters an HTTP header cannot carry (a stray newline?)".into(),
                ));
            }
            Ok(Secret::new(key))
        })
        .collect::<Result<Vec<_>, Invalid>>()?;

    let mut headers = Vec::with_capacity(raw.headers.len());
    for (header, value) in raw.headers {
        let header_name = HeaderName::from_bytes(header.as_bytes()).map_err(|_| {
            (
                format!("headers.{header}"),
                "is not a valid HTTP header name".to_owned(),
            )
        })?;
        let mut header_value = HeaderValue::from_str(&value).map_err(|_| {
            (
                format!("headers.{header}"),
                "is not a valid HTTP header value".to_owned(),
            )
        })?;
        header_value.set_sensitive(true);
        headers.push((header_name, header_value));
    }

    Ok(ProviderConfig {
        name: name.to_owned(),
        kind,
        base_url,
        api_keys,
        headers,
        models: raw.models,
        bounds,
        unsupported_params: raw.unsupported_params.unwrap_or_default(),
        api_version: raw.api_version,
        default_max_tokens: raw.default_max_tokens.unwrap_or(DEFAULT_MAX_TOKENS),
        retries: raw.retries,
    })
}

fn check_target(target: &str, providers: &BTreeMap<String, ProviderConfig>) -> Result<(), String> {
    let Some((provider, model)) = target.split_once('/') else {
        return Err(format!("{target:?} is not a provider/model key"));
    };
    if model.is_empty() {
        return Err(format!("{target:?} has no model name after the '/'"));
    }
    if providers.contains_key(provider) {
        return Ok(());
    }
    let hint = match catalog::find(provider).filter(|b| !b.key_env.is_empty()) {
        Some(entry) => format!(
            " (the built-in '{provider}' provider is enabled by setting {})",
            entry.key_vars()
        ),
        None => String::new(),
    };
    Err(format!("unknown provider '{provider}' in {target:?}{hint}"))
}

#[cfg(test)]
mod tests;
