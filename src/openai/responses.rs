//! OpenAI's Responses API request, as the gateway reads it: the bytes it arrived in (a target
//! that speaks the API gets them with only `model` replaced), the model, whether it streams, and
//! whether it leans on state kept upstream (`previous_response_id`).

use std::ops::Range;

use bytes::Bytes;
use serde_json::value::RawValue;

use super::raw::{RawObject, is_empty_value, json_string};
use crate::error::Error;

#[derive(Debug)]
pub struct ResponsesRequest {
    body: Bytes,
    model_span: Range<usize>,
    pub model: String,
    pub stream: bool,
    /// Continues a response stored upstream: only a target that speaks the API natively can.
    pub previous_response_id: bool,
}

impl ResponsesRequest {
    pub fn parse(body: Bytes) -> Result<Self, Error> {
        let text = std::str::from_utf8(&body).map_err(|e| {
            Error::invalid(format!("The request body is not valid UTF-8: {e}"), None)
        })?;
        let object = RawObject::parse(text).map_err(|e| {
            Error::invalid(format!("The request body is not a JSON object: {e}"), None)
        })?;
        let model_raw = object
            .get("model")
            .ok_or_else(|| Error::invalid("You must provide a model parameter.", Some("model")))?;
        let model: String = serde_json::from_str(model_raw.get())
            .ok()
            .filter(|m: &String| !m.is_empty())
            .ok_or_else(|| {
                Error::invalid(
                    "Invalid type for 'model': expected a string such as \"provider/model-name\".",
                    Some("model"),
                )
            })?;
        let start = model_raw.get().as_ptr() as usize - text.as_ptr() as usize;
        let model_span = start..start + model_raw.get().len();
        match object.get("input").map(|raw| raw.get().trim_start()) {
            Some(input) if input.starts_with('"') || input.starts_with('[') => {}
            Some(_) => {
                return Err(Error::invalid(
                    "Invalid 'input': expected a string or an array of items.",
                    Some("input"),
                ));
            }
            None if object.get("previous_response_id").is_some() => {}
            None => {
                return Err(Error::invalid(
                    "You must provide an input parameter.",
                    Some("input"),
                ));
            }
        }
        let stream = match object.get("stream").map(RawValue::get) {
            None | Some("null" | "false") => false,
            Some("true") => true,
            Some(_) => {
                return Err(Error::invalid(
                    "Invalid type for 'stream': expected a boolean.",
                    Some("stream"),
                ));
            }
        };
        let previous_response_id = object
            .get("previous_response_id")
            .is_some_and(|id| !is_empty_value(id));
        drop(object);
        Ok(Self {
            body,
            model_span,
            model,
            stream,
            previous_response_id,
        })
    }

    /// The body with only `model` replaced.
    pub fn body_with_model(&self, model: &str) -> Bytes {
        let model = json_string(model);
        let mut out = Vec::with_capacity(self.body.len() + model.len());
        out.extend_from_slice(&self.body[..self.model_span.start]);
        out.extend_from_slice(model.as_bytes());
        out.extend_from_slice(&self.body[self.model_span.end..]);
        Bytes::from(out)
    }

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

    #[test]
    fn only_model_is_replaced_and_what_the_gateway_reads_is_checked() {
        let json = r#"{"model":"openai/gpt-5","input":[{"role":"user","content":"hi"}],"stream":true,"store":false,"new_field":1}"#;
        let request = ResponsesRequest::parse(Bytes::from_static(json.as_bytes()))
            .unwrap_or_else(|e| unreachable!("{e}"));
        assert!(request.stream && !request.previous_response_id);
        assert_eq!(
            request.body_with_model("gpt-5").as_ref(),
            json.replace("openai/gpt-5", "gpt-5").as_bytes()
        );
        let chained = ResponsesRequest::parse(Bytes::from_static(
            br#"{"model":"m","previous_response_id":"resp_1","input":"more"}"#,
        ))
        .unwrap_or_else(|e| unreachable!("{e}"));
        assert!(chained.previous_response_id);
        for json in [
            r#"{"input":"x"}"#,
            r#"{"model":"m"}"#,
            r#"{"model":"m","input":3}"#,
            r#"{"model":"m","input":"x","stream":1}"#,
        ] {
            assert!(
                ResponsesRequest::parse(Bytes::from(json.to_owned())).is_err(),
                "{json}"
            );
        }
    }
}
