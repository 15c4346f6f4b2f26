//! A requested model (a provider/model key or an alias) -> the target that will serve it.

use super::model_ref::ModelRef;
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

/// Resolves `requested` to its first target. (Later: the whole ordered plan of an alias.)
pub fn resolve(state: &AppState, requested: &str) -> Result<Target, Error> {
    let target = match ModelRef::parse(requested) {
        Some(model_ref) => model_ref,
        None => {
            let alias = state
                .config
                .models
                .get(requested)
                .ok_or_else(|| not_found(state, requested))?;
            // Validated at load: every target is a provider/model key of a known provider.
            alias
                .targets
                .first()
                .and_then(|t| ModelRef::parse(t))
                .ok_or_else(|| {
                    Error::Internal(format!("alias '{requested}' has no usable target"))
                })?
        }
    };
    if target.model.is_empty() {
        return Err(Error::invalid(
            format!(
                "The model '{requested}' names no model after the provider: use provider/model-name."
            ),
            Some("model"),
        ));
    }
    if !state.providers.contains_key(target.provider) {
        return Err(unknown_provider(state, requested, target.provider));
    }
    Ok(Target::from_ref(target))
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
