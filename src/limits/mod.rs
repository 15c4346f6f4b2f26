//! Per-key limits: requests and tokens per minute in fixed one-minute windows, and token
//! budgets per UTC day and month, with the `x-ratelimit-*` headers OpenAI clients read.
//! (Counters live in this process; the Redis backend for several replicas comes next.)

mod calendar;

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use axum::http::{HeaderMap, HeaderName, HeaderValue};

use crate::config::GatewayKey;
use crate::error::Error;

const MINUTE: u64 = 60;
const DAY: u64 = 86_400;

/// Counts requests and tokens per key and window.
#[derive(Default)]
pub struct Limiter {
    counters: Mutex<HashMap<String, Counters>>,
    /// Unix seconds to use instead of the system clock (0: the system clock), for tests.
    pinned_now: AtomicU64,
}

/// One key's counters; each window is named by its start (minute, day) or index (month).
#[derive(Debug, Default)]
struct Counters {
    minute: u64,
    requests: u64,
    minute_tokens: u64,
    day: u64,
    day_tokens: u64,
    month: u64,
    month_tokens: u64,
}

impl Counters {
    /// Forgets windows that are over.
    fn roll(&mut self, now: u64) {
        let minute = now - now % MINUTE;
        if self.minute != minute {
            (self.minute, self.requests, self.minute_tokens) = (minute, 0, 0);
        }
        let day = now - now % DAY;
        if self.day != day {
            (self.day, self.day_tokens) = (day, 0);
        }
        let month = calendar::month_index(now);
        if self.month != month {
            (self.month, self.month_tokens) = (month, 0);
        }
    }
}

/// One limit's state after a request was admitted, for the response headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    pub limit: u64,
    pub remaining: u64,
    pub reset: Duration,
}

/// The quotas to report on a response.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Quotas {
    pub requests: Option<Quota>,
    pub tokens: Option<Quota>,
}

impl Limiter {
    /// Admits one request of `key` for `model`, or refuses it with a 429 when a limit is spent:
    /// its requests or tokens this minute, or its token budget for the day or month, for the
    /// key as a whole or for the model's own limits inside the key.
    pub fn admit(&self, key: &GatewayKey, model: &str) -> Result<Quotas, Error> {
        let mut quotas = Quotas::default();
        if let Some((glob, limits)) = key.model_limits(model) {
            let scope = format!("{} for models '{}'", key.name, glob.as_str());
            quotas = self.admit_scope(&scope, limits)?;
        }
        let whole = self.admit_scope(&key.name, &key.limits)?;
        // The key's own quotas are the ones reported, where it has them.
        Ok(Quotas {
            requests: whole.requests.or(quotas.requests),
            tokens: whole.tokens.or(quotas.tokens),
        })
    }

    /// Counts `tokens` a request of `key` for `model` used.
    pub fn record(&self, key: &GatewayKey, model: &str, tokens: u64) {
        if let Some((glob, _)) = key.model_limits(model) {
            self.record_scope(
                &format!("{} for models '{}'", key.name, glob.as_str()),
                tokens,
            );
        }
        self.record_scope(&key.name, tokens);
    }

    /// One set of limits over one set of counters, named `scope` in messages.
    fn admit_scope(&self, scope: &str, limits: &crate::config::KeyLimits) -> Result<Quotas, Error> {
        let limits = *limits;
        if limits == Default::default() {
            return Ok(Quotas::default());
        }
        let now = self.now();
        let to_next_minute = Duration::from_secs(MINUTE - now % MINUTE);
        let mut all = self
            .counters
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let counters = all.entry(scope.to_owned()).or_default();
        counters.roll(now);
        let refuse = |what: String, quota: Quota, unit: &'static str| Error::RateLimited {
            message: format!("The key '{scope}' is over its {what}."),
            quota,
            unit,
        };
        let tokens = limits.tpm.map(|tpm| Quota {
            limit: tpm,
            remaining: tpm.saturating_sub(counters.minute_tokens),
            reset: to_next_minute,
        });
        if let Some(tokens) = tokens.filter(|q| q.remaining == 0) {
            return Err(refuse(
                format!("limit of {} tokens per minute", tokens.limit),
                tokens,
                "tokens",
            ));
        }
        let budgets = [
            (
                limits.tokens_per_day,
                counters.day_tokens,
                "day",
                Duration::from_secs(DAY - now % DAY),
            ),
            (
                limits.tokens_per_month,
                counters.month_tokens,
                "month",
                calendar::to_next_month(now),
            ),
        ];
        for (budget, used, period, reset) in budgets {
            if let Some(budget) = budget.filter(|b| used >= *b) {
                let quota = Quota {
                    limit: budget,
                    remaining: 0,
                    reset,
                };
                return Err(refuse(
                    format!("token budget of {budget} per {period}"),
                    quota,
                    "tokens",
                ));
            }
        }
        let mut requests = None;
        if let Some(rpm) = limits.rpm {
            if counters.requests >= rpm {
                let quota = Quota {
                    limit: rpm,
                    remaining: 0,
                    reset: to_next_minute,
                };
                return Err(refuse(
                    format!("limit of {rpm} requests per minute"),
                    quota,
                    "requests",
                ));
            }
            counters.requests += 1;
            requests = Some(Quota {
                limit: rpm,
                remaining: rpm - counters.requests,
                reset: to_next_minute,
            });
        }
        Ok(Quotas { requests, tokens })
    }

    fn record_scope(&self, scope: &str, tokens: u64) {
        let now = self.now();
        let mut all = self
            .counters
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let counters = all.entry(scope.to_owned()).or_default();
        counters.roll(now);
        counters.minute_tokens += tokens;
        counters.day_tokens += tokens;
        counters.month_tokens += tokens;
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

impl Quota {
    /// `x-ratelimit-{limit,remaining,reset}-<unit>`.
    pub fn write(&self, unit: &str, headers: &mut HeaderMap) {
        let pairs = [
            ("limit", self.limit.to_string()),
            ("remaining", self.remaining.to_string()),
            ("reset", format!("{}s", self.reset.as_secs())),
        ];
        for (field, value) in pairs {
            let name = format!("x-ratelimit-{field}-{unit}");
            if let (Ok(name), Ok(value)) =
                (HeaderName::try_from(name), HeaderValue::from_str(&value))
            {
                headers.insert(name, value);
            }
        }
    }
}

impl Quotas {
    /// `x-ratelimit-{limit,remaining,reset}-{requests,tokens}`, as OpenAI sends them.
    pub fn write(&self, headers: &mut HeaderMap) {
        if let Some(requests) = self.requests {
            requests.write("requests", headers);
        }
        if let Some(tokens) = self.tokens {
            tokens.write("tokens", headers);
        }
    }
}

#[cfg(test)]
mod tests;
