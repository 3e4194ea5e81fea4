//! The path manager: which paths exist, who publishes to each, who reads, and the sources
//! (synthetic, RTSP pull) that Vigia starts itself.
//!
//! A path is created on first use from the config entry its name matches. It holds at most one
//! [`PathStream`] at a time; publishers and sources replace it, readers subscribe to it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use serde_yaml::Mapping;
use tokio::sync::{oneshot, watch};
use vigia_media::Track;

use crate::config::{Config, PathConf, PathMatcher, Source, check_path_name};
use crate::hls::HlsMuxers;
use crate::hooks::{self, Hook, HookEnv};
use crate::record::Recording;
use crate::registry::Registry;
use crate::sources;
use crate::stream::PathStream;
use crate::webrtc::sessions::WebrtcSessions;

mod demand;

use demand::{Demand, Running, Timer};

/// How often [`PathManager::forget_unused`] runs.
const FORGET_EVERY: Duration = Duration::from_secs(5);
/// How long a path that a client request created is kept unused before it is forgotten: longer
/// than a client takes between DESCRIBE and PLAY, or ANNOUNCE and RECORD.
const FORGET_AFTER: Duration = Duration::from_secs(10);

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

/// Why a runtime path was refused ([`PathManager::add_dynamic`]).
#[derive(Debug, thiserror::Error)]
pub(crate) enum DynamicPathError {
    /// The name could never name a path.
    #[error("invalid path name {name:?}: {problem}")]
    InvalidName {
        /// The name asked for.
        name: String,
        /// What is wrong with it.
        problem: &'static str,
    },
    /// The config file names this path exactly; a runtime path cannot replace it.
    #[error("path '{0}' is in the config file; a path added at runtime cannot replace it")]
    ConfigClash(String),
    /// The path could not be created.
    #[error(transparent)]
    Path(#[from] PathError),
}

/// All paths of the server.
///
/// Paths come from the config file and, at runtime, from [`PathManager::add_dynamic`] (cameras
/// announced on the event bus). A runtime path is looked up before the config's `~regex` and
/// `all_others` entries but may never take the name of an exactly named config path. A
/// reloaded config file replaces the configuration ([`PathManager::reload`]).
pub(crate) struct PathManager {
    /// The configuration now. Lock order: `paths`, then `config`; never held with `dynamic`.
    config: Mutex<Arc<Config>>,
    /// The configuration document as written (environment overrides applied), which the API
    /// shows; replaced with `config` by [`PathManager::reload`].
    document: Mutex<Arc<Mapping>>,
    paths: Mutex<HashMap<String, Arc<Path>>>,
    /// Runtime paths by name. Lock order: `paths`, then `dynamic`.
    dynamic: Mutex<HashMap<String, DynamicPath>>,
    /// Set once at start when anything records: each new path is offered to it.
    recording: OnceLock<Arc<Recording>>,
    /// Set once at start when the HLS listener runs: its live muxers.
    hls_muxers: OnceLock<Arc<HlsMuxers>>,
    /// Live RTSP connections and sessions, for the API.
    sessions: Arc<Registry>,
    /// Live WebRTC sessions, for the API.
    webrtc_sessions: Arc<WebrtcSessions>,
}

impl PathManager {
    /// A manager for `config`; call [`PathManager::start_static_sources`] once the runtime runs.
    pub(crate) fn new(config: Arc<Config>) -> Arc<Self> {
        Arc::new(Self {
            config: Mutex::new(config),
            document: Mutex::default(),
            paths: Mutex::new(HashMap::new()),
            dynamic: Mutex::new(HashMap::new()),
            recording: OnceLock::new(),
            hls_muxers: OnceLock::new(),
            sessions: Arc::default(),
            webrtc_sessions: Arc::default(),
        })
    }

    /// Live WebRTC sessions.
    pub(crate) fn webrtc_sessions(&self) -> &Arc<WebrtcSessions> {
        &self.webrtc_sessions
    }

    /// Live RTSP connections and sessions.
    pub(crate) fn sessions(&self) -> &Arc<Registry> {
        &self.sessions
    }

    /// Records every path whose config says `record: yes`, from its creation on.
    pub(crate) fn set_recording(&self, recording: Arc<Recording>) {
        let _ = self.recording.set(recording);
    }

    /// Shares the HLS listener's live muxers (with the metrics).
    pub(crate) fn set_hls_muxers(&self, muxers: Arc<HlsMuxers>) {
        let _ = self.hls_muxers.set(muxers);
    }

    /// The HLS listener's live muxers, when it runs.
    pub(crate) fn hls_muxers(&self) -> Option<&Arc<HlsMuxers>> {
        self.hls_muxers.get()
    }

    /// The server's configuration now (a reload may replace it; see [`PathManager::reload`]).
    pub(crate) fn config(&self) -> Arc<Config> {
        lock(&self.config).clone()
    }

    /// The configuration document as written, environment overrides applied.
    pub(crate) fn document(&self) -> Arc<Mapping> {
        lock(&self.document).clone()
    }

    /// Sets the document [`PathManager::document`] gives, at start.
    pub(crate) fn set_document(&self, document: Mapping) {
        *lock(&self.document) = Arc::new(document);
    }

    /// Applies a reloaded configuration (and its `document`, see [`PathManager::document`]).
    /// Each path in the table is looked up again: one whose configuration (merged `PathConf`,
    /// hook variables, how it was matched) is unchanged stays the same [`Path`], so its
    /// publisher, source and readers never notice; one that changed or is gone is retired
    /// (source stopped, readers closed). Runtime paths stay as they are. Then the sources of
    /// exactly named paths start, those that changed and those that are new. Returns the names
    /// retired, sorted.
    pub(crate) fn reload(self: &Arc<Self>, config: Arc<Config>, document: Mapping) -> Vec<String> {
        let retired: Vec<Arc<Path>> = {
            let mut paths = lock(&self.paths);
            *lock(&self.config) = config;
            *lock(&self.document) = Arc::new(document);
            let stale: Vec<String> = paths
                .iter()
                .filter(|(name, path)| !self.resolve(name).is_some_and(|r| path.is(&r)))
                .map(|(name, _)| name.clone())
                .collect();
            stale.iter().filter_map(|n| paths.remove(n)).collect()
        };
        for path in &retired {
            path.retire();
        }
        self.start_static_sources();
        let mut names: Vec<String> = retired.iter().map(|p| p.name.clone()).collect();
        names.sort();
        names
    }

    /// The recording machinery, when anything may record.
    pub(crate) fn recording(&self) -> Option<&Arc<Recording>> {
        self.recording.get()
    }

    /// Adds (or replaces) the runtime path `name` with `conf`, and starts its source unless it is
    /// on demand. A path of that name that already runs is retired first (its source stops, its
    /// readers are closed). `correlation_id` is carried on the source's span and on the events
    /// the path causes.
    pub(crate) fn add_dynamic(
        self: &Arc<Self>,
        name: &str,
        conf: PathConf,
        correlation_id: Option<String>,
    ) -> Result<Arc<Path>, DynamicPathError> {
        self.check_dynamic_name(name)?;
        let old = {
            let mut paths = lock(&self.paths);
            let entry = DynamicPath {
                conf,
                correlation_id,
            };
            lock(&self.dynamic).insert(name.to_string(), entry);
            paths.remove(name)
        };
        if let Some(old) = old {
            old.retire();
        }
        let path = self.get(name)?;
        if path.conf.source != Source::Publisher && !path.conf.source_on_demand {
            path.ensure_source_running();
        }
        Ok(path)
    }

    /// Removes the runtime path `name`: its source stops, its readers are closed, and the name
    /// is looked up in the config again. Returns whether such a path existed.
    pub(crate) fn remove_dynamic(&self, name: &str) -> bool {
        let old = {
            let mut paths = lock(&self.paths);
            if lock(&self.dynamic).remove(name).is_none() {
                return false;
            }
            paths.remove(name)
        };
        if let Some(old) = old {
            old.retire();
        }
        true
    }

    /// Whether `name` could be a runtime path: a valid name that no exactly named config path
    /// has.
    pub(crate) fn check_dynamic_name(&self, name: &str) -> Result<(), DynamicPathError> {
        if let Err(problem) = check_path_name(name) {
            let name = name.to_string();
            return Err(DynamicPathError::InvalidName { name, problem });
        }
        let clash = self
            .config()
            .paths
            .iter()
            .any(|e| matches!(e.matcher, PathMatcher::Exact) && e.name == name);
        if clash {
            return Err(DynamicPathError::ConfigClash(name.to_string()));
        }
        Ok(())
    }

    /// Starts what runs with the server: the sources of exactly named paths (see
    /// [`PathManager::start_static_sources`]) and the task that forgets unused paths
    /// ([`PathManager::forget_unused`]) every [`FORGET_EVERY`].
    pub(crate) fn start(self: &Arc<Self>) {
        self.start_static_sources();
        let manager = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(FORGET_EVERY);
            loop {
                tick.tick().await;
                let Some(manager) = manager.upgrade() else {
                    return;
                };
                manager.forget_unused(sources::unix_micros());
            }
        });
    }

    /// Forgets the paths that client requests created (names matched by a `~regex` or
    /// `all_others` entry) and that nobody has used for [`FORGET_AFTER`]: no stream, publisher,
    /// reader or running source, and no lookup. Returns how many. Config paths of an exact
    /// name and runtime paths stay.
    pub(crate) fn forget_unused(&self, now_us: i64) -> usize {
        let idle_us = i64::try_from(FORGET_AFTER.as_micros()).unwrap_or(i64::MAX);
        let forgotten: Vec<Arc<Path>> = {
            let mut paths = lock(&self.paths);
            let names: Vec<String> = paths
                .values()
                .filter(|p| p.is_forgettable(now_us, idle_us))
                .map(|p| p.name.clone())
                .collect();
            names.iter().filter_map(|n| paths.remove(n)).collect()
        };
        for path in &forgotten {
            path.retire();
        }
        forgotten.len()
    }

    /// Starts the sources of exactly named paths that are not on-demand (synthetic, RTSP pull).
    pub(crate) fn start_static_sources(self: &Arc<Self>) {
        let config = self.config();
        let exact = config
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
            path.touch();
            return Ok(path.clone());
        }
        let resolved = self
            .resolve(name)
            .ok_or_else(|| PathError::NotConfigured(name.to_string()))?;
        let path = Path::new(name, resolved);
        path.start_init_hook();
        paths.insert(name.to_string(), path.clone());
        if let Some(recording) = self.recording.get() {
            recording.watch(&path);
        }
        Ok(path)
    }

    /// Every path created so far whose source Vigia pulls (RTSP), sorted by name.
    pub(crate) fn pulled_paths(&self) -> Vec<Arc<Path>> {
        let paths = lock(&self.paths);
        let mut pulled: Vec<Arc<Path>> = paths
            .values()
            .filter(|p| p.conf.has_pulled_source())
            .cloned()
            .collect();
        pulled.sort_by(|a, b| a.name.cmp(&b.name));
        pulled
    }

    /// Every path created so far, sorted by name.
    pub(crate) fn all(&self) -> Vec<Arc<Path>> {
        let mut all: Vec<Arc<Path>> = lock(&self.paths).values().cloned().collect();
        all.sort_by(|a, b| a.name.cmp(&b.name));
        all
    }

    /// Whether `name` is a runtime path (added by the API or an event camera).
    pub(crate) fn is_runtime(&self, name: &str) -> bool {
        lock(&self.dynamic).contains_key(name)
    }

    /// The name of the configuration entry `name` takes its config from: itself for a runtime
    /// path, else the matching `paths` entry (`cam1`, `~^cam`, `all_others`).
    pub(crate) fn conf_name(&self, name: &str) -> Option<String> {
        if self.is_runtime(name) {
            return Some(name.to_string());
        }
        self.config()
            .path_config(name)
            .map(|m| m.entry.name.clone())
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

    /// What `name` is configured as now: its runtime path, else the config entry it matches.
    /// Takes `dynamic`, then `config`, never both at once.
    fn resolve(&self, name: &str) -> Option<Resolved> {
        let dynamic = lock(&self.dynamic).get(name).map(|d| Resolved {
            conf: d.conf.clone(),
            correlation_id: d.correlation_id.clone(),
            hook_env: Vec::new(),
            from_request: false,
        });
        let config = self.config();
        if let Some(mut resolved) = dynamic {
            resolved.hook_env = hook_env(name, &[], &config.rtsp_address);
            return Some(resolved);
        }
        let m = config.path_config(name)?;
        Some(Resolved {
            conf: m.conf_for(name, ""),
            correlation_id: None,
            hook_env: hook_env(name, &m.groups, &config.rtsp_address),
            from_request: !matches!(m.entry.matcher, PathMatcher::Exact),
        })
    }
}

/// What a path name resolves to in the configuration: what [`PathManager::get`] builds a
/// [`Path`] from, and what [`PathManager::reload`] compares a running path with.
struct Resolved {
    conf: PathConf,
    correlation_id: Option<String>,
    hook_env: HookEnv,
    /// Matched by a `~regex` or `all_others` entry (forgotten once unused).
    from_request: bool,
}

/// The connection state of a source Vigia runs (RTSP pull), for health reports.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct SourceStatus {
    /// Connected and playing.
    pub(crate) online: bool,
    /// Connections lost or failed since the path was created.
    pub(crate) failures: u64,
    /// Why the last connection failed or ended, as the source said it.
    pub(crate) last_error: Option<String>,
}

/// The hooks that last as long as a path or its stream.
#[derive(Default)]
struct PathHooks {
    init: Option<Hook>,
    available: Option<Hook>,
}

/// The variables of a path's hooks, as MediaMTX gives them: `MTX_PATH`, `MTX_QUERY` (empty:
/// Vigia does not keep the publisher's query yet), `RTSP_PORT` (from `rtspAddress`) and the
/// regular-expression groups `G1`, `G2`….
fn hook_env(name: &str, groups: &[String], rtsp_address: &str) -> HookEnv {
    let mut env = vec![
        ("MTX_PATH".to_owned(), name.to_owned()),
        ("MTX_QUERY".to_owned(), String::new()),
        (
            "RTSP_PORT".to_owned(),
            hooks::rtsp_port(rtsp_address).to_owned(),
        ),
    ];
    let numbered = groups.iter().enumerate();
    env.extend(numbered.map(|(i, g)| (format!("G{}", i + 1), g.clone())));
    env
}

/// A path added at runtime.
struct DynamicPath {
    conf: PathConf,
    correlation_id: Option<String>,
}

/// One path: its config, its current stream, its publisher and its readers.
pub(crate) struct Path {
    /// The path's name as requested (no leading slash).
    pub(crate) name: String,
    /// The merged config of the entry the name matched.
    pub(crate) conf: PathConf,
    /// For a runtime path, the correlation id of the event that added it.
    pub(crate) correlation_id: Option<String>,
    /// Set once the path left the manager (a runtime path removed or replaced).
    retired: AtomicBool,
    /// Created by a client's request for a name a `~regex` or `all_others` entry matched:
    /// forgotten once unused ([`PathManager::forget_unused`]).
    from_request: bool,
    /// The last lookup of the path (UNIX µs).
    last_used_us: AtomicI64,
    /// What the path's hook commands get: `MTX_PATH`, `MTX_QUERY`, `RTSP_PORT`, `G1`….
    hook_env: HookEnv,
    /// `runOnInit` (while the path exists) and `runOnAvailable` (while it has a stream).
    hooks: Mutex<PathHooks>,
    /// What the source Vigia runs for the path last said about its connection.
    source_status: Mutex<SourceStatus>,
    state: Mutex<PathState>,
    ready: watch::Sender<Option<Arc<PathStream>>>,
}

#[derive(Default)]
struct PathState {
    publisher: Option<Publisher>,
    next_publisher_id: u64,
    readers: usize,
    /// A source that runs with the path (not on demand).
    source: Option<sources::SourceHandle>,
    /// Where the on-demand source or `runOnDemand` is.
    demand: Demand,
    /// The on-demand source or `runOnDemand` while [`PathState::demand`] is not idle.
    running: Option<Running>,
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
    /// `runOnRead`, stopped with the guard.
    hook: Option<Hook>,
}

impl Path {
    fn new(name: &str, resolved: Resolved) -> Arc<Self> {
        let (ready, _) = watch::channel(None);
        Arc::new(Self {
            name: name.to_string(),
            conf: resolved.conf,
            correlation_id: resolved.correlation_id,
            retired: AtomicBool::new(false),
            from_request: resolved.from_request,
            last_used_us: AtomicI64::new(sources::unix_micros()),
            hook_env: resolved.hook_env,
            hooks: Mutex::default(),
            source_status: Mutex::default(),
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

    /// The source's connection state.
    pub(crate) fn source_status(&self) -> SourceStatus {
        lock(&self.source_status).clone()
    }

    /// Called by a source Vigia runs once it plays.
    pub(crate) fn source_connected(&self) {
        lock(&self.source_status).online = true;
    }

    /// Called by a source Vigia runs when a connection attempt failed or the connection ended.
    pub(crate) fn source_failed(&self, error: &str) {
        let mut status = lock(&self.source_status);
        status.online = false;
        status.failures += 1;
        status.last_error = Some(error.to_owned());
    }

    /// Readers attached now.
    pub(crate) fn readers(&self) -> usize {
        lock(&self.state).readers
    }

    /// Notes a lookup: a path in use is not forgotten.
    fn touch(&self) {
        self.last_used_us
            .store(sources::unix_micros(), Ordering::Relaxed);
    }

    /// Whether [`PathManager::forget_unused`] may forget the path at `now_us`.
    fn is_forgettable(&self, now_us: i64, idle_us: i64) -> bool {
        if !self.from_request
            || now_us - self.last_used_us.load(Ordering::Relaxed) < idle_us
            || self.stream().is_some()
        {
            return false;
        }
        let state = lock(&self.state);
        state.publisher.is_none()
            && state.readers == 0
            && state.source.is_none()
            && state.running.is_none()
    }

    /// Whether the path is what `resolved` would build now (a config reload keeps it).
    fn is(&self, resolved: &Resolved) -> bool {
        self.conf == resolved.conf
            && self.hook_env == resolved.hook_env
            && self.correlation_id == resolved.correlation_id
            && self.from_request == resolved.from_request
    }

    /// Whether the path left the manager; its stream watchers should stop following it.
    pub(crate) fn is_retired(&self) -> bool {
        self.retired.load(Ordering::Acquire)
    }

    /// Takes the path out of service: stops its source and closes its stream (readers and the
    /// recorder see it end, then [`Path::is_retired`]).
    fn retire(&self) {
        self.retired.store(true, Ordering::Release);
        lock(&self.hooks).init = None;
        let (source, running) = {
            let mut state = lock(&self.state);
            state.demand.stop();
            (state.source.take(), state.running.take())
        };
        if let Some(source) = source {
            source.stop();
        }
        if let Some(running) = running {
            running.stop(&self.name, "path removed");
        }
        self.replace_stream(None);
        tracing::info!(path = %self.name, "path removed");
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
        self.demand_available(&mut state);
        drop(state);
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
    pub(crate) fn source_ready(self: &Arc<Self>, tracks: Vec<Track>) -> Arc<PathStream> {
        if let Some(stream) = self.stream().filter(|s| s.accepts(&tracks)) {
            stream.resume();
            return stream;
        }
        let stream = PathStream::new(&self.name, tracks);
        tracing::info!(path = %self.name, "source is ready: {}", stream.describe());
        self.replace_stream(Some(stream.clone()));
        self.demand_available(&mut lock(&self.state));
        stream
    }

    /// Registers a reader, starting an on-demand source and waiting for it when needed.
    pub(crate) async fn read(
        self: &Arc<Self>,
    ) -> Result<(Arc<PathStream>, ReaderGuard), PathError> {
        self.reserve_reader()?;
        let guard = ReaderGuard {
            path: self.clone(),
            hook: self.start_read_hook(),
        };
        let stream = self.wait_ready().await?;
        Ok((stream, guard))
    }

    /// The current stream. With none, a path with a source Vigia runs starts it if needed, a
    /// path with `runOnDemand` starts the command (see [`demand`]), and the caller waits up to
    /// the start timeout for the stream.
    pub(crate) async fn wait_ready(self: &Arc<Self>) -> Result<Arc<PathStream>, PathError> {
        if let Some(stream) = self.stream() {
            return Ok(stream);
        }
        if let Some(policy) = demand::policy(&self.conf) {
            self.start_on_demand(&policy);
            return self.wait_stream(policy.start_timeout).await;
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
        state.demand.reader_added();
        Ok(())
    }

    /// Starts the on-demand source or `runOnDemand` unless it runs or a stream came meanwhile.
    fn start_on_demand(self: &Arc<Self>, policy: &demand::Policy) {
        let mut state = lock(&self.state);
        if self.is_retired() || self.stream().is_some() {
            return;
        }
        let Some(timer) = state.demand.start(policy) else {
            return;
        };
        state.running = Some(match self.conf.source {
            Source::Publisher => Running::command(&self.name, &self.conf, &self.hook_env),
            _ => Running::Source(sources::start(self.clone())),
        });
        drop(state);
        self.arm(timer);
    }

    /// The stream became ready: an on-demand start is over (see [`Demand::available`]).
    fn demand_available(self: &Arc<Self>, state: &mut PathState) {
        let Some(policy) = demand::policy(&self.conf) else {
            return;
        };
        if let Some(timer) = state.demand.available(state.readers, &policy) {
            self.arm(timer);
        }
    }

    /// Fires `timer` when it is due; if it still counts, stops what runs on demand.
    fn arm(self: &Arc<Self>, timer: Timer) {
        let path = Arc::downgrade(self);
        tokio::spawn(async move {
            tokio::time::sleep(timer.after).await;
            let Some(path) = path.upgrade() else {
                return;
            };
            let running = {
                let mut state = lock(&path.state);
                if !state.demand.fire(&timer) {
                    return;
                }
                state.running.take()
            };
            if let Some(running) = running {
                path.stop_on_demand(running, timer.reason());
            }
        });
    }

    /// Stops what ran on demand; a source's stream ends with it.
    fn stop_on_demand(&self, running: Running, reason: &str) {
        let source = running.is_source();
        running.stop(&self.name, reason);
        if source {
            self.replace_stream(None);
        }
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
        if self.is_retired() {
            return;
        }
        if state.source.as_ref().is_some_and(|s| !s.is_finished()) {
            return;
        }
        state.source = Some(sources::start(self.clone()));
    }

    fn replace_stream(&self, stream: Option<Arc<PathStream>>) {
        let available = stream.is_some();
        let old = self.ready.send_replace(stream);
        let was_available = old.is_some();
        if let Some(old) = old {
            old.close();
        }
        match (was_available, available) {
            (false, true) => self.start_available_hook(),
            (true, false) => self.end_available_hook(),
            _ => {}
        }
    }

    /// What the path's hook commands get: `MTX_PATH`, `MTX_QUERY`, `RTSP_PORT`, `G1`….
    pub(crate) fn hook_env(&self) -> &HookEnv {
        &self.hook_env
    }

    /// Starts `runOnInit`, which runs until the path is retired.
    fn start_init_hook(&self) {
        let h = &self.conf.hooks;
        let what = format!("runOnInit of path {}", self.name);
        let hook = hooks::start(
            &h.run_on_init,
            self.hook_env.clone(),
            h.run_on_init_restart,
            what,
        );
        lock(&self.hooks).init = hook;
    }

    fn start_available_hook(&self) {
        let h = &self.conf.hooks;
        let what = format!("runOnAvailable of path {}", self.name);
        let env = self.hook_env.clone();
        let hook = hooks::start(&h.run_on_available, env, h.run_on_available_restart, what);
        lock(&self.hooks).available = hook;
    }

    /// Stops `runOnAvailable` and runs `runOnUnavailable`.
    fn end_available_hook(&self) {
        lock(&self.hooks).available = None;
        let what = format!("runOnUnavailable of path {}", self.name);
        hooks::run_detached(
            &self.conf.hooks.run_on_unavailable,
            self.hook_env.clone(),
            what,
        );
    }

    /// Starts `runOnRead` for a new reader; the guard stops it.
    fn start_read_hook(&self) -> Option<Hook> {
        let h = &self.conf.hooks;
        let what = format!("runOnRead of path {}", self.name);
        hooks::start(
            &h.run_on_read,
            self.hook_env.clone(),
            h.run_on_read_restart,
            what,
        )
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
        if state.readers > 0 {
            return;
        }
        let Some(policy) = demand::policy(&self.conf) else {
            return;
        };
        if let Some(timer) = state.demand.readers_gone(&policy) {
            drop(state);
            self.arm(timer);
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
        // Stops `runOnRead` before `runOnUnread` starts.
        self.hook = None;
        let unread = &self.path.conf.hooks.run_on_unread;
        if !unread.is_empty() {
            let what = format!("runOnUnread of path {}", self.path.name);
            hooks::run_detached(unread, self.path.hook_env.clone(), what);
        }
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

    fn config(yaml: &str) -> Arc<Config> {
        let loaded = Config::from_yaml_str(yaml, "test.yml", &HashMap::new()).unwrap();
        Arc::new(loaded.config)
    }

    #[tokio::test]
    async fn a_reload_keeps_unchanged_paths_and_retires_changed_and_removed_ones() {
        let paths = manager("paths:\n  a:\n  b:\n  c:\n    maxReaders: 2\n  ~^cam(\\d+)$:\n");
        let a = paths.get("a").unwrap();
        let b = paths.get("b").unwrap();
        let c = paths.get("c").unwrap();
        let cam = paths.get("cam1").unwrap();
        let event_camera = paths
            .add_dynamic("event", PathConf::default(), Some("corr".into()))
            .unwrap();
        let retired = paths.reload(
            config("paths:\n  a:\n  c:\n    maxReaders: 3\n  d:\n  ~^cam(\\d+)$:\n"),
            Mapping::new(),
        );
        assert_eq!(retired, ["b", "c"]);
        assert!(
            Arc::ptr_eq(&paths.get("a").unwrap(), &a),
            "a unchanged: same path"
        );
        assert!(
            Arc::ptr_eq(&paths.get("cam1").unwrap(), &cam),
            "same regex entry"
        );
        assert!(Arc::ptr_eq(&paths.get("event").unwrap(), &event_camera));
        assert!(b.is_retired() && c.is_retired() && !a.is_retired());
        assert!(matches!(paths.get("b"), Err(PathError::NotConfigured(_))));
        assert_eq!(paths.get("c").unwrap().conf.max_readers, 3, "restarted");
        assert!(
            lock(&paths.paths).contains_key("d"),
            "new exact path created"
        );
    }

    #[tokio::test]
    async fn a_reload_restarts_paths_whose_defaults_or_matching_entry_changed() {
        let paths = manager("paths:\n  ~^cam(\\d+)$:\n  all_others:\n");
        let cam = paths.get("cam1").unwrap();
        let other = paths.get("x").unwrap();
        let retired = paths.reload(
            config("pathDefaults:\n  maxReaders: 1\npaths:\n  ~^(cam)(\\d+)$:\n  all_others:\n"),
            Mapping::new(),
        );
        assert_eq!(retired, ["cam1", "x"], "new defaults and new regex groups");
        assert!(cam.is_retired() && other.is_retired());
        let retired = paths.reload(
            config("pathDefaults:\n  maxReaders: 1\npaths:\n  ~^(cam)(\\d+)$:\n  all_others:\n"),
            Mapping::new(),
        );
        assert!(retired.is_empty(), "same file again: nothing restarts");
    }

    /// A path `cam` whose `runOnDemand` never publishes (a sleep) and whose `runOnUnDemand`
    /// creates `marker`, with 300 ms timeouts.
    fn on_demand(marker: &std::path::Path) -> Arc<Path> {
        let yaml = format!(
            "paths:\n  cam:\n    runOnDemand: sleep 30\n    runOnDemandStartTimeout: 300ms\n    runOnDemandCloseAfter: 300ms\n    runOnUnDemand: touch {}\n",
            marker.display()
        );
        manager(&yaml).get("cam").unwrap()
    }

    /// Whether `file` exists within 3 s.
    async fn appears(file: &std::path::Path) -> bool {
        for _ in 0..60 {
            if file.exists() {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        false
    }

    fn marker(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("vigia-demand-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        dir.join(name)
    }

    #[tokio::test]
    async fn run_on_demand_that_never_publishes_times_out_then_run_on_un_demand_runs() {
        let marker = marker("undemand");
        let cam = on_demand(&marker);
        let err = cam.read().await.err().expect("no stream came");
        assert!(matches!(err, PathError::SourceTimeout(_)), "{err}");
        assert!(appears(&marker).await, "runOnUnDemand ran");
        assert_eq!(lock(&cam.state).demand.phase(), demand::Phase::Idle);
        assert!(lock(&cam.state).running.is_none());
        let _ = std::fs::remove_dir_all(marker.parent().unwrap());
    }

    #[tokio::test]
    async fn run_on_demand_stops_close_after_its_last_reader_left() {
        let marker = marker("undemand");
        let cam = on_demand(&marker);
        let waiting = tokio::spawn({
            let cam = cam.clone();
            async move { cam.read().await.map(|(_, guard)| guard) }
        });
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(lock(&cam.state).demand.phase(), demand::Phase::Starting);
        let _publisher = cam.publish(Vec::new()).unwrap();
        let reader = waiting.await.unwrap().expect("the publisher came in time");
        assert_eq!(lock(&cam.state).demand.phase(), demand::Phase::Ready);
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert!(!marker.exists(), "kept while read, past the start timeout");
        drop(reader);
        assert_eq!(lock(&cam.state).demand.phase(), demand::Phase::Closing);
        assert!(appears(&marker).await, "stopped after closeAfter");
        assert_eq!(lock(&cam.state).demand.phase(), demand::Phase::Idle);
        let _ = std::fs::remove_dir_all(marker.parent().unwrap());
    }

    #[tokio::test]
    async fn paths_that_requests_created_are_forgotten_once_unused() {
        let paths = manager("paths:\n  fixed:\n  ~^cam:\n    source: publisher\n  all_others:\n");
        let asked = paths.get("other").unwrap();
        let regex = paths.get("cam9").unwrap();
        let fixed = paths.get("fixed").unwrap();
        regex.reserve_reader().unwrap();
        let reader = ReaderGuard {
            path: regex.clone(),
            hook: None,
        };
        let later = sources::unix_micros() + 11_000_000;
        assert_eq!(
            paths.forget_unused(later),
            1,
            "only the unused request path"
        );
        assert!(asked.is_retired() && !regex.is_retired() && !fixed.is_retired());
        drop(reader);
        assert_eq!(paths.forget_unused(later), 1, "the reader left");
        assert_eq!(
            paths.forget_unused(later),
            0,
            "config paths of an exact name stay"
        );
        assert!(
            !Arc::ptr_eq(&paths.get("other").unwrap(), &asked),
            "a new path"
        );
        assert_eq!(
            paths.forget_unused(sources::unix_micros() + 1_000_000),
            0,
            "a path just looked up is kept"
        );
    }
}
