//! The path manager: which paths exist, who publishes to each, who reads, and the sources
//! (synthetic, RTSP pull) that Vigia starts itself.
//!
//! A path is created on first use from the config entry its name matches. It holds at most one
//! [`PathStream`] at a time; publishers and sources replace it, readers subscribe to it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use tokio::sync::{oneshot, watch};
use vigia_media::Track;

use crate::config::{Config, PathConf, PathMatcher, Source, check_path_name};
use crate::record::Recording;
use crate::sources;
use crate::stream::PathStream;

/// Why a path operation was refused; each maps to an RTSP status in the driver.
#[derive(Debug, thiserror::Error)]
pub(crate) enum PathError {
    /// The name could never name a path (`..`, `\`, control characters…): a bad request.
    #[error("invalid path name {name:?}: {problem}")]
    InvalidName {
        /// The name as requested.
        name: String,
        /// What is wrong with it.
        problem: &'static str,
    },
    /// No `paths` entry matches the name.
    #[error("path '{0}' is not configured")]
    NotConfigured(String),
    /// Nobody publishes and no source produces the path now.
    #[error("no stream is available on path '{0}'")]
    NoStream(String),
    /// The path's source is not `publisher`.
    #[error("path '{name}' has source '{configured}', it can't be published to")]
    NotPublishable {
        /// Path name.
        name: String,
        /// Its configured source.
        configured: String,
    },
    /// Someone publishes already and `overridePublisher` is off.
    #[error("someone is already publishing to path '{0}'")]
    AlreadyPublishing(String),
    /// `maxReaders` reached.
    #[error("path '{0}' has reached maxReaders")]
    TooManyReaders(String),
    /// The on-demand source did not become ready in `sourceOnDemandStartTimeout`.
    #[error("source of path '{0}' did not start in time")]
    SourceTimeout(String),
}

/// All paths of the server.
pub(crate) struct PathManager {
    config: Arc<Config>,
    paths: Mutex<HashMap<String, Arc<Path>>>,
    /// Set once at start when anything records: each new path is offered to it.
    recording: OnceLock<Arc<Recording>>,
}

impl PathManager {
    /// A manager for `config`; call [`PathManager::start_static_sources`] once the runtime runs.
    pub(crate) fn new(config: Arc<Config>) -> Arc<Self> {
        Arc::new(Self {
            config,
            paths: Mutex::new(HashMap::new()),
            recording: OnceLock::new(),
        })
    }

    /// Records every path whose config says `record: yes`, from its creation on.
    pub(crate) fn set_recording(&self, recording: Arc<Recording>) {
        let _ = self.recording.set(recording);
    }

    /// The server's configuration.
    pub(crate) fn config(&self) -> &Arc<Config> {
        &self.config
    }

    /// Starts the sources of exactly named paths that are not on-demand (synthetic, RTSP pull).
    pub(crate) fn start_static_sources(self: &Arc<Self>) {
        let exact = self
            .config
            .paths
            .iter()
            .filter(|e| matches!(e.matcher, PathMatcher::Exact));
        for entry in exact {
            let Ok(path) = self.get(&entry.name) else {
                continue;
            };
            if path.conf.source != Source::Publisher && !path.conf.source_on_demand {
                path.ensure_source_running();
            }
        }
    }

    /// The path called `name`, created from its config entry on first use.
    ///
    /// A name [`check_path_name`] refuses (`..`, `\`, control characters, `//`, a leading
    /// or trailing slash…) never reaches the config lookup or the path table.
    pub(crate) fn get(self: &Arc<Self>, name: &str) -> Result<Arc<Path>, PathError> {
        if let Err(problem) = check_path_name(name) {
            tracing::debug!(path = ?name, "refused: invalid path name: {problem}");
            let name = name.to_string();
            return Err(PathError::InvalidName { name, problem });
        }
        let mut paths = lock(&self.paths);
        if let Some(path) = paths.get(name) {
            return Ok(path.clone());
        }
        let conf = self
            .config
            .path_config(name)
            .map(|m| m.conf_for(name, ""))
            .ok_or_else(|| PathError::NotConfigured(name.to_string()))?;
        let path = Path::new(name, conf);
        paths.insert(name.to_string(), path.clone());
        if let Some(recording) = self.recording.get() {
            recording.watch(&path);
        }
        Ok(path)
    }

    /// Names of paths with a stream ready now, sorted.
    #[allow(dead_code)]
    pub(crate) fn ready_paths(&self) -> Vec<String> {
        let paths = lock(&self.paths);
        let mut names: Vec<String> = paths
            .values()
            .filter(|p| p.stream().is_some())
            .map(|p| p.name.clone())
            .collect();
        names.sort();
        names
    }
}

/// One path: its config, its current stream, its publisher and its readers.
pub(crate) struct Path {
    /// The path's name as requested (no leading slash).
    pub(crate) name: String,
    /// The merged config of the entry the name matched.
    pub(crate) conf: PathConf,
    state: Mutex<PathState>,
    ready: watch::Sender<Option<Arc<PathStream>>>,
}

#[derive(Default)]
struct PathState {
    publisher: Option<Publisher>,
    next_publisher_id: u64,
    readers: usize,
    source: Option<sources::SourceHandle>,
}

struct Publisher {
    id: u64,
    kick: Option<oneshot::Sender<()>>,
}

/// Proof of publishing: dropping it (or calling [`PublishGuard::finish`]) ends the stream unless
/// another publisher replaced this one.
pub(crate) struct PublishGuard {
    path: Arc<Path>,
    id: u64,
    /// Fires when another publisher took over the path (`overridePublisher`).
    pub(crate) kicked: oneshot::Receiver<()>,
    /// The stream this publisher writes to.
    pub(crate) stream: Arc<PathStream>,
}

/// Proof of reading; dropping it releases the reader slot (and may stop an on-demand source).
pub(crate) struct ReaderGuard {
    path: Arc<Path>,
}

impl Path {
    fn new(name: &str, conf: PathConf) -> Arc<Self> {
        let (ready, _) = watch::channel(None);
        Arc::new(Self {
            name: name.to_string(),
            conf,
            state: Mutex::default(),
            ready,
        })
    }

    /// Follows the path's stream as publishers and sources come and go.
    pub(crate) fn watch_stream(&self) -> watch::Receiver<Option<Arc<PathStream>>> {
        self.ready.subscribe()
    }

    /// The stream being produced now, if any.
    pub(crate) fn stream(&self) -> Option<Arc<PathStream>> {
        self.ready.borrow().clone()
    }

    /// Whether a client may publish here (the path's source is `publisher`).
    pub(crate) fn check_publishable(&self) -> Result<(), PathError> {
        match &self.conf.source {
            Source::Publisher => Ok(()),
            other => Err(PathError::NotPublishable {
                name: self.name.clone(),
                configured: format!("{other:?}"),
            }),
        }
    }

    /// Registers a publisher with `tracks`, replacing the current one when `overridePublisher`
    /// allows. The returned guard carries the new stream.
    pub(crate) fn publish(self: &Arc<Self>, tracks: Vec<Track>) -> Result<PublishGuard, PathError> {
        self.check_publishable()?;
        let mut state = lock(&self.state);
        if let Some(old) = state.publisher.as_mut() {
            if !self.conf.override_publisher {
                return Err(PathError::AlreadyPublishing(self.name.clone()));
            }
            if let Some(kick) = old.kick.take() {
                let _ = kick.send(());
            }
        }
        state.next_publisher_id += 1;
        let id = state.next_publisher_id;
        let (kick, kicked) = oneshot::channel();
        state.publisher = Some(Publisher {
            id,
            kick: Some(kick),
        });
        let stream = PathStream::new(&self.name, tracks);
        self.replace_stream(Some(stream.clone()));
        tracing::info!(path = %self.name, "publisher {id} is publishing {}", stream.describe());
        Ok(PublishGuard {
            path: self.clone(),
            id,
            kicked,
            stream,
        })
    }

    /// Called by a source Vigia runs itself when it has (re)connected with `tracks`: keeps the
    /// current stream when the tracks are compatible, so readers stay across a reconnect.
    pub(crate) fn source_ready(&self, tracks: Vec<Track>) -> Arc<PathStream> {
        if let Some(stream) = self.stream().filter(|s| s.accepts(&tracks)) {
            stream.resume();
            return stream;
        }
        let stream = PathStream::new(&self.name, tracks);
        tracing::info!(path = %self.name, "source is ready: {}", stream.describe());
        self.replace_stream(Some(stream.clone()));
        stream
    }

    /// Registers a reader, starting an on-demand source and waiting for it when needed.
    pub(crate) async fn read(
        self: &Arc<Self>,
    ) -> Result<(Arc<PathStream>, ReaderGuard), PathError> {
        self.reserve_reader()?;
        let guard = ReaderGuard { path: self.clone() };
        let stream = self.wait_ready().await?;
        Ok((stream, guard))
    }

    /// The current stream; for a path with a source Vigia runs, starts it if needed and waits
    /// up to `sourceOnDemandStartTimeout` for it to be ready.
    pub(crate) async fn wait_ready(self: &Arc<Self>) -> Result<Arc<PathStream>, PathError> {
        if let Some(stream) = self.stream() {
            return Ok(stream);
        }
        if self.conf.source == Source::Publisher {
            return Err(PathError::NoStream(self.name.clone()));
        }
        self.ensure_source_running();
        self.wait_stream(self.conf.source_on_demand_start_timeout)
            .await
    }

    fn reserve_reader(&self) -> Result<(), PathError> {
        let mut state = lock(&self.state);
        let max = self.conf.max_readers;
        if max != 0 && state.readers >= max as usize {
            return Err(PathError::TooManyReaders(self.name.clone()));
        }
        state.readers += 1;
        Ok(())
    }

    async fn wait_stream(&self, limit: Duration) -> Result<Arc<PathStream>, PathError> {
        let mut rx = self.ready.subscribe();
        let wait = rx.wait_for(Option::is_some);
        match tokio::time::timeout(limit, wait).await {
            Ok(Ok(stream)) => stream
                .clone()
                .ok_or_else(|| PathError::NoStream(self.name.clone())),
            _ => Err(PathError::SourceTimeout(self.name.clone())),
        }
    }

    fn ensure_source_running(self: &Arc<Self>) {
        let mut state = lock(&self.state);
        if state.source.as_ref().is_some_and(|s| !s.is_finished()) {
            return;
        }
        state.source = Some(sources::start(self.clone()));
    }

    fn replace_stream(&self, stream: Option<Arc<PathStream>>) {
        let old = self.ready.send_replace(stream);
        if let Some(old) = old {
            old.close();
        }
    }

    fn end_publisher(&self, id: u64) {
        let mut state = lock(&self.state);
        if state.publisher.as_ref().is_some_and(|p| p.id == id) {
            state.publisher = None;
            drop(state);
            self.replace_stream(None);
            tracing::info!(path = %self.name, "publisher {id} stopped publishing");
        }
    }

    fn release_reader(self: &Arc<Self>) {
        let mut state = lock(&self.state);
        state.readers = state.readers.saturating_sub(1);
        if state.readers > 0 || !self.conf.source_on_demand || state.source.is_none() {
            return;
        }
        drop(state);
        let path = self.clone();
        tokio::spawn(async move { path.close_idle_source().await });
    }

    async fn close_idle_source(self: Arc<Self>) {
        tokio::time::sleep(self.conf.source_on_demand_close_after).await;
        let mut state = lock(&self.state);
        if state.readers > 0 {
            return;
        }
        if let Some(source) = state.source.take() {
            source.stop();
            drop(state);
            self.replace_stream(None);
            tracing::info!(path = %self.name, "on-demand source closed: no readers");
        }
    }
}

impl PublishGuard {
    /// Ends publishing now.
    pub(crate) fn finish(self) {}
}

impl Drop for PublishGuard {
    fn drop(&mut self) {
        self.path.end_publisher(self.id);
    }
}

impl Drop for ReaderGuard {
    fn drop(&mut self) {
        self.path.release_reader();
    }
}

/// Locks a mutex, recovering the data if a panicking thread poisoned it (the state stays
/// consistent: every critical section here is a few assignments).
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn manager(yaml: &str) -> Arc<PathManager> {
        let loaded = Config::from_yaml_str(yaml, "test.yml", &HashMap::new()).unwrap();
        PathManager::new(Arc::new(loaded.config))
    }

    #[test]
    fn unsafe_names_are_refused_before_any_path_exists() {
        let paths = manager("paths:\n  all_others:\n");
        for name in [
            "../etc", "a/../b", "cam..1", "a\\b", "a\u{1}b", "/cam", "cam/", "a//b",
        ] {
            let err = paths.get(name).err().expect(name);
            assert!(
                matches!(err, PathError::InvalidName { .. }),
                "{name:?}: {err}"
            );
        }
        assert!(lock(&paths.paths).is_empty(), "no path was created");
        assert_eq!(paths.get("cam/1").unwrap().name, "cam/1");
    }
}
