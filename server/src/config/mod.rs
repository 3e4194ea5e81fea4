//! Configuration: MediaMTX's `mediamtx.yml` format, read into typed structs with
//! MediaMTX's defaults at load time.
//!
//! - `vigia [CONFIG]`: with no argument, `vigia.yml` then `mediamtx.yml` in the working
//!   directory, else built-in defaults (MediaMTX's: `all_others` takes publishers on any
//!   name, plus one path `demo` with `source: synthetic`). With a file, paths are exactly what
//!   the file says.
//! - Every key of MediaMTX v1.20's default file is accepted. Keys Vigia does not
//!   implement yet are kept loosely ([`Config::unimplemented`], [`PathConf::unimplemented`])
//!   and reported once each in [`Loaded::warnings`]. Unknown keys, deprecated MediaMTX keys
//!   and bad values are a [`ConfigError`] naming the key and its line.
//! - `MTX_*` and `VIGIA_*` environment variables override keys (see `env.rs`).
//!
//! The running server never re-checks: what [`Config`] holds is valid.

mod auth;
mod env;
mod error;
mod external_auth;
mod global;
mod hls;
mod hooks;
mod keys;
mod lines;
mod parse;
mod path;
mod record;
mod tls;
mod values;
mod webrtc;

#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde_yaml::{Mapping, Value};

// The module's public API; the binary does not use every item yet.
#[allow(unused_imports)]
pub(crate) use auth::{
    AuthAction, AuthDecision, AuthRequest, AuthUser, Credential, HttpAuthConf, JwtAuthConf,
    PathPattern, Permission, any_allows,
};
#[allow(unused_imports)]
pub(crate) use error::{ConfigError, Origin};
#[allow(unused_imports)]
pub(crate) use global::{
    AuthMethod, Config, Encryption, LogDestination, LogLevel, RtspAuthMethod, RtspTransport,
};
#[allow(unused_imports)]
pub(crate) use hls::{HlsConf, HlsVariant};
pub(crate) use path::{
    PathConf, PathEntry, PathMatch, PathMatcher, Source, SourceTransport, SyntheticProfile,
    check_path_name,
};
#[allow(unused_imports)]
pub(crate) use record::RecordFormat;
pub(crate) use tls::TlsFiles;
#[allow(unused_imports)]
pub(crate) use values::{IpNet, parse_duration, parse_size};
pub(crate) use webrtc::{IceServer, WebrtcConf};

use keys::KeyKind;
use lines::KeyPath;
use parse::Ctx;

/// File names looked for, in order, when no file is given.
pub(crate) const DEFAULT_FILE_NAMES: &[&str] = &["vigia.yml", "mediamtx.yml"];

/// The configuration used when no file is found.
const BUILT_IN_YAML: &str = "paths:\n  demo:\n    source: synthetic\n  all_others:\n";

/// A loaded configuration, where it came from, and what the operator should be told.
#[derive(Debug, Clone)]
pub(crate) struct Loaded {
    /// The configuration.
    pub config: Config,
    /// Where it was read from.
    pub source: ConfigSource,
    /// Warnings to log at startup (one per not-yet-implemented key, unsupported sources…).
    pub warnings: Vec<String>,
    /// The document's keys as written, environment overrides applied (the API shows them).
    pub raw: Mapping,
}

/// Where a configuration came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ConfigSource {
    /// A file.
    File(PathBuf),
    /// No file was given or found: built-in defaults.
    BuiltIn,
    /// Text passed to [`Config::from_yaml_str`], with its name.
    Text(String),
}

impl Config {
    /// Loads the configuration as `vigia [CONFIG]` does, relative to the working
    /// directory. `env` is the process environment (`std::env::vars().collect()`).
    pub(crate) fn load(
        path: Option<&Path>,
        env: &HashMap<String, String>,
    ) -> Result<Loaded, ConfigError> {
        let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
        Config::load_in(path, &cwd, env)
    }

    /// Like [`Config::load`], with `dir` as the working directory: an explicit relative
    /// `path` is taken from `dir`, and the default file names are looked for there.
    pub(crate) fn load_in(
        path: Option<&Path>,
        dir: &Path,
        env: &HashMap<String, String>,
    ) -> Result<Loaded, ConfigError> {
        let file = match path {
            Some(p) => dir.join(p),
            None => match DEFAULT_FILE_NAMES
                .iter()
                .map(|n| dir.join(n))
                .find(|p| p.is_file())
            {
                Some(p) => p,
                None => return Config::built_in(env),
            },
        };
        let text = std::fs::read_to_string(&file).map_err(|e| ConfigError::Io {
            path: file.clone(),
            message: e.to_string(),
        })?;
        let mut loaded = Config::from_yaml_str(&text, &file.display().to_string(), env)?;
        loaded.source = ConfigSource::File(file);
        Ok(loaded)
    }

    /// The built-in configuration (MediaMTX's defaults and a synthetic `demo` path),
    /// with environment overrides applied.
    pub(crate) fn built_in(env: &HashMap<String, String>) -> Result<Loaded, ConfigError> {
        let mut loaded = Config::from_yaml_str(BUILT_IN_YAML, "<built-in defaults>", env)?;
        loaded.source = ConfigSource::BuiltIn;
        Ok(loaded)
    }

    /// Parses a configuration from YAML text; `source_name` names it in messages.
    pub(crate) fn from_yaml_str(
        text: &str,
        source_name: &str,
        env: &HashMap<String, String>,
    ) -> Result<Loaded, ConfigError> {
        let mut root = parse_root(text, source_name)?;
        let env_origins = env::apply(&mut root, env);
        let mut ctx = Ctx::new(source_name, text, env_origins);
        let config = build(&mut ctx, &root)?;
        Ok(Loaded {
            config,
            source: ConfigSource::Text(source_name.to_owned()),
            warnings: ctx.warnings,
            raw: root,
        })
    }

    /// Builds the `paths` entry `name` from `keys` (a mapping of path keys, as in the file)
    /// over this configuration's `pathDefaults`, with the loader's checks; errors name the
    /// key and say it came from `source_name` (the API's "request body").
    pub(crate) fn path_entry(
        &self,
        name: &str,
        keys: &Value,
        source_name: &str,
    ) -> Result<PathEntry, ConfigError> {
        let mut ctx = Ctx::new(source_name, "", HashMap::new());
        path::build_entry(&mut ctx, &self.path_defaults, name, keys)
    }

    /// The configuration for a requested path name: an exact name wins, then `~regex`
    /// entries (in name order, as MediaMTX), then `all_others`. `None` if the name is
    /// invalid (see [`check_path_name`]) or no entry matches.
    pub(crate) fn path_config(&self, name: &str) -> Option<PathMatch<'_>> {
        path::find(&self.paths, name)
    }

    /// Checks a request against `authInternalUsers`.
    pub(crate) fn authorize(&self, req: &AuthRequest<'_>) -> AuthDecision {
        auth::authorize(&self.auth_internal_users, req)
    }
}

fn parse_root(text: &str, source_name: &str) -> Result<Mapping, ConfigError> {
    let syntax = |line: Option<usize>, message: String| ConfigError::Syntax {
        source_name: source_name.to_owned(),
        line,
        message,
    };
    let mut value: Value = serde_yaml::from_str(text)
        .map_err(|e| syntax(e.location().map(|l| l.line()), e.to_string()))?;
    value
        .apply_merge()
        .map_err(|e| syntax(e.location().map(|l| l.line()), e.to_string()))?;
    match value {
        Value::Null => Ok(Mapping::new()),
        Value::Mapping(m) => Ok(m),
        _ => Err(syntax(
            Some(1),
            "the file must be a map of keys (key: value lines)".to_owned(),
        )),
    }
}

/// Types the whole tree: global keys and `pathDefaults` first, then `paths`.
fn build(ctx: &mut Ctx, root: &Mapping) -> Result<Config, ConfigError> {
    let mut cfg = Config::default();
    let top = KeyPath::default();
    let root = Value::Mapping(root.clone());
    let entries = ctx.mapping(&top, &root)?;
    let mut paths_value = None;
    for (key, val) in &entries {
        let kp = top.key(key);
        match key.as_str() {
            "paths" => paths_value = Some((*val).clone()),
            "pathDefaults" => path::apply_keys(ctx, &mut cfg.path_defaults, &kp, val)?,
            _ => set_global(ctx, &mut cfg, key, &kp, val)?,
        }
    }
    if let Some(v) = paths_value {
        cfg.paths = build_paths(ctx, &cfg.path_defaults, &v)?;
    }
    global::check(ctx, &cfg)?;
    hls::check(ctx, &cfg.hls)?;
    record::check(ctx, &cfg)?;
    tls::check(ctx, &cfg)?;
    Ok(cfg)
}

fn set_global(
    ctx: &mut Ctx,
    cfg: &mut Config,
    key: &str,
    kp: &KeyPath,
    val: &Value,
) -> Result<(), ConfigError> {
    match keys::global_kind(key) {
        KeyKind::Implemented if hooks::set_conn_key(ctx, &mut cfg.conn_hooks, key, kp, val)? => {
            Ok(())
        }
        KeyKind::Implemented if hls::set_key(ctx, &mut cfg.hls, key, kp, val)? => Ok(()),
        KeyKind::Implemented if webrtc::set_key(ctx, &mut cfg.webrtc, key, kp, val)? => Ok(()),
        KeyKind::Implemented
            if external_auth::set_key(
                ctx,
                &mut cfg.auth_http,
                &mut cfg.auth_jwt,
                key,
                kp,
                val,
            )? =>
        {
            Ok(())
        }
        KeyKind::Implemented => global::set_key(ctx, cfg, key, kp, val),
        KeyKind::Unimplemented if keys::asks_for_unserved_tls(key, val) => Err(ctx.invalid(
            kp,
            "Vigia has no TLS on this listener yet (nor the listener itself); set it to no \
             rather than believe its traffic encrypted",
        )),
        KeyKind::Unimplemented => {
            ctx.warn_unimplemented(kp);
            cfg.unimplemented.insert(key.to_owned(), val.clone());
            Ok(())
        }
        KeyKind::Deprecated(new) => Err(ctx.deprecated(kp, new)),
        KeyKind::Unknown => Err(ctx.unknown(kp)),
    }
}

fn build_paths(
    ctx: &mut Ctx,
    defaults: &PathConf,
    v: &Value,
) -> Result<Vec<PathEntry>, ConfigError> {
    let kp = KeyPath::default().key("paths");
    let mut out: Vec<PathEntry> = Vec::new();
    for (name, val) in ctx.mapping(&kp, v)? {
        let entry = path::build_entry(ctx, defaults, &name, val)?;
        let is_all = matches!(entry.matcher, PathMatcher::AllOthers(_));
        if is_all
            && out
                .iter()
                .any(|e| matches!(e.matcher, PathMatcher::AllOthers(_)))
        {
            return Err(ctx.invalid(
                &kp.key(&name),
                "all_others, all and '~^.*$' are the same entry; keep only one",
            ));
        }
        out.push(entry);
    }
    Ok(out)
}
