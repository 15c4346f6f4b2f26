//! What the codecs' unit tests share: an upstream to decode for, and a fixture of wire bytes
//! run through a stream decoder the way `framing::decode` runs a live one.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use super::framing::sse::Decoder;
use super::framing::{EventDecoder, Flow};
use crate::completion::Chunk;
use crate::config::{Secret, UpstreamBounds};
use crate::error::Error;
use crate::transport::{StatusHook, Upstream};

/// Provider `name`, which was sent `secret`.
pub fn upstream(name: &str, secret: &str, status_hook: Option<StatusHook>) -> Arc<Upstream> {
    Arc::new(Upstream {
        provider: name.into(),
        secrets: vec![Secret::new(secret)],
        bounds: UpstreamBounds {
            first_byte: Duration::from_secs(1),
            idle: Duration::from_secs(1),
            max_event: 1 << 20,
        },
        status_hook,
    })
}

/// Every event of `fixture` (one read) through `decoder`: the chunks, and how it ended:
/// `Ok(Done)` when the upstream declared the end, `Ok(Continue)` when it closed cleanly after
/// the last event, or the error.
pub fn run(decoder: &mut impl EventDecoder, fixture: &str) -> (Vec<Chunk>, Result<Flow, Error>) {
    let mut events = Vec::new();
    if let Err(e) = Decoder::new(usize::MAX).feed(fixture.as_bytes(), &mut events) {
        unreachable!("{e}");
    }
    let mut out = Vec::new();
    for event in &events {
        match decoder.map(event, &mut out) {
            Ok(Flow::Continue) => {}
            other => return (out, other),
        }
    }
    let end = decoder.end(&mut out).map(|()| Flow::Continue);
    (out, end)
}

/// A chunk's JSON, parsed.
pub fn json(chunk: &Chunk) -> Value {
    serde_json::from_str(&chunk.json).unwrap_or_else(|e| unreachable!("{e}: {}", chunk.json))
}
