//! Server-sent events both ways: OpenAI chunks for a fake upstream to send, and the gateway's
//! streamed answers read back as their events.

use std::time::Duration;

use axum::body::Bytes;
use futures_util::StreamExt;
use serde_json::Value;

/// The event that ends a complete OpenAI stream.
pub const DONE: &str = "data: [DONE]\n\n";

/// One SSE data line.
pub fn data(json: &str) -> String {
    format!("data: {json}\n\n")
}

/// An OpenAI chunk with a content delta (or the role chunk when `content` is None).
pub fn content_chunk(content: Option<&str>) -> String {
    let delta = match content {
        None => r#"{"role":"assistant","content":""}"#.to_owned(),
        Some(text) => serde_json::json!({ "content": text }).to_string(),
    };
    data(&format!(
        r#"{{"id":"chatcmpl-up","object":"chat.completion.chunk","created":1700000000,"model":"up-model","choices":[{{"index":0,"delta":{delta},"finish_reason":null}}]}}"#
    ))
}

pub fn finish_chunk(reason: &str) -> String {
    data(&format!(
        r#"{{"id":"chatcmpl-up","object":"chat.completion.chunk","created":1700000000,"model":"up-model","choices":[{{"index":0,"delta":{{}},"finish_reason":"{reason}"}}]}}"#
    ))
}

/// A whole OpenAI stream in one string but for its `[DONE]`: the role chunk, a chunk per piece
/// of text, and the finish.
pub fn text_stream(pieces: &[&str]) -> String {
    let mut stream = content_chunk(None);
    for piece in pieces {
        stream.push_str(&content_chunk(Some(piece)));
    }
    stream.push_str(&finish_chunk("stop"));
    stream
}

/// The start of an OpenAI stream that goes on: the role chunk and a chunk per piece of text.
pub fn opening(pieces: &[&str]) -> Vec<String> {
    std::iter::once(content_chunk(None))
        .chain(pieces.iter().map(|piece| content_chunk(Some(piece))))
        .collect()
}

/// An SSE response read to its end: the data payloads in order, and the raw text.
pub struct SseBody {
    pub data: Vec<String>,
    pub raw: String,
}

impl SseBody {
    /// Takes the `data: ` events of `raw` and nothing else, unchanged: comments and blank
    /// lines are framing, the payloads are compared byte for byte.
    pub fn parse(raw: String) -> Self {
        let data = raw
            .split("\n\n")
            .filter_map(|event| event.strip_prefix("data: "))
            .map(str::to_owned)
            .collect();
        Self { data, raw }
    }

    pub fn chunks(&self) -> Vec<Value> {
        self.data
            .iter()
            .filter(|d| *d != "[DONE]")
            .map(|d| {
                serde_json::from_str(d).unwrap_or_else(|e| panic!("chunk is not JSON ({e}): {d}"))
            })
            .collect()
    }

    pub fn done_count(&self) -> usize {
        self.data.iter().filter(|d| *d == "[DONE]").count()
    }

    /// The concatenated `delta.content` of choice 0.
    pub fn text(&self) -> String {
        self.chunks()
            .iter()
            .filter_map(|c| {
                c["choices"][0]["delta"]["content"]
                    .as_str()
                    .map(str::to_owned)
            })
            .collect()
    }

    /// The last event, as JSON.
    pub fn last(&self) -> Value {
        let last = self.data.last().expect("an event");
        serde_json::from_str(last).unwrap_or_else(|e| panic!("not JSON ({e}): {last}"))
    }

    /// The error object of the last event of a stream that failed after its first output,
    /// which must not look complete.
    pub fn error(&self) -> Value {
        let last = self.last();
        assert!(
            last["error"].is_object(),
            "ends with an error: {}",
            self.raw
        );
        assert_eq!(
            self.done_count(),
            0,
            "no [DONE] after an error: {}",
            self.raw
        );
        last["error"].clone()
    }
}

/// Reads a stream that must have finished as OpenAI's do: a 200 of `text/event-stream` whose
/// chunks all carry one id, `model` and the chunk object, usage alone in the last one, and one
/// `[DONE]`.
pub async fn read_finished_stream(response: reqwest::Response, model: &str) -> SseBody {
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let body = read_sse(response).await;
    assert_eq!(body.done_count(), 1, "{}", body.raw);
    let chunks = body.chunks();
    let id = &chunks[0]["id"];
    for chunk in &chunks {
        assert_eq!(&chunk["id"], id, "one id per stream");
        assert_eq!(chunk["model"], model);
        assert_eq!(chunk["object"], "chat.completion.chunk");
    }
    let last = chunks.last().expect("a chunk");
    assert_eq!(last["choices"], serde_json::json!([]));
    assert!(last["usage"].is_object(), "usage last: {last}");
    body
}

pub async fn read_sse(response: reqwest::Response) -> SseBody {
    SseBody::parse(response.text().await.expect("sse body"))
}

/// Reads a streaming response until `needle` has appeared (bounded), returning what was read.
pub async fn read_until(
    stream: &mut (impl futures_util::Stream<Item = reqwest::Result<Bytes>> + Unpin),
    needle: &str,
) -> String {
    let mut seen = String::new();
    let result = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(piece) = stream.next().await {
            seen.push_str(&String::from_utf8_lossy(&piece.expect("body piece")));
            if seen.contains(needle) {
                return;
            }
        }
    })
    .await;
    assert!(
        result.is_ok(),
        "timed out waiting for {needle:?}; read so far: {seen:?}"
    );
    assert!(
        seen.contains(needle),
        "stream ended before {needle:?}; read: {seen:?}"
    );
    seen
}

/// The events of a named-event SSE body (Messages, Responses): (name, data as JSON), in order;
/// each event's data has its name as its `type`.
pub fn named_events(body: &str) -> Vec<(String, Value)> {
    body.split("\n\n")
        .filter(|event| !event.trim().is_empty())
        .map(|event| {
            let name = event
                .lines()
                .find_map(|l| l.strip_prefix("event: "))
                .unwrap_or_else(|| panic!("an event without a name: {event}"));
            let data = event
                .lines()
                .find_map(|l| l.strip_prefix("data: "))
                .unwrap_or_else(|| panic!("an event without data: {event}"));
            let data: Value = serde_json::from_str(data)
                .unwrap_or_else(|e| panic!("an event's data is not JSON ({e}): {event}"));
            assert_eq!(data["type"], name, "an event's name is its type");
            (name.to_owned(), data)
        })
        .collect()
}
