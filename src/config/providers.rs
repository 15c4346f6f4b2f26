//! `[providers.*]`: the services requests are sent to. The built-in catalog's entries, enabled by
//! their key variables, and the echo provider are there without a table; a table adds a provider
//! or replaces a built-in one of the same name.

use std::collections::BTreeMap;

use axum::http::{HeaderName, HeaderValue, Uri};
use serde::Deserialize;

use super::catalog::{self, CATALOG, CatalogEntry};
use super::env::EnvLookup;
use super::invalid::{Invalid, invalid};
use super::provider_kind::{KindName, ProviderKind};
use super::secret::Secret;
use super::units::{ByteSize, ConfigDuration};
use super::upstream::UpstreamBounds;

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
    /// It serves OpenAI's Responses API itself (`responses = "native"`): the Responses surface
    /// relays to it untranslated. Defaults to true for the built-in `openai` entry only.
    pub responses_native: bool,
    /// A translated conversation (from the Messages or the Responses API) carries each
    /// assistant turn's reasoning back as `reasoning_content`, and every turn with tool calls
    /// one, empty when none is known (`send_reasoning_back`): DeepSeek's thinking mode refuses a
    /// tool-call turn without it. Defaults to true for DeepSeek's API host only.
    pub send_reasoning_back: bool,
    /// Retries on retryable errors for plain keys of this provider; `None`: `[routing] retries`.
    pub retries: Option<u32>,
}

impl ProviderConfig {
    /// The first key: the one sent unless it is rate limited or refused.
    pub fn api_key(&self) -> Option<&Secret> {
        self.api_keys.first()
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

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawProvider {
    kind: Option<KindName>,
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
    responses: Option<ResponsesMode>,
    send_reasoning_back: Option<bool>,
    api_version: Option<String>,
    default_max_tokens: Option<u64>,
    retries: Option<u32>,
}

/// `responses = "native"` (the provider serves the Responses API) or `"chat"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
enum ResponsesMode {
    Native,
    Chat,
}

/// `api_key = "k"` or `api_key = ["k1", "k2"]`.
#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

const HEADER_UNSAFE: &str = "contains characters an HTTP header cannot carry (a stray newline?)";

/// Every provider served: the built-in ones, then the file's tables.
pub(super) fn validate(
    raw: BTreeMap<String, RawProvider>,
    defaults: UpstreamBounds,
    env: EnvLookup<'_>,
) -> Result<BTreeMap<String, ProviderConfig>, Invalid> {
    let mut providers = built_in(&raw, defaults, env)?;
    for (name, provider) in raw {
        let provider =
            validate_provider(&name, provider, defaults, env).map_err(|(key, message)| {
                let path = format!("providers.{name}.{key}");
                (path.trim_end_matches('.').to_owned(), message)
            })?;
        providers.insert(name, provider);
    }
    Ok(providers)
}

/// The catalog entries that are enabled, and echo, except those a table replaces.
fn built_in(
    tables: &BTreeMap<String, RawProvider>,
    defaults: UpstreamBounds,
    env: EnvLookup<'_>,
) -> Result<BTreeMap<String, ProviderConfig>, Invalid> {
    let mut providers = BTreeMap::new();
    for entry in CATALOG.iter().filter(|e| !tables.contains_key(e.name)) {
        let key = match entry.key_from(env) {
            Some((var, key)) => {
                if HeaderValue::from_str(&key).is_err() {
                    return Err(invalid(
                        format!("providers.{}", entry.name),
                        format!("{var} {HEADER_UNSAFE}"),
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
    if !tables.contains_key("echo") {
        providers.insert("echo".to_owned(), echo_provider("echo", defaults));
    }
    Ok(providers)
}

/// A provider with nothing but its identity set: the base the others fill in.
fn bare(
    name: &str,
    kind: ProviderKind,
    base_url: String,
    bounds: UpstreamBounds,
) -> ProviderConfig {
    ProviderConfig {
        name: name.to_owned(),
        kind,
        base_url,
        api_keys: Vec::new(),
        headers: Vec::new(),
        models: Vec::new(),
        bounds,
        unsupported_params: UnsupportedParams::Error,
        responses_native: false,
        send_reasoning_back: false,
        retries: None,
    }
}

fn catalog_provider(
    entry: &CatalogEntry,
    key: Option<String>,
    bounds: UpstreamBounds,
) -> ProviderConfig {
    ProviderConfig {
        api_keys: key.map(Secret::new).into_iter().collect(),
        responses_native: entry.name == "openai",
        send_reasoning_back: wants_reasoning_back(entry.base_url),
        ..bare(
            entry.name,
            entry.kind.with_defaults(),
            entry.base_url.to_owned(),
            bounds,
        )
    }
}

fn echo_provider(name: &str, bounds: UpstreamBounds) -> ProviderConfig {
    ProviderConfig {
        models: vec!["echo".to_owned()],
        ..bare(name, ProviderKind::Echo, String::new(), bounds)
    }
}

/// Paths in errors are relative to the provider's table.
fn validate_provider(
    name: &str,
    raw: RawProvider,
    defaults: UpstreamBounds,
    env: EnvLookup<'_>,
) -> Result<ProviderConfig, Invalid> {
    check_name(name)?;
    let builtin = catalog::find(name);
    let kind =
        kind_name(name, raw.kind, builtin)?.settle(raw.api_version, raw.default_max_tokens)?;
    let bounds = defaults.overridden(raw.first_byte_timeout, raw.idle_timeout, raw.max_event_size);
    if kind == ProviderKind::Echo {
        let mut provider = echo_provider(name, bounds);
        if !raw.models.is_empty() {
            provider.models = raw.models;
        }
        return Ok(provider);
    }
    let responses_native = match raw.responses {
        Some(ResponsesMode::Native) => {
            if !matches!(kind, ProviderKind::Openai | ProviderKind::Azure { .. }) {
                return Err((
                    "responses".into(),
                    "only an openai or azure provider can serve the Responses API itself".into(),
                ));
            }
            true
        }
        Some(ResponsesMode::Chat) => false,
        None => builtin.is_some_and(|entry| entry.name == "openai"),
    };
    let base_url = base_url(raw.base_url, builtin)?;
    let send_reasoning_back = match raw.send_reasoning_back {
        Some(true) if !matches!(kind, ProviderKind::Openai | ProviderKind::Azure { .. }) => {
            return Err((
                "send_reasoning_back".into(),
                "only an openai or azure provider is sent chat requests that carry it".into(),
            ));
        }
        Some(wanted) => wanted,
        None => wants_reasoning_back(&base_url),
    };
    Ok(ProviderConfig {
        name: name.to_owned(),
        kind,
        responses_native,
        send_reasoning_back,
        base_url,
        api_keys: api_keys(raw.api_key, builtin, env)?,
        headers: headers(raw.headers)?,
        models: raw.models,
        bounds,
        unsupported_params: raw.unsupported_params.unwrap_or_default(),
        retries: raw.retries,
    })
}

fn check_name(name: &str) -> Result<(), Invalid> {
    let valid = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
    if valid {
        return Ok(());
    }
    Err(invalid(
        "",
        "a provider name is its routing prefix: letters, digits, '_', '.', '-', no '/'",
    ))
}

/// A built-in name or `echo` implies its kind; any other table must say it.
fn kind_name(
    name: &str,
    written: Option<KindName>,
    builtin: Option<&CatalogEntry>,
) -> Result<KindName, Invalid> {
    written
        .or(builtin.map(|b| b.kind))
        .or((name == "echo").then_some(KindName::Echo))
        .ok_or_else(|| {
            invalid(
                "kind",
                "missing; one of \"openai\", \"anthropic\", \"gemini\", \"azure\", \"echo\"",
            )
        })
}

fn base_url(written: Option<String>, builtin: Option<&CatalogEntry>) -> Result<String, Invalid> {
    let base_url = written
        .or(builtin.map(|b| b.base_url.to_owned()))
        .ok_or_else(|| {
            invalid(
                "base_url",
                "missing; the provider's API root, e.g. \"https://api.groq.com/openai/v1\"",
            )
        })?;
    // Codecs append their paths with a '/' of their own.
    let base_url = base_url.trim_end_matches('/').to_owned();
    let parsed = base_url
        .parse::<Uri>()
        .map_err(|e| invalid("base_url", format!("{base_url:?} is not a URL: {e}")))?;
    if !matches!(parsed.scheme_str(), Some("http" | "https")) || parsed.host().is_none() {
        return Err(invalid("base_url", "must start with http:// or https://"));
    }
    Ok(base_url)
}

/// Whether a server wants the reasoning of a conversation's tool-call turns back: DeepSeek's
/// API does in thinking mode, its default (a 400 without it).
fn wants_reasoning_back(base_url: &str) -> bool {
    base_url
        .parse::<Uri>()
        .is_ok_and(|uri| uri.host() == Some("api.deepseek.com"))
}

/// The table's keys, else a built-in provider's key variable, which must then be set: a table
/// for a catalog provider that silently sent no key would fail only at the first request.
fn api_keys(
    written: Option<OneOrMany>,
    builtin: Option<&CatalogEntry>,
    env: EnvLookup<'_>,
) -> Result<Vec<Secret>, Invalid> {
    let keys = match written {
        Some(OneOrMany::One(key)) => vec![key],
        Some(OneOrMany::Many(keys)) if keys.is_empty() => {
            return Err(invalid("api_key", "lists no key"));
        }
        Some(OneOrMany::Many(keys)) => keys,
        None => match builtin.filter(|b| !b.key_env.is_empty()) {
            Some(entry) => vec![entry.key_from(env).map(|(_, key)| key).ok_or_else(|| {
                invalid(
                    "api_key",
                    format!(
                        "not set here, and {} is not in the environment",
                        entry.key_vars()
                    ),
                )
            })?],
            None => Vec::new(),
        },
    };
    let many = keys.len() > 1;
    keys.into_iter()
        .enumerate()
        .map(|(i, key)| {
            let path = if many {
                format!("api_key.{i}")
            } else {
                "api_key".to_owned()
            };
            api_key(key, path)
        })
        .collect()
}

fn api_key(key: String, path: String) -> Result<Secret, Invalid> {
    if key.trim().is_empty() {
        return Err(invalid(path, "is empty"));
    }
    if HeaderValue::from_str(&key).is_err() {
        return Err(invalid(path, HEADER_UNSAFE));
    }
    Ok(Secret::new(key))
}

fn headers(written: BTreeMap<String, String>) -> Result<Vec<(HeaderName, HeaderValue)>, Invalid> {
    written
        .into_iter()
        .map(|(header, value)| {
            let path = format!("headers.{header}");
            let name = HeaderName::from_bytes(header.as_bytes())
                .map_err(|_| invalid(path.as_str(), "is not a valid HTTP header name"))?;
            let mut value = HeaderValue::from_str(&value)
                .map_err(|_| invalid(path, "is not a valid HTTP header value"))?;
            // Extra headers often carry credentials: kept out of debug output.
            value.set_sensitive(true);
            Ok((name, value))
        })
        .collect()
}
