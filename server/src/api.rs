//! The control API (`apiAddress`, `:9997`, with `api: yes`): MediaMTX's API v3, its routes
//! and JSON shapes (see `api/openapi.yaml` in the repository and `docs/api.md`).
//!
//! - Read: `/v3/info`, `/v3/paths/list|get/{name}`, `/v3/rtspconns/list|get/{id}`,
//!   `/v3/rtspsessions/list|get/{id}`, `/v3/webrtcsessions/list|get/{id}`,
//!   `/v3/hlsmuxers/list|get/{name}`,
//!   `/v3/config/global/get`,
//!   `/v3/config/pathdefaults/get`, `/v3/config/paths/list|get/{name}`,
//!   `/v3/recordings/list|get/{name}`.
//! - Act: `POST /v3/rtspsessions/kick/{id}`, `POST /v3/webrtcsessions/kick/{id}`, `DELETE /v3/recordings/deletesegment`.
//! - Configure: `POST /v3/config/paths/add/{name}`, `PATCH .../patch/{name}`,
//!   `POST .../replace/{name}`, `DELETE .../delete/{name}` — paths added through the API
//!   become runtime paths at once and are kept in `<recordSpoolDirectory>.state/
//!   api-paths.json`, so they survive a restart (MediaMTX forgets them); changes to the config
//!   file's paths are kept as overrides of its entries in `api-config.json` (see `saved::paths`);
//!   `PATCH /v3/config/global/patch` and `/v3/config/pathdefaults/patch`, checked at once,
//!   kept in `api-config.json` beside it and applied at the next start.
//!
//! Lists take MediaMTX's pagination (`itemsPerPage`, default 100; `page`, from 0) and answer
//! `{"itemCount","pageCount","items"}`. Errors are `{"status":"error","error":"…"}`: 400 naming
//! what was wrong, 401 with a challenge, 404. Every request is checked against
//! `authInternalUsers` for the `api` action (by default only from localhost).

mod conf;
mod hls;
mod pagination;
mod recordings;
mod saved;
mod store;
mod views;
mod webrtc;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Path as UrlPath, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{delete, get, patch, post};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use tokio::task::JoinHandle;

use self::pagination::Page;
use self::saved::SavedConfig;
pub(crate) use self::saved::with_saved_changes;
use self::store::ApiPaths;
use crate::auth::{self, Protocol};
use crate::config::AuthAction;
use crate::cors::allowed_origin;
use crate::limits::KeyedRateLimit;
use crate::limits::rate::{self, User};
use crate::paths::PathManager;

/// Shared state of the API listener.
pub(crate) struct Api {
    paths: Arc<PathManager>,
    /// Paths added through the API, persisted.
    added: Mutex<ApiPaths>,
    /// Global and `pathDefaults` changes for the next start, persisted.
    saved: Mutex<SavedConfig>,
    /// Held by each change of a path's configuration, so that two never interleave.
    writes: Mutex<()>,
    /// The last `config/paths/list` answer, reused while nothing it shows changed.
    config_list: Mutex<conf::ListCache>,
    /// `apiUserRateLimit`, per authenticated user; `None` when off.
    per_user: Option<Arc<KeyedRateLimit<User>>>,
    started: DateTime<Utc>,
}

/// Binds the API listener, restores the paths the API added in earlier runs, and serves
/// until aborted.
pub(crate) async fn start(paths: Arc<PathManager>) -> Result<Vec<JoinHandle<()>>, String> {
    let config = paths.config().clone();
    let added = ApiPaths::open(&config)?;
    let saved = SavedConfig::open(&config)?;
    let api = Arc::new(Api {
        paths,
        added: Mutex::new(added),
        saved: Mutex::new(saved),
        writes: Mutex::new(()),
        config_list: Mutex::default(),
        per_user: user_rate_limit(config.api_user_rate_limit),
        started: Utc::now(),
    });
    conf::restore(&api);
    let listener = crate::limits::bind_tcp(&config.api_address, "apiAddress").await?;
    tracing::info!("[API] listener opened on {}", config.api_address);
    let app = router()
        .layer(middleware::from_fn_with_state(api.clone(), guard))
        .with_state(api);
    let app = crate::metrics::instrument(app, "api");
    let tls = config.api_tls();
    Ok(vec![crate::limits::serve_http(
        "API",
        &config,
        listener,
        app,
        tls,
        &config.api_trusted_proxies,
    )?])
}

/// The per-user limit of `apiUserRateLimit` (`rate` per minute; 0: off).
fn user_rate_limit(rate: u32) -> Option<Arc<KeyedRateLimit<User>>> {
    let what = format!("answered 429 to requests past apiUserRateLimit ({rate}/min)");
    KeyedRateLimit::start("API", "apiUserRateLimit", rate::per_minute(rate), what)
}

fn router() -> Router<Arc<Api>> {
    Router::new()
        .route("/v3/info", get(info))
        .route("/v3/paths/list", get(views::paths_list))
        .route("/v3/paths/get/{*name}", get(views::paths_get))
        .route("/v3/rtspconns/list", get(views::conns_list))
        .route("/v3/rtspconns/get/{id}", get(views::conns_get))
        .route("/v3/rtspsessions/list", get(views::sessions_list))
        .route("/v3/rtspsessions/get/{id}", get(views::sessions_get))
        .route("/v3/rtspsessions/kick/{id}", post(views::sessions_kick))
        .route("/v3/webrtcsessions/list", get(webrtc::list))
        .route("/v3/webrtcsessions/get/{id}", get(webrtc::get))
        .route("/v3/webrtcsessions/kick/{id}", post(webrtc::kick))
        .route("/v3/hlsmuxers/list", get(hls::list))
        .route("/v3/hlsmuxers/get/{*name}", get(hls::get))
        .route("/v3/config/global/get", get(conf::global_get))
        .route("/v3/config/global/patch", patch(conf::global_patch))
        .route("/v3/config/pathdefaults/get", get(conf::path_defaults_get))
        .route(
            "/v3/config/pathdefaults/patch",
            patch(conf::path_defaults_patch),
        )
        .route("/v3/config/paths/list", get(conf::paths_list))
        .route("/v3/config/paths/get/{*name}", get(conf::paths_get))
        .route("/v3/config/paths/add/{*name}", post(conf::paths_add))
        .route("/v3/config/paths/patch/{*name}", patch(conf::paths_patch))
        .route(
            "/v3/config/paths/replace/{*name}",
            post(conf::paths_replace),
        )
        .route(
            "/v3/config/paths/delete/{*name}",
            delete(conf::paths_delete),
        )
        .route("/v3/recordings/list", get(recordings::list))
        .route("/v3/recordings/get/{*name}", get(recordings::get))
        .route(
            "/v3/recordings/deletesegment",
            delete(recordings::delete_segment),
        )
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
}

/// Authentication (action `api`), CORS and preflights, around every route.
async fn guard(
    State(api): State<Arc<Api>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
    next: Next,
) -> Response {
    let origin = request
        .headers()
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let preflight = request.method() == Method::OPTIONS
        && request
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
    let mut response = if preflight {
        preflight_response()
    } else if let Some(refusal) = authenticate(
        &api,
        peer,
        request.headers(),
        request.uri().query().unwrap_or_default(),
    )
    .await
    {
        refusal
    } else {
        next.run(request).await
    };
    let allowed = allowed_origin(origin.as_deref(), &api.paths.config().api_allow_origins);
    if let Some(value) = allowed.and_then(|a| HeaderValue::from_str(&a).ok()) {
        response
            .headers_mut()
            .insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, value);
    }
    response
}

/// `None` when the peer may use the API; else a 401 with challenges, or a 429 when an
/// authenticated user is past `apiUserRateLimit` (anonymous clients are held to the listener's
/// per-IP limit only).
async fn authenticate(
    api: &Api,
    peer: SocketAddr,
    headers: &HeaderMap,
    query: &str,
) -> Option<Response> {
    let config = api.paths.config();
    let checked = auth::check_http(
        &config,
        peer,
        headers,
        query,
        Protocol::Http,
        AuthAction::Api,
        "",
    );
    match checked.await {
        Ok(user) if user.is_empty() => None,
        Ok(user) => api.per_user.as_ref()?.check(&User(user)),
        Err(challenges) => Some(auth::unauthorized(&challenges)),
    }
}

fn preflight_response() -> Response {
    let mut response = Response::new(Body::empty());
    *response.status_mut() = StatusCode::NO_CONTENT;
    let headers = response.headers_mut();
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("OPTIONS, GET, POST, PATCH, DELETE"),
    );
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static("Authorization, Content-Type"),
    );
    response
}

/// `GET /v3/info`: version and start time.
async fn info(State(api): State<Arc<Api>>) -> Response {
    ok_json(&json!({
        "version": concat!("v", env!("CARGO_PKG_VERSION")),
        "started": rfc3339(api.started),
    }))
}

async fn not_found() -> Response {
    error(StatusCode::NOT_FOUND, "not found")
}

async fn method_not_allowed() -> Response {
    error(StatusCode::METHOD_NOT_ALLOWED, "method not allowed")
}

/// A `200` with `value` as JSON.
fn ok_json(value: &Value) -> Response {
    json_response(StatusCode::OK, value.to_string())
}

/// MediaMTX's `{"status":"ok"}`.
fn ok_status() -> Response {
    ok_json(&json!({"status": "ok"}))
}

/// MediaMTX's `{"status":"error","error":message}` with `status`.
fn error(status: StatusCode, message: &str) -> Response {
    if status.is_client_error() {
        tracing::debug!("[API] {}: {message}", status.as_u16());
    }
    crate::http_error::json_error(status, message)
}

fn bad_request(message: &str) -> Response {
    error(StatusCode::BAD_REQUEST, message)
}

fn json_response(status: StatusCode, body: impl Into<Body>) -> Response {
    let mut response = Response::new(body.into());
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    response
}

/// A list answer: `items` paginated by the request's `itemsPerPage` and `page`.
fn list_response(uri: &Uri, items: Vec<Value>) -> Response {
    match list_body(uri, items) {
        Ok(body) => json_response(StatusCode::OK, body),
        Err(message) => bad_request(&message),
    }
}

/// The JSON of a list answer ([`list_response`]), or why the page query is wrong (a `400`).
fn list_body(uri: &Uri, items: Vec<Value>) -> Result<String, String> {
    let page = Page::from_query(uri.query().unwrap_or(""))?;
    let item_count = items.len();
    let (page_count, items) = page.apply(items);
    // Built by moving `items` in: `json!` would copy the whole tree through `to_value`.
    let mut body = serde_json::Map::new();
    body.insert("itemCount".to_owned(), item_count.into());
    body.insert("pageCount".to_owned(), page_count.into());
    body.insert("items".to_owned(), Value::Array(items));
    Ok(Value::Object(body).to_string())
}

/// A time as MediaMTX writes it (RFC 3339, nanoseconds trimmed).
fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}

/// The `{name}` of a route, without the leading slash MediaMTX tolerates.
fn name_param(UrlPath(name): UrlPath<String>) -> String {
    name.trim_start_matches('/').to_string()
}

/// Why a request fails: the status and the message of MediaMTX's error body.
type Failure = (StatusCode, String);

/// The error answer of a [`Failure`].
fn failure((status, message): Failure) -> Response {
    error(status, &message)
}

/// A request body as a JSON object, or a 400 saying why not.
fn json_object(body: &Bytes) -> Result<serde_json::Map<String, Value>, Failure> {
    let bad = |message: String| (StatusCode::BAD_REQUEST, message);
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(bad("the request body must be a JSON object".to_string())),
        Err(e) => Err(bad(format!("invalid JSON in the request body: {e}"))),
    }
}
