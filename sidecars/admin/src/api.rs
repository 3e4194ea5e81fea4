//! The REST API (JSON, camelCase): routes and thin handlers over [`State`].
//!
//! | route | who | what |
//! |---|---|---|
//! | `GET /.well-known/jwks.json`, `GET /jwks` | anyone | the JWKS Vigia's `authJWTJWKS` reads |
//! | `POST /v1/auth/login` | anyone | `{email, password}` → tokens |
//! | `POST /v1/auth/refresh` | anyone | `{refreshToken}` → new tokens, the old one dies |
//! | `POST /v1/auth/logout` | bearer | `{refreshToken?}`; revokes it and the access token |
//! | `POST /v1/auth/mediamtx` | Vigia | `authMethod: http` callback, writes the audit log |
//! | `GET/POST /v1/users`, `GET/DELETE /v1/users/{id}` | admins | users |
//! | `PUT /v1/users/{id}/roles` | admins | replaces the roles per city |
//! | `POST /v1/users/{id}/revoke` | admins | revokes every token of the user |
//! | `PUT/DELETE /v1/cameras/{path}` | admins | `{cityId}`: the city a Vigia path belongs to |
//! | `GET /v1/audit?path=` | admins | the audit log of their cities' cameras, newest first |
//! | `GET /healthz`, `GET /readyz` | anyone | liveness; readiness (PostgreSQL answers) |
//! | `GET /`, `GET /console/…` | anyone | the operator console ([`console`]) |
//!
//! Every bearer request counts against the caller's rate limit (`ADMIN_RATE_LIMIT` a minute,
//! 429 with `Retry-After` beyond), logins against the e-mail's. The callback is not limited:
//! Vigia makes it once per reader, not the user.

use axum::extract::{Path, Query, State as Extract};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use chrono::Utc;
use serde::{Deserialize, Serialize};
use tracing::Instrument;
use uuid::Uuid;

use crate::audit::{self, AuthRequest};
use crate::extract::{Body, Caller, Page};
use crate::state::State;
use crate::users::{self, RoleInput, UserInput};
use crate::{Error, auth, cameras, console};

type Answer = Result<Response, Error>;

/// The header carrying a correlation id in and out.
pub const CORRELATION_HEADER: &str = "x-correlation-id";

/// The service's routes over `state`.
pub fn router(state: State) -> Router {
    Router::new()
        .route("/.well-known/jwks.json", get(jwks))
        .route("/jwks", get(jwks))
        .route("/v1/auth/login", post(login))
        .route("/v1/auth/refresh", post(refresh))
        .route("/v1/auth/logout", post(logout))
        .route("/v1/auth/mediamtx", post(mediamtx))
        .route("/v1/users", get(list_users).post(create_user))
        .route("/v1/users/{id}", get(get_user).delete(delete_user))
        .route("/v1/users/{id}/roles", put(set_roles))
        .route("/v1/users/{id}/revoke", post(revoke_user))
        .route("/v1/cameras/{path}", put(put_camera).delete(delete_camera))
        .route("/v1/audit", get(list_audit))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(ready))
        .merge(console::routes(state.config.console.clone()))
        .layer(axum::middleware::from_fn(correlate))
        .with_state(state)
}

/// Runs the request inside its correlation scope and a span, logging the outcome.
async fn correlate(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let id = req
        .headers()
        .get(CORRELATION_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 128)
        .map_or_else(|| Uuid::new_v4().to_string(), str::to_owned);
    let span = tracing::info_span!("request", method = %req.method(), path = %req.uri().path(), correlation_id = %id);
    let mut resp = vigia_events::with_correlation(id.clone(), next.run(req))
        .instrument(span.clone())
        .await;
    span.in_scope(|| tracing::info!(status = resp.status().as_u16(), "request"));
    if let Ok(value) = id.parse() {
        resp.headers_mut().insert(CORRELATION_HEADER, value);
    }
    resp
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LoginInput {
    email: String,
    password: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RefreshInput {
    refresh_token: String,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct LogoutInput {
    refresh_token: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct CameraInput {
    city_id: Uuid,
}

#[derive(Deserialize)]
struct AuditQuery {
    path: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct List<T> {
    items: Vec<T>,
    page: u32,
    per_page: u32,
    total: i64,
}

async fn jwks(Extract(s): Extract<State>) -> Response {
    Json(s.keys().jwks()).into_response()
}

async fn login(Extract(s): Extract<State>, Body(i): Body<LoginInput>) -> Answer {
    ok(auth::login(&s, &i.email, &i.password, Utc::now()).await?)
}

async fn refresh(Extract(s): Extract<State>, Body(i): Body<RefreshInput>) -> Answer {
    ok(auth::refresh(&s, &i.refresh_token, Utc::now()).await?)
}

async fn logout(Extract(s): Extract<State>, c: Caller, body: axum::body::Bytes) -> Answer {
    let input: LogoutInput = if body.is_empty() {
        LogoutInput::default()
    } else {
        crate::extract::parse_body(&body)?
    };
    auth::logout(&s, &c.0, input.refresh_token.as_deref()).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn mediamtx(Extract(s): Extract<State>, Body(req): Body<AuthRequest>) -> Answer {
    Ok(audit::decide(&s, &req).await?.into_response())
}

async fn create_user(Extract(s): Extract<State>, c: Caller, Body(i): Body<UserInput>) -> Answer {
    let input = users::check(i)?;
    c.must_administer(input.roles.iter().map(|r| r.city_id))?;
    let id = users::create(&s.pool, input, false).await?;
    let user = users::get(&s.pool, id)
        .await?
        .ok_or(Error::NotFound("user"))?;
    Ok((StatusCode::CREATED, Json(user)).into_response())
}

async fn list_users(Extract(s): Extract<State>, c: Caller, p: Page) -> Answer {
    c.must_be_superadmin()?;
    let (ids, total) = users::list(&s.pool, p.page, p.per_page).await?;
    let mut items = Vec::with_capacity(ids.len());
    for id in ids {
        items.extend(users::get(&s.pool, id).await?);
    }
    ok(List {
        items,
        page: p.page,
        per_page: p.per_page,
        total,
    })
}

async fn get_user(Extract(s): Extract<State>, c: Caller, Path(id): Path<String>) -> Answer {
    let id = path_id(&id)?;
    let user = users::get(&s.pool, id)
        .await?
        .ok_or(Error::NotFound("user"))?;
    if c.0.sub != id {
        c.must_administer(user.roles.iter().map(|r| r.city_id))?;
    }
    ok(user)
}

async fn delete_user(Extract(s): Extract<State>, c: Caller, Path(id): Path<String>) -> Answer {
    c.must_be_superadmin()?;
    users::delete(&s.pool, path_id(&id)?).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn set_roles(
    Extract(s): Extract<State>,
    c: Caller,
    Path(id): Path<String>,
    Body(roles): Body<Vec<RoleInput>>,
) -> Answer {
    let id = path_id(&id)?;
    let roles = users::check_roles(roles)?;
    let old = users::roles(&s.pool, id).await?;
    c.must_administer(roles.iter().map(|r| r.city_id).chain(old.keys().copied()))?;
    users::set_roles(&s.pool, id, &roles).await?;
    ok(users::get(&s.pool, id)
        .await?
        .ok_or(Error::NotFound("user"))?)
}

async fn revoke_user(Extract(s): Extract<State>, c: Caller, Path(id): Path<String>) -> Answer {
    let id = path_id(&id)?;
    c.must_administer(users::roles(&s.pool, id).await?.keys().copied())?;
    let revoked = auth::revoke_user(&s, id).await?;
    ok(serde_json::json!({ "revokedRefreshTokens": revoked }))
}

async fn put_camera(
    Extract(s): Extract<State>,
    c: Caller,
    Path(path): Path<String>,
    Body(i): Body<CameraInput>,
) -> Answer {
    let old = cameras::city_of(&s.pool, &path).await?;
    c.must_administer(std::iter::once(i.city_id).chain(old))?;
    cameras::upsert(&s, &path, i.city_id, false, Utc::now()).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn delete_camera(Extract(s): Extract<State>, c: Caller, Path(path): Path<String>) -> Answer {
    let city = cameras::city_of(&s.pool, &path)
        .await?
        .ok_or(Error::NotFound("camera"))?;
    c.must_administer([city])?;
    cameras::upsert(&s, &path, city, true, Utc::now()).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn list_audit(
    Extract(s): Extract<State>,
    c: Caller,
    p: Page,
    Query(q): Query<AuditQuery>,
) -> Answer {
    let cities = c.administered();
    if !c.0.superadmin && cities.is_empty() {
        return Err(Error::Forbidden("needs the admin role in a city"));
    }
    let scope = (!c.0.superadmin).then_some(cities.as_slice());
    ok(audit::list(&s, q.path.as_deref(), scope, p).await?)
}

async fn ready(Extract(s): Extract<State>) -> Response {
    match sqlx::query("SELECT 1").execute(&s.pool).await {
        Ok(_) => "ready".into_response(),
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, format!("database: {e}")).into_response(),
    }
}

fn ok(value: impl Serialize) -> Answer {
    Ok(Json(value).into_response())
}

fn path_id(id: &str) -> Result<Uuid, Error> {
    id.parse().map_err(|_| Error::invalid("id", "not a UUID"))
}
