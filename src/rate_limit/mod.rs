//! Rate limiting with GCRA (`governor`): one bucket per token for
//! authenticated requests, one per client IP (IPv6: per `/64`) for anonymous
//! ones and for requests with bad tokens. Buckets are charged before any
//! database work, and idle ones are swept by a thread of their own. Each bucket
//! holds `burst` requests and refills evenly, `count` per `period`.
//!
//! These buckets are this process's; [`store`] keeps them in Postgres
//! instead, shared by all servers (`CHRONIK_RATE_LIMIT_STORE`).
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
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use dashmap::DashMap;
use ipnet::Ipv6Net;

pub mod redis_store;
pub mod store;

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
    /// The bucket size (0 when off).
    pub fn burst(self) -> u32 {
        match self {
            Self::Off => 0,
            Self::Every { burst, .. } => burst.get(),
        }
    }

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
    /// A token, by the SHA-256 of its secret: known before any database lookup.
    Token([u8; 32]),
    /// A client address (IPv6 by its network prefix, see [`RateLimiters::new`]).
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

impl Decision {
    pub fn is_denied(&self) -> bool {
        matches!(self, Self::Denied { .. })
    }
}

pub struct RateLimiters {
    anonymous: Option<Keyed<IpAddr>>,
    /// The anonymous bucket's size, for the headers of a blocked address.
    anonymous_burst: u32,
    token: Option<Keyed<[u8; 32]>>,
    /// IPv6 clients share a bucket per network of this prefix length.
    ipv6_prefix: u8,
    /// Addresses whose bucket ran dry on bad tokens, until when: their
    /// further token requests are refused before any database lookup.
    blocked: DashMap<IpAddr, Instant>,
}

/// Idle buckets (full again) are forgotten this often, so memory stays bounded.
pub const SWEEP_EVERY: Duration = Duration::from_secs(60);

impl RateLimiters {
    pub fn new(anonymous: RateLimit, token: RateLimit, ipv6_prefix: u8) -> Self {
        Self {
            anonymous: anonymous.quota().map(RateLimiter::dashmap_with_middleware),
            anonymous_burst: anonymous.burst(),
            token: token.quota().map(RateLimiter::dashmap_with_middleware),
            ipv6_prefix: ipv6_prefix.min(128),
            blocked: DashMap::new(),
        }
    }

    /// Counts one request in `bucket`.
    pub fn check(&self, bucket: Bucket) -> Decision {
        match bucket {
            Bucket::Token(digest) => self.token.as_ref().map(|l| decide(l, &digest)),
            Bucket::Ip(ip) => {
                let key = self.ip_key(ip);
                self.anonymous.as_ref().map(|l| decide(l, &key))
            }
        }
        .unwrap_or(Decision::Unlimited)
    }

    /// Counts a request with a bad token against its address; an address
    /// whose bucket is empty is then [`blocked`](Self::blocked) until it refills.
    pub fn check_failure(&self, ip: IpAddr) -> Decision {
        let decision = self.check(Bucket::Ip(ip));
        self.block_if_denied(ip, decision);
        decision
    }

    /// Blocks `ip` until it may retry if `decision`, a charge of its
    /// bucket for a bad token, is `Denied`.
    pub fn block_if_denied(&self, ip: IpAddr, decision: Decision) {
        if let Decision::Denied { retry_after, .. } = decision {
            let until = Instant::now() + Duration::from_secs(retry_after);
            self.blocked.insert(self.ip_key(ip), until);
        }
    }

    /// `Denied` while `ip` is blocked for bad tokens: no lookup is made for it.
    pub fn blocked(&self, ip: IpAddr) -> Option<Decision> {
        let until = *self.blocked.get(&self.ip_key(ip))?;
        let wait = until.checked_duration_since(Instant::now())?;
        Some(Decision::Denied {
            status: Status {
                limit: self.anonymous_burst,
                remaining: 0,
                reset: ceil_secs(wait),
            },
            retry_after: ceil_secs(wait).max(1),
        })
    }

    /// The key of `ip`'s bucket: IPv4 as is, IPv6 by its network (`/64` by
    /// default), since one subscriber commonly holds a whole `/64`.
    pub fn ip_key(&self, ip: IpAddr) -> IpAddr {
        match ip {
            IpAddr::V6(v6) => {
                Ipv6Net::new(v6, self.ipv6_prefix).map_or(ip, |net| IpAddr::V6(net.trunc().addr()))
            }
            v4 => v4,
        }
    }

    /// Forgets full buckets and expired blocks.
    pub fn sweep(&self) {
        if let Some(l) = &self.anonymous {
            l.retain_recent();
            l.shrink_to_fit();
        }
        if let Some(l) = &self.token {
            l.retain_recent();
            l.shrink_to_fit();
        }
        let now = Instant::now();
        self.blocked.retain(|_, until| *until > now);
        self.blocked.shrink_to_fit();
    }

    /// Buckets and blocks held now.
    pub fn len(&self) -> usize {
        self.anonymous.as_ref().map_or(0, |l| l.len())
            + self.token.as_ref().map_or(0, |l| l.len())
            + self.blocked.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Sweeps `limiters` every `every` on a thread of its own, off the request
/// path, until the last other reference to them is dropped.
pub fn spawn_sweeper(limiters: &Arc<RateLimiters>, every: Duration) {
    let weak: Weak<RateLimiters> = Arc::downgrade(limiters);
    let spawned = std::thread::Builder::new()
        .name("rate-limit-sweeper".into())
        .spawn(move || {
            loop {
                std::thread::sleep(every);
                match weak.upgrade() {
                    Some(limiters) => limiters.sweep(),
                    None => break,
                }
            }
        });
    if let Err(err) = spawned {
        tracing::error!(%err, "could not start the rate-limit sweeper; idle buckets stay in memory");
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

pub fn ceil_secs(d: Duration) -> u64 {
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
        let limiters = RateLimiters::new("2/min".parse().unwrap(), RateLimit::Off, 64);
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
        assert_eq!(limiters.check(Bucket::Token([7; 32])), Decision::Unlimited);
    }

    #[test]
    fn ipv6_clients_share_a_bucket_per_64_and_ipv4_per_address() {
        let limiters = RateLimiters::new(every(1, 60, 1), RateLimit::Off, 64);
        let ip = |s: &str| Bucket::Ip(s.parse().unwrap());
        assert!(!limiters.check(ip("2001:db8:1:2::1")).is_denied());
        // Another address of the same /64: the same, now empty, bucket.
        assert!(limiters.check(ip("2001:db8:1:2:ffff::9")).is_denied());
        assert!(!limiters.check(ip("2001:db8:1:3::1")).is_denied());
        assert!(!limiters.check(ip("192.0.2.1")).is_denied());
        assert!(!limiters.check(ip("192.0.2.2")).is_denied());
        let per_address = RateLimiters::new(every(1, 60, 1), RateLimit::Off, 128);
        assert!(!per_address.check(ip("2001:db8:1:2::1")).is_denied());
        assert!(!per_address.check(ip("2001:db8:1:2::2")).is_denied());
    }

    #[test]
    fn an_address_that_empties_its_bucket_with_bad_tokens_is_blocked_until_it_refills() {
        let limiters = RateLimiters::new(every(1, 60, 1), RateLimit::Off, 64);
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        assert_eq!(limiters.blocked(ip), None);
        assert!(!limiters.check_failure(ip).is_denied());
        assert_eq!(
            limiters.blocked(ip),
            None,
            "blocked before the bucket was empty"
        );
        assert!(limiters.check_failure(ip).is_denied());
        let Some(Decision::Denied {
            status,
            retry_after,
        }) = limiters.blocked(ip)
        else {
            panic!("not blocked")
        };
        assert_eq!((status.limit, status.remaining), (1, 0));
        assert!((1..=60).contains(&retry_after), "{retry_after}");
        assert_eq!(limiters.blocked("192.0.2.2".parse().unwrap()), None);
    }

    #[test]
    fn idle_buckets_are_swept_without_any_request() {
        // Refills in a millisecond, so every bucket is idle right after use.
        let limiters = Arc::new(RateLimiters::new(every(1000, 1, 1), RateLimit::Off, 64));
        for n in 0..50u8 {
            limiters.check(Bucket::Ip(IpAddr::from([192, 0, 2, n])));
        }
        assert_eq!(limiters.len(), 50);
        spawn_sweeper(&limiters, Duration::from_millis(10));
        let deadline = Instant::now() + Duration::from_secs(10);
        while !limiters.is_empty() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(limiters.is_empty(), "{} buckets left", limiters.len());
    }
}
