//! Recording: one recorder task per recorded path, the spool, the uploader, retention.
//!
//! Every path whose config says `record: yes` gets a task that follows the path's stream (across
//! publisher and source reconnects) and feeds its access units to a
//! [`vigia_storage::recorder::Recorder`]; the recorder's segments go part by part into the node's
//! [`Spool`] (each part fsynced before the next is taken), from where the uploader sends them
//! to the path's `recordPath` destination (local directory or S3) and indexes them. Spool
//! writes run on tokio's blocking pool, so a slow disk delays only that path's recorder, which
//! gets every unit into a backlog of its own ([`feed`], ~30 s of a 2 Mbit/s camera): it never
//! holds up ingest, and if the backlog fills, the lost units are logged and counted. Each
//! segment runs the path's `runOnRecordSegmentCreate` / `runOnRecordSegmentComplete` hooks
//! ([`segment_hooks`]).

mod feed;
mod segment_hooks;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use tokio::task::JoinHandle;
use vigia_storage::StorageError;
use vigia_storage::index::RecordingIndex;
use vigia_storage::rebuild::rebuild;
use vigia_storage::recorder::{RecordEvent, Recorder, RecorderConfig};
use vigia_storage::retention::Retention;
use vigia_storage::spool::{Backlog, SegmentMeta, SegmentWriter, Spool, SpoolStats};
use vigia_storage::template::{Destination, RecordPath};
use vigia_storage::uploader::{self, Stores, UploadStats};

use crate::bus::{Bus, RecordingRun};
use crate::config::{Config, PathConf};
use crate::paths::{Path, lock};
use crate::sources::unix_micros;
use crate::stream::PathStream;
use feed::{BACKLOG_BYTES, BACKLOG_TOTAL_BYTES, Feed, RecorderBacklog, Taken};
use segment_hooks::SegmentHooks;

/// How often retention runs.
const RETENTION_EVERY: Duration = Duration::from_secs(5);
/// A recorded stream that sends nothing for this long has lost its source (the health
/// reports call it offline after the same 5 s).
const SOURCE_LOST_AFTER: Duration = Duration::from_secs(5);
/// How long the start-up check of an S3 destination may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(10);

/// The node's recording machinery, shared by recorder tasks, the playback server and the API.
pub(crate) struct Recording {
    config: Arc<Config>,
    spool: Arc<Spool>,
    stores: Arc<Stores>,
    index: Arc<RecordingIndex>,
    retention: Arc<Retention>,
    uploads: Arc<UploadStats>,
    lagged_units: AtomicU64,
    /// What every recorder has queued for the spool, against one bound for all.
    recorder_backlog: Arc<RecorderBacklog>,
    /// Paths whose store was already searched for segments the index lacks.
    reconciled: Mutex<HashSet<String>>,
    /// `recordPath` of every path recorded in this run, config or event camera alike.
    recorded: Mutex<HashMap<String, RecordPath>>,
    /// Set at start when `eventsURL` is: recording runs are reported on it.
    bus: OnceLock<Arc<Bus>>,
}

/// The recording machinery's counters at one instant, as plain numbers.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct RecordingFigures {
    /// The spool's own counters.
    pub(crate) spool: SpoolStats,
    /// `recordSpoolMaxSize`.
    pub(crate) spool_max_bytes: u64,
    /// Segments stored in their destination.
    pub(crate) uploaded_segments: u64,
    /// Bytes stored in their destination.
    pub(crate) uploaded_bytes: u64,
    /// Failed upload attempts.
    pub(crate) upload_failures: u64,
    /// Access units recorders lost because they fell behind their stream.
    pub(crate) lagged_units: u64,
    /// Media bytes queued for recorders now.
    pub(crate) backlog_bytes: u64,
}

impl Recording {
    /// Opens the spool (repairing what a crash left) and the index journal in it.
    pub(crate) fn open(config: Arc<Config>) -> Result<Arc<Self>, String> {
        let dir = std::path::Path::new(&config.record_spool_directory);
        let spool = Spool::open(dir, config.record_spool_max_size).map_err(|e| e.to_string())?;
        let index = RecordingIndex::open(&dir.join("index.jsonl")).map_err(|e| e.to_string())?;
        let recovered = spool.stats().recovered_segments;
        if recovered > 0 {
            tracing::warn!(
                "recording: {recovered} segments cut by a crash were repaired and will be uploaded"
            );
        }
        Ok(Arc::new(Recording {
            config,
            spool,
            stores: Arc::new(Stores::default()),
            index: Arc::new(index),
            retention: Arc::new(Retention::new()),
            uploads: Arc::new(UploadStats::default()),
            lagged_units: AtomicU64::new(0),
            recorder_backlog: RecorderBacklog::new(BACKLOG_TOTAL_BYTES),
            reconciled: Mutex::new(HashSet::new()),
            recorded: Mutex::new(HashMap::new()),
            bus: OnceLock::new(),
        }))
    }

    /// Starts the uploader and the retention loop, and checks each S3 destination once.
    pub(crate) fn start(self: &Arc<Self>) -> Vec<JoinHandle<()>> {
        let uploader = tokio::spawn(uploader::run(
            self.spool.clone(),
            self.stores.clone(),
            self.index.clone(),
            self.uploads.clone(),
        ));
        let this = self.clone();
        let retention = tokio::spawn(async move {
            loop {
                tokio::time::sleep(RETENTION_EVERY).await;
                let deleted = this
                    .retention
                    .pass(unix_micros(), &this.index, &this.stores)
                    .await;
                if deleted > 0 {
                    tracing::info!("retention: deleted {deleted} segments");
                }
            }
        });
        self.probe_destinations();
        vec![uploader, retention]
    }

    /// Reports each recording run (`recording.started` / `recording.stopped`) on `bus`.
    pub(crate) fn set_bus(&self, bus: Arc<Bus>) {
        let _ = self.bus.set(bus);
    }

    /// The upload backlog of every recorded path that has one (the health reports).
    pub(crate) fn backlog(&self) -> HashMap<String, Backlog> {
        self.spool.backlog()
    }

    /// The spool's, uploader's and recorders' counters, for the metrics.
    pub(crate) fn figures(&self) -> RecordingFigures {
        RecordingFigures {
            spool: self.spool.stats(),
            spool_max_bytes: self.config.record_spool_max_size,
            uploaded_segments: self.uploads.uploaded_segments.load(Ordering::Relaxed),
            uploaded_bytes: self.uploads.uploaded_bytes.load(Ordering::Relaxed),
            upload_failures: self.uploads.failures.load(Ordering::Relaxed),
            lagged_units: self.lagged_units.load(Ordering::Relaxed),
            backlog_bytes: self.recorder_backlog.queued() as u64,
        }
    }

    /// Keeps `path`'s recordings for `keep` (a city storage plan), overriding its config's
    /// `recordDeleteAfter`; `None` goes back to the config.
    pub(crate) fn set_retention_override(&self, path: &str, keep: Option<Duration>) {
        self.retention.set_override(path, keep);
    }

    /// The recording index (playback).
    pub(crate) fn index(&self) -> &Arc<RecordingIndex> {
        &self.index
    }

    /// The stores of every destination (playback).
    pub(crate) fn stores(&self) -> &Arc<Stores> {
        &self.stores
    }

    /// Adds to the index the segments of `path` that its store holds but the index lacks
    /// (uploaded by another node, or before this node's journal was lost): once per path and
    /// run, on the first playback request for it; a failed search is tried again next time.
    pub(crate) async fn reconcile(&self, path: &str) {
        if !lock(&self.reconciled).insert(path.to_owned()) {
            return;
        }
        let Some(record_path) = self.record_path(path) else {
            return;
        };
        let result = match self.stores.get(record_path.destination()) {
            Ok(store) => rebuild(&store, &record_path, path, &self.index).await,
            Err(e) => Err(e),
        };
        match result {
            Ok(stats) if stats.added > 0 => {
                tracing::info!(path = %path, "recording index: {} segments found in the store", stats.added)
            }
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(path = %path, "recording index: can't search the store: {e}");
                lock(&self.reconciled).remove(path);
            }
        }
    }

    /// `path`'s `recordPath`: as it was recorded in this run (event cameras have no config
    /// entry), else from the config.
    fn record_path(&self, path: &str) -> Option<RecordPath> {
        if let Some(rp) = lock(&self.recorded).get(path) {
            return Some(rp.clone());
        }
        let conf = self.config.path_config(path)?.conf_for(path, "");
        RecordPath::parse(&conf.record_path).ok()
    }

    /// Where `path`'s recordings are, from its `recordPath`.
    pub(crate) fn destination(&self, path: &str) -> Option<Destination> {
        self.record_path(path).map(|rp| rp.destination().clone())
    }

    /// Starts recording `path` if its config says so: a task that lives as long as the server.
    pub(crate) fn watch(self: &Arc<Self>, path: &Arc<Path>) {
        if !path.conf.record {
            return;
        }
        let record_path = match RecordPath::parse(&path.conf.record_path) {
            Ok(rp) => rp,
            Err(e) => return tracing::error!(path = %path.name, "not recording: {e}"),
        };
        let keep = Some(path.conf.record_delete_after);
        let destination = record_path.destination().clone();
        self.retention.set_path(&path.name, keep, destination);
        lock(&self.recorded).insert(path.name.clone(), record_path.clone());
        tokio::spawn(follow_path(self.clone(), path.clone(), record_path));
    }

    fn probe_destinations(&self) {
        let mut seen = Vec::new();
        let confs = std::iter::once(&self.config.path_defaults)
            .chain(self.config.paths.iter().map(|e| &e.conf))
            .filter(|c| c.record);
        for conf in confs {
            let Ok(rp) = RecordPath::parse(&conf.record_path) else {
                continue;
            };
            if matches!(rp.destination(), Destination::S3 { .. })
                && !seen.contains(rp.destination())
            {
                seen.push(rp.destination().clone());
                tokio::spawn(probe(self.stores.clone(), rp.destination().clone()));
            }
        }
    }
}

/// Lists the bucket once so that a wrong endpoint, bucket or key shows at start, not after the
/// first segment (an hour later with the default segment duration).
async fn probe(stores: Arc<Stores>, destination: Destination) {
    let result = match stores.get(&destination) {
        Ok(store) => tokio::time::timeout(PROBE_TIMEOUT, store.list("vigia-probe/"))
            .await
            .unwrap_or_else(|_| {
                Err(StorageError::Store {
                    location: store.label().to_owned(),
                    what: "no answer within 10 s".to_owned(),
                })
            })
            .map(|_| store.label().to_owned()),
        Err(e) => Err(e),
    };
    match result {
        Ok(label) => tracing::info!("recording destination {label} answers"),
        Err(e) => tracing::error!(
            "recording destination unusable now: {e}; segments are kept in the spool and uploaded once it answers"
        ),
    }
}

/// Records each stream the path gets, one after the other, until the path is removed.
async fn follow_path(rec: Arc<Recording>, path: Arc<Path>, record_path: RecordPath) {
    let mut streams = path.watch_stream();
    let config = recorder_config(&path.conf);
    loop {
        let current = streams.borrow_and_update().clone();
        if let Some(stream) = current {
            record_stream(&rec, &path, &record_path, config, &stream).await;
        }
        if path.is_retired() || streams.changed().await.is_err() {
            return;
        }
    }
}

fn recorder_config(conf: &PathConf) -> RecorderConfig {
    RecorderConfig {
        part_duration: conf.record_part_duration,
        segment_duration: conf.record_segment_duration,
        max_part_size: usize::try_from(conf.record_max_part_size).unwrap_or(usize::MAX),
    }
}

/// Records `stream` until it closes. A source that stops sending for [`SOURCE_LOST_AFTER`]
/// ends the recording there: its open segment is completed (and uploaded, not held open for the
/// whole outage) and its run reported stopped (`source_lost`); the next unit starts a new
/// segment and a new run.
async fn record_stream(
    rec: &Arc<Recording>,
    path: &Path,
    record_path: &RecordPath,
    config: RecorderConfig,
    stream: &Arc<PathStream>,
) {
    let name = path.name.as_str();
    tracing::info!(path = %name, "recording {} to {}", stream.describe(), describe(record_path));
    let mut recording = StreamRecording {
        rec,
        path,
        stream,
        config,
        session: None,
        sink: SegmentSink::new(rec.spool.clone(), path, record_path),
    };
    let feed = Feed::new(BACKLOG_BYTES, rec.recorder_backlog.clone());
    let attached = stream.attach(feed.clone());
    loop {
        tokio::select! {
            biased;
            taken = feed.next() => recording.take(taken).await,
            () = stream.closed() => break,
            () = tokio::time::sleep(SOURCE_LOST_AFTER) => recording.pause().await,
        }
    }
    drop(attached);
    // What was published before the close is still queued.
    while let Some(taken) = feed.pop() {
        recording.take(taken).await;
    }
    recording.end().await;
    tracing::info!(path = %name, "recording stopped: the stream ended");
}

/// The recording of one stream: the open session, if any, and where its segments go.
struct StreamRecording<'a> {
    rec: &'a Recording,
    path: &'a Path,
    stream: &'a PathStream,
    config: RecorderConfig,
    session: Option<Session>,
    sink: SegmentSink,
}

impl StreamRecording<'_> {
    /// Hands one unit to the session's recorder (starting a session if none is open), or logs
    /// and counts units the backlog dropped.
    async fn take(&mut self, taken: Taken) {
        match taken {
            Taken::Unit(unit) => {
                let (rec, path, stream, config) = (self.rec, self.path, self.stream, self.config);
                let active = self
                    .session
                    .get_or_insert_with(|| Session::new(rec, path, stream, config));
                active.recorder.push(unit);
                active.drain(&mut self.sink).await;
            }
            Taken::Lost(lost) => {
                self.rec.lagged_units.fetch_add(lost, Ordering::Relaxed);
                tracing::error!(path = %self.path.name, "recorder fell behind: {lost} units lost from the recording");
            }
        }
    }

    /// Nothing came for [`SOURCE_LOST_AFTER`]: completes the open segment and its run.
    async fn pause(&mut self) {
        if let Some(idle) = self.session.take() {
            tracing::warn!(path = %self.path.name, "recording paused: no media for {} s", SOURCE_LOST_AFTER.as_secs());
            idle.finish(&mut self.sink, "source_lost").await;
        }
    }

    /// The stream ended: completes the open segment and its run.
    async fn end(mut self) {
        if let Some(last) = self.session.take() {
            let reason = if self.path.is_retired() {
                "deleted"
            } else {
                "source_lost"
            };
            last.finish(&mut self.sink, reason).await;
        }
    }
}

/// One stretch of a stream's recording without a pause: its recorder and its recording run.
struct Session {
    recorder: Recorder,
    run: Option<RecordingRun>,
}

impl Session {
    fn new(rec: &Recording, path: &Path, stream: &PathStream, config: RecorderConfig) -> Self {
        Session {
            recorder: Recorder::new(stream.tracks().to_vec(), config),
            run: rec
                .bus
                .get()
                .map(|bus| RecordingRun::new(bus.clone(), path)),
        }
    }

    /// Hands what the recorder produced to the sink and the run.
    async fn drain(&mut self, sink: &mut SegmentSink) {
        while let Some(event) = self.recorder.pull() {
            self.run.iter_mut().for_each(|r| r.observe(&event));
            sink.handle(event).await;
        }
    }

    /// Completes the open segment and reports the run stopped for `reason`.
    async fn finish(mut self, sink: &mut SegmentSink, reason: &str) {
        self.recorder.finish();
        self.drain(sink).await;
        if let Some(run) = self.run {
            run.finish(reason);
        }
    }
}

fn describe(record_path: &RecordPath) -> String {
    match record_path.destination() {
        Destination::S3 { bucket } => format!("s3://{bucket}"),
        Destination::Local { root } => root.display().to_string(),
    }
}

/// Writes a recorder's events into the spool, off the async threads, and runs the segment
/// hooks.
struct SegmentSink {
    spool: Arc<Spool>,
    path: String,
    record_path: RecordPath,
    open: Option<SegmentWriter>,
    /// Where the open segment ends up (`MTX_SEGMENT_PATH`).
    location: Option<String>,
    hooks: SegmentHooks,
}

impl SegmentSink {
    fn new(spool: Arc<Spool>, path: &Path, record_path: &RecordPath) -> Self {
        SegmentSink {
            spool,
            path: path.name.clone(),
            record_path: record_path.clone(),
            open: None,
            location: None,
            hooks: SegmentHooks::new(path),
        }
    }

    async fn handle(&mut self, event: RecordEvent) {
        let spool = self.spool.clone();
        let open = self.open.take();
        let meta = self.meta(&event);
        let location = meta
            .as_ref()
            .map(|m| segment_hooks::location(&m.destination, &m.key));
        let ended_us = match event {
            RecordEvent::SegmentEnd { duration_us } => Some(duration_us),
            _ => None,
        };
        let result = tokio::task::spawn_blocking(move || apply(&spool, open, meta, event)).await;
        let applied = match result {
            Ok(Ok(open)) => {
                self.open = open;
                true
            }
            Ok(Err(e)) => {
                tracing::error!(path = %self.path, "recording: {e}; this segment is lost from here on");
                false
            }
            Err(e) => {
                tracing::error!(path = %self.path, "recording: spool task failed: {e}");
                false
            }
        };
        self.run_hooks(location, ended_us.filter(|_| applied));
    }

    /// The spool's record of the segment a `SegmentStart` begins.
    fn meta(&self, event: &RecordEvent) -> Option<SegmentMeta> {
        let RecordEvent::SegmentStart { start_us, .. } = event else {
            return None;
        };
        Some(SegmentMeta {
            path: self.path.clone(),
            destination: self.record_path.destination().clone(),
            key: self.record_path.key(&self.path, *start_us),
            start_us: *start_us,
            duration_us: None,
        })
    }

    /// After an event: Create for a segment `started` at that location and now open in the
    /// spool, Complete for the open one if it was `completed_us` (its duration) there. A segment
    /// the spool lost gets no Complete.
    fn run_hooks(&mut self, started: Option<String>, completed_us: Option<i64>) {
        if let Some(location) = started.filter(|_| self.open.is_some()) {
            self.hooks.created(&location);
            self.location = Some(location);
        }
        if self.open.is_some() {
            return;
        }
        if let (Some(location), Some(us)) = (self.location.take(), completed_us) {
            self.hooks.completed(&location, us);
        }
    }
}

/// One event against the spool; returns the segment left open.
fn apply(
    spool: &Arc<Spool>,
    open: Option<SegmentWriter>,
    meta: Option<SegmentMeta>,
    event: RecordEvent,
) -> Result<Option<SegmentWriter>, StorageError> {
    match event {
        RecordEvent::SegmentStart { init, .. } => {
            let Some(meta) = meta else {
                return Ok(open);
            };
            Ok(Some(spool.begin(meta, &init)?))
        }
        RecordEvent::Part { chunks, .. } => {
            let Some(mut writer) = open else {
                return Ok(None);
            };
            writer.append(&chunks)?;
            Ok(Some(writer))
        }
        RecordEvent::SegmentEnd { duration_us } => {
            if let Some(writer) = open {
                writer.finish(duration_us)?;
            }
            Ok(None)
        }
    }
}
