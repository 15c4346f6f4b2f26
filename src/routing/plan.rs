//! A requested model (a provider/model key or an alias) -> the plan that will serve it: the
//! candidate targets, how to order them, and how hard to try each.

use std::time::Duration;

use super::model_ref::ModelRef;
use crate::config::Strategy;
use crate::error::Error;
use crate::state::AppState;

/// One provider/model pair to try.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The routing key that serves: `provider/model-name`, reported back as `model`.
    pub key: String,
    pub provider: String,
    /// The upstream's own model name.
    pub model: String,
}

impl Target {
    fn from_ref(model_ref: ModelRef<'_>) -> Self {
        Self {
            key: format!("{}/{}", model_ref.provider, model_ref.model),
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

/// Resolves `requested`: a provider/model key is a plan of one; an alias, its targets.
pub fn resolve(state: &AppState, requested: &str) -> Result<Plan, Error> {
    let retries_of = |provider: &str| {
        state
            .config
            .providers
            .get(provider)
            .and_then(|p| p.retries)
            .unwrap_or(state.config.routing.retries)
    };
    let Some(model_ref) = ModelRef::parse(requested) else {
        let alias = state
            .config
            .models
            .get(requested)
            .ok_or_else(|| not_found(state, requested))?;
        // Split and checked at load: every target names a known provider.
        let candidates = alias
            .targets
            .iter()
            .map(|t| Candidate {
                target: Target {
                    key: t.key.clone(),
                    provider: t.provider.clone(),
                    model: t.model.clone(),
                },
                weight: t.weight,
                retries: alias.retries.unwrap_or_else(|| retries_of(&t.provider)),
            })
            .collect();
        return Ok(Plan {
            strategy: alias.strategy,
            candidates,
            first_token_timeout: alias.first_token_timeout,
        });
    };
    if model_ref.model.is_empty() {
        return Err(Error::invalid(
            format!(
                "The model '{requested}' names no model after the provider: use provider/model-name."
            ),
            Some("model"),
        ));
    }
    if !state.providers.contains_key(model_ref.provider) {
        return Err(unknown_provider(state, requested, model_ref.provider));
    }
    Ok(Plan {
        strategy: Strategy::Fallback,
        candidates: vec![Candidate {
            target: Target::from_ref(model_ref),
            weight: 1,
            retries: retries_of(model_ref.provider),
        }],
        first_token_timeout: None,
    })
}

fn unknown_provider(state: &AppState, requested: &str, provider: &str) -> Error {
    Error::ModelNotFound {
        message: format!(
            "The model '{requested}' does not exist: no provider '{provider}' is configured. Providers: {}.",
            list(state.providers.keys())
        ),
    }
}

fn not_found(state: &AppState, requested: &str) -> Error {
    let aliases = if state.config.models.is_empty() {
        "none".to_owned()
    } else {
        list(state.config.models.keys())
    };
    Error::ModelNotFound {
        message: format!(
            "The model '{requested}' does not exist: use provider/model-name with a configured provider ({}) or an alias ({aliases}).",
            list(state.providers.keys())
        ),
    }
}

fn list<'a>(names: impl Iterator<Item = &'a String>) -> String {
    names.map(String::as_str).collect::<Vec<_>>().join(", ")
}
