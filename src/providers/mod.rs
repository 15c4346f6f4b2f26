//! Providers: one folder per kind, each a codec over the shared transport (encode a call into
//! an upstream request; decode a whole answer; a stream decoder built for the call), with its
//! stream framing (`framing`) and its authentication (`auth`) as explicit parts applied once,
//! just before sending. The `match`es on the kind live in this file: adding a kind is its own
//! folder, a config variant and an arm in each match here.

mod anthropic;
mod auth;
mod azure;
mod echo;
pub mod framing;
mod gemini;
mod openai;
mod params;
#[cfg(test)]
mod testkit;

use std::sync::Arc;

use axum::http::{HeaderMap, HeaderValue};

use crate::anthropic::request::MessagesRequest;
use crate::completion::{Answer, Chunk, Completion, UsageWanted, Whole};
use crate::config::{ProviderConfig, ProviderKind, Secret, UnsupportedParams};
use crate::error::Error;
use crate::openai::embeddings::EmbeddingsRequest;
use crate::openai::request::ChatRequest;
use crate::openai::responses::ResponsesRequest;
use crate::transport::{self, Upstream, UpstreamRequest};
pub use auth::KeyRing;
use auth::{Auth, KeyHeader};
use framing::sse::Event;
use framing::{EventDecoder, Flow, Framing};

/// A configured provider: its codec, how its streams are framed, how it authenticates.
pub struct Provider {
    codec: Codec,
    framing: Framing,
    auth: Auth,
    /// Who it is in OpenTelemetry's GenAI conventions (`gen_ai.provider.name`).
    system: &'static str,
    /// Its server's host and port, for spans (`server.address`, `server.port`).
    server: Option<(Arc<str>, u16)>,
    name: String,
    /// What it does with parameters it cannot honour.
    policy: UnsupportedParams,
    /// It serves the Responses API itself.
    responses_native: bool,
    /// Translated conversations carry their reasoning back (`send_reasoning_back`).
    reasoning_back: bool,
}

enum Codec {
    OpenAi(openai::OpenAi),
    Anthropic(anthropic::Anthropic),
    Azure(openai::OpenAi),
    Gemini(gemini::Gemini),
    Echo,
}

/// The per-stream state machine of a provider's format.
pub enum StreamDecoder {
    OpenAi(openai::StreamState),
    Gemini(gemini::StreamState),
    Anthropic(anthropic::StreamState),
    /// Anthropic's events relayed to the Messages surface as they are.
    AnthropicRelay(anthropic::RelayState),
    /// A Responses stream relayed as it is.
    Responses(openai::ResponsesState),
}

impl EventDecoder for StreamDecoder {
    fn map(&mut self, event: &Event, out: &mut Vec<Chunk>) -> Result<Flow, Error> {
        match self {
            Self::OpenAi(state) => state.map(event, out),
            Self::Gemini(state) => state.map(event, out),
            Self::Anthropic(state) => state.map(event, out),
            Self::AnthropicRelay(state) => state.map(event, out),
            Self::Responses(state) => state.map(event, out),
        }
    }

    fn end(&mut self, out: &mut Vec<Chunk>) -> Result<(), Error> {
        match self {
            Self::OpenAi(state) => state.end(out),
            Self::Gemini(state) => state.end(out),
            Self::Anthropic(state) => state.end(out),
            Self::AnthropicRelay(state) => state.end(out),
            Self::Responses(state) => state.end(out),
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
        let codec = match &config.kind {
            ProviderKind::Openai => Codec::OpenAi(openai::OpenAi::new(config, upstream)?),
            ProviderKind::Anthropic { default_max_tokens } => Codec::Anthropic(
                anthropic::Anthropic::new(config, *default_max_tokens, upstream)?,
            ),
            ProviderKind::Azure { api_version } => {
                Codec::Azure(azure::codec(config, api_version.as_deref(), upstream)?)
            }
            ProviderKind::Gemini => Codec::Gemini(gemini::Gemini::new(config, upstream)?),
            ProviderKind::Echo => Codec::Echo,
        };
        let server = reqwest::Url::parse(&config.base_url)
            .ok()
            .and_then(|url| Some((Arc::from(url.host_str()?), url.port_or_known_default()?)));
        Ok(Self {
            codec,
            framing: Framing::Sse,
            auth: authentication(config)?,
            system: system(config, server.as_ref().map(|(host, _)| &**host)),
            server,
            name: config.name.clone(),
            policy: config.unsupported_params,
            responses_native: config.responses_native,
            reasoning_back: config.send_reasoning_back,
        })
    }

    /// Who it is in OpenTelemetry's GenAI conventions (`gen_ai.provider.name`).
    pub fn system(&self) -> &'static str {
        self.system
    }

    /// Its server's host and port.
    pub fn server(&self) -> Option<(Arc<str>, u16)> {
        self.server.clone()
    }

    /// The provider's API keys, for routing to rotate and cool down.
    pub fn keys(&self) -> &KeyRing {
        self.auth.keys()
    }

    /// Serves `request` with the upstream model `model` and API key `api_key`; `served` is the
    /// routing key reported back to the client as `model`.
    /// `traceparent`, when given, goes with it: the provider's own tracing joins the request's
    /// trace.
    #[allow(clippy::too_many_arguments)]
    pub async fn complete(
        &self,
        http: &transport::Http,
        request: &ChatRequest,
        usage: UsageWanted,
        model: &str,
        served: &str,
        api_key: usize,
        traceparent: Option<&HeaderValue>,
    ) -> Result<Answer, Error> {
        let Some(exchange) = self.exchange(request, usage, model, served)? else {
            return echo::complete(request, usage, served).map(|completion| Answer {
                completion,
                dropped_params: Vec::new(),
            });
        };
        self.send(http, exchange, api_key, traceparent).await
    }

    /// Parameters of another API that this provider cannot honour (a translation's losses), by
    /// its `unsupported_params` policy: returned to be named as dropped, or a 400.
    pub fn cannot_honour(&self, params: Vec<String>) -> Result<Vec<String>, Error> {
        params::decide(params, &self.name, self.kind_name(), self.policy)
    }

    /// Whether it speaks Anthropic's Messages API, so the Messages surface relays to it
    /// untranslated (`messages`); other kinds are served that surface through `complete`.
    pub fn speaks_messages(&self) -> bool {
        matches!(self.codec, Codec::Anthropic(_))
    }

    /// Serves a Messages `request` (the Anthropic surface's) with the upstream model `model`:
    /// relayed untranslated to an Anthropic upstream, with the client's `anthropic-version` and
    /// `anthropic-beta` headers (in `client`). A provider of another kind refuses it (see
    /// `speaks_messages`).
    #[allow(clippy::too_many_arguments)]
    pub async fn messages(
        &self,
        http: &transport::Http,
        request: &MessagesRequest,
        client: &HeaderMap,
        (model, served): (&str, &str),
        api_key: usize,
        traceparent: Option<&HeaderValue>,
    ) -> Result<Answer, Error> {
        let Codec::Anthropic(codec) = &self.codec else {
            return Err(Error::invalid(
                format!(
                    "The model '{served}' is served by a provider of the {} kind, which does not speak the Messages API.",
                    self.kind_name()
                ),
                Some("model"),
            ));
        };
        let exchange = Exchange {
            encoded: Encoded {
                request: codec.relay(request, model, client),
                dropped: Vec::new(),
            },
            decoders: Decoders {
                wire: Wire::AnthropicRelay(codec),
                stream: request.stream,
                usage: UsageWanted::default(),
                served,
            },
        };
        self.send(http, exchange, api_key, traceparent).await
    }

    /// Embeds `request`'s input with the upstream model `model`: an OpenAI-compatible upstream
    /// (openai, azure) gets the request byte for byte but for `model`; Gemini its own batch
    /// request, its answer written as OpenAI's list; echo makes deterministic vectors; a kind
    /// without embeddings (anthropic) is a 400 naming the provider.
    pub async fn embed(
        &self,
        http: &transport::Http,
        request: &EmbeddingsRequest,
        (model, served): (&str, &str),
        api_key: usize,
        traceparent: Option<&HeaderValue>,
    ) -> Result<Whole, Error> {
        let (upstream, outgoing) = match &self.codec {
            Codec::OpenAi(codec) | Codec::Azure(codec) => {
                (codec.upstream(), codec.embed(request, model)?)
            }
            Codec::Gemini(codec) => (codec.upstream(), codec.embed(request, model)?),
            Codec::Echo => return echo::embed(request, served),
            Codec::Anthropic(_) => {
                return Err(Error::invalid(
                    format!(
                        "Provider '{}' (anthropic) has no embeddings; route '{}' to an openai, azure or gemini provider.",
                        self.name, request.model
                    ),
                    Some("model"),
                ));
            }
        };
        let mut outgoing = outgoing;
        if let Some(traceparent) = traceparent {
            outgoing.headers.insert("traceparent", traceparent.clone());
        }
        self.auth.apply(&mut outgoing, api_key);
        let response = transport::send(http, upstream, outgoing).await?;
        let body = transport::read_body(response, upstream).await?;
        match &self.codec {
            Codec::Gemini(codec) => codec.embedded(&body, request, served),
            Codec::OpenAi(codec) | Codec::Azure(codec) => codec.embedded(&body, served),
            Codec::Echo | Codec::Anthropic(_) => {
                Err(Error::Internal("embeddings of no kind".into()))
            }
        }
        .map_err(|e| upstream.redact_error(e))
    }

    /// Whether it serves OpenAI's Responses API itself (`responses = "native"`, openai and
    /// azure kinds), so the Responses surface relays to it untranslated (`responses`); others
    /// are served that surface through `complete`.
    pub fn speaks_responses(&self) -> bool {
        matches!(self.codec, Codec::OpenAi(_) | Codec::Azure(_)) && self.responses_native
    }

    /// Whether a conversation translated for it carries each assistant turn's reasoning back as
    /// `reasoning_content` (`send_reasoning_back`, which only openai and azure kinds take).
    pub fn wants_reasoning_back(&self) -> bool {
        self.reasoning_back
    }

    /// Serves a Responses `request` with the upstream model `model`, relayed untranslated to a
    /// provider that serves the API itself. Any other refuses it (see `speaks_responses`).
    pub async fn responses(
        &self,
        http: &transport::Http,
        request: &ResponsesRequest,
        (model, served): (&str, &str),
        api_key: usize,
        traceparent: Option<&HeaderValue>,
    ) -> Result<Answer, Error> {
        let (Codec::OpenAi(codec) | Codec::Azure(codec), true) =
            (&self.codec, self.responses_native)
        else {
            return Err(Error::invalid(
                format!(
                    "Provider '{}' ({}) does not serve the Responses API itself (responses = \"native\").",
                    self.name,
                    self.kind_name()
                ),
                Some("model"),
            ));
        };
        let exchange = Exchange {
            encoded: Encoded {
                request: codec.respond(request, model)?,
                dropped: Vec::new(),
            },
            decoders: Decoders {
                wire: Wire::Responses(codec),
                stream: request.stream,
                usage: UsageWanted::default(),
                served,
            },
        };
        self.send(http, exchange, api_key, traceparent).await
    }

    /// Authenticates `exchange` with API key `api_key`, tells the upstream its span, and sends it.
    async fn send(
        &self,
        http: &transport::Http,
        mut exchange: Exchange<'_>,
        api_key: usize,
        traceparent: Option<&HeaderValue>,
    ) -> Result<Answer, Error> {
        if let Some(traceparent) = traceparent {
            exchange
                .encoded
                .request
                .headers
                .insert("traceparent", traceparent.clone());
        }
        self.auth.apply(&mut exchange.encoded.request, api_key);
        exchange.send(http, self.framing).await
    }

    /// The kind, as the config names it.
    pub fn kind_name(&self) -> &'static str {
        match self.codec {
            Codec::OpenAi(_) => "openai",
            Codec::Anthropic(_) => "anthropic",
            Codec::Azure(_) => "azure",
            Codec::Gemini(_) => "gemini",
            Codec::Echo => "echo",
        }
    }

    /// `request` encoded for this provider, with the decoders its answer goes through; `None`
    /// for the echo provider, which has no wire. Nothing is sent and nothing authenticated:
    /// `complete` does that, and the fuzz targets drive the decoders without a network.
    pub fn exchange<'a>(
        &'a self,
        request: &'a ChatRequest,
        usage: UsageWanted,
        model: &str,
        served: &'a str,
    ) -> Result<Option<Exchange<'a>>, Error> {
        let (encoded, wire) = match &self.codec {
            Codec::Echo => return Ok(None),
            Codec::OpenAi(codec) | Codec::Azure(codec) => (
                Encoded {
                    request: codec.encode(request, model, usage)?,
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
                stream: request.stream,
                usage,
                served,
            },
        }))
    }
}

/// How a provider of `config`'s kind authenticates: its API keys, in the header it reads them
/// from. Gemini's goes in a header, never in the URL (`?key=` works too, and ends up in every
/// access log).
fn authentication(config: &ProviderConfig) -> Result<Auth, Error> {
    let header = match config.kind {
        ProviderKind::Openai | ProviderKind::Echo => KeyHeader::Bearer,
        ProviderKind::Anthropic { .. } => KeyHeader::Named("x-api-key"),
        ProviderKind::Azure { .. } => KeyHeader::Named("api-key"),
        ProviderKind::Gemini => KeyHeader::Named("x-goog-api-key"),
    };
    Ok(Auth::Header(KeyRing::new(config, header)?))
}

/// One call to a provider, encoded and not yet sent, and how its answer is decoded.
pub struct Exchange<'a> {
    pub encoded: Encoded,
    pub decoders: Decoders<'a>,
}

/// How one call's answer is read back, whole or streamed.
pub struct Decoders<'a> {
    wire: Wire<'a>,
    stream: bool,
    usage: UsageWanted,
    served: &'a str,
}

/// A codec that goes over the network, with what its answer must be read back into.
enum Wire<'a> {
    OpenAi(&'a openai::OpenAi),
    Gemini(&'a gemini::Gemini),
    /// The shape of the Anthropic answer asked for (a forced tool, a JSON answer).
    Anthropic(&'a anthropic::Anthropic, anthropic::Shape),
    /// A Messages request relayed to Anthropic untranslated.
    AnthropicRelay(&'a anthropic::Anthropic),
    /// A Responses request relayed untranslated.
    Responses(&'a openai::OpenAi),
}

impl Decoders<'_> {
    /// A whole (non-stream) answer body as an OpenAI `chat.completion`.
    pub fn whole(&self, body: &[u8]) -> Result<Whole, Error> {
        match &self.wire {
            Wire::OpenAi(codec) => codec.decode(body, self.served),
            Wire::Gemini(codec) => codec.decode(body, self.served),
            Wire::Anthropic(codec, shape) => codec.decode(body, self.served, shape),
            Wire::AnthropicRelay(codec) => codec.relayed(body, self.served),
            Wire::Responses(codec) => codec.responded(body, self.served),
        }
    }

    /// The decoder of this call's stream, event by event.
    pub fn stream(&self) -> StreamDecoder {
        let usage = self.usage;
        match &self.wire {
            Wire::OpenAi(codec) => {
                StreamDecoder::OpenAi(codec.stream_state(self.served, usage.strip_from_chunks()))
            }
            Wire::Gemini(codec) => {
                StreamDecoder::Gemini(codec.stream_state(self.served, usage.reported()))
            }
            Wire::Anthropic(codec, shape) => {
                StreamDecoder::Anthropic(codec.stream_state(self.served, usage.reported(), shape))
            }
            Wire::AnthropicRelay(codec) => {
                StreamDecoder::AnthropicRelay(codec.relay_state(self.served))
            }
            Wire::Responses(codec) => StreamDecoder::Responses(codec.responses_state(self.served)),
        }
    }

    fn upstream(&self) -> &Arc<Upstream> {
        match &self.wire {
            Wire::OpenAi(codec) | Wire::Responses(codec) => codec.upstream(),
            Wire::Gemini(codec) => codec.upstream(),
            Wire::Anthropic(codec, _) | Wire::AnthropicRelay(codec) => codec.upstream(),
        }
    }
}

impl Exchange<'_> {
    /// Sends the call, then decodes a whole body or runs the response through `framing` and the
    /// stream decoder.
    async fn send(self, http: &transport::Http, framing: Framing) -> Result<Answer, Error> {
        let Self {
            encoded: Encoded { request, dropped },
            decoders,
        } = self;
        let upstream = decoders.upstream();
        let response = transport::send(http, upstream, request).await?;
        let completion = if decoders.stream {
            Completion::Stream(framing.chunks(response, decoders.stream(), upstream.clone()))
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

/// `gen_ai.provider.name`: by the kind, and for an OpenAI-compatible server by its host (the
/// convention's names for the providers it lists; `openai` for any other, as the OpenAI client
/// libraries' instrumentations say of whatever server they call).
fn system(config: &ProviderConfig, host: Option<&str>) -> &'static str {
    match config.kind {
        ProviderKind::Anthropic { .. } => "anthropic",
        ProviderKind::Gemini => "gcp.gemini",
        ProviderKind::Azure { .. } => "azure.ai.openai",
        ProviderKind::Echo => "switchyard.echo",
        ProviderKind::Openai => match host.unwrap_or_default() {
            "api.groq.com" => "groq",
            "api.mistral.ai" => "mistral_ai",
            "api.deepseek.com" => "deepseek",
            "api.x.ai" => "x_ai",
            "api.perplexity.ai" => "perplexity",
            _ => "openai",
        },
    }
}
