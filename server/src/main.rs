//! `vigia`: a media server for city video surveillance, a drop-in replacement for MediaMTX.
//!
//! Usage: `vigia [CONFIG]` runs the server (with no argument it looks for `vigia.yml`, then
//! `mediamtx.yml`, in the working directory, else runs on built-in defaults serving the synthetic
//! `demo` stream); `vigia events …` is the operator tool for the event bus.

mod api;
mod auth;
mod bus;
mod config;
mod cores;
mod cors;
mod hls;
mod hooks;
mod http_error;
mod ingest;
mod limits;
mod logging;
mod metrics;
mod paths;
mod playback;
mod record;
mod registry;
mod reload;
mod rtsp;
mod served_body;
mod sources;
mod state;
mod stream;
mod tls;
mod webrtc;

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use crate::config::{Config, ConfigSource};
use crate::paths::PathManager;

/// jemalloc rather than glibc's malloc: after a burst of thousands of connections, glibc keeps
/// the freed memory in its per-thread arenas (RSS stayed 60 MB above its start), while
/// jemalloc's background thread returns freed pages within about a second (`dirty_decay_ms`
/// and `muzzy_decay_ms` in .cargo/config.toml; figures in BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("events") => return run_events_tool(args[1..].to_vec()),
        Some("--help" | "-h") => {
            println!("usage: vigia [CONFIG]\n       vigia events tail|publish|dlq ...");
            return ExitCode::SUCCESS;
        }
        Some("--version") => {
            println!("vigia {}", env!("CARGO_PKG_VERSION"));
            return ExitCode::SUCCESS;
        }
        _ => {}
    }
    let env: HashMap<String, String> = std::env::vars().collect();
    let config_path = args.first().map(PathBuf::from);
    let loaded = match Config::load(config_path.as_deref(), &env) {
        Ok(loaded) => loaded,
        Err(e) => {
            eprintln!("vigia: {}", error_chain(&e));
            return ExitCode::FAILURE;
        }
    };
    let loaded = api::with_saved_changes(loaded, &env);
    if let Err(e) = logging::init(&loaded.config) {
        eprintln!("vigia: {}", error_chain(&e));
        return ExitCode::FAILURE;
    }
    let version = env!("CARGO_PKG_VERSION");
    match &loaded.source {
        ConfigSource::File(file) => {
            tracing::info!(
                "vigia {version}: configuration loaded from {}",
                file.display()
            )
        }
        _ => tracing::info!(
            "vigia {version}: no vigia.yml or mediamtx.yml found, running on built-in defaults"
        ),
    }
    for warning in &loaded.warnings {
        tracing::warn!("{warning}");
    }
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("vigia: can't start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let watched = match loaded.source {
        ConfigSource::File(file) => Some((reload::stamp(&file), file, env)),
        _ => None,
    };
    match runtime.block_on(serve(Arc::new(loaded.config), loaded.raw, watched)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            eprintln!("vigia: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Starts every listener and source, then runs until SIGINT/SIGTERM. `raw` is the config
/// document as written, which the API shows ([`PathManager::document`]). `watched`, the config
/// file's stamp when loaded, the file and the environment it was loaded with, is reloaded when
/// it changes or on SIGHUP (see [`reload`]).
async fn serve(
    config: Arc<Config>,
    raw: serde_yaml::Mapping,
    watched: Option<(reload::Stamp, PathBuf, HashMap<String, String>)>,
) -> Result<(), String> {
    let shutdown = shutdown_signals();
    let paths = PathManager::new(config.clone());
    paths.set_document(raw);
    let mut tasks = Vec::new();
    // With the bus on, cameras announced by events may ask to record.
    if records_anything(&config) || config.playback || config.events_url.is_some() {
        let recording = record::Recording::open(config.clone())?;
        tasks.extend(recording.start());
        if config.playback {
            tasks.extend(playback::start(config.clone(), recording.clone()).await?);
        }
        paths.set_recording(recording);
    }
    let bus_node = bus::start(&paths).await?;
    // RTSP opens last: a supervisor (or a test) that waits for the RTSP port then finds every
    // other listener open too (metrics opened ~50 ms after RTSP, behind WebRTC's certificate,
    // and early scrapes were refused).
    if config.api {
        tasks.extend(api::start(paths.clone()).await?);
    }
    if config.metrics {
        let bus = bus_node.as_ref().map(|node| node.bus().clone());
        tasks.extend(metrics::start(paths.clone(), bus).await?);
    }
    if config.hls.enabled {
        tasks.extend(hls::start(paths.clone()).await?);
    }
    if config.webrtc.enabled {
        tasks.extend(webrtc::start(paths.clone()).await?);
    }
    if config.rtsp {
        tasks.extend(rtsp::start(paths.clone()).await?);
    }
    paths.start();
    if let Some((loaded, file, env)) = watched {
        tasks.push(reload::start(paths.clone(), file, env, loaded));
    }
    shutdown.await;
    tracing::info!("shutting down");
    for task in tasks {
        task.abort();
    }
    Ok(())
}

/// Whether any path (or the defaults every unlisted name gets) has `record: yes`.
fn records_anything(config: &Config) -> bool {
    config.path_defaults.record || config.paths.iter().any(|e| e.conf.record)
}

/// Listens for SIGINT and SIGTERM from now on; the future ends when either arrives.
///
/// Called before anything starts: a handler in place from the start also means no hook command
/// inherits an ignored SIGINT (a shell that starts `vigia &` without job control ignores SIGINT
/// for it; a signal with a handler goes back to its default in the child, an ignored one stays
/// ignored), so every hook can be stopped with SIGINT as the hooks module promises.
fn shutdown_signals() -> impl std::future::Future<Output = ()> {
    use tokio::signal::unix::{SignalKind, signal};
    let interrupt = signal(SignalKind::interrupt());
    let terminate = signal(SignalKind::terminate());
    async move {
        match (interrupt, terminate) {
            (Ok(mut interrupt), Ok(mut terminate)) => {
                tokio::select! {
                    _ = interrupt.recv() => {}
                    _ = terminate.recv() => {}
                }
            }
            _ => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
}

/// `vigia events …`: the broker comes from `--url`, else `VIGIA_EVENTSURL`, else the config
/// file's `eventsURL` (vigia.yml / mediamtx.yml in the working directory).
fn run_events_tool(mut args: Vec<String>) -> ExitCode {
    if !args.iter().any(|a| a == "--url") && std::env::var("VIGIA_EVENTSURL").is_err() {
        let env: HashMap<String, String> = std::env::vars().collect();
        if let Some(url) = Config::load(None, &env)
            .ok()
            .and_then(|l| l.config.events_url)
        {
            args.splice(0..0, ["--url".to_string(), url]);
        }
    }
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("vigia events: can't start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(vigia_events::cli::run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("vigia events: {}", error_chain(&e));
            ExitCode::FAILURE
        }
    }
}

/// An error and all its causes, `: `-separated.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
