//! Dollars per answer: the model price catalog the binary embeds (`catalog.json`, reduced from
//! LiteLLM's by `scripts/update-prices`), the operator's own prices over it (`operator.rs`), and
//! the cost of the tokens an answer reports. A model without a price costs nothing and is said
//! to be unpriced; a price is never guessed.

mod operator;

use std::collections::HashMap;
use std::sync::Arc;

use serde::Deserialize;

use crate::completion::Tokens;
use crate::config::{CATALOG, Config, ProviderKind};

const EMBEDDED: &str = include_str!("catalog.json");

/// Dollars per token.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(from = "[Option<f64>; 4]")]
pub struct Price {
    pub input: f64,
    pub output: f64,
    /// Cached input read; the input price where the catalog gives none.
    pub cache_read: f64,
    /// Input written to the cache; the input price where the catalog gives none.
    pub cache_write: f64,
    /// Where the price came from: the embedded catalog's version (`litellm 1.110.2`), or
    /// `operator` for the operator's prices file.
    pub source: &'static str,
}

impl From<[Option<f64>; 4]> for Price {
    fn from([input, output, cache_read, cache_write]: [Option<f64>; 4]) -> Self {
        let input = input.unwrap_or(0.0);
        Self {
            input,
            output: output.unwrap_or(0.0),
            cache_read: cache_read.unwrap_or(input),
            cache_write: cache_write.unwrap_or(input),
            source: "",
        }
    }
}

impl Price {
    /// What `tokens` cost: the prompt's fresh, cached and cache-written parts each at their own
    /// price, the completion (reasoning included) at the output price.
    pub fn cost(&self, tokens: &Tokens) -> f64 {
        let fresh = tokens
            .prompt
            .saturating_sub(tokens.cached_read)
            .saturating_sub(tokens.cache_write);
        let dollars = fresh as f64 * self.input
            + tokens.cached_read as f64 * self.cache_read
            + tokens.cache_write as f64 * self.cache_write
            + tokens.completion as f64 * self.output;
        // Sums of binary fractions carry noise in the last digits; a dollar amount needs none.
        (dollars * 1e12).round() / 1e12
    }
}

#[derive(Deserialize)]
struct Catalog {
    /// The package the prices were taken from, recorded with each cost in the ledger.
    version: &'static str,
    prices: HashMap<String, HashMap<String, Price>>,
}

pub struct Pricing {
    /// The operator's prices, which win.
    operator: Option<operator::Operator>,
    /// Which catalog provider each configured provider is priced as; absent: unpriced.
    priced_as: HashMap<String, String>,
    prices: HashMap<String, HashMap<String, Price>>,
    version: &'static str,
}

impl Pricing {
    /// The catalog and the operator's prices; a prices file that does not read stops the start.
    /// Changes to that file are picked up while serving (a task looks at it, within a runtime).
    pub fn new(config: &Config) -> Result<Arc<Self>, String> {
        let operator = config
            .pricing
            .file
            .as_deref()
            .map(operator::Operator::load)
            .transpose()?;
        let pricing = Arc::new(Self::with(config, operator));
        // Outside a runtime (a tool reading the config) there is no serving to keep fresh.
        if pricing.operator.is_some() && tokio::runtime::Handle::try_current().is_ok() {
            operator::watch(Arc::downgrade(&pricing));
        }
        Ok(pricing)
    }

    fn with(config: &Config, operator: Option<operator::Operator>) -> Self {
        // The catalog is checked by a test; a broken one prices nothing rather than stopping.
        let catalog: Catalog = serde_json::from_str(EMBEDDED).unwrap_or_else(|_| Catalog {
            version: "none",
            prices: HashMap::new(),
        });
        let priced_as = config
            .providers
            .iter()
            .filter_map(|(name, provider)| {
                let by_kind = match provider.kind {
                    ProviderKind::Anthropic { .. } => Some("anthropic"),
                    ProviderKind::Gemini => Some("gemini"),
                    ProviderKind::Azure { .. } => Some("azure"),
                    ProviderKind::Echo => None,
                    // An OpenAI-compatible provider is priced as the catalog's provider at its
                    // host, whatever its name: `[providers.openai]` pointed at a local server
                    // or another proxy may charge anything.
                    ProviderKind::Openai => CATALOG
                        .iter()
                        .filter(|entry| catalog.prices.contains_key(entry.name))
                        .find(|entry| host(entry.base_url) == host(&provider.base_url))
                        .map(|entry| entry.name),
                };
                by_kind
                    .filter(|kind| catalog.prices.contains_key(*kind))
                    .map(|kind| (name.clone(), kind.to_owned()))
            })
            .collect();
        Self {
            operator,
            priced_as,
            prices: catalog.prices,
            version: catalog.version,
        }
    }

    /// The price of `model` at `provider` (a configured provider's name): the operator's for
    /// the routing key, else for the model, else the catalog's.
    pub fn price(&self, provider: &str, model: &str) -> Option<Price> {
        if let Some(operator) = &self.operator {
            let routing_key = format!("{provider}/{model}");
            if let Some(price) = operator.get(&routing_key).or_else(|| operator.get(model)) {
                return Some(price);
            }
        }
        let catalog = self.priced_as.get(provider)?;
        let price = self.prices.get(catalog)?.get(model)?;
        Some(Price {
            source: self.version,
            ..*price
        })
    }
}

/// The host of a URL, for comparing where two providers are.
fn host(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    rest.split(['/', '?']).next().unwrap_or(rest)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pricing(toml: &str) -> Pricing {
        let config =
            Config::from_toml(toml, None, &|_| None).unwrap_or_else(|e| unreachable!("{e}"));
        Pricing::with(&config, None)
    }

    #[test]
    fn the_embedded_catalog_reads_and_prices_the_big_providers() {
        let catalog: Catalog =
            serde_json::from_str(EMBEDDED).unwrap_or_else(|e| unreachable!("{e}"));
        assert!(
            catalog.version.starts_with("litellm "),
            "{}",
            catalog.version
        );
        for (provider, model) in [
            ("openai", "gpt-4o"),
            ("anthropic", "claude-sonnet-4-5"),
            ("gemini", "gemini-2.5-flash"),
        ] {
            let price = catalog.prices.get(provider).and_then(|m| m.get(model));
            assert!(
                price.is_some_and(|p| p.input > 0.0 && p.output > 0.0),
                "{provider}/{model}"
            );
        }
    }

    #[test]
    fn each_part_of_the_tokens_at_its_own_price() {
        let price = Price::from([Some(3e-6), Some(15e-6), Some(0.3e-6), Some(3.75e-6)]);
        // Anthropic's 21 fresh + 188 written + 1,024 read prompt tokens, and 23 of output.
        let tokens = Tokens {
            prompt: 1233,
            completion: 23,
            total: 1256,
            cached_read: 1024,
            cache_write: 188,
            reasoning: 0,
        };
        let expected = 21.0 * 3e-6 + 188.0 * 3.75e-6 + 1024.0 * 0.3e-6 + 23.0 * 15e-6;
        assert!((price.cost(&tokens) - expected).abs() < 1e-12);
        // Without cache prices, cached tokens cost what input does.
        let plain = Price::from([Some(1e-6), Some(2e-6), None, None]);
        assert_eq!(plain.cost(&tokens), 1233.0 * 1e-6 + 23.0 * 2e-6);
    }

    #[test]
    fn providers_are_priced_by_name_kind_or_host_and_never_guessed() {
        let pricing = pricing(
            "[providers.claude]\nkind = \"anthropic\"\nbase_url = \"https://api.anthropic.com\"\napi_key = \"k\"\n\
             [providers.proxied]\nkind = \"openai\"\nbase_url = \"https://api.openai.com/v1\"\napi_key = \"k\"\n\
             [providers.local]\nkind = \"openai\"\nbase_url = \"http://127.0.0.1:8000/v1\"\n\
             [providers.openai]\napi_key = \"k\"\n\
             [providers.groq]\nkind = \"openai\"\nbase_url = \"http://127.0.0.1:9000/v1\"\napi_key = \"k\"\n",
        );
        assert!(pricing.price("claude", "claude-sonnet-4-5").is_some());
        assert!(pricing.price("proxied", "gpt-4o").is_some(), "by host");
        assert!(
            pricing.price("openai", "gpt-4o").is_some(),
            "the built-in entry"
        );
        assert_eq!(
            pricing.price("local", "gpt-4o"),
            None,
            "another host: unpriced"
        );
        assert_eq!(
            pricing.price("groq", "openai/gpt-oss-120b"),
            None,
            "a catalog name at another host: unpriced"
        );
        assert_eq!(pricing.price("openai", "gpt-4o-made-up"), None);
        assert_eq!(pricing.price("echo", "x"), None);
    }
}
