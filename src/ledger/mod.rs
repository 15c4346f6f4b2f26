//! The usage ledger: one JSON line per upstream attempt (`Row`), the served one with its tokens
//! and cost, the failed and retried ones too (a provider may bill them). Rows are handed to a
//! writer thread through a bounded queue, so writing never slows or fails a request: when the
//! queue is full a row is dropped and counted, never waited for. `close` writes what is queued
//! before the process exits. `usage.rs` reads a ledger back for `switchyard usage`.

pub mod usage;
mod writer;

use std::time::{Duration, SystemTime};

use serde::Serialize;

use crate::completion::Tokens;
use crate::config::LedgerConfig;
use crate::outbox::Outbox;

/// Rows waiting for the writer at most: a few seconds of a busy gateway's attempts.
const QUEUE: usize = 16_384;

/// The longest a graceful shutdown waits for the queued rows to be written.
const CLOSE_WAIT: Duration = Duration::from_secs(10);

pub struct Ledger {
    rows: Outbox<Row>,
}

/// One line of the ledger.
#[derive(Debug, Serialize)]
pub struct Row {
    /// When the attempt began, written RFC 3339 UTC to the millisecond (by the writer, off the
    /// request path).
    #[serde(serialize_with = "rfc3339")]
    pub time: SystemTime,
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
            rows: Outbox::off(),
        }
    }

    /// The ledger `config` asks for, its file opened (an error here stops the start) and its
    /// writer thread started.
    pub fn new(config: &LedgerConfig) -> Result<Self, String> {
        let Some(output) = &config.output else {
            return Ok(Self::off());
        };
        let sink = writer::Sink::open(output, config.max_bytes, config.max_files)?;
        let (rows, inbox) = Outbox::new(QUEUE);
        std::thread::Builder::new()
            .name("ledger".into())
            .spawn(move || writer::run(inbox, sink))
            .map_err(|e| format!("cannot start the ledger writer: {e}"))?;
        Ok(Self { rows })
    }

    /// Rows are being written.
    pub fn on(&self) -> bool {
        self.rows.on()
    }

    /// Queues `row`, or drops and counts it when the writer is that far behind.
    pub fn write(&self, row: Row) {
        self.rows.push(row);
    }

    /// Rows dropped since the start.
    pub fn dropped(&self) -> u64 {
        self.rows.dropped()
    }

    /// Writes every row queued so far and stops the writer; rows after this are dropped.
    pub async fn close(&self) {
        self.rows.close(CLOSE_WAIT).await;
    }
}

/// RFC 3339 UTC to the millisecond, as rows carry it.
fn rfc3339<S: serde::Serializer>(at: &SystemTime, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_str(&humantime::format_rfc3339_millis(*at))
}
