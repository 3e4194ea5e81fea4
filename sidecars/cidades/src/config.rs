//! Configuration from environment variables, each with a documented default (docs/cidades.md).

use std::net::SocketAddr;
use std::path::PathBuf;

use crate::Error;
use crate::auth::AuthConfig;
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
    /// `CIDADES_AUTH_JWKS`, default `http://127.0.0.1:8082/.well-known/jwks.json` (Admin's
    /// JWKS), or `none` to accept every request as a superadmin's (development only); and
    /// `CIDADES_AUTH_ISSUER`, default `vigia-admin`: the `iss` tokens must carry.
    pub auth: AuthConfig,
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
            auth: auth(
                &or(
                    "CIDADES_AUTH_JWKS",
                    "http://127.0.0.1:8082/.well-known/jwks.json",
                ),
                &or("CIDADES_AUTH_ISSUER", "vigia-admin"),
            )?,
        })
    }
}

/// The authentication of `CIDADES_AUTH_JWKS` (an http(s) URL, or `none`) and its issuer.
fn auth(jwks: &str, issuer: &str) -> Result<AuthConfig, Error> {
    let jwks = jwks.trim();
    if jwks.eq_ignore_ascii_case("none") {
        return Ok(AuthConfig::Disabled);
    }
    let valid = url::Url::parse(jwks)
        .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some());
    if !valid {
        return Err(Error::Config {
            var: "CIDADES_AUTH_JWKS",
            message: format!("{jwks:?} is not an http(s) URL or none"),
        });
    }
    Ok(AuthConfig::Jwt {
        jwks_url: jwks.to_owned(),
        issuer: issuer.trim().to_owned(),
    })
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
        assert!(matches!(c.auth, AuthConfig::Jwt { ref issuer, .. } if issuer == "vigia-admin"));
        let none = Config::from_vars(|n| (n == "CIDADES_AUTH_JWKS").then(|| "none".into()));
        assert_eq!(none.unwrap().auth, AuthConfig::Disabled);
        let bad = Config::from_vars(|n| (n == "CIDADES_AUTH_JWKS").then(|| "ftp://x".into()));
        assert!(bad.is_err());
    }
}
