//! Embeddings from Gemini's API: `batchEmbedContents`, one request entry per input text,
//! `dimensions` as `outputDimensionality`; the answer written as OpenAI's list (floats, or
//! base64 when asked). Gemini reports no token usage: the input's tokens are estimated.

use bytes::Bytes;
use serde::Deserialize;
use serde_json::json;

use super::Gemini;
use crate::completion::{Tokens, Whole};
use crate::error::Error;
use crate::openai::embeddings::{EmbeddingsRequest, Input, list};
use crate::transport::UpstreamRequest;

#[derive(Deserialize)]
struct Answer {
    #[serde(default)]
    embeddings: Vec<Values>,
    #[serde(default)]
    error: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct Values {
    #[serde(default)]
    values: Vec<f64>,
}

impl Gemini {
    pub fn embed(
        &self,
        request: &EmbeddingsRequest,
        model: &str,
    ) -> Result<UpstreamRequest, Error> {
        let Input::Texts(texts) = &request.input else {
            return Err(Error::invalid(
                format!(
                    "Provider '{}' (gemini) takes text to embed, not token ids.",
                    self.upstream.provider
                ),
                Some("input"),
            ));
        };
        let resource = self.resource(model)?;
        let requests: Vec<serde_json::Value> = texts
            .iter()
            .map(|text| {
                let mut entry = json!({"model": resource, "content": {"parts": [{"text": text}]}});
                if let Some(dimensions) = request.dimensions {
                    entry["outputDimensionality"] = json!(dimensions);
                }
                entry
            })
            .collect();
        let body = serde_json::to_vec(&json!({"requests": requests}))
            .map_err(|e| Error::Internal(format!("cannot serialize a Gemini request: {e}")))?;
        Ok(UpstreamRequest {
            url: crate::transport::parse_url(&format!(
                "{}/{resource}:batchEmbedContents",
                self.base_url
            ))?,
            headers: self.headers.clone(),
            body: Bytes::from(body),
        })
    }

    /// Gemini's vectors as OpenAI's list for `request`, `model` the key that served.
    pub fn embedded(
        &self,
        body: &[u8],
        request: &EmbeddingsRequest,
        served: &str,
    ) -> Result<Whole, Error> {
        let malformed = |what: String| Error::UpstreamFailed {
            provider: self.upstream.provider.clone(),
            detail: what,
        };
        let text = std::str::from_utf8(body)
            .map_err(|_| malformed("sent a response body that is not UTF-8".into()))?;
        let answer: Answer = serde_json::from_str(text).map_err(|e| {
            malformed(format!(
                "sent an answer that is not Gemini's embeddings: {e}"
            ))
        })?;
        if let Some(error) = answer.error.as_ref().filter(|e| !e.is_null()) {
            return Err(super::response::embedded_error(&self.upstream, text, error));
        }
        let vectors: Vec<Vec<f64>> = answer.embeddings.into_iter().map(|v| v.values).collect();
        let asked = match &request.input {
            Input::Texts(texts) => texts.len(),
            Input::Tokens(n) => *n,
        };
        if vectors.len() != asked {
            return Err(malformed(format!(
                "sent {} embeddings for {asked} inputs",
                vectors.len()
            )));
        }
        let estimate = request.estimated_tokens();
        Ok(Whole {
            json: list(&vectors, request.encoding, served, estimate),
            tokens: Some(Tokens {
                prompt: estimate,
                total: estimate,
                ..Tokens::default()
            }),
            finish: None,
            model: None,
        })
    }
}
