//! OpenAI's embeddings request and answer: the request kept as the bytes it arrived in (an
//! OpenAI-compatible upstream gets them with only `model` replaced), what the gateway reads of
//! it, and the list answer written for targets that answer otherwise (floats, or base64 as
//! OpenAI packs them: little-endian float32).

use base64::Engine as _;
use bytes::Bytes;
use serde_json::{Value, json};

use super::envelope::{Envelope, OPENAI_MODEL};
use crate::error::Error;

#[derive(Debug)]
pub struct EmbeddingsRequest {
    envelope: Envelope,
    /// The routing key or alias asked for.
    pub model: String,
    pub input: Input,
    pub encoding: Encoding,
    /// `dimensions`: how long each vector should be.
    pub dimensions: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    Texts(Vec<String>),
    /// Token ids, which only OpenAI-compatible upstreams take: how many inputs.
    Tokens(usize),
}

/// How the vectors are to be written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// Not said: floats (the API's default).
    Unspecified,
    Float,
    /// Little-endian float32 bytes, base64 (the openai SDKs ask for it by default).
    Base64,
}

/// The most inputs one request may hold, as OpenAI's API allows.
const MAX_INPUTS: usize = 2048;

impl EmbeddingsRequest {
    pub fn parse(body: Bytes) -> Result<Self, Error> {
        let (envelope, (input, encoding, dimensions)) =
            Envelope::parse(body, &OPENAI_MODEL, |object| {
                let input: Value = object
                    .get("input")
                    .and_then(|raw| serde_json::from_str(raw.get()).ok())
                    .ok_or_else(|| {
                        Error::invalid("You must provide an input parameter.", Some("input"))
                    })?;
                let encoding = match object.get("encoding_format").map(|raw| raw.get().trim()) {
                    None | Some("null") => Encoding::Unspecified,
                    Some("\"float\"") => Encoding::Float,
                    Some("\"base64\"") => Encoding::Base64,
                    Some(_) => {
                        return Err(Error::invalid(
                            "Invalid 'encoding_format': expected \"float\" or \"base64\".",
                            Some("encoding_format"),
                        ));
                    }
                };
                let dimensions = match object.get("dimensions").map(|raw| raw.get().trim()) {
                    None | Some("null") => None,
                    Some(n) => {
                        Some(n.parse::<u64>().ok().filter(|n| *n >= 1).ok_or_else(|| {
                            Error::invalid(
                                "Invalid 'dimensions': expected an integer of at least 1.",
                                Some("dimensions"),
                            )
                        })?)
                    }
                };
                Ok((parse_input(&input)?, encoding, dimensions))
            })?;
        Ok(Self {
            model: envelope.model.clone(),
            envelope,
            input,
            encoding,
            dimensions,
        })
    }

    /// The body with only `model` replaced: what an OpenAI-compatible upstream is sent.
    pub fn body_with_model(&self, model: &str) -> Bytes {
        self.envelope.with_model(model)
    }

    pub fn len(&self) -> usize {
        self.envelope.bytes().len()
    }

    pub fn is_empty(&self) -> bool {
        self.envelope.bytes().is_empty()
    }

    /// The input's tokens, estimated at four bytes of text a token, for targets that report
    /// none (Gemini's API does not).
    pub fn estimated_tokens(&self) -> u64 {
        match &self.input {
            Input::Texts(texts) => texts.iter().map(|t| (t.len() as u64).div_ceil(4)).sum(),
            Input::Tokens(_) => 0,
        }
    }
}

fn parse_input(input: &Value) -> Result<Input, Error> {
    let invalid = |message: &str| Error::invalid(message.to_owned(), Some("input"));
    let texts = match input {
        Value::String(text) => vec![text.clone()],
        Value::Array(items) if items.is_empty() => {
            return Err(invalid("'input' must not be empty."));
        }
        Value::Array(items) if items.len() > MAX_INPUTS => {
            return Err(invalid("'input' may hold at most 2048 items."));
        }
        Value::Array(items) if items.iter().all(Value::is_string) => items
            .iter()
            .filter_map(|i| i.as_str().map(str::to_owned))
            .collect(),
        Value::Array(items) if items.iter().all(Value::is_u64) => return Ok(Input::Tokens(1)),
        Value::Array(items)
            if items.iter().all(|i| {
                i.as_array()
                    .is_some_and(|t| !t.is_empty() && t.iter().all(Value::is_u64))
            }) =>
        {
            return Ok(Input::Tokens(items.len()));
        }
        _ => {
            return Err(invalid(
                "'input' must be a string, an array of strings, or token arrays.",
            ));
        }
    };
    if texts.iter().any(String::is_empty) {
        return Err(invalid("'input' must not hold an empty string."));
    }
    Ok(Input::Texts(texts))
}

/// OpenAI's list answer for `vectors`, in the encoding asked for.
pub fn list(vectors: &[Vec<f64>], encoding: Encoding, served: &str, prompt_tokens: u64) -> Bytes {
    let data: Vec<Value> = vectors
        .iter()
        .enumerate()
        .map(|(index, vector)| {
            let embedding = match encoding {
                Encoding::Base64 => json!(packed(vector)),
                Encoding::Float | Encoding::Unspecified => json!(vector),
            };
            json!({"object": "embedding", "index": index, "embedding": embedding})
        })
        .collect();
    let answer = json!({
        "object": "list",
        "data": data,
        "model": served,
        "usage": {"prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens},
    });
    Bytes::from(answer.to_string())
}

/// A vector as OpenAI sends it in base64: little-endian float32 bytes, standard base64.
pub fn packed(vector: &[f64]) -> String {
    let mut bytes = Vec::with_capacity(vector.len() * 4);
    for value in vector {
        #[allow(clippy::cast_possible_truncation)]
        bytes.extend_from_slice(&(*value as f32).to_le_bytes());
    }
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Result<EmbeddingsRequest, Error> {
        EmbeddingsRequest::parse(Bytes::from(json.to_owned()))
    }

    #[test]
    fn inputs_encodings_and_dimensions_are_read_and_checked() {
        let one = parse(r#"{"model":"m","input":"hi"}"#).unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(one.input, Input::Texts(vec!["hi".into()]));
        assert_eq!(one.encoding, Encoding::Unspecified);
        let batch =
            parse(r#"{"model":"m","input":["a","b"],"encoding_format":"base64","dimensions":8}"#)
                .unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(batch.input, Input::Texts(vec!["a".into(), "b".into()]));
        assert_eq!(
            (batch.encoding, batch.dimensions),
            (Encoding::Base64, Some(8))
        );
        let tokens =
            parse(r#"{"model":"m","input":[[1,2],[3]]}"#).unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(tokens.input, Input::Tokens(2));
        for (json, param) in [
            (r#"{"input":"x"}"#, "model"),
            (r#"{"model":"m"}"#, "input"),
            (r#"{"model":"m","input":[]}"#, "input"),
            (r#"{"model":"m","input":[""]}"#, "input"),
            (r#"{"model":"m","input":[1,"a"]}"#, "input"),
            (
                r#"{"model":"m","input":"x","encoding_format":"int8"}"#,
                "encoding_format",
            ),
            (r#"{"model":"m","input":"x","dimensions":0}"#, "dimensions"),
        ] {
            match parse(json) {
                Err(Error::InvalidRequest { param: Some(p), .. }) => assert_eq!(p, param, "{json}"),
                other => unreachable!("{json}: {other:?}"),
            }
        }
    }

    #[test]
    fn base64_is_little_endian_float32_as_openai_packs_it() {
        // 1.0f32 = 0x3f800000, -2.0 = 0xc0000000, little-endian.
        let packed = packed(&[1.0, -2.0]);
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(&packed)
            .unwrap_or_default();
        assert_eq!(bytes, [0, 0, 0x80, 0x3f, 0, 0, 0, 0xc0]);
        let answer: Value = serde_json::from_slice(&list(&[vec![0.5]], Encoding::Float, "m", 3))
            .unwrap_or_default();
        assert_eq!(answer["data"][0]["embedding"], json!([0.5]));
        assert_eq!(answer["usage"]["prompt_tokens"], 3);
    }
}
