//! What a provider hands back: one whole `chat.completion`, or a stream of chunks.

use std::pin::Pin;

use bytes::Bytes;
use futures_util::Stream;

use crate::error::Error;

/// A completion, and the request parameters dropped on the way (by the provider's
/// `unsupported_params = "drop"`), which the client is told about.
pub struct Answer {
    pub completion: Completion,
    pub dropped_params: Vec<String>,
}

pub enum Completion {
    Whole(Whole),
    Stream(ChunkStream),
}

/// A complete `chat.completion` JSON body, `model` already set to the key that served, and the
/// tokens its `usage` reports, read as the body was.
#[derive(Debug)]
pub struct Whole {
    pub json: Bytes,
    pub tokens: Option<Tokens>,
    /// The first choice's `finish_reason` (`stop`, `length`, `tool_calls`, `content_filter`,
    /// `function_call`, or `other`), for the spans.
    pub finish: Option<&'static str>,
    /// The model the upstream says answered (a dated snapshot, often), for the spans.
    pub model: Option<Box<str>>,
}

/// The tokens an answer or a stream reports, by kind, as OpenAI's `usage` carries them
/// (`prompt_tokens_details`, `completion_tokens_details`; translated answers carry Anthropic's
/// cache writes as `cache_write_tokens`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tokens {
    pub prompt: u64,
    pub completion: u64,
    /// `total_tokens`, or prompt + completion when it is missing.
    pub total: u64,
    /// Prompt tokens read from the provider's cache (part of `prompt`).
    pub cached_read: u64,
    /// Prompt tokens written to the provider's cache (part of `prompt`).
    pub cache_write: u64,
    /// Completion tokens spent reasoning (part of `completion`).
    pub reasoning: u64,
}

/// Chunks in order. An `Err` ends the stream; a clean end is the stream simply ending.
pub type ChunkStream = Pin<Box<dyn Stream<Item = Result<Chunk, Error>> + Send>>;

/// A chat stream written as another API's events, chunk by chunk: what a surface that
/// translates (Messages, Responses) hands the chat codecs' streams through.
pub trait Translate: Send + 'static {
    /// The events one chat chunk makes.
    fn chunk(&mut self, chunk: &Chunk, out: &mut Vec<Chunk>);
    /// The stream ended cleanly: the events that close it.
    fn end(&mut self, out: &mut Vec<Chunk>);
}

/// One `chat.completion.chunk`, serialized on one line, ready to frame.
#[derive(Debug, Clone, PartialEq)]
pub struct Chunk {
    pub json: String,
    /// Carries real output (content, a tool call, a refusal, reasoning, a finish): the point at
    /// which a held-back stream may be committed to the client.
    pub output: bool,
    /// The tokens the chunk reports, when it carries `usage`.
    pub usage: Option<Tokens>,
    /// Only a usage report, no choices: dropped when the client did not ask for usage (the
    /// gateway may have asked upstream for it, to count tokens).
    pub usage_only: bool,
    /// A `finish_reason` the chunk carries (as `Whole::finish` names them).
    pub finish: Option<&'static str>,
    /// The model the upstream says answers, on the first chunk that says it.
    pub model: Option<Box<str>>,
    /// The SSE event name of an event relayed in a surface's own format (an Anthropic event
    /// on the Messages surface, its `type`); none for a `chat.completion.chunk`.
    pub event: Option<std::borrow::Cow<'static, str>>,
}

impl Chunk {
    /// An event in a surface's own format, named `event`: what it reports (usage, a finish,
    /// the model) is for its writer to add.
    pub fn named(json: String, event: std::borrow::Cow<'static, str>, output: bool) -> Self {
        Self {
            json,
            output,
            usage: None,
            usage_only: false,
            finish: None,
            model: None,
            event: Some(event),
        }
    }
}

/// Who wants a stream's usage report: decided once per request and passed down, so the
/// upstream is asked for usage when anyone wants it, tokens are counted when the gateway
/// wants them, and the client sees usage only when it asked.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UsageWanted {
    /// `stream_options.include_usage`: the client asked for the final usage chunk.
    pub by_client: bool,
    /// The gateway counts the tokens of the calling key.
    pub by_gateway: bool,
    /// The metrics count tokens: a stream's usage is read where it costs the upstream nothing
    /// (a translated stream always reports it), never asked for on the metrics' account.
    pub by_metrics: bool,
}

impl UsageWanted {
    /// The upstream is asked to report usage at the end of a stream.
    pub fn from_upstream(self) -> bool {
        self.by_client || self.by_gateway
    }

    /// A translating decoder writes the usage its upstream reported as a chunk of its own.
    pub fn reported(self) -> bool {
        self.from_upstream() || self.by_metrics
    }

    /// The usage the gateway asked for on its own account is read from the chunks, and taken
    /// out of those that also carry choices.
    pub fn strip_from_chunks(self) -> bool {
        self.by_gateway && !self.by_client
    }

    /// Whether the client receives `chunk`: everything but a usage report it did not ask for.
    pub fn shows(self, chunk: &Chunk) -> bool {
        self.by_client || !chunk.usage_only
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(usage_only: bool) -> Chunk {
        Chunk {
            json: "{}".into(),
            output: !usage_only,
            usage: usage_only.then_some(Tokens {
                total: 3,
                ..Tokens::default()
            }),
            usage_only,
            finish: None,
            model: None,
            event: None,
        }
    }

    #[test]
    fn usage_is_asked_for_counted_and_shown_as_each_party_wants() {
        let wanted = |by_client, by_gateway| UsageWanted {
            by_client,
            by_gateway,
            by_metrics: false,
        };
        // (client, gateway) -> (ask upstream, strip from chunks, show a usage-only chunk)
        for ((client, gateway), expected) in [
            ((false, false), (false, false, false)),
            ((true, false), (true, false, true)),
            ((false, true), (true, true, false)),
            ((true, true), (true, false, true)),
        ] {
            let usage = wanted(client, gateway);
            let got = (
                usage.from_upstream(),
                usage.strip_from_chunks(),
                usage.shows(&chunk(true)),
            );
            assert_eq!(got, expected, "client {client}, gateway {gateway}");
            assert!(usage.shows(&chunk(false)), "output is always shown");
        }
    }
}
