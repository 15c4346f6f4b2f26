//! Tracing setup, and the one structured line logged per chat request.

use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::http::{HeaderValue, Method, Uri};
use tower::Service;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::field::MakeExt;
use tracing_subscriber::fmt::{FormatFields, format};

use crate::completion::Tokens;
use crate::error::{Error, Fault};
use crate::metrics::{Finished, Metrics};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// Logs to stderr; `RUST_LOG` filters (default `info`).
pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    let _ = match format {
        LogFormat::Text => {
            TEXT.store(true, Ordering::Relaxed);
            builder.fmt_fields(text_fields()).try_init()
        }
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}

/// Whether the text format was chosen: the request line then comes with its fields written
/// already (`RequestLog::write`).
static TEXT: AtomicBool = AtomicBool::new(false);

/// The same `name=value` fields as the default, written without its per-field styling (which
/// costs even when colour is off): the request log line is on every request's path.
fn text_fields() -> impl for<'w> FormatFields<'w> + Send + Sync + 'static {
    format::debug_fn(|writer, field, value| {
        // A value from a client or a provider (a model name, an upstream's text) could otherwise
        // end the line and forge the next one, or drive the operator's terminal.
        let mut writer = Escaped(writer);
        match field.name() {
            "message" => write!(writer, "{value:?}"),
            name => write!(writer, "{name}={value:?}"),
        }
    })
    .delimited(" ")
}

/// Writes text with every control character (line ends, escape sequences, C1 controls) and
/// Unicode line separator escaped as `\n`, `\r`, `\t` or `\u{…}`, so one event is one line.
pub struct Escaped<W>(pub W);

impl<W: std::fmt::Write> std::fmt::Write for Escaped<W> {
    fn write_str(&mut self, text: &str) -> std::fmt::Result {
        // Nearly every value is printable ASCII: one pass over its bytes, then one write. Only
        // text with a control byte or any non-ASCII byte (which may start a C1 control or a
        // line separator) is looked at a character at a time.
        if text.bytes().all(|b| (0x20..0x7f).contains(&b)) {
            return self.0.write_str(text);
        }
        let mut rest = text;
        // Runs of plain text go through whole; the common case is one run.
        while let Some(at) = rest.find(needs_escape) {
            self.0.write_str(&rest[..at])?;
            let Some(c) = rest[at..].chars().next() else {
                break;
            };
            match c {
                '\n' => self.0.write_str("\\n")?,
                '\r' => self.0.write_str("\\r")?,
                '\t' => self.0.write_str("\\t")?,
                c => write!(self.0, "\\u{{{:x}}}", u32::from(c))?,
            }
            rest = &rest[at + c.len_utf8()..];
        }
        self.0.write_str(rest)
    }
}

fn needs_escape(c: char) -> bool {
    c.is_control() || matches!(c, '\u{2028}' | '\u{2029}')
}

/// Collects what happened to one chat request and logs it once, when dropped: at the response
/// for whole answers, at the end of the stream (or the client leaving) for streams.
pub struct RequestLog {
    request_id: String,
    started: Instant,
    model: String,
    /// The gateway key's name (never the key).
    key: Option<String>,
    served: Option<String>,
    provider: Option<String>,
    tokens: Option<Tokens>,
    stream: bool,
    status: u16,
    first_byte: Option<Duration>,
    error: Option<&'static str>,
    fault: Option<Fault>,
    complete: bool,
    /// Where the line is also counted, under this surface.
    metrics: Option<(Arc<Metrics>, &'static str)>,
}

impl RequestLog {
    pub fn new(request_id: String) -> Self {
        Self {
            request_id,
            started: Instant::now(),
            model: String::new(),
            key: None,
            served: None,
            provider: None,
            tokens: None,
            stream: false,
            status: 200,
            first_byte: None,
            error: None,
            fault: None,
            complete: false,
            metrics: None,
        }
    }

    /// Counts the request in `metrics` too, under `surface`, when the line is written.
    pub fn counted(mut self, metrics: &Arc<Metrics>, surface: &'static str) -> Self {
        if metrics.on() {
            self.metrics = Some((metrics.clone(), surface));
        }
        self
    }

    pub fn request(&mut self, model: &str, stream: bool) {
        self.model = model.to_owned();
        self.stream = stream;
    }

    pub fn key(&mut self, name: &str) {
        self.key = Some(name.to_owned());
    }

    /// The target that served (or was tried last), and its provider.
    pub fn served(&mut self, provider: &str, target: &str) {
        self.served = Some(target.to_owned());
        self.provider = Some(provider.to_owned());
    }

    /// The tokens the answer reported (for a stream, its last report so far).
    pub fn tokens(&mut self, tokens: Tokens) {
        self.tokens = Some(tokens);
    }

    pub fn first_byte(&mut self) {
        self.first_byte
            .get_or_insert_with(|| self.started.elapsed());
    }

    /// Failed before the response was committed: the status is the error's.
    pub fn reject(&mut self, error: &Error) {
        self.status = error.status().as_u16();
        self.error = Some(error.label());
        self.fault = Some(error.fault());
    }

    /// Failed after a stream was committed: the status stays 200, the error is recorded.
    pub fn fail(&mut self, error: &Error) {
        self.error = Some(error.label());
        self.fault = Some(error.fault());
    }

    pub fn complete(&mut self) {
        self.complete = true;
    }
}

impl Drop for RequestLog {
    fn drop(&mut self) {
        self.write(TEXT.load(Ordering::Relaxed));
    }
}

impl RequestLog {
    /// What the line says, measured now.
    fn line(&self) -> Line<'_> {
        // Neither answered nor failed: the client left first (a whole answer still pending, or
        // a stream before its end), which nginx logs as 499 where no status was sent.
        let left = self.error.is_none() && !self.complete;
        Line {
            log: self,
            outcome: match (self.error, left) {
                (Some(error), _) => error,
                (None, false) => "ok",
                (None, true) => "client_closed",
            },
            status: if left && !self.stream {
                CLIENT_CLOSED
            } else {
                self.status
            },
            latency_ms: millis(self.started.elapsed()),
            first_byte_ms: self.first_byte.map(millis),
        }
    }

    fn write(&self, text: bool) {
        let line = self.line();
        line.emit(text);
        if let Some((metrics, surface)) = &self.metrics {
            metrics.finished(&Finished {
                surface,
                model: &self.model,
                key: self.key.as_deref(),
                served: self.provider.as_deref().zip(self.served.as_deref()),
                tokens: self.tokens,
                status: line.status,
                outcome: match (self.error, line.outcome) {
                    (Some(_), _) => "error",
                    (None, outcome) => outcome,
                },
                fault: self.fault,
                stream: self.stream,
                duration: self.started.elapsed(),
                first_token: self.first_byte,
            });
        }
    }
}

struct Line<'a> {
    log: &'a RequestLog,
    outcome: &'static str,
    status: u16,
    latency_ms: f64,
    first_byte_ms: Option<f64>,
}

impl Line<'_> {
    /// Logs the line. For the text format its fields are written here, in one pass, and logged
    /// as the message: the subscriber's field visitor, one `dyn Debug` call and one escaping
    /// writer per field, cost more than half the line (bench/PROFILE.md). The text is the same
    /// either way (a test compares them); JSON keeps one field per value.
    fn emit(&self, text: bool) {
        let Self {
            log,
            outcome,
            status,
            latency_ms,
            first_byte_ms,
        } = self;
        let key = log.key.as_deref().unwrap_or("-");
        let served = log.served.as_deref().unwrap_or("-");
        if !text {
            tracing::info!(
                request_id = %log.request_id,
                model = %log.model,
                key,
                served,
                stream = log.stream,
                status,
                outcome,
                latency_ms,
                first_byte_ms,
                "chat completion"
            );
            return;
        }
        if !tracing::enabled!(tracing::Level::INFO) {
            return;
        }
        let mut fields = String::with_capacity(192);
        // As the text formatter writes them: `%` values bare, strings quoted as `Debug` does,
        // an absent option left out. The message is escaped as a whole by that formatter.
        let _ = write!(
            fields,
            "request_id={} model={} key={key:?} served={served:?} stream={} status={} \
             outcome={outcome:?} latency_ms={latency_ms:?}",
            log.request_id, log.model, log.stream, status,
        );
        if let Some(first_byte_ms) = first_byte_ms {
            let _ = write!(fields, " first_byte_ms={first_byte_ms:?}");
        }
        tracing::info!("chat completion {fields}");
    }
}

/// The status logged and counted for a request whose client left before any was sent.
const CLIENT_CLOSED: u16 = 499;

/// Milliseconds to the microsecond, as logged.
fn millis(duration: Duration) -> f64 {
    (duration.as_secs_f64() * 1e6).round() / 1e3
}

/// Marks a response whose request already logged its own, richer line (chat completions).
#[derive(Debug, Clone, Copy)]
pub struct Logged;

/// One line for every request that does not log itself: rejected keys, unknown routes, models.
/// Health and readiness probes log at debug level, as load balancers call them constantly.
///
/// A plain service around the routes rather than `axum::middleware::from_fn`, which boxes the
/// inner service and its future on every request, chat requests included, that log themselves.
#[derive(Clone)]
pub struct LogRequests<S> {
    pub inner: S,
    pub metrics: Arc<Metrics>,
}

impl<S, B, R> Service<axum::http::Request<B>> for LogRequests<S>
where
    S: Service<axum::http::Request<B>, Response = axum::http::Response<R>>,
{
    type Response = axum::http::Response<R>;
    type Error = S::Error;
    type Future = Logging<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: axum::http::Request<B>) -> Self::Future {
        let seen = Seen {
            started: Instant::now(),
            method: request.method().clone(),
            uri: request.uri().clone(),
            request_id: request.headers().get("x-request-id").cloned(),
        };
        Logging {
            inner: self.inner.call(request),
            seen: Some(seen),
            metrics: self.metrics.clone(),
        }
    }
}

pin_project_lite::pin_project! {
    /// The routes' future, logging its response unless the response says it was logged.
    pub struct Logging<F> {
        #[pin]
        inner: F,
        seen: Option<Seen>,
        metrics: Arc<Metrics>,
    }
}

/// What the line says of the request, kept while it is served.
pub struct Seen {
    started: Instant,
    method: Method,
    uri: Uri,
    request_id: Option<HeaderValue>,
}

impl<F, R, E> Future for Logging<F>
where
    F: Future<Output = Result<axum::http::Response<R>, E>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = std::task::ready!(this.inner.poll(cx));
        if let (Ok(response), Some(seen)) = (&result, this.seen.take())
            && response.extensions().get::<Logged>().is_none()
        {
            seen.log(response.status().as_u16(), this.metrics);
        }
        Poll::Ready(result)
    }
}

impl Seen {
    fn log(self, status: u16, metrics: &Metrics) {
        let request_id = self
            .request_id
            .as_ref()
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        let latency_ms = millis(self.started.elapsed());
        let method = &self.method;
        let path = self.uri.path();
        if matches!(path, "/health" | "/ready") {
            tracing::debug!(request_id, %method, path, status, latency_ms, "request");
        } else {
            tracing::info!(request_id, %method, path, status, latency_ms, "request");
        }
        // Only the status is known here, not the error: its class says whose fault it was.
        let fault = match status {
            429 | 403 => Some(Fault::Policy),
            400..=499 => Some(Fault::Caller),
            500.. => Some(Fault::Gateway),
            _ => None,
        };
        metrics.finished(&Finished {
            surface: match path {
                "/v1/models" | "/models" => "models",
                "/health" | "/ready" => "health",
                "/metrics" => "metrics",
                _ => "other",
            },
            model: "",
            key: None,
            served: None,
            tokens: None,
            status,
            outcome: if fault.is_some() { "error" } else { "ok" },
            fault,
            stream: false,
            duration: self.started.elapsed(),
            first_token: None,
        });
    }
}

#[cfg(test)]
mod tests {
    use std::fmt::Write as _;

    use super::{Escaped, Line, RequestLog, text_fields};

    fn escaped(text: &str) -> String {
        let mut out = Escaped(String::new());
        let _ = out.write_str(text);
        out.0
    }

    /// What `emit` logs through the text format's formatter, the timestamp left out.
    fn logged(line: &Line<'_>, text: bool) -> String {
        let out = std::sync::Arc::new(std::sync::Mutex::new(Vec::<u8>::new()));
        let sink = out.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .fmt_fields(text_fields())
            .with_writer(move || Sink(sink.clone()))
            .finish();
        tracing::subscriber::with_default(subscriber, || line.emit(text));
        let bytes = out.lock().map(|b| b.clone()).unwrap_or_default();
        let text = String::from_utf8_lossy(&bytes).into_owned();
        text.split_once(' ')
            .map(|(_, rest)| rest.to_owned())
            .unwrap_or(text)
    }

    struct Sink(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for Sink {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            if let Ok(mut out) = self.0.lock() {
                out.extend_from_slice(bytes);
            }
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn the_request_line_written_in_one_pass_is_the_line_the_formatter_writes() {
        let mut log = RequestLog::new("req-\"1\"".to_owned());
        log.request("up/m\nforged=1 \u{1b}[31m", true);
        log.key("ci \"bot\"");
        log.served("up", "up/m");
        log.first_byte();
        log.complete();
        let line = log.line();
        let structured = logged(&line, false);
        assert!(
            structured.contains("chat completion request_id="),
            "{structured}"
        );
        assert!(structured.contains("first_byte_ms="), "{structured}");
        assert_eq!(
            structured.matches('\n').count(),
            1,
            "one line: {structured}"
        );
        assert!(
            structured.contains("up/m\\nforged=1 \\u{1b}[31m"),
            "{structured}"
        );
        assert_eq!(logged(&line, true), structured);

        // Without a first byte, the field is left out by both.
        let mut cut = RequestLog::new(String::new());
        cut.request("m", true);
        let line = cut.line();
        let structured = logged(&line, false);
        assert!(!structured.contains("first_byte_ms"), "{structured}");
        assert!(
            structured.contains("outcome=\"client_closed\""),
            "{structured}"
        );
        assert_eq!(logged(&line, true), structured);
    }

    #[test]
    fn printable_text_goes_through_and_controls_are_escaped() {
        assert_eq!(escaped("plain model-name/x 1.5"), "plain model-name/x 1.5");
        assert_eq!(escaped("café ☃"), "café ☃");
        assert_eq!(escaped("a\nb\r\tc"), "a\\nb\\r\\tc");
        assert_eq!(escaped("red\u{1b}[31m"), "red\\u{1b}[31m");
        assert_eq!(escaped("del\u{7f}"), "del\\u{7f}");
        assert_eq!(
            escaped("c1\u{85}ls\u{2028}ps\u{2029}"),
            "c1\\u{85}ls\\u{2028}ps\\u{2029}"
        );
    }
}
