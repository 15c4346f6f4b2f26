//! Per-key limits: requests and tokens per minute in fixed one-minute windows, and token and
//! dollar budgets per UTC day and month, with the `x-ratelimit-*` headers OpenAI clients read.
//! Dollars are counted in millionths (`micro_usd`), so every counter is an integer.
//! Counters live in this process (`memory`) or in Redis, shared by every replica (`redis`).

mod calendar;
mod memory;
mod redis;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use axum::http::{HeaderMap, HeaderName, HeaderValue};

use crate::config::{GatewayKey, KeyLimits, LimitsBackend, LimitsConfig};
use crate::error::Error;
pub use crate::error::Quota;

const MINUTE: u64 = 60;
const DAY: u64 = 86_400;

pub struct Limiter {
    backend: Backend,
    /// Serve (`true`) or refuse when the shared backend cannot be reached.
    allow_on_error: bool,
    /// Unix seconds to use instead of the system clock (0: the system clock), for tests.
    pinned_now: AtomicU64,
    /// Calls to the shared backend that failed, for the metrics.
    backend_errors: AtomicU64,
}

enum Backend {
    Memory(memory::Counters),
    Redis(redis::Counters),
}

/// The windows a moment falls in.
#[derive(Debug, Clone, Copy)]
struct Windows {
    now: u64,
    minute: u64,
    day: u64,
    month: u64,
}

impl Windows {
    fn at(now: u64) -> Self {
        Self {
            now,
            minute: now - now % MINUTE,
            day: now - now % DAY,
            month: calendar::month_index(now),
        }
    }
}

/// A scope's counts: requests this minute (after admitting this one, if it was), tokens this
/// minute, day and month, and millionths of a dollar spent this day and month.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Snapshot {
    requests: u64,
    minute_tokens: u64,
    day_tokens: u64,
    month_tokens: u64,
    day_micro_usd: u64,
    month_micro_usd: u64,
}

/// What one request used: its tokens, and what they cost in millionths of a dollar.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    pub tokens: u64,
    pub micro_usd: u64,
}

impl Usage {
    /// `tokens` that cost `usd` (none when unpriced).
    pub fn of(tokens: u64, usd: Option<f64>) -> Self {
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let micro_usd = usd.map_or(0, |usd| (usd * 1e6).round().max(0.0) as u64);
        Self { tokens, micro_usd }
    }
}

/// Which limit refused a request. The order of the checks (tokens per minute, day, month,
/// dollars per day, month, then requests, which are counted only when admitted) is the same in
/// every backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Admit,
    TokensPerMinute,
    TokensPerDay,
    TokensPerMonth,
    UsdPerDay,
    UsdPerMonth,
    RequestsPerMinute,
}

fn decide(limits: &KeyLimits, counts: &Snapshot) -> Verdict {
    let over = |limit: Option<u64>, used: u64| limit.is_some_and(|l| used >= l);
    if over(limits.tpm, counts.minute_tokens) {
        Verdict::TokensPerMinute
    } else if over(limits.tokens_per_day, counts.day_tokens) {
        Verdict::TokensPerDay
    } else if over(limits.tokens_per_month, counts.month_tokens) {
        Verdict::TokensPerMonth
    } else if over(limits.micro_usd_per_day, counts.day_micro_usd) {
        Verdict::UsdPerDay
    } else if over(limits.micro_usd_per_month, counts.month_micro_usd) {
        Verdict::UsdPerMonth
    } else if over(limits.rpm, counts.requests) {
        Verdict::RequestsPerMinute
    } else {
        Verdict::Admit
    }
}

/// The quotas to report on a response.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Quotas {
    pub requests: Option<Quota>,
    pub tokens: Option<Quota>,
    /// The dollar budget (of the day or the month) with the least left, in millionths.
    pub usd: Option<Quota>,
}

impl Limiter {
    pub fn new(config: &LimitsConfig) -> Self {
        let backend = match &config.backend {
            LimitsBackend::Memory => Backend::Memory(memory::Counters::default()),
            LimitsBackend::Redis { url } => Backend::Redis(redis::Counters::new(
                url,
                fallback(config.allow_on_backend_error),
            )),
        };
        Self {
            backend,
            allow_on_error: config.allow_on_backend_error,
            pinned_now: AtomicU64::new(0),
            backend_errors: AtomicU64::new(0),
        }
    }

    /// Admits one request of `key` for `models` (see `GatewayKey::model_limits`), or refuses it with a 429 when a limit is spent:
    /// its requests or tokens this minute, or its token budget for the day or month, for the
    /// key as a whole or for the model's own limits inside the key.
    pub async fn admit(&self, key: &GatewayKey, models: &[String]) -> Result<Quotas, Error> {
        let mut quotas = Quotas::default();
        if let Some((glob, limits)) = key.model_limits(models) {
            quotas = self
                .admit_scope(&model_scope(key, glob.as_str()), limits)
                .await?;
        }
        let whole = self.admit_scope(&key.name, &key.limits).await?;
        // The key's own quotas are the ones reported, where it has them.
        Ok(Quotas {
            requests: whole.requests.or(quotas.requests),
            tokens: whole.tokens.or(quotas.tokens),
            usd: whole.usd.or(quotas.usd),
        })
    }

    /// Where the tokens of a request of `key` for `models` are counted: the key's counters,
    /// and its models' if it has model limits.
    pub fn account(self: &std::sync::Arc<Self>, key: &GatewayKey, models: &[String]) -> Account {
        Account {
            limiter: self.clone(),
            scopes: scopes(key, models),
        }
    }

    /// Counts what a request of `key` for `models` used, and returns once counted.
    pub async fn record(&self, key: &GatewayKey, models: &[String], usage: Usage) {
        self.record_in(&scopes(key, models), usage).await;
    }

    async fn record_in(&self, scopes: &[String], usage: Usage) {
        let windows = Windows::at(self.now());
        let tokens = usage.tokens;
        for scope in scopes {
            match &self.backend {
                Backend::Memory(counters) => counters.record(scope, windows, usage),
                Backend::Redis(counters) => {
                    let Err(error) = counters.record(scope, windows, usage).await else {
                        continue;
                    };
                    self.failed();
                    match error {
                        // Said once when Redis went down, not once per request.
                        redis::Unavailable::Down => {
                            tracing::debug!(scope, tokens, "could not count tokens: redis is down");
                        }
                        error => {
                            tracing::warn!(%error, scope, tokens, "could not count tokens in redis");
                        }
                    }
                }
            }
        }
    }

    async fn admit_scope(&self, scope: &str, limits: &KeyLimits) -> Result<Quotas, Error> {
        if *limits == KeyLimits::default() {
            return Ok(Quotas::default());
        }
        let windows = Windows::at(self.now());
        let outcome = match &self.backend {
            Backend::Memory(counters) => Ok(counters.admit(scope, limits, windows)),
            Backend::Redis(counters) => counters.admit(scope, limits, windows).await,
        };
        let error = match outcome {
            Ok((verdict, counts)) => return report(scope, limits, verdict, &counts, windows),
            Err(error) => error,
        };
        self.failed();
        let fallback = fallback(self.allow_on_error);
        match error {
            // Said once when Redis went down, not once per request.
            redis::Unavailable::Down => {
                tracing::debug!(scope, "limits backend unreachable: {fallback}");
            }
            error @ redis::Unavailable::Failed(_) => {
                tracing::warn!(%error, scope, "limits backend failed: {fallback}");
            }
        }
        if self.allow_on_error {
            Ok(Quotas::default())
        } else {
            Err(Error::LimitsUnavailable)
        }
    }

    /// How many calls to the shared backend (Redis) have failed since the start.
    pub fn backend_errors(&self) -> u64 {
        self.backend_errors.load(Ordering::Relaxed)
    }

    fn failed(&self) {
        self.backend_errors.fetch_add(1, Ordering::Relaxed);
    }

    /// Uses `unix_secs` as the time from now on (tests).
    pub fn pin_clock(&self, unix_secs: u64) {
        self.pinned_now.store(unix_secs, Ordering::Relaxed);
    }

    fn now(&self) -> u64 {
        match self.pinned_now.load(Ordering::Relaxed) {
            0 => SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
            pinned => pinned,
        }
    }
}

/// What requests get while the shared backend cannot be reached, for the log.
fn fallback(allow_on_error: bool) -> &'static str {
    if allow_on_error {
        "serving without limits (on_backend_error = allow)"
    } else {
        "refusing requests (on_backend_error = deny)"
    }
}

/// The counters a request of `key` for `models` counts in: the key's, and its models' if any.
fn scopes(key: &GatewayKey, models: &[String]) -> Vec<String> {
    let mut scopes = vec![key.name.clone()];
    if let Some((glob, _)) = key.model_limits(models) {
        scopes.push(model_scope(key, glob.as_str()));
    }
    scopes
}

fn model_scope(key: &GatewayKey, glob: &str) -> String {
    format!("{} for models '{glob}'", key.name)
}

/// The quotas of an admitted request, or the 429 of a refused one.
fn report(
    scope: &str,
    limits: &KeyLimits,
    verdict: Verdict,
    counts: &Snapshot,
    w: Windows,
) -> Result<Quotas, Error> {
    let to_next_minute = Duration::from_secs(w.minute + MINUTE - w.now);
    let refuse = |what: String, limit: u64, reset: Duration, unit: &'static str| {
        Err(Error::RateLimited {
            message: format!("The key '{scope}' is over its {what}."),
            quota: Quota {
                limit,
                remaining: 0,
                reset,
            },
            unit,
        })
    };
    let limit = |l: Option<u64>| l.unwrap_or_default();
    match verdict {
        Verdict::TokensPerMinute => {
            let tpm = limit(limits.tpm);
            refuse(
                format!("limit of {tpm} tokens per minute"),
                tpm,
                to_next_minute,
                "tokens",
            )
        }
        Verdict::TokensPerDay => {
            let budget = limit(limits.tokens_per_day);
            let reset = Duration::from_secs(w.day + DAY - w.now);
            refuse(
                format!("token budget of {budget} per day"),
                budget,
                reset,
                "tokens",
            )
        }
        Verdict::TokensPerMonth => {
            let budget = limit(limits.tokens_per_month);
            let reset = calendar::to_next_month(w.now);
            refuse(
                format!("token budget of {budget} per month"),
                budget,
                reset,
                "tokens",
            )
        }
        Verdict::UsdPerDay => {
            let budget = limit(limits.micro_usd_per_day);
            let reset = Duration::from_secs(w.day + DAY - w.now);
            refuse(
                format!("dollar budget of ${} per day", dollars(budget)),
                budget,
                reset,
                "usd",
            )
        }
        Verdict::UsdPerMonth => {
            let budget = limit(limits.micro_usd_per_month);
            let reset = calendar::to_next_month(w.now);
            refuse(
                format!("dollar budget of ${} per month", dollars(budget)),
                budget,
                reset,
                "usd",
            )
        }
        Verdict::RequestsPerMinute => {
            let rpm = limit(limits.rpm);
            refuse(
                format!("limit of {rpm} requests per minute"),
                rpm,
                to_next_minute,
                "requests",
            )
        }
        Verdict::Admit => Ok(Quotas {
            requests: limits.rpm.map(|rpm| Quota {
                limit: rpm,
                remaining: rpm.saturating_sub(counts.requests),
                reset: to_next_minute,
            }),
            tokens: limits.tpm.map(|tpm| Quota {
                limit: tpm,
                remaining: tpm.saturating_sub(counts.minute_tokens),
                reset: to_next_minute,
            }),
            usd: usd_quota(limits, counts, w),
        }),
    }
}

/// The dollar budget with the least left: the day's or the month's.
fn usd_quota(limits: &KeyLimits, counts: &Snapshot, w: Windows) -> Option<Quota> {
    let day = limits.micro_usd_per_day.map(|budget| Quota {
        limit: budget,
        remaining: budget.saturating_sub(counts.day_micro_usd),
        reset: Duration::from_secs(w.day + DAY - w.now),
    });
    let month = limits.micro_usd_per_month.map(|budget| Quota {
        limit: budget,
        remaining: budget.saturating_sub(counts.month_micro_usd),
        reset: calendar::to_next_month(w.now),
    });
    match (day, month) {
        (Some(day), Some(month)) if month.remaining < day.remaining => Some(month),
        (day, month) => day.or(month),
    }
}

/// Millionths of a dollar as dollars, without trailing zeros (`50`, `0.25`).
fn dollars(micro_usd: u64) -> String {
    let whole = micro_usd / 1_000_000;
    let fraction = micro_usd % 1_000_000;
    if fraction == 0 {
        whole.to_string()
    } else {
        let digits = format!("{fraction:06}");
        format!("{whole}.{}", digits.trim_end_matches('0'))
    }
}

/// What one request used, counted where its key's limits read them.
pub struct Account {
    limiter: std::sync::Arc<Limiter>,
    scopes: Vec<String>,
}

impl Account {
    /// Counts `usage`, on its own task when the backend is remote (so a client that leaves,
    /// or a drop that cannot wait, never loses the count), at once when it is local.
    pub fn record(self, usage: Usage) {
        if usage == Usage::default() {
            return;
        }
        match &self.limiter.backend {
            Backend::Memory(counters) => {
                let windows = Windows::at(self.limiter.now());
                for scope in &self.scopes {
                    counters.record(scope, windows, usage);
                }
            }
            Backend::Redis(_) => {
                tokio::spawn(async move { self.limiter.record_in(&self.scopes, usage).await });
            }
        }
    }
}

/// `x-ratelimit-{limit,remaining,reset}-<unit>`, as OpenAI sends them; dollars (`usd`, counted
/// in millionths) as decimal dollars.
pub fn write_quota(quota: &Quota, unit: &str, headers: &mut HeaderMap) {
    let amount = |value: u64| {
        if unit == "usd" {
            dollars(value)
        } else {
            value.to_string()
        }
    };
    let pairs = [
        ("limit", amount(quota.limit)),
        ("remaining", amount(quota.remaining)),
        ("reset", format!("{}s", quota.reset.as_secs())),
    ];
    for (field, value) in pairs {
        let name = format!("x-ratelimit-{field}-{unit}");
        if let (Ok(name), Ok(value)) = (HeaderName::try_from(name), HeaderValue::from_str(&value)) {
            headers.insert(name, value);
        }
    }
}

impl Quotas {
    /// `x-ratelimit-{limit,remaining,reset}-{requests,tokens}`, as OpenAI sends them.
    pub fn write(&self, headers: &mut HeaderMap) {
        if let Some(requests) = self.requests {
            write_quota(&requests, "requests", headers);
        }
        if let Some(tokens) = self.tokens {
            write_quota(&tokens, "tokens", headers);
        }
        if let Some(usd) = self.usd {
            write_quota(&usd, "usd", headers);
        }
    }
}

#[cfg(test)]
mod tests;
