//! A requested model (a routing key `provider/model-name` or an alias) -> the plan that will
//! serve it: the candidate targets, how to order them, and how hard to try each.

use std::collections::BTreeMap;
use std::time::Duration;

use super::model_ref::ModelRef;
use crate::config::{Config, ModelAlias, Strategy};
use crate::error::Error;

/// One provider/model pair to try.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The routing key that names it, `provider/model-name`: reported back as `model`.
    pub name: String,
    pub provider: String,
    /// The upstream's own model name.
    pub model: String,
}

impl Target {
    fn from_ref(model_ref: ModelRef<'_>) -> Self {
        Self {
            name: format!("{}/{}", model_ref.provider, model_ref.model),
            provider: model_ref.provider.to_owned(),
            model: model_ref.model.to_owned(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Candidate {
    pub target: Target,
    pub weight: u32,
    /// Retries on this target after its first attempt.
    pub retries: u32,
}

#[derive(Debug, Clone)]
pub struct Plan {
    pub strategy: Strategy,
    pub candidates: Vec<Candidate>,
    pub first_token_timeout: Option<Duration>,
}

/// What plans are made from: the aliases, and every provider with its retries.
pub struct Table {
    aliases: BTreeMap<String, ModelAlias>,
    retries: BTreeMap<String, u32>,
}

impl Table {
    pub fn new(config: &Config) -> Self {
        Self {
            aliases: config.models.clone(),
            retries: config
                .providers
                .iter()
                .map(|(name, p)| (name.clone(), p.retries.unwrap_or(config.routing.retries)))
                .collect(),
        }
    }

    /// Resolves `requested`: a routing key is a plan of one; an alias, its targets.
    pub fn resolve(&self, requested: &str) -> Result<Plan, Error> {
        let Some(model_ref) = ModelRef::parse(requested) else {
            let alias = self
                .aliases
                .get(requested)
                .ok_or_else(|| self.not_found(requested))?;
            return Ok(self.alias_plan(alias));
        };
        if model_ref.model.is_empty() {
            return Err(Error::invalid(
                format!(
                    "The model '{requested}' names no model after the provider: use provider/model-name."
                ),
                Some("model"),
            ));
        }
        let Some(&retries) = self.retries.get(model_ref.provider) else {
            return Err(self.unknown_provider(requested, model_ref.provider));
        };
        Ok(Plan {
            strategy: Strategy::Fallback,
            candidates: vec![Candidate {
                target: Target::from_ref(model_ref),
                weight: 1,
                retries,
            }],
            first_token_timeout: None,
        })
    }

    fn alias_plan(&self, alias: &ModelAlias) -> Plan {
        // Parsed and validated at load: every target is a routing key of a known provider.
        let candidates = alias
            .targets
            .iter()
            .map(|t| Candidate {
                target: Target {
                    name: t.name.clone(),
                    provider: t.provider.clone(),
                    model: t.model.clone(),
                },
                weight: t.weight,
                retries: alias
                    .retries
                    .or_else(|| self.retries.get(&t.provider).copied())
                    .unwrap_or_default(),
            })
            .collect();
        Plan {
            strategy: alias.strategy,
            candidates,
            first_token_timeout: alias.first_token_timeout,
        }
    }

    fn unknown_provider(&self, requested: &str, provider: &str) -> Error {
        Error::ModelNotFound {
            message: format!(
                "The model '{requested}' does not exist: no provider '{provider}' is configured. Providers: {}.",
                list(self.retries.keys())
            ),
        }
    }

    fn not_found(&self, requested: &str) -> Error {
        let aliases = if self.aliases.is_empty() {
            "none".to_owned()
        } else {
            list(self.aliases.keys())
        };
        Error::ModelNotFound {
            message: format!(
                "The model '{requested}' does not exist: use provider/model-name with a configured provider ({}) or an alias ({aliases}).",
                list(self.retries.keys())
            ),
        }
    }

    /// The names a request's model limits are looked up by: the model asked for, and for an
    /// alias its targets.
    pub fn limited_models(&self, model: &str) -> Vec<String> {
        let mut models = vec![model.to_owned()];
        if let Some(alias) = self.aliases.get(model) {
            models.extend(alias.targets.iter().map(|t| t.name.clone()));
        }
        models
    }
}

fn list<'a>(names: impl Iterator<Item = &'a String>) -> String {
    names.map(String::as_str).collect::<Vec<_>>().join(", ")
}
