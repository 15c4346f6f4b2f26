//! The commit point of a stream: its preamble is held back until the first real output (or a
//! bounded wait), so an upstream that fails early still lets routing try another target and
//! the client still gets a real HTTP status.

use std::time::Duration;

use futures_util::StreamExt;

use super::attempt::Call;
use crate::completion::{Chunk, ChunkStream};
use crate::error::Error;

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

    /// The chunks read so far, and the rest of the stream if it has not ended.
    pub fn into_parts(self) -> (Vec<Chunk>, Option<ChunkStream>) {
        (self.chunks, self.rest)
    }
}

/// Holds `stream` back for `call`: up to its first real output, or the first-token timeout
/// (then no output is this target's failure), or the hold-back wait (then it is committed as it
/// is, and the client sees the preamble and keep-alives).
pub async fn hold(stream: ChunkStream, call: &Call<'_>) -> Result<Held, Error> {
    let held = hold_back(stream, call.first_token_timeout.unwrap_or(call.hold_back)).await?;
    if let Some(timeout) = call.first_token_timeout
        && !held.started()
    {
        return Err(Error::UpstreamTimeout {
            provider: call.target.provider.clone(),
            detail: format!("no output within the first-token timeout of {timeout:?}"),
        });
    }
    Ok(held)
}

/// Reads the preamble until the first chunk with real output, the end of the stream, or `wait`.
/// An error before any of those is returned as an error, so the client gets an HTTP status.
async fn hold_back(mut stream: ChunkStream, wait: Duration) -> Result<Held, Error> {
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
