//! Internal authentication (`authMethod: internal`): users, credentials, permissions,
//! and the check MediaMTX performs for each request.

use base64::Engine;
use base64::prelude::BASE64_STANDARD;
use sha2::{Digest, Sha256};
use std::net::IpAddr;

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

/// A username or password as written in the config: plain, `sha256:<base64 digest>`
/// or `argon2:<encoded hash>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Credential {
    /// Compared as is.
    Plain(String),
    /// Base64 (standard alphabet, padded) of the SHA-256 of the secret, as MediaMTX.
    Sha256(String),
    /// Argon2 hash: accepted in the file, but not verifiable yet, so it never matches.
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
            Credential::Argon2(_) => false,
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
        self.permissions.iter().any(|p| {
            p.action == req.action
                && (!p.action.is_per_path() || p.path.matches(req.path.unwrap_or("")))
        })
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
        assert!(
            !Credential::parse("argon2:$argon2id$v=19$m=4096,t=3,p=1$x$y")
                .unwrap()
                .check("x")
        );
    }
}
