//! Configuration from environment variables, each with a documented default (docs/admin.md).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::Error;
use crate::console::Links;

/// Everything the binary reads from the environment.
#[derive(Debug, Clone)]
pub struct Config {
    /// `ADMIN_DATABASE_URL`, default `postgres://postgres@127.0.0.1:5432/admin`.
    pub database_url: String,
    /// `ADMIN_ADDRESS`, default `:8082` (all interfaces).
    pub address: SocketAddr,
    /// `ADMIN_ISSUER`, default `vigia-admin`: the `iss` of every token.
    pub issuer: String,
    /// `ADMIN_ACCESS_TTL`, default `5m`: lifetime of an access token.
    pub access_ttl: Duration,
    /// `ADMIN_REFRESH_TTL`, default `30d`: lifetime of a refresh token.
    pub refresh_ttl: Duration,
    /// `ADMIN_KEY_ROTATION`, default `1d`: how long a key signs before the next one does.
    pub key_rotation: Duration,
    /// `ADMIN_KEY_PUBLISH_AHEAD`, default `2h`, less than the rotation: how long the next key is
    /// in the JWKS before it signs (MediaMTX re-reads `authJWTJWKS` hourly).
    pub key_publish_ahead: Duration,
    /// `ADMIN_RATE_LIMIT`, default `60`: requests per minute per user.
    pub rate_limit: u32,
    /// `VIGIA_EVENTSURL`, default `amqp://guest:guest@127.0.0.1:5672/%2f`; empty disables the
    /// `camera.*` consumer (cameras then come only from `PUT /v1/cameras/{path}`).
    pub events_url: Option<String>,
    /// `ADMIN_QUEUE`, default `admin`: the service queue on the bus.
    pub queue: String,
    /// `ADMIN_STATE_DIR`, default `./admin-state`: the consumer's dedupe window.
    pub state_dir: PathBuf,
    /// `ADMIN_CONSOLE_*_URL`: where the operator console finds Cidades and Vigia.
    pub console: Links,
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
        let c = Config {
            database_url: or(
                "ADMIN_DATABASE_URL",
                "postgres://postgres@127.0.0.1:5432/admin",
            ),
            address: address(&or("ADMIN_ADDRESS", ":8082"))?,
            issuer: or("ADMIN_ISSUER", "vigia-admin"),
            access_ttl: duration("ADMIN_ACCESS_TTL", &or("ADMIN_ACCESS_TTL", "5m"))?,
            refresh_ttl: duration("ADMIN_REFRESH_TTL", &or("ADMIN_REFRESH_TTL", "30d"))?,
            key_rotation: duration("ADMIN_KEY_ROTATION", &or("ADMIN_KEY_ROTATION", "1d"))?,
            key_publish_ahead: duration(
                "ADMIN_KEY_PUBLISH_AHEAD",
                &or("ADMIN_KEY_PUBLISH_AHEAD", "2h"),
            )?,
            rate_limit: rate("ADMIN_RATE_LIMIT", &or("ADMIN_RATE_LIMIT", "60"))?,
            events_url: non_empty(or(
                vigia_events::URL_ENV,
                "amqp://guest:guest@127.0.0.1:5672/%2f",
            )),
            queue: or("ADMIN_QUEUE", "admin"),
            state_dir: PathBuf::from(or("ADMIN_STATE_DIR", "admin-state")),
            console: Links::from_vars(&var),
        };
        check_rotation(&c)?;
        Ok(c)
    }
}

/// `host:port`, or `:port` for every interface.
fn address(value: &str) -> Result<SocketAddr, Error> {
    let full = match value.strip_prefix(':') {
        Some(port) => format!("0.0.0.0:{port}"),
        None => value.to_owned(),
    };
    full.parse().map_err(|_| {
        config_error(
            "ADMIN_ADDRESS",
            format!("{value:?} is not host:port or :port"),
        )
    })
}

/// A duration written as MediaMTX writes them: `30s`, `5m`, `12h`, `1d` (a positive count).
pub fn duration(var: &'static str, value: &str) -> Result<Duration, Error> {
    let value = value.trim();
    let split = value.len().saturating_sub(1);
    let (count, unit) = value.split_at(split);
    let secs = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => 0,
    };
    match count.parse::<u64>() {
        Ok(n) if n > 0 && secs > 0 => Ok(Duration::from_secs(n.saturating_mul(secs))),
        _ => Err(config_error(
            var,
            format!("{value:?} is not a duration like 30s, 5m, 12h, 1d"),
        )),
    }
}

/// The next key must be published before the current one's period ends.
fn check_rotation(c: &Config) -> Result<(), Error> {
    if c.key_publish_ahead >= c.key_rotation {
        return Err(config_error(
            "ADMIN_KEY_PUBLISH_AHEAD",
            "must be shorter than ADMIN_KEY_ROTATION".into(),
        ));
    }
    Ok(())
}

fn rate(var: &'static str, value: &str) -> Result<u32, Error> {
    match value.trim().parse::<u32>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(config_error(
            var,
            format!("{value:?} is not a positive count"),
        )),
    }
}

fn config_error(var: &'static str, message: String) -> Error {
    Error::Config { var, message }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_overrides() {
        let c = Config::from_vars(|_| None).unwrap();
        assert_eq!(c.address.to_string(), "0.0.0.0:8082");
        assert_eq!(c.access_ttl, Duration::from_secs(300));
        assert_eq!(c.key_rotation, Duration::from_secs(86_400));
        assert_eq!(c.rate_limit, 60);
        let c = Config::from_vars(|n| (n == "ADMIN_ACCESS_TTL").then(|| "30s".into())).unwrap();
        assert_eq!(c.access_ttl, Duration::from_secs(30));
        for (var, bad) in [
            ("ADMIN_ADDRESS", "x"),
            ("ADMIN_ACCESS_TTL", "5"),
            ("ADMIN_ACCESS_TTL", "0s"),
            ("ADMIN_RATE_LIMIT", "0"),
            ("ADMIN_KEY_PUBLISH_AHEAD", "1d"),
        ] {
            let r = Config::from_vars(|n| (n == var).then(|| bad.into()));
            assert!(
                matches!(r, Err(Error::Config { var: v, .. }) if v == var),
                "{var}={bad}"
            );
        }
    }
}
