//! The built-in providers: each service a user can reach by setting its usual API-key variable,
//! with no config file.

use super::env::EnvLookup;
use super::provider_kind::KindName;

/// One built-in provider instance.
pub struct CatalogEntry {
    pub name: &'static str,
    pub kind: KindName,
    pub base_url: &'static str,
    /// The variables that can hold the key, in order of preference; none for providers that
    /// need no key (local Ollama).
    pub key_env: &'static [&'static str],
}

pub const CATALOG: &[CatalogEntry] = &[
    openai("openai", "https://api.openai.com/v1", &["OPENAI_API_KEY"]),
    openai("groq", "https://api.groq.com/openai/v1", &["GROQ_API_KEY"]),
    openai(
        "together",
        "https://api.together.xyz/v1",
        &["TOGETHER_API_KEY"],
    ),
    openai("mistral", "https://api.mistral.ai/v1", &["MISTRAL_API_KEY"]),
    openai(
        "deepseek",
        "https://api.deepseek.com",
        &["DEEPSEEK_API_KEY"],
    ),
    openai(
        "openrouter",
        "https://openrouter.ai/api/v1",
        &["OPENROUTER_API_KEY"],
    ),
    openai("xai", "https://api.x.ai/v1", &["XAI_API_KEY"]),
    openai(
        "fireworks",
        "https://api.fireworks.ai/inference/v1",
        &["FIREWORKS_API_KEY"],
    ),
    openai(
        "cerebras",
        "https://api.cerebras.ai/v1",
        &["CEREBRAS_API_KEY"],
    ),
    openai(
        "perplexity",
        "https://api.perplexity.ai",
        &["PERPLEXITY_API_KEY"],
    ),
    openai("ollama", "http://127.0.0.1:11434/v1", &[]),
    entry(
        "anthropic",
        KindName::Anthropic,
        "https://api.anthropic.com",
        &["ANTHROPIC_API_KEY"],
    ),
    entry(
        "gemini",
        KindName::Gemini,
        "https://generativelanguage.googleapis.com/v1beta",
        &["GEMINI_API_KEY", "GOOGLE_API_KEY"],
    ),
];

const fn openai(
    name: &'static str,
    base_url: &'static str,
    key_env: &'static [&'static str],
) -> CatalogEntry {
    entry(name, KindName::Openai, base_url, key_env)
}

const fn entry(
    name: &'static str,
    kind: KindName,
    base_url: &'static str,
    key_env: &'static [&'static str],
) -> CatalogEntry {
    CatalogEntry {
        name,
        kind,
        base_url,
        key_env,
    }
}

impl CatalogEntry {
    /// The first of its key variables that is set (and not empty): (variable, key).
    pub fn key_from(&self, env: EnvLookup<'_>) -> Option<(&'static str, String)> {
        self.key_env
            .iter()
            .find_map(|var| env(var).filter(|v| !v.is_empty()).map(|key| (*var, key)))
    }

    /// "A or B", for messages.
    pub fn key_vars(&self) -> String {
        self.key_env.join(" or ")
    }
}

pub fn find(name: &str) -> Option<&'static CatalogEntry> {
    CATALOG.iter().find(|entry| entry.name == name)
}
