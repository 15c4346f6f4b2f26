//! `[models.*]`: aliases, each a small routing policy over provider/model targets.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;

use super::catalog;
use super::invalid::{Invalid, invalid};
use super::providers::ProviderConfig;
use super::routing::Strategy;
use super::units::ConfigDuration;

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

/// A target split once at load, so routing a request never parses it again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AliasTarget {
    /// The routing key as written, `provider/model-name`: reported back as `model`.
    pub name: String,
    /// A configured provider's name.
    pub provider: String,
    /// The upstream's own model name; may contain '/' itself (`meta-llama/Llama-3.3-70B`).
    pub model: String,
    pub weight: u32,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawModel {
    #[serde(default)]
    strategy: Strategy,
    targets: Vec<RawTarget>,
    retries: Option<u32>,
    first_token_timeout: Option<ConfigDuration>,
}

/// `"provider/model"` or `{ key = "provider/model", weight = 3 }`.
#[derive(Deserialize)]
#[serde(untagged)]
enum RawTarget {
    Key(String),
    Weighted(WeightedTarget),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct WeightedTarget {
    key: String,
    #[serde(default = "one")]
    weight: u32,
}

fn one() -> u32 {
    1
}

/// Targets must name `providers`, so aliases are checked after them.
pub(super) fn validate(
    raw: BTreeMap<String, RawModel>,
    providers: &BTreeMap<String, ProviderConfig>,
) -> Result<BTreeMap<String, ModelAlias>, Invalid> {
    raw.into_iter()
        .map(|(alias, model)| {
            let model = validate_alias(&alias, model, providers)?;
            Ok((alias, model))
        })
        .collect()
}

fn validate_alias(
    alias: &str,
    raw: RawModel,
    providers: &BTreeMap<String, ProviderConfig>,
) -> Result<ModelAlias, Invalid> {
    if alias.is_empty() || alias.contains('/') {
        return Err(invalid(
            format!("models.{alias}"),
            "an alias name must be non-empty and contain no '/' (keys with '/' are provider/model)",
        ));
    }
    if raw.targets.is_empty() {
        return Err(invalid(
            format!("models.{alias}.targets"),
            "must list at least one provider/model target",
        ));
    }
    let targets = raw
        .targets
        .into_iter()
        .enumerate()
        .map(|(i, target)| alias_target(format!("models.{alias}.targets.{i}"), target, providers))
        .collect::<Result<_, Invalid>>()?;
    Ok(ModelAlias {
        strategy: raw.strategy,
        targets,
        retries: raw.retries,
        first_token_timeout: raw.first_token_timeout.map(|d| d.0),
    })
}

fn alias_target(
    path: String,
    raw: RawTarget,
    providers: &BTreeMap<String, ProviderConfig>,
) -> Result<AliasTarget, Invalid> {
    let (key, weight) = match raw {
        RawTarget::Key(key) => (key, 1),
        RawTarget::Weighted(WeightedTarget { key, weight }) => (key, weight),
    };
    let (provider, model) = check_target(&key, providers).map_err(|m| invalid(path.as_str(), m))?;
    if weight == 0 {
        return Err(invalid(
            format!("{path}.weight"),
            "must be at least 1 (leave a target out to send it nothing)",
        ));
    }
    Ok(AliasTarget {
        provider: provider.to_owned(),
        model: model.to_owned(),
        name: key,
        weight,
    })
}

/// `target` split at its first '/' into a configured provider and a model name.
fn check_target<'a>(
    target: &'a str,
    providers: &BTreeMap<String, ProviderConfig>,
) -> Result<(&'a str, &'a str), String> {
    let Some((provider, model)) = target.split_once('/') else {
        return Err(format!("{target:?} is not a provider/model key"));
    };
    if model.is_empty() {
        return Err(format!("{target:?} has no model name after the '/'"));
    }
    if providers.contains_key(provider) {
        return Ok((provider, model));
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
