//! Providers: one codec per kind over the shared transport. The `match`es on the kind of
//! provider live in this file; adding a kind touches nothing outside `providers/` and config.

mod anthropic;
mod azure;
mod echo;
mod gemini;
mod headers;
mod openai;
mod params;

use std::sync::Arc;

use crate::stream::sse::Event;
use axum::http::{HeaderName, HeaderValue};
use bytes::Bytes;

use crate::completion::{Answer, Chunk, Completion};
use crate::config::{ProviderConfig, ProviderKind, Secret};
use crate::error::Error;
use crate::openai::request::ChatRequest;
use crate::stream::upstream::chunk_stream;
use crate::transport::{self, Upstream, UpstreamRequest};
use headers::KeyHeader;
pub use headers::KeyRing;
pub use openai::total_tokens;

/// A configured provider: its codec, and the keys it may send.
pub struct Provider {
    codec: Codec,
    keys: KeyRing,
}

enum Codec {
    OpenAi(openai::OpenAi),
    Anthropic(anthropic::Anthropic),
    Azure(openai::OpenAi),
    Gemini(gemini::Gemini),
    Echo,
}

/// What a stream decoder says after an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    Continue,
    /// The upstream declared the stream complete.
    Done,
}

/// The per-stream state machine of a provider's SSE format.
pub enum StreamDecoder {
    OpenAi(openai::StreamState),
    Gemini(gemini::StreamState),
    Anthropic(anthropic::StreamState),
}

impl StreamDecoder {
    /// Maps one upstream event to zero or more chunks, pushed onto `out`.
    pub fn map(&mut self, event: &Event, out: &mut Vec<Chunk>) -> Result<Flow, Error> {
        match self {
            Self::OpenAi(state) => state.map(event, out),
            Self::Gemini(state) => state.map(event, out),
            Self::Anthropic(state) => state.map(event, out),
        }
    }

    /// The upstream closed the stream: a clean end (perhaps with final chunks), or a truncation.
    pub fn end(&mut self, out: &mut Vec<Chunk>) -> Result<(), Error> {
        match self {
            Self::OpenAi(state) => state.end(),
            Self::Gemini(state) => state.end(out),
            Self::Anthropic(state) => state.end(),
        }
    }
}

/// A request as a codec encoded it, and the parameters it dropped.
pub struct Encoded {
    pub request: UpstreamRequest,
    pub dropped: Vec<String>,
}

impl Provider {
    pub fn new(config: &ProviderConfig) -> Result<Self, Error> {
        let header_secrets = config
            .headers
            .iter()
            .filter_map(|(_, value)| value.to_str().ok())
            .filter(|value| value.len() >= 8)
            .map(Secret::new);
        let upstream = Arc::new(Upstream {
            provider: config.name.clone(),
            secrets: config
                .api_keys
                .iter()
                .cloned()
                .chain(header_secrets)
                .collect(),
            bounds: config.bounds,
            status_hook: match config.kind {
                ProviderKind::Gemini => Some(gemini::status_hook),
                ProviderKind::Openai
                | ProviderKind::Anthropic
                | ProviderKind::Azure
                | ProviderKind::Echo => None,
            },
        });
        let (codec, key_header) = match config.kind {
            ProviderKind::Openai => (
                Codec::OpenAi(openai::OpenAi::new(config, upstream)?),
                KeyHeader::Bearer,
            ),
            ProviderKind::Anthropic => (
                Codec::Anthropic(anthropic::Anthropic::new(config, upstream)?),
                KeyHeader::Named("x-api-key"),
            ),
            ProviderKind::Azure => (
                Codec::Azure(azure::codec(config, upstream)?),
                KeyHeader::Named("api-key"),
            ),
            ProviderKind::Gemini => (
                Codec::Gemini(gemini::Gemini::new(config, upstream)?),
                KeyHeader::Named("x-goog-api-key"),
            ),
            ProviderKind::Echo => (Codec::Echo, KeyHeader::Bearer),
        };
        Ok(Self {
            codec,
            keys: KeyRing::new(config, key_header)?,
        })
    }

    pub fn keys(&self) -> &KeyRing {
        &self.keys
    }

    /// Serves `request` with the upstream model `model`; `served` is the routing key reported
    /// back to the client as `model`.
    pub async fn complete(
        &self,
        http: &transport::Http,
        request: &ChatRequest,
        model: &str,
        served: &str,
        key: usize,
    ) -> Result<Answer, Error> {
        let key = self.keys.header(key);
        match &self.codec {
            Codec::Echo => echo::complete(request, served).map(|completion| Answer {
                completion,
                dropped_params: Vec::new(),
            }),
            Codec::OpenAi(codec) | Codec::Azure(codec) => {
                let encoded = Encoded {
                    request: codec.encode(request, model)?,
                    dropped: Vec::new(),
                };
                exchange(
                    http,
                    codec.upstream(),
                    key.clone(),
                    encoded,
                    request.stream,
                    |body| codec.decode(body, served),
                    || {
                        let strip_usage = request.count_usage && !request.include_usage;
                        StreamDecoder::OpenAi(codec.stream_state(served, strip_usage))
                    },
                )
                .await
            }
            Codec::Gemini(codec) => {
                exchange(
                    http,
                    codec.upstream(),
                    key.clone(),
                    codec.encode(request, model)?,
                    request.stream,
                    |body| codec.decode(body, served),
                    || StreamDecoder::Gemini(codec.stream_state(served, request.wants_usage())),
                )
                .await
            }
            Codec::Anthropic(codec) => {
                let (encoded, shape) = codec.encode(request, model)?;
                exchange(
                    http,
                    codec.upstream(),
                    key.clone(),
                    encoded,
                    request.stream,
                    |body| codec.decode(body, served, &shape),
                    || {
                        StreamDecoder::Anthropic(codec.stream_state(
                            served,
                            request.wants_usage(),
                            &shape,
                        ))
                    },
                )
                .await
            }
        }
    }
}

/// The network part every remote provider shares: send, then decode a whole body or wrap the
/// response in the provider's stream decoder.
async fn exchange(
    http: &transport::Http,
    upstream: &Arc<Upstream>,
    key: Option<(HeaderName, HeaderValue)>,
    mut encoded: Encoded,
    stream: bool,
    decode: impl FnOnce(&[u8]) -> Result<Bytes, Error>,
    decoder: impl FnOnce() -> StreamDecoder,
) -> Result<Answer, Error> {
    if let Some((name, value)) = key {
        encoded.request.headers.insert(name, value);
    }
    let response = transport::send(http, upstream, encoded.request).await?;
    let completion = if stream {
        Completion::Stream(chunk_stream(response, decoder(), upstream.clone()))
    } else {
        let body = transport::read_body(response, upstream).await?;
        // What the codec quoted from the answer passes the same redaction as every other
        // upstream text.
        Completion::Whole(decode(&body).map_err(|e| upstream.redact_error(e))?)
    };
    Ok(Answer {
        completion,
        dropped_params: encoded.dropped,
    })
}
