//! The REST API (JSON, camelCase): routes, thin handlers over [`State`], health and readiness.
//!
//! | route | what |
//! |---|---|
//! | `GET/POST /v1/plans`, `GET/PUT /v1/plans/{id}` | storage plans |
//! | `GET/POST /v1/cities`, `GET/PUT /v1/cities/{id}` | cities (`?uf=&name=`) |
//! | `GET /v1/cities/{id}/occurrences` | `lpr.detected` / `alert.triggered` of the city |
//! | `GET/POST /v1/cameras`, `GET/PUT/DELETE /v1/cameras/{id}` | cameras (`?cityId=&status=&name=`) |
//! | `GET /healthz`, `GET /readyz` | liveness; readiness (PostgreSQL answers) |
//!
//! Every `/v1` route needs an Admin access token; what each caller may read and change is in
//! [`crate::auth`].
//!
//! Lists take `?page=&perPage=` and answer `{items, page, perPage, total}`.
//!
//! **Correlation.** Each request runs with the correlation id of its `x-correlation-id` header
//! (a fresh UUID without one), echoed in the answer, set on the request's log span and carried
//! as `correlationid` by the events the request causes.

use axum::Json;
use axum::Router;
use axum::extract::{Path, State as Extract};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Serialize;
use tracing::Instrument;
use uuid::Uuid;

use crate::auth::Caller;
use crate::extract::{Body, ListParams};
use crate::model::{Camera, CameraInput, CityInput, PlanInput};
use crate::service::State;
use crate::{Error, store};

type Answer = Result<Response, Error>;

/// The service's routes over `state`.
pub fn router(state: State) -> Router {
    Router::new()
        .route("/v1/plans", get(list_plans).post(create_plan))
        .route("/v1/plans/{id}", get(get_plan).put(update_plan))
        .route("/v1/cities", get(list_cities).post(create_city))
        .route("/v1/cities/{id}", get(get_city).put(update_city))
        .route("/v1/cities/{id}/occurrences", get(list_occurrences))
        .route("/v1/cameras", get(list_cameras).post(create_camera))
        .route(
            "/v1/cameras/{id}",
            get(get_camera).put(update_camera).delete(delete_camera),
        )
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(ready))
        .layer(axum::middleware::from_fn(correlate))
        .with_state(state)
}

/// The header carrying a correlation id in and out.
pub const CORRELATION_HEADER: &str = "x-correlation-id";

/// Runs the request inside its correlation scope and a span, logging the outcome.
async fn correlate(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let id = req
        .headers()
        .get(CORRELATION_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 128)
        .map_or_else(|| Uuid::new_v4().to_string(), str::to_owned);
    let span = tracing::info_span!("request", method = %req.method(), path = %req.uri().path(),
        correlation_id = %id, user = tracing::field::Empty);
    let mut resp = vigia_events::with_correlation(id.clone(), next.run(req))
        .instrument(span.clone())
        .await;
    span.in_scope(|| tracing::info!(status = resp.status().as_u16(), "request"));
    if let Ok(value) = id.parse() {
        resp.headers_mut().insert(CORRELATION_HEADER, value);
    }
    resp
}

async fn ready(Extract(s): Extract<State>) -> Response {
    match sqlx::query("SELECT 1").execute(&s.pool).await {
        Ok(_) => "ready".into_response(),
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, format!("database: {e}")).into_response(),
    }
}

async fn list_plans(Extract(s): Extract<State>, _: Caller, p: ListParams) -> Answer {
    ok(store::plans(&mut *s.pool.acquire().await?, &p).await?)
}

async fn create_plan(Extract(s): Extract<State>, c: Caller, Body(i): Body<PlanInput>) -> Answer {
    c.must_be_superadmin("creating a storage plan")?;
    created(s.create_plan(i).await?)
}

async fn get_plan(Extract(s): Extract<State>, _: Caller, Path(id): Path<String>) -> Answer {
    let id = path_id(&id)?;
    let key = s.cache.plan_key(id);
    cached(&s, &key, async {
        store::plan(&mut *s.pool.acquire().await?, id)
            .await?
            .ok_or(Error::NotFound("plan"))
    })
    .await
}

async fn update_plan(
    Extract(s): Extract<State>,
    c: Caller,
    Path(id): Path<String>,
    Body(input): Body<PlanInput>,
) -> Answer {
    c.must_be_superadmin("changing a storage plan")?;
    ok(s.update_plan(path_id(&id)?, input).await?)
}

async fn list_cities(Extract(s): Extract<State>, c: Caller, mut p: ListParams) -> Answer {
    p.scope = c.scope();
    ok(store::cities(&mut *s.pool.acquire().await?, &p).await?)
}

async fn create_city(Extract(s): Extract<State>, c: Caller, Body(i): Body<CityInput>) -> Answer {
    c.must_be_superadmin("creating a city")?;
    created(s.create_city(i).await?)
}

/// A city the caller has no role in is answered as absent, like one that does not exist.
async fn get_city(Extract(s): Extract<State>, c: Caller, Path(id): Path<String>) -> Answer {
    let id = readable_city(&c, &id)?;
    let key = s.cache.city_key(id);
    cached(&s, &key, async {
        store::city(&mut *s.pool.acquire().await?, id)
            .await?
            .ok_or(Error::NotFound("city"))
    })
    .await
}

async fn update_city(
    Extract(s): Extract<State>,
    c: Caller,
    Path(id): Path<String>,
    Body(input): Body<CityInput>,
) -> Answer {
    c.must_be_superadmin("changing a city")?;
    ok(s.update_city(path_id(&id)?, input).await?)
}

async fn list_occurrences(
    Extract(s): Extract<State>,
    c: Caller,
    Path(id): Path<String>,
    p: ListParams,
) -> Answer {
    let id = readable_city(&c, &id)?;
    let mut db = s.pool.acquire().await?;
    store::city(&mut db, id)
        .await?
        .ok_or(Error::NotFound("city"))?;
    ok(store::occurrences(&mut db, id, &p).await?)
}

/// Only the caller's cities; a `cityId` filter naming another city is refused (403). A list of
/// one city the caller may read needs no scope: its query keeps the `(city_id, name)` index and
/// its cached pages are shared by every caller of that city.
async fn list_cameras(Extract(s): Extract<State>, c: Caller, mut p: ListParams) -> Answer {
    match p.city_id {
        Some(city) => c.must_read(city)?,
        None => p.scope = c.scope(),
    }
    let Some(key) = s.cache.cameras_key(&p.cache_key()).await else {
        return ok(store::cameras(&mut *s.pool.acquire().await?, &p).await?);
    };
    cached(&s, &key, async {
        store::cameras(&mut *s.pool.acquire().await?, &p).await
    })
    .await
}

async fn create_camera(
    Extract(s): Extract<State>,
    c: Caller,
    Body(input): Body<CameraInput>,
) -> Answer {
    c.must_administer(input.city_id)?;
    created(s.create_camera(input).await?)
}

/// A camera of a city the caller has no role in is answered as absent.
async fn get_camera(Extract(s): Extract<State>, c: Caller, Path(id): Path<String>) -> Answer {
    let camera = readable_camera(&s, &c, &id).await?;
    ok(camera)
}

async fn update_camera(
    Extract(s): Extract<State>,
    c: Caller,
    Path(id): Path<String>,
    Body(input): Body<CameraInput>,
) -> Answer {
    let camera = readable_camera(&s, &c, &id).await?;
    c.must_administer(camera.city_id)?;
    c.must_administer(input.city_id)?;
    ok(s.update_camera(camera.id, input).await?)
}

async fn delete_camera(Extract(s): Extract<State>, c: Caller, Path(id): Path<String>) -> Answer {
    let camera = readable_camera(&s, &c, &id).await?;
    c.must_administer(camera.city_id)?;
    s.delete_camera(camera.id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// The city id of the URL if the caller may read it (404 otherwise, as for no such city).
fn readable_city(c: &Caller, raw: &str) -> Result<Uuid, Error> {
    let id = path_id(raw)?;
    c.reads(id).then_some(id).ok_or(Error::NotFound("city"))
}

/// The camera of the URL if the caller may read it (404 otherwise, as for no such camera).
async fn readable_camera(s: &State, c: &Caller, raw: &str) -> Result<Camera, Error> {
    let camera = store::camera(&mut *s.pool.acquire().await?, path_id(raw)?).await?;
    camera
        .filter(|cam| c.reads(cam.city_id))
        .ok_or(Error::NotFound("camera"))
}

/// The cached JSON at `key`, else `load`'s value (cached after, loaded once for every request
/// that misses meanwhile).
async fn cached<T: Serialize>(
    s: &State,
    key: &str,
    load: impl std::future::Future<Output = Result<T, Error>>,
) -> Answer {
    if let Some(json) = s.cache.get(key).await {
        return Ok(json_response(StatusCode::OK, json));
    }
    let json = async { Ok(serde_json::to_string(&load.await?).unwrap_or_default()) };
    Ok(json_response(
        StatusCode::OK,
        s.cache.fill(key, json).await?,
    ))
}

fn json_response(status: StatusCode, json: String) -> Response {
    let header = [(axum::http::header::CONTENT_TYPE, "application/json")];
    (status, header, json).into_response()
}

fn ok<T: Serialize>(value: T) -> Answer {
    Ok(Json(value).into_response())
}

fn created<T: Serialize>(value: T) -> Answer {
    Ok((StatusCode::CREATED, Json(value)).into_response())
}

/// A UUID from the URL path; anything else is a 404 (no such thing), not a 500.
fn path_id(raw: &str) -> Result<Uuid, Error> {
    raw.parse().map_err(|_| Error::NotFound("resource"))
}
