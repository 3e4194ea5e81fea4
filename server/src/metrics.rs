//! The metrics server (`metricsAddress`, `:9998`, with `metrics: yes`): `GET /metrics` in the
//! OpenMetrics text format that Prometheus scrapes, through the `prometheus-client` crate.
//!
//! What is exported (every family is listed in `docs/metrics.md`):
//! - MediaMTX's names and labels for what Vigia has (`paths`, `paths_inbound_bytes`, …,
//!   `rtsp_conns`, `rtsp_sessions`, `hls_muxers`…), so its dashboards keep working;
//! - the seed's `http_requests_total`, `http_request_duration_seconds` (every HTTP listener,
//!   see [`instrument`]) and `streaming_active_cameras`;
//! - per-camera health, the hubs' reader losses, the recorder and spool, the event outbox.
//!
//! Collection happens at scrape time ([`collector`]): the media path updates nothing for the
//! metrics. The only background work is one sample of each stream's counters per second, for
//! the frame rate and bitrate ([`rates`]). Access follows `authInternalUsers` for the
//! `metrics` action (by default only from localhost), as MediaMTX's does.

mod collector;
mod family;
mod http;
mod memory;
mod paths;
mod rates;
pub(crate) mod security;
mod sessions;
mod storage;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::Response;
use axum::routing::get;
use prometheus_client::registry::Registry;
use tokio::task::JoinHandle;

use self::collector::{ServerCollector, sample_rates};
use self::rates::Rates;
use crate::auth;
use crate::bus::Bus;
use crate::config::AuthAction;
use crate::cors::allowed_origin;
use crate::paths::PathManager;

pub(crate) use self::http::instrument;

/// The OpenMetrics text format's content type (its `unknown` type and `# EOF` need it).
const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Shared state of the metrics listener.
struct MetricsServer {
    paths: Arc<PathManager>,
    registry: Registry,
}

/// Binds the metrics listener and starts the rate sampler; returns their tasks. `bus` is the
/// event bus, whose outbox is exported when it runs.
pub(crate) async fn start(
    paths: Arc<PathManager>,
    bus: Option<Arc<Bus>>,
) -> Result<Vec<JoinHandle<()>>, String> {
    let config = paths.config().clone();
    let address = config.metrics_address.clone();
    let listener = crate::limits::bind_tcp(&address, "metricsAddress").await?;
    tracing::info!("[metrics] listener opened on {address}");
    let rates = Arc::new(Mutex::new(Rates::default()));
    let mut registry = Registry::default();
    registry.register_collector(Box::new(ServerCollector {
        paths: paths.clone(),
        rates: rates.clone(),
        bus,
    }));
    let sampler = tokio::spawn(run_sampler(paths.clone(), rates));
    let server = Arc::new(MetricsServer { paths, registry });
    let app = instrument(
        Router::new()
            .route("/metrics", get(scrape).options(preflight))
            .with_state(server),
        "metrics",
    );
    let tls = config.metrics_tls();
    let serve = crate::limits::serve_http(
        "metrics",
        &config,
        listener,
        app,
        tls,
        &config.metrics_trusted_proxies,
    )?;
    Ok(vec![sampler, serve])
}

/// `GET /metrics`: every family, after checking the client may read metrics; with CORS
/// headers for the origins `metricsAllowOrigins` allows.
async fn scrape(
    State(server): State<Arc<MetricsServer>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let query = uri.query().unwrap_or_default();
    let mut response = match refusal(&server, peer, &headers, query).await {
        Some(refusal) => refusal,
        None => exposition(&server),
    };
    allow_origin(&server, &headers, &mut response);
    response
}

/// `OPTIONS /metrics`: a CORS preflight, answered as MediaMTX's metrics server does.
async fn preflight(State(server): State<Arc<MetricsServer>>, headers: HeaderMap) -> Response {
    let mut response = Response::new(Body::empty());
    *response.status_mut() = StatusCode::NO_CONTENT;
    let cors = response.headers_mut();
    cors.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("OPTIONS, GET"),
    );
    cors.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static("Authorization"),
    );
    allow_origin(&server, &headers, &mut response);
    response
}

/// Sets `Access-Control-Allow-Origin` when the request's origin is allowed.
fn allow_origin(server: &MetricsServer, headers: &HeaderMap, response: &mut Response) {
    let origin = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok());
    let allowed = allowed_origin(origin, &server.paths.config().metrics_allow_origins);
    if let Some(value) = allowed.and_then(|a| HeaderValue::from_str(&a).ok()) {
        response
            .headers_mut()
            .insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, value);
    }
}

/// Every family in the OpenMetrics text format.
fn exposition(server: &MetricsServer) -> Response {
    let mut text = String::new();
    if let Err(e) = prometheus_client::encoding::text::encode(&mut text, &server.registry) {
        tracing::error!("[metrics] can't encode: {e}");
        return error(StatusCode::INTERNAL_SERVER_ERROR, "can't encode metrics");
    }
    let mut response = Response::new(Body::from(text));
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
    response
}

/// The 401 answer when the client may not read metrics (action `metrics`). The query is passed
/// on as MediaMTX does (`authMethod: http` posts it; `authJWTInHTTPQuery` reads a token there).
async fn refusal(
    server: &MetricsServer,
    peer: SocketAddr,
    headers: &HeaderMap,
    query: &str,
) -> Option<Response> {
    let config = server.paths.config();
    auth::http_refusal(&config, peer, headers, query, AuthAction::Metrics, "").await
}

use crate::http_error::json_error as error;

/// Samples every stream's counters once a second, for the rates.
async fn run_sampler(paths: Arc<PathManager>, rates: Arc<Mutex<Rates>>) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tick.tick().await;
        sample_rates(&paths, &rates);
    }
}
