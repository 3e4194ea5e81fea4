//! `vigia-ai`: the AI sidecar's binary.
//!
//! Today it has one command, `vigia-ai replay`: OCR reads as JSON lines on standard input
//! (`{"cameraId":"cam1","text":"ABC-1D23","confidence":0.9,"at":"2026-12-02T13:45:12Z",
//! "frame":17}`), in frame order, go through the pipeline (plate fixes, passes, watch list) and
//! the resulting `lpr.detected` and `alert.triggered` events are published on `vigia.events`
//! (durable outbox, confirms) or, with `VIGIA_EVENTSURL` empty, appended to
//! `<state dir>/events.jsonl`. It is how the pipeline is driven before the stream reader and the
//! OCR models exist (they will feed the same pipeline), and a load generator for the bus.
//! Configuration: see `vigia_ai::config`. Logs are JSON on standard error.

use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use vigia_ai::Error;
use vigia_ai::config::Config;
use vigia_ai::pipeline::{OcrRead, Pipeline};
use vigia_ai::watchlist::{Watchlist, WatchlistFile};
use vigia_events::{Publisher, PublisherConfig};

/// How long `replay` waits at the end for the broker to confirm what it published.
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
        _ => {
            eprintln!("usage: vigia-ai replay   (OCR reads as JSON lines on stdin; see README)");
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
    let mut watch = config.watchlist.clone().map(WatchlistFile::new);
    let list = match &mut watch {
        Some(file) => file.reload_if_changed()?.unwrap_or_default(),
        None => Watchlist::default(),
    };
    tracing::info!(plates = list.entries().len(), "watch list loaded");
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
