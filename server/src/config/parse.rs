//! The parsing context: turns `serde_yaml::Value`s into typed values, and problems
//! into errors and warnings that name the key and its line.

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use serde_yaml::Value;

use super::error::{ConfigError, Origin};
use super::lines::{KeyPath, LineIndex};
use super::values;

/// State shared while one document is turned into a `Config`.
pub(crate) struct Ctx {
    source_name: String,
    lines: LineIndex,
    /// Key paths (displayed) set by environment variables, with the variable's name.
    env_origins: HashMap<String, String>,
    warned: BTreeSet<String>,
    /// Warnings for the operator, in the order they were found.
    pub(crate) warnings: Vec<String>,
}

impl Ctx {
    /// A context for the document `text` named `source_name`.
    pub(crate) fn new(source_name: &str, text: &str, env_origins: HashMap<String, String>) -> Ctx {
        Ctx {
            source_name: source_name.to_owned(),
            lines: LineIndex::new(text),
            env_origins,
            warned: BTreeSet::new(),
            warnings: Vec::new(),
        }
    }

    /// Where the value at `path` came from.
    pub(crate) fn origin(&self, path: &KeyPath) -> Origin {
        for len in (1..=path.0.len()).rev() {
            let prefix = KeyPath(path.0[..len].to_vec());
            if let Some(var) = self.env_origins.get(&prefix.to_string()) {
                return Origin::Env(var.clone());
            }
        }
        match self.lines.locate(path) {
            Some(line) => Origin::Line {
                source_name: self.source_name.clone(),
                line,
            },
            None => Origin::File(self.source_name.clone()),
        }
    }

    /// An "invalid value" error for `path`.
    pub(crate) fn invalid(&self, path: &KeyPath, problem: impl Into<String>) -> ConfigError {
        ConfigError::InvalidValue {
            key: path.to_string(),
            origin: self.origin(path),
            problem: problem.into(),
        }
    }

    /// An "unknown key" error for `path`.
    pub(crate) fn unknown(&self, path: &KeyPath) -> ConfigError {
        ConfigError::UnknownKey {
            key: path.to_string(),
            origin: self.origin(path),
        }
    }

    /// A "deprecated key" error for `path`.
    pub(crate) fn deprecated(&self, path: &KeyPath, replacement: &str) -> ConfigError {
        ConfigError::Deprecated {
            key: path.to_string(),
            origin: self.origin(path),
            replacement: replacement.to_owned(),
        }
    }

    /// Records that the key at `path` is accepted but not implemented, once per key name.
    pub(crate) fn warn_unimplemented(&mut self, path: &KeyPath) {
        let name = path.last_key().unwrap_or_default().to_owned();
        if self.warned.insert(name.clone()) {
            let origin = self.origin(path);
            self.warnings.push(format!(
                "key \"{name}\" {origin} is accepted but not implemented by Vigia yet; its value is ignored"
            ));
        }
    }

    /// Records a free-form warning about the value at `path`.
    pub(crate) fn warn(&mut self, path: &KeyPath, message: &str) {
        let origin = self.origin(path);
        self.warnings
            .push(format!("\"{path}\" {origin}: {message}"));
    }

    /// The value as a string; `null` is the empty string; numbers and booleans are
    /// taken in their YAML spelling (MediaMTX reads `rtspEncryption: no` as `"no"`).
    pub(crate) fn string(&self, path: &KeyPath, v: &Value) -> Result<String, ConfigError> {
        match v {
            Value::Null => Ok(String::new()),
            Value::String(s) => Ok(s.clone()),
            Value::Bool(b) => Ok(if *b { "yes" } else { "no" }.to_owned()),
            Value::Number(n) => Ok(n.to_string()),
            _ => Err(self.invalid(path, "expected a single value, not a list or a map")),
        }
    }

    /// The value as a boolean (`true`/`false`/`yes`/`no`).
    pub(crate) fn boolean(&self, path: &KeyPath, v: &Value) -> Result<bool, ConfigError> {
        match v {
            Value::Bool(b) => Ok(*b),
            Value::String(s) => values::parse_bool(s).map_err(|p| self.invalid(path, p)),
            _ => Err(self.invalid(path, "expected true or false")),
        }
    }

    /// The value as an unsigned integer no larger than `max`.
    pub(crate) fn uint(&self, path: &KeyPath, v: &Value, max: u64) -> Result<u64, ConfigError> {
        let n = match v {
            Value::Number(n) => n.as_u64(),
            Value::String(s) => s.trim().parse::<u64>().ok(),
            _ => None,
        };
        n.filter(|n| *n <= max).ok_or_else(|| {
            self.invalid(
                path,
                format!("expected a whole number from 0 to {max}, got {}", show(v)),
            )
        })
    }

    /// The value as a duration (`10s`, `1m30s`, `1d`; a bare `0` is zero, as in
    /// `recordDeleteAfter: 0`).
    pub(crate) fn duration(&self, path: &KeyPath, v: &Value) -> Result<Duration, ConfigError> {
        match v {
            Value::String(_) | Value::Number(_) => {
                let text = self.string(path, v)?;
                values::parse_duration(&text).map_err(|p| self.invalid(path, p))
            }
            _ => Err(self.invalid(
                path,
                format!(
                    "{} is not a duration (use e.g. 10s, 1m30s, 500ms, 1d)",
                    show(v)
                ),
            )),
        }
    }

    /// The value as a size in bytes (`1048576`, `512K`, `50M`, `2G`).
    pub(crate) fn size(&self, path: &KeyPath, v: &Value) -> Result<u64, ConfigError> {
        let text = self.string(path, v)?;
        values::parse_size(&text).map_err(|p| self.invalid(path, p))
    }

    /// The value as a list of strings; `null` is the empty list.
    pub(crate) fn string_list(
        &self,
        path: &KeyPath,
        v: &Value,
    ) -> Result<Vec<String>, ConfigError> {
        match v {
            Value::Null => Ok(Vec::new()),
            Value::Sequence(items) => items
                .iter()
                .enumerate()
                .map(|(i, item)| self.string(&path.index(i), item))
                .collect(),
            _ => Err(self.invalid(path, "expected a list, e.g. [a, b]")),
        }
    }

    /// The value as a mapping with string keys; `null` is the empty mapping.
    pub(crate) fn mapping<'v>(
        &self,
        path: &KeyPath,
        v: &'v Value,
    ) -> Result<Vec<(String, &'v Value)>, ConfigError> {
        match v {
            Value::Null => Ok(Vec::new()),
            Value::Mapping(m) => {
                m.iter()
                    .map(|(k, val)| match k {
                        Value::String(s) => Ok((s.clone(), val)),
                        // `paths: {123: …}`: YAML reads the name as a number; MediaMTX takes it as text.
                        Value::Number(n) => Ok((n.to_string(), val)),
                        other => Err(self
                            .invalid(path, format!("keys must be names, found {}", show(other)))),
                    })
                    .collect()
            }
            _ => Err(self.invalid(path, "expected a map of keys (key: value lines)")),
        }
    }
}

/// A short rendering of a value for error messages.
pub(crate) fn show(v: &Value) -> String {
    match v {
        Value::Null => "an empty value".to_owned(),
        Value::Bool(b) => format!("\"{b}\""),
        Value::Number(n) => format!("\"{n}\""),
        Value::String(s) => format!("\"{s}\""),
        Value::Sequence(_) => "a list".to_owned(),
        Value::Mapping(_) => "a map".to_owned(),
        Value::Tagged(t) => format!("a value tagged {}", t.tag),
    }
}

/// Parses one of a fixed set of spellings into `T`.
pub(crate) fn keyword<T: Copy>(
    ctx: &Ctx,
    path: &KeyPath,
    v: &Value,
    choices: &[(&str, T)],
) -> Result<T, ConfigError> {
    let text = ctx.string(path, v)?;
    choices
        .iter()
        .find(|(name, _)| *name == text)
        .map(|(_, t)| *t)
        .ok_or_else(|| {
            let names: Vec<&str> = choices.iter().map(|(n, _)| *n).collect();
            ctx.invalid(
                path,
                format!("\"{text}\" is not one of: {}", names.join(", ")),
            )
        })
}
