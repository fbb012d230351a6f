//! Where rate-limit buckets live (`CHRONIK_RATE_LIMIT_STORE`): in this
//! process's memory, or in Postgres, shared by every server on the database,
//! so that servers behind a load balancer give a client one quota between
//! them rather than one each.

use std::fmt;
use std::net::IpAddr;
use std::sync::{Arc, Weak};
use std::time::Duration;

use super::{Bucket, Decision, RateLimit, RateLimiters, Status, ceil_secs};
use crate::db::DbPool;
use crate::db::rate_limits::{self, Charge};
use crate::error::ApiError;

/// Where the buckets are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateLimitStore {
    /// In this process (`governor`): each server counts for itself.
    Memory,
    /// In the database's `rate_limit_buckets`: one count for all servers.
    Postgres,
}

impl std::str::FromStr for RateLimitStore {
    type Err = String;
    fn from_str(raw: &str) -> Result<Self, String> {
        match raw.trim().to_ascii_lowercase().as_str() {
            "memory" => Ok(Self::Memory),
            "postgres" | "postgresql" => Ok(Self::Postgres),
            text if text.starts_with("redis://") || text.starts_with("rediss://") => Err(
                "Redis is not supported yet: `postgres` shares rate limits between servers".into(),
            ),
            _ => Err(format!(
                "`{raw}` is not a rate-limit store: `memory` or `postgres`"
            )),
        }
    }
}

impl fmt::Display for RateLimitStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Memory => "memory",
            Self::Postgres => "postgres",
        })
    }
}

/// The rate limiter the access middleware charges: buckets in memory, or in
/// Postgres. Addresses blocked for bad tokens are kept in memory either way
/// (a shortcut that saves lookups; the shared bucket itself refuses them).
pub struct Limiter {
    memory: Arc<RateLimiters>,
    /// For `postgres`: the limits, charged to shared buckets.
    shared: Option<Shared>,
}

#[derive(Debug, Clone, Copy)]
struct Shared {
    anonymous: RateLimit,
    token: RateLimit,
}

impl Limiter {
    /// Buckets in this process's memory.
    pub fn memory(limiters: Arc<RateLimiters>) -> Self {
        Self {
            memory: limiters,
            shared: None,
        }
    }

    /// Buckets in Postgres, with these limits; `limiters` keeps the blocks.
    pub fn postgres(limiters: Arc<RateLimiters>, anonymous: RateLimit, token: RateLimit) -> Self {
        Self {
            memory: limiters,
            shared: Some(Shared { anonymous, token }),
        }
    }

    /// See [`RateLimiters::ip_key`].
    pub fn ip_key(&self, ip: IpAddr) -> IpAddr {
        self.memory.ip_key(ip)
    }

    /// See [`RateLimiters::blocked`].
    pub fn blocked(&self, ip: IpAddr) -> Option<Decision> {
        self.memory.blocked(ip)
    }

    /// Counts one request in `bucket`; a shared bucket over a connection of
    /// `pool`. A store that does not answer lets the request through (the
    /// request itself needs that database), and says so in the log.
    pub async fn charge(&self, bucket: Bucket, pool: &DbPool) -> Decision {
        let Some(shared) = self.shared else {
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
        match charge_shared(pool, key, step, span).await {
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

async fn charge_shared(
    pool: &DbPool,
    key: String,
    step: Duration,
    span: Duration,
) -> Result<Option<Charge>, ApiError> {
    let micros = |d: Duration| i64::try_from(d.as_micros()).unwrap_or(i64::MAX);
    let mut conn = pool.get().await?;
    rate_limits::charge(&mut conn, key, micros(step), micros(span)).await
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

/// Deletes full shared buckets every `every` over `pool`, on a task of its
/// own, until `limiter` is dropped; nothing for buckets in memory (their
/// own sweeper forgets them).
pub fn spawn_sweeper(limiter: &Limiter, pool: DbPool, every: Duration) {
    if limiter.shared.is_none() {
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
        let redis = "redis://127.0.0.1:6379".parse::<RateLimitStore>();
        assert!(redis.is_err_and(|e| e.contains("Redis is not supported")));
        assert!("disk".parse::<RateLimitStore>().is_err());
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
