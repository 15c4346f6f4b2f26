//! OpenTelemetry spans, exported over OTLP/HTTP in its JSON encoding: a bounded queue the
//! request path only ever `try_send`s to (a full queue drops the span and counts it), and one
//! task that posts batches to the collector.
//!
//! Written here rather than with the `opentelemetry` SDK crates: they bring a second reqwest
//! and hyper generation and protobuf code into the binary, and a tracing layer on every request
//! whether traces are on or not. What a gateway exports (two kinds of span, no metrics or logs
//! over OTLP) is a few JSON objects a collector accepts on its standard `/v1/traces`.

use std::time::{Duration, SystemTime};

use serde_json::{Value, json};

use crate::config::TelemetryConfig;
use crate::outbox::{Inbox, Message, Outbox};

/// Spans waiting for export at most.
const QUEUE: usize = 4096;
/// The most spans in one export.
const BATCH: usize = 512;
/// How long a span may wait for its batch to fill.
const LINGER: Duration = Duration::from_millis(500);
/// How long the collector has to take a batch.
const EXPORT_TIMEOUT: Duration = Duration::from_secs(10);

/// A span kind, by its OTLP number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Server = 2,
    Client = 3,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Attr {
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    Strs(Vec<String>),
}

#[derive(Debug, Clone)]
pub struct Span {
    pub trace_id: u128,
    pub span_id: u64,
    pub parent: Option<u64>,
    pub name: String,
    pub kind: Kind,
    pub start: SystemTime,
    pub end: SystemTime,
    pub attributes: Vec<(&'static str, Attr)>,
    /// The status is ERROR, with this description.
    pub error: Option<String>,
}

pub struct Tracer {
    spans: Outbox<Span>,
    capture_content: bool,
}

impl Tracer {
    pub fn off() -> Self {
        Self {
            spans: Outbox::off(),
            capture_content: false,
        }
    }

    /// The tracer `config` asks for, exporting through `http` (the gateway's one client), its
    /// task started on the current runtime.
    pub fn new(config: &TelemetryConfig, http: reqwest::Client) -> Self {
        let Some(url) = config.traces_url.clone() else {
            return Self::off();
        };
        if tokio::runtime::Handle::try_current().is_err() {
            return Self::off();
        }
        let (spans, inbox) = Outbox::new(QUEUE);
        let exporter = Exporter {
            http,
            url,
            headers: config.headers.clone(),
            resource: json!({"attributes": [
                attribute("service.name", &Attr::Str(config.service_name.clone())),
                attribute("service.version", &Attr::Str(env!("CARGO_PKG_VERSION").into())),
            ]}),
            failing: false,
        };
        tokio::spawn(exporter.run(inbox));
        Self {
            spans,
            capture_content: config.capture_content,
        }
    }

    pub fn on(&self) -> bool {
        self.spans.on()
    }

    /// Prompts and answers may go into spans (`[telemetry] capture_content`).
    pub fn captures_content(&self) -> bool {
        self.capture_content
    }

    /// Queues `span` for export, or drops and counts it.
    pub fn export(&self, span: Span) {
        self.spans.push(span);
    }

    /// Spans dropped so far: the queue was full, or the collector did not take them.
    pub fn dropped(&self) -> u64 {
        self.spans.dropped()
    }

    /// Exports what is queued, then stops.
    pub async fn close(&self) {
        self.spans.close(EXPORT_TIMEOUT).await;
    }
}

struct Exporter {
    http: reqwest::Client,
    url: String,
    headers: Vec<(String, String)>,
    resource: Value,
    /// Said once per run of failures.
    failing: bool,
}

impl Exporter {
    async fn run(mut self, mut inbox: Inbox<Span>) {
        let mut batch = Vec::with_capacity(BATCH);
        let mut closing = false;
        while !closing {
            match inbox.messages.recv().await {
                Some(Message::Item(span)) => batch.push(*span),
                Some(Message::Close) | None => closing = true,
            }
            let linger = tokio::time::Instant::now() + LINGER;
            while !closing && batch.len() < BATCH {
                match tokio::time::timeout_at(linger, inbox.messages.recv()).await {
                    Ok(Some(Message::Item(span))) => batch.push(*span),
                    Ok(Some(Message::Close) | None) => closing = true,
                    Err(_) => break,
                }
            }
            if !batch.is_empty() {
                let count = batch.len() as u64;
                if !self.send(std::mem::take(&mut batch)).await {
                    inbox.dropped(count);
                }
            }
        }
    }

    /// Whether the collector took `batch`.
    async fn send(&mut self, batch: Vec<Span>) -> bool {
        let body = json!({"resourceSpans": [{
            "resource": self.resource,
            "scopeSpans": [{
                "scope": {"name": "switchyard", "version": env!("CARGO_PKG_VERSION")},
                "spans": batch.iter().map(encode).collect::<Vec<_>>(),
            }],
        }]});
        let mut request = self
            .http
            .post(&self.url)
            .header("content-type", "application/json")
            .body(body.to_string());
        for (name, value) in &self.headers {
            request = request.header(name, value);
        }
        let outcome = tokio::time::timeout(EXPORT_TIMEOUT, request.send()).await;
        let failure = match outcome {
            Ok(Ok(response)) if response.status().is_success() => None,
            Ok(Ok(response)) => Some(format!("the collector answered {}", response.status())),
            Ok(Err(error)) => Some(error.without_url().to_string()),
            Err(_) => Some(format!("no answer within {EXPORT_TIMEOUT:?}")),
        };
        let Some(error) = failure else {
            self.failing = false;
            return true;
        };
        if !self.failing {
            // The URL is said, never the headers: they may carry the collector's key.
            tracing::warn!(url = %self.url, %error, "cannot export spans: they are dropped (and counted) until the collector takes them");
            self.failing = true;
        }
        false
    }
}

/// One span in OTLP's JSON encoding: ids in hex, 64-bit numbers as strings.
fn encode(span: &Span) -> Value {
    let nanos = |at: SystemTime| {
        at.duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos())
            .to_string()
    };
    let mut encoded = json!({
        "traceId": format!("{:032x}", span.trace_id),
        "spanId": format!("{:016x}", span.span_id),
        "name": span.name,
        "kind": span.kind as u8,
        "startTimeUnixNano": nanos(span.start),
        "endTimeUnixNano": nanos(span.end),
        "attributes": span.attributes.iter().map(|(key, value)| attribute(key, value)).collect::<Vec<_>>(),
        "status": match &span.error {
            None => json!({}),
            Some(message) => json!({"code": 2, "message": message}),
        },
    });
    if let (Some(parent), Some(object)) = (span.parent, encoded.as_object_mut()) {
        object.insert("parentSpanId".into(), json!(format!("{parent:016x}")));
    }
    encoded
}

fn attribute(key: &str, value: &Attr) -> Value {
    json!({"key": key, "value": any_value(value)})
}

fn any_value(value: &Attr) -> Value {
    match value {
        Attr::Str(text) => json!({"stringValue": text}),
        Attr::Int(number) => json!({"intValue": number.to_string()}),
        Attr::Float(number) => json!({"doubleValue": number}),
        Attr::Bool(flag) => json!({"boolValue": flag}),
        Attr::Strs(texts) => {
            json!({"arrayValue": {"values": texts.iter().map(|t| json!({"stringValue": t})).collect::<Vec<_>>()}})
        }
    }
}
