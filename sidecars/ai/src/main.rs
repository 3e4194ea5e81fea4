//! `vigia-ai`: the AI sidecar's binary. Two commands:
//!
//! - `vigia-ai run`: reads the plates of the cameras in `VIGIA_AI_CAMERAS` (or, with `all`, of
//!   every camera the bus announces; see the `bus` module) live from Vigia
//!   (`VIGIA_AI_RTSP/<path>`, keyframes only; see `vigia_ai::live`) and publishes the
//!   `lpr.detected` and `alert.triggered` events, and `analytics.daily_report` at local midnight
//!   plus the grace from the bus's camera, city and recording events, until SIGINT or SIGTERM.
//!   Serves `/metrics`, `/health` and `/ready` on `VIGIA_AI_HTTP` (the `metrics` module), and
//!   the watch list API `/v1/watchlist` (the `watchlist_api` module; the watch list file is
//!   `VIGIA_AI_WATCHLIST` or else `<state dir>/watchlist.yml`). What the bus taught and the
//!   days' figures not reported yet survive a restart, in the state dir (the `state` module). The
//!   OCR models are loaded at start: a missing file stops it with the file's name and the setup
//!   command.
//! - `vigia-ai replay`: OCR reads as JSON lines on standard input
//!   (`{"cameraId":"cam1","text":"ABC-1D23","confidence":0.9,"at":"2026-12-02T13:45:12Z",
//!   "frame":17}`), in frame order, go through the same pipeline; a load generator for the bus.
//!
//! Both publish on `vigia.events` (durable outbox, confirms) or, with `VIGIA_EVENTSURL` empty,
//! append to `<state dir>/events.jsonl`, and hot-reload the watch list. Configuration: see
//! `vigia_ai::config`. Logs are JSON on standard error; each event published is a line with
//! `event_id`, `event_type` and `correlation_id`.

mod bus;
mod metrics;
mod state;
mod watchlist_api;

use std::collections::HashMap;
use std::sync::mpsc as std_mpsc;
use std::time::Duration;

use chrono::Utc;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc;
use vigia_ai::Error;
use vigia_ai::config::{Config, ConfigError};
use vigia_ai::live::{Sampled, camera_worker_observed, ocr_worker_observed};
use vigia_ai::ocr::Ocr;
use vigia_ai::pipeline::{OcrRead, Output, Pipeline};
use vigia_ai::sampler::SamplerConfig;
use vigia_ai::snapshot::store::{Attached, SnapshotStore};
use vigia_ai::stream;
use vigia_ai::watchlist::{Watchlist, WatchlistFile};
use vigia_events::{Consumer, Event, Publisher, PublisherConfig};

use crate::bus::{Change, Saved, Watched};
use crate::metrics::Metrics;
use crate::state::{REPORT_SAVE_EVERY, ReportStateFile, StateFile};
use crate::watchlist_api::WatchlistApi;

/// How often `run` checks the watch list file for a new version.
const RELOAD_EVERY: Duration = Duration::from_secs(2);
/// Keyframes waiting between a camera's reader and its worker; more are dropped (counted).
const KEYFRAME_QUEUE: usize = 2;

/// The longest `run` sleeps before letting the wall clock's time pass in the pipeline.
const TIMER_AT_MOST: Duration = Duration::from_secs(60);

/// How long `replay` and `run` wait at the end for the broker to confirm what they published.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(30);

#[tokio::main(flavor = "current_thread")]
async fn main() {
    tracing_subscriber::fmt()
        .json()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["replay"] => replay().await,
        ["run"] => run().await,
        _ => {
            eprintln!(
                "usage: vigia-ai run      (plates of VIGIA_AI_CAMERAS read live from Vigia)\n       \
                 vigia-ai replay   (OCR reads as JSON lines on stdin; see README)"
            );
            std::process::exit(2);
        }
    };
    if let Err(e) = result {
        tracing::error!(error = %e, "vigia-ai stopped");
        std::process::exit(1);
    }
}

/// The `replay` command.
async fn replay() -> Result<(), Error> {
    let config = Config::from_env()?;
    let (mut watch, list) = load_watchlist(&config)?;
    let publisher = start_publisher(&config)?;
    let mut pipeline = Pipeline::new(config.pass, list);
    // Counted but not served: `replay` has no HTTP endpoint.
    let metrics = Metrics::new();
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    let mut line_no = 0u64;
    let mut last_at = None;
    let input = |line: u64, cause: String| Error::Input {
        source_name: "stdin",
        line,
        cause,
    };
    while let Some(line) = lines
        .next_line()
        .await
        .map_err(|e| input(line_no + 1, e.to_string()))?
    {
        line_no += 1;
        if line.trim().is_empty() {
            continue;
        }
        let read: OcrRead =
            serde_json::from_str(&line).map_err(|e| input(line_no, e.to_string()))?;
        if line_no.is_multiple_of(256) {
            reload(&mut watch, &mut pipeline, &metrics);
        }
        last_at = Some(read.at);
        pipeline.handle_ocr(read);
        publish_all(&mut pipeline, &publisher, &metrics, None).await?;
    }
    // The input ended: the passes still open get no more reads; close them. Days are left
    // open: the last one is not over.
    if let Some(t) = last_at {
        pipeline.handle_timeout(t + config.pass.window);
    }
    publish_all(&mut pipeline, &publisher, &metrics, None).await?;
    flush(&publisher).await?;
    tracing::info!(lines = line_no, "input read");
    log_stats(&pipeline, "replay done");
    Ok(())
}

/// The `run` command: see the module doc, `vigia_ai::live` and the `bus` module.
async fn run() -> Result<(), Error> {
    let mut config = Config::from_env()?;
    if config.cameras.is_empty() && !config.all_cameras {
        return Err(ConfigError {
            var: "VIGIA_AI_CAMERAS",
            message: "no cameras: set it to the Vigia paths to read, comma-separated, or `all`"
                .to_owned(),
        }
        .into());
    }
    // Models first: a missing file is the first thing an operator must fix.
    let ocrs = (0..config.ocr_workers)
        .map(|_| Ocr::from_env(config.ocr_threads))
        .collect::<Result<Vec<_>, _>>()?;
    let metrics = Metrics::new();
    metrics.set_models_loaded();
    // The watch list API changes the file; the run loop takes each list it writes at once.
    let watchlist_file = watchlist_api::file_for(&config)?;
    config.watchlist = Some(watchlist_file.clone());
    let (api_lists_tx, mut api_lists) = mpsc::unbounded_channel();
    let api = WatchlistApi::new(watchlist_file, api_lists_tx);
    if let Some(addr) = config.http {
        metrics::serve(addr, metrics.clone(), api.clone().router())
            .await
            .map_err(|e| ConfigError {
                var: "VIGIA_AI_HTTP",
                message: format!("cannot listen on {addr}: {e}"),
            })?;
        tracing::info!(%addr, "serving /metrics, /health, /ready and /v1/watchlist");
    }
    let (mut watch, list) = load_watchlist(&config)?;
    metrics.watchlist_entries(list.entries().len());
    let mut snapshots = open_snapshots(&config)?;
    let publisher = start_publisher(&config)?;
    metrics.watch_publisher(publisher.clone());
    let mut pipeline = Pipeline::new(config.pass, list).with_report_grace(config.report_grace);
    let (mut live, mut reads) = Live::start(&config, ocrs, metrics.clone())?;
    for path in &config.cameras {
        live.add(path)?;
    }
    let (deliveries_tx, mut deliveries) = mpsc::channel(16);
    let consumer = start_consumer(&config, deliveries_tx, metrics.clone());
    let mut watched = Watched::new(&config.cameras, config.all_cameras);
    let mut state = StateFile::<Saved>::new(config.state_dir.join(bus::STATE_FILE));
    let saved = state.load().map_err(|message| ConfigError {
        var: "VIGIA_AI_STATE_DIR",
        message,
    })?;
    pipeline
        .restore(saved.known)
        .map_err(|message| ConfigError {
            var: "VIGIA_AI_STATE_DIR",
            message: format!("bus-state.json: {message}"),
        })?;
    for path in watched.restore(saved.cameras) {
        live.add(&path)?;
    }
    let offset = config.clock_offset;
    // The day's figures from before the restart (see the `state` module); days that ended
    // meanwhile are reported now.
    let (mut report_state, restored) = ReportStateFile::open(&config.state_dir);
    let open_days = restored.reports.days.len();
    pipeline.restore_reports(restored);
    pipeline.handle_timeout(Utc::now() + offset);
    let reported = pipeline.stats().reports;
    tracing::info!(open_days, reported, "daily figures restored");
    publish_all(&mut pipeline, &publisher, &metrics, snapshots.as_mut()).await?;
    report_state.save(&pipeline).await;
    tracing::info!(cameras = ?config.cameras, all = config.all_cameras, rtsp = %config.rtsp, queue = %config.queue, "reading plates live");
    let mut report_tick = tokio::time::interval(REPORT_SAVE_EVERY);
    let mut reload_tick = tokio::time::interval(RELOAD_EVERY);
    let handler = |kind| signal(kind).map_err(|_| Error::WorkerStopped("signal handler"));
    let (mut terminate, mut interrupt) = (
        handler(SignalKind::terminate())?,
        handler(SignalKind::interrupt())?,
    );
    loop {
        // Passes close by frame time and days at local midnight plus the grace: sleep until the
        // pipeline's next deadline comes by the wall clock (frames are dated by Vigia's clock or
        // arrival), at most a minute, then let the wall clock's time pass in the pipeline, so a
        // night without a single frame still closes the day.
        let deadline = pipeline.poll_timeout();
        let wait = deadline.map_or(TIMER_AT_MOST, |d| {
            (d - (Utc::now() + offset))
                .to_std()
                .unwrap_or(Duration::ZERO)
                .min(TIMER_AT_MOST)
        });
        tokio::select! {
            read = reads.recv() => {
                let mut read = read.ok_or(Error::WorkerStopped("OCR worker"))?;
                read.at += offset;
                pipeline.handle_ocr(read);
            }
            Some((event, applied)) = deliveries.recv() => {
                apply_bus_event(&event, &mut pipeline, &mut watched, &mut live)?;
                metrics.bus_event();
                let saved = Saved { known: pipeline.bus_knowledge(), cameras: watched.bus_cameras() };
                let result = state.save(saved).await;
                report_state.save(&pipeline).await;
                if let Err(e) = &result {
                    tracing::error!(error = %e, event_id = %event.id, "bus state not saved; the event will come again");
                }
                let _ = applied.send(result);
            }
            () = tokio::time::sleep(wait) => pipeline.handle_timeout(Utc::now() + offset),
            Some(list) = api_lists.recv() => {
                tracing::info!(plates = list.entries().len(), "watch list updated through the API");
                metrics.watchlist_entries(list.entries().len());
                pipeline.set_watchlist(list);
            }
            _ = report_tick.tick() => report_state.save(&pipeline).await,
            _ = reload_tick.tick() => {
                reload(&mut watch, &mut pipeline, &metrics);
                // Cameras sending keyframes count as online in their city's report, plates or not.
                let now = Utc::now() + offset;
                for camera in metrics.cameras_up() {
                    pipeline.handle_camera_online(&camera, now);
                }
            }
            _ = interrupt.recv() => break,
            _ = terminate.recv() => break,
        }
        publish_all(&mut pipeline, &publisher, &metrics, snapshots.as_mut()).await?;
        report_state.save_if_a_day_closed(&pipeline).await;
    }
    report_state.save(&pipeline).await;
    tracing::info!("stopping: waiting for the broker to confirm");
    // Events handed over and not applied are not acked: the broker gives them again.
    drop(deliveries);
    if let Some(task) = consumer {
        task.abort();
        if let Ok(Some(c)) = task.await {
            c.stop().await;
        }
    }
    flush(&publisher).await?;
    if let Some(s) = &snapshots {
        let st = s.stats();
        tracing::info!(stored = st.stored, failed = st.failed, "snapshots");
    }
    log_stats(&pipeline, "run stopped");
    Ok(())
}

/// Waits (at most [`FLUSH_TIMEOUT`]) for the broker to confirm everything published.
async fn flush(publisher: &Publisher) -> Result<(), Error> {
    tokio::time::timeout(FLUSH_TIMEOUT, publisher.flush())
        .await
        .map_err(|_| Error::FlushTimeout(FLUSH_TIMEOUT))??;
    Ok(())
}

/// Logs the pipeline's counters as the last line of a command.
fn log_stats(pipeline: &Pipeline, message: &'static str) {
    let s = pipeline.stats();
    tracing::info!(
        rejected_texts = s.rejected_texts,
        reads = s.passes.reads,
        suppressed = s.passes.suppressed,
        late_reads = s.passes.late_reads,
        detections = s.detections,
        alerts = s.alerts,
        reports = s.reports,
        reports_without_cnpj = s.reports_without_cnpj,
        "{message}"
    );
}

/// Gives a bus event to the pipeline and starts or stops the camera it names (see `bus`).
fn apply_bus_event(
    event: &Event,
    pipeline: &mut Pipeline,
    watched: &mut Watched,
    live: &mut Live,
) -> Result<(), Error> {
    pipeline.handle_bus_event(event);
    match watched.apply(event) {
        Some(Change::Start(path)) => {
            tracing::info!(path = %path, event_id = %event.id, "camera announced on the bus: reading it");
            live.add(&path)?;
        }
        Some(Change::Stop(path)) => {
            tracing::info!(path = %path, event_id = %event.id, "camera deleted on the bus: no longer read");
            live.remove(&path);
        }
        None => {}
    }
    Ok(())
}

/// The bus consumer, started in the background (retried until the broker answers, when it
/// marks the broker connected for `/ready`); `None` without a broker (ready at once).
fn start_consumer(
    config: &Config,
    deliveries: mpsc::Sender<bus::Delivery>,
    metrics: Metrics,
) -> Option<tokio::task::JoinHandle<Option<Consumer>>> {
    let Some(url) = &config.events_url else {
        metrics.set_broker_connected();
        return None;
    };
    let cc = bus::consumer_config(config, url, &config.state_dir);
    Some(tokio::spawn(async move {
        let mut delay = Duration::from_secs(1);
        loop {
            match Consumer::start(cc.clone(), bus::handler(deliveries.clone())).await {
                Ok(c) => {
                    tracing::info!(queue = %cc.queue, exchange = %cc.exchange, "consuming bus events");
                    metrics.set_broker_connected();
                    return Some(c);
                }
                Err(e) => {
                    tracing::warn!(error = %e, queue = %cc.queue, retry_in = ?delay, "bus consumer cannot start; retrying");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(30));
                }
            }
        }
    }))
}

/// The live path's workers (`vigia_ai::live`): the OCR threads, and a reader task and a worker
/// thread per camera, added and removed while running.
struct Live {
    /// Where the cameras are read from ([`Config::stream_url`]).
    config: Config,
    /// Each OCR thread's pictures.
    ocr: Vec<std_mpsc::SyncSender<Sampled>>,
    /// Each camera's reader and the OCR thread its pictures go to.
    readers: HashMap<String, (tokio::task::JoinHandle<stream::ReaderStats>, usize)>,
    metrics: Metrics,
}

impl Live {
    /// Starts an OCR thread for each of `ocrs`; returns the plate reads of all of them.
    fn start(
        config: &Config,
        ocrs: Vec<Ocr>,
        metrics: Metrics,
    ) -> Result<(Live, mpsc::UnboundedReceiver<OcrRead>), Error> {
        let (reads_tx, reads) = mpsc::unbounded_channel();
        let mut ocr = Vec::with_capacity(ocrs.len());
        for (i, one) in ocrs.into_iter().enumerate() {
            let (pictures, pictures_rx) = std_mpsc::sync_channel(1);
            let (reads_tx, observer) = (reads_tx.clone(), metrics.clone());
            spawn_thread(&format!("vigia-ai-ocr-{i}"), move || {
                ocr_worker_observed(one, pictures_rx, reads_tx, &observer)
            })?;
            ocr.push(pictures);
        }
        let live = Live {
            config: config.clone(),
            ocr,
            readers: HashMap::new(),
            metrics,
        };
        Ok((live, reads))
    }

    /// Starts reading `path` (nothing if it is read already), its pictures going to the OCR
    /// thread with the fewest cameras.
    fn add(&mut self, path: &str) -> Result<(), Error> {
        if self.readers.contains_key(path) {
            return Ok(());
        }
        let cameras_of = |i: usize| self.readers.values().filter(|r| r.1 == i).count();
        let Some(worker) = (0..self.ocr.len()).min_by_key(|&i| cameras_of(i)) else {
            return Err(Error::WorkerStopped("no OCR thread"));
        };
        let (keyframes_tx, keyframes) = mpsc::channel(KEYFRAME_QUEUE);
        let url = self.config.stream_url(path);
        let reader = tokio::spawn(stream::run(path.to_owned(), url, keyframes_tx));
        let tx = self.ocr[worker].clone();
        let (owned, observer) = (path.to_owned(), self.metrics.clone());
        spawn_thread(&format!("vigia-ai-{path}"), move || {
            camera_worker_observed(owned, keyframes, SamplerConfig::default(), tx, &observer)
        })?;
        self.readers.insert(path.to_owned(), (reader, worker));
        self.metrics.camera_added(path);
        Ok(())
    }

    /// Stops reading `path`: its reader ends, and its worker once the keyframes are gone.
    fn remove(&mut self, path: &str) {
        if let Some((reader, _)) = self.readers.remove(path) {
            reader.abort();
            self.metrics.camera_removed(path);
        }
    }
}

/// Starts a named thread running `f`.
fn spawn_thread<T: Send + 'static>(
    name: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<(), Error> {
    std::thread::Builder::new()
        .name(name.to_owned())
        .spawn(f)
        .map(drop)
        .map_err(|_| Error::WorkerStopped("thread start"))
}

/// The watch list file of `config` (if any) and its first content; a bad file stops the start.
fn load_watchlist(config: &Config) -> Result<(Option<WatchlistFile>, Watchlist), Error> {
    let mut watch = config.watchlist.clone().map(WatchlistFile::new);
    let list = match &mut watch {
        Some(file) => file.reload_if_changed()?.unwrap_or_default(),
        None => Watchlist::default(),
    };
    tracing::info!(plates = list.entries().len(), "watch list loaded");
    Ok((watch, list))
}

fn start_publisher(config: &Config) -> Result<Publisher, Error> {
    let mut pc = PublisherConfig::new(config.events_url.clone(), &config.state_dir);
    pc.source = vigia_ai::events::SOURCE.into();
    pc.exchange = config.exchange.clone();
    pc.connection_name = "vigia-ai".into();
    Ok(Publisher::start(pc)?)
}

/// The snapshot store of `VIGIA_AI_SNAPSHOTS`, if set (logged either way).
fn open_snapshots(config: &Config) -> Result<Option<SnapshotStore>, Error> {
    let Some(target) = &config.snapshots else {
        tracing::info!(
            "no snapshots: VIGIA_AI_SNAPSHOTS is not set, detections carry no snapshotKey"
        );
        return Ok(None);
    };
    let store = SnapshotStore::open(target).map_err(|message| ConfigError {
        var: "VIGIA_AI_SNAPSHOTS",
        message,
    })?;
    tracing::info!(store = store.label(), "snapshots stored");
    Ok(Some(store))
}

/// Hands every event the pipeline has to the publisher, waiting while its intake is full (a
/// replay runs faster than a broker confirms); a detection's snapshot is stored first, when
/// there is a store (a failure is counted and the event goes out without `snapshotKey`).
async fn publish_all(
    pipeline: &mut Pipeline,
    publisher: &Publisher,
    metrics: &Metrics,
    mut snapshots: Option<&mut SnapshotStore>,
) -> Result<(), Error> {
    while let Some(Output {
        mut event,
        snapshot,
    }) = pipeline.poll_output()
    {
        if let Some(store) = snapshots.as_deref_mut()
            && store.attach(&mut event, snapshot.as_ref()).await == Attached::Failed
        {
            metrics.snapshot_failed();
        }
        loop {
            match publisher.publish(event.clone()) {
                Err(vigia_events::Error::Backpressure { .. }) => {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                other => break other?,
            }
        }
        metrics.published(&event);
        log_published(&event);
    }
    Ok(())
}

/// One log line per event handed to the publisher, with the fields an SRE follows across
/// services: a detection and its alert share `correlation_id`. The plate is left out (personal
/// data: it stays in the event). Handed over, not yet confirmed: the outbox keeps it until the
/// broker confirms.
fn log_published(event: &Event) {
    tracing::info!(
        event_id = %event.id,
        event_type = event.event_type().as_str(),
        correlation_id = %event.correlation_id,
        subject = event.subject.as_deref(),
        "event handed to the publisher"
    );
}

/// Swaps in the watch list file's new content, if it changed; a bad file keeps the old list.
fn reload(watch: &mut Option<WatchlistFile>, pipeline: &mut Pipeline, metrics: &Metrics) {
    let Some(file) = watch else { return };
    match file.reload_if_changed() {
        Ok(Some(list)) => {
            tracing::info!(plates = list.entries().len(), "watch list reloaded");
            metrics.watchlist_entries(list.entries().len());
            pipeline.set_watchlist(list);
        }
        Ok(None) => {}
        Err(e) => tracing::warn!(error = %e, "watch list not reloaded; keeping the previous one"),
    }
}
