//! How a provider's stream is cut into events (its framing), and the loop that runs a stream's
//! bytes through the framing and the codec's stream decoder into chunks, under the idle deadline
//! and the event size limit. SSE is the one framing today; another (AWS event-stream) is one
//! more variant and one more decoder here.
//!
//! The stream is pulled by the client's body: dropping it drops the upstream response and
//! closes its connection.

pub mod sse;

use std::sync::Arc;

use bytes::Bytes;
use futures_util::{Stream, StreamExt};

use crate::completion::{Chunk, ChunkStream};
use crate::error::Error;
use crate::transport::{self, Upstream};
use sse::Event;

/// A provider's stream framing.
#[derive(Debug, Clone, Copy)]
pub enum Framing {
    /// `text/event-stream`.
    Sse,
}

/// What a stream decoder says after an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    Continue,
    /// The upstream declared the stream complete.
    Done,
}

/// A codec's per-stream state machine, event by event.
pub trait EventDecoder: Send + 'static {
    /// Maps one upstream event to zero or more chunks, pushed onto `out`.
    fn map(&mut self, event: &Event, out: &mut Vec<Chunk>) -> Result<Flow, Error>;

    /// The upstream closed the stream: a clean end (perhaps with final chunks), or a truncation.
    fn end(&mut self, out: &mut Vec<Chunk>) -> Result<(), Error>;
}

impl Framing {
    /// The chunks of `response`'s body, read through this framing and `decoder`.
    pub fn chunks(
        self,
        response: transport::Response,
        decoder: impl EventDecoder,
        upstream: Arc<Upstream>,
    ) -> ChunkStream {
        let reads = response.bytes_stream();
        match self {
            Self::Sse => Box::pin(decode(reads, decoder, upstream)),
        }
    }
}

/// Runs `decoder` over the events read from `reads` until the upstream says done, fails,
/// closes, or makes no progress for the idle deadline. Progress is any byte of an event, so an
/// upstream trickling a long event a byte at a time is alive; comment lines and blank lines are
/// not, so an upstream that only says `: PROCESSING` forever still times out.
pub fn decode<S, E>(
    reads: S,
    mut decoder: impl EventDecoder,
    upstream: Arc<Upstream>,
) -> impl Stream<Item = Result<Chunk, Error>> + Send
where
    S: Stream<Item = Result<Bytes, E>> + Send + 'static,
    E: std::error::Error + Send + Sync + 'static,
{
    async_stream::stream! {
        let mut reads = std::pin::pin!(reads);
        let mut sse = sse::Decoder::new(upstream.bounds.max_event);
        let mut events = Vec::new();
        let mut out = Vec::new();
        let idle = upstream.bounds.idle;
        let mut deadline = tokio::time::Instant::now() + idle;
        loop {
            let flow = match tokio::time::timeout_at(deadline, reads.next()).await {
                Err(_elapsed) => Err(Error::UpstreamTimeout {
                    provider: upstream.provider.clone(),
                    detail: format!("the stream made no progress for {idle:?}"),
                }),
                Ok(Some(Ok(bytes))) => match sse.feed(&bytes, &mut events) {
                    Ok(progress) => {
                        if progress {
                            deadline = tokio::time::Instant::now() + idle;
                        }
                        map_events(&mut decoder, &mut events, &mut out)
                    }
                    Err(too_large) => Err(Error::UpstreamFailed {
                        provider: upstream.provider.clone(),
                        detail: too_large.to_string(),
                    }),
                },
                Ok(Some(Err(error))) => Err(transport::body_error(&upstream, &error)),
                Ok(None) => decoder.end(&mut out).map(|()| Flow::Done),
            };
            for chunk in out.drain(..) {
                yield Ok(chunk);
            }
            match flow {
                Ok(Flow::Continue) => {}
                Ok(Flow::Done) => return,
                // Whatever the decoder quoted from the upstream's bytes passes the same
                // redaction as every other upstream text.
                Err(error) => {
                    yield Err(upstream.redact_error(error));
                    return;
                }
            }
        }
    }
}

/// Every event of one read through the decoder, in order, up to the end it declares.
fn map_events(
    decoder: &mut impl EventDecoder,
    events: &mut Vec<Event>,
    out: &mut Vec<Chunk>,
) -> Result<Flow, Error> {
    let mut flow = Ok(Flow::Continue);
    for event in events.drain(..) {
        flow = decoder.map(&event, out);
        if !matches!(flow, Ok(Flow::Continue)) {
            break;
        }
    }
    // Dropping the drain has removed what a break left unread.
    flow
}

/// Decodes SSE from byte pieces as they would arrive from the network (for tests and fixtures).
pub fn events_from_pieces(
    pieces: Vec<Bytes>,
) -> impl Stream<Item = Result<Event, sse::TooLarge>> + Send + 'static {
    let mut decoder = sse::Decoder::new(usize::MAX);
    let mut events = Vec::new();
    let mut result = Ok(());
    for piece in pieces {
        result = decoder.feed(&piece, &mut events).map(drop);
        if result.is_err() {
            break;
        }
    }
    let ended = result.err().map(Err);
    futures_util::stream::iter(events.into_iter().map(Ok).chain(ended))
}
