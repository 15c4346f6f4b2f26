//! A Messages request as it arrived: its bytes, where `model` sits in them, and the few fields
//! the gateway reads. Everything else (thinking, cache_control, tools, betas' fields, whatever
//! is newer than this code) stays in the bytes, untouched.

use bytes::Bytes;
use serde_json::value::RawValue;

use crate::error::Error;
use crate::openai::envelope::{Envelope, ModelErrors};

#[derive(Debug)]
pub struct MessagesRequest {
    envelope: Envelope,
    /// The routing key or alias the client asked for.
    pub model: String,
    pub stream: bool,
    /// A `count_tokens` request (the create request without `max_tokens` and `stream`): what the
    /// prompt would cost in input tokens, nothing generated.
    pub counting: bool,
}

/// Anthropic's words for a missing or mistyped `model`.
const MODEL: ModelErrors = ModelErrors {
    missing: "model: Field required",
    invalid: "model: Input should be a string such as \"provider/model-name\" or an alias",
};

impl MessagesRequest {
    /// The body, checked for what the API requires of every request: a JSON object with a
    /// `model` string, a `messages` array and a `max_tokens` integer.
    pub fn parse(body: Bytes) -> Result<Self, Error> {
        Self::parse_as(body, false)
    }

    /// A `count_tokens` body: as `parse`, without `max_tokens`, never a stream.
    pub fn parse_counting(body: Bytes) -> Result<Self, Error> {
        Self::parse_as(body, true)
    }

    fn parse_as(body: Bytes, counting: bool) -> Result<Self, Error> {
        let (envelope, stream) = Envelope::parse(body, &MODEL, |object| {
            match object.get("messages").map(|m| m.get().trim_start()) {
                Some(messages) if messages.starts_with('[') => {}
                Some(_) => {
                    return Err(Error::invalid(
                        "messages: Input should be a valid list",
                        Some("messages"),
                    ));
                }
                None => {
                    return Err(Error::invalid("messages: Field required", Some("messages")));
                }
            }
            match object.get("max_tokens").map(RawValue::get) {
                _ if counting => {}
                Some(n) if n.parse::<u64>().is_ok() => {}
                Some(_) => {
                    return Err(Error::invalid(
                        "max_tokens: Input should be a valid integer",
                        Some("max_tokens"),
                    ));
                }
                None => {
                    return Err(Error::invalid(
                        "max_tokens: Field required",
                        Some("max_tokens"),
                    ));
                }
            }
            match object.get("stream").map(RawValue::get) {
                _ if counting => Ok(false),
                None | Some("null" | "false") => Ok(false),
                Some("true") => Ok(true),
                Some(_) => Err(Error::invalid(
                    "stream: Input should be a valid boolean",
                    Some("stream"),
                )),
            }
        })?;
        Ok(Self {
            model: envelope.model.clone(),
            envelope,
            stream,
            counting,
        })
    }

    /// The body with only `model` replaced: what an Anthropic upstream is sent.
    pub fn body_with_model(&self, model: &str) -> Bytes {
        self.envelope.with_model(model)
    }

    /// The body as it arrived.
    pub fn body(&self) -> &[u8] {
        self.envelope.bytes()
    }

    /// The size of the body, in bytes.
    pub fn len(&self) -> usize {
        self.envelope.bytes().len()
    }

    pub fn is_empty(&self) -> bool {
        self.envelope.bytes().is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Result<MessagesRequest, Error> {
        MessagesRequest::parse(Bytes::from(json.to_owned()))
    }

    #[test]
    fn only_model_is_replaced_and_everything_else_stays_as_it_arrived() {
        let json = r#"{ "model" : "claude-sonnet-4-5", "max_tokens": 64, "stream": true,
            "system": [{"type":"text","text":"hi","cache_control":{"type":"ephemeral","ttl":"1h"}}],
            "messages": [{"role":"user","content":"caf\u00e9"}], "future_field": {"x": [1,2]} }"#;
        let request = parse(json).unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(request.model, "claude-sonnet-4-5");
        assert!(request.stream);
        let sent = request.body_with_model("claude-sonnet-4-5-20250929");
        assert_eq!(
            std::str::from_utf8(&sent).unwrap_or_default(),
            json.replace("\"claude-sonnet-4-5\"", "\"claude-sonnet-4-5-20250929\"")
        );
    }

    #[test]
    fn what_every_request_needs_is_checked() {
        for (json, param) in [
            (r#"{"max_tokens":1,"messages":[]}"#, "model"),
            (r#"{"model":"","max_tokens":1,"messages":[]}"#, "model"),
            (r#"{"model":"m","max_tokens":1}"#, "messages"),
            (r#"{"model":"m","max_tokens":1,"messages":{}}"#, "messages"),
            (r#"{"model":"m","messages":[]}"#, "max_tokens"),
            (
                r#"{"model":"m","max_tokens":"9","messages":[]}"#,
                "max_tokens",
            ),
            (
                r#"{"model":"m","max_tokens":9,"messages":[],"stream":"yes"}"#,
                "stream",
            ),
        ] {
            match parse(json) {
                Err(Error::InvalidRequest { param: Some(p), .. }) => assert_eq!(p, param, "{json}"),
                other => unreachable!("{json}: {other:?}"),
            }
        }
        assert!(parse("[1]").is_err());
        let count = MessagesRequest::parse_counting(Bytes::from_static(
            br#"{"model":"m","messages":[],"stream":"ignored"}"#,
        ))
        .unwrap_or_else(|e| unreachable!("{e}"));
        assert!(count.counting && !count.stream);
        assert!(parse("{").is_err());
    }
}
