//! Tracing setup, and the one structured line logged per chat request.

mod content;
mod log_requests;
mod request_log;
mod spans;
mod trace;
mod tried;

use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::field::MakeExt;
use tracing_subscriber::fmt::{FormatFields, format};

pub use log_requests::{LogRequests, Logged};
pub use request_log::RequestLog;
pub use spans::{Attr, Kind, Span, Tracer};
pub use trace::{Trace, span_id};
pub use tried::{Attempt, Tried};

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

/// Milliseconds to the microsecond, as logged.
fn millis(duration: Duration) -> f64 {
    (duration.as_secs_f64() * 1e6).round() / 1e3
}

#[cfg(test)]
mod tests {
    use std::fmt::Write as _;

    use super::Escaped;

    fn escaped(text: &str) -> String {
        let mut out = Escaped(String::new());
        let _ = out.write_str(text);
        out.0
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
