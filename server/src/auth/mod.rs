//! Who may do what. Every listener (RTSP, HLS, playback, API, metrics) asks [`check`] before
//! it serves a request, and the answer follows `authMethod` as MediaMTX decides it: the
//! `internal` users of the config, an external HTTP server ([`http`]), or JWTs checked against
//! a JWKS ([`jwt`]).
//!
//! A refused attempt that carried credentials is logged (user, path, action, reason) and
//! answered after a random pause of up to [`MAX_FAILURE_PAUSE`], as MediaMTX does, so guessing
//! passwords or tokens is slow; an attempt without credentials is challenged at once (clients
//! send credentials only when asked). Every decision is counted in `auth_decisions_total`.

mod http;
mod jwt;

use std::net::{IpAddr, SocketAddr};
use std::sync::LazyLock;
use std::time::Duration;

use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::Response;
use rand::Rng;
use vigia_protocol::auth::{
    Challenge, Credentials, challenge_headers, parse_authorization, verify,
};

use crate::config::{AuthAction, AuthDecision, AuthMethod, AuthRequest, Config, Credential};
use crate::http_error::json_error;
use crate::metrics::security::{AuthResult, count_auth};
use crate::rtsp::peer_ip;

/// Realm stated in challenges (MediaMTX's).
pub(crate) const REALM: &str = "IPCAM";

/// The longest pause before a refusal of wrong credentials (MediaMTX's).
pub(crate) const MAX_FAILURE_PAUSE: Duration = Duration::from_secs(4);

/// The protocol a request came in by, as the `protocol` field of `authMethod: http` requests
/// names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Protocol {
    /// RTSP (and RTSPS).
    Rtsp,
    /// HLS.
    Hls,
    /// WebRTC (WHEP).
    Webrtc,
    /// The playback, API and metrics listeners (MediaMTX sends an empty protocol for them).
    Http,
}

impl Protocol {
    /// How logs and metrics name it: `rtsp`, `hls`, `webrtc` or `http`.
    pub(crate) fn label(self) -> &'static str {
        match self {
            Protocol::Http => "http",
            other => other.name(),
        }
    }

    /// MediaMTX's spelling (the `protocol` field of `authMethod: http` requests).
    pub(crate) fn name(self) -> &'static str {
        match self {
            Protocol::Rtsp => "rtsp",
            Protocol::Hls => "hls",
            Protocol::Webrtc => "webrtc",
            Protocol::Http => "",
        }
    }
}

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
    /// On which path (empty for api, metrics, pprof).
    pub(crate) path: &'a str,
    /// The nonce this connection issued (RTSP Digest).
    pub(crate) nonce: &'a str,
    /// The protocol the request came in by.
    pub(crate) protocol: Protocol,
    /// The URL's query without `?` (RTSP clients pass tokens there).
    pub(crate) query: &'a str,
    /// The `User-Agent` header, if any.
    pub(crate) user_agent: &'a str,
}

/// The verdict on an [`Attempt`].
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Go ahead; `user` is who the client is (empty when anonymous), for logs and per-user
    /// limits.
    Allow {
        /// The authenticated user: the username, or a JWT's subject.
        user: String,
    },
    /// Answer 401 with these challenges (no, wrong or insufficient credentials).
    Challenge(Vec<String>),
}

/// What the client presented: from `Authorization` (Basic, Digest or Bearer) and, where
/// allowed, a `token` or `jwt` query parameter.
#[derive(Debug, Default)]
struct Presented {
    user: String,
    pass: String,
    token: String,
    digest: Option<Credentials>,
}

impl Presented {
    /// Whether the client presented nothing at all (then it is asked for credentials).
    fn is_empty(&self) -> bool {
        self.user.is_empty()
            && self.pass.is_empty()
            && self.token.is_empty()
            && self.digest.is_none()
    }

    /// The token external methods check: the Bearer token, else the password (MediaMTX lets
    /// clients that can only send a user and password send the token as the password).
    fn token(&self) -> &str {
        if self.token.is_empty() {
            &self.pass
        } else {
            &self.token
        }
    }
}

/// The process-wide authenticator: the HTTP client the external methods use and the JWKS
/// cache. One for the process, like the HTTP metrics, so no listener needs it passed in.
static AUTHENTICATOR: LazyLock<Authenticator> = LazyLock::new(Authenticator::new);

/// The state the external methods keep between requests.
struct Authenticator {
    client: reqwest::Client,
    keys: jwt::KeySets,
}

impl Authenticator {
    fn new() -> Self {
        Authenticator {
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap_or_default(),
            keys: jwt::KeySets::default(),
        }
    }
}

/// Decides an attempt. Wrong credentials are challenged again, as MediaMTX does, so a client
/// can retry.
pub(crate) async fn check(config: &Config, attempt: &Attempt<'_>, offer_digest: bool) -> Verdict {
    let outcome = match presented(config, attempt) {
        Ok(presented) => decide(config, attempt, &presented).await,
        Err(e) => Err(Refusal {
            reason: e,
            asked: false,
        }),
    };
    match outcome {
        Ok(user) => {
            count_auth(attempt.protocol, attempt.action, AuthResult::Allowed);
            tracing::debug!(
                path = attempt.path,
                "{} may {} (over {}) as {user:?}",
                attempt.ip,
                attempt.action.name(),
                attempt.protocol.label()
            );
            Verdict::Allow { user }
        }
        Err(refusal) => {
            refuse(attempt, &refusal).await;
            let mut challenges = challenge_headers(REALM, attempt.nonce);
            if !offer_digest {
                challenges.retain(|c| c.starts_with("Basic"));
            }
            Verdict::Challenge(challenges)
        }
    }
}

/// Checks a request to an HTTP listener: credentials from `Authorization` (Basic or Bearer) and,
/// for `authMethod: jwt` with `authJWTInHTTPQuery`, from the query. `Ok` carries the user;
/// `Err` the challenges of the 401 answer (see [`with_challenges`]).
pub(crate) async fn check_http(
    config: &Config,
    peer: SocketAddr,
    headers: &HeaderMap,
    query: &str,
    protocol: Protocol,
    action: AuthAction,
    path: &str,
) -> Result<String, Vec<String>> {
    let header = |name| {
        headers
            .get(name)
            .and_then(|v: &HeaderValue| v.to_str().ok())
    };
    let attempt = Attempt {
        authorization: header(header::AUTHORIZATION),
        method: "GET",
        ip: peer_ip(peer),
        action,
        path,
        nonce: "",
        protocol,
        query,
        user_agent: header(header::USER_AGENT).unwrap_or_default(),
    };
    match check(config, &attempt, false).await {
        Verdict::Allow { user } => Ok(user),
        Verdict::Challenge(challenges) => Err(challenges),
    }
}

/// The 401 answer of the playback, API and metrics listeners when [`check_http`] refuses
/// `action` (MediaMTX's JSON error body and a challenge header each); `None` when it allows.
pub(crate) async fn http_refusal(
    config: &Config,
    peer: SocketAddr,
    headers: &HeaderMap,
    query: &str,
    action: AuthAction,
    path: &str,
) -> Option<Response> {
    let checked = check_http(config, peer, headers, query, Protocol::Http, action, path);
    Some(unauthorized(&checked.await.err()?))
}

/// The 401 of the playback, API and metrics listeners: MediaMTX's JSON error and `challenges`.
pub(crate) fn unauthorized(challenges: &[String]) -> Response {
    let refusal = json_error(axum::http::StatusCode::UNAUTHORIZED, "authentication error");
    with_challenges(refusal, challenges)
}

/// `response` (a 401) with a `WWW-Authenticate` header per challenge.
pub(crate) fn with_challenges(mut response: Response, challenges: &[String]) -> Response {
    for value in challenges
        .iter()
        .filter_map(|c| HeaderValue::from_str(c).ok())
    {
        response
            .headers_mut()
            .append(header::WWW_AUTHENTICATE, value);
    }
    response
}

/// Why an attempt is refused.
struct Refusal {
    reason: String,
    /// The client presented no credentials: it is asked for some, without a pause or warning.
    asked: bool,
}

/// Counts and logs a refusal, pausing first when credentials were presented.
async fn refuse(attempt: &Attempt<'_>, refusal: &Refusal) {
    if refusal.asked {
        count_auth(attempt.protocol, attempt.action, AuthResult::Challenged);
        tracing::debug!(path = attempt.path, "asking {} for credentials", attempt.ip);
        return;
    }
    count_auth(attempt.protocol, attempt.action, AuthResult::Denied);
    tracing::warn!(
        path = attempt.path,
        "authentication failed for {} ({} over {}): {}",
        attempt.ip,
        attempt.action.name(),
        attempt.protocol.label(),
        refusal.reason
    );
    let pause = rand::rng().random_range(Duration::ZERO..MAX_FAILURE_PAUSE);
    tokio::time::sleep(pause).await;
}

/// Reads the credentials of an attempt.
fn presented(config: &Config, attempt: &Attempt<'_>) -> Result<Presented, String> {
    let mut p = Presented::default();
    let parse = |header| bearer_user_pass(header).map_or_else(|| parse_authorization(header), Ok);
    match attempt.authorization.map(parse) {
        None => {}
        Some(Err(e)) => return Err(format!("bad Authorization header: {e}")),
        Some(Ok(Credentials::Basic { user, pass })) => (p.user, p.pass) = (user, pass),
        Some(Ok(Credentials::Bearer(token))) => p.token = token,
        Some(Ok(digest @ Credentials::Digest(_))) => {
            p.user = digest.user().to_owned();
            p.digest = Some(digest);
        }
    }
    let query_allowed = attempt.protocol == Protocol::Rtsp
        || (config.auth_method == AuthMethod::Jwt && config.auth_jwt.in_http_query);
    if p.token.is_empty() && p.pass.is_empty() && query_allowed {
        p.token = query_token(attempt.query).unwrap_or_default();
    }
    Ok(p)
}

/// `Bearer user:pass` (not a token: RFC 6750 tokens have no `:`), which MediaMTX reads as a
/// user and password.
fn bearer_user_pass(header: &str) -> Option<Credentials> {
    let (user, pass) = header.strip_prefix("Bearer ")?.split_once(':')?;
    if pass.contains(':') {
        return None;
    }
    Some(Credentials::Basic {
        user: user.to_owned(),
        pass: pass.to_owned(),
    })
}

/// The `token` (or legacy `jwt`) parameter of a query, when given once.
fn query_token(query: &str) -> Option<String> {
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    ["token", "jwt"].into_iter().find_map(|key| {
        let mut values = pairs.iter().filter(|(k, _)| k == key);
        match (values.next(), values.next()) {
            (Some((_, v)), None) => Some(v.clone()),
            _ => None,
        }
    })
}

/// Asks the configured method; `Ok` carries the user.
async fn decide(
    config: &Config,
    attempt: &Attempt<'_>,
    presented: &Presented,
) -> Result<String, Refusal> {
    let refusal = |reason: String| Refusal {
        reason,
        asked: presented.is_empty(),
    };
    let authenticator = &*AUTHENTICATOR;
    match config.auth_method {
        AuthMethod::Internal => decide_internal(config, attempt, presented).map_err(refusal),
        AuthMethod::Http => http::ask(&authenticator.client, config, attempt, presented)
            .await
            .map(|()| presented.user.clone())
            .map_err(refusal),
        AuthMethod::Jwt => authenticator
            .keys
            .authorize(&authenticator.client, config, attempt, presented.token())
            .await
            .map_err(refusal),
    }
}

fn decide_internal(
    config: &Config,
    attempt: &Attempt<'_>,
    presented: &Presented,
) -> Result<String, String> {
    let decision = match &presented.digest {
        Some(digest) => decide_digest(config, attempt, digest),
        None => authorize_internal(config, attempt, &presented.user, &presented.pass),
    };
    match decision {
        AuthDecision::Allow => Ok(presented.user.clone()),
        AuthDecision::Deny { .. } => Err("wrong credentials, or no permission for this".into()),
    }
}

fn authorize_internal(
    config: &Config,
    attempt: &Attempt<'_>,
    user: &str,
    pass: &str,
) -> AuthDecision {
    config.authorize(&AuthRequest {
        user: Some(user),
        pass: Some(pass),
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
            return authorize_internal(config, attempt, name, pass);
        }
    }
    AuthDecision::Deny {
        ask_credentials: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_tokens() {
        assert_eq!(query_token("token=abc").as_deref(), Some("abc"));
        assert_eq!(query_token("a=1&jwt=x.y.z").as_deref(), Some("x.y.z"));
        assert_eq!(query_token("token=a&token=b"), None);
        assert_eq!(query_token("token=a%2Bb").as_deref(), Some("a+b"));
        assert_eq!(query_token(""), None);
    }

    #[test]
    fn a_bearer_user_and_password_are_read_as_mediamtx_reads_them() {
        let attempt = |authorization| Attempt {
            authorization: Some(authorization),
            method: "GET",
            ip: IpAddr::from([127, 0, 0, 1]),
            action: AuthAction::Api,
            path: "",
            nonce: "",
            protocol: Protocol::Http,
            query: "",
            user_agent: "",
        };
        let config = Config::default();
        let split = presented(&config, &attempt("Bearer ana:pw")).unwrap();
        assert_eq!((split.user.as_str(), split.pass.as_str()), ("ana", "pw"));
        assert_eq!(split.token(), "pw");
        let token = presented(&config, &attempt("Bearer a.b.c")).unwrap();
        assert_eq!((token.user.as_str(), token.token.as_str()), ("", "a.b.c"));
    }

    #[test]
    fn the_token_is_the_bearer_else_the_password() {
        let mut p = Presented {
            pass: "pw".into(),
            ..Presented::default()
        };
        assert_eq!(p.token(), "pw");
        p.token = "tk".into();
        assert_eq!(p.token(), "tk");
        assert!(!p.is_empty());
        assert!(Presented::default().is_empty());
    }
}
