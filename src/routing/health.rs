//! What the router remembers about each target, shared by every alias that uses it: consecutive
//! failures and cooldowns (passive health: real traffic only, no probe ever spends tokens), and
//! a moving average of time to first byte.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::config::RoutingConfig;

/// Whether a target may be tried now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    Go,
    /// Its cooldown is over: this one request tries it (half-open); others still skip it.
    Probe,
    /// Cooling down, or another request is probing it.
    Skip {
        until: Instant,
    },
}

#[derive(Debug, Default)]
struct TargetHealth {
    failures: u32,
    /// Cooldowns in a row, for the growing period.
    cooldowns: u32,
    cooling_until: Option<Instant>,
    probing: bool,
    /// Time to first byte, in ms.
    ewma_ms: Option<f64>,
}

/// Weight of the newest sample in the latency average.
const EWMA_ALPHA: f64 = 0.3;

pub struct Health {
    failures_to_cool: u32,
    cooldown: Duration,
    cooldown_max: Duration,
    targets: Mutex<HashMap<String, TargetHealth>>,
}

impl Health {
    pub fn new(config: &RoutingConfig) -> Self {
        Self {
            failures_to_cool: config.cooldown_failures,
            cooldown: config.cooldown,
            cooldown_max: config.cooldown_max,
            targets: Mutex::new(HashMap::new()),
        }
    }

    pub fn admit(&self, key: &str, now: Instant) -> Admission {
        self.with(key, |health| match health.cooling_until {
            None => Admission::Go,
            Some(until) if until > now || health.probing => Admission::Skip { until },
            Some(_) => {
                health.probing = true;
                Admission::Probe
            }
        })
    }

    pub fn success(&self, key: &str, first_byte: Duration) {
        self.with(key, |health| {
            let sample = first_byte.as_secs_f64() * 1e3;
            health.ewma_ms = Some(match health.ewma_ms {
                Some(average) => average + EWMA_ALPHA * (sample - average),
                None => sample,
            });
            health.failures = 0;
            health.cooldowns = 0;
            health.cooling_until = None;
            health.probing = false;
        });
    }

    /// A failed attempt; `retry_after` (the provider's own word) is a floor for any cooldown.
    pub fn failure(&self, key: &str, retry_after: Option<Duration>, now: Instant) {
        self.with(key, |health| {
            health.failures += 1;
            let failed_probe = std::mem::take(&mut health.probing);
            if failed_probe || health.failures >= self.failures_to_cool {
                let grown = self.cooldown.saturating_mul(
                    1u32.checked_shl(health.cooldowns.min(16))
                        .unwrap_or(u32::MAX),
                );
                let period = grown
                    .max(retry_after.unwrap_or_default())
                    .min(self.cooldown_max);
                health.cooling_until = Some(now + period);
                health.cooldowns += 1;
                health.failures = 0;
            }
        });
    }

    /// The attempt ended without a verdict on the target (the client left, the deadline hit).
    pub fn release(&self, key: &str) {
        self.with(key, |health| health.probing = false);
    }

    pub fn latency_ms(&self, key: &str) -> Option<f64> {
        self.with(key, |health| health.ewma_ms)
    }

    fn with<T>(&self, key: &str, f: impl FnOnce(&mut TargetHealth) -> T) -> T {
        // A panic while holding this lock cannot leave the map inconsistent: use it anyway.
        let mut targets = self
            .targets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        f(targets.entry(key.to_owned()).or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn health() -> Health {
        Health {
            failures_to_cool: 2,
            cooldown: Duration::from_secs(10),
            cooldown_max: Duration::from_secs(25),
            targets: Mutex::new(HashMap::new()),
        }
    }

    #[test]
    fn cools_down_after_n_failures_then_lets_one_probe_through() {
        let health = health();
        let t0 = Instant::now();
        health.failure("a/m", None, t0);
        assert_eq!(health.admit("a/m", t0), Admission::Go);
        health.failure("a/m", None, t0);
        assert_eq!(
            health.admit("a/m", t0 + Duration::from_secs(9)),
            Admission::Skip {
                until: t0 + Duration::from_secs(10)
            }
        );
        let later = t0 + Duration::from_secs(11);
        assert_eq!(health.admit("a/m", later), Admission::Probe);
        assert!(
            matches!(health.admit("a/m", later), Admission::Skip { .. }),
            "one probe at a time"
        );
        // The probe fails: cooled again, for twice as long.
        health.failure("a/m", None, later);
        assert_eq!(
            health.admit("a/m", later + Duration::from_secs(19)),
            Admission::Skip {
                until: later + Duration::from_secs(20)
            }
        );
        let much_later = later + Duration::from_secs(21);
        assert_eq!(health.admit("a/m", much_later), Admission::Probe);
        health.success("a/m", Duration::from_millis(5));
        assert_eq!(health.admit("a/m", much_later), Admission::Go);
        assert_eq!(
            health.admit("b/m", t0),
            Admission::Go,
            "targets are independent"
        );
    }

    #[test]
    fn retry_after_is_a_floor_and_the_period_is_capped() {
        let health = health();
        let t0 = Instant::now();
        health.failure("a/m", Some(Duration::from_secs(18)), t0);
        health.failure("a/m", Some(Duration::from_secs(18)), t0);
        assert_eq!(
            health.admit("a/m", t0),
            Admission::Skip {
                until: t0 + Duration::from_secs(18)
            }
        );
        health.failure("b/m", Some(Duration::from_secs(3600)), t0);
        health.failure("b/m", Some(Duration::from_secs(3600)), t0);
        assert_eq!(
            health.admit("b/m", t0),
            Admission::Skip {
                until: t0 + Duration::from_secs(25)
            }
        );
    }

    #[test]
    fn latency_is_a_moving_average() {
        let health = health();
        assert_eq!(health.latency_ms("a/m"), None);
        health.success("a/m", Duration::from_millis(100));
        health.success("a/m", Duration::from_millis(200));
        assert!(
            health
                .latency_ms("a/m")
                .is_some_and(|ms| (ms - 130.0).abs() < 1e-6)
        );
    }
}
