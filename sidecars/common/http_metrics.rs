//! Prometheus metrics shared by the sidecars (this file is included by each of them with
//! `#[path]`, as sidecars may not depend on a common crate):
//!
//! - `http_requests_total{method,route,status}`: counter of answered requests;
//! - `http_request_duration_seconds{method,route}`: histogram of the time to answer;
//! - `database_connections_active`: gauge, connections of the PostgreSQL pool in use
//!   (open minus idle), read at each scrape;
//! - `circuit_breaker_open{target}`: gauge, 1 while the circuit breaker in front of `target` is
//!   open or half-open, else 0.
//!
//! `route` is the matched route template (`/v1/cities/{id}`), never the raw URL, so the labels
//! stay bounded; a request that matches no route is counted under `route="unmatched"`.
//! [`Metrics::routes`] serves them at `GET /metrics` (OpenMetrics text).

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::header::CONTENT_TYPE;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use sqlx::PgPool;

/// The `route` label of a request that matched no route.
pub const UNMATCHED: &str = "unmatched";

/// The content type of `GET /metrics`.
pub const CONTENT: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Upper bounds of the duration histogram's buckets, seconds.
pub const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: String,
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DurationLabels {
    method: String,
    route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TargetLabels {
    target: String,
}

type Durations = Family<DurationLabels, Histogram, fn() -> Histogram>;

fn histogram() -> Histogram {
    Histogram::new(BUCKETS)
}

struct Inner {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    durations: Durations,
    connections: Gauge,
    breakers: Family<TargetLabels, Gauge>,
    pool: PgPool,
}

/// The service's metrics over its database `pool`; cheap to clone.
#[derive(Clone)]
pub struct Metrics {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Metrics {
    /// Registers the families; the connection gauge reads `pool` at each scrape.
    pub fn new(pool: PgPool) -> Metrics {
        let mut registry = Registry::default();
        let requests = Family::<RequestLabels, Counter>::default();
        let durations: Durations = Family::new_with_constructor(histogram);
        let connections = Gauge::default();
        let breakers = Family::<TargetLabels, Gauge>::default();
        registry.register(
            "http_requests",
            "HTTP requests answered, by method, route template and status",
            requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "Time to answer an HTTP request, by method and route template",
            durations.clone(),
        );
        registry.register(
            "database_connections_active",
            "PostgreSQL pool connections in use (open minus idle)",
            connections.clone(),
        );
        registry.register(
            "circuit_breaker_open",
            "1 while the circuit breaker in front of the target is open or half-open",
            breakers.clone(),
        );
        Metrics {
            inner: Arc::new(Inner {
                registry,
                requests,
                durations,
                connections,
                breakers,
                pool,
            }),
        }
    }

    /// The `circuit_breaker_open{target}` gauge of `target` (created at 0).
    pub fn breaker_gauge(&self, target: &str) -> Gauge {
        let labels = TargetLabels {
            target: target.to_owned(),
        };
        self.inner.breakers.get_or_create(&labels).clone()
    }

    /// Counts one answered request.
    pub fn observe(&self, method: &str, route: &str, status: u16, seconds: f64) {
        let labels = RequestLabels {
            method: method.to_owned(),
            route: route.to_owned(),
            status,
        };
        self.inner.requests.get_or_create(&labels).inc();
        let labels = DurationLabels {
            method: method.to_owned(),
            route: route.to_owned(),
        };
        self.inner.durations.get_or_create(&labels).observe(seconds);
    }

    /// The metrics as OpenMetrics text, the connection gauge read now.
    pub fn render(&self) -> String {
        let pool = &self.inner.pool;
        let idle = i64::try_from(pool.num_idle()).unwrap_or(i64::MAX);
        let active = i64::from(pool.size()).saturating_sub(idle).max(0);
        self.inner.connections.set(active);
        let mut out = String::new();
        if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &self.inner.registry) {
            tracing::warn!(error = %e, "metrics encoding failed");
        }
        out
    }

    /// `GET /metrics`, to merge into the service's router.
    pub fn routes<S: Clone + Send + Sync + 'static>(&self) -> Router<S> {
        Router::new()
            .route("/metrics", get(serve))
            .with_state(self.clone())
    }

    /// `router` with every request counted and timed (a layer over all its routes, so it
    /// must be applied after every route is added).
    pub fn track<S: Clone + Send + Sync + 'static>(&self, router: Router<S>) -> Router<S> {
        router.layer(axum::middleware::from_fn_with_state(self.clone(), track))
    }
}

/// The `method` label: the standard methods by name, any other as `other` (bounded labels).
pub fn method_label(method: &axum::http::Method) -> &'static str {
    const KNOWN: [&str; 9] = [
        "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "CONNECT", "TRACE",
    ];
    KNOWN
        .into_iter()
        .find(|m| *m == method.as_str())
        .unwrap_or("other")
}

async fn serve(State(metrics): State<Metrics>) -> Response {
    ([(CONTENT_TYPE, CONTENT)], metrics.render()).into_response()
}

async fn track(State(metrics): State<Metrics>, req: Request, next: Next) -> Response {
    let start = Instant::now();
    let method = method_label(req.method()).to_owned();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or(UNMATCHED, MatchedPath::as_str)
        .to_owned();
    let resp = next.run(req).await;
    let seconds = start.elapsed().as_secs_f64();
    metrics.observe(&method, &route, resp.status().as_u16(), seconds);
    resp
}
