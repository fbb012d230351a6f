//! Where rate-limit buckets live (`CHRONIK_RATE_LIMIT_STORE`): in this
//! process's memory, or in Postgres, shared by every server on the database,
//! so that servers behind a load balancer give a client one quota between
//! them rather than one each.

use std::fmt;
use std::net::IpAddr;
use std::sync::{Arc, Weak};
use std::time::Duration;

use super::redis_store::RedisBuckets;
use super::{Bucket, Decision, RateLimit, RateLimiters, Status, ceil_secs};
use crate::db::DbPool;
use crate::db::rate_limits::{self, Charge};
use crate::error::ApiError;

/// Where the buckets are kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RateLimitStore {
    /// In this process (`governor`): each server counts for itself.
    Memory,
    /// In the database's `rate_limit_buckets`: one count for all servers.
    Postgres,
    /// In the Redis at this `redis://` URL: one count for all servers using it.
    Redis(String),
}

impl std::str::FromStr for RateLimitStore {
    type Err = String;
    fn from_str(raw: &str) -> Result<Self, String> {
        let text = raw.trim();
        match text.to_ascii_lowercase().as_str() {
            "memory" => return Ok(Self::Memory),
            "postgres" | "postgresql" => return Ok(Self::Postgres),
            _ => {}
        }
        if text.starts_with("rediss://") {
            return Err(
                "TLS to Redis (`rediss://`) is not supported: use `redis://` \
                 on a private network"
                    .into(),
            );
        }
        if !text.starts_with("redis://") {
            return Err(format!(
                "`{raw}` is not a rate-limit store: `memory`, `postgres` or a `redis://` URL"
            ));
        }
        redis::Client::open(text).map_err(|e| format!("`{raw}` is not a Redis URL: {e}"))?;
        Ok(Self::Redis(text.to_owned()))
    }
}

impl fmt::Display for RateLimitStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the URL: it may hold a password.
        f.write_str(match self {
            Self::Memory => "memory",
            Self::Postgres => "postgres",
            Self::Redis(_) => "redis",
        })
    }
}

/// The rate limiter the access middleware charges: buckets in memory, in
/// Postgres or in Redis. Addresses blocked for bad tokens are kept in memory either way
/// (a shortcut that saves lookups; the shared bucket itself refuses them).
pub struct Limiter {
    memory: Arc<RateLimiters>,
    /// For `postgres` and Redis: the limits, charged to shared buckets.
    shared: Option<Shared>,
}

struct Shared {
    anonymous: RateLimit,
    token: RateLimit,
    buckets: SharedBuckets,
}

enum SharedBuckets {
    Postgres,
    Redis(RedisBuckets),
}

impl Limiter {
    /// Buckets in this process's memory.
    pub fn memory(limiters: Arc<RateLimiters>) -> Self {
        Self {
            memory: limiters,
            shared: None,
        }
    }

    /// Buckets in `store`, with these limits; `limiters` counts them if the
    /// store is `memory`, and keeps the blocks in any case. A Redis is
    /// connected at the first request (so this needs a Tokio runtime).
    pub fn new(
        limiters: Arc<RateLimiters>,
        store: &RateLimitStore,
        anonymous: RateLimit,
        token: RateLimit,
    ) -> anyhow::Result<Self> {
        let buckets = match store {
            RateLimitStore::Memory => return Ok(Self::memory(limiters)),
            RateLimitStore::Postgres => SharedBuckets::Postgres,
            RateLimitStore::Redis(url) => SharedBuckets::Redis(RedisBuckets::new(url)?),
        };
        Ok(Self {
            memory: limiters,
            shared: Some(Shared {
                anonymous,
                token,
                buckets,
            }),
        })
    }

    /// See [`RateLimiters::ip_key`].
    pub fn ip_key(&self, ip: IpAddr) -> IpAddr {
        self.memory.ip_key(ip)
    }

    /// See [`RateLimiters::blocked`].
    pub fn blocked(&self, ip: IpAddr) -> Option<Decision> {
        self.memory.blocked(ip)
    }

    /// Counts one request in `bucket`; a bucket in Postgres over a connection
    /// of `pool`. A store that does not answer lets the request through, and
    /// says so in the log: the request needs the database anyway, and a Redis
    /// outage must not become one of the API.
    pub async fn charge(&self, bucket: Bucket, pool: &DbPool) -> Decision {
        let Some(shared) = &self.shared else {
            return self.memory.check(bucket);
        };
        let (limit, key) = match bucket {
            Bucket::Token(digest) => (shared.token, format!("token:{}", hex(&digest))),
            Bucket::Ip(ip) => (shared.anonymous, format!("ip:{}", self.ip_key(ip))),
        };
        let RateLimit::Every {
            count,
            period,
            burst,
        } = limit
        else {
            return Decision::Unlimited;
        };
        let step = period / count.get();
        let span = step * burst.get();
        let micros = |d: Duration| i64::try_from(d.as_micros()).unwrap_or(i64::MAX);
        let charged = match &shared.buckets {
            SharedBuckets::Postgres => charge_in_postgres(pool, key, micros(step), micros(span))
                .await
                .map_err(|e| e.to_string()),
            SharedBuckets::Redis(redis) => redis
                .charge(&key, micros(step), micros(span))
                .await
                .map_err(|e| e.to_string()),
        };
        match charged {
            Ok(charge) => decide(charge, step, span, burst.get()),
            Err(err) => {
                tracing::warn!(%err, "the shared rate-limit store did not answer; the request is let through");
                Decision::Unlimited
            }
        }
    }

    /// Counts a request with a bad token against its address, as
    /// [`RateLimiters::check_failure`] does.
    pub async fn charge_failure(&self, ip: IpAddr, pool: &DbPool) -> Decision {
        let decision = self.charge(Bucket::Ip(ip), pool).await;
        self.memory.block_if_denied(ip, decision);
        decision
    }
}

async fn charge_in_postgres(
    pool: &DbPool,
    key: String,
    step_us: i64,
    span_us: i64,
) -> Result<Option<Charge>, ApiError> {
    let mut conn = pool.get().await?;
    rate_limits::charge(&mut conn, key, step_us, span_us).await
}

/// The decision a charge of a bucket of `burst` requests, refilled one per
/// `step` (`span` = `step` × `burst`), comes to; `None` (a refused request
/// that found no row, a rare race) is refused.
fn decide(charge: Option<Charge>, step: Duration, span: Duration, burst: u32) -> Decision {
    let Some(charge) = charge else {
        return Decision::Denied {
            status: Status {
                limit: burst,
                remaining: 0,
                reset: ceil_secs(span),
            },
            retry_after: 1,
        };
    };
    // How long until the bucket is full.
    let ahead = Duration::from_micros(u64::try_from(charge.ahead_us).unwrap_or(0));
    if charge.allowed {
        let left = span.saturating_sub(ahead).as_micros() / step.as_micros().max(1);
        Decision::Allowed(Status {
            limit: burst,
            remaining: u32::try_from(left).unwrap_or(burst).min(burst),
            reset: ceil_secs(ahead),
        })
    } else {
        // One more request fits once the bucket is a step below full.
        let wait = (ahead + step).saturating_sub(span);
        Decision::Denied {
            status: Status {
                limit: burst,
                remaining: 0,
                reset: ceil_secs(ahead),
            },
            retry_after: ceil_secs(wait).max(1),
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Deletes full buckets in Postgres every `every` over `pool`, on a task of
/// its own, until `limiter` is dropped; nothing for other stores (memory's
/// own sweeper forgets its buckets, and Redis expires them).
pub fn spawn_sweeper(limiter: &Limiter, pool: DbPool, every: Duration) {
    // Redis expires full buckets itself.
    if !matches!(
        limiter.shared,
        Some(Shared {
            buckets: SharedBuckets::Postgres,
            ..
        })
    ) {
        return;
    }
    let weak: Weak<RateLimiters> = Arc::downgrade(&limiter.memory);
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(every).await;
            if weak.upgrade().is_none() {
                break;
            }
            let swept = match pool.get().await {
                Ok(mut conn) => rate_limits::sweep(&mut conn).await,
                Err(err) => Err(err.into()),
            };
            if let Err(err) = swept {
                tracing::warn!(%err, "could not delete full rate-limit buckets");
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    const STEP: Duration = Duration::from_secs(30);
    const SPAN: Duration = Duration::from_secs(60);

    fn charge(allowed: bool, ahead: Duration) -> Option<Charge> {
        Some(Charge {
            allowed,
            ahead_us: ahead.as_micros() as i64,
        })
    }

    #[test]
    fn stores_parse() {
        assert_eq!("memory".parse(), Ok(RateLimitStore::Memory));
        assert_eq!(" Postgres ".parse(), Ok(RateLimitStore::Postgres));
        assert_eq!(
            "redis://127.0.0.1:6379/2".parse(),
            Ok(RateLimitStore::Redis("redis://127.0.0.1:6379/2".into()))
        );
        let secret = RateLimitStore::Redis("redis://:secret@127.0.0.1".into());
        assert_eq!(secret.to_string(), "redis", "never the password");
        for bad in ["disk", "rediss://127.0.0.1", "redis://", "http://127.0.0.1"] {
            assert!(bad.parse::<RateLimitStore>().is_err(), "{bad}");
        }
    }

    #[test]
    fn a_shared_bucket_reports_as_a_bucket_in_memory_does() {
        // 2/min: the first request leaves one, full again in 30 s.
        assert_eq!(
            decide(charge(true, STEP), STEP, SPAN, 2),
            Decision::Allowed(Status {
                limit: 2,
                remaining: 1,
                reset: 30
            })
        );
        let second = Duration::from_millis(59_990);
        assert_eq!(
            decide(charge(true, second), STEP, SPAN, 2),
            Decision::Allowed(Status {
                limit: 2,
                remaining: 0,
                reset: 60
            })
        );
        // Refused 10 ms later: one more fits in 30 s, full in 60 s.
        let Decision::Denied {
            status,
            retry_after,
        } = decide(charge(false, second), STEP, SPAN, 2)
        else {
            panic!("allowed")
        };
        assert_eq!((status.limit, status.remaining, status.reset), (2, 0, 60));
        assert_eq!(retry_after, 30);
        assert!(decide(None, STEP, SPAN, 2).is_denied());
    }
}
