//! The responses the gateway builds itself (echo and the translating providers):
//! `chat.completion` and `chat.completion.chunk`, named as in the OpenAI spec.

use serde::Serialize;

use super::message::{ReasoningDetail, ToolCall};
use crate::completion::Chunk;

pub const CHAT_COMPLETION: &str = "chat.completion";
pub const CHAT_COMPLETION_CHUNK: &str = "chat.completion.chunk";

#[derive(Debug, Clone, Serialize)]
pub struct ChatCompletion {
    pub id: String,
    pub object: &'static str,
    pub created: u64,
    pub model: String,
    pub choices: Vec<Choice>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
}

impl ChatCompletion {
    /// One assistant message as a fresh `chat.completion`, `model` the key that served.
    pub fn single(
        served: &str,
        message: ResponseMessage,
        finish_reason: &'static str,
        usage: Usage,
    ) -> Self {
        Self {
            id: new_completion_id(),
            object: CHAT_COMPLETION,
            created: unix_now(),
            model: served.to_owned(),
            choices: vec![Choice {
                index: 0,
                message,
                finish_reason: Some(finish_reason),
                logprobs: None,
            }],
            usage: Some(usage),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Choice {
    pub index: u32,
    pub message: ResponseMessage,
    pub finish_reason: Option<&'static str>,
    pub logprobs: Option<()>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct ResponseMessage {
    pub role: &'static str,
    pub content: Option<String>,
    pub refusal: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCall>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reasoning_content: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub reasoning_details: Vec<ReasoningDetail>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Usage {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub total_tokens: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prompt_tokens_details: Option<PromptTokensDetails>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub completion_tokens_details: Option<CompletionTokensDetails>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct PromptTokensDetails {
    pub cached_tokens: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cache_write_tokens: Option<u64>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct CompletionTokensDetails {
    pub reasoning_tokens: u64,
}

impl Usage {
    pub fn new(prompt_tokens: u64, completion_tokens: u64) -> Self {
        Self {
            prompt_tokens,
            completion_tokens,
            total_tokens: prompt_tokens + completion_tokens,
            ..Self::default()
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ChatCompletionChunk<'a> {
    pub id: &'a str,
    pub object: &'static str,
    pub created: u64,
    pub model: &'a str,
    pub choices: Vec<ChunkChoice<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ChunkChoice<'a> {
    pub index: u32,
    pub delta: Delta<'a>,
    pub finish_reason: Option<&'static str>,
    pub logprobs: Option<()>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Delta<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refusal: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reasoning_content: Option<&'a str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCallDelta<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub reasoning_details: Vec<ReasoningDetail>,
}

impl Delta<'_> {
    /// Carries something beyond the role.
    fn has_output(&self) -> bool {
        self.content.is_some_and(|c| !c.is_empty())
            || self.refusal.is_some_and(|r| !r.is_empty())
            || self.reasoning_content.is_some_and(|r| !r.is_empty())
            || !self.tool_calls.is_empty()
            || !self.reasoning_details.is_empty()
    }
}

/// One tool call's piece of a delta: the first carries id, type and name; later ones only
/// argument fragments.
#[derive(Debug, Clone, Serialize)]
pub struct ToolCallDelta<'a> {
    pub index: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<&'a str>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<&'static str>,
    pub function: FunctionDelta<'a>,
}

#[derive(Debug, Clone, Serialize)]
pub struct FunctionDelta<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub arguments: Option<&'a str>,
}

/// Builds the chunks of one stream: one id, one `created`, the served key as `model`.
#[derive(Debug, Clone)]
pub struct ChunkWriter {
    id: String,
    created: u64,
    model: String,
}

impl ChunkWriter {
    pub fn new(served: &str) -> Self {
        Self {
            id: new_completion_id(),
            created: unix_now(),
            model: served.to_owned(),
        }
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    pub fn created(&self) -> u64 {
        self.created
    }

    pub fn role(&self) -> Chunk {
        let delta = Delta {
            role: Some("assistant"),
            content: Some(""),
            ..Delta::default()
        };
        self.choice(delta, None)
    }

    pub fn delta(&self, delta: Delta<'_>) -> Chunk {
        self.choice(delta, None)
    }

    pub fn finish(&self, reason: &'static str) -> Chunk {
        self.choice(Delta::default(), Some(reason))
    }

    /// The usage chunk: no choices, as OpenAI sends it when `include_usage` is set.
    pub fn usage(&self, usage: Usage) -> Chunk {
        self.write(Vec::new(), Some(usage), false)
    }

    fn choice(&self, delta: Delta<'_>, finish_reason: Option<&'static str>) -> Chunk {
        let output = finish_reason.is_some() || delta.has_output();
        let choice = ChunkChoice {
            index: 0,
            delta,
            finish_reason,
            logprobs: None,
        };
        self.write(vec![choice], None, output)
    }

    fn write(&self, choices: Vec<ChunkChoice<'_>>, usage: Option<Usage>, output: bool) -> Chunk {
        let usage_only = choices.is_empty() && usage.is_some();
        let tokens = usage.map(|u| u.total_tokens);
        let chunk = ChatCompletionChunk {
            id: &self.id,
            object: CHAT_COMPLETION_CHUNK,
            created: self.created,
            model: &self.model,
            choices,
            usage,
        };
        // Serializing these plain structs cannot fail.
        let json = serde_json::to_string(&chunk).unwrap_or_default();
        Chunk {
            json,
            output,
            usage: tokens,
            usage_only,
        }
    }
}

/// A fresh completion id in OpenAI's form.
pub fn new_completion_id() -> String {
    format!("chatcmpl-{}", uuid::Uuid::new_v4().simple())
}

pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// `total_tokens` (or prompt + completion) of a raw `usage` object.
pub fn total_tokens(usage: &serde_json::value::RawValue) -> Option<u64> {
    #[derive(serde::Deserialize)]
    struct Counts {
        total_tokens: Option<u64>,
        prompt_tokens: Option<u64>,
        completion_tokens: Option<u64>,
    }
    let counts: Counts = serde_json::from_str(usage.get()).ok()?;
    counts
        .total_tokens
        .or_else(|| Some(counts.prompt_tokens? + counts.completion_tokens.unwrap_or(0)))
}
