//! The built-in providers: each OpenAI-compatible service a user can reach by setting its usual
//! API-key variable, with no config file.

/// One built-in provider instance.
pub struct CatalogEntry {
    pub name: &'static str,
    pub base_url: &'static str,
    /// The variable holding the key; `None` for providers that need no key (local Ollama).
    pub key_env: Option<&'static str>,
}

pub const CATALOG: &[CatalogEntry] = &[
    entry(
        "openai",
        "https://api.openai.com/v1",
        Some("OPENAI_API_KEY"),
    ),
    entry(
        "groq",
        "https://api.groq.com/openai/v1",
        Some("GROQ_API_KEY"),
    ),
    entry(
        "together",
        "https://api.together.xyz/v1",
        Some("TOGETHER_API_KEY"),
    ),
    entry(
        "mistral",
        "https://api.mistral.ai/v1",
        Some("MISTRAL_API_KEY"),
    ),
    entry(
        "deepseek",
        "https://api.deepseek.com",
        Some("DEEPSEEK_API_KEY"),
    ),
    entry(
        "openrouter",
        "https://openrouter.ai/api/v1",
        Some("OPENROUTER_API_KEY"),
    ),
    entry("xai", "https://api.x.ai/v1", Some("XAI_API_KEY")),
    entry(
        "fireworks",
        "https://api.fireworks.ai/inference/v1",
        Some("FIREWORKS_API_KEY"),
    ),
    entry(
        "cerebras",
        "https://api.cerebras.ai/v1",
        Some("CEREBRAS_API_KEY"),
    ),
    entry(
        "perplexity",
        "https://api.perplexity.ai",
        Some("PERPLEXITY_API_KEY"),
    ),
    entry("ollama", "http://127.0.0.1:11434/v1", None),
];

const fn entry(
    name: &'static str,
    base_url: &'static str,
    key_env: Option<&'static str>,
) -> CatalogEntry {
    CatalogEntry {
        name,
        base_url,
        key_env,
    }
}

pub fn find(name: &str) -> Option<&'static CatalogEntry> {
    CATALOG.iter().find(|entry| entry.name == name)
}
