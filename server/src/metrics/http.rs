//! Request counts and durations of every HTTP listener: `http_requests_total{listener,method,
//! status}` and `http_request_duration_seconds{listener,method}`.
//!
//! Each listener wraps its router with [`instrument`]; the figures live in one process-wide
//! [`HttpMetrics`] so a listener needs nothing passed to it (the metrics server may not even
//! run, and then they are only counted). Per request the cost is two label lookups under a
//! read lock and three atomic adds; labels are bounded (a fixed set of listeners and methods,
//! and HTTP status codes).

use std::fmt;
use std::sync::LazyLock;
use std::time::Instant;

use axum::Router;
use axum::extract::Request;
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;

/// Upper bounds of the duration buckets, in seconds: 1 ms to 10 s. LL-HLS blocking playlist
/// requests wait for the next part (up to a part's duration, ~0.2–1 s), so the upper buckets
/// are not a sign of trouble on the `hls` listener.
const DURATION_BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

/// The labels of `http_requests_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    listener: &'static str,
    method: &'static str,
    status: u16,
}

/// The labels of `http_request_duration_seconds`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DurationLabels {
    listener: &'static str,
    method: &'static str,
}

/// The HTTP figures of every listener.
struct HttpMetrics {
    requests: Family<RequestLabels, Counter>,
    durations: Family<DurationLabels, Histogram>,
}

static HTTP: LazyLock<HttpMetrics> = LazyLock::new(|| HttpMetrics {
    requests: Family::default(),
    durations: Family::new_with_constructor(|| Histogram::new(DURATION_BUCKETS)),
});

/// Counts every request `router` answers under `listener` (`hls`, `playback`, `api`,
/// `metrics`…), with its method, status and duration (until the response's headers are ready;
/// streaming the body is not timed).
pub(crate) fn instrument<S>(router: Router<S>, listener: &'static str) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    router.layer(axum::middleware::from_fn(
        move |request: Request, next: Next| track(listener, request, next),
    ))
}

/// Writes the HTTP families (described even before the first request).
pub(crate) fn encode(encoder: &mut DescriptorEncoder<'_>) -> fmt::Result {
    let families: [(&str, &str, &dyn EncodeMetric); 2] = [
        (
            "http_requests",
            "HTTP requests answered, by listener, method and status",
            &HTTP.requests,
        ),
        (
            "http_request_duration_seconds",
            "Time to answer an HTTP request (until its headers), by listener and method",
            &HTTP.durations,
        ),
    ];
    for (name, help, family) in families {
        family.encode(encoder.encode_descriptor(name, help, None, family.metric_type())?)?;
    }
    Ok(())
}

async fn track(listener: &'static str, request: Request, next: Next) -> Response {
    let method = method_label(request.method());
    let started = Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16();
    HTTP.requests
        .get_or_create(&RequestLabels {
            listener,
            method,
            status,
        })
        .inc();
    HTTP.durations
        .get_or_create(&DurationLabels { listener, method })
        .observe(started.elapsed().as_secs_f64());
    response
}

/// The method as a label: the standard ones by name, anything else `other` (so a client cannot
/// grow the label set).
fn method_label(method: &Method) -> &'static str {
    const KNOWN: [(Method, &str); 7] = [
        (Method::GET, "GET"),
        (Method::HEAD, "HEAD"),
        (Method::POST, "POST"),
        (Method::PUT, "PUT"),
        (Method::PATCH, "PATCH"),
        (Method::DELETE, "DELETE"),
        (Method::OPTIONS, "OPTIONS"),
    ];
    KNOWN
        .iter()
        .find(|(m, _)| m == method)
        .map_or("other", |(_, name)| name)
}
