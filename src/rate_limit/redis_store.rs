//! Rate-limit buckets in Redis (`CHRONIK_RATE_LIMIT_STORE=redis://…`),
//! shared by every server that names the same Redis: the same GCRA as the
//! Postgres store, run atomically by a Lua script on Redis's clock.

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use std::time::Duration;

use crate::db::rate_limits::Charge;

/// Keys are this prefix and the bucket's name (`ip:…`, `token:…`).
const PREFIX: &str = "chronik:rate-limit:";

/// GCRA on one key holding the bucket's theoretical arrival time (when it is
/// full again), in microseconds of Redis's clock: a request moves it on by
/// one step unless that puts it more than `span` ahead of now. The key
/// expires when the bucket is full, so idle buckets take no memory. Lua's
/// numbers are doubles, exact for microseconds since 1970 for ages to come.
/// Returns `{allowed (0 or 1), microseconds until the bucket is full}`.
const GCRA_LUA: &str = r"
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
local step = tonumber(ARGV[1])
local span = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local next = tat + step
if next - now > span then
  return {0, tat - now}
end
redis.call('SET', KEYS[1], string.format('%.0f', next), 'PX', math.max(1, math.ceil((next - now) / 1000)))
return {1, next - now}
";

/// Most time one charge may take (connecting included): a Redis that does
/// not answer must not hold requests up for long.
const TIMEOUT: Duration = Duration::from_secs(1);

pub struct RedisBuckets {
    connection: ConnectionManager,
    script: redis::Script,
}

impl RedisBuckets {
    /// Buckets in the Redis at `url`, connected at the first charge and
    /// reconnected when the connection breaks. Needs a Tokio runtime.
    pub fn new(url: &str) -> anyhow::Result<Self> {
        let client = redis::Client::open(url)
            .map_err(|e| anyhow::anyhow!("CHRONIK_RATE_LIMIT_STORE: {e}"))?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(TIMEOUT))
            .set_response_timeout(Some(TIMEOUT))
            .set_number_of_retries(1);
        let connection = ConnectionManager::new_lazy_with_config(client, config)
            .map_err(|e| anyhow::anyhow!("CHRONIK_RATE_LIMIT_STORE: {e}"))?;
        Ok(Self {
            connection,
            script: redis::Script::new(GCRA_LUA),
        })
    }

    /// Charges one request of `step_us` to the bucket `key`, which may run at
    /// most `span_us` ahead; as [`crate::db::rate_limits::charge`] does.
    pub async fn charge(
        &self,
        key: &str,
        step_us: i64,
        span_us: i64,
    ) -> Result<Option<Charge>, redis::RedisError> {
        // A clone shares the one multiplexed connection.
        let mut connection = self.connection.clone();
        let (allowed, ahead_us): (i64, i64) = self
            .script
            .key(format!("{PREFIX}{key}"))
            .arg(step_us)
            .arg(span_us)
            .invoke_async(&mut connection)
            .await?;
        Ok(Some(Charge {
            allowed: allowed == 1,
            ahead_us,
        }))
    }
}
