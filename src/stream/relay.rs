//! Chunks -> the client's Server-Sent Events. The preamble is held back until real output (or a
//! bounded wait), so an upstream that fails early still gets a real HTTP error status; after the
//! commit a failure is one OpenAI-shaped `data: {"error":...}` event and the end of the stream.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::http::{HeaderValue, header::HeaderName};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;

use crate::completion::{Chunk, ChunkStream};
use crate::error::Error;
use crate::limits::Limiter;
use crate::state::AppState;
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

/// Counts the tokens a stream reports for a gateway key; records them when the stream is over,
/// however it ends (the client leaving included).
pub struct Meter {
    state: Arc<AppState>,
    /// The key's position in `[auth] keys`.
    key: usize,
    models: Vec<String>,
    /// The usage the stream reported, once it did.
    reported: Option<u64>,
    /// For a stream that ends before reporting usage (cut, failed, client gone): the prompt
    /// estimated from its size, plus a token per chunk of output, so nothing streams for free.
    estimate: u64,
}

impl Meter {
    pub fn new(
        state: Arc<AppState>,
        key: usize,
        models: Vec<String>,
        prompt_estimate: u64,
    ) -> Self {
        Self {
            state,
            key,
            models,
            reported: None,
            estimate: prompt_estimate,
        }
    }

    fn see(&mut self, chunk: &Chunk) {
        if let Some(tokens) = chunk.usage {
            // Usage is cumulative: the last report is the total.
            self.reported = Some(tokens);
        }
        if chunk.output {
            self.estimate += 1;
        }
    }
}

impl Drop for Meter {
    fn drop(&mut self) {
        let tokens = self.reported.unwrap_or(self.estimate);
        if tokens == 0 {
            return;
        }
        Limiter::record_detached(
            &self.state,
            self.key,
            std::mem::take(&mut self.models),
            tokens,
        );
    }
}

/// Commits the 200 and relays the rest as it arrives, `[DONE]` after a clean end. A usage-only
/// chunk the client did not ask for (the gateway asked, to count tokens) is counted, not sent.
pub fn respond(
    held: Held,
    keep_alive: Duration,
    mut log: RequestLog,
    mut meter: Option<Meter>,
    include_usage: bool,
) -> Response {
    let Held { chunks, rest } = held;
    let mut pass = move |chunk: Chunk| -> Option<Event> {
        if let Some(meter) = meter.as_mut() {
            meter.see(&chunk);
        }
        (include_usage || !chunk.usage_only).then(|| Event::default().data(chunk.json))
    };
    let events = async_stream::stream! {
        log.first_byte();
        for chunk in chunks {
            if let Some(event) = pass(chunk) {
                yield Ok::<_, Infallible>(event);
            }
        }
        let mut rest = rest.unwrap_or_else(|| Box::pin(futures_util::stream::empty()));
        while let Some(item) = rest.next().await {
            match item {
                Ok(chunk) => {
                    if let Some(event) = pass(chunk) {
                        yield Ok(event);
                    }
                }
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
