//! Chat messages as typed values, for providers that translate them rather than pass them on.

use serde::Deserialize;

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
    Unknown(serde::de::IgnoredAny),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ContentPart {
    Text {
        text: String,
    },
    Refusal {
        refusal: String,
    },
    /// image_url, input_audio, file and whatever comes next: carried, not read, here.
    #[serde(other)]
    Other,
}

impl Message {
    /// The message's text: a string content, or its text parts joined.
    pub fn text(&self) -> String {
        match &self.content {
            None => String::new(),
            Some(Content::Text(text)) => text.clone(),
            Some(Content::Parts(parts)) => parts
                .iter()
                .filter_map(|part| match part {
                    Part::Bare(text) | Part::Typed(ContentPart::Text { text }) => {
                        Some(text.as_str())
                    }
                    Part::Typed(ContentPart::Refusal { refusal }) => Some(refusal.as_str()),
                    Part::Typed(ContentPart::Other) | Part::Unknown(_) => None,
                })
                .collect::<Vec<_>>()
                .join(" "),
        }
    }
}
