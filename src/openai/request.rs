//! The client's chat-completions request: kept as the exact bytes it arrived in, validated, with
//! the few fields the gateway acts on read out.

use std::ops::Range;

use bytes::{Bytes, BytesMut};
use serde::Deserialize;
use serde_json::value::RawValue;

use super::envelope::body_object;
use super::message::Role;
use super::params::ChatParams;
use super::raw::{RawObject, push_json_string};
use crate::completion::UsageWanted;
use crate::error::Error;

#[derive(Debug, Clone)]
pub struct ChatRequest {
    body: Bytes,
    /// Where the `model` value (with its quotes) sits in `body`.
    model_span: Range<usize>,
    /// The routing key the client asked for.
    pub model: String,
    pub stream: bool,
    /// `stream_options.include_usage`: the client wants the final usage chunk.
    pub include_usage: bool,
    /// Where `stream_options` sits in `body`, to ask upstream for usage.
    stream_options_span: Option<Range<usize>>,
    /// How many messages `messages` holds.
    messages: usize,
}

impl ChatRequest {
    pub fn parse(body: Bytes) -> Result<Self, Error> {
        let (text, object) = body_object(&body)?;

        let model_raw = object
            .get("model")
            .ok_or_else(|| Error::invalid("You must provide a model parameter.", Some("model")))?;
        let model: String = serde_json::from_str(model_raw.get()).map_err(|_| {
            Error::invalid(
                "Invalid type for 'model': expected a string such as \"provider/model-name\".",
                Some("model"),
            )
        })?;
        let start = model_raw.get().as_ptr() as usize - text.as_ptr() as usize;
        let model_span = start..start + model_raw.get().len();

        let messages = validate_messages(object.get("messages"))?;

        let stream = match object.get("stream").map(RawValue::get) {
            None | Some("null") | Some("false") => false,
            Some("true") => true,
            Some(_) => {
                return Err(Error::invalid(
                    "Invalid type for 'stream': expected a boolean.",
                    Some("stream"),
                ));
            }
        };
        let stream_options_span = object.get("stream_options").map(|raw| {
            let start = raw.get().as_ptr() as usize - text.as_ptr() as usize;
            start..start + raw.get().len()
        });
        let include_usage = match object.get("stream_options") {
            None => false,
            Some(raw) => serde_json::from_str::<Option<StreamOptions>>(raw.get())
                .map_err(|e| {
                    Error::invalid(
                        format!("Invalid 'stream_options': {e}"),
                        Some("stream_options"),
                    )
                })?
                .and_then(|o| o.include_usage)
                .unwrap_or(false),
        };

        Ok(Self {
            body,
            model_span,
            model,
            stream,
            include_usage,
            stream_options_span,
            messages,
        })
    }

    /// The body as it arrived.
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    /// How many messages the conversation holds.
    pub fn message_count(&self) -> usize {
        self.messages
    }

    /// The size of the request body, in bytes.
    pub fn len(&self) -> usize {
        self.body.len()
    }

    pub fn is_empty(&self) -> bool {
        self.body.is_empty()
    }

    /// The request as the client sent it, byte for byte, except `model` (and, when the gateway
    /// wants usage of a stream the client did not ask usage for, `stream_options`).
    pub fn body_with_model(&self, model: &str, usage: UsageWanted) -> Bytes {
        let mut quoted = String::with_capacity(model.len() + 2);
        push_json_string(&mut quoted, model);
        let mut edits = vec![(self.model_span.clone(), quoted)];
        if self.stream && usage.from_upstream() && !self.include_usage {
            edits.push(self.usage_edit());
        }
        edits.sort_by_key(|(span, _)| span.start);
        let mut out = BytesMut::with_capacity(self.body.len() + model.len() + 40);
        let mut at = 0;
        for (span, text) in edits {
            out.extend_from_slice(&self.body[at..span.start]);
            out.extend_from_slice(text.as_bytes());
            at = span.end;
        }
        out.extend_from_slice(&self.body[at..]);
        out.freeze()
    }

    /// `stream_options` with `include_usage: true`: its value replaced, or the field added
    /// right after the opening brace.
    fn usage_edit(&self) -> (Range<usize>, String) {
        match &self.stream_options_span {
            Some(span) => {
                let mut options: serde_json::Map<String, serde_json::Value> =
                    serde_json::from_slice(&self.body[span.clone()]).unwrap_or_default();
                options.insert("include_usage".into(), serde_json::Value::Bool(true));
                let text = serde_json::to_string(&options)
                    .unwrap_or_else(|_| r#"{"include_usage":true}"#.into());
                (span.clone(), text)
            }
            None => {
                let brace = self
                    .body
                    .iter()
                    .position(|&b| b == b'{')
                    .map_or(0, |i| i + 1);
                (
                    brace..brace,
                    r#""stream_options":{"include_usage":true},"#.to_owned(),
                )
            }
        }
    }

    /// The request as typed values, for providers that translate it.
    pub fn params(&self) -> Result<ChatParams, Error> {
        let mut deserializer = serde_json::Deserializer::from_slice(&self.body);
        serde_path_to_error::deserialize(&mut deserializer).map_err(|e| {
            let param = e.path().to_string();
            Error::invalid(format!("Invalid '{param}': {}", e.inner()), Some(&param))
        })
    }

    /// The top-level parameters the client set to something other than their OpenAI default
    /// (`null`, `false`, `n: 1`, zero penalties, `parallel_tool_calls: true` ask for nothing).
    pub fn present_params(&self) -> Vec<String> {
        let text = std::str::from_utf8(&self.body).unwrap_or_default();
        let Ok(object) = RawObject::parse(text) else {
            return Vec::new();
        };
        object
            .fields()
            .filter(|(key, value)| !is_default(key, value.get().trim()))
            .map(|(key, _)| key.to_owned())
            .collect()
    }
}

fn is_default(key: &str, value: &str) -> bool {
    match value {
        "null" => true,
        "false" => key != "parallel_tool_calls",
        "1" => key == "n",
        "0" | "0.0" => matches!(key, "presence_penalty" | "frequency_penalty"),
        "true" => key == "parallel_tool_calls",
        _ => false,
    }
}

#[derive(Deserialize)]
struct StreamOptions {
    include_usage: Option<bool>,
}

/// Checks the shape of `messages` the way OpenAI does, naming the offending param.
/// Checks the shape of every message; returns how many there are.
fn validate_messages(messages: Option<&RawValue>) -> Result<usize, Error> {
    let raw = messages.ok_or_else(|| {
        Error::invalid("Missing required parameter: 'messages'.", Some("messages"))
    })?;
    let items: Vec<&RawValue> = serde_json::from_str(raw.get()).map_err(|_| {
        Error::invalid(
            "Invalid type for 'messages': expected an array of message objects.",
            Some("messages"),
        )
    })?;
    if items.is_empty() {
        return Err(Error::invalid(
            "Invalid 'messages': empty array. Expected an array with minimum length 1.",
            Some("messages"),
        ));
    }
    for (i, item) in items.iter().enumerate() {
        let param = |field: &str| format!("messages[{i}]{field}");
        let message = RawObject::parse(item.get()).map_err(|_| {
            Error::invalid(
                format!("Invalid type for '{}': expected an object.", param("")),
                Some(&param("")),
            )
        })?;
        let role = message.get("role").ok_or_else(|| {
            Error::invalid(
                format!("Missing required parameter: '{}'.", param(".role")),
                Some(&param(".role")),
            )
        })?;
        if serde_json::from_str::<Role>(role.get()).is_err() {
            return Err(Error::invalid(
                format!(
                    "Invalid value for '{}': expected one of 'system', 'developer', 'user', 'assistant', 'tool', 'function'; got {}.",
                    param(".role"),
                    role.get()
                ),
                Some(&param(".role")),
            ));
        }
        if let Some(content) = message.get("content") {
            let shape_ok = matches!(content.get().as_bytes().first(), Some(b'"' | b'[' | b'n'));
            if !shape_ok {
                return Err(Error::invalid(
                    format!(
                        "Invalid type for '{}': expected a string, an array of content parts, or null.",
                        param(".content")
                    ),
                    Some(&param(".content")),
                ));
            }
        }
    }
    Ok(items.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Result<ChatRequest, Error> {
        ChatRequest::parse(Bytes::copy_from_slice(json.as_bytes()))
    }

    fn param_of(json: &str) -> Option<String> {
        match parse(json) {
            Err(Error::InvalidRequest { param, .. }) => param,
            other => unreachable!("expected a 400 for {json}, got {other:?}"),
        }
    }

    #[test]
    fn replaces_only_the_model_bytes() {
        let json = r#"{ "temperature" : 0.70, "model":"groq/llama-3.3", "messages":[{"role":"user","content":"hi"}],"x":{"y":[1]}}"#;
        let request = parse(json).unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(request.model, "groq/llama-3.3");
        let forwarded = request.body_with_model("llama-3.3", UsageWanted::default());
        assert_eq!(
            forwarded,
            json.replace("groq/llama-3.3", "llama-3.3").as_bytes()
        );
    }

    #[test]
    fn present_params_skip_defaults() {
        let request = parse(r#"{"model":"a/b","messages":[{"role":"user","content":"x"}],"n":1,"logprobs":false,"seed":null,"top_p":0.5,"frequency_penalty":0,"parallel_tool_calls":false}"#)
            .unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(
            request.present_params(),
            ["model", "messages", "top_p", "parallel_tool_calls"]
        );
    }

    #[test]
    fn typed_params_errors_name_the_path() {
        let request = parse(r#"{"model":"a/b","messages":[{"role":"user","content":"x"}],"tools":[{"type":"function","function":{"description":"no name"}}]}"#)
            .unwrap_or_else(|e| unreachable!("{e}"));
        match request.params() {
            Err(Error::InvalidRequest { param, .. }) => {
                assert_eq!(param.as_deref(), Some("tools[0].function"))
            }
            other => unreachable!("{other:?}"),
        }
    }

    #[test]
    fn counting_usage_asks_upstream_for_it_and_changes_nothing_else() {
        let json = r#" { "model":"p/m","stream":true,"messages":[{"role":"user","content":"x"}]}"#;
        let request = parse(json).unwrap_or_else(|e| unreachable!("{e}"));
        let counted = UsageWanted {
            by_client: false,
            by_gateway: true,
            by_metrics: false,
        };
        assert_eq!(
            request.body_with_model("m", UsageWanted::default()),
            json.replace("p/m", "m").as_bytes(),
            "nothing added by default"
        );
        let body =
            String::from_utf8(request.body_with_model("m", counted).to_vec()).unwrap_or_default();
        assert_eq!(
            body,
            r#" {"stream_options":{"include_usage":true}, "model":"m","stream":true,"messages":[{"role":"user","content":"x"}]}"#
        );

        let json = r#"{"stream_options":{"include_obfuscation":false},"model":"p/m","stream":true,"messages":[{"role":"user","content":"x"}]}"#;
        let request = parse(json).unwrap_or_else(|e| unreachable!("{e}"));
        let body: serde_json::Value =
            serde_json::from_slice(&request.body_with_model("m", counted)).unwrap_or_default();
        assert_eq!(
            body["stream_options"],
            serde_json::json!({"include_obfuscation": false, "include_usage": true})
        );
        assert_eq!(body["model"], "m");
    }

    #[test]
    fn reads_stream_flags() {
        let request = parse(r#"{"model":"a/b","messages":[{"role":"user","content":"x"}],"stream":true,"stream_options":{"include_usage":true}}"#)
            .unwrap_or_else(|e| unreachable!("{e}"));
        assert!(request.stream && request.include_usage);
    }

    #[test]
    fn names_the_param_that_is_wrong() {
        let user = r#"[{"role":"user","content":"x"}]"#;
        assert_eq!(param_of(r#"{"messages":[]}"#).as_deref(), Some("model"));
        assert_eq!(
            param_of(&format!(r#"{{"model":5,"messages":{user}}}"#)).as_deref(),
            Some("model")
        );
        assert_eq!(param_of(r#"{"model":"a/b"}"#).as_deref(), Some("messages"));
        assert_eq!(
            param_of(r#"{"model":"a/b","messages":[]}"#).as_deref(),
            Some("messages")
        );
        assert_eq!(
            param_of(r#"{"model":"a/b","messages":"hi"}"#).as_deref(),
            Some("messages")
        );
        assert_eq!(
            param_of(r#"{"model":"a/b","messages":[{"role":"user","content":"x"},{"role":"robot","content":"x"}]}"#).as_deref(),
            Some("messages[1].role")
        );
        assert_eq!(
            param_of(r#"{"model":"a/b","messages":[{"content":"x"}]}"#).as_deref(),
            Some("messages[0].role")
        );
        assert_eq!(
            param_of(r#"{"model":"a/b","messages":[{"role":"user","content":7}]}"#).as_deref(),
            Some("messages[0].content")
        );
        assert_eq!(
            param_of(&format!(
                r#"{{"model":"a/b","messages":{user},"stream":"yes"}}"#
            ))
            .as_deref(),
            Some("stream")
        );
        assert_eq!(param_of("{nope").as_deref(), None);
        assert_eq!(param_of("[1,2]").as_deref(), None);
    }
}
