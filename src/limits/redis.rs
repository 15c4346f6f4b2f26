//! Counters in Redis, shared by every replica: one atomic script per admission, counters that
//! expire on their own, and a short deadline on every call so Redis can never hang a request.
//!
//! The connection is kept by a supervisor task of our own, not by redis-rs's
//! `ConnectionManager` (issue 11), which no configuration makes fit: its commands await the
//! reconnection in progress, so while Redis is down every request waits out its deadline; its
//! backoff waits 1-2 s, then 60-120 s, between attempts (redis-rs hands its `factor`, documented
//! in milliseconds, to backon as the growth factor, and the first wait is fixed at 1 s), so a
//! Redis back after a few seconds stays unused for minutes; and only a dropped connection starts
//! a reconnection, never one that stopped answering (a timeout is "retry immediately" to it).
//! Here requests only read what is known of the connection: while it is down they fail at once
//! and `on_backend_error` applies, and the supervisor reconnects off the request path, with
//! backoff, for as long as it takes.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use redis::aio::MultiplexedConnection;
use tokio::sync::watch;
use tokio::task::AbortHandle;
use tokio::time::Instant;

use super::{Snapshot, Usage, Verdict, Windows};
use crate::config::KeyLimits;

/// Longest wait for Redis on one admission or count, and on one connection attempt: a Redis that
/// cannot answer within it is taken for down.
const DEADLINE: Duration = Duration::from_millis(500);

/// Reconnection starts quickly, for a restart or a blip, and slows to one attempt every couple
/// of seconds, which is also about how long limits stay off after Redis is back.
const FIRST_RETRY: Duration = Duration::from_millis(100);
const LAST_RETRY: Duration = Duration::from_secs(2);

/// The checks of `decide`, in the same order, and the request count, atomically.
const ADMIT: &str = r"
local function count(key) return tonumber(redis.call('GET', key) or '0') end
local requests, minute, day, month = count(KEYS[1]), count(KEYS[2]), count(KEYS[3]), count(KEYS[4])
local day_usd, month_usd = count(KEYS[5]), count(KEYS[6])
local rpm, tpm, per_day, per_month = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local usd_per_day, usd_per_month = tonumber(ARGV[6]), tonumber(ARGV[7])
local verdict = 0
if tpm >= 0 and minute >= tpm then verdict = 1
elseif per_day >= 0 and day >= per_day then verdict = 2
elseif per_month >= 0 and month >= per_month then verdict = 3
elseif usd_per_day >= 0 and day_usd >= usd_per_day then verdict = 5
elseif usd_per_month >= 0 and month_usd >= usd_per_month then verdict = 6
elseif rpm >= 0 and requests >= rpm then verdict = 4
elseif rpm >= 0 then
  requests = redis.call('INCR', KEYS[1])
  redis.call('EXPIRE', KEYS[1], ARGV[5])
end
return {verdict, requests, minute, day, month, day_usd, month_usd}
";

pub struct Counters {
    client: Result<redis::Client, String>,
    /// Written by the supervisor, and by a request that finds the connection broken.
    link: Arc<watch::Sender<Link>>,
    supervisor: OnceLock<AbortHandle>,
    /// What requests get while Redis is down, for the log.
    fallback: &'static str,
    script: redis::Script,
}

/// What requests know of the connection to Redis.
enum Link {
    /// The first connection is being made: worth waiting for, within a request's deadline.
    Connecting,
    /// `generation` tells this connection from the ones before it, so a failure seen late on an
    /// old one cannot take down its successor.
    Up {
        connection: MultiplexedConnection,
        generation: u64,
    },
    /// Known to be down, and why; the supervisor is reconnecting.
    Down(String),
}

/// Why Redis could not count.
#[derive(Debug, thiserror::Error)]
pub enum Unavailable {
    /// Known to be down, which the supervisor logs once; requests follow `on_backend_error` at
    /// once until it is back.
    #[error("redis is unreachable")]
    Down,
    /// Redis answered, but not as it should have.
    #[error("{0}")]
    Failed(String),
}

/// The Redis keys of one scope's counters in the given windows.
struct Keys {
    requests: String,
    minute: String,
    day: String,
    month: String,
    day_usd: String,
    month_usd: String,
}

impl Keys {
    fn of(scope: &str, w: Windows) -> Self {
        Self {
            requests: format!("switchyard:{scope}:minute:{}:requests", w.minute),
            minute: format!("switchyard:{scope}:minute:{}:tokens", w.minute),
            day: format!("switchyard:{scope}:day:{}:tokens", w.day),
            month: format!("switchyard:{scope}:month:{}:tokens", w.month),
            day_usd: format!("switchyard:{scope}:day:{}:micro_usd", w.day),
            month_usd: format!("switchyard:{scope}:month:{}:micro_usd", w.month),
        }
    }
}

/// Counters outlive their window a little, so a late count still lands; then they expire.
const MINUTE_TTL: u64 = 2 * 60;
const DAY_TTL: u64 = 2 * 86_400;
const MONTH_TTL: u64 = 32 * 86_400;

impl Counters {
    /// Validated at config load; a bad URL here only shows as a backend error. `fallback` says
    /// what requests get while Redis is down, for the log.
    pub fn new(url: &str, fallback: &'static str) -> Self {
        let counters = Self {
            client: redis::Client::open(url).map_err(|e| e.to_string()),
            link: Arc::new(watch::Sender::new(Link::Connecting)),
            supervisor: OnceLock::new(),
            fallback,
            script: redis::Script::new(ADMIT),
        };
        // Connecting at start (there is always a runtime when serving) shows a Redis that is
        // down in the log at once, and spares the first request the wait.
        if tokio::runtime::Handle::try_current().is_ok() {
            let _ = counters.link();
        }
        counters
    }

    pub async fn admit(
        &self,
        scope: &str,
        limits: &KeyLimits,
        w: Windows,
    ) -> Result<(Verdict, Snapshot), Unavailable> {
        let deadline = Instant::now() + DEADLINE;
        let keys = Keys::of(scope, w);
        let limit = |l: Option<u64>| l.and_then(|l| i64::try_from(l).ok()).unwrap_or(-1);
        let (mut connection, generation) = self.connection(deadline).await?;
        let mut invocation = self.script.prepare_invoke();
        invocation
            .key(&keys.requests)
            .key(&keys.minute)
            .key(&keys.day)
            .key(&keys.month)
            .key(&keys.day_usd)
            .key(&keys.month_usd)
            .arg(limit(limits.rpm))
            .arg(limit(limits.tpm))
            .arg(limit(limits.tokens_per_day))
            .arg(limit(limits.tokens_per_month))
            .arg(MINUTE_TTL)
            .arg(limit(limits.micro_usd_per_day))
            .arg(limit(limits.micro_usd_per_month));
        let outcome =
            tokio::time::timeout_at(deadline, invocation.invoke_async(&mut connection)).await;
        let reply: Vec<u64> = self.settle(generation, outcome)?;
        let [
            verdict,
            requests,
            minute_tokens,
            day_tokens,
            month_tokens,
            day_micro_usd,
            month_micro_usd,
        ] = reply[..]
        else {
            return Err(Unavailable::Failed(format!(
                "unexpected reply from the limits script: {reply:?}"
            )));
        };
        let verdict = match verdict {
            0 => Verdict::Admit,
            1 => Verdict::TokensPerMinute,
            2 => Verdict::TokensPerDay,
            3 => Verdict::TokensPerMonth,
            5 => Verdict::UsdPerDay,
            6 => Verdict::UsdPerMonth,
            _ => Verdict::RequestsPerMinute,
        };
        Ok((
            verdict,
            Snapshot {
                requests,
                minute_tokens,
                day_tokens,
                month_tokens,
                day_micro_usd,
                month_micro_usd,
            },
        ))
    }

    pub async fn record(&self, scope: &str, w: Windows, usage: Usage) -> Result<(), Unavailable> {
        let deadline = Instant::now() + DEADLINE;
        let keys = Keys::of(scope, w);
        let (mut connection, generation) = self.connection(deadline).await?;
        let mut pipe = redis::pipe();
        pipe.atomic();
        for (key, amount, ttl) in [
            (&keys.minute, usage.tokens, MINUTE_TTL),
            (&keys.day, usage.tokens, DAY_TTL),
            (&keys.month, usage.tokens, MONTH_TTL),
            (&keys.day_usd, usage.micro_usd, DAY_TTL),
            (&keys.month_usd, usage.micro_usd, MONTH_TTL),
        ] {
            // Counters that nothing adds to are not written: a key without a price spends no
            // dollars, and should cost Redis no keys.
            if amount > 0 {
                pipe.cmd("INCRBY").arg(key).arg(amount).ignore();
                pipe.cmd("EXPIRE").arg(key).arg(ttl).ignore();
            }
        }
        let outcome = tokio::time::timeout_at(deadline, pipe.query_async(&mut connection)).await;
        self.settle(generation, outcome)
    }

    /// The connection to use, or `Down` at once when Redis is known to be down. Only the first
    /// connection, while it is being made, is waited for (until `deadline`).
    async fn connection(
        &self,
        deadline: Instant,
    ) -> Result<(MultiplexedConnection, u64), Unavailable> {
        let mut link = self.link()?;
        let link = tokio::time::timeout_at(
            deadline,
            link.wait_for(|link| !matches!(link, Link::Connecting)),
        )
        .await
        .map_err(|_| Unavailable::Down)?
        // The channel closing: never, while `self.link` holds its sender.
        .map_err(|_| Unavailable::Down)?;
        match &*link {
            Link::Up {
                connection,
                generation,
            } => Ok((connection.clone(), *generation)),
            Link::Connecting | Link::Down(_) => Err(Unavailable::Down),
        }
    }

    /// What is known of the connection, with its supervisor started on first use.
    fn link(&self) -> Result<watch::Receiver<Link>, Unavailable> {
        let client = self
            .client
            .as_ref()
            .map_err(|e| Unavailable::Failed(e.clone()))?;
        self.supervisor.get_or_init(|| {
            tokio::spawn(supervise(client.clone(), self.link.clone(), self.fallback)).abort_handle()
        });
        Ok(self.link.subscribe())
    }

    /// The result of a call on connection `generation`. A call that got no answer in time (a
    /// frozen server, or a link that drops packets, on which the connection itself would wait
    /// forever) or failed on I/O takes that connection for down, so the requests after it fail
    /// at once and the supervisor builds a new one.
    fn settle<T>(
        &self,
        generation: u64,
        outcome: Result<redis::RedisResult<T>, tokio::time::error::Elapsed>,
    ) -> Result<T, Unavailable> {
        let error = match outcome {
            Ok(Ok(value)) => return Ok(value),
            Ok(Err(error)) if error.is_io_error() || error.is_unrecoverable_error() => {
                error.to_string()
            }
            Ok(Err(error)) => return Err(Unavailable::Failed(error.to_string())),
            Err(_) => "redis did not answer in time".to_owned(),
        };
        self.link.send_if_modified(|link| match link {
            Link::Up {
                generation: current,
                ..
            } if *current == generation => {
                *link = Link::Down(error);
                true
            }
            _ => false,
        });
        Err(Unavailable::Down)
    }
}

impl Drop for Counters {
    fn drop(&mut self) {
        if let Some(supervisor) = self.supervisor.get() {
            supervisor.abort();
        }
    }
}

/// Keeps one connection to Redis: makes it, waits for a request to find it broken, makes the
/// next, with backoff between failed attempts for as long as Redis stays away. The log says
/// once that Redis went away and once that it is back, with its address and never its URL,
/// which may hold a password.
async fn supervise(client: redis::Client, link: Arc<watch::Sender<Link>>, fallback: &'static str) {
    let address = client.get_connection_info().addr.to_string();
    let mut changes = link.subscribe();
    for generation in 1u64.. {
        let mut failures = 0;
        let connection = loop {
            match connect(&client).await {
                Ok(connection) => break connection,
                Err(error) => {
                    // Only the first attempt can find the link still connecting; after that it
                    // is down already, and said so.
                    if matches!(*link.borrow(), Link::Connecting) {
                        tracing::warn!(%address, %error, "redis is unreachable: {fallback} until it answers again");
                        link.send_replace(Link::Down(error));
                    } else {
                        tracing::debug!(%address, %error, "redis: reconnection failed");
                    }
                    tokio::time::sleep(backoff(failures)).await;
                    failures += 1;
                }
            }
        };
        if generation > 1 || failures > 0 {
            tracing::info!(%address, "redis answers again: limits are enforced again");
        }
        link.send_replace(Link::Up {
            connection,
            generation,
        });
        let Ok(down) = changes.wait_for(|link| matches!(link, Link::Down(_))).await else {
            return;
        };
        if let Link::Down(error) = &*down {
            tracing::warn!(%address, %error, "redis is unreachable: {fallback} until it answers again");
        }
    }
}

/// A new connection, once Redis has answered on it: one that accepts but does not answer (a
/// frozen server, a link that drops packets) is no better than none.
async fn connect(client: &redis::Client) -> Result<MultiplexedConnection, String> {
    let attempt = async {
        let mut connection = client.get_multiplexed_async_connection().await?;
        redis::cmd("PING")
            .query_async::<()>(&mut connection)
            .await?;
        Ok::<_, redis::RedisError>(connection)
    };
    match tokio::time::timeout(DEADLINE, attempt).await {
        Ok(Ok(connection)) => Ok(connection),
        Ok(Err(error)) => Err(error.to_string()),
        Err(_) => Err("redis did not answer in time".to_owned()),
    }
}

/// The wait before reconnection attempt `failures + 1`: doubling from `FIRST_RETRY` up to
/// `LAST_RETRY`, each drawn from its upper half so that replicas do not reconnect in step.
fn backoff(failures: u32) -> Duration {
    let delay = FIRST_RETRY
        .saturating_mul(1 << failures.min(16))
        .min(LAST_RETRY);
    delay.mul_f64(0.5 + fastrand::f64() / 2.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reconnection_backs_off_from_a_tenth_of_a_second_to_two_seconds_and_stays_there() {
        for failures in [0, 1, 2, 5, 20, 1_000, u32::MAX] {
            let ceiling = FIRST_RETRY
                .saturating_mul(1 << failures.min(16))
                .min(LAST_RETRY);
            for _ in 0..100 {
                let delay = backoff(failures);
                assert!(
                    delay >= ceiling / 2 && delay <= ceiling,
                    "{failures}: {delay:?}"
                );
            }
        }
        assert!(backoff(0) <= FIRST_RETRY);
        assert!(backoff(u32::MAX) >= LAST_RETRY / 2);
    }
}
