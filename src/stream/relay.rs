//! Chunks -> the client's Server-Sent Events. The preamble is held back until real output (or a
//! bounded wait), so an upstream that fails early still gets a real HTTP error status; after the
//! commit a failure is one OpenAI-shaped `data: {"error":...}` event and the end of the stream.

use std::convert::Infallible;
use std::time::Duration;

use axum::http::{HeaderValue, header::HeaderName};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;

use crate::completion::{Chunk, ChunkStream};
use crate::error::Error;
use crate::telemetry::RequestLog;

/// A stream whose first chunks have been read but not yet sent.
pub struct Held {
    chunks: Vec<Chunk>,
    /// The unread rest; `None` when the stream already ended.
    rest: Option<ChunkStream>,
}

impl Held {
    /// Real output arrived (or the stream already ended): the answer has begun, and no other
    /// target may take over any more.
    pub fn started(&self) -> bool {
        self.rest.is_none() || self.chunks.iter().any(|c| c.output)
    }
}

/// Reads the preamble until the first chunk with real output, the end of the stream, or `wait`.
/// An error before any of those is returned as an error, so the client gets an HTTP status.
pub async fn hold_back(mut stream: ChunkStream, wait: Duration) -> Result<Held, Error> {
    let deadline = tokio::time::Instant::now() + wait;
    let mut chunks = Vec::new();
    loop {
        match tokio::time::timeout_at(deadline, stream.next()).await {
            Err(_) => break,
            Ok(None) => return Ok(Held { chunks, rest: None }),
            Ok(Some(Err(error))) => return Err(error),
            Ok(Some(Ok(chunk))) => {
                let output = chunk.output;
                chunks.push(chunk);
                if output {
                    break;
                }
            }
        }
    }
    Ok(Held {
        chunks,
        rest: Some(stream),
    })
}

/// Commits the 200 and relays the rest as it arrives, `[DONE]` after a clean end.
pub fn respond(held: Held, keep_alive: Duration, mut log: RequestLog) -> Response {
    let Held { chunks, rest } = held;
    let events = async_stream::stream! {
        log.first_byte();
        for chunk in chunks {
            yield Ok::<_, Infallible>(Event::default().data(chunk.json));
        }
        let mut rest = rest.unwrap_or_else(|| Box::pin(futures_util::stream::empty()));
        while let Some(item) = rest.next().await {
            match item {
                Ok(chunk) => yield Ok(Event::default().data(chunk.json)),
                Err(error) => {
                    log.fail(&error);
                    yield Ok(Event::default().data(error.to_json()));
                    return;
                }
            }
        }
        log.complete();
        yield Ok(Event::default().data("[DONE]"));
    };
    let mut response = Sse::new(events)
        .keep_alive(KeepAlive::new().interval(keep_alive).text("keep-alive"))
        .into_response();
    response.headers_mut().insert(
        HeaderName::from_static("x-accel-buffering"),
        HeaderValue::from_static("no"),
    );
    response
}
