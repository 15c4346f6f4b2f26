//! `[routing]`: how the router retries, backs off and cools targets down; and the strategies an
//! alias may choose between.

use std::time::Duration;

use serde::Deserialize;

use super::units::{ConfigDuration, dur};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// Targets in order.
    #[default]
    Fallback,
    /// Pick by weight, then the others.
    Weighted,
    /// Prefer the target with the lowest recent time to first byte.
    LeastLatency,
}

/// How the router retries, backs off and cools targets down.
#[derive(Debug, Clone)]
pub struct RoutingConfig {
    /// One deadline for a whole request, across every attempt.
    pub deadline: Duration,
    /// Retries per target for plain provider/model keys (a provider's `retries` overrides it).
    pub retries: u32,
    pub backoff_base: Duration,
    pub backoff_max: Duration,
    /// A provider's retry-after is waited out when it is at most this long; longer ones move on.
    pub retry_after_max: Duration,
    /// Consecutive failures that put a target (or a key) in cooldown.
    pub cooldown_failures: u32,
    pub cooldown: Duration,
    pub cooldown_max: Duration,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRouting {
    deadline: Option<ConfigDuration>,
    retries: Option<u32>,
    backoff_base: Option<ConfigDuration>,
    backoff_max: Option<ConfigDuration>,
    retry_after_max: Option<ConfigDuration>,
    cooldown_failures: Option<u32>,
    cooldown: Option<ConfigDuration>,
    cooldown_max: Option<ConfigDuration>,
}

/// Every value has a default, so `[routing]` cannot be wrong once it parses.
pub(super) fn validate(raw: RawRouting) -> RoutingConfig {
    RoutingConfig {
        deadline: dur(raw.deadline, 600),
        retries: raw.retries.unwrap_or(0),
        backoff_base: raw.backoff_base.map_or(Duration::from_millis(200), |d| d.0),
        backoff_max: dur(raw.backoff_max, 5),
        retry_after_max: dur(raw.retry_after_max, 10),
        // Zero would cool a target down before it ever failed.
        cooldown_failures: raw.cooldown_failures.unwrap_or(3).max(1),
        cooldown: dur(raw.cooldown, 30),
        cooldown_max: dur(raw.cooldown_max, 300),
    }
}
