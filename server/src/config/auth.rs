//! Internal authentication (`authMethod: internal`): users, credentials, permissions,
//! and the check MediaMTX performs for each request.

use base64::Engine;
use base64::prelude::BASE64_STANDARD;
use sha2::{Digest, Sha256};
use std::collections::HashSet;
use std::net::IpAddr;
use std::sync::{LazyLock, Mutex, PoisonError};

use argon2::PasswordVerifier;
use regex::Regex;

use super::values::IpNet;

/// What a client wants to do; MediaMTX's `action` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum AuthAction {
    /// Publish a stream to a path.
    Publish,
    /// Read a stream from a path.
    Read,
    /// Download recordings through the playback server.
    Playback,
    /// Use the control API.
    Api,
    /// Read metrics.
    Metrics,
    /// Read profiling data.
    Pprof,
}

impl AuthAction {
    /// Parses MediaMTX's spelling (`publish`, `read`, …).
    pub(crate) fn parse(text: &str) -> Option<AuthAction> {
        Some(match text {
            "publish" => AuthAction::Publish,
            "read" => AuthAction::Read,
            "playback" => AuthAction::Playback,
            "api" => AuthAction::Api,
            "metrics" => AuthAction::Metrics,
            "pprof" => AuthAction::Pprof,
            _ => return None,
        })
    }

    /// MediaMTX's spelling of the action.
    pub(crate) fn name(self) -> &'static str {
        match self {
            AuthAction::Publish => "publish",
            AuthAction::Read => "read",
            AuthAction::Playback => "playback",
            AuthAction::Api => "api",
            AuthAction::Metrics => "metrics",
            AuthAction::Pprof => "pprof",
        }
    }

    /// Whether permissions for this action are restricted by path.
    pub(crate) fn is_per_path(self) -> bool {
        matches!(
            self,
            AuthAction::Publish | AuthAction::Read | AuthAction::Playback
        )
    }
}

/// The paths a permission covers.
#[derive(Debug, Clone)]
pub(crate) enum PathPattern {
    /// Empty `path`: every path.
    Any,
    /// A path name that must match exactly.
    Exact(String),
    /// `~regex`: paths the regular expression matches (unanchored, like Go's).
    Regex(Regex),
}

impl PathPattern {
    /// Parses MediaMTX's form: empty for any path, `~regex`, or an exact name.
    pub(crate) fn parse(text: &str) -> Result<PathPattern, String> {
        if text.is_empty() {
            return Ok(PathPattern::Any);
        }
        if let Some(re) = text.strip_prefix('~') {
            let re = Regex::new(re).map_err(|e| format!("invalid regular expression: {e}"))?;
            return Ok(PathPattern::Regex(re));
        }
        Ok(PathPattern::Exact(text.to_owned()))
    }

    /// Whether `path` is covered.
    pub(crate) fn matches(&self, path: &str) -> bool {
        match self {
            PathPattern::Any => true,
            PathPattern::Exact(p) => p == path,
            PathPattern::Regex(r) => r.is_match(path),
        }
    }
}

/// One entry of a user's `permissions`.
#[derive(Debug, Clone)]
pub(crate) struct Permission {
    /// The allowed action.
    pub action: AuthAction,
    /// The paths it applies to (ignored for api, metrics and pprof).
    pub path: PathPattern,
}

impl Permission {
    /// Whether this permission allows `action` on `path` (the path is ignored for api,
    /// metrics and pprof).
    pub(crate) fn allows(&self, action: AuthAction, path: Option<&str>) -> bool {
        self.action == action && (!action.is_per_path() || self.path.matches(path.unwrap_or("")))
    }

    /// Parses a permission given as JSON (`{"action": "read", "path": "~^cam"}`), the form
    /// of a JWT's permissions claim.
    pub(crate) fn from_json(value: &serde_json::Value) -> Result<Permission, String> {
        let object = value
            .as_object()
            .ok_or("a permission must be an object with an action")?;
        let action_text = object
            .get("action")
            .and_then(serde_json::Value::as_str)
            .ok_or("a permission needs an action")?;
        let action = AuthAction::parse(action_text)
            .ok_or_else(|| format!("\"{action_text}\" is not an action"))?;
        let path = match object.get("path") {
            None | Some(serde_json::Value::Null) => PathPattern::Any,
            Some(serde_json::Value::String(text)) => PathPattern::parse(text)?,
            Some(_) => return Err("a permission's path must be a string".to_owned()),
        };
        Ok(Permission { action, path })
    }
}

/// Whether any of `permissions` allows `action` on `path`.
pub(crate) fn any_allows(
    permissions: &[Permission],
    action: AuthAction,
    path: Option<&str>,
) -> bool {
    permissions.iter().any(|p| p.allows(action, path))
}

/// A username or password as written in the config: plain, `sha256:<base64 digest>`
/// or `argon2:<encoded hash>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Credential {
    /// Compared as is.
    Plain(String),
    /// Base64 (standard alphabet, padded) of the SHA-256 of the secret, as MediaMTX.
    Sha256(String),
    /// Argon2 hash (`$argon2id$…` or `$argon2i$…`), as MediaMTX.
    Argon2(String),
}

impl Credential {
    /// Parses the config form. Fails on a `sha256:` value that is not base64.
    pub(crate) fn parse(text: &str) -> Result<Credential, String> {
        if let Some(digest) = text.strip_prefix("sha256:") {
            let valid = !digest.is_empty()
                && digest
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "+/=".contains(c));
            if !valid {
                return Err("a sha256 credential must be base64-encoded".to_owned());
            }
            return Ok(Credential::Sha256(digest.to_owned()));
        }
        if let Some(hash) = text.strip_prefix("argon2:") {
            argon2::PasswordHash::new(hash)
                .map_err(|e| format!("an argon2 credential must be an encoded hash: {e}"))?;
            return Ok(Credential::Argon2(hash.to_owned()));
        }
        Ok(Credential::Plain(text.to_owned()))
    }

    /// Whether `guess` is this credential.
    pub(crate) fn check(&self, guess: &str) -> bool {
        match self {
            Credential::Plain(p) => constant_time_eq(p.as_bytes(), guess.as_bytes()),
            Credential::Sha256(d) => constant_time_eq(
                d.as_bytes(),
                BASE64_STANDARD.encode(Sha256::digest(guess)).as_bytes(),
            ),
            Credential::Argon2(hash) => argon2_matches(hash, guess),
        }
    }

    /// Whether the credential is empty (no password required).
    pub(crate) fn is_empty(&self) -> bool {
        matches!(self, Credential::Plain(p) if p.is_empty())
    }
}

/// One entry of `authInternalUsers`.
#[derive(Debug, Clone)]
pub(crate) struct AuthUser {
    /// The username; `any` (see [`AuthUser::is_any`]) matches everyone, even anonymous clients.
    pub user: Credential,
    /// The password; ignored for `any`.
    pub pass: Credential,
    /// Networks the user may connect from; empty means any address.
    pub ips: Vec<IpNet>,
    /// What the user may do.
    pub permissions: Vec<Permission>,
}

impl AuthUser {
    /// Whether this is the `any` user, which needs no credentials.
    pub(crate) fn is_any(&self) -> bool {
        self.user == Credential::Plain("any".to_owned())
    }

    /// Whether this user entry allows `req` (MediaMTX's internal check).
    pub(crate) fn allows(&self, req: &AuthRequest<'_>) -> bool {
        if !self.is_any() {
            let user = req.user.unwrap_or("");
            let pass = req.pass.unwrap_or("");
            if !self.user.check(user) || !(self.pass.is_empty() || self.pass.check(pass)) {
                return false;
            }
        }
        if !self.ips.is_empty() && !self.ips.iter().any(|n| n.contains(req.ip)) {
            return false;
        }
        any_allows(&self.permissions, req.action, req.path)
    }
}

/// `authHTTP*`: the external HTTP server that decides each request (`authMethod: http`).
#[derive(Debug, Clone, Default)]
pub(crate) struct HttpAuthConf {
    /// `authHTTPAddress`: the URL posted to.
    pub address: String,
    /// `authHTTPExclude`: actions (and paths) allowed without asking.
    pub exclude: Vec<Permission>,
}

/// `authJWT*`: tokens signed by an identity server whose keys are at a JWKS URL
/// (`authMethod: jwt`).
#[derive(Debug, Clone)]
pub(crate) struct JwtAuthConf {
    /// `authJWTJWKS`: the URL of the key set.
    pub jwks: String,
    /// `authJWTClaimKey` (mediamtx_permissions): the claim holding the permissions.
    pub claim_key: String,
    /// `authJWTExclude`: actions (and paths) allowed without a token.
    pub exclude: Vec<Permission>,
    /// `authJWTIssuer`: the required `iss`, when not empty.
    pub issuer: String,
    /// `authJWTAudience`: the required `aud`, when not empty.
    pub audience: String,
    /// `authJWTInHTTPQuery` (deprecated in MediaMTX, false): accept `?jwt=`/`?token=` on the HTTP
    /// listeners too (RTSP always accepts them: it has no other place for a token).
    pub in_http_query: bool,
}

impl Default for JwtAuthConf {
    fn default() -> Self {
        JwtAuthConf {
            jwks: String::new(),
            claim_key: "mediamtx_permissions".to_owned(),
            exclude: Vec::new(),
            issuer: String::new(),
            audience: String::new(),
            in_http_query: false,
        }
    }
}

/// A request to authorize: who, from where, doing what, on which path.
#[derive(Debug, Clone, Copy)]
pub(crate) struct AuthRequest<'a> {
    /// Username given by the client, if any.
    pub user: Option<&'a str>,
    /// Password given by the client, if any.
    pub pass: Option<&'a str>,
    /// The client's address.
    pub ip: IpAddr,
    /// The action requested.
    pub action: AuthAction,
    /// The path, for publish/read/playback.
    pub path: Option<&'a str>,
}

/// The result of an authorization check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AuthDecision {
    /// Go ahead.
    Allow,
    /// Refuse; when `ask_credentials` is true the client sent none, so the server
    /// should challenge (RTSP/HTTP 401) rather than simply refuse.
    Deny {
        /// The client sent no credentials.
        ask_credentials: bool,
    },
}

/// Checks `req` against `users` in order; the first user that allows it wins.
pub(crate) fn authorize(users: &[AuthUser], req: &AuthRequest<'_>) -> AuthDecision {
    if users.iter().any(|u| u.allows(req)) {
        return AuthDecision::Allow;
    }
    AuthDecision::Deny {
        ask_credentials: req.user.is_none_or(str::is_empty),
    }
}

/// How many verified (argon2 hash, secret) pairs are remembered; the set is cleared when full.
const ARGON2_REMEMBERED: usize = 1024;

/// Verified argon2 pairs, by SHA-256 of hash and secret: argon2 costs milliseconds by design,
/// and an HLS player presents the same credentials several times a second.
static ARGON2_VERIFIED: LazyLock<Mutex<HashSet<[u8; 32]>>> = LazyLock::new(Mutex::default);

/// Whether `guess` is the secret behind the argon2 `hash` (a malformed hash never matches).
fn argon2_matches(hash: &str, guess: &str) -> bool {
    let key: [u8; 32] = Sha256::new()
        .chain_update(hash)
        .chain_update([0])
        .chain_update(guess)
        .finalize()
        .into();
    let mut verified = ARGON2_VERIFIED
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    if verified.contains(&key) {
        return true;
    }
    let Ok(parsed) = argon2::PasswordHash::new(hash) else {
        return false;
    };
    let ok = argon2::Argon2::default()
        .verify_password(guess.as_bytes(), &parsed)
        .is_ok();
    if ok {
        if verified.len() >= ARGON2_REMEMBERED {
            verified.clear();
        }
        verified.insert(key);
    }
    ok
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials() {
        let c = Credential::parse("sha256:ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=").unwrap();
        assert!(c.check("abc"));
        assert!(!c.check("abd"));
        assert!(Credential::parse("sha256:not base64!").is_err());
        assert!(Credential::parse("plain").unwrap().check("plain"));
        assert!(Credential::parse("argon2:not a hash").is_err());
    }

    #[test]
    fn argon2_credentials() {
        use argon2::PasswordHasher;
        use argon2::password_hash::SaltString;
        let salt = SaltString::encode_b64(b"12345678").unwrap();
        for algorithm in [argon2::Algorithm::Argon2id, argon2::Algorithm::Argon2i] {
            let hasher =
                argon2::Argon2::new(algorithm, argon2::Version::V0x13, argon2::Params::default());
            let hash = hasher.hash_password(b"mypass", &salt).unwrap().to_string();
            let pass = Credential::parse(&format!("argon2:{hash}")).unwrap();
            assert!(pass.check("mypass"), "{hash}");
            assert!(pass.check("mypass"), "a remembered pair still matches");
            assert!(!pass.check("mypasS"));
        }
    }

    #[test]
    fn permissions_from_json() {
        let p =
            Permission::from_json(&serde_json::json!({"action": "read", "path": "~^cam"})).unwrap();
        assert!(p.allows(AuthAction::Read, Some("cam1")));
        assert!(!p.allows(AuthAction::Read, Some("door")));
        assert!(!p.allows(AuthAction::Publish, Some("cam1")));
        let api = Permission::from_json(&serde_json::json!({"action": "api"})).unwrap();
        assert!(api.allows(AuthAction::Api, None));
        for bad in [
            serde_json::json!("read"),
            serde_json::json!({"path": "x"}),
            serde_json::json!({"action": "fly"}),
            serde_json::json!({"action": "read", "path": 3}),
            serde_json::json!({"action": "read", "path": "~("}),
        ] {
            assert!(Permission::from_json(&bad).is_err(), "{bad}");
        }
    }
}
