//! What the router remembers about each target, shared by every alias that uses it: consecutive
//! failures and cooldowns (passive health: real traffic only, no probe ever spends tokens), and
//! a moving average of time to first byte.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::config::RoutingConfig;

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
/// The latency sample a failure counts as, so least_latency stops preferring a failing target.
const FAILURE_PENALTY_MS: f64 = 5_000.0;
/// How many targets and API keys are remembered before those at rest are forgotten.
const REMEMBERED: usize = 10_000;
/// The least time between two sweeps of a full map.
const SWEEP_EVERY: Duration = Duration::from_secs(1);

pub struct Health {
    failures_to_cool: u32,
    cooldown: Duration,
    cooldown_max: Duration,
    targets: Mutex<HashMap<String, TargetHealth>>,
    /// When the map was last swept of what it need not remember.
    swept: Mutex<Option<Instant>>,
}

impl Health {
    pub fn new(config: &RoutingConfig) -> Self {
        Self {
            failures_to_cool: config.cooldown_failures,
            cooldown: config.cooldown,
            cooldown_max: config.cooldown_max,
            targets: Mutex::new(HashMap::new()),
            swept: Mutex::new(None),
        }
    }

    /// Not cooling down, and not being probed by another request.
    pub fn available(&self, name: &str, now: Instant) -> bool {
        self.with(name, |health| {
            health
                .cooling_until
                .is_none_or(|until| until <= now && !health.probing)
        })
    }

    /// The right to try `name` (a target, or an API key) now. When its cooldown is over, this
    /// request is the one probe (half-open); the pass gives the probe back if dropped without a
    /// verdict (the client left, the deadline hit, the provider refused the request), so a
    /// target is never stuck.
    pub fn pass<'a>(&'a self, name: &str, now: Instant) -> Pass<'a> {
        let probe = self.with(name, |health| {
            let expired = health.cooling_until.is_some_and(|until| until <= now);
            let probe = expired && !health.probing;
            health.probing |= probe;
            probe
        });
        Pass {
            health: self,
            name: name.to_owned(),
            probe,
            settled: false,
        }
    }

    pub fn success(&self, name: &str, first_byte: Duration) {
        self.with(name, |health| {
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
    pub fn failure(&self, name: &str, retry_after: Option<Duration>, now: Instant) {
        self.with(name, |health| {
            health.ewma_ms = Some(match health.ewma_ms {
                Some(average) => average + EWMA_ALPHA * (FAILURE_PENALTY_MS - average),
                None => FAILURE_PENALTY_MS,
            });
            let failed_probe = std::mem::take(&mut health.probing);
            // Requests already in flight when the cooldown began add nothing to it.
            if !failed_probe && health.cooling_until.is_some_and(|until| until > now) {
                return;
            }
            health.failures += 1;
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

    fn release(&self, name: &str) {
        self.with(name, |health| health.probing = false);
    }

    pub fn latency_ms(&self, name: &str) -> Option<f64> {
        self.with(name, |health| health.ewma_ms)
    }

    /// Every name remembered, and whether it is cooling down at `now`.
    pub fn cooling(&self, now: Instant) -> Vec<(String, bool)> {
        self.lock()
            .iter()
            .map(|(name, health)| {
                (
                    name.clone(),
                    health.cooling_until.is_some_and(|until| until > now),
                )
            })
            .collect()
    }

    fn with<T>(&self, name: &str, f: impl FnOnce(&mut TargetHealth) -> T) -> T {
        let mut targets = self.lock();
        if targets.len() >= REMEMBERED && !targets.contains_key(name) {
            // Routing keys name models freely, so a client could make the map grow without
            // end: past the bound, what is not cooling down now or being probed is forgotten
            // (its latency average, failures short of a cooldown, a cooldown that is over),
            // at most once a second; when that leaves no room, a new name is judged as it is
            // but not remembered.
            let now = Instant::now();
            let mut swept = self.swept.lock().unwrap_or_else(PoisonError::into_inner);
            if swept.is_none_or(|at| now.duration_since(at) >= SWEEP_EVERY) {
                *swept = Some(now);
                targets.retain(|_, health| {
                    health.probing || health.cooling_until.is_some_and(|until| until > now)
                });
            }
            if targets.len() >= REMEMBERED {
                return f(&mut TargetHealth::default());
            }
        }
        f(targets.entry(name.to_owned()).or_default())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, TargetHealth>> {
        // A panic while holding this lock cannot leave the map inconsistent: use it anyway.
        self.targets.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A right to try one target (or API key), holding its probe if it is one.
pub struct Pass<'a> {
    health: &'a Health,
    name: String,
    probe: bool,
    settled: bool,
}

impl Pass<'_> {
    pub fn success(mut self, first_byte: Duration) {
        self.settled = true;
        self.health.success(&self.name, first_byte);
    }

    pub fn failure(mut self, retry_after: Option<Duration>) {
        self.settled = true;
        self.health.failure(&self.name, retry_after, Instant::now());
    }
}

impl Drop for Pass<'_> {
    fn drop(&mut self) {
        if self.probe && !self.settled {
            self.health.release(&self.name);
        }
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
            swept: Mutex::new(None),
        }
    }

    #[test]
    fn cools_down_after_n_failures_then_lets_one_probe_through() {
        let health = health();
        let t0 = Instant::now();
        health.failure("a/m", None, t0);
        assert!(health.available("a/m", t0));
        health.failure("a/m", None, t0);
        assert!(!health.available("a/m", t0 + Duration::from_secs(9)));
        let later = t0 + Duration::from_secs(11);
        assert!(health.available("a/m", later));
        let probe = health.pass("a/m", later);
        assert!(probe.probe);
        assert!(!health.available("a/m", later), "one probe at a time");
        // The probe fails: cooled again, for twice as long.
        drop(probe);
        let probe = health.pass("a/m", later);
        health.failure("a/m", None, later);
        drop(probe);
        assert!(!health.available("a/m", later + Duration::from_secs(19)));
        let much_later = later + Duration::from_secs(21);
        let probe = health.pass("a/m", much_later);
        assert!(probe.probe);
        probe.success(Duration::from_millis(5));
        assert!(health.available("a/m", much_later));
        assert!(health.available("b/m", t0), "targets are independent");
    }

    #[test]
    fn a_probe_dropped_without_a_verdict_is_given_back() {
        let health = health();
        let t0 = Instant::now();
        health.failure("a/m", None, t0);
        health.failure("a/m", None, t0);
        let later = t0 + Duration::from_secs(11);
        drop(health.pass("a/m", later));
        assert!(health.available("a/m", later), "the next request may probe");
    }

    #[test]
    fn failures_in_flight_during_a_cooldown_do_not_grow_it() {
        let health = health();
        let t0 = Instant::now();
        for _ in 0..20 {
            health.failure("a/m", None, t0);
        }
        assert!(!health.available("a/m", t0 + Duration::from_secs(9)));
        assert!(
            health.available("a/m", t0 + Duration::from_secs(10)),
            "still the first period"
        );
    }

    #[test]
    fn retry_after_is_a_floor_and_the_period_is_capped() {
        let health = health();
        let t0 = Instant::now();
        health.failure("a/m", Some(Duration::from_secs(18)), t0);
        health.failure("a/m", Some(Duration::from_secs(18)), t0);
        assert!(!health.available("a/m", t0 + Duration::from_secs(17)));
        assert!(health.available("a/m", t0 + Duration::from_secs(18)));
        health.failure("b/m", Some(Duration::from_secs(3600)), t0);
        health.failure("b/m", Some(Duration::from_secs(3600)), t0);
        assert!(!health.available("b/m", t0 + Duration::from_secs(24)));
        assert!(
            health.available("b/m", t0 + Duration::from_secs(25)),
            "capped"
        );
    }

    #[test]
    fn failures_count_as_slow() {
        let health = health();
        health.success("a/m", Duration::from_millis(10));
        health.failure("a/m", None, Instant::now());
        assert!(health.latency_ms("a/m").is_some_and(|ms| ms > 1000.0));
    }

    #[test]
    fn names_at_rest_are_forgotten_past_the_bound_and_cooldowns_are_kept() {
        let health = health();
        let now = Instant::now();
        for _ in 0..3 {
            health.failure("cooling", None, now);
        }
        assert!(!health.available("cooling", now));
        // A cooldown long over holds nothing worth keeping.
        let long_ago = now - Duration::from_secs(100);
        for _ in 0..3 {
            health.failure("recovered", None, long_ago);
        }
        for i in 0..REMEMBERED + 10 {
            health.success(&format!("client-named-{i}"), Duration::from_millis(1));
        }
        let remembered = health.cooling(now);
        assert!(remembered.len() <= REMEMBERED, "{}", remembered.len());
        assert!(remembered.contains(&("cooling".to_owned(), true)));
        assert!(
            !remembered.iter().any(|(name, _)| name == "recovered"),
            "an expired cooldown was kept"
        );
        assert!(
            !health.available("cooling", now),
            "a cooldown was forgotten"
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
