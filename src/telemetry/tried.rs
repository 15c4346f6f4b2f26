//! A request's attempts as the attempt loop saw them, kept for the ledger's rows and the
//! attempts' spans, and the trace the attempts are sent in.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use super::Trace;

/// What the attempt loop adds to, when the ledger or traces want the attempts.
#[derive(Debug, Default)]
pub struct Tried {
    pub attempts: Vec<Attempt>,
    /// The request's trace, when spans are exported: each attempt is sent with a
    /// `traceparent` naming its own span.
    pub trace: Option<Trace>,
}

#[derive(Debug, Clone)]
pub struct Attempt {
    pub provider: String,
    /// `gen_ai.provider.name` of the provider.
    pub system: &'static str,
    /// The provider's host and port.
    pub server: Option<(Arc<str>, u16)>,
    pub target: String,
    /// The upstream's own model name.
    pub model: String,
    /// When it began, for the row's time and the span's start, and for its duration.
    pub started: SystemTime,
    pub began: Instant,
    /// Until its verdict; for the attempt that served, the request's end counts instead.
    pub duration: Duration,
    /// As the metrics count attempts: `success`, `retried`, `fell_back`, `timed_out`,
    /// `cancelled`, `failed`.
    pub result: &'static str,
    /// The status its error maps to (499 for one the client left during); 200 when it served.
    pub status: u16,
    /// Its error's label, when it failed.
    pub error: Option<&'static str>,
    /// Its span, when traced (0 otherwise).
    pub span_id: u64,
}
