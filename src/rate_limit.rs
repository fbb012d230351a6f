//! Rate limiting with GCRA (`governor`): one bucket per token for
//! authenticated requests, one per client IP for anonymous ones. Each bucket
//! holds `burst` requests and refills evenly, `count` per `period`.
//!
//! Responses carry the IETF draft headers `RateLimit-Limit` (the bucket size),
//! `RateLimit-Remaining` (requests left right now) and `RateLimit-Reset`
//! (seconds until the bucket is full again); a `429` adds `Retry-After`.

use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue};
use governor::clock::Clock;
use governor::middleware::StateInformationMiddleware;
use governor::state::keyed::DashMapStateStore;
use governor::{Quota, RateLimiter};
use std::fmt;
use std::hash::Hash;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::models::token::TokenId;

pub const LIMIT: HeaderName = HeaderName::from_static("ratelimit-limit");
pub const REMAINING: HeaderName = HeaderName::from_static("ratelimit-remaining");
pub const RESET: HeaderName = HeaderName::from_static("ratelimit-reset");

/// A configured limit: `off`, or `COUNT[/PERIOD][:BURST]` such as `120/min`,
/// `10/s:50` or `5000/h`. A bare number is per minute; the burst defaults to COUNT.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateLimit {
    Off,
    Every {
        count: NonZeroU32,
        period: Duration,
        burst: NonZeroU32,
    },
}

impl std::str::FromStr for RateLimit {
    type Err = String;
    fn from_str(raw: &str) -> Result<Self, String> {
        let text = raw.trim().to_ascii_lowercase();
        if matches!(text.as_str(), "off" | "0" | "none" | "false") {
            return Ok(Self::Off);
        }
        let hint = || format!("`{raw}` is not a rate limit such as `120/min`, `10/s:50` or `off`");
        let (rate, burst) = match text.split_once(':') {
            Some((rate, burst)) => (rate, Some(burst)),
            None => (text.as_str(), None),
        };
        let (count, unit) = rate.split_once('/').unwrap_or((rate, "min"));
        let count: NonZeroU32 = count.trim().parse().map_err(|_| hint())?;
        let period = match unit.trim() {
            "s" | "sec" | "second" => Duration::from_secs(1),
            "m" | "min" | "minute" => Duration::from_secs(60),
            "h" | "hour" => Duration::from_secs(3600),
            _ => return Err(hint()),
        };
        let burst = match burst {
            Some(b) => b.trim().parse().map_err(|_| hint())?,
            None => count,
        };
        Ok(Self::Every {
            count,
            period,
            burst,
        })
    }
}

impl fmt::Display for RateLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Off => f.write_str("off"),
            Self::Every {
                count,
                period,
                burst,
            } => {
                let unit = match period.as_secs() {
                    1 => "s",
                    3600 => "h",
                    _ => "min",
                };
                write!(f, "{count}/{unit}:{burst}")
            }
        }
    }
}

impl RateLimit {
    fn quota(self) -> Option<Quota> {
        match self {
            Self::Off => None,
            Self::Every {
                count,
                period,
                burst,
            } => Quota::with_period(period / count.get()).map(|q| q.allow_burst(burst)),
        }
    }
}

type Keyed<K> =
    RateLimiter<K, DashMapStateStore<K>, governor::clock::DefaultClock, StateInformationMiddleware>;

/// Whose bucket a request is counted in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bucket {
    Token(TokenId),
    Ip(IpAddr),
}

/// What the headers report about a bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Status {
    pub limit: u32,
    pub remaining: u32,
    /// Seconds until the bucket is full again.
    pub reset: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Limiting is off for this kind of caller.
    Unlimited,
    Allowed(Status),
    Denied {
        status: Status,
        retry_after: u64,
    },
}

pub struct RateLimiters {
    anonymous: Option<Keyed<IpAddr>>,
    token: Option<Keyed<TokenId>>,
    started: Instant,
    /// Seconds after `started` of the last sweep of idle buckets.
    last_sweep: AtomicU64,
}

/// Idle buckets (full again) are forgotten this often, so memory stays bounded.
const SWEEP_EVERY: Duration = Duration::from_secs(60);

impl RateLimiters {
    pub fn new(anonymous: RateLimit, token: RateLimit) -> Self {
        Self {
            anonymous: anonymous.quota().map(RateLimiter::dashmap_with_middleware),
            token: token.quota().map(RateLimiter::dashmap_with_middleware),
            started: Instant::now(),
            last_sweep: AtomicU64::new(0),
        }
    }

    pub fn check(&self, bucket: Bucket) -> Decision {
        self.sweep_now_and_then();
        match bucket {
            Bucket::Token(id) => self.token.as_ref().map(|l| decide(l, &id)),
            Bucket::Ip(ip) => self.anonymous.as_ref().map(|l| decide(l, &ip)),
        }
        .unwrap_or(Decision::Unlimited)
    }

    fn sweep_now_and_then(&self) {
        let now = self.started.elapsed().as_secs();
        let last = self.last_sweep.load(Ordering::Relaxed);
        if now.saturating_sub(last) < SWEEP_EVERY.as_secs() {
            return;
        }
        // One thread wins the sweep; the others carry on.
        if self
            .last_sweep
            .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
        {
            if let Some(l) = &self.anonymous {
                l.retain_recent();
                l.shrink_to_fit();
            }
            if let Some(l) = &self.token {
                l.retain_recent();
                l.shrink_to_fit();
            }
        }
    }
}

trait WithMiddleware {
    fn dashmap_with_middleware(quota: Quota) -> Self;
}

impl<K: Hash + Eq + Clone> WithMiddleware for Keyed<K> {
    fn dashmap_with_middleware(quota: Quota) -> Self {
        RateLimiter::dashmap(quota).with_middleware::<StateInformationMiddleware>()
    }
}

fn decide<K: Hash + Eq + Clone>(limiter: &Keyed<K>, key: &K) -> Decision {
    match limiter.check_key(key) {
        Ok(snapshot) => {
            let quota = snapshot.quota();
            let limit = quota.burst_size().get();
            let remaining = snapshot.remaining_burst_capacity();
            let reset = quota.replenish_interval() * (limit - remaining.min(limit));
            Decision::Allowed(Status {
                limit,
                remaining,
                reset: ceil_secs(reset),
            })
        }
        Err(not_until) => {
            let quota = not_until.quota();
            let limit = quota.burst_size().get();
            let wait = not_until.wait_time_from(limiter.clock().now());
            let full = wait + quota.replenish_interval() * (limit - 1);
            Decision::Denied {
                status: Status {
                    limit,
                    remaining: 0,
                    reset: ceil_secs(full),
                },
                retry_after: ceil_secs(wait).max(1),
            }
        }
    }
}

fn ceil_secs(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

/// Adds the `RateLimit-*` headers for `status`.
pub fn add_headers(headers: &mut HeaderMap, status: &Status) {
    headers.insert(LIMIT, HeaderValue::from(status.limit));
    headers.insert(REMAINING, HeaderValue::from(status.remaining));
    headers.insert(RESET, HeaderValue::from(status.reset));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn every(count: u32, secs: u64, burst: u32) -> RateLimit {
        RateLimit::Every {
            count: NonZeroU32::new(count).unwrap(),
            period: Duration::from_secs(secs),
            burst: NonZeroU32::new(burst).unwrap(),
        }
    }

    #[test]
    fn limits_parse() {
        assert_eq!("off".parse(), Ok(RateLimit::Off));
        assert_eq!("0".parse(), Ok(RateLimit::Off));
        assert_eq!("120".parse(), Ok(every(120, 60, 120)));
        assert_eq!("120/min".parse(), Ok(every(120, 60, 120)));
        assert_eq!("10/s:50".parse(), Ok(every(10, 1, 50)));
        assert_eq!("5000/h".parse(), Ok(every(5000, 3600, 5000)));
        assert!("ten/min".parse::<RateLimit>().is_err());
        assert!("10/day".parse::<RateLimit>().is_err());
        assert!("10/min:0".parse::<RateLimit>().is_err());
        assert_eq!(every(10, 1, 50).to_string(), "10/s:50");
    }

    #[test]
    fn a_bucket_empties_and_says_when_to_come_back() {
        let limiters = RateLimiters::new("2/min".parse().unwrap(), RateLimit::Off);
        let ip = Bucket::Ip("192.0.2.1".parse().unwrap());
        let Decision::Allowed(first) = limiters.check(ip) else {
            panic!("first request denied")
        };
        assert_eq!((first.limit, first.remaining), (2, 1));
        assert!(first.reset > 0 && first.reset <= 30, "{first:?}");
        assert!(matches!(limiters.check(ip), Decision::Allowed(s) if s.remaining == 0));
        let Decision::Denied {
            status,
            retry_after,
        } = limiters.check(ip)
        else {
            panic!("third request allowed")
        };
        assert_eq!(status.remaining, 0);
        assert!((1..=30).contains(&retry_after), "{retry_after}");
        assert!(status.reset >= retry_after && status.reset <= 60);
        // Another client has its own bucket; tokens are not limited here.
        assert!(matches!(
            limiters.check(Bucket::Ip("192.0.2.2".parse().unwrap())),
            Decision::Allowed(_)
        ));
        assert_eq!(
            limiters.check(Bucket::Token(TokenId::new())),
            Decision::Unlimited
        );
    }
}
