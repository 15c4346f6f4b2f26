//! The gateway's Prometheus metrics: what every request and every upstream attempt adds, in
//! one registry, written in Prometheus's text format for `GET /metrics`. Every label value
//! comes from the config (provider, alias, model and key names) or from a closed vocabulary
//! (surface, outcome, error type, attempt result), never from what a client typed: a model
//! the config does not name is `unknown`, so no client can grow the series without bound.

mod names;

use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Metric, Registry, Unit};

use crate::completion::Tokens;
use crate::config::Config;
use crate::error::Fault;
use names::Names;

/// The `Content-Type` of what `render` writes.
pub const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// Whole requests and streams, in seconds: from a few milliseconds to a long generation.
const SECONDS: [f64; 15] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0,
];
/// The gateway's own time on a request, in seconds: microseconds when all is well.
const OVERHEAD_SECONDS: [f64; 13] = [
    0.000_005, 0.000_01, 0.000_025, 0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005,
    0.01, 0.025, 0.1,
];
/// Retries (attempts after the first) per request.
const RETRIES: [f64; 6] = [0.0, 1.0, 2.0, 3.0, 5.0, 10.0];

type Histograms<L> = Family<L, Histogram, fn() -> Histogram>;

pub struct Metrics {
    /// `[metrics] enabled = false`: nothing is counted, so the request path pays nothing.
    on: bool,
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    duration: Histograms<StreamLabels>,
    first_token: Histograms<SurfaceLabels>,
    overhead: Histograms<SurfaceLabels>,
    retries: Histograms<SurfaceLabels>,
    attempts: Family<AttemptLabels, Counter>,
    streams: Family<SurfaceLabels, Gauge>,
    tokens: Family<TokenLabels, Counter>,
    cost: Family<CostLabels, Counter<f64, AtomicU64>>,
    unpriced: Family<TargetOfLabels, Counter>,
    rate_limited: Family<KeyLabels, Counter>,
    names: Names,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    surface: &'static str,
    model: Arc<str>,
    key: Arc<str>,
    status_class: &'static str,
    outcome: &'static str,
    error_type: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StreamLabels {
    surface: &'static str,
    stream: bool,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SurfaceLabels {
    surface: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AttemptLabels {
    provider: Arc<str>,
    target: Arc<str>,
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TokenLabels {
    provider: Arc<str>,
    target: Arc<str>,
    kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CostLabels {
    provider: Arc<str>,
    target: Arc<str>,
    key: Arc<str>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TargetOfLabels {
    provider: Arc<str>,
    target: Arc<str>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TargetLabels {
    target: Arc<str>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ProviderLabels {
    provider: Arc<str>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KeyLabels {
    key: Arc<str>,
}

/// Every target and API key the router remembers, and whether each is cooling down now.
#[derive(Debug, Default)]
pub struct Cooling {
    /// Target names (`provider/model`).
    pub targets: Vec<(String, bool)>,
    /// Each API key by its provider's name.
    pub api_keys: Vec<(String, bool)>,
}

/// One finished request, as its log line tells it.
pub struct Finished<'a> {
    pub surface: &'static str,
    /// The model asked for, as the client named it (counted under its name only if the config
    /// has it).
    pub model: &'a str,
    /// The gateway key's name.
    pub key: Option<&'a str>,
    /// The provider and target that served (or were tried last).
    pub served: Option<(&'a str, &'a str)>,
    /// The tokens the answer reported.
    pub tokens: Option<Tokens>,
    /// What they cost; none when the target has no price.
    pub cost: Option<f64>,
    pub status: u16,
    /// `ok`, `error` or `client_closed`.
    pub outcome: &'static str,
    pub fault: Option<Fault>,
    pub stream: bool,
    pub duration: Duration,
    pub first_token: Option<Duration>,
}

/// What was lost or failed outside the request path, as counted where it happened.
#[derive(Debug, Clone, Copy, Default)]
pub struct Dropped {
    /// Calls to the Redis limits backend that failed.
    pub redis_errors: u64,
    pub ledger_rows: u64,
    pub spans: u64,
}

/// What became of one upstream attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptResult {
    Success,
    /// The same target again: with another API key, or after a wait.
    Retried,
    /// Routing moved on to the next target.
    FellBack,
    /// The attempt ran out of time (the provider's timeouts or the request's deadline).
    TimedOut,
    /// The client left while the attempt ran.
    Cancelled,
    /// Nothing followed: the request failed with this attempt's error.
    Failed,
}

impl AttemptResult {
    pub fn label(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Retried => "retried",
            Self::FellBack => "fell_back",
            Self::TimedOut => "timed_out",
            Self::Cancelled => "cancelled",
            Self::Failed => "failed",
        }
    }
}

impl Metrics {
    pub fn new(config: &Config) -> Self {
        let mut registry = Registry::with_prefix("switchyard");
        let r = &mut registry;
        let requests = registered(
            r,
            "requests",
            None,
            Family::default(),
            "Requests answered, by surface, model asked, gateway key, status class, outcome and whose fault an error was",
        );
        let duration = registered(
            r,
            "request_duration",
            Some(Unit::Seconds),
            histograms(|| Histogram::new(SECONDS)),
            "Time from a request's arrival to its last byte (a stream's end)",
        );
        let first_token = registered(
            r,
            "time_to_first_token",
            Some(Unit::Seconds),
            histograms(|| Histogram::new(SECONDS)),
            "Time from a stream's arrival to its first output sent to the client",
        );
        let overhead = registered(
            r,
            "overhead",
            Some(Unit::Seconds),
            histograms(|| Histogram::new(OVERHEAD_SECONDS)),
            "The gateway's own time on a request, waiting on providers excluded (x-switchyard-overhead-ms)",
        );
        let retries = registered(
            r,
            "request_retries",
            None,
            histograms(|| Histogram::new(RETRIES)),
            "Upstream attempts after the first, per routed request (retries and fallbacks)",
        );
        let attempts = registered(
            r,
            "upstream_attempts",
            None,
            Family::default(),
            "Upstream attempts by provider, target and what became of them",
        );
        let streams = registered(
            r,
            "streams_in_flight",
            None,
            Family::default(),
            "Streams being relayed to clients now",
        );
        let tokens = registered(
            r,
            "tokens",
            None,
            Family::default(),
            "Tokens providers reported, by provider, target and kind (prompt, completion; cached_read, cache_write and reasoning are parts of those)",
        );
        let cost = registered(
            r,
            "cost_usd",
            None,
            Family::default(),
            "Dollars the answers cost by the price catalog (or the operator's prices), by provider, target and gateway key",
        );
        let unpriced = registered(
            r,
            "unpriced_answers",
            None,
            Family::default(),
            "Answers that reported tokens for a model without a price, which cost nothing here",
        );
        let rate_limited = registered(
            r,
            "rate_limited",
            None,
            Family::default(),
            "Requests refused by a gateway key's limits, by key",
        );
        Self {
            on: config.metrics.enabled,
            registry,
            requests,
            duration,
            first_token,
            overhead,
            retries,
            attempts,
            streams,
            tokens,
            cost,
            unpriced,
            rate_limited,
            names: Names::new(config),
        }
    }

    /// Whether anything is counted.
    pub fn on(&self) -> bool {
        self.on
    }

    /// Everything, in Prometheus's text format, with the cooldowns as they are now and what
    /// failed or was dropped elsewhere so far.
    pub fn render(&self, cooling: &Cooling, dropped: Dropped) -> String {
        use prometheus_client::encoding::prometheus_text::encode;
        // Gauges of state held elsewhere, read when scraped rather than kept up to date on
        // every request.
        let mut now = Registry::with_prefix("switchyard");
        let targets = Family::<TargetLabels, Gauge>::default();
        for (name, cooling) in &cooling.targets {
            targets
                .get_or_create(&TargetLabels {
                    target: self.names.model(name),
                })
                .inc_by(i64::from(*cooling));
        }
        now.register(
            "targets_cooling",
            "Targets in a cooldown now (routing passes them over while another can serve); an unnamed model's count under 'unknown'",
            targets,
        );
        let api_keys = Family::<ProviderLabels, Gauge>::default();
        for (provider, cooling) in &cooling.api_keys {
            api_keys
                .get_or_create(&ProviderLabels {
                    provider: self.names.provider(provider),
                })
                .inc_by(i64::from(*cooling));
        }
        now.register(
            "api_keys_cooling",
            "A provider's API keys in a cooldown now (rate limited or refused; the next key is used)",
            api_keys,
        );
        now.register(
            "redis_errors",
            "Calls to the Redis limits backend that failed (then on_backend_error decides)",
            ConstCounter::new(dropped.redis_errors),
        );
        now.register(
            "ledger_dropped_rows",
            "Usage ledger rows dropped: the writer was that far behind, or could not write",
            ConstCounter::new(dropped.ledger_rows),
        );
        now.register(
            "spans_dropped",
            "OpenTelemetry spans dropped: the export queue was full, or the collector did not take them",
            ConstCounter::new(dropped.spans),
        );
        let mut text = String::with_capacity(8 << 10);
        // Writing to a String cannot fail.
        let _ = encode(&mut text, &self.registry);
        let _ = encode(&mut text, &now);
        text
    }

    pub fn finished(&self, request: &Finished<'_>) {
        if !self.on {
            return;
        }
        let labels = RequestLabels {
            surface: request.surface,
            model: self.names.model(request.model),
            key: self.names.key(request.key),
            status_class: status_class(request.status),
            outcome: request.outcome,
            error_type: match request.fault {
                None => "none",
                Some(Fault::Caller) => "caller",
                Some(Fault::Policy) => "policy",
                Some(Fault::Provider) => "provider",
                Some(Fault::Gateway) => "gateway",
            },
        };
        self.requests.get_or_create(&labels).inc();
        self.duration
            .get_or_create(&StreamLabels {
                surface: request.surface,
                stream: request.stream,
            })
            .observe(request.duration.as_secs_f64());
        if let (Some((provider_name, target_name)), Some(tokens)) = (request.served, request.tokens)
        {
            let (provider, target) = (
                self.names.provider(provider_name),
                self.names.model(target_name),
            );
            match request.cost {
                Some(cost) => {
                    self.cost
                        .get_or_create(&CostLabels {
                            provider: provider.clone(),
                            target: target.clone(),
                            key: self.names.key(request.key),
                        })
                        .inc_by(cost);
                }
                None => {
                    self.unpriced
                        .get_or_create(&TargetOfLabels {
                            provider: provider.clone(),
                            target: target.clone(),
                        })
                        .inc();
                }
            }
            for (kind, count) in [
                ("prompt", tokens.prompt),
                ("completion", tokens.completion),
                ("cached_read", tokens.cached_read),
                ("cache_write", tokens.cache_write),
                ("reasoning", tokens.reasoning),
            ] {
                // The parts a provider does not report stay absent rather than zero.
                if count > 0 || matches!(kind, "prompt" | "completion") {
                    self.tokens
                        .get_or_create(&TokenLabels {
                            provider: provider.clone(),
                            target: target.clone(),
                            kind,
                        })
                        .inc_by(count);
                }
            }
        }
        if let (true, Some(first_token)) = (request.stream, request.first_token) {
            self.first_token
                .get_or_create(&SurfaceLabels {
                    surface: request.surface,
                })
                .observe(first_token.as_secs_f64());
        }
    }

    pub fn overhead(&self, surface: &'static str, overhead: Duration) {
        if !self.on {
            return;
        }
        self.overhead
            .get_or_create(&SurfaceLabels { surface })
            .observe(overhead.as_secs_f64());
    }

    /// A routed request took `attempts` attempts.
    pub fn routed(&self, surface: &'static str, attempts: u32) {
        if !self.on {
            return;
        }
        self.retries
            .get_or_create(&SurfaceLabels { surface })
            .observe(f64::from(attempts.saturating_sub(1)));
    }

    pub fn attempt(&self, provider: &str, target: &str, result: AttemptResult) {
        if !self.on {
            return;
        }
        self.attempts
            .get_or_create(&AttemptLabels {
                provider: self.names.provider(provider),
                target: self.names.model(target),
                result: result.label(),
            })
            .inc();
    }

    pub fn rate_limited(&self, key: &str) {
        if !self.on {
            return;
        }
        self.rate_limited
            .get_or_create(&KeyLabels {
                key: self.names.key(Some(key)),
            })
            .inc();
    }

    /// A stream now being relayed; it stops counting when the guard drops.
    pub fn stream_started(&self, surface: &'static str) -> StreamInFlight {
        if !self.on {
            return StreamInFlight(None);
        }
        let gauge = self.streams.get_or_create_owned(&SurfaceLabels { surface });
        gauge.inc();
        StreamInFlight(Some(gauge))
    }
}

/// Counts one stream in flight while it lives.
pub struct StreamInFlight(Option<Gauge>);

impl Drop for StreamInFlight {
    fn drop(&mut self) {
        if let Some(gauge) = &self.0 {
            gauge.dec();
        }
    }
}

/// `metric`, registered under `name` (its unit, if any, added to the name), handed back to be
/// counted in.
fn registered<M: Metric + Clone>(
    registry: &mut Registry,
    name: &str,
    unit: Option<Unit>,
    metric: M,
    help: &str,
) -> M {
    match unit {
        Some(unit) => registry.register_with_unit(name, help, unit, metric.clone()),
        None => registry.register(name, help, metric.clone()),
    }
    metric
}

/// A family of histograms, each made by `new` (its buckets).
fn histograms<L: Clone + std::hash::Hash + Eq>(new: fn() -> Histogram) -> Histograms<L> {
    Family::new_with_constructor(new)
}

fn status_class(status: u16) -> &'static str {
    match status {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    }
}
