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
                | ProviderKind::Anthropic { .. }
                | ProviderKind::Azure { .. }
                | ProviderKind::Echo => None,
            },
        });
        let (codec, key_header) = match &config.kind {
            ProviderKind::Openai => (
                Codec::OpenAi(openai::OpenAi::new(config, upstream)?),
                KeyHeader::Bearer,
            ),
            ProviderKind::Anthropic { default_max_tokens } => (
                Codec::Anthropic(anthropic::Anthropic::new(
                    config,
                    *default_max_tokens,
                    upstream,
                )?),
                KeyHeader::Named("x-api-key"),
            ),
            ProviderKind::Azure { api_version } => (
                Codec::Azure(azure::codec(config, api_version.as_deref(), upstream)?),
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
        let Some(exchange) = self.exchange(request, model, served)? else {
            return echo::complete(request, served).map(|completion| Answer {
                completion,
                dropped_params: Vec::new(),
            });
        };
        let key = self.keys.header(key).clone();
        exchange.send(http, key).await
    }

    /// `request` encoded for this provider, with the decoders its answer goes through; `None`
    /// for the echo provider, which has no wire. Nothing is sent: `Exchange::send` does that,
    /// and the fuzz targets drive the decoders without a network.
    pub fn exchange<'a>(
        &'a self,
        request: &'a ChatRequest,
        model: &str,
        served: &'a str,
    ) -> Result<Option<Exchange<'a>>, Error> {
        let (encoded, wire) = match &self.codec {
            Codec::Echo => return Ok(None),
            Codec::OpenAi(codec) | Codec::Azure(codec) => (
                Encoded {
                    request: codec.encode(request, model)?,
                    dropped: Vec::new(),
                },
                Wire::OpenAi(codec),
            ),
            Codec::Gemini(codec) => (codec.encode(request, model)?, Wire::Gemini(codec)),
            Codec::Anthropic(codec) => {
                let (encoded, shape) = codec.encode(request, model)?;
                (encoded, Wire::Anthropic(codec, shape))
            }
        };
        Ok(Some(Exchange {
            encoded,
            decoders: Decoders {
                wire,
                request,
                served,
            },
        }))
    }
}

/// One call to a provider, encoded and not yet sent, and how its answer is decoded.
pub struct Exchange<'a> {
    pub encoded: Encoded,
    pub decoders: Decoders<'a>,
}

/// How one call's answer is read back, whole or streamed.
pub struct Decoders<'a> {
    wire: Wire<'a>,
    request: &'a ChatRequest,
    served: &'a str,
}

/// A codec that goes over the network, with what its answer must be read back into.
enum Wire<'a> {
    OpenAi(&'a openai::OpenAi),
    Gemini(&'a gemini::Gemini),
    /// The shape of the Anthropic answer asked for (a forced tool, a JSON answer).
    Anthropic(&'a anthropic::Anthropic, anthropic::Shape),
}

impl Decoders<'_> {
    /// A whole (non-stream) answer body as an OpenAI `chat.completion`.
    pub fn whole(&self, body: &[u8]) -> Result<Bytes, Error> {
        match &self.wire {
            Wire::OpenAi(codec) => codec.decode(body, self.served),
            Wire::Gemini(codec) => codec.decode(body, self.served),
            Wire::Anthropic(codec, shape) => codec.decode(body, self.served, shape),
        }
    }

    /// The decoder of this call's stream, event by event.
    pub fn stream(&self) -> StreamDecoder {
        let request = self.request;
        match &self.wire {
            Wire::OpenAi(codec) => {
                let strip_usage = request.count_usage && !request.include_usage;
                StreamDecoder::OpenAi(codec.stream_state(self.served, strip_usage))
            }
            Wire::Gemini(codec) => {
                StreamDecoder::Gemini(codec.stream_state(self.served, request.wants_usage()))
            }
            Wire::Anthropic(codec, shape) => StreamDecoder::Anthropic(codec.stream_state(
                self.served,
                request.wants_usage(),
                shape,
            )),
        }
    }

    fn upstream(&self) -> &Arc<Upstream> {
        match &self.wire {
            Wire::OpenAi(codec) => codec.upstream(),
            Wire::Gemini(codec) => codec.upstream(),
            Wire::Anthropic(codec, _) => codec.upstream(),
        }
    }
}

impl Exchange<'_> {
    /// Sends the call, then decodes a whole body or wraps the response in the stream decoder.
    async fn send(
        self,
        http: &transport::Http,
        key: Option<(HeaderName, HeaderValue)>,
    ) -> Result<Answer, Error> {
        let Self {
            encoded: Encoded {
                mut request,
                dropped,
            },
            decoders,
        } = self;
        let upstream = decoders.upstream();
        if let Some((name, value)) = key {
            request.headers.insert(name, value);
        }
        let response = transport::send(http, upstream, request).await?;
        let completion = if decoders.request.stream {
            Completion::Stream(chunk_stream(response, decoders.stream(), upstream.clone()))
        } else {
            let body = transport::read_body(response, upstream).await?;
            // What the codec quoted from the answer passes the same redaction as every other
            // upstream text.
            Completion::Whole(
                decoders
                    .whole(&body)
                    .map_err(|e| upstream.redact_error(e))?,
            )
        };
        Ok(Answer {
            completion,
            dropped_params: dropped,
        })
    }
}
