//! A Responses API request, as the gateway reads it: the bytes it arrived in (a target
//! that speaks the API gets them with only `model` replaced), the model, whether it streams, and
//! whether it leans on state kept upstream (`previous_response_id`).

use bytes::Bytes;
use serde_json::value::RawValue;

use crate::error::Error;
use crate::openai::envelope::{Envelope, OPENAI_MODEL};
use crate::openai::raw::is_empty_value;

#[derive(Debug)]
pub struct ResponsesRequest {
    envelope: Envelope,
    pub model: String,
    pub stream: bool,
    /// Continues a response stored upstream: only a target that speaks the API natively can.
    pub previous_response_id: bool,
}

impl ResponsesRequest {
    pub fn parse(body: Bytes) -> Result<Self, Error> {
        let (envelope, (stream, previous_response_id)) =
            Envelope::parse(body, &OPENAI_MODEL, |object| {
                let previous_response_id = object
                    .get("previous_response_id")
                    .is_some_and(|id| !is_empty_value(id));
                match object.get("input").map(|raw| raw.get().trim_start()) {
                    Some(input) if input.starts_with('"') || input.starts_with('[') => {}
                    Some(_) => {
                        return Err(Error::invalid(
                            "Invalid 'input': expected a string or an array of items.",
                            Some("input"),
                        ));
                    }
                    None if previous_response_id => {}
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
                Ok((stream, previous_response_id))
            })?;
        Ok(Self {
            model: envelope.model.clone(),
            envelope,
            stream,
            previous_response_id,
        })
    }

    /// The body as it arrived.
    pub fn body(&self) -> &[u8] {
        self.envelope.bytes()
    }

    /// The body with only `model` replaced.
    pub fn body_with_model(&self, model: &str) -> Bytes {
        self.envelope.with_model(model)
    }

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
