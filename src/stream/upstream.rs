//! Upstream bytes -> SSE events -> chunks, under the idle deadline. Pulled by the client's body:
//! dropping the returned stream drops the upstream response and closes its connection.

use std::sync::Arc;

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use sse_stream::{Sse, SseByteStream, SseStream};

use crate::completion::{Chunk, ChunkStream};
use crate::error::Error;
use crate::providers::{Flow, StreamDecoder};
use crate::transport::{self, Upstream};

pub fn chunk_stream(
    response: transport::Response,
    decoder: StreamDecoder,
    upstream: Arc<Upstream>,
) -> ChunkStream {
    Box::pin(decode(
        SseStream::new(response.into_body()),
        decoder,
        upstream,
    ))
}

/// Runs `decoder` over `events` until the upstream says done, fails, closes, or sends no event
/// for the idle deadline. Comment lines are not events: an upstream that only says
/// `: PROCESSING` forever still times out.
pub fn decode<S>(
    events: S,
    mut decoder: StreamDecoder,
    upstream: Arc<Upstream>,
) -> impl Stream<Item = Result<Chunk, Error>> + Send
where
    S: Stream<Item = Result<Sse, sse_stream::Error>> + Send + 'static,
{
    async_stream::stream! {
        let mut events = std::pin::pin!(events);
        let mut out = Vec::new();
        loop {
            let flow = match tokio::time::timeout(upstream.timeouts.idle, events.next()).await {
                Err(_elapsed) => Err(Error::UpstreamTimeout {
                    provider: upstream.provider.clone(),
                    detail: format!("the stream sent nothing for {:?}", upstream.timeouts.idle),
                }),
                Ok(Some(Ok(event))) => decoder.map(&event, &mut out),
                Ok(Some(Err(error))) => Err(read_error(&upstream, error)),
                Ok(None) => decoder.end(&mut out).map(|()| Flow::Done),
            };
            for chunk in out.drain(..) {
                yield Ok(chunk);
            }
            match flow {
                Ok(Flow::Continue) => {}
                Ok(Flow::Done) => return,
                Err(error) => {
                    yield Err(error);
                    return;
                }
            }
        }
    }
}

fn read_error(upstream: &Upstream, error: sse_stream::Error) -> Error {
    match &error {
        sse_stream::Error::Body(inner) => transport::body_error(upstream, inner.as_ref()),
        _ => Error::UpstreamFailed {
            provider: upstream.provider.clone(),
            detail: format!("sent a malformed event stream: {error}"),
        },
    }
}

/// Decodes SSE from byte pieces as they would arrive from the network (for tests and fixtures).
pub fn events_from_pieces(
    pieces: Vec<Bytes>,
) -> impl Stream<Item = Result<Sse, sse_stream::Error>> + Send + 'static {
    SseByteStream::new(futures_util::stream::iter(
        pieces.into_iter().map(Ok::<_, std::io::Error>),
    ))
}

#[cfg(test)]
mod tests;
