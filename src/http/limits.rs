//! What one client may take of the HTTP server: REST requests per API key (a keyed GCRA rate
//! limit, `governor`), how long a connection may take to send its request headers, and how many
//! connections are open at once ([`super::server`]). Live sessions and caption viewers have
//! their own quotas (`LiveConfig`). What a client sees: `docs/protocol.md`, "Limits".

use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};
use uuid::Uuid;

use super::error::ApiError;

/// The HTTP server's limits; [`Default`] is what `serve` uses without flags.
#[derive(Debug, Clone, Copy)]
pub struct HttpLimits {
    /// REST requests per API key (a web session counts for its key); `None`: unlimited.
    pub rate_limit: Option<RateLimit>,
    /// A connection that has not sent a whole request head this long after it opened (or after
    /// its previous response) is closed. Also ends idle keep-alive connections.
    pub header_read_timeout: Duration,
    /// Connections open at once, WebSockets included; one more is answered 503
    /// `too_many_connections` and closed.
    pub max_connections: usize,
}

impl Default for HttpLimits {
    fn default() -> Self {
        Self {
            rate_limit: Some(RateLimit { per_second: 100, burst: 200 }),
            header_read_timeout: Duration::from_secs(10),
            max_connections: 2048,
        }
    }
}

/// A sustained rate with a burst: a key may send `burst` requests at once, then `per_second`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    pub per_second: u32,
    pub burst: u32,
}

/// Requests per API key; a key over its rate gets 429 `rate_limited` with `Retry-After`.
pub struct KeyRateLimiter {
    limiter: DefaultKeyedRateLimiter<Uuid>,
    clock: DefaultClock,
}

impl KeyRateLimiter {
    /// `None` for a rate of zero (no limit).
    pub fn new(limit: RateLimit) -> Option<Self> {
        let rate = NonZeroU32::new(limit.per_second)?;
        let burst = NonZeroU32::new(limit.burst).unwrap_or(rate);
        let quota = Quota::per_second(rate).allow_burst(burst);
        Some(Self { limiter: DefaultKeyedRateLimiter::keyed(quota), clock: DefaultClock::default() })
    }

    /// One request of `key`, or how long it must wait.
    pub fn check(&self, key: Uuid) -> Result<(), ApiError> {
        self.limiter.check_key(&key).map_err(|wait| ApiError::RateLimited(wait.wait_time_from(self.clock.now())))
    }

    /// Forgets keys whose bucket is full again (they would be admitted anyway): the map holds
    /// only recently active keys.
    pub fn forget_idle(&self) {
        self.limiter.retain_recent();
        self.limiter.shrink_to_fit();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_gets_its_burst_then_waits_while_others_go_on() {
        let limiter = KeyRateLimiter::new(RateLimit { per_second: 1, burst: 2 }).unwrap();
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        assert!(limiter.check(a).is_ok() && limiter.check(a).is_ok());
        match limiter.check(a) {
            Err(ApiError::RateLimited(wait)) => assert!(wait > Duration::ZERO && wait <= Duration::from_secs(1)),
            other => panic!("expected a rate limit, got {other:?}"),
        }
        assert!(limiter.check(b).is_ok(), "keys are limited one by one");
        assert!(KeyRateLimiter::new(RateLimit { per_second: 0, burst: 10 }).is_none(), "0: no limit");
    }
}
