//! Per-key rate limits: requests per minute in fixed one-minute windows, with the
//! `x-ratelimit-*` headers OpenAI clients read. (Counters live in this process; the Redis
//! backend for several replicas comes with the token limits.)

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use axum::http::{HeaderMap, HeaderName, HeaderValue};

use crate::config::GatewayKey;
use crate::error::Error;

const WINDOW_SECS: u64 = 60;

/// Counts requests per key and window.
#[derive(Default)]
pub struct Limiter {
    /// Key name -> (window start, requests in it).
    requests: Mutex<HashMap<String, (u64, u64)>>,
    /// Unix seconds to use instead of the system clock (0: the system clock), for tests.
    pinned_now: AtomicU64,
}

/// The state of a key's limits after admitting a request, for the response headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    pub limit: u64,
    pub remaining: u64,
    pub reset: Duration,
}

impl Limiter {
    /// Admits one request of `key`, or refuses it with a 429 once its requests per minute are spent.
    pub fn admit(&self, key: &GatewayKey) -> Result<Option<Quota>, Error> {
        let Some(rpm) = key.limits.rpm else {
            return Ok(None);
        };
        let now = self.now();
        let window = now - now % WINDOW_SECS;
        let reset = Duration::from_secs(window + WINDOW_SECS - now);
        let mut requests = self
            .requests
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let entry = requests.entry(key.name.clone()).or_insert((window, 0));
        if entry.0 != window {
            *entry = (window, 0);
        }
        if entry.1 >= rpm {
            return Err(Error::RateLimited {
                message: format!(
                    "The key '{}' is over its limit of {rpm} requests per minute.",
                    key.name
                ),
                quota: Quota {
                    limit: rpm,
                    remaining: 0,
                    reset,
                },
            });
        }
        entry.1 += 1;
        Ok(Some(Quota {
            limit: rpm,
            remaining: rpm - entry.1,
            reset,
        }))
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
    /// `x-ratelimit-{limit,remaining,reset}-requests`, as OpenAI sends them.
    pub fn write(&self, headers: &mut HeaderMap) {
        let pairs = [
            ("x-ratelimit-limit-requests", self.limit.to_string()),
            ("x-ratelimit-remaining-requests", self.remaining.to_string()),
            (
                "x-ratelimit-reset-requests",
                format!("{}s", self.reset.as_secs()),
            ),
        ];
        for (name, value) in pairs {
            if let Ok(value) = HeaderValue::from_str(&value) {
                headers.insert(HeaderName::from_static(name), value);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Glob, KeyDigest, KeyLimits};

    fn gateway_key(rpm: Option<u64>) -> GatewayKey {
        GatewayKey {
            name: "ci".into(),
            digest: KeyDigest::of("k"),
            models: vec![Glob::any()],
            limits: KeyLimits {
                rpm,
                ..KeyLimits::default()
            },
        }
    }

    #[test]
    fn requests_per_minute_in_fixed_windows() {
        let limiter = Limiter::default();
        limiter.pin_clock(6_000_015); // 15 s into a minute
        let key = gateway_key(Some(2));
        assert_eq!(
            limiter
                .admit(&key)
                .ok()
                .flatten()
                .map(|q| (q.remaining, q.reset.as_secs())),
            Some((1, 45))
        );
        assert_eq!(
            limiter.admit(&key).ok().flatten().map(|q| q.remaining),
            Some(0)
        );
        match limiter.admit(&key) {
            Err(Error::RateLimited { quota, .. }) => {
                assert_eq!((quota.remaining, quota.reset.as_secs()), (0, 45))
            }
            other => unreachable!("{other:?}"),
        }
        limiter.pin_clock(6_000_060); // the next minute
        assert_eq!(
            limiter.admit(&key).ok().flatten().map(|q| q.remaining),
            Some(1)
        );
        assert_eq!(
            limiter.admit(&gateway_key(None)).ok(),
            Some(None),
            "no limit, no quota"
        );
    }
}
