//! A provider's `kind`: the wire format it speaks, and the settings only that format reads.

use serde::Deserialize;

use super::invalid::{Invalid, invalid};

/// Anthropic refuses a request without `max_tokens`; this is sent when the client sets none.
const DEFAULT_MAX_TOKENS: u64 = 4096;

/// The `kind` key as written. The settings that go with a kind are separate keys of the same
/// table, so the name is read first and `settle` joins it to them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KindName {
    Openai,
    Anthropic,
    Azure,
    Gemini,
    Echo,
}

/// A kind with its own settings: one value, so a provider cannot carry the settings of a kind
/// it is not, and a codec receives exactly what its kind reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProviderKind {
    Openai,
    Anthropic {
        /// Used when the client sets no `max_tokens`.
        default_max_tokens: u64,
    },
    Azure {
        /// The `api-version` query; without one the v1 API (`{base_url}/chat/completions`).
        api_version: Option<String>,
    },
    Gemini,
    Echo,
}

impl KindName {
    /// How `switchyard check` names the kind.
    pub fn label(self) -> &'static str {
        match self {
            Self::Openai => "openai-compatible",
            Self::Anthropic => "anthropic",
            Self::Azure => "azure",
            Self::Gemini => "gemini",
            Self::Echo => "echo",
        }
    }

    /// The kind with every setting at its default: what a catalog provider gets.
    pub fn with_defaults(self) -> ProviderKind {
        match self {
            Self::Openai => ProviderKind::Openai,
            Self::Anthropic => ProviderKind::Anthropic {
                default_max_tokens: DEFAULT_MAX_TOKENS,
            },
            Self::Azure => ProviderKind::Azure { api_version: None },
            Self::Gemini => ProviderKind::Gemini,
            Self::Echo => ProviderKind::Echo,
        }
    }

    /// The kind with the per-kind keys its table sets. `api_version` elsewhere is refused, as
    /// it always was; `default_max_tokens` elsewhere has always been accepted and unused, and
    /// still is, so existing files keep loading.
    pub(super) fn settle(
        self,
        api_version: Option<String>,
        default_max_tokens: Option<u64>,
    ) -> Result<ProviderKind, Invalid> {
        match self {
            Self::Azure => Ok(ProviderKind::Azure { api_version }),
            _ if api_version.is_some() => Err(invalid(
                "api_version",
                "only azure providers take an api_version",
            )),
            Self::Anthropic => Ok(ProviderKind::Anthropic {
                default_max_tokens: default_max_tokens.unwrap_or(DEFAULT_MAX_TOKENS),
            }),
            other => Ok(other.with_defaults()),
        }
    }
}

impl ProviderKind {
    pub fn name(&self) -> KindName {
        match self {
            Self::Openai => KindName::Openai,
            Self::Anthropic { .. } => KindName::Anthropic,
            Self::Azure { .. } => KindName::Azure,
            Self::Gemini => KindName::Gemini,
            Self::Echo => KindName::Echo,
        }
    }

    /// How `switchyard check` names the kind.
    pub fn label(&self) -> &'static str {
        self.name().label()
    }
}
