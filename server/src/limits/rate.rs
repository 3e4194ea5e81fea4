//! Request rate limits (`governor`, one token bucket per key): per client IP on every HTTP
//! listener (`httpRateLimit` per second, `httpRateBurst` at once) and per authenticated user on
//! the API (`apiUserRateLimit` per minute). A request past its limit is answered 429 with
//! `Retry-After` (whole seconds until a token is back), counted in `limit_refusals_total` and
//! summarized in the log per key every 10 s.
//!
//! Buckets of keys not seen for a while are dropped every [`PRUNE_PERIOD`], so a scan from
//! many addresses does not keep memory.

use std::fmt::Display;
use std::hash::Hash;
use std::num::NonZeroU32;
use std::sync::{Arc, Weak};
use std::time::Duration;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use super::Summary;
use crate::http_error::json_error;

/// How often buckets of keys gone quiet are dropped.
const PRUNE_PERIOD: Duration = Duration::from_secs(60);

/// One rate limit keyed by `K` (a client IP, a user name).
pub(crate) struct KeyedRateLimit<K: Hash + Eq + Clone> {
    buckets: DefaultKeyedRateLimiter<K>,
    limited: Arc<Summary<K>>,
}

impl<K: Hash + Eq + Clone + Display + Send + Sync + 'static> KeyedRateLimit<K> {
    /// The limit `limit` (its config key) of `listener` at `quota`; `None` when the limit is off
    /// (a rate of 0). Must be called inside the tokio runtime.
    pub(crate) fn start(
        listener: &'static str,
        limit: &'static str,
        quota: Option<Quota>,
        what: String,
    ) -> Option<Arc<Self>> {
        let limit = Arc::new(Self {
            buckets: RateLimiter::keyed(quota?),
            limited: Summary::start(listener, limit, what),
        });
        tokio::spawn(prune_every_period(Arc::downgrade(&limit)));
        Some(limit)
    }

    /// `None` when `key` may go on; else the 429 to answer (counted and summarized).
    pub(crate) fn check(&self, key: &K) -> Option<Response> {
        let not_until = self.buckets.check_key(key).err()?;
        self.limited.note_key(key.clone());
        let wait = not_until.wait_time_from(DefaultClock::default().now());
        Some(too_many_requests(wait))
    }
}

/// An authenticated user, the key of `apiUserRateLimit`; shown as `user <name>` in the log.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct User(pub(crate) String);

impl Display for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "user {}", self.0)
    }
}

/// The per-IP quota of an HTTP listener: `rate` per second, `burst` at once; `None` for rate 0.
pub(crate) fn per_second(rate: u32, burst: u32) -> Option<Quota> {
    let burst = NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN);
    NonZeroU32::new(rate).map(|rate| Quota::per_second(rate).allow_burst(burst))
}

/// The per-user quota of the API: `rate` per minute, as many at once; `None` for rate 0.
pub(crate) fn per_minute(rate: u32) -> Option<Quota> {
    NonZeroU32::new(rate).map(Quota::per_minute)
}

/// 429 with `Retry-After` (`wait` rounded up to whole seconds, at least 1) and the JSON error
/// body the API answers errors with.
fn too_many_requests(wait: Duration) -> Response {
    let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    let mut response = json_error(StatusCode::TOO_MANY_REQUESTS, "too many requests");
    let retry_after = HeaderValue::from(seconds.max(1));
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, retry_after);
    response
}

async fn prune_every_period<K: Hash + Eq + Clone>(limit: Weak<KeyedRateLimit<K>>) {
    let mut ticks = tokio::time::interval(PRUNE_PERIOD);
    ticks.tick().await;
    loop {
        ticks.tick().await;
        let Some(limit) = limit.upgrade() else {
            return;
        };
        limit.buckets.retain_recent();
        limit.buckets.shrink_to_fit();
    }
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;

    use super::*;

    #[tokio::test]
    async fn a_key_past_its_burst_gets_429_with_retry_after_and_others_do_not() {
        let limit = KeyedRateLimit::<IpAddr>::start(
            "test",
            "httpRateLimit",
            per_second(1, 3),
            String::new(),
        )
        .unwrap();
        let (a, b): (IpAddr, IpAddr) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        assert!(
            (0..3).all(|_| limit.check(&a).is_none()),
            "the burst goes through"
        );
        let refused = limit.check(&a).expect("past the burst");
        assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(refused.headers()[header::RETRY_AFTER], "1");
        assert!(limit.check(&b).is_none(), "another key has its own bucket");
        assert_eq!(limit.limited.counter.get(), 1);
    }

    #[test]
    fn a_rate_of_zero_is_no_limit() {
        assert!(per_second(0, 100).is_none());
        assert!(per_minute(0).is_none());
        assert!(per_minute(60).is_some());
    }

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        let secs = |d| too_many_requests(d).headers()[header::RETRY_AFTER].clone();
        assert_eq!(secs(Duration::from_millis(10)), "1");
        assert_eq!(secs(Duration::from_millis(59_001)), "60");
        assert_eq!(secs(Duration::ZERO), "1");
    }
}
