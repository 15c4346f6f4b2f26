//! A JSON request body kept as the bytes it arrived in, with its `model` found: what every
//! surface's request (chat aside, which also splices `stream_options`) is built on, so a
//! same-format upstream gets the body with only `model` replaced.

use std::ops::Range;

use bytes::Bytes;

use super::raw::{RawObject, json_string};
use crate::error::Error;

#[derive(Debug)]
pub struct Envelope {
    body: Bytes,
    /// Where the `model` value (with its quotes) sits in `body`.
    model_span: Range<usize>,
    /// The routing key or alias the client asked for.
    pub model: String,
}

/// What a surface says when `model` is missing, and when it is not a non-empty string.
pub struct ModelErrors {
    pub missing: &'static str,
    pub invalid: &'static str,
}

impl Envelope {
    /// `body` as a JSON object with a non-empty `model` string; `read` reads the rest of the
    /// object (borrowed from the bytes) into what the surface needs.
    pub fn parse<T>(
        body: Bytes,
        errors: &ModelErrors,
        read: impl FnOnce(&RawObject<'_>) -> Result<T, Error>,
    ) -> Result<(Self, T), Error> {
        let (text, object) = body_object(&body)?;
        let raw = object
            .get("model")
            .ok_or_else(|| Error::invalid(errors.missing, Some("model")))?;
        let model: String = serde_json::from_str(raw.get())
            .ok()
            .filter(|model: &String| !model.is_empty())
            .ok_or_else(|| Error::invalid(errors.invalid, Some("model")))?;
        let start = raw.get().as_ptr() as usize - text.as_ptr() as usize;
        let model_span = start..start + raw.get().len();
        let read = read(&object)?;
        drop(object);
        Ok((
            Self {
                body,
                model_span,
                model,
            },
            read,
        ))
    }

    /// The body with only `model` replaced.
    pub fn with_model(&self, model: &str) -> Bytes {
        let model = json_string(model);
        let mut out = Vec::with_capacity(self.body.len() + model.len());
        out.extend_from_slice(&self.body[..self.model_span.start]);
        out.extend_from_slice(model.as_bytes());
        out.extend_from_slice(&self.body[self.model_span.end..]);
        Bytes::from(out)
    }

    /// The body as it arrived.
    pub fn bytes(&self) -> &[u8] {
        &self.body
    }
}

/// OpenAI's words for a missing or mistyped `model`.
pub const OPENAI_MODEL: ModelErrors = ModelErrors {
    missing: "You must provide a model parameter.",
    invalid: "Invalid type for 'model': expected a string such as \"provider/model-name\".",
};

/// A request body as the JSON object every surface's request is, and its text; a 400 for
/// bytes that are not one.
pub fn body_object(body: &[u8]) -> Result<(&str, RawObject<'_>), Error> {
    let text = std::str::from_utf8(body)
        .map_err(|e| Error::invalid(format!("The request body is not valid UTF-8: {e}"), None))?;
    let object = RawObject::parse(text).map_err(|e| {
        let what = if e.is_data() {
            "must be a JSON object"
        } else {
            "is not valid JSON"
        };
        Error::invalid(format!("The request body {what}: {e}"), None)
    })?;
    Ok((text, object))
}
