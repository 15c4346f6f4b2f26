//! A request body, read within its size limit and its deadline.

use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderMap, header};
use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;

use crate::error::Error;

/// The whole body within `timeout`, refused with 413 as soon as it is known to exceed `limit`.
pub async fn read(
    headers: &HeaderMap,
    body: Body,
    limit: usize,
    timeout: Duration,
) -> Result<Bytes, Error> {
    tokio::time::timeout(timeout, read_limited(headers, body, limit))
        .await
        .map_err(|_| Error::RequestTimeout(timeout))?
}

async fn read_limited(headers: &HeaderMap, body: Body, limit: usize) -> Result<Bytes, Error> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(Error::PayloadTooLarge { limit });
    }
    let mut stream = body.into_data_stream();
    // Trust a declared length only so far: memory grows with bytes that really arrive.
    let mut buffer = BytesMut::with_capacity(declared.unwrap_or(0).min(1 << 20));
    while let Some(piece) = stream.next().await {
        let piece = piece
            .map_err(|e| Error::invalid(format!("Could not read the request body: {e}"), None))?;
        if buffer.len() + piece.len() > limit {
            return Err(Error::PayloadTooLarge { limit });
        }
        buffer.extend_from_slice(&piece);
    }
    Ok(buffer.freeze())
}
