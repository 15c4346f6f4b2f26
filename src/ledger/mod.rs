//! The usage ledger: one JSON line per upstream attempt (`Row`), the served one with its tokens
//! and cost, the failed and retried ones too (a provider may bill them). Rows are handed to a
//! writer thread through a bounded queue, so writing never slows or fails a request: when the
//! queue is full a row is dropped and counted, never waited for. `close` writes what is queued
//! before the process exits. `usage.rs` reads a ledger back for `switchyard usage`.

pub mod usage;
mod writer;

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

use serde::Serialize;
use tokio::sync::{mpsc, oneshot};

use crate::completion::Tokens;
use crate::config::LedgerConfig;

/// Rows waiting for the writer at most: a few seconds of a busy gateway's attempts.
const QUEUE: usize = 16_384;

pub struct Ledger {
    /// None: no ledger configured.
    queue: Option<mpsc::Sender<Message>>,
    /// Rows dropped: the queue was full, or the writer could not write them.
    dropped: std::sync::Arc<AtomicU64>,
    /// Fires when the writer has written everything and stopped.
    stopped: Mutex<Option<oneshot::Receiver<()>>>,
}

enum Message {
    Row(Box<Row>),
    /// Write what came before, then stop.
    Close,
}

/// One line of the ledger.
#[derive(Debug, Serialize)]
pub struct Row {
    /// When the attempt began, RFC 3339 UTC to the millisecond.
    pub time: String,
    pub request_id: String,
    /// The gateway key's name.
    pub key: Option<String>,
    pub surface: &'static str,
    /// The model the client asked for (a routing key or an alias).
    pub model: String,
    pub provider: String,
    /// The target tried: `provider/model`.
    pub target: String,
    /// 1 for the first attempt of the request.
    pub attempt: u32,
    /// For the attempt that served, how the request ended: `success`, `client_closed` or
    /// `failed` (after its output began); otherwise the attempt's result.
    pub outcome: &'static str,
    pub error: Option<&'static str>,
    pub status: u16,
    /// Some of its output reached the client.
    pub reached_client: bool,
    pub stream: bool,
    /// For a stream that served: from the request's arrival to its first output.
    pub ttft_ms: Option<f64>,
    pub duration_ms: f64,
    pub tokens: Option<RowTokens>,
    /// The tokens are the estimate the key's limits were charged (a stream cut before it
    /// reported usage), not a report.
    pub estimated: bool,
    pub cost_usd: Option<f64>,
    /// The prices used: the embedded catalog's version, or `operator`.
    pub prices: Option<&'static str>,
}

#[derive(Debug, Clone, Copy, Serialize, serde::Deserialize, Default, PartialEq, Eq)]
pub struct RowTokens {
    pub prompt: u64,
    pub completion: u64,
    pub cached_read: u64,
    pub cache_write: u64,
    pub reasoning: u64,
}

impl From<Tokens> for RowTokens {
    fn from(t: Tokens) -> Self {
        Self {
            prompt: t.prompt,
            completion: t.completion,
            cached_read: t.cached_read,
            cache_write: t.cache_write,
            reasoning: t.reasoning,
        }
    }
}

impl Ledger {
    /// No ledger: rows are neither made nor written.
    pub fn off() -> Self {
        Self {
            queue: None,
            dropped: std::sync::Arc::default(),
            stopped: Mutex::new(None),
        }
    }

    /// The ledger `config` asks for, its file opened (an error here stops the start) and its
    /// writer thread started.
    pub fn new(config: &LedgerConfig) -> Result<Self, String> {
        let Some(output) = &config.output else {
            return Ok(Self::off());
        };
        let sink = writer::Sink::open(output, config.max_bytes, config.max_files)?;
        let (queue, rows) = mpsc::channel(QUEUE);
        let (done, stopped) = oneshot::channel();
        let dropped = std::sync::Arc::new(AtomicU64::new(0));
        let counted = dropped.clone();
        std::thread::Builder::new()
            .name("ledger".into())
            .spawn(move || {
                writer::run(rows, sink, &counted);
                let _ = done.send(());
            })
            .map_err(|e| format!("cannot start the ledger writer: {e}"))?;
        Ok(Self {
            queue: Some(queue),
            dropped,
            stopped: Mutex::new(Some(stopped)),
        })
    }

    /// Rows are being written.
    pub fn on(&self) -> bool {
        self.queue.is_some()
    }

    /// Queues `row`, or drops and counts it when the writer is that far behind.
    pub fn write(&self, row: Row) {
        let Some(queue) = &self.queue else {
            return;
        };
        if queue.try_send(Message::Row(Box::new(row))).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Rows dropped since the start.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Writes every row queued so far and stops the writer; rows after this are dropped.
    pub async fn close(&self) {
        let Some(queue) = &self.queue else {
            return;
        };
        let stopped = self
            .stopped
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        if queue.send(Message::Close).await.is_ok()
            && let Some(stopped) = stopped
        {
            let _ = stopped.await;
        }
    }
}

/// RFC 3339 UTC to the millisecond, as rows carry it.
pub fn timestamp(at: SystemTime) -> String {
    humantime::format_rfc3339_millis(at).to_string()
}
