//! Configuration from environment variables, each with a documented default (docs/cidades.md).

use std::net::SocketAddr;
use std::path::PathBuf;

use crate::Error;
use crate::cors::AllowOrigins;

/// Everything the binary reads from the environment.
#[derive(Debug, Clone)]
pub struct Config {
    /// `CIDADES_DATABASE_URL`, default `postgres://postgres@127.0.0.1:5432/cidades`.
    pub database_url: String,
    /// `CIDADES_ADDRESS`, default `:8081` (all interfaces).
    pub address: SocketAddr,
    /// `VIGIA_EVENTSURL`, default `amqp://guest:guest@127.0.0.1:5672/%2f`; empty disables the
    /// relay and the consumer (events wait in the outbox).
    pub events_url: Option<String>,
    /// `CIDADES_QUEUE`, default `cidades`: the service queue on the bus.
    pub queue: String,
    /// `CIDADES_STATE_DIR`, default `./cidades-state`: the consumer's dedupe window.
    pub state_dir: PathBuf,
    /// `CIDADES_REDIS_URL`, default `redis://127.0.0.1:6379`; empty disables the cache.
    pub redis_url: Option<String>,
    /// `CIDADES_REDIS_PREFIX`, default `cidades`: the prefix of every cache key.
    pub redis_prefix: String,
    /// `CIDADES_ALLOW_ORIGINS`, default `*`: origins whose pages may read the API (the
    /// operator console, served by Admin); comma-separated, empty for none.
    pub allow_origins: AllowOrigins,
}

impl Config {
    /// Reads the environment.
    pub fn from_env() -> Result<Config, Error> {
        Config::from_vars(|name| std::env::var(name).ok())
    }

    /// Reads any source of variables (for tests).
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Config, Error> {
        let or = |name: &str, default: &str| var(name).unwrap_or_else(|| default.to_owned());
        let non_empty = |s: String| (!s.trim().is_empty()).then(|| s.trim().to_owned());
        Ok(Config {
            database_url: or(
                "CIDADES_DATABASE_URL",
                "postgres://postgres@127.0.0.1:5432/cidades",
            ),
            address: address(&or("CIDADES_ADDRESS", ":8081"))?,
            events_url: non_empty(or(
                vigia_events::URL_ENV,
                "amqp://guest:guest@127.0.0.1:5672/%2f",
            )),
            queue: or("CIDADES_QUEUE", "cidades"),
            state_dir: PathBuf::from(or("CIDADES_STATE_DIR", "cidades-state")),
            redis_url: non_empty(or("CIDADES_REDIS_URL", "redis://127.0.0.1:6379")),
            redis_prefix: or("CIDADES_REDIS_PREFIX", "cidades"),
            allow_origins: AllowOrigins::parse(&or("CIDADES_ALLOW_ORIGINS", "*")),
        })
    }
}

/// `host:port`, or `:port` for every interface.
fn address(value: &str) -> Result<SocketAddr, Error> {
    let full = match value.strip_prefix(':') {
        Some(port) => format!("0.0.0.0:{port}"),
        None => value.to_owned(),
    };
    full.parse().map_err(|_| Error::Config {
        var: "CIDADES_ADDRESS",
        message: format!("{value:?} is not host:port or :port"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_overrides() {
        let c = Config::from_vars(|_| None).unwrap();
        assert_eq!(c.address.to_string(), "0.0.0.0:8081");
        assert!(c.events_url.is_some() && c.redis_url.is_some());
        let c = Config::from_vars(|n| match n {
            "CIDADES_ADDRESS" => Some("127.0.0.1:9000".into()),
            "VIGIA_EVENTSURL" | "CIDADES_REDIS_URL" => Some(String::new()),
            _ => None,
        })
        .unwrap();
        assert_eq!(c.address.to_string(), "127.0.0.1:9000");
        assert!(c.events_url.is_none() && c.redis_url.is_none());
        assert!(Config::from_vars(|n| (n == "CIDADES_ADDRESS").then(|| "x".into())).is_err());
    }
}
