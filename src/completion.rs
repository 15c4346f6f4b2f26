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
    /// A complete `chat.completion` JSON body, `model` already set to the key that served.
    Whole(Bytes),
    Stream(ChunkStream),
}

/// Chunks in order. An `Err` ends the stream; a clean end is the stream simply ending.
pub type ChunkStream = Pin<Box<dyn Stream<Item = Result<Chunk, Error>> + Send>>;

/// One `chat.completion.chunk`, serialized on one line, ready to frame.
#[derive(Debug, Clone, PartialEq)]
pub struct Chunk {
    pub json: String,
    /// Carries real output (content, a tool call, a refusal, reasoning, a finish): the point at
    /// which a held-back stream may be committed to the client.
    pub output: bool,
    /// The tokens (prompt + completion) the chunk reports, when it carries `usage`.
    pub usage: Option<u64>,
    /// Only a usage report, no choices: dropped when the client did not ask for usage (the
    /// gateway may have asked upstream for it, to count tokens).
    pub usage_only: bool,
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
}

impl UsageWanted {
    /// The upstream is asked to report usage at the end of a stream.
    pub fn from_upstream(self) -> bool {
        self.by_client || self.by_gateway
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
            usage: usage_only.then_some(3),
            usage_only,
        }
    }

    #[test]
    fn usage_is_asked_for_counted_and_shown_as_each_party_wants() {
        let wanted = |by_client, by_gateway| UsageWanted {
            by_client,
            by_gateway,
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
