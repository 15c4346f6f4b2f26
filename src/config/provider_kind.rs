//! A provider's `kind`: the wire format it speaks.

use serde::Deserialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProviderKind {
    Openai,
    Anthropic,
    Azure,
    Gemini,
    Echo,
}

impl ProviderKind {
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
}
