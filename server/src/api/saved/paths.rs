//! Changes the API made to paths of the config file (`config/paths/patch`, `replace`,
//! `delete` on a name the file has): an override layer, kept in the `paths` section of
//! `api-config.json` and laid over the file's `paths` at every load (start and reload).
//!
//! Precedence, lowest first: the file's entry; the API's override of it; environment
//! overrides (`MTX_PATHS_*`), which the loader applies last.
//! - `patch` keeps a set of keys laid over the file's entry, so the file's other keys still
//!   apply when it changes; it waits, doing nothing, while the file has no such path.
//! - `replace` keeps the whole entry: the file's keys no longer count for that path (a later
//!   `patch` changes the replacement).
//! - `delete` removes the entry; the path stays deleted, whatever the file says, until
//!   `config/paths/add` brings it back (then as a `replace` with the body's keys).
//!
//! Saved as `{"<name>": {"patch": {…}}}`, `{"replace": {…}}` or `{"delete": true}`.

use serde_json::{Map, Value, json};
use serde_yaml::Mapping;

/// What the API did to one path of the config file.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum PathOverride {
    /// These keys over the file's.
    Patch(Map<String, Value>),
    /// These keys instead of the file's.
    Replace(Map<String, Value>),
    /// The path is gone.
    Delete,
}

/// A change the API was asked for on a path of the config file.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum PathChange {
    /// `config/paths/patch`.
    Patch(Map<String, Value>),
    /// `config/paths/replace`.
    Replace(Map<String, Value>),
    /// `config/paths/delete`.
    Delete,
    /// `config/paths/add` of a path the API deleted.
    Add(Map<String, Value>),
}

/// The override after `change`, from the `current` one.
pub(crate) fn combine(current: Option<&PathOverride>, change: PathChange) -> PathOverride {
    match (current, change) {
        (Some(PathOverride::Patch(old)), PathChange::Patch(keys)) => {
            PathOverride::Patch(extended(old, keys))
        }
        (Some(PathOverride::Replace(old)), PathChange::Patch(keys)) => {
            PathOverride::Replace(extended(old, keys))
        }
        (_, PathChange::Patch(keys)) => PathOverride::Patch(keys),
        (_, PathChange::Replace(keys) | PathChange::Add(keys)) => PathOverride::Replace(keys),
        (_, PathChange::Delete) => PathOverride::Delete,
    }
}

impl PathOverride {
    /// Reads one saved override.
    pub(crate) fn from_json(value: &Value) -> Result<PathOverride, String> {
        let keys = |v: &Value| v.as_object().cloned().ok_or("keys that are not an object");
        let parsed = match value.as_object() {
            Some(o) if o.len() == 1 => match o.iter().next() {
                Some((mode, v)) if mode == "patch" => keys(v).map(PathOverride::Patch),
                Some((mode, v)) if mode == "replace" => keys(v).map(PathOverride::Replace),
                Some((mode, v)) if mode == "delete" && v == &Value::Bool(true) => {
                    Ok(PathOverride::Delete)
                }
                _ => Err("an unknown change"),
            },
            _ => Err("not one of patch, replace, delete"),
        };
        parsed.map_err(|e| format!("{e}: {value}"))
    }

    /// The override as saved.
    pub(crate) fn to_json(&self) -> Value {
        match self {
            PathOverride::Patch(keys) => json!({ "patch": keys }),
            PathOverride::Replace(keys) => json!({ "replace": keys }),
            PathOverride::Delete => json!({ "delete": true }),
        }
    }

    /// Lays the override over the document's `paths` mapping for the entry `name`.
    pub(crate) fn apply(&self, paths: &mut Mapping, name: &str) -> Result<(), String> {
        let key = serde_yaml::Value::String(name.to_owned());
        match self {
            PathOverride::Patch(keys) => {
                let Some(entry) = paths.get_mut(&key) else {
                    return Ok(());
                };
                let mut own = entry.as_mapping().cloned().unwrap_or_default();
                for (k, v) in keys {
                    let v = serde_yaml::to_value(v).map_err(|e| e.to_string())?;
                    own.insert(serde_yaml::Value::String(k.clone()), v);
                }
                *entry = serde_yaml::Value::Mapping(own);
            }
            PathOverride::Replace(keys) => {
                let keys = serde_yaml::to_value(keys).map_err(|e| e.to_string())?;
                paths.insert(key, keys);
            }
            PathOverride::Delete => {
                paths.remove(&key);
            }
        }
        Ok(())
    }
}

fn extended(old: &Map<String, Value>, keys: Map<String, Value>) -> Map<String, Value> {
    let mut all = old.clone();
    all.extend(keys);
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    fn paths(yaml: &str) -> Mapping {
        serde_yaml::from_str(yaml).unwrap()
    }

    #[test]
    fn changes_combine_as_mediamtx_applies_them_in_turn() {
        let patch = combine(None, PathChange::Patch(keys(json!({"a": 1}))));
        assert_eq!(patch, PathOverride::Patch(keys(json!({"a": 1}))));
        let patch = combine(Some(&patch), PathChange::Patch(keys(json!({"b": 2}))));
        assert_eq!(patch, PathOverride::Patch(keys(json!({"a": 1, "b": 2}))));
        let replace = combine(Some(&patch), PathChange::Replace(keys(json!({"c": 3}))));
        assert_eq!(replace, PathOverride::Replace(keys(json!({"c": 3}))));
        let replace = combine(Some(&replace), PathChange::Patch(keys(json!({"a": 4}))));
        assert_eq!(
            replace,
            PathOverride::Replace(keys(json!({"c": 3, "a": 4})))
        );
        let deleted = combine(Some(&replace), PathChange::Delete);
        assert_eq!(deleted, PathOverride::Delete);
        let added = combine(Some(&deleted), PathChange::Add(keys(json!({}))));
        assert_eq!(added, PathOverride::Replace(Map::new()));
    }

    #[test]
    fn overrides_lay_over_the_file_s_paths() {
        let mut doc = paths("cam1:\n  source: synthetic\n  maxReaders: 1\ncam2:\ncam3:\n");
        let patch = PathOverride::Patch(keys(json!({"maxReaders": 2, "record": true})));
        patch.apply(&mut doc, "cam1").unwrap();
        patch.apply(&mut doc, "cam2").unwrap();
        patch.apply(&mut doc, "gone").unwrap();
        let replace = PathOverride::Replace(keys(json!({"overridePublisher": false})));
        replace.apply(&mut doc, "new").unwrap();
        PathOverride::Delete.apply(&mut doc, "cam3").unwrap();
        let expected = paths(
            "cam1:\n  source: synthetic\n  maxReaders: 2\n  record: true\ncam2:\n  maxReaders: 2\n  record: true\nnew:\n  overridePublisher: false\n",
        );
        assert_eq!(doc, expected, "a patch of a path the file lacks waits");
    }

    #[test]
    fn overrides_are_saved_and_read_back() {
        for o in [
            PathOverride::Patch(keys(json!({"a": 1}))),
            PathOverride::Replace(Map::new()),
            PathOverride::Delete,
        ] {
            assert_eq!(PathOverride::from_json(&o.to_json()), Ok(o));
        }
        for bad in [
            json!({"delete": false}),
            json!({"patch": 1}),
            json!({}),
            json!({"x": {}}),
        ] {
            assert!(PathOverride::from_json(&bad).is_err(), "{bad}");
        }
    }
}
