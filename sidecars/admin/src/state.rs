//! The request state: the pool, the configuration, the signing keys and the rate limiter, with
//! the operations every route shares (verifying a bearer token, charging the rate limit).

use std::num::NonZeroU32;
use std::sync::{Arc, RwLock};

use chrono::{DateTime, Utc};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use sqlx::PgPool;
use vigia_events::Keyring;

use crate::Error;
use crate::config::Config;
use crate::keys::{self, KeySet, SharedKeys};
use crate::tokens::{self, Claims};

/// Everything a handler needs; cheap to clone.
#[derive(Clone)]
pub struct State {
    /// The database.
    pub pool: PgPool,
    /// The configuration.
    pub config: Arc<Config>,
    keyring: Keyring,
    keys: SharedKeys,
    limiter: Arc<DefaultKeyedRateLimiter<String>>,
}

impl State {
    /// A state over `pool` whose private keys are sealed with `keyring`; makes a signing key
    /// when none is current and loads the key set.
    pub async fn new(pool: PgPool, config: Config, keyring: Keyring) -> Result<State, Error> {
        let per_minute = NonZeroU32::new(config.rate_limit).unwrap_or(NonZeroU32::MIN);
        let state = State {
            pool,
            config: Arc::new(config),
            keyring,
            keys: Arc::new(RwLock::new(Arc::new(KeySet::empty()))),
            limiter: Arc::new(RateLimiter::keyed(Quota::per_minute(per_minute))),
        };
        state.rotate_keys(Utc::now()).await?;
        Ok(state)
    }

    /// Makes the next signing key if one is due at `now` (see [`keys::rotate_if_due`]), then
    /// reloads the key set as of `now` (also picking up another instance's rotation). Returns
    /// whether it made a key.
    pub async fn rotate_keys(&self, now: DateTime<Utc>) -> Result<bool, Error> {
        let periods = (self.config.key_rotation, self.config.key_publish_ahead);
        let rotated = keys::rotate_if_due(&self.pool, &self.keyring, periods, now).await?;
        self.reload_keys_at(now).await?;
        Ok(rotated)
    }

    /// Reloads the key set from the database as of now.
    pub async fn reload_keys(&self) -> Result<(), Error> {
        self.reload_keys_at(Utc::now()).await
    }

    async fn reload_keys_at(&self, now: DateTime<Utc>) -> Result<(), Error> {
        let set = keys::load(&self.pool, &self.keyring, self.config.access_ttl, now).await?;
        let mut guard = self.keys.write().unwrap_or_else(|p| p.into_inner());
        *guard = Arc::new(set);
        Ok(())
    }

    /// The current key set.
    pub fn keys(&self) -> Arc<KeySet> {
        self.keys.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The claims of an access token: signature by a key of the JWKS (reloaded once for an
    /// unknown `kid`), issuer, expiry at `now`, `jti` not revoked, and a user that still exists
    /// and was not revoked after the token was issued.
    pub async fn verify_access(&self, token: &str, now: i64) -> Result<Claims, Error> {
        let kid = tokens::kid(token)?;
        if self.keys().decoding(&kid).is_none() {
            self.reload_keys().await?;
        }
        let keys = self.keys();
        let key = keys
            .decoding(&kid)
            .ok_or(Error::Unauthorized("unknown signing key"))?;
        let claims = tokens::verify(token, key, &self.config.issuer, now)?;
        let refused: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM revoked_access WHERE jti = $1) \
             OR NOT EXISTS (SELECT 1 FROM users WHERE id = $2 \
             AND (tokens_valid_after IS NULL OR to_timestamp($3) >= tokens_valid_after))",
        )
        .bind(claims.jti)
        .bind(claims.sub)
        .bind(claims.iat as f64)
        .fetch_one(&self.pool)
        .await?;
        if refused {
            return Err(Error::Unauthorized("token revoked"));
        }
        Ok(claims)
    }

    /// Forgets the rate-limit state of keys whose budget is full again (run periodically, so
    /// the limiter's map does not grow with every e-mail ever tried).
    pub fn forget_idle_rate_keys(&self) {
        self.limiter.retain_recent();
        self.limiter.shrink_to_fit();
    }

    /// Charges one request to `key` (a user id, or `login:<e-mail>`); a 429 with the wait when
    /// the key has spent its requests of the minute.
    pub fn charge(&self, key: &str) -> Result<(), Error> {
        self.limiter
            .check_key(&key.to_owned())
            .map_err(|not_until| {
                let wait = not_until.wait_time_from(DefaultClock::default().now());
                Error::TooManyRequests { retry_after: wait }
            })
    }
}
