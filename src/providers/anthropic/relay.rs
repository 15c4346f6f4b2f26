//! The Messages surface to an Anthropic upstream: no translation. The request goes on byte for
//! byte with only `model` replaced and the client's `anthropic-version` and `anthropic-beta`
//! forwarded; the answer, and every event of a stream, comes back unchanged but for `model`.
//! What the gateway needs of them (usage, the stop reason, the upstream's model, the commit
//! point) is read on the way, borrowed from the bytes.

use std::borrow::Cow;
use std::sync::Arc;

use axum::http::HeaderMap;
use bytes::Bytes;
use serde::Deserialize;
use serde_json::value::RawValue;

use super::Anthropic;
use super::mapping::{embedded_error, finish_reason, malformed, read_event, usage};
use super::types::NativeUsage;
use crate::anthropic::request::MessagesRequest;
use crate::completion::{Chunk, Tokens, Whole};
use crate::error::Error;
use crate::openai::raw::{json_string, model_name, splice};
use crate::providers::framing::sse::Event;
use crate::providers::framing::{EventDecoder, Flow};
use crate::transport::{Upstream, UpstreamRequest};

/// The client's headers that go on unchanged.
const FORWARDED: [&str; 2] = ["anthropic-version", "anthropic-beta"];

/// The top level of a whole answer, or of a stream event: only what the gateway reads.
#[derive(Deserialize)]
struct View<'a> {
    #[serde(rename = "type", borrow)]
    kind: Option<Cow<'a, str>>,
    #[serde(borrow)]
    model: Option<&'a RawValue>,
    #[serde(default)]
    usage: Option<NativeUsage>,
    #[serde(borrow)]
    stop_reason: Option<Cow<'a, str>>,
    #[serde(borrow)]
    message: Option<MessageView<'a>>,
    #[serde(borrow)]
    delta: Option<DeltaView<'a>>,
    #[serde(borrow)]
    error: Option<ErrorView<'a>>,
}

/// `message_start`'s message.
#[derive(Deserialize)]
struct MessageView<'a> {
    #[serde(borrow)]
    model: Option<&'a RawValue>,
    #[serde(default)]
    usage: Option<NativeUsage>,
}

#[derive(Deserialize)]
struct DeltaView<'a> {
    #[serde(borrow)]
    stop_reason: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct ErrorView<'a> {
    #[serde(rename = "type", borrow)]
    kind: Option<Cow<'a, str>>,
}

impl Anthropic {
    /// `request` for `model`, as the client sent it.
    pub fn relay(
        &self,
        request: &MessagesRequest,
        model: &str,
        client: &HeaderMap,
    ) -> UpstreamRequest {
        let mut headers = self.headers.clone();
        for name in FORWARDED {
            if let Some(value) = client.get(name) {
                headers.insert(name, value.clone());
            }
        }
        let url = if request.counting {
            &self.count_url
        } else {
            &self.url
        };
        UpstreamRequest {
            url: url.clone(),
            headers,
            body: without_foreign_thinking(request.body_with_model(model)),
        }
    }

    /// A whole answer with only `model` replaced by `served` (a count, which names no model,
    /// as it came).
    pub fn relayed(&self, body: &[u8], served: &str) -> Result<Whole, Error> {
        relayed(&self.upstream, body, served)
    }

    pub fn relay_state(&self, served: &str) -> RelayState {
        RelayState {
            upstream: self.upstream.clone(),
            served: json_string(served),
            usage: NativeUsage::default(),
            stopped: false,
        }
    }
}

/// `body` without the thinking blocks another kind of target produced: the gateway writes a
/// chat target's reasoning as a thinking block with an empty signature, which Anthropic refuses
/// when a conversation comes back to it (after a fallback, say). Untouched, and not even
/// parsed, when no such block is there.
fn without_foreign_thinking(body: Bytes) -> Bytes {
    let unsigned = |pattern: &[u8]| memchr::memmem::find(&body, pattern).is_some();
    if !unsigned(b"\"signature\":\"\"") && !unsigned(b"\"signature\": \"\"") {
        return body;
    }
    let Ok(mut request) = serde_json::from_slice::<serde_json::Value>(&body) else {
        return body;
    };
    let messages = request
        .get_mut("messages")
        .and_then(serde_json::Value::as_array_mut);
    for message in messages.into_iter().flatten() {
        if let Some(blocks) = message
            .get_mut("content")
            .and_then(serde_json::Value::as_array_mut)
        {
            blocks.retain(|block| {
                !(block.get("type").and_then(serde_json::Value::as_str) == Some("thinking")
                    && block.get("signature").and_then(serde_json::Value::as_str) == Some(""))
            });
        }
    }
    serde_json::to_vec(&request).map_or(body, Bytes::from)
}

fn relayed(upstream: &Upstream, body: &[u8], served: &str) -> Result<Whole, Error> {
    let text = std::str::from_utf8(body).map_err(|_| {
        malformed(
            upstream,
            "sent a response body that is not UTF-8".to_owned(),
        )
    })?;
    let view = serde_json::from_str::<View<'_>>(text).map_err(|e| {
        malformed(
            upstream,
            format!("sent a response that is not an Anthropic message: {e}"),
        )
    })?;
    if view.kind.as_deref() == Some("error") {
        let kind = view.error.and_then(|e| e.kind).unwrap_or_default();
        return Err(embedded_error(upstream, &kind, text));
    }
    let json = match view.model {
        Some(model) => splice(text, model, &json_string(served)).ok_or_else(|| {
            malformed(
                upstream,
                "sent a message whose model cannot be replaced".into(),
            )
        })?,
        None => text.to_owned(),
    };
    let native = view.usage.unwrap_or_default();
    Ok(Whole {
        json: Bytes::from(json),
        tokens: view.usage.map(|_| tokens(&native)),
        finish: view
            .stop_reason
            .as_deref()
            .map(|reason| finish_reason(Some(reason), reason == "tool_use")),
        model: view.model.and_then(model_name),
    })
}

/// Anthropic's usage as the gateway counts tokens: input includes what was read from and
/// written to the cache.
fn tokens(native: &NativeUsage) -> Tokens {
    Tokens::from(&usage(native))
}

/// One relayed stream: its events go on as they came (`message_start`'s model replaced), and
/// the usage, the stop reason and the end are read from them.
pub struct RelayState {
    upstream: Arc<Upstream>,
    /// The served key, as a JSON string literal.
    served: String,
    usage: NativeUsage,
    stopped: bool,
}

impl EventDecoder for RelayState {
    fn map(&mut self, event: &Event, out: &mut Vec<Chunk>) -> Result<Flow, Error> {
        let Some(data) = event.payload().map(str::trim).filter(|d| !d.is_empty()) else {
            return Ok(Flow::Continue);
        };
        let view = read_event(
            &self.upstream,
            event.event.as_deref(),
            data,
            |view: View<'_>| match view.kind.as_deref() {
                Some("error") => Err(view
                    .error
                    .and_then(|e| e.kind)
                    .unwrap_or_default()
                    .into_owned()),
                _ => Ok(view),
            },
        )?;
        // The event's name is its `type` (the SSE `event:` line says the same).
        let kind = view
            .kind
            .as_deref()
            .or(event.event.as_deref())
            .unwrap_or("unknown");
        let mut chunk = Chunk::named(data.to_owned(), event_name(kind), false);
        match kind {
            "message_start" => {
                if let Some(message) = view.message {
                    if let Some(model) = message.model {
                        chunk.json = splice(data, model, &self.served).ok_or_else(|| {
                            malformed(
                                &self.upstream,
                                "sent a message_start whose model cannot be replaced".into(),
                            )
                        })?;
                        chunk.model = model_name(model);
                    }
                    if let Some(usage) = message.usage {
                        self.usage.merge(usage);
                    }
                }
            }
            // Real output: the point a held stream may be committed.
            "content_block_start" | "content_block_delta" | "content_block_stop" => {
                chunk.output = true;
            }
            "message_delta" => {
                chunk.output = true;
                if let Some(later) = view.usage {
                    self.usage.merge(later);
                }
                // Cumulative: the last report is the total.
                chunk.usage = Some(tokens(&self.usage));
                let reason = view.delta.and_then(|d| d.stop_reason).or(view.stop_reason);
                chunk.finish = reason
                    .as_deref()
                    .map(|reason| finish_reason(Some(reason), reason == "tool_use"));
            }
            "message_stop" => {
                chunk.output = true;
                self.stopped = true;
                out.push(chunk);
                return Ok(Flow::Done);
            }
            // `ping`, and event types newer than this code: relayed as they are.
            _ => {}
        }
        out.push(chunk);
        Ok(Flow::Continue)
    }

    /// Only `message_stop` ends an answer: anything else is a truncation.
    fn end(&mut self, _: &mut Vec<Chunk>) -> Result<(), Error> {
        if self.stopped {
            return Ok(());
        }
        Err(malformed(
            &self.upstream,
            "the stream ended before the answer was complete (no message_stop)".to_owned(),
        ))
    }
}

/// The event names Anthropic sends, without an allocation; any other as it came.
fn event_name(kind: &str) -> Cow<'static, str> {
    const KNOWN: [&str; 8] = [
        "message_start",
        "content_block_start",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
        "ping",
        "error",
    ];
    match KNOWN.iter().find(|known| **known == kind) {
        Some(known) => Cow::Borrowed(known),
        None => Cow::Owned(kind.to_owned()),
    }
}
