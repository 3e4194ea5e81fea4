//! `vigia-ai`: the AI sidecar's binary. Two commands:
//!
//! - `vigia-ai run`: reads the plates of the cameras in `VIGIA_AI_CAMERAS` live from Vigia
//!   (`VIGIA_AI_RTSP/<path>`, keyframes only; see `vigia_ai::live`) and publishes the
//!   `lpr.detected` and `alert.triggered` events, until SIGINT or SIGTERM. The OCR models are
//!   loaded at start: a missing file stops it with the file's name and the setup command.
//! - `vigia-ai replay`: OCR reads as JSON lines on standard input
//!   (`{"cameraId":"cam1","text":"ABC-1D23","confidence":0.9,"at":"2026-12-02T13:45:12Z",
//!   "frame":17}`), in frame order, go through the same pipeline; a load generator for the bus.
//!
//! Both publish on `vigia.events` (durable outbox, confirms) or, with `VIGIA_EVENTSURL` empty,
//! append to `<state dir>/events.jsonl`, and hot-reload the watch list. Configuration: see
//! `vigia_ai::config`. Logs are JSON on standard error.

use std::sync::mpsc as std_mpsc;
use std::time::Duration;

use chrono::Utc;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc;
use vigia_ai::Error;
use vigia_ai::config::{Config, ConfigError};
use vigia_ai::live::{camera_worker, ocr_worker};
use vigia_ai::ocr::Ocr;
use vigia_ai::pipeline::{OcrRead, Pipeline};
use vigia_ai::sampler::SamplerConfig;
use vigia_ai::stream;
use vigia_ai::watchlist::{Watchlist, WatchlistFile};
use vigia_events::{Publisher, PublisherConfig};

/// How often `run` checks the watch list file for a new version.
const RELOAD_EVERY: Duration = Duration::from_secs(2);
/// Keyframes waiting between a camera's reader and its worker; more are dropped (counted).
const KEYFRAME_QUEUE: usize = 2;

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
            reload(&mut watch, &mut pipeline);
        }
        last_at = Some(read.at);
        pipeline.handle_ocr(read);
        publish_all(&mut pipeline, &publisher).await?;
    }
    // The input ended: the passes still open get no more reads; close them. Days are left
    // open: the last one is not over.
    if let Some(t) = last_at {
        pipeline.handle_timeout(t + config.pass.window);
    }
    publish_all(&mut pipeline, &publisher).await?;
    tokio::time::timeout(FLUSH_TIMEOUT, publisher.flush())
        .await
        .map_err(|_| Error::FlushTimeout(FLUSH_TIMEOUT))??;
    let s = pipeline.stats();
    tracing::info!(
        lines = line_no,
        rejected_texts = s.rejected_texts,
        reads = s.passes.reads,
        suppressed = s.passes.suppressed,
        late_reads = s.passes.late_reads,
        detections = s.detections,
        alerts = s.alerts,
        "replay done"
    );
    Ok(())
}

/// The `run` command: see the module doc and `vigia_ai::live`.
async fn run() -> Result<(), Error> {
    let config = Config::from_env()?;
    if config.cameras.is_empty() {
        return Err(ConfigError {
            var: "VIGIA_AI_CAMERAS",
            message: "no cameras: set it to the Vigia paths to read, comma-separated".to_owned(),
        }
        .into());
    }
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let ocr = Ocr::from_env(threads)?;
    let (mut watch, list) = load_watchlist(&config)?;
    let publisher = start_publisher(&config)?;
    let mut pipeline = Pipeline::new(config.pass, list);
    let mut reads = start_live(&config, ocr)?;
    tracing::info!(cameras = ?config.cameras, rtsp = %config.rtsp, "reading plates live");
    let mut reload_tick = tokio::time::interval(RELOAD_EVERY);
    let handler = |kind| signal(kind).map_err(|_| Error::WorkerStopped("signal handler"));
    let (mut terminate, mut interrupt) = (
        handler(SignalKind::terminate())?,
        handler(SignalKind::interrupt())?,
    );
    loop {
        // Passes close by frame time: sleep until the pipeline's next deadline comes in this
        // clock, then give it that deadline (frames are dated by Vigia's clock or arrival).
        let deadline = pipeline.poll_timeout();
        let wait = deadline.map_or(Duration::from_secs(3600), |d| {
            (d - Utc::now()).to_std().unwrap_or(Duration::ZERO)
        });
        tokio::select! {
            read = reads.recv() => {
                let read = read.ok_or(Error::WorkerStopped("OCR worker"))?;
                pipeline.handle_ocr(read);
            }
            () = tokio::time::sleep(wait), if deadline.is_some() => {
                if let Some(d) = deadline {
                    pipeline.handle_timeout(d);
                }
            }
            _ = reload_tick.tick() => reload(&mut watch, &mut pipeline),
            _ = interrupt.recv() => break,
            _ = terminate.recv() => break,
        }
        publish_all(&mut pipeline, &publisher).await?;
    }
    tracing::info!("stopping: waiting for the broker to confirm");
    tokio::time::timeout(FLUSH_TIMEOUT, publisher.flush())
        .await
        .map_err(|_| Error::FlushTimeout(FLUSH_TIMEOUT))??;
    let s = pipeline.stats();
    tracing::info!(
        rejected_texts = s.rejected_texts,
        reads = s.passes.reads,
        suppressed = s.passes.suppressed,
        late_reads = s.passes.late_reads,
        detections = s.detections,
        alerts = s.alerts,
        "run stopped"
    );
    Ok(())
}

/// Starts the live path's workers (`vigia_ai::live`): a reader task and a worker thread per
/// camera, the OCR thread; returns the plate reads.
fn start_live(config: &Config, ocr: Ocr) -> Result<mpsc::UnboundedReceiver<OcrRead>, Error> {
    let (reads_tx, reads) = mpsc::unbounded_channel();
    let (pictures_tx, pictures) = std_mpsc::sync_channel(1);
    spawn_thread("vigia-ai-ocr", move || ocr_worker(ocr, pictures, reads_tx))?;
    for path in &config.cameras {
        let (keyframes_tx, keyframes) = mpsc::channel(KEYFRAME_QUEUE);
        tokio::spawn(stream::run(
            path.clone(),
            config.stream_url(path),
            keyframes_tx,
        ));
        let (path, tx) = (path.clone(), pictures_tx.clone());
        spawn_thread(&format!("vigia-ai-{path}"), move || {
            camera_worker(path, keyframes, SamplerConfig::default(), tx)
        })?;
    }
    drop(pictures_tx);
    Ok(reads)
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

/// Hands every event the pipeline has to the publisher, waiting while its intake is full (a
/// replay runs faster than a broker confirms).
async fn publish_all(pipeline: &mut Pipeline, publisher: &Publisher) -> Result<(), Error> {
    while let Some(event) = pipeline.poll_event() {
        loop {
            match publisher.publish(event.clone()) {
                Err(vigia_events::Error::Backpressure { .. }) => {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                other => break other?,
            }
        }
    }
    Ok(())
}

/// Swaps in the watch list file's new content, if it changed; a bad file keeps the old list.
fn reload(watch: &mut Option<WatchlistFile>, pipeline: &mut Pipeline) {
    let Some(file) = watch else { return };
    match file.reload_if_changed() {
        Ok(Some(list)) => {
            tracing::info!(plates = list.entries().len(), "watch list reloaded");
            pipeline.set_watchlist(list);
        }
        Ok(None) => {}
        Err(e) => tracing::warn!(error = %e, "watch list not reloaded; keeping the previous one"),
    }
}
