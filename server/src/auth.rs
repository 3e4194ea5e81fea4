//! Checking RTSP (and later HTTP) credentials against `authInternalUsers`: Basic, and Digest for
//! users whose password is written in clear.

use std::net::IpAddr;

use vigia_protocol::auth::{
    Challenge, Credentials, challenge_headers, parse_authorization, verify,
};

use crate::config::{AuthAction, AuthDecision, AuthRequest, Config, Credential};

/// Realm stated in challenges (MediaMTX's).
pub(crate) const REALM: &str = "IPCAM";

/// What the client presented and where it comes from.
pub(crate) struct Attempt<'a> {
    /// Raw `Authorization` header, if any.
    pub(crate) authorization: Option<&'a str>,
    /// Request method (Digest hashes it).
    pub(crate) method: &'a str,
    /// Client IP.
    pub(crate) ip: IpAddr,
    /// What the client wants to do.
    pub(crate) action: AuthAction,
    /// On which path.
    pub(crate) path: &'a str,
    /// The nonce this connection issued.
    pub(crate) nonce: &'a str,
}

/// The verdict on an [`Attempt`].
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Go ahead.
    Allow,
    /// Answer 401 with these challenges (no or wrong credentials).
    Challenge(Vec<String>),
}

/// Decides an attempt. Wrong credentials are challenged again, as MediaMTX does, so a client
/// can retry; the log line names the user and path.
pub(crate) fn check(config: &Config, attempt: &Attempt<'_>, offer_digest: bool) -> Verdict {
    let decision = match attempt.authorization.map(parse_authorization) {
        None => decide(config, attempt, None, None),
        Some(Err(e)) => {
            tracing::warn!(
                path = attempt.path,
                "bad Authorization header from {}: {e}",
                attempt.ip
            );
            AuthDecision::Deny {
                ask_credentials: true,
            }
        }
        Some(Ok(Credentials::Basic { user, pass })) => {
            decide(config, attempt, Some(&user), Some(&pass))
        }
        Some(Ok(creds @ Credentials::Digest(_))) => decide_digest(config, attempt, &creds),
    };
    if decision == AuthDecision::Allow {
        return Verdict::Allow;
    }
    if attempt.authorization.is_some() {
        tracing::warn!(
            path = attempt.path,
            "authentication failed for {} ({:?})",
            attempt.ip,
            attempt.action
        );
    }
    let mut challenges = challenge_headers(REALM, attempt.nonce);
    if !offer_digest {
        challenges.retain(|c| c.starts_with("Basic"));
    }
    Verdict::Challenge(challenges)
}

fn decide(
    config: &Config,
    attempt: &Attempt<'_>,
    user: Option<&str>,
    pass: Option<&str>,
) -> AuthDecision {
    config.authorize(&AuthRequest {
        user,
        pass,
        ip: attempt.ip,
        action: attempt.action,
        path: Some(attempt.path),
    })
}

/// Digest proves knowledge of a clear password: try each configured user with a clear password
/// whose name matches, and authorize with the password that verifies.
fn decide_digest(config: &Config, attempt: &Attempt<'_>, creds: &Credentials) -> AuthDecision {
    let issued = Challenge {
        realm: REALM,
        nonce: attempt.nonce,
    };
    for user in &config.auth_internal_users {
        let (Credential::Plain(name), Credential::Plain(pass)) = (&user.user, &user.pass) else {
            continue;
        };
        if name == creds.user() && verify(creds, attempt.method, name, pass, &issued) {
            return decide(config, attempt, Some(name), Some(pass));
        }
    }
    AuthDecision::Deny {
        ask_credentials: false,
    }
}
