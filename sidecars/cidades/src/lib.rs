//! Cidades: the platform's registry of cities, storage plans and cameras.
//!
//! - [`auth`]: Admin's access tokens decide what each caller reads and changes;
//! - [`api`]: the REST API over PostgreSQL, validation errors naming the field, pagination
//!   and filters;
//! - [`service`]: each change and the events it causes commit in one transaction, the events
//!   into the [`outbox`], whose relay publishes them to `vigia.events` with publisher confirms;
//! - [`consume`]: `stream.health_check` sets camera status, `lpr.detected` / `alert.triggered`
//!   become occurrences per city, each event applied once;
//! - [`crypto`]: camera passwords sealed at rest; [`events`] re-seals them for the bus;
//! - [`cache`]: Redis in front of the hot reads, [`flight`] loading each miss once;
//! - [`cors`]: cross-origin reads for the operator console;
//! - [`http_metrics`]: Prometheus metrics at `GET /metrics`; [`breaker`]: the circuit breaker in
//!   front of Redis.
//!
//! `docs/cidades.md` documents the API, configuration, outbox and cache policy.

#![warn(missing_docs)]

pub mod api;
pub mod auth;
#[path = "../../common/breaker.rs"]
pub mod breaker;
pub mod cache;
pub mod config;
pub mod consume;
pub mod cors;
pub mod crypto;
mod error;
pub mod events;
pub mod extract;
pub mod flight;
#[path = "../../common/http_metrics.rs"]
pub mod http_metrics;
pub mod model;
pub mod outbox;
pub mod service;
pub mod store;
pub mod validate;

pub use error::Error;

use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;
use vigia_events::{Consumer, ConsumerStats};

use crate::breaker::{Breaker, CircuitBreaker};
use crate::cache::Cache;
use crate::config::Config;
use crate::cors::AllowOrigins;
use crate::events::Keys;
use crate::http_metrics::Metrics;
use crate::outbox::{Relay, RelayConfig};
use crate::service::State;

/// The embedded migrations (`sidecars/cidades/migrations`).
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// A running service: its routes, outbox relay and bus consumer.
pub struct App {
    /// The request state (pool, cache, keys).
    pub state: State,
    metrics: Metrics,
    allow_origins: AllowOrigins,
    relay: Option<Relay>,
    consumer: Option<Consumer>,
}

impl App {
    /// Connects to PostgreSQL, migrates, connects the cache, and starts the relay and the
    /// consumer when a broker is configured (an unreachable broker is retried in the background).
    pub async fn start(config: &Config, keys: Keys) -> Result<App, Error> {
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .connect(&config.database_url)
            .await?;
        MIGRATOR
            .run(&pool)
            .await
            .map_err(|e| Error::Database(e.into()))?;
        let metrics = Metrics::new(pool.clone());
        let cache = match &config.redis_url {
            Some(url) => {
                let gauge = metrics.breaker_gauge("redis");
                let breaker = CircuitBreaker::new("redis", Breaker::default(), gauge);
                Cache::connect(url, &config.redis_prefix, breaker).await
            }
            None => Cache::disabled(),
        };
        let jwks_breaker = CircuitBreaker::new(
            "admin-jwks",
            Breaker::default(),
            metrics.breaker_gauge("admin-jwks"),
        );
        let verifier = auth::verifier(&config.auth, jwks_breaker);
        let state = State {
            pool,
            cache,
            keys,
            verifier,
        };
        let mut app = App {
            state,
            metrics,
            allow_origins: config.allow_origins.clone(),
            relay: None,
            consumer: None,
        };
        if let Some(url) = &config.events_url {
            app.start_bus(config, url).await?;
        }
        Ok(app)
    }

    /// The HTTP routes with `GET /metrics`, each request counted ([`http_metrics`]), readable
    /// cross-origin by `CIDADES_ALLOW_ORIGINS` ([`cors`]).
    pub fn router(&self) -> axum::Router {
        let cors =
            axum::middleware::from_fn_with_state(self.allow_origins.clone(), cors::middleware);
        let routes = api::router(self.state.clone()).merge(self.metrics.routes());
        self.metrics.track(routes).layer(cors)
    }

    /// The service's metrics.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// The database pool.
    pub fn pool(&self) -> &PgPool {
        &self.state.pool
    }

    /// The bus consumer's counters (all zero without a broker).
    pub fn consumer_stats(&self) -> ConsumerStats {
        self.consumer
            .as_ref()
            .map(Consumer::stats)
            .unwrap_or_default()
    }

    /// Stops the relay and the consumer.
    pub async fn stop(self) {
        if let Some(relay) = self.relay {
            relay.stop().await;
        }
        if let Some(consumer) = self.consumer {
            consumer.stop().await;
        }
    }

    async fn start_bus(&mut self, config: &Config, url: &str) -> Result<(), Error> {
        self.relay = Some(Relay::spawn(self.state.pool.clone(), RelayConfig::new(url)));
        let consumer_config =
            consume::consumer_config(url, &config.queue, config.state_dir.clone());
        let handler = consume::handler(self.state.clone());
        let consumer = Consumer::start_or_retry(consumer_config, handler)
            .await
            .map_err(|e| Error::Bus(e.to_string()))?;
        self.consumer = Some(consumer);
        Ok(())
    }
}
