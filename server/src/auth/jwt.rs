//! `authMethod: jwt`: tokens signed by an identity server, checked against the keys it
//! publishes at `authJWTJWKS`. The token's `authJWTClaimKey` claim (a list of permissions, or a
//! string holding one, as MediaMTX reads it) must allow the action and path.
//!
//! The key set is fetched when first needed, again every [`REFRESH_PERIOD`] (MediaMTX's
//! period), and at once when a token names a key id the set lacks (a rotated key), at most
//! once per [`REFETCH_GAP`] so tokens with made-up key ids cannot hammer the identity server.
//! A failed refresh keeps the keys already known. A verified token is remembered until it
//! expires or the key set changes, so a player sending the same token with every HLS request
//! costs one signature check.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};

use super::Attempt;
use crate::config::{Config, JwtAuthConf, Permission, any_allows};

/// How often the key set is fetched again (MediaMTX's period).
const REFRESH_PERIOD: Duration = Duration::from_secs(60 * 60);

/// The shortest time between two fetches of the key set (but the first, and after a change of
/// the settings).
const REFETCH_GAP: Duration = Duration::from_secs(2);

/// The largest key set read (MediaMTX's limit on bodies it reads).
const MAX_JWKS_BYTES: usize = 128 * 1024;

/// How many verified tokens are remembered; the set is cleared when full.
const REMEMBERED_TOKENS: usize = 4096;

/// The JWKS cache and the tokens verified with it.
#[derive(Default)]
pub(super) struct KeySets {
    keys: tokio::sync::Mutex<KeyState>,
    verified: Mutex<HashMap<String, Arc<Claims>>>,
}

/// The settings a key set and the tokens verified with it depend on.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
struct Settings {
    url: String,
    claim_key: String,
    issuer: String,
    audience: String,
}

impl Settings {
    fn of(conf: &JwtAuthConf) -> Self {
        Settings {
            url: conf.jwks.clone(),
            claim_key: conf.claim_key.clone(),
            issuer: conf.issuer.clone(),
            audience: conf.audience.clone(),
        }
    }
}

/// The key set last fetched, and when fetching was last tried.
#[derive(Default)]
struct KeyState {
    settings: Settings,
    keys: Option<Arc<JwkSet>>,
    /// Bumped at every change of `keys` or `settings`: remembered tokens of an older
    /// generation are checked again.
    generation: u64,
    fetched_at: Option<Instant>,
    tried_at: Option<Instant>,
}

impl KeyState {
    /// Whether the set should be fetched for a token naming `kid`.
    fn wants_fetch(&self, settings: &Settings, kid: Option<&str>) -> bool {
        if self.settings != *settings || self.keys.is_none() {
            return true;
        }
        let old = self
            .fetched_at
            .is_none_or(|at| at.elapsed() >= REFRESH_PERIOD);
        let unknown_kid = match (kid, &self.keys) {
            (Some(kid), Some(keys)) => keys.find(kid).is_none(),
            _ => false,
        };
        old || unknown_kid
    }

    /// Whether a fetch may be tried now.
    fn may_fetch(&self, settings: &Settings) -> bool {
        self.settings != *settings || self.tried_at.is_none_or(|at| at.elapsed() >= REFETCH_GAP)
    }
}

/// What a verified token says.
#[derive(Debug)]
struct Claims {
    subject: String,
    permissions: Vec<Permission>,
    /// `exp`, in seconds since the epoch.
    expires: Option<u64>,
    generation: u64,
}

impl Claims {
    /// Reads the claims of a token whose signature and registered claims are checked.
    fn read(
        claims: &serde_json::Value,
        claim_key: &str,
        generation: u64,
    ) -> Result<Claims, String> {
        let raw = claims
            .get(claim_key)
            .ok_or_else(|| format!("claim '{claim_key}' not found inside the JWT"))?;
        let parsed;
        let list = match raw {
            serde_json::Value::String(text) => {
                parsed = serde_json::from_str::<serde_json::Value>(text).map_err(|e| {
                    format!("claim '{claim_key}' is not a list of permissions: {e}")
                })?;
                &parsed
            }
            other => other,
        };
        let items = list
            .as_array()
            .ok_or_else(|| format!("claim '{claim_key}' is not a list of permissions"))?;
        let permissions = items
            .iter()
            .map(Permission::from_json)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("claim '{claim_key}': {e}"))?;
        Ok(Claims {
            subject: claims
                .get("sub")
                .and_then(serde_json::Value::as_str)
                .unwrap_or_default()
                .to_owned(),
            permissions,
            expires: claims.get("exp").and_then(serde_json::Value::as_u64),
            generation,
        })
    }

    /// Whether `exp` has come: the current time is not before it (RFC 7519 §4.1.4).
    fn expired(&self) -> bool {
        self.expires.is_some_and(|exp| unix_seconds() >= exp)
    }
}

fn unix_seconds() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
}

impl KeySets {
    /// Checks `token` for `attempt`; `Ok` carries the token's subject.
    pub(super) async fn authorize(
        &self,
        client: &reqwest::Client,
        config: &Config,
        attempt: &Attempt<'_>,
        token: &str,
    ) -> Result<String, String> {
        let conf = &config.auth_jwt;
        if any_allows(&conf.exclude, attempt.action, Some(attempt.path)) {
            return Ok(String::new());
        }
        if token.is_empty() {
            return Err("no JWT given".to_owned());
        }
        let claims = self.claims(client, config, token).await?;
        if !any_allows(&claims.permissions, attempt.action, Some(attempt.path)) {
            return Err(format!(
                "the JWT of '{}' does not allow {} on '{}'",
                claims.subject,
                attempt.action.name(),
                attempt.path
            ));
        }
        Ok(claims.subject.clone())
    }

    /// The claims of `token`, remembered or verified now.
    async fn claims(
        &self,
        client: &reqwest::Client,
        config: &Config,
        token: &str,
    ) -> Result<Arc<Claims>, String> {
        let settings = Settings::of(&config.auth_jwt);
        let header = jsonwebtoken::decode_header(token).map_err(|e| format!("not a JWT: {e}"))?;
        let (keys, generation) = self
            .keys(
                client,
                &settings,
                config.read_timeout,
                header.kid.as_deref(),
            )
            .await?;
        if let Some(known) = self.remembered(token, generation) {
            return Ok(known);
        }
        let jwk = pick_key(&keys, header.kid.as_deref(), header.alg)?;
        let key =
            DecodingKey::from_jwk(jwk).map_err(|e| format!("unusable key in the JWKS: {e}"))?;
        let data = jsonwebtoken::decode::<serde_json::Value>(
            token,
            &key,
            &validation(&settings, header.alg),
        )
        .map_err(|e| format!("the JWT is not valid: {e}"))?;
        let claims = Arc::new(Claims::read(&data.claims, &settings.claim_key, generation)?);
        // jsonwebtoken refuses only `exp < now`; RFC 7519 §4.1.4 wants now before `exp`, so a
        // token is refused from its `exp` second on, as the remembered ones are.
        if claims.expired() {
            return Err("the JWT has expired".to_owned());
        }
        self.remember(token, &claims);
        Ok(claims)
    }

    fn remembered(&self, token: &str, generation: u64) -> Option<Arc<Claims>> {
        let mut verified = self.verified.lock().unwrap_or_else(PoisonError::into_inner);
        let known = verified.get(token)?;
        if known.generation != generation || known.expired() {
            verified.remove(token);
            return None;
        }
        Some(known.clone())
    }

    fn remember(&self, token: &str, claims: &Arc<Claims>) {
        let mut verified = self.verified.lock().unwrap_or_else(PoisonError::into_inner);
        if verified.len() >= REMEMBERED_TOKENS {
            verified.clear();
        }
        verified.insert(token.to_owned(), claims.clone());
    }

    /// The key set to verify a token naming `kid` with, and its generation.
    async fn keys(
        &self,
        client: &reqwest::Client,
        settings: &Settings,
        timeout: Duration,
        kid: Option<&str>,
    ) -> Result<(Arc<JwkSet>, u64), String> {
        let mut state = self.keys.lock().await;
        if state.wants_fetch(settings, kid) && state.may_fetch(settings) {
            state.tried_at = Some(Instant::now());
            match fetch(client, &settings.url, timeout).await {
                Ok(keys) => {
                    state.settings = settings.clone();
                    state.keys = Some(Arc::new(keys));
                    state.fetched_at = Some(Instant::now());
                    state.generation += 1;
                    tracing::info!("read the JWKS at {}", settings.url);
                }
                Err(e) if state.settings == *settings && state.keys.is_some() => {
                    tracing::warn!("can't refresh the JWKS, keeping the known keys: {e}");
                }
                Err(e) => return Err(e),
            }
        }
        match (&state.keys, state.settings == *settings) {
            (Some(keys), true) => Ok((keys.clone(), state.generation)),
            _ => Err(format!(
                "the JWKS at {} could not be read yet (retried at most every {}s)",
                settings.url,
                REFETCH_GAP.as_secs()
            )),
        }
    }
}

/// Fetches and parses a key set.
async fn fetch(client: &reqwest::Client, url: &str, timeout: Duration) -> Result<JwkSet, String> {
    let mut response = client
        .get(url)
        .timeout(timeout)
        .send()
        .await
        .map_err(|e| format!("can't read the JWKS at {url}: {e}"))?;
    if !response.status().is_success() {
        return Err(format!("the JWKS at {url} answered {}", response.status()));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| format!("can't read the JWKS at {url}: {e}"))?
    {
        if body.len() + chunk.len() > MAX_JWKS_BYTES {
            return Err(format!(
                "the JWKS at {url} is larger than {MAX_JWKS_BYTES} bytes"
            ));
        }
        body.extend_from_slice(&chunk);
    }
    serde_json::from_slice(&body).map_err(|e| format!("the JWKS at {url} is not a key set: {e}"))
}

/// The key a token names by `kid`; without a `kid`, the only key or the first whose declared
/// algorithm is the token's.
fn pick_key<'a>(keys: &'a JwkSet, kid: Option<&str>, alg: Algorithm) -> Result<&'a Jwk, String> {
    let key = match kid {
        Some(kid) => keys
            .find(kid)
            .ok_or_else(|| format!("no key with id '{kid}' in the JWKS"))?,
        None if keys.keys.len() == 1 => &keys.keys[0],
        None => keys
            .keys
            .iter()
            .find(|k| declared_alg(k) == Some(alg))
            .ok_or("the JWT names no key id and the JWKS has no single key for it")?,
    };
    match declared_alg(key) {
        Some(declared) if declared != alg => Err(format!(
            "the JWT is signed with {alg:?} but its key is for {declared:?}"
        )),
        _ => Ok(key),
    }
}

fn declared_alg(key: &Jwk) -> Option<Algorithm> {
    let declared = key.common.key_algorithm?;
    declared.to_string().parse().ok()
}

/// What is checked besides the signature: `exp` and `nbf` when present (no leeway, as
/// MediaMTX), `iss` and `aud` when configured.
fn validation(settings: &Settings, alg: Algorithm) -> Validation {
    let mut v = Validation::new(alg);
    v.leeway = 0;
    v.required_spec_claims = HashSet::new();
    v.validate_nbf = true;
    if settings.audience.is_empty() {
        v.validate_aud = false;
    } else {
        v.set_audience(&[&settings.audience]);
    }
    if !settings.issuer.is_empty() {
        v.set_issuer(&[&settings.issuer]);
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_is_expired_from_its_exp_second_on() {
        let claims = |exp: u64| {
            let json = serde_json::json!({"sub": "ana", "exp": exp, "perms": []});
            Claims::read(&json, "perms", 0).unwrap()
        };
        let now = unix_seconds();
        assert!(claims(now).expired() && claims(now - 1).expired());
        assert!(!claims(now + 60).expired());
    }
}
