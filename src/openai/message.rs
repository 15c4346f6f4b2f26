//! Chat messages as typed values, for providers that translate them rather than pass them on.
//! Lenient where real clients are loose (a bare string as a content part or an image URL, one
//! tool call given as an object instead of a list).

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    System,
    Developer,
    User,
    Assistant,
    Tool,
    Function,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Message {
    pub role: Role,
    #[serde(default)]
    pub content: Option<Content>,
    #[serde(default)]
    pub name: Option<String>,
    /// Assistant turns: the calls it made.
    #[serde(default, deserialize_with = "one_or_many")]
    pub tool_calls: Vec<ToolCall>,
    /// Tool turns: which call this answers.
    #[serde(default)]
    pub tool_call_id: Option<String>,
    #[serde(default)]
    pub refusal: Option<String>,
    /// Reasoning text as DeepSeek and others return it (informational when sent back).
    #[serde(default)]
    pub reasoning_content: Option<String>,
    /// Signed reasoning returned by the gateway, to be restored exactly on the next turn.
    #[serde(default)]
    pub reasoning_details: Vec<ReasoningDetail>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Content {
    Text(String),
    Parts(Vec<Part>),
}

/// A content part as clients really send them: typed objects, and in some dialects bare strings.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Part {
    Bare(String),
    Typed(ContentPart),
    Unknown(Value),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ContentPart {
    Text {
        text: String,
    },
    ImageUrl {
        image_url: ImageUrl,
    },
    InputAudio {
        input_audio: InputAudio,
    },
    File {
        file: FileRef,
    },
    Refusal {
        refusal: String,
    },
    #[serde(other)]
    Other,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum ImageUrl {
    Url(String),
    Object {
        url: String,
        #[serde(default)]
        detail: Option<String>,
    },
}

impl ImageUrl {
    pub fn url(&self) -> &str {
        match self {
            Self::Url(url) | Self::Object { url, .. } => url,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct InputAudio {
    pub data: String,
    #[serde(default)]
    pub format: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct FileRef {
    #[serde(default)]
    pub file_data: Option<String>,
    #[serde(default)]
    pub file_id: Option<String>,
    #[serde(default)]
    pub filename: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolCall {
    #[serde(default)]
    pub id: String,
    #[serde(rename = "type", default = "function_type")]
    pub kind: String,
    pub function: FunctionCall,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FunctionCall {
    pub name: String,
    #[serde(default)]
    pub arguments: String,
}

/// One piece of signed or encrypted reasoning, in the shape OpenRouter uses.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReasoningDetail {
    /// `reasoning.text` (text + signature) or `reasoning.encrypted` (opaque data).
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<String>,
    /// Which provider's format: `anthropic-claude-v1`, `google-gemini-v1`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index: Option<u32>,
}

pub const REASONING_TEXT: &str = "reasoning.text";
pub const REASONING_ENCRYPTED: &str = "reasoning.encrypted";

fn function_type() -> String {
    "function".to_owned()
}

fn one_or_many<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<ToolCall>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        Many(Vec<ToolCall>),
        One(ToolCall),
    }
    Ok(match Option::<OneOrMany>::deserialize(deserializer)? {
        None => Vec::new(),
        Some(OneOrMany::Many(calls)) => calls,
        Some(OneOrMany::One(call)) => vec![call],
    })
}

impl Message {
    /// The message's text: a string content, or its text parts joined.
    pub fn text(&self) -> String {
        match &self.content {
            None => String::new(),
            Some(content) => content.text(),
        }
    }
}

impl Content {
    pub fn text(&self) -> String {
        match self {
            Self::Text(text) => text.clone(),
            Self::Parts(parts) => parts
                .iter()
                .filter_map(Part::text)
                .collect::<Vec<_>>()
                .join(" "),
        }
    }

    /// The parts, with a plain string seen as one text part.
    pub fn parts(&self) -> Vec<PartRef<'_>> {
        match self {
            Self::Text(text) => vec![PartRef::Text(text)],
            Self::Parts(parts) => parts.iter().map(Part::as_ref).collect(),
        }
    }
}

/// A borrowed, normalized view of one content part.
#[derive(Debug, Clone, Copy)]
pub enum PartRef<'a> {
    Text(&'a str),
    Image(&'a ImageUrl),
    Audio(&'a InputAudio),
    File(&'a FileRef),
    Refusal(&'a str),
    /// A part of a kind this gateway does not know.
    Unknown,
}

impl Part {
    fn text(&self) -> Option<&str> {
        match self.as_ref() {
            PartRef::Text(text) | PartRef::Refusal(text) => Some(text),
            _ => None,
        }
    }

    pub fn as_ref(&self) -> PartRef<'_> {
        match self {
            Self::Bare(text) | Self::Typed(ContentPart::Text { text }) => PartRef::Text(text),
            Self::Typed(ContentPart::Refusal { refusal }) => PartRef::Refusal(refusal),
            Self::Typed(ContentPart::ImageUrl { image_url }) => PartRef::Image(image_url),
            Self::Typed(ContentPart::InputAudio { input_audio }) => PartRef::Audio(input_audio),
            Self::Typed(ContentPart::File { file }) => PartRef::File(file),
            Self::Typed(ContentPart::Other) | Self::Unknown(_) => PartRef::Unknown,
        }
    }
}

/// A base64 `data:` URL as (media type, data): `data:<media type>[;params];base64,<data>`.
/// `None` for anything else (another scheme, no media type, not base64).
pub fn base64_data_url(url: &str) -> Option<(&str, &str)> {
    let (head, data) = url.strip_prefix("data:")?.split_once(',')?;
    let mut fields = head.split(';');
    let media_type = fields.next().filter(|m| !m.is_empty())?;
    fields.any(|f| f == "base64").then_some((media_type, data))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_urls() {
        assert_eq!(
            base64_data_url("data:image/png;base64,AAAA"),
            Some(("image/png", "AAAA"))
        );
        assert_eq!(
            base64_data_url("data:image/png;charset=x;base64,AAAA"),
            Some(("image/png", "AAAA"))
        );
        assert_eq!(base64_data_url("data:image/png,AAAA"), None);
        assert_eq!(base64_data_url("data:;base64,AAAA"), None);
        assert_eq!(base64_data_url("https://x/a.png"), None);
    }

    #[test]
    fn accepts_what_clients_really_send() {
        let json = r#"[
            {"role":"system","content":["Be brief.","Be kind."]},
            {"role":"user","content":[{"type":"text","text":"hi"},{"type":"image_url","image_url":"https://x/a.png"},
                {"type":"image_url","image_url":{"url":"data:image/png;base64,AA==","detail":"low"}},{"type":"mystery"}]},
            {"role":"assistant","content":null,"tool_calls":{"id":"c1","type":"function","function":{"name":"f","arguments":"{}"}},
             "reasoning_details":[{"type":"reasoning.text","text":"hm","signature":"sig","format":"anthropic-claude-v1"}]},
            {"role":"tool","tool_call_id":"c1","content":"42"}
        ]"#;
        let messages: Vec<Message> =
            serde_json::from_str(json).unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(messages[0].text(), "Be brief. Be kind.");
        let parts = messages[1]
            .content
            .as_ref()
            .map(Content::parts)
            .unwrap_or_default();
        assert!(matches!(parts[1], PartRef::Image(ImageUrl::Url(_))));
        assert!(matches!(parts[2], PartRef::Image(image) if image.url().starts_with("data:")));
        assert!(matches!(parts[3], PartRef::Unknown));
        assert_eq!(messages[2].tool_calls[0].function.name, "f");
        assert_eq!(
            messages[2].reasoning_details[0].signature.as_deref(),
            Some("sig")
        );
        assert_eq!(messages[3].tool_call_id.as_deref(), Some("c1"));
    }
}
