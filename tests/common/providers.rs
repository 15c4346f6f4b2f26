//! The provider kinds a fake upstream stands in for, as the tests configure them: one table per
//! kind, so a test names a kind and not its TOML.

use super::upstream::FakeUpstream;

/// A provider kind as the tests configure it in front of a fake upstream. The fake answers on
/// every path, so `path` matters only to tests that check where a request went.
pub struct Provider {
    /// The provider's name in the config: the first part of its model keys.
    pub name: &'static str,
    pub kind: &'static str,
    /// Where the kind's API lives below the upstream's root.
    pub path: &'static str,
    pub api_key: &'static str,
    /// More of the provider's table.
    pub settings: &'static str,
}

pub const OPENAI: Provider = Provider {
    name: "up",
    kind: "openai",
    path: "/v1",
    api_key: "sk-upstream-secret-up",
    settings: "",
};

pub const ANTHROPIC: Provider = Provider {
    name: "claude",
    kind: "anthropic",
    path: "",
    api_key: "sk-ant-upstream-secret",
    settings: "",
};

pub const GEMINI: Provider = Provider {
    name: "gem",
    kind: "gemini",
    path: "/v1beta",
    api_key: "AIzaSy-fake-gemini-key-0001",
    settings: "",
};

/// Azure's v1 API: the deployment is the body's model, and no api-version.
pub const AZURE: Provider = Provider {
    name: "azure-eu",
    kind: "azure",
    path: "/openai/v1",
    api_key: "azure-secret-key-1",
    settings: "",
};

/// Azure's classic API: the deployment in the URL, an api-version in the query.
pub const AZURE_CLASSIC: Provider = Provider {
    path: "/openai",
    settings: "api_version = \"2024-10-21\"\n",
    ..AZURE
};

impl FakeUpstream {
    /// A `[providers.NAME]` table of the openai kind pointing at this upstream, with a key of
    /// its own.
    pub fn provider_toml(&self, name: &str) -> String {
        table(
            name,
            "openai",
            &self.base_url,
            &format!("sk-upstream-secret-{name}"),
            "",
        )
    }

    /// The table of `provider` pointing at this upstream.
    pub fn table(&self, provider: &Provider) -> String {
        table(
            provider.name,
            provider.kind,
            &format!("{}{}", self.root, provider.path),
            provider.api_key,
            provider.settings,
        )
    }
}

fn table(name: &str, kind: &str, base_url: &str, api_key: &str, settings: &str) -> String {
    format!(
        "[providers.{name}]\nkind = \"{kind}\"\nbase_url = \"{base_url}\"\napi_key = \"{api_key}\"\n{settings}"
    )
}
