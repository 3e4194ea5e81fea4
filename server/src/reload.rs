//! Hot reload of the config file: when the file changes (checked every second) or the
//! process gets SIGHUP, it is loaded again and applied to the running server.
//!
//! - What applies at once: `paths` and `pathDefaults` (see [`PathManager::reload`]: unchanged
//!   paths keep streaming, changed ones restart, removed ones stop, new ones start), the keys
//!   read on each request or connection: `authInternalUsers`, `apiAllowOrigins`,
//!   `metricsAllowOrigins`, `runOnConnect`, `runOnConnectRestart`, `runOnDisconnect`, and
//!   `logLevel` (the log filter is swapped) ([`LIVE_KEYS`]). Paths added through the API or by
//!   event cameras stay as they are.
//! - Every other global key (listeners' addresses, `rtsp`, `hls*`, `logDestinations`…) keeps
//!   its running value; a change is logged as `changed <key>: restart vigia to apply`.
//! - A file that does not load (bad YAML, an unknown key, a bad value) changes nothing: the
//!   error, naming the key and line, is logged and the running configuration stays.
//! - The global and `pathDefaults` changes saved through the API are laid over the file again,
//!   as at start, and environment overrides still win.
//!
//! Only a server started from a file watches it; built-in defaults have nothing to reload.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde_yaml::{Mapping, Value};
use tokio::task::JoinHandle;

use crate::config::{Config, Loaded, PathMatcher};
use crate::paths::PathManager;

/// How often the file's modification time and size are checked.
const POLL_EVERY: Duration = Duration::from_secs(1);
/// How long a change must settle before the file is read (editors write in steps).
const SETTLE: Duration = Duration::from_millis(300);
/// Top-level keys a reload applies to the running server.
pub(crate) const LIVE_KEYS: &[&str] = &[
    "paths",
    "pathDefaults",
    "authInternalUsers",
    "apiAllowOrigins",
    "metricsAllowOrigins",
    "runOnConnect",
    "runOnConnectRestart",
    "runOnDisconnect",
    "logLevel",
];

/// Watches `file` (and SIGHUP) and applies each new version to `paths` until aborted. `env`
/// is the process environment the file was loaded with; `loaded` is the file's [`stamp`] when
/// it was loaded, so a change made while the listeners were opening (before this starts) is
/// reloaded too.
pub(crate) fn start(
    paths: Arc<PathManager>,
    file: PathBuf,
    env: HashMap<String, String>,
    loaded: Stamp,
) -> JoinHandle<()> {
    let reloader = Reloader { paths, file, env };
    tokio::spawn(async move { reloader.run(loaded).await })
}

/// What a reload applies.
pub(crate) struct Live {
    /// The new configuration with the running values of the keys that need a restart.
    pub(crate) config: Config,
    /// Its document (what the API shows), built the same way.
    pub(crate) document: Mapping,
    /// Keys, as written, whose change needs a restart.
    pub(crate) restart: Vec<String>,
}

/// `new` as the running server can take it: `running`'s values for every global key a reload
/// does not apply, `new`'s for [`LIVE_KEYS`]; the same for the documents `running_doc` and
/// `new.raw`, which also tell the keys whose change needs a restart.
pub(crate) fn live_config(running: &Config, running_doc: &Mapping, new: &Loaded) -> Live {
    let mut document = running_doc.clone();
    for key in LIVE_KEYS {
        match new.raw.get(*key) {
            Some(value) => document.insert(Value::from(*key), value.clone()),
            None => document.remove(*key),
        };
    }
    let mut config = running.clone();
    config.paths = new.config.paths.clone();
    config.path_defaults = new.config.path_defaults.clone();
    config.auth_internal_users = new.config.auth_internal_users.clone();
    config.api_allow_origins = new.config.api_allow_origins.clone();
    config.metrics_allow_origins = new.config.metrics_allow_origins.clone();
    config.conn_hooks = new.config.conn_hooks.clone();
    config.log_level = new.config.log_level;
    // `Config` holds compiled regular expressions (no `PartialEq`); their `Debug` is their
    // pattern, so equal `Debug` texts mean equal configurations.
    let restart = if format!("{config:?}") == format!("{:?}", new.config) {
        Vec::new()
    } else {
        restart_keys(running_doc, &new.raw)
    };
    Live {
        config,
        document,
        restart,
    }
}

/// Applies `document`, the config document with a change the API made to its paths, as a
/// reload of the file would (environment overrides applied again). The error is the loader's.
pub(crate) fn apply_document(paths: &Arc<PathManager>, document: Mapping) -> Result<(), String> {
    let text = serde_yaml::to_string(&document).map_err(|e| e.to_string())?;
    let env: HashMap<String, String> = std::env::vars().collect();
    let what = "the configuration with the API's path changes";
    let loaded = Config::from_yaml_str(&text, what, &env).map_err(|e| e.to_string())?;
    let live = live_config(&paths.config(), &paths.document(), &loaded);
    let retired = paths.reload(Arc::new(live.config), live.document);
    tracing::info!("paths changed through the API: stopped or restarted: {retired:?}");
    Ok(())
}

/// Top-level keys whose value differs between two documents, [`LIVE_KEYS`] aside, sorted.
fn restart_keys(old: &Mapping, new: &Mapping) -> Vec<String> {
    let mut keys: Vec<String> = old
        .keys()
        .chain(new.keys())
        .filter(|k| old.get(*k) != new.get(*k))
        .filter_map(Value::as_str)
        .filter(|k| !LIVE_KEYS.contains(k))
        .map(str::to_owned)
        .collect();
    keys.sort();
    keys.dedup();
    keys
}

/// What the watcher needs: the running server, its file and environment.
struct Reloader {
    paths: Arc<PathManager>,
    file: PathBuf,
    env: HashMap<String, String>,
}

impl Reloader {
    async fn run(&self, loaded: Stamp) {
        let mut hangup = Hangup::new();
        let mut seen = loaded;
        let mut tick = tokio::time::interval(POLL_EVERY);
        loop {
            tokio::select! {
                _ = tick.tick() => {
                    if stamp(&self.file) == seen {
                        continue;
                    }
                    tokio::time::sleep(SETTLE).await;
                    tracing::info!("{} changed: reloading it", self.file.display());
                }
                () = hangup.recv() => {
                    tracing::info!("SIGHUP: reloading {}", self.file.display());
                }
            }
            seen = stamp(&self.file);
            self.apply();
        }
    }

    /// Loads the file and applies it, or logs why it can't.
    fn apply(&self) {
        let loaded = match Config::load(Some(&self.file), &self.env) {
            Ok(loaded) => crate::api::with_saved_changes(loaded, &self.env),
            Err(e) => {
                let e = crate::error_chain(&e);
                tracing::error!("config not reloaded, the running configuration stays: {e}");
                return;
            }
        };
        let running_level = self.paths.config().log_level;
        let live = live_config(&self.paths.config(), &self.paths.document(), &loaded);
        if live.config.log_level != running_level {
            crate::logging::set_level(live.config.log_level);
            tracing::info!("config reload: logLevel is now {:?}", live.config.log_level);
        }
        for key in &live.restart {
            tracing::warn!("config reload: changed {key}: restart vigia to apply");
        }
        self.warn_clashes(&live.config);
        if self.paths.recording().is_none() && crate::records_anything(&live.config) {
            tracing::warn!(
                "config reload: a path now has record: yes, but the recorder starts with the \
                 server: restart vigia to apply"
            );
        }
        let retired = self.paths.reload(Arc::new(live.config), live.document);
        if retired.is_empty() {
            tracing::info!("config reloaded: every running path kept");
        } else {
            tracing::info!("config reloaded: paths stopped or restarted: {retired:?}");
        }
    }
}

impl Reloader {
    /// Warns of each exact path of `config` whose name a runtime path has: the runtime path
    /// stays, and the file's entry applies once it is removed.
    fn warn_clashes(&self, config: &Config) {
        let exact = config
            .paths
            .iter()
            .filter(|e| matches!(e.matcher, PathMatcher::Exact));
        for entry in exact.filter(|e| self.paths.is_runtime(&e.name)) {
            tracing::warn!(
                path = %entry.name,
                "config reload: a path added at runtime (API, event camera) has this name; \
                 the file's entry applies once that path is removed"
            );
        }
    }
}

/// A file's modification time and size, `None` while it can't be read.
pub(crate) type Stamp = Option<(Option<SystemTime>, u64)>;

/// The [`Stamp`] of `file` now.
pub(crate) fn stamp(file: &std::path::Path) -> Stamp {
    let meta = std::fs::metadata(file).ok()?;
    Some((meta.modified().ok(), meta.len()))
}

/// SIGHUP, where there is such a signal.
struct Hangup {
    #[cfg(unix)]
    signal: Option<tokio::signal::unix::Signal>,
}

impl Hangup {
    fn new() -> Hangup {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let signal = signal(SignalKind::hangup())
                .inspect_err(|e| tracing::warn!("can't listen for SIGHUP: {e}"))
                .ok();
            Hangup { signal }
        }
        #[cfg(not(unix))]
        Hangup {}
    }

    /// Waits for the next SIGHUP (forever, without one).
    async fn recv(&mut self) {
        #[cfg(unix)]
        if let Some(signal) = self.signal.as_mut() {
            signal.recv().await;
            return;
        }
        std::future::pending::<()>().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(yaml: &str) -> Loaded {
        Config::from_yaml_str(yaml, "test.yml", &HashMap::new()).unwrap()
    }

    #[test]
    fn paths_and_request_keys_apply_and_the_rest_waits_for_a_restart() {
        let running = load("rtspAddress: :8554\npaths:\n  a:\n");
        let new = load(
            "rtspAddress: :9554\napiAllowOrigins: [x]\nlogLevel: debug\nrunOnConnect: c\npathDefaults:\n  maxReaders: 3\npaths:\n  b:\n",
        );
        let live = live_config(&running.config, &running.raw, &new);
        assert_eq!(live.restart, ["rtspAddress"]);
        assert_eq!(live.config.log_level, crate::config::LogLevel::Debug);
        assert_eq!(live.config.conn_hooks.run_on_connect, "c");
        assert_eq!(live.config.rtsp_address, ":8554", "kept until a restart");
        assert_eq!(live.config.api_allow_origins, ["x"]);
        assert_eq!(live.config.path_defaults.max_readers, 3);
        assert_eq!(live.config.paths.len(), 1);
        assert_eq!(live.config.paths[0].name, "b");
        let shown = |key: &str| {
            live.document
                .get(key)
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        assert_eq!(
            shown("rtspAddress").as_deref(),
            Some(":8554"),
            "shown as running"
        );
        assert!(live.document.contains_key("pathDefaults"));
    }

    #[test]
    fn a_key_written_as_its_default_needs_no_restart() {
        let running = load("paths:\n  a:\n");
        let new = load("rtsp: yes\npaths:\n  a:\n");
        let live = live_config(&running.config, &running.raw, &new);
        assert!(live.restart.is_empty(), "{:?}", live.restart);
    }
}
