//! What happened to one request that reports itself (chat completions), reported once when it
//! ends: the log line, the metrics, the tokens and dollars its gateway key is charged, and the
//! ledger's row for each of its attempts.

use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime};

use super::{Attr, Kind, Span, TEXT, Trace, Tracer, Tried, content, millis};
use crate::completion::{Chunk, Tokens};
use crate::error::{Error, Fault};
use crate::ledger::{Ledger, Row};
use crate::limits::{Account, Usage};
use crate::metrics::{Finished, Metrics};
use crate::pricing::Price;

/// Collects what happened to one request and reports it once, when dropped: at the response
/// for whole answers, at the end of the stream (or the client leaving) for streams.
pub struct RequestLog {
    request_id: String,
    started: Instant,
    model: String,
    /// The gateway key's name (never the key).
    key: Option<String>,
    served: Option<String>,
    provider: Option<String>,
    /// The price of the target that served; none when it has no price.
    price: Option<Price>,
    tokens: Option<Tokens>,
    /// What `tokens` cost, when priced.
    cost: Option<f64>,
    /// Where the key's tokens and dollars are counted, when its limits count them.
    account: Option<Account>,
    /// For a stream that ends before reporting usage (cut, failed, client gone): the prompt
    /// estimated from the request's size, plus a token per chunk of output, so nothing streams
    /// for free.
    estimate: Tokens,
    stream: bool,
    status: u16,
    first_byte: Option<Duration>,
    error: Option<&'static str>,
    fault: Option<Fault>,
    complete: bool,
    /// The inbound API, as metrics and the ledger name it.
    surface: &'static str,
    /// Where the line is also counted.
    metrics: Option<Arc<Metrics>>,
    /// Where each attempt gets its row.
    ledger: Option<Arc<Ledger>>,
    /// Where the request's span and its attempts' go.
    tracer: Option<Arc<Tracer>>,
    /// The attempts so far (the attempt loop adds them), when the ledger or traces want them.
    tried: Option<Tried>,
    /// The answer's finish reasons, for its spans (a few at most: one per choice).
    finishes: Vec<&'static str>,
    /// The prompt and the answer, when spans are to carry them.
    content: Option<Box<Captured>>,
    /// The model the upstream said answered, for the spans.
    upstream_model: Option<Box<str>>,
}

/// `gen_ai.input.messages` and `gen_ai.output.messages`, as they are known.
#[derive(Debug, Default)]
struct Captured {
    input: Option<String>,
    whole: Option<String>,
    stream: content::StreamOutput,
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
            price: None,
            tokens: None,
            cost: None,
            account: None,
            estimate: Tokens::default(),
            stream: false,
            status: 200,
            first_byte: None,
            error: None,
            fault: None,
            complete: false,
            surface: "",
            metrics: None,
            ledger: None,
            tracer: None,
            tried: None,
            finishes: Vec::new(),
            content: None,
            upstream_model: None,
        }
    }

    /// Counts the request in `metrics` too, under `surface`, when the line is written.
    pub fn counted(mut self, metrics: &Arc<Metrics>, surface: &'static str) -> Self {
        self.surface = surface;
        if metrics.on() {
            self.metrics = Some(metrics.clone());
        }
        self
    }

    /// Writes a row for each attempt to `ledger` too, when it is on.
    pub fn ledgered(mut self, ledger: &Arc<Ledger>) -> Self {
        if ledger.on() {
            self.ledger = Some(ledger.clone());
            self.tried.get_or_insert_default();
        }
        self
    }

    /// Exports the request's span and its attempts' to `tracer`, when it is on, in the trace
    /// the request's `traceparent` names (or a new one).
    pub fn traced(mut self, tracer: &Arc<Tracer>, headers: &axum::http::HeaderMap) -> Self {
        if tracer.on() {
            self.tracer = Some(tracer.clone());
            self.tried.get_or_insert_default().trace = Some(Trace::from_headers(headers));
            if tracer.captures_content() {
                self.content = Some(Box::default());
            }
        }
        self
    }

    /// The request body's messages, when spans carry content.
    pub fn capture_input(&mut self, body: &[u8]) {
        if let Some(content) = self.content.as_mut() {
            content.input = content::input_messages(body);
        }
    }

    /// A whole answer's messages, when spans carry content.
    pub fn capture_output(&mut self, answer: &[u8]) {
        if let Some(content) = self.content.as_mut() {
            content.whole = content::output_messages(answer);
        }
    }

    /// Where the attempt loop adds the attempts, when the ledger or traces want them.
    pub fn attempts(&mut self) -> Option<&mut Tried> {
        self.tried.as_mut()
    }

    pub fn request(&mut self, model: &str, stream: bool) {
        self.model = model.to_owned();
        self.stream = stream;
    }

    pub fn key(&mut self, name: &str) {
        self.key = Some(name.to_owned());
    }

    /// Charges the request's tokens and dollars to `account` when it ends; a stream that never
    /// reports usage is charged `prompt_estimate` and a token per chunk of output.
    pub fn account(&mut self, account: Account, prompt_estimate: u64) {
        self.account = Some(account);
        self.estimate.prompt = prompt_estimate;
    }

    /// The target that served (or was tried last), its provider, and its price.
    pub fn served(&mut self, provider: &str, target: &str, price: Option<Price>) {
        self.served = Some(target.to_owned());
        self.provider = Some(provider.to_owned());
        self.price = price;
    }

    /// The tokens the answer reported (for a stream, its last report so far), and their cost.
    pub fn tokens(&mut self, tokens: Tokens) {
        self.tokens = Some(tokens);
        self.cost = self.price.map(|price| price.cost(&tokens));
    }

    /// What the tokens reported so far cost; none when unpriced or not reported.
    pub fn cost(&self) -> Option<f64> {
        self.cost
    }

    /// How the answer (or one of its choices) ended, when traced.
    pub fn finished(&mut self, finish: Option<&'static str>) {
        // However many a provider sends, a span lists a few.
        if let (Some(finish), Some(_), true) = (finish, &self.tracer, self.finishes.len() < 8) {
            self.finishes.push(finish);
        }
    }

    /// The model the upstream says answered, when it says.
    pub fn answered_by(&mut self, model: Option<Box<str>>) {
        if model.is_some() {
            self.upstream_model = model;
        }
    }

    /// A chunk relayed: its usage report, a finish, the upstream's model, or a token more of
    /// the estimate.
    pub fn see(&mut self, chunk: &Chunk) {
        self.finished(chunk.finish);
        if let Some(model) = &chunk.model {
            self.upstream_model = Some(model.clone());
        }
        if let Some(content) = self.content.as_mut() {
            content.stream.see(&chunk.json);
        }
        if let Some(tokens) = chunk.usage {
            // Usage is cumulative: the last report is the total.
            self.tokens(tokens);
        }
        if chunk.output {
            self.estimate.completion += 1;
        }
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
        let charged = self.charged();
        if let Some(account) = self.account.take() {
            account
                .record(charged.map_or_else(Usage::default, |c| Usage::of(c.tokens.total, c.cost)));
        }
        let (outcome, status) = self.write(TEXT.load(Ordering::Relaxed));
        if let Some(tried) = self.tried.take() {
            self.rows(&tried, outcome, status, charged);
            self.spans(&tried, status, charged);
        }
    }
}

/// The tokens a request is charged, what they cost, and whether they are an estimate.
#[derive(Clone, Copy)]
struct Charged {
    tokens: Tokens,
    cost: Option<f64>,
    estimated: bool,
}

impl RequestLog {
    /// What the request is charged: the usage reported, else, for a committed stream whose key
    /// counts tokens, the estimate (a whole answer without usage is charged nothing: it was
    /// read whole, and reported none; a stream that failed before its commit had no output).
    fn charged(&self) -> Option<Charged> {
        if let Some(tokens) = self.tokens {
            return Some(Charged {
                tokens,
                cost: self.cost,
                estimated: false,
            });
        }
        if !(self.stream && self.first_byte.is_some() && self.account.is_some()) {
            return None;
        }
        let mut tokens = self.estimate;
        tokens.total = tokens.prompt + tokens.completion;
        Some(Charged {
            tokens,
            cost: self.price.map(|p| p.cost(&tokens)),
            estimated: true,
        })
    }

    /// A ledger row for each attempt: the one that served carries how the request ended, its
    /// tokens and cost; the others their own result.
    fn rows(&self, tried: &Tried, outcome: &'static str, status: u16, charged: Option<Charged>) {
        let Some(ledger) = &self.ledger else {
            return;
        };
        for (number, attempt) in (1u32..).zip(&tried.attempts) {
            let served = attempt.result == "success";
            let charged = charged.filter(|_| served);
            let row = Row {
                time: attempt.started,
                request_id: self.request_id.clone(),
                key: self.key.clone(),
                surface: self.surface,
                model: self.model.clone(),
                provider: attempt.provider.clone(),
                target: attempt.target.clone(),
                attempt: number,
                outcome: match (served, outcome) {
                    (false, _) => attempt.result,
                    (true, "ok") => "success",
                    (true, "client_closed") => "client_closed",
                    (true, _) => "failed",
                },
                error: if served { self.error } else { attempt.error },
                status: if served { status } else { attempt.status },
                reached_client: served && self.first_byte.is_some(),
                stream: self.stream,
                ttft_ms: self
                    .first_byte
                    .filter(|_| served && self.stream)
                    .map(millis),
                duration_ms: millis(if served {
                    attempt.began.elapsed()
                } else {
                    attempt.duration
                }),
                tokens: charged.map(|c| c.tokens.into()),
                estimated: charged.is_some_and(|c| c.estimated),
                cost_usd: charged.and_then(|c| c.cost),
                prices: charged.and(self.price).map(|p| p.source),
            };
            ledger.write(row);
        }
    }

    /// The request's server span and a client span per attempt, with OpenTelemetry's GenAI
    /// attributes; never a prompt or an answer.
    fn spans(&self, tried: &Tried, status: u16, charged: Option<Charged>) {
        let (Some(tracer), Some(trace)) = (&self.tracer, tried.trace) else {
            return;
        };
        if !trace.sampled {
            return;
        }
        let now = SystemTime::now();
        let received = now - self.started.elapsed();
        // Reported tokens only: an estimate is the gateway's, not the provider's usage.
        let reported = charged.filter(|c| !c.estimated).map(|c| c.tokens);
        let mut attributes = vec![
            (
                "gen_ai.operation.name",
                Attr::Str(operation(self.surface).into()),
            ),
            ("switchyard.surface", Attr::Str(self.surface.into())),
            ("gen_ai.request.model", Attr::Str(self.model.clone())),
            ("http.response.status_code", Attr::Int(i64::from(status))),
            (
                "switchyard.attempts",
                Attr::Int(tried.attempts.len() as i64),
            ),
        ];
        if self.stream {
            attributes.push(("gen_ai.request.stream", Attr::Bool(true)));
        }
        if let Some(key) = &self.key {
            attributes.push(("switchyard.key", Attr::Str(key.clone())));
        }
        if let Some(served) = &self.served {
            attributes.push(("switchyard.target", Attr::Str(served.clone())));
        }
        if let Some(cost) = charged.and_then(|c| c.cost) {
            attributes.push(("switchyard.cost_usd", Attr::Float(cost)));
        }
        usage(&mut attributes, reported);
        self.finishes_in(&mut attributes);
        self.content_in(&mut attributes);
        if let Some(error) = self.error {
            attributes.push(("error.type", Attr::Str(error.into())));
        }
        tracer.export(Span {
            trace_id: trace.trace_id,
            span_id: trace.span_id,
            parent: trace.parent,
            name: format!("{} {}", operation(self.surface), self.model),
            kind: Kind::Server,
            start: received,
            end: now,
            attributes,
            error: self.error.map(str::to_owned),
        });
        for attempt in &tried.attempts {
            let served = attempt.result == "success";
            let mut attributes = vec![
                (
                    "gen_ai.operation.name",
                    Attr::Str(operation(self.surface).into()),
                ),
                ("switchyard.surface", Attr::Str(self.surface.into())),
                ("gen_ai.provider.name", Attr::Str(attempt.system.into())),
                ("gen_ai.request.model", Attr::Str(attempt.model.clone())),
                ("switchyard.target", Attr::Str(attempt.target.clone())),
                (
                    "switchyard.attempt.result",
                    Attr::Str(attempt.result.into()),
                ),
            ];
            if self.stream {
                attributes.push(("gen_ai.request.stream", Attr::Bool(true)));
            }
            if let Some((host, port)) = &attempt.server {
                attributes.push(("server.address", Attr::Str(host.to_string())));
                attributes.push(("server.port", Attr::Int(i64::from(*port))));
            }
            let error = if served { self.error } else { attempt.error };
            if served {
                // As the provider named it; the model asked of it when it named none.
                let model = self.upstream_model.as_deref().unwrap_or(&attempt.model);
                attributes.push(("gen_ai.response.model", Attr::Str(model.to_owned())));
                usage(&mut attributes, reported);
                self.finishes_in(&mut attributes);
                self.content_in(&mut attributes);
                // From the attempt's start to the stream's first output.
                let offset = attempt.began.saturating_duration_since(self.started);
                if let (true, Some(first)) = (self.stream, self.first_byte) {
                    attributes.push((
                        "gen_ai.response.time_to_first_chunk",
                        Attr::Float(first.saturating_sub(offset).as_secs_f64()),
                    ));
                }
            }
            if let Some(error) = error {
                attributes.push(("error.type", Attr::Str(error.into())));
            }
            tracer.export(Span {
                trace_id: trace.trace_id,
                span_id: attempt.span_id,
                parent: Some(trace.span_id),
                name: format!("{} {}", operation(self.surface), attempt.model),
                kind: Kind::Client,
                start: attempt.started,
                end: if served {
                    now
                } else {
                    attempt.started + attempt.duration
                },
                attributes,
                error: error.map(str::to_owned),
            });
        }
    }

    /// `gen_ai.input.messages` and `gen_ai.output.messages`, when spans carry content.
    fn content_in(&self, attributes: &mut Vec<(&'static str, Attr)>) {
        let Some(content) = &self.content else {
            return;
        };
        if let Some(input) = &content.input {
            attributes.push(("gen_ai.input.messages", Attr::Str(input.clone())));
        }
        let output = match &content.whole {
            Some(whole) => Some(whole.clone()),
            None if self.stream && self.first_byte.is_some() => Some(content.stream.messages()),
            None => None,
        };
        if let Some(output) = output {
            attributes.push(("gen_ai.output.messages", Attr::Str(output)));
        }
    }

    /// `gen_ai.response.finish_reasons`, when the answer gave any.
    fn finishes_in(&self, attributes: &mut Vec<(&'static str, Attr)>) {
        if !self.finishes.is_empty() {
            attributes.push((
                "gen_ai.response.finish_reasons",
                Attr::Strs(self.finishes.iter().map(|f| (*f).to_owned()).collect()),
            ));
        }
    }

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

    /// Logs the line and counts it; returns its outcome and status.
    fn write(&self, text: bool) -> (&'static str, u16) {
        let line = self.line();
        line.emit(text);
        if let Some(metrics) = &self.metrics {
            metrics.finished(&Finished {
                surface: self.surface,
                model: &self.model,
                key: self.key.as_deref(),
                served: self.provider.as_deref().zip(self.served.as_deref()),
                tokens: self.tokens,
                cost: self.cost,
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
        (line.outcome, line.status)
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
                "{}",
                title(log.surface)
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
        tracing::info!("{} {fields}", title(log.surface));
    }
}

/// What the line calls a request of `surface`.
/// The GenAI conventions' operation a surface performs: Anthropic's Messages and OpenAI's
/// Responses are chats as Chat Completions are (the conventions have no name of their own for
/// them); which API the client spoke is `switchyard.surface`.
fn operation(surface: &str) -> &'static str {
    match surface {
        "embeddings" => "embeddings",
        _ => "chat",
    }
}

fn title(surface: &str) -> &'static str {
    match surface {
        "messages" => "anthropic message",
        "embeddings" => "embeddings",
        "responses" => "response",
        _ => "chat completion",
    }
}

/// The status logged and counted for a request whose client left before any was sent.
const CLIENT_CLOSED: u16 = 499;

/// The GenAI usage attributes: input counts cached and cache-written tokens (as OpenAI's
/// `prompt_tokens` does, and as the translated answers are made to), output counts reasoning.
fn usage(attributes: &mut Vec<(&'static str, Attr)>, tokens: Option<Tokens>) {
    let Some(tokens) = tokens else {
        return;
    };
    let count = |n: u64| Attr::Int(i64::try_from(n).unwrap_or(i64::MAX));
    attributes.push(("gen_ai.usage.input_tokens", count(tokens.prompt)));
    attributes.push(("gen_ai.usage.output_tokens", count(tokens.completion)));
    for (name, n) in [
        ("gen_ai.usage.cache_read.input_tokens", tokens.cached_read),
        (
            "gen_ai.usage.cache_creation.input_tokens",
            tokens.cache_write,
        ),
        ("gen_ai.usage.reasoning.output_tokens", tokens.reasoning),
    ] {
        if n > 0 {
            attributes.push((name, count(n)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::text_fields;
    use super::{Line, RequestLog};

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
        log.served("up", "up/m", None);
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
}
