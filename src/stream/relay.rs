//! Chunks -> the client's Server-Sent Events. The preamble is held back until real output (or a
//! bounded wait), so an upstream that fails early still gets a real HTTP error status; after the
//! commit a failure is one OpenAI-shaped `data: {"error":...}` event and the end of the stream.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderValue, header, header::HeaderName};
use axum::response::{IntoResponse, Response};
use bytes::{Bytes, BytesMut};
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
///
/// The chunks that are ready together (one read from upstream often holds many) go out as one
/// body frame, so one write reaches the client where there would have been one per chunk.
///
/// When `cut` turns true (the shutdown grace period is over), the stream ends as a failed one
/// does: an error event, no `[DONE]`, and a properly closed body.
pub fn respond(
    held: Held,
    keep_alive: Duration,
    mut log: RequestLog,
    mut meter: Option<Meter>,
    include_usage: bool,
    mut cut: tokio::sync::watch::Receiver<bool>,
) -> Response {
    let Held { chunks, rest } = held;
    let mut pass = move |chunk: Chunk, frame: &mut BytesMut| {
        if let Some(meter) = meter.as_mut() {
            meter.see(&chunk);
        }
        if include_usage || !chunk.usage_only {
            push_event(frame, &chunk.json);
        }
    };
    let frames = async_stream::stream! {
        log.first_byte();
        let mut frame = BytesMut::new();
        for chunk in chunks {
            pass(chunk, &mut frame);
        }
        if !frame.is_empty() {
            yield Ok::<_, Infallible>(frame.split().freeze());
        }
        let rest = rest.unwrap_or_else(|| Box::pin(futures_util::stream::empty()));
        let mut batches = rest.ready_chunks(BATCH);
        loop {
            let next = tokio::select! {
                biased;
                true = cut_off(&mut cut) => {
                    let error = Error::ShuttingDown;
                    log.fail(&error);
                    push_event(&mut frame, &error.to_json());
                    yield Ok(frame.split().freeze());
                    return;
                }
                next = tokio::time::timeout(keep_alive, batches.next()) => next,
            };
            let batch = match next {
                Err(_) => {
                    yield Ok(Bytes::from_static(KEEP_ALIVE));
                    continue;
                }
                Ok(None) => break,
                Ok(Some(batch)) => batch,
            };
            for item in batch {
                match item {
                    Ok(chunk) => pass(chunk, &mut frame),
                    Err(error) => {
                        log.fail(&error);
                        push_event(&mut frame, &error.to_json());
                        yield Ok(frame.split().freeze());
                        return;
                    }
                }
            }
            if !frame.is_empty() {
                yield Ok(frame.split().freeze());
            }
        }
        log.complete();
        push_event(&mut frame, "[DONE]");
        yield Ok(frame.split().freeze());
    };
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/event-stream"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
            // nginx and other proxies in front would otherwise buffer the stream.
            (
                HeaderName::from_static("x-accel-buffering"),
                HeaderValue::from_static("no"),
            ),
        ],
        Body::from_stream(frames),
    )
        .into_response()
}

/// Resolves true once `cut` turns true; false if it never can.
async fn cut_off(cut: &mut tokio::sync::watch::Receiver<bool>) -> bool {
    cut.wait_for(|cut| *cut).await.is_ok()
}

/// The most chunks written as one frame.
const BATCH: usize = 64;

/// The comment sent after `keep_alive` of silence, so that proxies and clients with idle
/// timeouts keep the stream open.
const KEEP_ALIVE: &[u8] = b": keep-alive\n\n";

/// Appends `data` as one SSE event: a `data:` line per line of it.
fn push_event(frame: &mut BytesMut, data: &str) {
    // The common case, a chunk of one line, in one pass over its bytes.
    if !data.bytes().any(|b| b == b'\n' || b == b'\r') {
        frame.reserve(data.len() + 8);
        frame.extend_from_slice(b"data: ");
        frame.extend_from_slice(data.as_bytes());
        frame.extend_from_slice(b"\n\n");
        return;
    }
    let data = data.replace("\r\n", "\n").replace('\r', "\n");
    for line in data.split('\n') {
        frame.extend_from_slice(b"data: ");
        frame.extend_from_slice(line.as_bytes());
        frame.extend_from_slice(b"\n");
    }
    frame.extend_from_slice(b"\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_framed_a_data_line_per_line() {
        let mut frame = BytesMut::new();
        push_event(&mut frame, r#"{"a":1}"#);
        push_event(&mut frame, "{\"b\":\n2}");
        push_event(&mut frame, "[DONE]");
        push_event(&mut frame, "c\r\nd");
        assert_eq!(
            &frame[..],
            b"data: {\"a\":1}\n\ndata: {\"b\":\ndata: 2}\n\ndata: [DONE]\n\ndata: c\ndata: d\n\n"
        );
    }
}
