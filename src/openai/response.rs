//! The responses the gateway builds itself (echo and the translating providers):
//! `chat.completion` and `chat.completion.chunk`, named as in the OpenAI spec.

use serde::Serialize;

use super::message::{ReasoningDetail, ToolCall};
use bytes::Bytes;

use crate::completion::{Chunk, Tokens, Whole};
use crate::error::Error;

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
    /// The model the upstream said answered (the served key goes in `model`).
    #[serde(skip)]
    pub upstream_model: Option<Box<str>>,
}

impl ChatCompletion {
    /// The completion serialized, with the tokens its usage reports.
    pub fn whole(&self) -> Result<Whole, Error> {
        let json = serde_json::to_vec(self)
            .map_err(|e| Error::Internal(format!("cannot serialize a completion: {e}")))?;
        Ok(Whole {
            json: Bytes::from(json),
            tokens: self.usage.as_ref().map(Tokens::from),
            finish: self.choices.first().and_then(|c| c.finish_reason),
            model: self.upstream_model.clone(),
        })
    }

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
            upstream_model: None,
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
            total_tokens: prompt_tokens.saturating_add(completion_tokens),
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
        let mut chunk = self.write(vec![choice], None, output);
        chunk.finish = finish_reason;
        chunk
    }

    fn write(&self, choices: Vec<ChunkChoice<'_>>, usage: Option<Usage>, output: bool) -> Chunk {
        let usage_only = choices.is_empty() && usage.is_some();
        let tokens = usage.as_ref().map(Tokens::from);
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
            finish: None,
            model: None,
            event: None,
        }
    }
}

/// A `finish_reason` as the raw JSON an upstream sent it: OpenAI's values by name, any other
/// string as `other` (so a span's label set stays closed), `null` or nothing as none.
pub fn finish_label(raw: &str) -> Option<&'static str> {
    match raw.trim() {
        "\"stop\"" => Some("stop"),
        "\"length\"" => Some("length"),
        "\"tool_calls\"" => Some("tool_calls"),
        "\"content_filter\"" => Some("content_filter"),
        "\"function_call\"" => Some("function_call"),
        text if text.starts_with('"') && text != "\"\"" => Some("other"),
        _ => None,
    }
}

#[cfg(test)]
#[test]
fn finish_reasons_have_a_closed_set_of_labels() {
    assert_eq!(finish_label("\"stop\""), Some("stop"));
    assert_eq!(finish_label("\"tool_calls\""), Some("tool_calls"));
    assert_eq!(finish_label(" \"length\" "), Some("length"));
    assert_eq!(finish_label("\"eos_token\""), Some("other"));
    assert_eq!(finish_label("null"), None);
    assert_eq!(finish_label("\"\""), None);
    assert_eq!(finish_label("3"), None);
}

/// The reasoning text of a chat message or delta, under either name providers give it
/// (`reasoning_content`, DeepSeek's and vLLM's; `reasoning`, OpenRouter's and Ollama's).
pub fn reasoning_text(message: &serde_json::Value) -> Option<&str> {
    ["reasoning_content", "reasoning"]
        .iter()
        .find_map(|key| message.get(*key).and_then(serde_json::Value::as_str))
        .filter(|text| !text.is_empty())
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

/// The tokens of a raw `usage` object; `None` when it is not one.
pub fn tokens(usage: &serde_json::value::RawValue) -> Option<Tokens> {
    serde_json::from_str::<UsageCounts>(usage.get())
        .ok()?
        .tokens()
}

/// A `usage` object as read, before it is made `Tokens`.
#[derive(serde::Deserialize)]
pub struct UsageCounts {
    total_tokens: Option<u64>,
    prompt_tokens: Option<u64>,
    completion_tokens: Option<u64>,
    prompt_tokens_details: Option<PromptDetails>,
    completion_tokens_details: Option<CompletionDetails>,
}

#[derive(serde::Deserialize)]
struct PromptDetails {
    cached_tokens: Option<u64>,
    cache_write_tokens: Option<u64>,
}

#[derive(serde::Deserialize)]
struct CompletionDetails {
    reasoning_tokens: Option<u64>,
}

impl UsageCounts {
    /// `None` without `total_tokens` or `prompt_tokens`: not a usage report.
    pub fn tokens(self) -> Option<Tokens> {
        let counts = self;
        let prompt = counts.prompt_tokens.unwrap_or(0);
        let completion = counts.completion_tokens.unwrap_or(0);
        let total = match counts.total_tokens {
            Some(total) => total,
            None => counts.prompt_tokens?.saturating_add(completion),
        };
        let details = counts.prompt_tokens_details;
        Some(Tokens {
            prompt,
            completion,
            total,
            cached_read: details.as_ref().and_then(|d| d.cached_tokens).unwrap_or(0),
            cache_write: details.and_then(|d| d.cache_write_tokens).unwrap_or(0),
            reasoning: counts
                .completion_tokens_details
                .and_then(|d| d.reasoning_tokens)
                .unwrap_or(0),
        })
    }
}

impl From<&Usage> for Tokens {
    fn from(usage: &Usage) -> Self {
        let details = usage.prompt_tokens_details.unwrap_or_default();
        Self {
            prompt: usage.prompt_tokens,
            completion: usage.completion_tokens,
            total: usage.total_tokens,
            cached_read: details.cached_tokens,
            cache_write: details.cache_write_tokens.unwrap_or(0),
            reasoning: usage
                .completion_tokens_details
                .map_or(0, |d| d.reasoning_tokens),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::value::RawValue;

    use super::*;

    fn read(json: &str) -> Option<Tokens> {
        tokens(&RawValue::from_string(json.to_owned()).unwrap_or_else(|e| unreachable!("{e}")))
    }

    #[test]
    fn usage_is_read_with_its_details() {
        let full = r#"{"prompt_tokens":1233,"completion_tokens":80,"total_tokens":1313,
            "prompt_tokens_details":{"cached_tokens":1024,"cache_write_tokens":188,"audio_tokens":0},
            "completion_tokens_details":{"reasoning_tokens":57,"accepted_prediction_tokens":0}}"#;
        assert_eq!(
            read(full),
            Some(Tokens {
                prompt: 1233,
                completion: 80,
                total: 1313,
                cached_read: 1024,
                cache_write: 188,
                reasoning: 57,
            })
        );
        let plain = read(r#"{"prompt_tokens":3,"completion_tokens":2}"#);
        assert_eq!(plain.map(|t| (t.total, t.cached_read)), Some((5, 0)));
        assert_eq!(read(r#"{"total_tokens":9}"#).map(|t| t.total), Some(9));
        assert_eq!(
            read(r#"{"completion_tokens":2}"#),
            None,
            "no prompt, no total"
        );
        assert_eq!(read(r#""not usage""#), None);
        assert_eq!(
            read(r#"{"prompt_tokens":3,"completion_tokens":2,"prompt_tokens_details":null}"#)
                .map(|t| t.total),
            Some(5)
        );
    }
}
