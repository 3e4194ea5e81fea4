//! Admin: the platform's users, their roles per city, and the tokens Vigia accepts.
//!
//! - [`users`]: users (e-mail, [`cpf::Cpf`], Argon2id password hash), roles (`admin`,
//!   `operator`, `viewer`) per city;
//! - [`cameras`]: the cameras (Vigia paths) of each city, from Cidades' `camera.*` events;
//! - [`auth`]: login, one-use refresh tokens, logout and revocation;
//! - [`tokens`]: the ES256 access token and its `mediamtx_permissions` claim;
//! - [`keys`]: signing keys sealed at rest, rotated on a schedule, published as a JWKS;
//! - [`audit`]: Vigia's `authMethod: http` callback, which also writes the audit log;
//! - [`console`]: the operator console's page, served at `/console/`;
//! - [`api`]: the REST routes; [`state`]: what they share, with the rate limiter;
//! - [`http_metrics`]: Prometheus metrics at `GET /metrics`.
//!
//! `docs/admin.md` documents the API, tokens, configuration and the audit choice.

#![warn(missing_docs)]

pub mod api;
pub mod audit;
pub mod auth;
pub mod cameras;
pub mod config;
pub mod console;
pub mod cpf;
mod error;
pub mod extract;
#[path = "../../common/http_metrics.rs"]
pub mod http_metrics;
pub mod keys;
pub mod state;
pub mod tokens;
pub mod users;
pub mod validate;

pub use error::Error;

use std::time::Duration;

use chrono::Utc;
use sqlx::postgres::PgPoolOptions;
use tokio::task::JoinHandle;
use vigia_events::{Consumer, Keyring};

use crate::config::Config;
use crate::http_metrics::Metrics;
use crate::state::State;

/// The embedded migrations (`sidecars/admin/migrations`).
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Environment variable with the keys sealing signing keys at rest, `id1:base64,...`
/// (32-byte keys; the first seals, all open).
pub const KEYS_VAR: &str = "ADMIN_SECRET_KEYS";

/// A running service: its state, the key-rotation task and the `camera.*` consumer.
pub struct App {
    /// The request state.
    pub state: State,
    metrics: Metrics,
    rotation: JoinHandle<()>,
    consumer: Option<Consumer>,
}

impl App {
    /// Connects to PostgreSQL, migrates, makes or loads the signing keys, starts rotating them
    /// on schedule, and consumes `camera.*` when a broker is configured (an unreachable broker
    /// is retried in the background).
    pub async fn start(config: Config, keyring: Keyring) -> Result<App, Error> {
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .connect(&config.database_url)
            .await?;
        MIGRATOR
            .run(&pool)
            .await
            .map_err(|e| Error::Database(e.into()))?;
        let bus = config
            .events_url
            .as_deref()
            .map(|url| cameras::consumer_config(url, &config.queue, config.state_dir.clone()));
        let metrics = Metrics::new(pool.clone());
        let state = State::new(pool, config, keyring).await?;
        let rotation = tokio::spawn(maintain(state.clone()));
        let consumer = match bus {
            Some(c) => Some(
                Consumer::start_or_retry(c, cameras::handler(state.clone()))
                    .await
                    .map_err(|e| Error::Bus(e.to_string()))?,
            ),
            None => None,
        };
        Ok(App {
            state,
            metrics,
            rotation,
            consumer,
        })
    }

    /// The HTTP routes with `GET /metrics`, each request counted ([`http_metrics`]).
    pub fn router(&self) -> axum::Router {
        let routes = api::router(self.state.clone()).merge(self.metrics.routes());
        self.metrics.track(routes)
    }

    /// The service's metrics.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// Creates the superadmin `input` when there is no user yet (first start).
    pub async fn bootstrap(&self, input: users::UserInput) -> Result<bool, Error> {
        if users::any(&self.state.pool).await? {
            return Ok(false);
        }
        users::create(&self.state.pool, users::check(input)?, true).await?;
        Ok(true)
    }

    /// Stops the consumer and the rotation task and closes the pool.
    pub async fn stop(self) {
        if let Some(consumer) = self.consumer {
            consumer.stop().await;
        }
        self.rotation.abort();
        self.state.pool.close().await;
    }
}

/// Every minute (or a tenth of the rotation period, if shorter): rotates the key when due,
/// reloads the key set, forgets denylisted `jti`s whose tokens have expired and idle
/// rate-limit keys.
async fn maintain(state: State) {
    let period = (state.config.key_rotation / 10).min(Duration::from_secs(60));
    let mut tick = tokio::time::interval(period.max(Duration::from_secs(1)));
    loop {
        tick.tick().await;
        if let Err(e) = state.rotate_keys(Utc::now()).await {
            tracing::warn!(error = %e, "key rotation failed");
        }
        let purge = sqlx::query("DELETE FROM revoked_access WHERE expires_at < now()");
        if let Err(e) = purge.execute(&state.pool).await {
            tracing::warn!(error = %e, "denylist purge failed");
        }
        state.forget_idle_rate_keys();
    }
}
