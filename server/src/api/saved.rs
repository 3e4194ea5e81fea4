//! Global keys and `pathDefaults` changed through the API (`PATCH /v3/config/global/patch`,
//! `/v3/config/pathdefaults/patch`).
//!
//! These changes apply at the next start (and, for the keys a reload applies live, at the next
//! reload of the config file, see `crate::reload`): they are checked at
//! once (the config document with the changes laid over it must load), kept in
//! `<recordSpoolDirectory>.state/api-config.json` (`{"global": {…}, "pathDefaults": {…}}`,
//! replaced atomically), and laid over the config file's keys when the server starts
//! ([`with_saved_changes`]). Environment overrides (`MTX_*`, `VIGIA_*`) still win over them.
//!
//! The file's `paths` section holds the API's changes to paths of the config file (see
//! [`paths`]); those apply at once ([`SavedConfig::set_path`] gives the document to apply)
//! and at every load.

pub(super) mod paths;

use std::collections::HashMap;
use std::path::PathBuf;

use serde_json::{Map, Value};
use serde_yaml::Mapping;

use self::paths::PathOverride;
use crate::config::{Config, ConfigSource, Loaded};
use crate::state::{state_dir, write_atomically};

/// The changes saved so far and their file.
pub(super) struct SavedConfig {
    file: PathBuf,
    doc: Map<String, Value>,
}

impl SavedConfig {
    /// Reads the file of `config`'s state directory; none yet is no change.
    pub(super) fn open(config: &Config) -> Result<SavedConfig, String> {
        let file = state_dir(config).join("api-config.json");
        let doc = read(&file)?;
        Ok(SavedConfig { file, doc })
    }

    /// Lays `keys` over section `section` (`global` or `pathDefaults`), after checking that
    /// `raw` (the config document) with every saved change still loads; then saves the file.
    /// The error says what is wrong.
    pub(super) fn patch(
        &mut self,
        raw: &Mapping,
        section: &str,
        keys: Map<String, Value>,
    ) -> Result<(), String> {
        let mut doc = self.doc.clone();
        edit_section(&mut doc, section, |existing| existing.extend(keys));
        self.commit(raw, doc).map(|_| ())
    }

    /// The API's override of the config file's path `name`, if any.
    pub(super) fn path_override(&self, name: &str) -> Option<PathOverride> {
        let saved = self.doc.get("paths")?.get(name)?;
        PathOverride::from_json(saved).ok()
    }

    /// Sets the override of the config file's path `name`, after checking that `raw` with
    /// every saved change still loads; then saves the file. Gives the document with the
    /// change, to apply now.
    pub(super) fn set_path(
        &mut self,
        raw: &Mapping,
        name: &str,
        change: PathOverride,
    ) -> Result<Mapping, String> {
        let mut doc = self.doc.clone();
        edit_section(&mut doc, "paths", |paths| {
            paths.insert(name.to_string(), change.to_json());
        });
        self.commit(raw, doc)
    }

    /// Checks `doc` over `raw`, saves it and keeps it; the merged document.
    fn commit(&mut self, raw: &Mapping, doc: Map<String, Value>) -> Result<Mapping, String> {
        let merged = merge(raw, &doc)?;
        check(&merged)?;
        let bytes = serde_json::to_vec_pretty(&doc).map_err(|e| e.to_string())?;
        write_atomically(&self.file, &bytes)
            .map_err(|e| format!("can't save {}: {e}", self.file.display()))?;
        self.doc = doc;
        Ok(merged)
    }
}

/// Changes the object of `section` in `doc` with `change` (an empty one if missing).
fn edit_section(
    doc: &mut Map<String, Value>,
    section: &str,
    change: impl FnOnce(&mut Map<String, Value>),
) {
    let mut keys = match doc.remove(section) {
        Some(Value::Object(keys)) => keys,
        _ => Map::new(),
    };
    change(&mut keys);
    doc.insert(section.to_string(), Value::Object(keys));
}

/// The loaded configuration with the changes saved through the API laid over it. When the
/// file cannot be read, or the result does not load, the configuration is kept as loaded and
/// a warning says why.
pub(crate) fn with_saved_changes(mut loaded: Loaded, env: &HashMap<String, String>) -> Loaded {
    let file = state_dir(&loaded.config).join("api-config.json");
    let doc = match read(&file) {
        Ok(doc) if doc.is_empty() => return loaded,
        Ok(doc) => doc,
        Err(e) => {
            loaded
                .warnings
                .push(format!("API config changes not applied: {e}"));
            return loaded;
        }
    };
    let result = merge(&loaded.raw, &doc).and_then(|merged| {
        let text = serde_yaml::to_string(&merged).map_err(|e| e.to_string())?;
        Config::from_yaml_str(&text, &describe(&loaded.source), env).map_err(|e| e.to_string())
    });
    match result {
        Ok(mut changed) => {
            changed.source = loaded.source;
            changed.warnings.push(format!(
                "configuration changes made through the API applied (from {})",
                file.display()
            ));
            changed
        }
        Err(e) => {
            let note = format!("API config changes in {} not applied: {e}", file.display());
            loaded.warnings.push(note);
            loaded
        }
    }
}

fn describe(source: &ConfigSource) -> String {
    match source {
        ConfigSource::File(file) => format!("{} with the API's changes", file.display()),
        _ => "the built-in configuration with the API's changes".to_string(),
    }
}

fn read(file: &std::path::Path) -> Result<Map<String, Value>, String> {
    let bytes = match std::fs::read(file) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Map::new()),
        Err(e) => return Err(format!("can't read {}: {e}", file.display())),
    };
    match serde_json::from_slice(&bytes) {
        Ok(Value::Object(doc)) => Ok(doc),
        Ok(_) => Err(format!("{}: not a JSON object", file.display())),
        Err(e) => Err(format!("{}: {e}", file.display())),
    }
}

/// `raw` with the saved sections laid over it: global keys replace the document's,
/// `pathDefaults` keys replace those of its `pathDefaults`, path overrides change its `paths`.
fn merge(raw: &Mapping, doc: &Map<String, Value>) -> Result<Mapping, String> {
    let mut merged = raw.clone();
    if let Some(Value::Object(keys)) = doc.get("global") {
        lay_over(&mut merged, keys)?;
    }
    if let Some(Value::Object(keys)) = doc.get("pathDefaults") {
        let mut defaults = match merged.get("pathDefaults") {
            Some(serde_yaml::Value::Mapping(m)) => m.clone(),
            _ => Mapping::new(),
        };
        lay_over(&mut defaults, keys)?;
        merged.insert("pathDefaults".into(), serde_yaml::Value::Mapping(defaults));
    }
    if let Some(Value::Object(overrides)) = doc.get("paths") {
        merge_paths(&mut merged, overrides)?;
    }
    Ok(merged)
}

/// Lays the API's path overrides over the `paths` of `merged` (see [`paths`]).
fn merge_paths(merged: &mut Mapping, overrides: &Map<String, Value>) -> Result<(), String> {
    let before = match merged.get("paths") {
        Some(serde_yaml::Value::Mapping(m)) => m.clone(),
        _ => Mapping::new(),
    };
    let mut paths = before.clone();
    for (name, saved) in overrides {
        let change = PathOverride::from_json(saved).map_err(|e| format!("path {name:?}: {e}"))?;
        change.apply(&mut paths, name)?;
    }
    if paths != before {
        merged.insert("paths".into(), serde_yaml::Value::Mapping(paths));
    }
    Ok(())
}

fn lay_over(target: &mut Mapping, keys: &Map<String, Value>) -> Result<(), String> {
    for (key, value) in keys {
        let value = serde_yaml::to_value(value).map_err(|e| e.to_string())?;
        target.insert(serde_yaml::Value::String(key.clone()), value);
    }
    Ok(())
}

/// Whether `merged` loads; the loader's message if not.
fn check(merged: &Mapping) -> Result<(), String> {
    let text = serde_yaml::to_string(merged).map_err(|e| e.to_string())?;
    Config::from_yaml_str(&text, "the configuration with this change", &HashMap::new())
        .map(|_| ())
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn raw(yaml: &str) -> Mapping {
        serde_yaml::from_str(yaml).unwrap()
    }

    #[test]
    fn changes_lay_over_the_document_and_bad_ones_are_refused() {
        let dir = std::env::temp_dir().join(format!("vigia-api-saved-{}", uuid::Uuid::new_v4()));
        let config = Config {
            record_spool_directory: dir.join("spool").display().to_string(),
            ..Config::default()
        };
        let doc = raw("readTimeout: 5s\npaths:\n  cam1:\n");
        let mut saved = SavedConfig::open(&config).unwrap();
        let keys = |v: Value| v.as_object().unwrap().clone();
        saved
            .patch(&doc, "global", keys(json!({"writeTimeout": "3s"})))
            .unwrap();
        saved
            .patch(&doc, "pathDefaults", keys(json!({"maxReaders": 4})))
            .unwrap();
        let e = saved
            .patch(&doc, "global", keys(json!({"nope": 1})))
            .unwrap_err();
        assert!(e.contains("nope"), "{e}");
        let loaded =
            Config::from_yaml_str("readTimeout: 5s\npaths:\n  cam1:\n", "t", &HashMap::new())
                .unwrap();
        let loaded = Loaded {
            config: Config {
                record_spool_directory: config.record_spool_directory.clone(),
                ..loaded.config
            },
            ..loaded
        };
        let changed = with_saved_changes(loaded, &HashMap::new());
        assert_eq!(
            changed.config.write_timeout,
            std::time::Duration::from_secs(3)
        );
        assert_eq!(
            changed.config.read_timeout,
            std::time::Duration::from_secs(5)
        );
        assert_eq!(changed.config.paths[0].conf.max_readers, 4);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
