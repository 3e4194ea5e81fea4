//! The configuration error type and where an offending value came from.

use std::fmt;
use std::path::PathBuf;

/// Where a configuration value was read from, for error messages and warnings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Origin {
    /// A line (1-based) of the named configuration file.
    Line {
        /// The file name as given to the loader (`mediamtx.yml`, `<built-in>`…).
        source_name: String,
        /// 1-based line number.
        line: usize,
    },
    /// An environment variable such as `MTX_RTSPADDRESS`.
    Env(String),
    /// The file, where no better position could be found (flow-style YAML, say).
    File(String),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Line { source_name, line } => write!(f, "at line {line} of {source_name}"),
            Origin::Env(var) => write!(f, "in environment variable {var}"),
            Origin::File(name) => write!(f, "in {name}"),
        }
    }
}

/// Everything that can stop the configuration from loading.
///
/// Every variant names what to fix: the file, or the key and the line (or environment
/// variable) that holds the bad value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum ConfigError {
    /// The configuration file could not be read.
    #[error("cannot read configuration file {}: {message}", path.display())]
    Io {
        /// The file that was being read.
        path: PathBuf,
        /// The operating system's explanation.
        message: String,
    },
    /// The text is not valid YAML.
    #[error("{source_name} is not valid YAML{}: {message}", line_suffix(*line))]
    Syntax {
        /// The file name.
        source_name: String,
        /// 1-based line of the syntax error, when the parser reports one.
        line: Option<usize>,
        /// The parser's explanation.
        message: String,
    },
    /// A key that neither MediaMTX nor Vigia knows.
    #[error("unknown key \"{key}\" {origin}")]
    UnknownKey {
        /// The key as a dotted path (`paths.cam1.sorce`).
        key: String,
        /// Where it was found.
        origin: Origin,
    },
    /// A deprecated MediaMTX key, refused rather than silently ignored.
    #[error(
        "deprecated MediaMTX key \"{key}\" {origin} is not supported by Vigia; use {replacement} instead"
    )]
    Deprecated {
        /// The key as a dotted path.
        key: String,
        /// Where it was found.
        origin: Origin,
        /// What to write instead.
        replacement: String,
    },
    /// A known key with a value that cannot be used.
    #[error("invalid value for \"{key}\" {origin}: {problem}")]
    InvalidValue {
        /// The key as a dotted path (`pathDefaults.sourceOnDemandStartTimeout`).
        key: String,
        /// Where it was found.
        origin: Origin,
        /// What is wrong and, when possible, what would be accepted.
        problem: String,
    },
}

// `key`/`line` serve tests and callers that report errors structurally.
#[allow(dead_code)]
impl ConfigError {
    /// The offending key as a dotted path, when the error is about a key.
    pub(crate) fn key(&self) -> Option<&str> {
        match self {
            ConfigError::UnknownKey { key, .. }
            | ConfigError::InvalidValue { key, .. }
            | ConfigError::Deprecated { key, .. } => Some(key),
            _ => None,
        }
    }

    /// The 1-based line of the offending text, when it is known.
    pub(crate) fn line(&self) -> Option<usize> {
        match self {
            ConfigError::Syntax { line, .. } => *line,
            ConfigError::UnknownKey { origin, .. }
            | ConfigError::InvalidValue { origin, .. }
            | ConfigError::Deprecated { origin, .. } => match origin {
                Origin::Line { line, .. } => Some(*line),
                _ => None,
            },
            ConfigError::Io { .. } => None,
        }
    }
}

fn line_suffix(line: Option<usize>) -> String {
    match line {
        Some(l) => format!(" (line {l})"),
        None => String::new(),
    }
}
