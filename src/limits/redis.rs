//! Counters in Redis, shared by every replica: one atomic script per admission, counters that
//! expire on their own, and a short deadline on every call so Redis can never hang a request.

use std::time::Duration;

use redis::aio::ConnectionManager;
use tokio::sync::OnceCell;

use super::{Snapshot, Verdict, Windows};
use crate::config::KeyLimits;

/// Longest wait for Redis on one admission or count.
const DEADLINE: Duration = Duration::from_millis(500);

/// The checks of `decide`, in the same order, and the request count, atomically.
const ADMIT: &str = r"
local function count(key) return tonumber(redis.call('GET', key) or '0') end
local requests, minute, day, month = count(KEYS[1]), count(KEYS[2]), count(KEYS[3]), count(KEYS[4])
local rpm, tpm, per_day, per_month = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local verdict = 0
if tpm >= 0 and minute >= tpm then verdict = 1
elseif per_day >= 0 and day >= per_day then verdict = 2
elseif per_month >= 0 and month >= per_month then verdict = 3
elseif rpm >= 0 and requests >= rpm then verdict = 4
elseif rpm >= 0 then
  requests = redis.call('INCR', KEYS[1])
  redis.call('EXPIRE', KEYS[1], ARGV[5])
end
return {verdict, requests, minute, day, month}
";

pub struct Counters {
    client: Result<redis::Client, String>,
    connection: OnceCell<ConnectionManager>,
    script: redis::Script,
}

/// The Redis keys of one scope's counters in the given windows.
struct Keys {
    requests: String,
    minute: String,
    day: String,
    month: String,
}

impl Keys {
    fn of(scope: &str, w: Windows) -> Self {
        Self {
            requests: format!("switchyard:{scope}:minute:{}:requests", w.minute),
            minute: format!("switchyard:{scope}:minute:{}:tokens", w.minute),
            day: format!("switchyard:{scope}:day:{}:tokens", w.day),
            month: format!("switchyard:{scope}:month:{}:tokens", w.month),
        }
    }
}

/// Counters outlive their window a little, so a late count still lands; then they expire.
const MINUTE_TTL: u64 = 2 * 60;
const DAY_TTL: u64 = 2 * 86_400;
const MONTH_TTL: u64 = 32 * 86_400;

impl Counters {
    /// Validated at config load; a bad URL here only shows as a backend error.
    pub fn new(url: &str) -> Self {
        Self {
            client: redis::Client::open(url).map_err(|e| e.to_string()),
            connection: OnceCell::new(),
            script: redis::Script::new(ADMIT),
        }
    }

    pub async fn admit(
        &self,
        scope: &str,
        limits: &KeyLimits,
        w: Windows,
    ) -> Result<(Verdict, Snapshot), String> {
        let keys = Keys::of(scope, w);
        let limit = |l: Option<u64>| l.and_then(|l| i64::try_from(l).ok()).unwrap_or(-1);
        let mut connection = self.connection().await?;
        let mut invocation = self.script.prepare_invoke();
        invocation
            .key(&keys.requests)
            .key(&keys.minute)
            .key(&keys.day)
            .key(&keys.month)
            .arg(limit(limits.rpm))
            .arg(limit(limits.tpm))
            .arg(limit(limits.tokens_per_day))
            .arg(limit(limits.tokens_per_month))
            .arg(MINUTE_TTL);
        let reply: Vec<u64> =
            tokio::time::timeout(DEADLINE, invocation.invoke_async(&mut connection))
                .await
                .map_err(|_| "redis did not answer in time".to_owned())?
                .map_err(|e| e.to_string())?;
        let [verdict, requests, minute_tokens, day_tokens, month_tokens] = reply[..] else {
            return Err(format!(
                "unexpected reply from the limits script: {reply:?}"
            ));
        };
        let verdict = match verdict {
            0 => Verdict::Admit,
            1 => Verdict::TokensPerMinute,
            2 => Verdict::TokensPerDay,
            3 => Verdict::TokensPerMonth,
            _ => Verdict::RequestsPerMinute,
        };
        Ok((
            verdict,
            Snapshot {
                requests,
                minute_tokens,
                day_tokens,
                month_tokens,
            },
        ))
    }

    pub async fn record(&self, scope: &str, w: Windows, tokens: u64) -> Result<(), String> {
        let keys = Keys::of(scope, w);
        let mut connection = self.connection().await?;
        let mut pipe = redis::pipe();
        pipe.atomic();
        for (key, ttl) in [
            (&keys.minute, MINUTE_TTL),
            (&keys.day, DAY_TTL),
            (&keys.month, MONTH_TTL),
        ] {
            pipe.cmd("INCRBY").arg(key).arg(tokens).ignore();
            pipe.cmd("EXPIRE").arg(key).arg(ttl).ignore();
        }
        tokio::time::timeout(DEADLINE, pipe.query_async::<()>(&mut connection))
            .await
            .map_err(|_| "redis did not answer in time".to_owned())?
            .map_err(|e| e.to_string())
    }

    /// One shared connection, made on first use (and tried again after a failure); it
    /// reconnects by itself when Redis comes back.
    async fn connection(&self) -> Result<ConnectionManager, String> {
        let client = self.client.clone()?;
        let connect = self.connection.get_or_try_init(|| async {
            tokio::time::timeout(DEADLINE, ConnectionManager::new(client))
                .await
                .map_err(|_| "could not connect to redis in time".to_owned())?
                .map_err(|e| e.to_string())
        });
        connect.await.cloned()
    }
}
