//! Who may call the API: Admin's access tokens, checked against Admin's JWKS.
//!
//! Every `/v1` request carries `Authorization: Bearer <access token>` (the ES256 JWT that Admin's
//! login answers and Vigia's `authJWTJWKS` also reads). The token's `cities` claim (city id →
//! role) scopes what the caller sees and changes:
//!
//! | request | who |
//! |---|---|
//! | read plans | any valid token |
//! | read a city, its occurrences, its cameras | a role in that city (lists show only those cities) |
//! | create or change a camera | `admin` of the camera's city (both cities when it moves) |
//! | create or change a plan or a city | a superadmin |
//!
//! A superadmin (`"superadmin": true`) may do everything. With `CIDADES_AUTH_JWKS=none` every
//! request is treated as a superadmin's (development only; logged at start).
//!
//! **Keys.** The JWKS is fetched when a token names a `kid` not seen yet (so Admin's key
//! rotation needs no restart), at most once per [`REFETCH_AFTER`], through a circuit breaker
//! (target `admin-jwks`). While Admin cannot be reached, tokens signed by keys already known
//! still verify; others get `503`.
//!
//! **Revocation.** Cidades checks signature, issuer and expiry, not Admin's revocation list: a
//! logged-out access token keeps reading Cidades until it expires (`ADMIN_ACCESS_TTL`, 5 min by
//! default). Vigia's reads are checked against the list on every request (`authMethod: http`).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use tokio::sync::{Mutex, RwLock};
use uuid::Uuid;

use crate::Error;
use crate::breaker::CircuitBreaker;
use crate::service::State;

/// The shortest time between two JWKS fetches.
pub const REFETCH_AFTER: Duration = Duration::from_secs(2);
/// How long a JWKS fetch may take.
const FETCH_TIMEOUT: Duration = Duration::from_secs(3);

/// How requests are authenticated (`CIDADES_AUTH_JWKS`, `CIDADES_AUTH_ISSUER`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthConfig {
    /// Every request acts as a superadmin (`CIDADES_AUTH_JWKS=none`).
    Disabled,
    /// Admin's tokens, verified with the keys at `jwks_url`, issued by `issuer`.
    Jwt {
        /// Admin's JWKS (`http://127.0.0.1:8082/.well-known/jwks.json` by default).
        jwks_url: String,
        /// The `iss` tokens must carry (`vigia-admin` by default).
        issuer: String,
    },
}

/// The claims Cidades reads from an access token.
#[derive(Debug, Clone, Deserialize)]
struct Claims {
    sub: Uuid,
    #[serde(default)]
    cities: BTreeMap<Uuid, String>,
    #[serde(default)]
    superadmin: bool,
}

/// The authenticated caller of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The user id (nil when authentication is disabled).
    pub user: Uuid,
    /// The caller's role in each city.
    pub cities: BTreeMap<Uuid, String>,
    /// Whether the caller may do everything.
    pub superadmin: bool,
}

impl Caller {
    /// The caller of every request when authentication is disabled.
    pub fn anyone() -> Caller {
        Caller {
            user: Uuid::nil(),
            cities: BTreeMap::new(),
            superadmin: true,
        }
    }

    /// The cities a list is limited to: `None` for every city.
    pub fn scope(&self) -> Option<Vec<Uuid>> {
        (!self.superadmin).then(|| self.cities.keys().copied().collect())
    }

    /// Whether the caller may read `city`'s data.
    pub fn reads(&self, city: Uuid) -> bool {
        self.superadmin || self.cities.contains_key(&city)
    }

    /// Refuses unless the caller may read `city` (named by a query parameter).
    pub fn must_read(&self, city: Uuid) -> Result<(), Error> {
        if self.reads(city) {
            return Ok(());
        }
        Err(Error::Forbidden(format!(
            "the token has no role in city {city}"
        )))
    }

    /// Refuses unless the caller administers `city` (changes its cameras).
    pub fn must_administer(&self, city: Uuid) -> Result<(), Error> {
        if self.superadmin || self.cities.get(&city).is_some_and(|r| r == "admin") {
            return Ok(());
        }
        Err(Error::Forbidden(format!(
            "changing cameras of city {city} needs its admin role"
        )))
    }

    /// Refuses unless the caller is a superadmin (changes plans and cities).
    pub fn must_be_superadmin(&self, what: &str) -> Result<(), Error> {
        if self.superadmin {
            return Ok(());
        }
        Err(Error::Forbidden(format!("{what} needs a superadmin")))
    }
}

/// Checks tokens against Admin's JWKS, fetching it again when a new key appears.
pub struct Verifier {
    jwks_url: String,
    validation: Validation,
    http: reqwest::Client,
    keys: RwLock<HashMap<String, DecodingKey>>,
    /// When the JWKS was last fetched, and why that fetch failed if it did.
    last_fetch: Mutex<Option<(Instant, Option<String>)>>,
    breaker: CircuitBreaker,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("jwks_url", &self.jwks_url)
            .finish_non_exhaustive()
    }
}

impl Verifier {
    /// A verifier of tokens from `issuer`, keys at `jwks_url`, fetches through `breaker`.
    pub fn new(jwks_url: &str, issuer: &str, breaker: CircuitBreaker) -> Verifier {
        let mut validation = Validation::new(Algorithm::ES256);
        validation.set_issuer(&[issuer]);
        validation.set_required_spec_claims(&["exp", "iss", "sub"]);
        validation.leeway = 0;
        let http = reqwest::Client::builder()
            .timeout(FETCH_TIMEOUT)
            .build()
            .unwrap_or_default();
        Verifier {
            jwks_url: jwks_url.to_owned(),
            validation,
            http,
            keys: RwLock::new(HashMap::new()),
            last_fetch: Mutex::new(None),
            breaker,
        }
    }

    /// The caller `token` authenticates.
    pub async fn caller(&self, token: &str) -> Result<Caller, Error> {
        let header = jsonwebtoken::decode_header(token)
            .map_err(|_| Error::Unauthorized("the bearer token is not a JWT"))?;
        let kid = header
            .kid
            .ok_or(Error::Unauthorized("the token names no key (kid)"))?;
        if !self.keys.read().await.contains_key(&kid) {
            self.refetch().await?;
        }
        let keys = self.keys.read().await;
        let key = keys.get(&kid).ok_or(Error::Unauthorized(
            "the token's key is not in Admin's JWKS",
        ))?;
        let data = jsonwebtoken::decode::<Claims>(token, key, &self.validation).map_err(|e| {
            Error::Unauthorized(match e.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => "the token has expired",
                jsonwebtoken::errors::ErrorKind::InvalidIssuer => "the token's issuer is not Admin",
                _ => "the token is invalid",
            })
        })?;
        Ok(Caller {
            user: data.claims.sub,
            cities: data.claims.cities,
            superadmin: data.claims.superadmin,
        })
    }

    /// Fetches the JWKS unless another request did within [`REFETCH_AFTER`]; then that fetch's
    /// outcome stands (a failure stays a 503, not a 401 for an unknown key).
    async fn refetch(&self) -> Result<(), Error> {
        let mut last = self.last_fetch.lock().await;
        if let Some((_, failure)) = last.as_ref().filter(|(at, _)| at.elapsed() < REFETCH_AFTER) {
            return failure
                .clone()
                .map_or(Ok(()), |e| Err(Error::Unavailable(e)));
        }
        if !self.breaker.allow() {
            return Err(Error::Unavailable(format!(
                "Admin's JWKS ({}) failed repeatedly; the circuit is open",
                self.jwks_url
            )));
        }
        let fetched = self.fetch().await;
        self.breaker.record(fetched.is_ok());
        match fetched {
            Ok(keys) => {
                tracing::info!(url = %self.jwks_url, keys = keys.len(), "JWKS fetched");
                *self.keys.write().await = keys;
                *last = Some((Instant::now(), None));
                Ok(())
            }
            Err(e) => {
                tracing::warn!(url = %self.jwks_url, error = %e, "JWKS fetch failed");
                let message = format!("Admin's JWKS ({}): {e}", self.jwks_url);
                *last = Some((Instant::now(), Some(message.clone())));
                Err(Error::Unavailable(message))
            }
        }
    }

    async fn fetch(&self) -> Result<HashMap<String, DecodingKey>, String> {
        let resp = self
            .http
            .get(&self.jwks_url)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if !resp.status().is_success() {
            return Err(format!("answered {}", resp.status()));
        }
        let set: JwkSet = resp.json().await.map_err(|e| e.to_string())?;
        Ok(keys_of(&set))
    }
}

/// The usable keys of `set` by `kid` (keys without a `kid`, or of another kind, are skipped).
fn keys_of(set: &JwkSet) -> HashMap<String, DecodingKey> {
    set.keys
        .iter()
        .filter_map(|jwk| {
            let kid = jwk.common.key_id.clone()?;
            DecodingKey::from_jwk(jwk).ok().map(|key| (kid, key))
        })
        .collect()
}

/// The bearer token of a request's `Authorization` header.
fn bearer(parts: &Parts) -> Result<&str, Error> {
    let value = parts.headers.get(AUTHORIZATION).ok_or(Error::Unauthorized(
        "missing Authorization: Bearer <Admin access token>",
    ))?;
    let value = value
        .to_str()
        .map_err(|_| Error::Unauthorized("the Authorization header is not text"))?;
    let (scheme, token) = value.split_once(' ').ok_or(Error::Unauthorized(
        "the Authorization header is not Bearer",
    ))?;
    if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
        return Err(Error::Unauthorized(
            "the Authorization header is not Bearer",
        ));
    }
    Ok(token.trim())
}

impl FromRequestParts<State> for Caller {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &State) -> Result<Caller, Error> {
        let Some(verifier) = &state.verifier else {
            return Ok(Caller::anyone());
        };
        let caller = verifier.caller(bearer(parts)?).await?;
        tracing::Span::current().record("user", tracing::field::display(caller.user));
        Ok(caller)
    }
}

/// The verifier for `config` (`None` when authentication is disabled).
pub fn verifier(config: &AuthConfig, breaker: CircuitBreaker) -> Option<Arc<Verifier>> {
    match config {
        AuthConfig::Disabled => {
            tracing::warn!(
                "CIDADES_AUTH_JWKS=none: every request acts as a superadmin (development only)"
            );
            None
        }
        AuthConfig::Jwt { jwks_url, issuer } => {
            Some(Arc::new(Verifier::new(jwks_url, issuer, breaker)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller(cities: &[(u128, &str)]) -> Caller {
        Caller {
            user: Uuid::from_u128(9),
            cities: cities
                .iter()
                .map(|(c, r)| (Uuid::from_u128(*c), (*r).to_owned()))
                .collect(),
            superadmin: false,
        }
    }

    #[test]
    fn roles_scope_reads_and_writes() {
        let (a, b) = (Uuid::from_u128(1), Uuid::from_u128(2));
        let viewer = caller(&[(1, "viewer")]);
        assert_eq!(viewer.scope(), Some(vec![a]));
        assert!(viewer.must_read(a).is_ok() && viewer.must_read(b).is_err());
        assert!(viewer.must_administer(a).is_err());
        assert!(viewer.must_be_superadmin("x").is_err());
        let admin = caller(&[(1, "admin"), (2, "operator")]);
        assert!(admin.must_administer(a).is_ok() && admin.must_administer(b).is_err());
        let root = Caller::anyone();
        assert_eq!(root.scope(), None);
        assert!(root.must_administer(b).is_ok() && root.must_be_superadmin("x").is_ok());
    }

    #[test]
    fn bearer_header_forms() {
        let parts = |value: Option<&str>| {
            let mut req = axum::http::Request::builder();
            if let Some(v) = value {
                req = req.header(AUTHORIZATION, v);
            }
            req.body(()).unwrap().into_parts().0
        };
        assert_eq!(bearer(&parts(Some("Bearer abc"))).unwrap(), "abc");
        assert_eq!(bearer(&parts(Some("bearer  abc "))).unwrap(), "abc");
        for bad in [None, Some("Basic abc"), Some("Bearer"), Some("Bearer  ")] {
            assert!(matches!(bearer(&parts(bad)), Err(Error::Unauthorized(_))));
        }
    }
}
