//! The server on the event bus (`eventsURL`): what this node publishes and consumes.
//!
//! - Out: one [`Publisher`] per node (CloudEvents `source` `/vigia/<node>`, the node being the
//!   host name or `$VIGIA_NODE`). Publishing never blocks media: events go through the publisher's durable outbox, so with the broker down
//!   vigia runs as usual and the events of that time are delivered, in order, once it is back.
//!   The recorder reports `recording.started` / `recording.stopped` through a [`RecordingRun`].
//! - In: a [`Consumer`] of `camera.*` on the node's own quorum queue `vigia.streaming.<node>`
//!   (see [`cameras`]), started so that vigia runs without the broker: it keeps trying in the
//!   background, and the cameras of the last run come from the local state file meanwhile.
//! - State lives in `<recordSpoolDirectory>.state/` (next to the spool, not inside it, so the
//!   spool's crash repair never sees it): the outbox, the consumer's dedupe window and
//!   `cameras.json`.

mod cameras;
mod health;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use chrono::{DateTime, Utc};
use vigia_events::{
    Consumer, ConsumerConfig, Event, EventData, HealthStatus, Publisher, PublisherConfig,
    PublisherStats, RecordingStarted, RecordingStopped,
};
use vigia_storage::recorder::RecordEvent;
use vigia_storage::spool::Backlog;

use crate::paths::{Path, PathManager};
use crate::state::state_dir;

/// Environment variable naming the node (its queue `vigia.streaming.<node>`, its event source
/// `/vigia/<node>`); the host name by default.
const NODE_ENV: &str = "VIGIA_NODE";

/// The node's handle on the bus, shared by everything that publishes.
pub(crate) struct Bus {
    publisher: Publisher,
    source: String,
}

/// What [`start`] keeps running; dropping it stops consuming (publishing stops with the last
/// [`Bus`] handle).
pub(crate) struct BusNode {
    /// Also keeps the publisher's task running while the node runs.
    bus: Arc<Bus>,
    /// The camera consumer (holding its [`Consumer`]) and the health reporter.
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

/// Starts the bus when `eventsURL` (or `VIGIA_EVENTSURL`) names a broker: the publisher, handed
/// to the recorder; the cameras of the state file; then, in the background, the camera consumer
/// and the health reporter. An unreachable broker is not an error (the outbox holds the events,
/// the consumer retries) and never delays start-up; local state that cannot be opened is an
/// error (a consumer whose dedupe window cannot be opened is logged, and takes no events).
pub(crate) async fn start(paths: &Arc<PathManager>) -> Result<Option<BusNode>, String> {
    let config = paths.config();
    let Some(url) = vigia_events::resolve_url(config.events_url.as_deref()) else {
        return Ok(None);
    };
    let host = node_name();
    let dir = state_dir(&config);
    let mut pc = PublisherConfig::new(Some(url.clone()), &dir);
    pc.source = format!("/vigia/{host}");
    pc.connection_name = format!("vigia-{host}");
    let source = pc.source.clone();
    let publisher = Publisher::start(pc)
        .map_err(|e| format!("events: can't open the outbox in {}: {e}", dir.display()))?;
    let bus = Arc::new(Bus { publisher, source });
    if let Some(recording) = paths.recording() {
        recording.set_bus(bus.clone());
    }
    tracing::info!(
        "events: publishing as /vigia/{host} (outbox in {})",
        dir.display()
    );
    let keyring = vigia_events::Keyring::from_env().map_err(|e| format!("events: {e}"))?;
    let cameras = cameras::Cameras::load(paths.clone(), keyring, dir.join("cameras.json"))?;
    let queue = format!("vigia.streaming.{host}");
    let mut cc = ConsumerConfig::new(url, queue.as_str(), &cameras::BINDINGS, &dir);
    cc.connection_name = format!("vigia-{host}-cameras");
    // The handler applies each event when called and waits for its save in its future: letting
    // the futures overlap puts a burst's changes into a few saves (see `cameras`).
    cc.concurrency = cc.prefetch;
    let handler = move |event: Event| cameras.handle(&event);
    // In the background: a broker that does not answer (rather than refusing) would otherwise
    // hold up the listeners for the consumer's set-up bound.
    let consumer = tokio::spawn(async move {
        match Consumer::start_or_retry(cc, handler).await {
            Ok(consumer) => {
                tracing::info!("events: cameras from queue {queue}");
                std::future::pending::<()>().await;
                consumer.stop().await;
            }
            Err(e) => tracing::error!("events: no cameras from events: {e}"),
        }
    });
    let health = tokio::spawn(report_health(paths.clone(), bus.clone()));
    Ok(Some(BusNode {
        bus,
        tasks: vec![consumer, health],
    }))
}

impl BusNode {
    /// The node's bus handle (the metrics read its outbox).
    pub(crate) fn bus(&self) -> &Arc<Bus> {
        &self.bus
    }
}

impl Drop for BusNode {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl Bus {
    /// The publisher's counters, outbox depth included.
    pub(crate) fn outbox(&self) -> PublisherStats {
        self.publisher.stats()
    }

    /// Hands `data` to the publisher with `correlation_id` (else the one of the event being
    /// handled on this task, else a fresh one). Never blocks; a full intake is logged.
    pub(crate) fn emit(&self, data: EventData, correlation_id: Option<&str>) {
        let mut event = Event::new(self.source.as_str(), data);
        if let Some(id) = correlation_id {
            event.correlation_id = id.to_owned();
        }
        let ty = event.event_type();
        if let Err(e) = self.publisher.publish(event) {
            tracing::warn!("events: {ty} not published: {e}");
        }
    }
}

/// One recording run of a path (one stream, from its first segment to its end), reported as
/// `recording.started` at the first segment and `recording.stopped` at the end, both carrying
/// the correlation id of the event that added the path, if any.
pub(crate) struct RecordingRun {
    bus: Arc<Bus>,
    path: String,
    correlation_id: Option<String>,
    recording_id: String,
    started_at: Option<DateTime<Utc>>,
    segment_start_us: i64,
    end_us: Option<i64>,
    bytes: u64,
}

impl RecordingRun {
    /// A run of `path` that has not written anything yet.
    pub(crate) fn new(bus: Arc<Bus>, path: &Path) -> RecordingRun {
        RecordingRun {
            bus,
            path: path.name.clone(),
            correlation_id: path.correlation_id.clone(),
            recording_id: uuid::Uuid::new_v4().to_string(),
            started_at: None,
            segment_start_us: 0,
            end_us: None,
            bytes: 0,
        }
    }

    /// Follows the recorder's output; the first segment publishes `recording.started`.
    pub(crate) fn observe(&mut self, event: &RecordEvent) {
        match event {
            RecordEvent::SegmentStart { start_us, init } => {
                self.bytes += init.len() as u64;
                self.segment_start_us = *start_us;
                if self.started_at.is_none() {
                    let started_at = from_unix_micros(*start_us);
                    self.started_at = Some(started_at);
                    self.emit_started(started_at);
                }
            }
            RecordEvent::Part { chunks, .. } => {
                self.bytes += chunks.iter().map(|c| c.len() as u64).sum::<u64>();
            }
            RecordEvent::SegmentEnd { duration_us } => {
                self.end_us = Some(self.segment_start_us.saturating_add(*duration_us));
            }
        }
    }

    /// The run ended for `reason` (`source_lost`, `deleted`, …): publishes `recording.stopped`
    /// if it had started.
    pub(crate) fn finish(self, reason: &str) {
        let Some(started_at) = self.started_at else {
            return;
        };
        let stopped_at = self
            .end_us
            .map(from_unix_micros)
            .unwrap_or_else(Utc::now)
            .max(started_at);
        let data = EventData::RecordingStopped(RecordingStopped {
            camera_id: self.path.clone(),
            path: self.path.clone(),
            recording_id: self.recording_id.clone(),
            started_at,
            stopped_at,
            bytes: self.bytes,
            reason: reason.to_owned(),
        });
        self.bus.emit(data, self.correlation_id.as_deref());
    }

    fn emit_started(&self, started_at: DateTime<Utc>) {
        let data = EventData::RecordingStarted(RecordingStarted {
            camera_id: self.path.clone(),
            path: self.path.clone(),
            recording_id: self.recording_id.clone(),
            started_at,
        });
        self.bus.emit(data, self.correlation_id.as_deref());
    }
}

/// Samples every pulled path each second and publishes the `stream.health_check` reports
/// [`health::HealthMonitor`] says are due (see there for the policy), with the correlation id of
/// the event that added the path. Runs as long as the server.
async fn report_health(paths: Arc<PathManager>, bus: Arc<Bus>) {
    let interval = paths.config().events_health_interval;
    let interval_us = i64::try_from(interval.as_micros()).unwrap_or(i64::MAX);
    let mut monitor = health::HealthMonitor::new(interval_us);
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tick.tick().await;
        let pulled = paths.pulled_paths();
        let backlog = paths.recording().map(|r| r.backlog()).unwrap_or_default();
        let samples: Vec<health::Sample> = pulled.iter().map(|p| sample(p, &backlog)).collect();
        for report in monitor.observe(crate::sources::unix_micros(), &samples) {
            // `pulled` is sorted by name: a burst of 1,000 changes costs 1,000 searches of
            // log2(1,000) steps, not a million comparisons.
            let corr = pulled
                .binary_search_by(|p| p.name.as_str().cmp(&report.data.path))
                .ok()
                .and_then(|i| pulled[i].correlation_id.clone());
            log_change(&report, corr.as_deref());
            bus.emit(EventData::StreamHealthCheck(report.data), corr.as_deref());
        }
    }
}

/// `path` now; `backlog` is the recorder's upload backlog of every path that has one.
fn sample(path: &Path, backlog: &HashMap<String, Backlog>) -> health::Sample {
    let (frames, bytes, last_frame_us) = match path.stream() {
        Some(stream) => {
            let c = stream.counters();
            (
                c.frames.load(Ordering::Relaxed),
                c.bytes.load(Ordering::Relaxed),
                c.last_unit_us.load(Ordering::Relaxed),
            )
        }
        None => (0, 0, 0),
    };
    health::Sample {
        path: path.name.clone(),
        source: path.source_status(),
        frames,
        bytes,
        last_frame_us,
        readers: u32::try_from(path.readers()).unwrap_or(u32::MAX),
        backlog: path
            .conf
            .record
            .then(|| backlog.get(&path.name).copied().unwrap_or_default()),
    }
}

fn log_change(report: &health::Report, correlation_id: Option<&str>) {
    if !report.changed {
        return;
    }
    let d = &report.data;
    let corr = correlation_id.unwrap_or_default();
    let reconnects = d.reconnects.unwrap_or_default();
    let status = match d.status {
        HealthStatus::Online => {
            tracing::info!(path = %d.path, correlation_id = %corr, "camera online");
            return;
        }
        HealthStatus::Degraded => "degraded",
        HealthStatus::Offline => "offline",
    };
    let reason = d.reason.map_or("", |r| r.as_str());
    let detail = d.detail.as_deref().unwrap_or_default();
    tracing::warn!(path = %d.path, correlation_id = %corr, reconnects, "camera {status}: {reason}: {detail}");
}

/// The node's name in queue names and event sources: `$VIGIA_NODE` if set (two vigia on one
/// machine, tests), else the host name (`/proc/sys/kernel/hostname`, else `$HOSTNAME`), reduced
/// to the characters a queue name takes; `node` if there is none.
fn node_name() -> String {
    let raw = std::env::var(NODE_ENV)
        .ok()
        .or_else(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_default();
    let name: String = raw
        .trim()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || "-_.".contains(*c))
        .collect();
    if name.is_empty() {
        "node".to_owned()
    } else {
        name
    }
}

fn from_unix_micros(us: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(us).unwrap_or_else(Utc::now)
}
