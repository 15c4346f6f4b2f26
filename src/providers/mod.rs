//! Providers: one codec per kind over the shared transport. The one `match` on the kind of
//! provider lives in this file; adding a kind touches nothing outside `providers/`.

mod echo;
mod openai;

use std::sync::Arc;

use sse_stream::Sse;

use crate::completion::{Chunk, Completion};
use crate::config::{ProviderConfig, ProviderKind, Secret};
use crate::error::Error;
use crate::openai::request::ChatRequest;
use crate::stream::upstream::chunk_stream;
use crate::transport::{self, Upstream};

pub enum Provider {
    OpenAi(openai::OpenAi),
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
}

impl StreamDecoder {
    /// Maps one upstream event to zero or more chunks, pushed onto `out`.
    pub fn map(&mut self, event: &Sse, out: &mut Vec<Chunk>) -> Result<Flow, Error> {
        match self {
            Self::OpenAi(state) => state.map(event, out),
        }
    }

    /// The upstream closed the stream: a clean end, or a truncation.
    pub fn end(&mut self, _out: &mut Vec<Chunk>) -> Result<(), Error> {
        match self {
            Self::OpenAi(state) => state.end(),
        }
    }
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
                .api_key
                .iter()
                .cloned()
                .chain(header_secrets)
                .collect(),
            timeouts: config.timeouts,
        });
        Ok(match config.kind {
            ProviderKind::Openai => Self::OpenAi(openai::OpenAi::new(config, upstream)?),
            ProviderKind::Echo => Self::Echo,
        })
    }

    /// Serves `request` with the upstream model `model`; `served` is the routing key reported
    /// back to the client as `model`.
    pub async fn complete(
        &self,
        http: &reqwest::Client,
        request: &ChatRequest,
        model: &str,
        served: &str,
    ) -> Result<Completion, Error> {
        let codec = match self {
            Self::Echo => return echo::complete(request, served),
            Self::OpenAi(codec) => codec,
        };
        let upstream = codec.upstream();
        let response = transport::send(http, upstream, codec.encode(request, model)).await?;
        if request.stream {
            let decoder = StreamDecoder::OpenAi(codec.stream_state(served));
            return Ok(Completion::Stream(chunk_stream(
                response,
                decoder,
                upstream.clone(),
            )));
        }
        let body = transport::read_body(response, upstream).await?;
        codec.decode(&body, served).map(Completion::Whole)
    }
}
