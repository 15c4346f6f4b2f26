//! The `x-switchyard-*` headers every answer carries, the `x-ratelimit-*` ones of a limited
//! key, and the one header a client may set to shorten its own deadline.

use std::time::Duration;

use axum::http::{HeaderMap, HeaderName, HeaderValue};

use super::Trip;

/// Lists the request parameters the provider could not honour and the gateway dropped.
const DROPPED_PARAMS: HeaderName = HeaderName::from_static("x-switchyard-dropped-params");
/// How many attempts (retries and fallbacks included) the request took.
const ATTEMPTS: HeaderName = HeaderName::from_static("x-switchyard-attempts");
/// The provider/model target that served (or, on an error, was tried last).
const TARGET: HeaderName = HeaderName::from_static("x-switchyard-target");
/// The time the gateway itself spent on the request, in milliseconds.
const OVERHEAD: HeaderName = HeaderName::from_static("x-switchyard-overhead-ms");
/// What a whole answer cost in US dollars, by the price of its model (absent when unpriced).
const COST: HeaderName = HeaderName::from_static("x-switchyard-cost-usd");
/// A client's own deadline for the whole request, in milliseconds (the config's is the cap).
const DEADLINE_MS: &str = "x-switchyard-deadline-ms";

pub fn write(trip: &Trip, overhead: Duration, headers: &mut HeaderMap) {
    if let Ok(value) = HeaderValue::from_str(&format!("{:.3}", overhead.as_secs_f64() * 1e3)) {
        headers.insert(OVERHEAD, value);
    }
    trip.quotas.write(headers);
    if trip.attempts > 0 {
        headers.insert(ATTEMPTS, HeaderValue::from(trip.attempts));
    }
    if let Some(value) = trip
        .target
        .as_ref()
        .and_then(|t| HeaderValue::from_str(&t.name).ok())
    {
        headers.insert(TARGET, value);
    }
    if !trip.dropped.is_empty()
        && let Ok(value) = HeaderValue::from_str(&trip.dropped.join(", "))
    {
        headers.insert(DROPPED_PARAMS, value);
    }
}

/// `x-switchyard-cost-usd`: dollars in plain decimal (`0.000123`), never an exponent.
pub fn write_cost(cost: f64, headers: &mut HeaderMap) {
    if let Ok(value) = HeaderValue::from_str(&format!("{cost}")) {
        headers.insert(COST, value);
    }
}

pub fn requested_deadline(headers: &HeaderMap) -> Option<Duration> {
    headers
        .get(DEADLINE_MS)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_millis)
}
