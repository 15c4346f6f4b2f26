//! The Responses API to a target that speaks it (`responses = "native"`): the request goes on
//! byte for byte with only `model` replaced; the answer, and every event of a stream, come back
//! unchanged but for the response's `model`. Usage, the upstream's model and the end are read
//! on the way, borrowed from the bytes.

use std::borrow::Cow;
use std::sync::Arc;

use bytes::Bytes;
use serde::Deserialize;
use serde_json::value::RawValue;

use super::OpenAi;
use super::response::embedded_error;
use crate::completion::{Chunk, Tokens, Whole};
use crate::error::Error;
use crate::openai::raw::{is_empty_value, json_string, model_name, splice};
use crate::openai::responses::ResponsesRequest;
use crate::providers::framing::sse::Event;
use crate::providers::framing::{EventDecoder, Flow};
use crate::transport::{Upstream, UpstreamRequest};

/// A response object, or an event carrying one: what the gateway reads of it.
#[derive(Deserialize)]
struct ResponseView<'a> {
    #[serde(rename = "type", borrow)]
    kind: Option<Cow<'a, str>>,
    #[serde(borrow)]
    model: Option<&'a RawValue>,
    usage: Option<UsageView>,
    #[serde(borrow)]
    response: Option<Box<ResponseView<'a>>>,
    #[serde(borrow)]
    error: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct UsageView {
    input_tokens: Option<u64>,
    output_tokens: Option<u64>,
    total_tokens: Option<u64>,
    input_tokens_details: Option<InputDetails>,
    output_tokens_details: Option<OutputDetails>,
}

#[derive(Deserialize)]
struct InputDetails {
    cached_tokens: Option<u64>,
    cache_write_tokens: Option<u64>,
}

#[derive(Deserialize)]
struct OutputDetails {
    reasoning_tokens: Option<u64>,
}

impl UsageView {
    fn tokens(&self) -> Tokens {
        let prompt = self.input_tokens.unwrap_or(0);
        let completion = self.output_tokens.unwrap_or(0);
        let input = self.input_tokens_details.as_ref();
        Tokens {
            prompt,
            completion,
            total: self.total_tokens.unwrap_or(prompt + completion),
            cached_read: input.and_then(|d| d.cached_tokens).unwrap_or(0),
            cache_write: input.and_then(|d| d.cache_write_tokens).unwrap_or(0),
            reasoning: self
                .output_tokens_details
                .as_ref()
                .and_then(|d| d.reasoning_tokens)
                .unwrap_or(0),
        }
    }
}

impl OpenAi {
    /// `request` for `model`, as the client sent it.
    pub fn respond(
        &self,
        request: &ResponsesRequest,
        model: &str,
    ) -> Result<UpstreamRequest, Error> {
        Ok(UpstreamRequest {
            url: self.endpoint.url(model, super::RESPONSES)?,
            headers: self.headers.clone(),
            body: request.body_with_model(model),
        })
    }

    /// A whole response with only `model` replaced by `served`.
    pub fn responded(&self, body: &[u8], served: &str) -> Result<Whole, Error> {
        let upstream = &self.upstream;
        let malformed = |what: &str| Error::UpstreamFailed {
            provider: upstream.provider.clone(),
            detail: format!("sent {what}"),
        };
        let text = std::str::from_utf8(body)
            .map_err(|_| malformed("a response body that is not UTF-8"))?;
        let view = serde_json::from_str::<ResponseView<'_>>(text)
            .map_err(|_| malformed("a response that is not a JSON object"))?;
        if view.kind.is_none()
            && view.error.is_some_and(|e| !is_empty_value(e))
            && view.model.is_none()
        {
            return Err(embedded_error(upstream, text));
        }
        let json = match view.model {
            Some(model) => splice(text, model, &json_string(served))
                .ok_or_else(|| malformed("a response whose model cannot be replaced"))?,
            None => text.to_owned(),
        };
        Ok(Whole {
            json: Bytes::from(json),
            tokens: view.usage.as_ref().map(UsageView::tokens),
            finish: None,
            model: view.model.and_then(model_name),
        })
    }

    pub fn responses_state(&self, served: &str) -> ResponsesState {
        ResponsesState {
            upstream: self.upstream.clone(),
            served: json_string(served),
            ended: false,
        }
    }
}

/// One relayed Responses stream.
pub struct ResponsesState {
    upstream: Arc<Upstream>,
    served: String,
    ended: bool,
}

/// The events that end a response.
const TERMINAL: [&str; 3] = [
    "response.completed",
    "response.incomplete",
    "response.failed",
];

impl EventDecoder for ResponsesState {
    fn map(&mut self, event: &Event, out: &mut Vec<Chunk>) -> Result<Flow, Error> {
        let Some(data) = event.payload().map(str::trim).filter(|d| !d.is_empty()) else {
            return Ok(Flow::Continue);
        };
        let view =
            serde_json::from_str::<ResponseView<'_>>(data).map_err(|e| Error::UpstreamFailed {
                provider: self.upstream.provider.clone(),
                detail: format!(
                    "sent a stream event that is not a Responses event ({e}): {}",
                    self.upstream.quote(data)
                ),
            })?;
        let kind = view
            .kind
            .as_deref()
            .or(event.event.as_deref())
            .unwrap_or("unknown")
            .to_owned();
        // The response being made is no output yet, nor OpenAI's `keepalive` (sent while a
        // model thinks a long time): held back until real output, so a fallback before it never
        // shows two `response.created`.
        let output = !matches!(
            kind.as_str(),
            "response.created" | "response.in_progress" | "response.queued" | "keepalive"
        );
        let mut chunk = Chunk::named(data.to_owned(), Cow::Owned(kind.clone()), output);
        if let Some(response) = &view.response {
            if let Some(model) = response.model {
                chunk.json =
                    splice(data, model, &self.served).ok_or_else(|| Error::UpstreamFailed {
                        provider: self.upstream.provider.clone(),
                        detail: "sent an event whose model cannot be replaced".into(),
                    })?;
                chunk.model = model_name(model);
            }
            chunk.usage = response.usage.as_ref().map(UsageView::tokens);
        }
        let terminal = TERMINAL.contains(&kind.as_str());
        out.push(chunk);
        if terminal {
            self.ended = true;
            return Ok(Flow::Done);
        }
        Ok(Flow::Continue)
    }

    /// Only a terminal event ends a response: anything else is a truncation.
    fn end(&mut self, _: &mut Vec<Chunk>) -> Result<(), Error> {
        if self.ended {
            return Ok(());
        }
        Err(Error::UpstreamFailed {
            provider: self.upstream.provider.clone(),
            detail: "the stream ended before the response was complete (no response.completed)"
                .into(),
        })
    }
}
