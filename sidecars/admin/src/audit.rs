//! Vigia's `authMethod: http` callback and the audit log of who watched or downloaded what.
//!
//! Vigia (like MediaMTX, `internal/auth/manager.go`) POSTs every authentication request as JSON
//! `{ip, user, password, token, action, path, protocol, id, query, userAgent}` and allows it on
//! a 2xx. This endpoint finds the JWT (the `token` field, else the password, as RTSP clients
//! send it, else a `jwt=` query parameter), verifies it against the JWKS keys, its expiry and the
//! `jti` denylist, and checks its `mediamtx_permissions` for the action and path. It answers
//! 200 (allow), 401 (no or bad token) or 403 (valid token without the permission). Each `read`
//! (watching) and `playback` (listing or downloading recordings) decision, allowed or not, is
//! written to the `audit` table: who, path, action, protocol, IP, session id, time.

use axum::http::StatusCode;
use chrono::Utc;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::Error;
use crate::state::State;
use crate::tokens::{self, Claims};

/// MediaMTX's HTTP authentication request.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct AuthRequest {
    /// The client's IP.
    pub ip: String,
    /// The user name the client sent.
    pub user: String,
    /// The password the client sent (a JWT for RTSP clients).
    pub password: String,
    /// The bearer token the client sent.
    pub token: String,
    /// `publish`, `read`, `playback`, `api`, `metrics`, `pprof`.
    pub action: String,
    /// The path.
    pub path: String,
    /// `rtsp`, `rtmp`, `hls`, `webrtc`, `srt`.
    pub protocol: String,
    /// The session id.
    pub id: Option<String>,
    /// The request's query string.
    pub query: String,
    /// The client's user agent.
    pub user_agent: String,
}

/// One row of the audit log.
#[derive(Debug, Serialize, sqlx::FromRow)]
#[serde(rename_all = "camelCase")]
pub struct AuditRow {
    /// When.
    pub at: chrono::DateTime<Utc>,
    /// Who (absent without a valid token).
    pub user_id: Option<Uuid>,
    /// Their e-mail.
    pub email: Option<String>,
    /// `read` or `playback`.
    pub action: String,
    /// The camera path.
    pub path: String,
    /// The protocol.
    pub protocol: String,
    /// From where.
    pub ip: String,
    /// Vigia's session id.
    pub session_id: Option<String>,
    /// Whether Vigia was told to allow it.
    pub allowed: bool,
    /// Why it was refused.
    pub reason: Option<String>,
}

/// Decides `req`, writes its audit row when it is a read or a playback, and answers the status
/// Vigia acts on.
pub async fn decide(s: &State, req: &AuthRequest) -> Result<StatusCode, Error> {
    let outcome = check(s, req).await;
    if matches!(req.action.as_str(), "read" | "playback") {
        record(s, req, &outcome).await?;
    }
    match outcome {
        Ok(Decision { refusal: None, .. }) => Ok(StatusCode::OK),
        Ok(Decision {
            refusal: Some(_), ..
        }) => Ok(StatusCode::FORBIDDEN),
        Err(Error::Unauthorized(_)) => Ok(StatusCode::UNAUTHORIZED),
        Err(e) => Err(e),
    }
}

/// A page of the audit log, newest first, optionally of one path; `cities`: only rows about
/// cameras of these cities (`None`: every row, for a superadmin).
pub async fn list(
    s: &State,
    path: Option<&str>,
    cities: Option<&[Uuid]>,
    page: crate::extract::Page,
) -> Result<Vec<AuditRow>, Error> {
    Ok(sqlx::query_as(
        "SELECT a.at, a.user_id, a.email, a.action, a.path, a.protocol, a.ip, a.session_id, \
         a.allowed, a.reason FROM audit a \
         WHERE ($1::text IS NULL OR a.path = $1) AND ($2::uuid[] IS NULL OR EXISTS \
         (SELECT 1 FROM cameras c WHERE c.path = a.path AND c.city_id = ANY($2))) \
         ORDER BY a.id DESC LIMIT $3 OFFSET $4",
    )
    .bind(path)
    .bind(cities)
    .bind(i64::from(page.per_page))
    .bind(i64::from(page.page - 1) * i64::from(page.per_page))
    .fetch_all(&s.pool)
    .await?)
}

/// A valid token's claims and, when they do not allow the request, why (a 403 whose audit row
/// still names the user).
struct Decision {
    claims: Claims,
    refusal: Option<Error>,
}

/// `Err` when the token is missing or invalid (401, no user to name).
async fn check(s: &State, req: &AuthRequest) -> Result<Decision, Error> {
    let token = token_of(req).ok_or(Error::Unauthorized("no token"))?;
    let claims = s.verify_access(token, Utc::now().timestamp()).await?;
    let refusal = (!tokens::allows(&claims.mediamtx_permissions, &req.action, &req.path))
        .then_some(Error::Forbidden("no permission for this action and path"));
    Ok(Decision { claims, refusal })
}

/// The JWT of a request: `token`, else `password`, else the `jwt` query parameter.
fn token_of(req: &AuthRequest) -> Option<&str> {
    let query_jwt = req
        .query
        .split('&')
        .find_map(|kv| kv.strip_prefix("jwt="))
        .filter(|t| !t.is_empty());
    [req.token.as_str(), req.password.as_str()]
        .into_iter()
        .find(|t| !t.is_empty())
        .or(query_jwt)
}

async fn record(
    s: &State,
    req: &AuthRequest,
    outcome: &Result<Decision, Error>,
) -> Result<(), Error> {
    let (user, email, refusal) = match outcome {
        Ok(d) => (
            Some(d.claims.sub),
            Some(d.claims.email.clone()),
            d.refusal.as_ref(),
        ),
        Err(e) => (None, None, Some(e)),
    };
    let reason = refusal.map(ToString::to_string);
    sqlx::query(
        "INSERT INTO audit (user_id, email, action, path, protocol, ip, session_id, allowed, reason) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(user)
    .bind(email)
    .bind(&req.action)
    .bind(&req.path)
    .bind(&req.protocol)
    .bind(&req.ip)
    .bind(&req.id)
    .bind(refusal.is_none())
    .bind(reason)
    .execute(&s.pool)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_is_found_where_clients_put_it() {
        let mut r = AuthRequest {
            query: "a=1&jwt=Q".into(),
            ..AuthRequest::default()
        };
        assert_eq!(token_of(&r), Some("Q"));
        r.password = "P".into();
        assert_eq!(token_of(&r), Some("P"));
        r.token = "T".into();
        assert_eq!(token_of(&r), Some("T"));
        assert_eq!(token_of(&AuthRequest::default()), None);
    }
}
