//! Redis as a read cache, never as the truth: a miss or a Redis failure reads PostgreSQL.
//!
//! What is cached (JSON of the answer, as sent):
//! - `GET /v1/cities/{id}` and `GET /v1/plans/{id}` under `{prefix}:city:{id}` and
//!   `{prefix}:plan:{id}` — deleted after the commit of any change to that city or plan;
//! - camera list pages (`GET /v1/cameras?…`, what the console polls) under
//!   `{prefix}:cameras:{generation}:{query}` — the generation (`{prefix}:gen:cameras`) is
//!   incremented after the commit of any camera change and of any camera *status transition*
//!   consumed from `stream.health_check`, so every cached page is unreachable at once; a
//!   health check that does not change the status leaves the cache alone (`statusAt` in a cached
//!   page may then lag by up to the TTL).
//!
//! A page that misses is loaded once per process however many requests miss it meanwhile
//! ([`crate::flight`]).
//!
//! **Circuit breaker.** Every Redis call goes through a [`CircuitBreaker`] (target `redis`): after
//! 5 consecutive failures Redis is not called for 60 s and every read goes to PostgreSQL
//! directly (as on a miss), then one trial call decides whether to use it again.
//!
//! Every cached value has a TTL ([`TTL_SECS`]), the bound on staleness if the process dies
//! between a commit and its invalidation; the generation counter expires a day
//! ([`GENERATION_TTL_SECS`]) after its last change.

use std::time::Duration;

use std::future::Future;

use redis::aio::ConnectionManager;

use crate::Error;
use crate::breaker::CircuitBreaker;
use crate::flight::Flights;

/// Lifetime of every cached value, seconds.
pub const TTL_SECS: u64 = 30;
/// Lifetime of the camera pages' generation counter after its last change, seconds.
pub const GENERATION_TTL_SECS: i64 = 86_400;

/// The cache; a disabled one (no Redis configured) misses always.
#[derive(Clone, Default)]
pub struct Cache {
    conn: Option<ConnectionManager>,
    prefix: String,
    flights: Flights,
    breaker: CircuitBreaker,
}

impl std::fmt::Debug for Cache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Cache(enabled: {})", self.conn.is_some())
    }
}

impl Cache {
    /// A cache that always misses.
    pub fn disabled() -> Cache {
        Cache {
            conn: None,
            prefix: String::new(),
            flights: Flights::default(),
            breaker: CircuitBreaker::default(),
        }
    }

    /// Connects to `url` (`redis://127.0.0.1:6379`), every key starting with `prefix`
    /// (`cidades`), every call through `breaker`; a Redis that cannot be reached disables the
    /// cache with a warning rather than failing the service.
    pub async fn connect(url: &str, prefix: &str, breaker: CircuitBreaker) -> Cache {
        let client = match redis::Client::open(url) {
            Ok(c) => c,
            Err(e) => return Cache::warn_disabled(&e),
        };
        let connect = ConnectionManager::new(client);
        match tokio::time::timeout(Duration::from_secs(3), connect).await {
            Ok(Ok(conn)) => Cache {
                conn: Some(conn),
                prefix: prefix.to_owned(),
                flights: Flights::default(),
                breaker,
            },
            Ok(Err(e)) => Cache::warn_disabled(&e),
            Err(_) => Cache::warn_disabled(&"connect timed out"),
        }
    }

    /// Whether Redis is in use.
    pub fn enabled(&self) -> bool {
        self.conn.is_some()
    }

    /// The circuit breaker in front of Redis.
    pub fn breaker(&self) -> &CircuitBreaker {
        &self.breaker
    }

    /// The value at `key`, if cached.
    pub async fn get(&self, key: &str) -> Option<String> {
        self.query(redis::cmd("GET").arg(key)).await.flatten()
    }

    /// Caches `value` at `key` for [`TTL_SECS`].
    pub async fn put(&self, key: &str, value: &str) {
        let _: Option<()> = self
            .query(
                redis::cmd("SET")
                    .arg(key)
                    .arg(value)
                    .arg("EX")
                    .arg(TTL_SECS),
            )
            .await;
    }

    /// `load`'s JSON for `key`, cached after; the requests that miss `key` while it loads wait
    /// for that load instead of reading PostgreSQL too ([`Flights`]).
    pub async fn fill(
        &self,
        key: &str,
        load: impl Future<Output = Result<String, Error>>,
    ) -> Result<String, Error> {
        let loaded = async {
            let json = load.await?;
            self.put(key, &json).await;
            Ok(json)
        };
        self.flights.join(key, loaded).await
    }

    /// Forgets `key`.
    pub async fn delete(&self, key: &str) {
        let _: Option<i64> = self.query(redis::cmd("DEL").arg(key)).await;
    }

    /// The key of a camera list page for its canonical query, `None` when Redis is unavailable
    /// (disabled, failing, or its circuit breaker open).
    pub async fn cameras_key(&self, query: &str) -> Option<String> {
        let generation: Option<i64> = self
            .query(redis::cmd("GET").arg(self.generation_key()))
            .await?;
        let prefix = &self.prefix;
        Some(format!(
            "{prefix}:cameras:{}:{query}",
            generation.unwrap_or(0)
        ))
    }

    /// Makes every cached camera list page unreachable.
    pub async fn invalidate_cameras(&self) {
        let Some(mut conn) = self.conn.clone() else {
            return;
        };
        if !self.breaker.allow() {
            return;
        }
        let key = self.generation_key();
        // The counter outlives every page by far, so a page can never come back from an old
        // generation; it expires only after a day without camera changes.
        let bump = redis::pipe()
            .atomic()
            .incr(&key, 1)
            .expire(&key, GENERATION_TTL_SECS)
            .query_async::<()>(&mut conn)
            .await;
        self.breaker.record(bump.is_ok());
        if let Err(e) = bump {
            tracing::warn!(error = %e, "redis cache unavailable; camera pages expire by TTL");
        }
    }

    /// The cache key of a city document.
    pub fn city_key(&self, id: uuid::Uuid) -> String {
        format!("{}:city:{id}", self.prefix)
    }

    /// The cache key of a plan document.
    pub fn plan_key(&self, id: uuid::Uuid) -> String {
        format!("{}:plan:{id}", self.prefix)
    }

    fn generation_key(&self) -> String {
        format!("{}:gen:cameras", self.prefix)
    }

    async fn query<T: redis::FromRedisValue>(&self, cmd: &redis::Cmd) -> Option<T> {
        let mut conn = self.conn.clone()?;
        if !self.breaker.allow() {
            return None;
        }
        let result = cmd.query_async(&mut conn).await;
        self.breaker.record(result.is_ok());
        match result {
            Ok(v) => Some(v),
            Err(e) => {
                tracing::warn!(error = %e, "redis cache unavailable; reading PostgreSQL");
                None
            }
        }
    }

    fn warn_disabled(e: &dyn std::fmt::Display) -> Cache {
        tracing::warn!(error = %e, "redis unreachable; the cache is disabled");
        Cache::disabled()
    }
}
