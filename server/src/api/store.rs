//! The paths added through the API, kept in `<recordSpoolDirectory>.state/api-paths.json` so
//! they survive a restart.
//!
//! The file is `{"paths": {"<name>": {<path keys as the API received them>}}}`, replaced
//! atomically on every change (see [`crate::state::write_atomically`]). Keys are kept as
//! written, not as typed, so a restart checks them again with the same loader as the config
//! file, and `config/paths/get` shows them as the client sent them.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde_json::{Map, Value, json};

use crate::config::Config;
use crate::state::{state_dir, write_atomically};

/// The keys of one path, as JSON.
pub(super) type PathKeys = Map<String, Value>;

/// The API's paths and the file that keeps them.
pub(super) struct ApiPaths {
    file: PathBuf,
    paths: BTreeMap<String, PathKeys>,
}

impl ApiPaths {
    /// Reads the file, if any. A file that cannot be read or parsed is an error: starting
    /// without the paths it holds would lose them at the next save.
    pub(super) fn open(config: &Config) -> Result<ApiPaths, String> {
        let file = state_dir(config).join("api-paths.json");
        let mut paths = BTreeMap::new();
        match std::fs::read(&file) {
            Ok(bytes) => paths = parse(&bytes).map_err(|e| format!("{}: {e}", file.display()))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(format!("can't read {}: {e}", file.display())),
        }
        Ok(ApiPaths { file, paths })
    }

    /// The paths, by name.
    pub(super) fn all(&self) -> &BTreeMap<String, PathKeys> {
        &self.paths
    }

    /// The keys of path `name`.
    pub(super) fn get(&self, name: &str) -> Option<&PathKeys> {
        self.paths.get(name)
    }

    /// Sets path `name` to `keys` and saves the file.
    pub(super) fn set(&mut self, name: &str, keys: PathKeys) -> Result<(), String> {
        let old = self.paths.insert(name.to_string(), keys);
        self.save().inspect_err(|_| {
            match old {
                Some(old) => self.paths.insert(name.to_string(), old),
                None => self.paths.remove(name),
            };
        })
    }

    /// Removes path `name` and saves the file; false if there was none.
    pub(super) fn remove(&mut self, name: &str) -> Result<bool, String> {
        let Some(old) = self.paths.remove(name) else {
            return Ok(false);
        };
        self.save().inspect_err(|_| {
            self.paths.insert(name.to_string(), old);
        })?;
        Ok(true)
    }

    fn save(&self) -> Result<(), String> {
        let bytes = serde_json::to_vec_pretty(&json!({ "paths": self.paths }))
            .map_err(|e| e.to_string())?;
        write_atomically(&self.file, &bytes)
            .map_err(|e| format!("can't save {}: {e}", self.file.display()))
    }
}

fn parse(bytes: &[u8]) -> Result<BTreeMap<String, PathKeys>, String> {
    let value: Value = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
    let Some(Value::Object(paths)) = value.get("paths") else {
        return Err("no \"paths\" object".to_string());
    };
    paths
        .iter()
        .map(|(name, keys)| match keys {
            Value::Object(keys) => Ok((name.clone(), keys.clone())),
            _ => Err(format!("path {name:?} is not an object")),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_survive_a_reopen_and_a_removal_is_saved() {
        let dir = std::env::temp_dir().join(format!("vigia-api-store-{}", uuid::Uuid::new_v4()));
        let config = Config {
            record_spool_directory: dir.join("spool").display().to_string(),
            ..Config::default()
        };
        let mut store = ApiPaths::open(&config).unwrap();
        let keys = json!({"source": "synthetic"}).as_object().unwrap().clone();
        store.set("cam1", keys.clone()).unwrap();
        store.set("cam2", keys.clone()).unwrap();
        assert!(store.remove("cam2").unwrap());
        assert!(!store.remove("cam2").unwrap());
        let reopened = ApiPaths::open(&config).unwrap();
        assert_eq!(reopened.all().keys().collect::<Vec<_>>(), ["cam1"]);
        assert_eq!(reopened.get("cam1"), Some(&keys));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_damaged_file_is_an_error() {
        assert!(parse(b"{").is_err());
        assert!(parse(b"{\"paths\": {\"a\": 1}}").is_err());
        assert!(parse(b"{}").is_err());
    }
}
