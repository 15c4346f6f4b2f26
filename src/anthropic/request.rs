//! A Messages request as it arrived: its bytes, where `model` sits in them, and the few fields
//! the gateway reads. Everything else (thinking, cache_control, tools, betas' fields, whatever
//! is newer than this code) stays in the bytes, untouched.

use std::ops::Range;

use bytes::Bytes;
use serde_json::value::RawValue;

use crate::error::Error;
use crate::openai::raw::{RawObject, json_string};

#[derive(Debug)]
pub struct MessagesRequest {
    body: Bytes,
    /// Where the `model` value (with its quotes) sits in `body`.
    model_span: Range<usize>,
    /// The routing key or alias the client asked for.
    pub model: String,
    pub stream: bool,
    /// A `count_tokens` request (the create request without `max_tokens` and `stream`): what the
    /// prompt would cost in input tokens, nothing generated.
    pub counting: bool,
}

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
        let text = std::str::from_utf8(&body).map_err(|e| {
            Error::invalid(format!("The request body is not valid UTF-8: {e}"), None)
        })?;
        let object = RawObject::parse(text).map_err(|e| {
            let what = if e.is_data() {
                "must be a JSON object"
            } else {
                "is not valid JSON"
            };
            Error::invalid(format!("The request body {what}: {e}"), None)
        })?;
        let model_raw = object
            .get("model")
            .ok_or_else(|| Error::invalid("model: Field required", Some("model")))?;
        let model: String = serde_json::from_str(model_raw.get())
            .ok()
            .filter(|model: &String| !model.is_empty())
            .ok_or_else(|| {
                Error::invalid(
                    "model: Input should be a string such as \"provider/model-name\" or an alias",
                    Some("model"),
                )
            })?;
        let start = model_raw.get().as_ptr() as usize - text.as_ptr() as usize;
        let model_span = start..start + model_raw.get().len();
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
        let stream = match object.get("stream").map(RawValue::get) {
            _ if counting => false,
            None | Some("null" | "false") => false,
            Some("true") => true,
            Some(_) => {
                return Err(Error::invalid(
                    "stream: Input should be a valid boolean",
                    Some("stream"),
                ));
            }
        };
        Ok(Self {
            body,
            model_span,
            model,
            stream,
            counting,
        })
    }

    /// The body with only `model` replaced: what an Anthropic upstream is sent.
    pub fn body_with_model(&self, model: &str) -> Bytes {
        let (before, after) = (
            &self.body[..self.model_span.start],
            &self.body[self.model_span.end..],
        );
        let model = json_string(model);
        let mut out = Vec::with_capacity(self.body.len() + model.len());
        out.extend_from_slice(before);
        out.extend_from_slice(model.as_bytes());
        out.extend_from_slice(after);
        Bytes::from(out)
    }

    /// The body as it arrived.
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    /// The size of the body, in bytes.
    pub fn len(&self) -> usize {
        self.body.len()
    }

    pub fn is_empty(&self) -> bool {
        self.body.is_empty()
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
