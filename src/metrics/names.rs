//! The label values a name may take: the names the config holds, each shared once, and one
//! value for anything else.

use std::collections::HashMap;
use std::sync::Arc;

use crate::config::Config;

pub struct Names {
    /// Aliases, alias targets and each provider's listed models (`provider/model`).
    models: HashMap<String, Arc<str>>,
    providers: HashMap<String, Arc<str>>,
    keys: HashMap<String, Arc<str>>,
    unknown: Arc<str>,
    /// A request with no gateway key (anonymous serving).
    no_key: Arc<str>,
}

impl Names {
    pub fn new(config: &Config) -> Self {
        let shared = |names: &mut dyn Iterator<Item = String>| {
            names
                .map(|name| {
                    let label = Arc::from(name.as_str());
                    (name, label)
                })
                .collect::<HashMap<_, _>>()
        };
        let aliases = config.models.iter().flat_map(|(alias, model)| {
            std::iter::once(alias.clone()).chain(model.targets.iter().map(|t| t.name.clone()))
        });
        let listed = config.providers.iter().flat_map(|(name, provider)| {
            provider
                .models
                .iter()
                .map(move |model| format!("{name}/{model}"))
        });
        Self {
            models: shared(&mut aliases.chain(listed)),
            providers: shared(&mut config.providers.keys().cloned()),
            keys: shared(&mut config.auth.keys.iter().map(|k| k.name.clone())),
            unknown: Arc::from("unknown"),
            no_key: Arc::from("none"),
        }
    }

    /// An alias or a `provider/model` the config names, else `unknown`.
    pub fn model(&self, name: &str) -> Arc<str> {
        self.models.get(name).unwrap_or(&self.unknown).clone()
    }

    pub fn provider(&self, name: &str) -> Arc<str> {
        self.providers.get(name).unwrap_or(&self.unknown).clone()
    }

    pub fn key(&self, name: Option<&str>) -> Arc<str> {
        match name {
            None => self.no_key.clone(),
            Some(name) => self.keys.get(name).unwrap_or(&self.unknown).clone(),
        }
    }
}
