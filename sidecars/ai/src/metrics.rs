//! `vigia-ai run`'s HTTP endpoint (`VIGIA_AI_HTTP`): `/metrics` in the Prometheus text format,
//! `/health` (the process answers) and `/ready` (the OCR models are loaded and the bus consumer
//! has reached the broker once; 503 before); [`serve`] also serves the routes it is given (the
//! watch list API, `/v1/watchlist`, see the `watchlist_api` module).
//!
//! | metric | type | labels |
//! |---|---|---|
//! | `ai_lpr_detections_total` | counter | |
//! | `ai_alerts_total` | counter | |
//! | `ai_daily_reports_total` | counter | |
//! | `ai_inference_seconds` | histogram | `camera`, `stage` = `decode`/`detect`/`recognize` |
//! | `ai_keyframes_total` | counter | `camera`, `outcome` = `sampled`/`skipped`/`dropped`/`corrupt` |
//! | `ai_camera_up` | gauge | `camera`: 1 when a keyframe came in the last 10 s |
//! | `ai_bus_events_total` | counter | events the consumer handed to the pipeline |
//! | `ai_watchlist_entries` | gauge | entries of the watch list the pipeline matches against |
//! | `ai_snapshot_failures_total` | counter | detections published without their snapshot (store failed) |
//! | `ai_events_outbox_pending` | gauge | events in the durable outbox waiting for the broker's confirm (grows during a broker outage) |
//! | `ai_events_confirmed_total` | counter | events the broker confirmed |
//! | `ai_events_dropped_total` | counter | `reason` = `outbox_full`/`intake_full` |
//! | `ai_broker_reconnects_total` | counter | the publisher's broker connections lost or failed |
//!
//! The live workers report through [`vigia_ai::live::Observer`]; the run loop counts the events
//! it publishes. `ai_camera_up` is computed when scraped, from each camera's last keyframe, and
//! the `ai_events_*` and `ai_broker_*` figures from the publisher's statistics.
//!
//! `/ready` does not go back to 503 when the broker is lost later: nothing is lost meanwhile (the
//! outbox keeps the events, the queue keeps the bus's), and a readiness probe failing would only
//! take the watch list API out of service. An outage shows in `ai_events_outbox_pending` and
//! `ai_broker_reconnects_total`, and in the log.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use vigia_ai::live::{KeyframeOutcome, Observer, Stage};
use vigia_events::{Event, EventData, Publisher, PublisherStats};

/// A camera is up when its last keyframe is younger than this.
const UP_WITHIN: Duration = Duration::from_secs(10);

type Labels = Vec<(String, String)>;
type Histograms = Family<Labels, Histogram, fn() -> Histogram>;

/// The metrics and readiness of a run; cheap to clone (shared).
#[derive(Clone)]
pub(crate) struct Metrics {
    inner: Arc<Inner>,
}

struct Inner {
    registry: Registry,
    detections: Counter,
    alerts: Counter,
    reports: Counter,
    bus_events: Counter,
    snapshot_failures: Counter,
    inference: Histograms,
    keyframes: Family<Labels, Counter>,
    camera_up: Family<Labels, Gauge>,
    watchlist_entries: Gauge,
    /// The cameras read, and when each last sent a keyframe (a worker's keyframes that arrive
    /// after its camera was removed change nothing).
    last_keyframe: Mutex<HashMap<String, Option<Instant>>>,
    models_loaded: AtomicBool,
    broker_connected: AtomicBool,
    outbox: OutboxMetrics,
}

/// The event publisher's figures, read from it when scraped.
#[derive(Default)]
struct OutboxMetrics {
    publisher: OnceLock<Publisher>,
    pending: Gauge,
    confirmed: Counter,
    dropped: Family<Labels, Counter>,
    reconnects: Counter,
}

impl OutboxMetrics {
    fn register(&self, r: &mut Registry) {
        r.register(
            "ai_events_outbox_pending",
            "events in the durable outbox waiting for the broker's confirm",
            self.pending.clone(),
        );
        r.register(
            "ai_events_confirmed",
            "events the broker confirmed",
            self.confirmed.clone(),
        );
        r.register(
            "ai_events_dropped",
            "events dropped, by reason",
            self.dropped.clone(),
        );
        r.register(
            "ai_broker_reconnects",
            "the publisher's broker connections lost or failed",
            self.reconnects.clone(),
        );
    }

    /// Brings the metrics up to the publisher's statistics.
    fn update(&self) {
        let Some(publisher) = self.publisher.get() else {
            return;
        };
        let s: PublisherStats = publisher.stats();
        self.pending
            .set(i64::try_from(s.pending).unwrap_or(i64::MAX));
        catch_up(&self.confirmed, s.confirmed);
        catch_up(&self.reconnects, s.reconnects);
        for (reason, total) in [
            ("outbox_full", s.outbox_full),
            ("intake_full", s.intake_full),
        ] {
            catch_up(
                &self
                    .dropped
                    .get_or_create(&vec![("reason".into(), reason.into())]),
                total,
            );
        }
    }
}

/// Raises `counter` to `total` (a count kept elsewhere).
fn catch_up(counter: &Counter, total: u64) {
    counter.inc_by(total.saturating_sub(counter.get()));
}

impl Metrics {
    /// Registers the metrics (all zero).
    pub(crate) fn new() -> Metrics {
        let mut registry = Registry::default();
        let (detections, alerts, reports, bus_events) = Default::default();
        let snapshot_failures = Counter::default();
        let inference: Histograms = Family::new_with_constructor(|| {
            // 1 ms to ~16 s.
            Histogram::new(exponential_buckets(0.001, 2.0, 15))
        });
        let keyframes = Family::<Labels, Counter>::default();
        let camera_up = Family::<Labels, Gauge>::default();
        let watchlist_entries = Gauge::default();
        let outbox = OutboxMetrics::default();
        let r = &mut registry;
        outbox.register(r);
        r.register(
            "ai_lpr_detections",
            "lpr.detected events published",
            Clone::clone(&detections),
        );
        r.register(
            "ai_alerts",
            "alert.triggered events published",
            Clone::clone(&alerts),
        );
        r.register(
            "ai_daily_reports",
            "analytics.daily_report events published",
            Clone::clone(&reports),
        );
        r.register(
            "ai_bus_events",
            "bus events given to the pipeline",
            Clone::clone(&bus_events),
        );
        r.register(
            "ai_snapshot_failures",
            "detections published without their snapshot: the store failed",
            snapshot_failures.clone(),
        );
        r.register(
            "ai_inference_seconds",
            "time per picture of a stage, by camera",
            inference.clone(),
        );
        r.register(
            "ai_keyframes",
            "keyframes by what became of them",
            keyframes.clone(),
        );
        r.register(
            "ai_camera_up",
            "1 when the camera sent a keyframe in the last 10 s",
            camera_up.clone(),
        );
        r.register(
            "ai_watchlist_entries",
            "entries of the watch list the pipeline matches against",
            watchlist_entries.clone(),
        );
        Metrics {
            inner: Arc::new(Inner {
                registry,
                detections,
                alerts,
                reports,
                bus_events,
                snapshot_failures,
                inference,
                keyframes,
                camera_up,
                watchlist_entries,
                last_keyframe: Mutex::new(HashMap::new()),
                models_loaded: AtomicBool::new(false),
                broker_connected: AtomicBool::new(false),
                outbox,
            }),
        }
    }

    /// Reads the `ai_events_*` and `ai_broker_*` figures from `publisher` when scraped (the
    /// first publisher given is kept).
    pub(crate) fn watch_publisher(&self, publisher: Publisher) {
        let _ = self.inner.outbox.publisher.set(publisher);
    }

    /// Counts an event published.
    pub(crate) fn published(&self, event: &Event) {
        let c = match &event.data {
            EventData::LprDetected(_) => &self.inner.detections,
            EventData::AlertTriggered(_) => &self.inner.alerts,
            EventData::AnalyticsDailyReport(_) => &self.inner.reports,
            _ => return,
        };
        c.inc();
    }

    /// Counts a bus event handed to the pipeline.
    pub(crate) fn bus_event(&self) {
        self.inner.bus_events.inc();
    }

    /// Counts a detection published without its snapshot (the store failed).
    pub(crate) fn snapshot_failed(&self) {
        self.inner.snapshot_failures.inc();
    }

    /// The pipeline took a watch list of `n` entries.
    pub(crate) fn watchlist_entries(&self, n: usize) {
        self.inner
            .watchlist_entries
            .set(i64::try_from(n).unwrap_or(i64::MAX));
    }

    /// Starts reporting `camera` (`ai_camera_up` 0 until its first keyframe).
    pub(crate) fn camera_added(&self, camera: &str) {
        self.inner
            .camera_up
            .get_or_create(&camera_label(camera))
            .set(0);
        if let Ok(mut last) = self.inner.last_keyframe.lock() {
            last.entry(camera.to_owned()).or_insert(None);
        }
    }

    /// Stops reporting `camera` as up or down.
    pub(crate) fn camera_removed(&self, camera: &str) {
        self.inner.camera_up.remove(&camera_label(camera));
        if let Ok(mut last) = self.inner.last_keyframe.lock() {
            last.remove(camera);
        }
    }

    /// The OCR models are loaded.
    pub(crate) fn set_models_loaded(&self) {
        self.inner.models_loaded.store(true, Ordering::Relaxed);
    }

    /// The bus consumer reached the broker.
    pub(crate) fn set_broker_connected(&self) {
        self.inner.broker_connected.store(true, Ordering::Relaxed);
    }

    /// Whether `/ready` says ready.
    pub(crate) fn ready(&self) -> bool {
        self.inner.models_loaded.load(Ordering::Relaxed)
            && self.inner.broker_connected.load(Ordering::Relaxed)
    }

    /// The cameras that sent a keyframe in the last 10 s (those `ai_camera_up` says are up).
    pub(crate) fn cameras_up(&self) -> Vec<String> {
        let now = Instant::now();
        self.inner.last_keyframe.lock().map_or_else(
            |_| Vec::new(),
            |last| {
                last.iter()
                    .filter(|(_, at)| at.is_some_and(|at| now.duration_since(at) < UP_WITHIN))
                    .map(|(camera, _)| camera.clone())
                    .collect()
            },
        )
    }

    /// The Prometheus text of the metrics now.
    pub(crate) fn render(&self) -> String {
        self.inner.outbox.update();
        let now = Instant::now();
        if let Ok(last) = self.inner.last_keyframe.lock() {
            for (camera, at) in last.iter() {
                let up = at.is_some_and(|at| now.duration_since(at) < UP_WITHIN);
                self.inner
                    .camera_up
                    .get_or_create(&camera_label(camera))
                    .set(i64::from(up));
            }
        }
        let mut text = String::new();
        // Writing to a String cannot fail.
        let _ = encode(&mut text, &self.inner.registry);
        text
    }
}

impl Observer for Metrics {
    fn keyframe(&self, path: &str, outcome: KeyframeOutcome) {
        let (name, n) = match outcome {
            KeyframeOutcome::Sampled => ("sampled", 1),
            KeyframeOutcome::Skipped => ("skipped", 1),
            KeyframeOutcome::Corrupt => ("corrupt", 1),
            KeyframeOutcome::Dropped(n) => ("dropped", n),
        };
        let labels = vec![
            ("camera".to_owned(), path.to_owned()),
            ("outcome".to_owned(), name.to_owned()),
        ];
        self.inner.keyframes.get_or_create(&labels).inc_by(n);
        if !matches!(outcome, KeyframeOutcome::Dropped(_))
            && let Ok(mut last) = self.inner.last_keyframe.lock()
            && let Some(at) = last.get_mut(path)
        {
            *at = Some(Instant::now());
        }
    }

    fn stage(&self, path: &str, stage: Stage, seconds: f64) {
        let labels = vec![
            ("camera".to_owned(), path.to_owned()),
            ("stage".to_owned(), stage.as_str().to_owned()),
        ];
        self.inner.inference.get_or_create(&labels).observe(seconds);
    }
}

/// Serves `/metrics`, `/health`, `/ready` and the routes of `more` on `addr` until the process
/// ends; returns once bound (an address in use is an error).
pub(crate) async fn serve(addr: SocketAddr, metrics: Metrics, more: Router) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let app = Router::new()
        .route("/metrics", get(metrics_text))
        .route("/health", get(|| async { "ok\n" }))
        .route("/ready", get(ready))
        .with_state(metrics)
        .merge(more);
    tokio::spawn(async move {
        // The peer's address, for the watch list API's log lines.
        let app = app.into_make_service_with_connect_info::<SocketAddr>();
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "HTTP endpoint stopped");
        }
    });
    Ok(())
}

async fn metrics_text(State(metrics): State<Metrics>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        metrics.render(),
    )
}

async fn ready(State(metrics): State<Metrics>) -> (StatusCode, &'static str) {
    if metrics.ready() {
        (StatusCode::OK, "ready\n")
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready: models or broker\n",
        )
    }
}

fn camera_label(camera: &str) -> Labels {
    vec![("camera".to_owned(), camera.to_owned())]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_render_and_a_removed_camera_stays_removed() {
        let m = Metrics::new();
        m.camera_added("cam1");
        assert!(m.render().contains("ai_camera_up{camera=\"cam1\"} 0"));
        m.keyframe("cam1", KeyframeOutcome::Sampled);
        m.keyframe("cam1", KeyframeOutcome::Dropped(3));
        m.stage("cam1", Stage::Detect, 0.2);
        let text = m.render();
        for want in [
            "ai_camera_up{camera=\"cam1\"} 1",
            "ai_keyframes_total{camera=\"cam1\",outcome=\"dropped\"} 3",
            "ai_inference_seconds_count{camera=\"cam1\",stage=\"detect\"} 1",
            "ai_lpr_detections_total 0",
            "ai_watchlist_entries 0",
        ] {
            assert!(text.contains(want), "{want} in\n{text}");
        }
        assert_eq!(m.cameras_up(), ["cam1"]);
        m.camera_removed("cam1");
        m.keyframe("cam1", KeyframeOutcome::Skipped);
        assert!(!m.render().contains("ai_camera_up{"));
        assert!(m.cameras_up().is_empty());
        m.watchlist_entries(3);
        assert!(m.render().contains("ai_watchlist_entries 3\n"));
        assert!(!m.ready());
        m.set_models_loaded();
        m.set_broker_connected();
        assert!(m.ready());
    }

    #[tokio::test]
    async fn the_publishers_outbox_shows_while_the_broker_cannot_be_reached() {
        let dir = std::env::temp_dir().join(format!("vigia-ai-metrics-{}", std::process::id()));
        // Nothing listens on port 1: the event waits in the outbox, the connects fail.
        let url = Some("amqp://guest:guest@127.0.0.1:1/%2f".to_owned());
        let publisher = Publisher::start(vigia_events::PublisherConfig::new(url, &dir)).unwrap();
        let m = Metrics::new();
        assert!(m.render().contains("ai_events_outbox_pending 0\n"));
        m.watch_publisher(publisher.clone());
        let event = vigia_events::examples().remove(8);
        publisher.publish_durable(event).await.unwrap();
        let start = Instant::now();
        let reconnects = |text: &str| -> u64 {
            let line = text
                .lines()
                .find(|l| l.starts_with("ai_broker_reconnects_total "));
            line.and_then(|l| l.rsplit(' ').next()?.parse().ok())
                .unwrap_or(0)
        };
        while reconnects(&m.render()) == 0 {
            assert!(start.elapsed() < Duration::from_secs(10), "{}", m.render());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let text = m.render();
        for want in [
            "ai_events_outbox_pending 1\n",
            "ai_events_confirmed_total 0\n",
            "ai_events_dropped_total{reason=\"outbox_full\"} 0\n",
        ] {
            assert!(text.contains(want), "{want} in\n{text}");
        }
        drop(publisher);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
