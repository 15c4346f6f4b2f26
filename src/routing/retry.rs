//! Which failures are worth another attempt, and how long to wait before one.

use std::time::Duration;

use crate::config::RoutingConfig;
use crate::error::Error;

/// Rate limits, provider failures (5xx, 529, a refused connection, a cut stream) and timeouts
/// may pass; a request the provider refused (400, 401, 403, 404, 422...) will be refused again.
pub fn retryable(error: &Error) -> bool {
    match error {
        Error::Upstream(upstream) => matches!(upstream.status.as_u16(), 408 | 409 | 429),
        Error::UpstreamFailed { .. }
        | Error::UpstreamBusy { .. }
        | Error::UpstreamTimeout { .. } => true,
        _ => false,
    }
}

/// A failure of the API key rather than the provider: a rate limit, a refused or expired key.
/// Another key of the same provider may well succeed.
pub fn api_key_level(error: &Error) -> bool {
    matches!(error, Error::Upstream(upstream) if matches!(upstream.status.as_u16(), 401 | 403 | 429))
}

/// The wait before retry number `retry` (0-based) on the same target: the provider's
/// retry-after when it gave one, else exponential backoff with full jitter. `None` when the
/// provider asks for longer than `retry_after_max`: better to move on to the next target.
pub fn delay(error: &Error, retry: u32, config: &RoutingConfig) -> Option<Duration> {
    if let Some(wait) = error.retry_after() {
        return (wait <= config.retry_after_max).then_some(wait);
    }
    Some(backoff(retry, config, fastrand::f64()))
}

/// `base * 2^retry`, capped at `max`, scaled by `jitter` in [0, 1) into its upper half, so
/// waits spread out but never collapse to nothing.
pub fn backoff(retry: u32, config: &RoutingConfig, jitter: f64) -> Duration {
    let ceiling = config
        .backoff_base
        .saturating_mul(1u32.checked_shl(retry.min(20)).unwrap_or(u32::MAX))
        .min(config.backoff_max);
    ceiling.mul_f64(0.5 + jitter.clamp(0.0, 1.0) / 2.0)
}

#[cfg(test)]
mod tests {
    use axum::http::StatusCode;

    use super::*;
    use crate::error::UpstreamStatus;

    fn config() -> RoutingConfig {
        RoutingConfig {
            deadline: Duration::from_secs(60),
            retries: 2,
            backoff_base: Duration::from_millis(100),
            backoff_max: Duration::from_secs(1),
            retry_after_max: Duration::from_secs(5),
            cooldown_failures: 3,
            cooldown: Duration::from_secs(10),
            cooldown_max: Duration::from_secs(60),
        }
    }

    fn status(code: u16, wait: Option<Duration>) -> Error {
        Error::Upstream(Box::new(UpstreamStatus {
            status: StatusCode::from_u16(code).unwrap_or(StatusCode::BAD_REQUEST),
            message: "x".into(),
            kind: None,
            param: None,
            code: None,
            retry_after: None,
            wait,
        }))
    }

    #[test]
    fn what_is_retryable() {
        for code in [408, 409, 429] {
            assert!(retryable(&status(code, None)), "{code}");
        }
        for code in [400, 401, 403, 404, 422] {
            assert!(!retryable(&status(code, None)), "{code}");
        }
        assert!(retryable(&Error::UpstreamFailed {
            provider: "p".into(),
            detail: "503".into()
        }));
        assert!(retryable(&Error::UpstreamTimeout {
            provider: "p".into(),
            detail: "t".into()
        }));
        assert!(!retryable(&Error::invalid("bad", None)));
    }

    #[test]
    fn backoff_doubles_within_bounds_and_caps() {
        let config = config();
        for retry in 0..6 {
            let ceiling = Duration::from_millis(100 * (1 << retry)).min(Duration::from_secs(1));
            let low = backoff(retry, &config, 0.0);
            let high = backoff(retry, &config, 0.999_999);
            assert_eq!(low, ceiling / 2, "retry {retry}");
            assert!(
                high <= ceiling && high > ceiling.mul_f64(0.99),
                "retry {retry}: {high:?}"
            );
        }
        assert!(backoff(60, &config, 0.999_999) <= Duration::from_secs(1));
    }

    #[test]
    fn retry_after_wins_when_short_and_moves_on_when_long() {
        let config = config();
        let short = status(429, Some(Duration::from_millis(1500)));
        assert_eq!(delay(&short, 0, &config), Some(Duration::from_millis(1500)));
        let long = status(429, Some(Duration::from_secs(30)));
        assert_eq!(delay(&long, 0, &config), None);
        let plain = status(429, None);
        assert!(delay(&plain, 1, &config).is_some_and(|d| d >= Duration::from_millis(100) && d <= Duration::from_millis(200)));
    }
}
