//! A committed stream -> the client's Server-Sent Events, in the surface's framing. The 200 is
//! committed with the held-back preamble; after that a failure is one error event in the
//! surface's shape and the end of the stream, never a fake clean end.

use std::convert::Infallible;
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderValue, header, header::HeaderName};
use axum::response::{IntoResponse, Response};
use bytes::BytesMut;
use futures_util::StreamExt;

use super::sse::KEEP_ALIVE;
use crate::completion::{Chunk, UsageWanted};
use crate::error::Error;
use crate::metrics::StreamInFlight;
use crate::routing::Held;
use crate::telemetry::RequestLog;

/// How a surface writes a stream: its events for each chunk, for a failure, and for a clean
/// end (OpenAI's `data: [DONE]`; Anthropic's named events and no `[DONE]`).
pub trait Framing: Send + 'static {
    fn chunk(&mut self, chunk: &Chunk, frame: &mut BytesMut);
    fn error(&mut self, error: &Error, frame: &mut BytesMut);
    fn end(&mut self, frame: &mut BytesMut);

    /// What is sent after a stretch of silence (an SSE comment unless the API has its own).
    fn keep_alive(&mut self, frame: &mut BytesMut) {
        frame.extend_from_slice(KEEP_ALIVE);
    }
}

/// What the relay does besides framing: count, log, keep the connection alive, stop on cut.
pub struct Relay {
    pub keep_alive: Duration,
    pub log: RequestLog,
    pub usage: UsageWanted,
    /// Turns true when the shutdown grace period is over: the stream ends as a failed one does.
    pub cut: tokio::sync::watch::Receiver<bool>,
    /// Counts the stream in flight until it ends.
    pub in_flight: StreamInFlight,
}

/// Commits the 200 and relays the rest as it arrives. A usage report the client did not ask
/// for (the gateway asked, to count tokens) is counted, not sent.
///
/// The chunks that are ready together (one read from upstream often holds many) go out as one
/// body frame, so one write reaches the client where there would have been one per chunk.
pub fn respond(held: Held, mut framing: impl Framing, relay: Relay) -> Response {
    let Relay {
        keep_alive,
        mut log,
        usage,
        mut cut,
        in_flight,
    } = relay;
    let (chunks, rest) = held.into_parts();
    // Every chunk is counted; the client sees what it should.
    let shown = move |chunk: &Chunk, log: &mut RequestLog| {
        log.see(chunk);
        usage.shows(chunk)
    };
    let frames = async_stream::stream! {
        let _in_flight = in_flight;
        log.first_byte();
        let mut frame = BytesMut::new();
        for chunk in &chunks {
            if shown(chunk, &mut log) {
                framing.chunk(chunk, &mut frame);
            }
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
                    framing.error(&error, &mut frame);
                    yield Ok(frame.split().freeze());
                    return;
                }
                next = tokio::time::timeout(keep_alive, batches.next()) => next,
            };
            let batch = match next {
                Err(_) => {
                    framing.keep_alive(&mut frame);
                    yield Ok(frame.split().freeze());
                    continue;
                }
                Ok(None) => break,
                Ok(Some(batch)) => batch,
            };
            for item in batch {
                match item {
                    Ok(chunk) => {
                        if shown(&chunk, &mut log) {
                            framing.chunk(&chunk, &mut frame);
                        }
                    }
                    Err(error) => {
                        log.fail(&error);
                        framing.error(&error, &mut frame);
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
        framing.end(&mut frame);
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
