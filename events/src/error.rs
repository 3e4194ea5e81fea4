//! The crate's one error type.

use std::path::PathBuf;

/// Everything that can go wrong in `vigia-events`, with enough context to find the cause.
///
/// Cheap to clone: causes from other crates are kept as their display text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// A message could not be parsed into an [`crate::Event`].
    #[error("malformed event: {0}")]
    Malformed(#[from] crate::ParseError),
    /// A payload was rejected before it was sent (for example an invalid value object).
    #[error("invalid event {what}: {reason}")]
    Invalid {
        /// What was being built.
        what: String,
        /// Why it was rejected.
        reason: String,
    },
    /// Talking to the broker failed.
    #[error("amqp {op}: {cause}")]
    Amqp {
        /// The operation that failed, with the names it used (`queue.declare vigia.dlq`).
        op: String,
        /// The broker or client error text.
        cause: String,
    },
    /// A file of the outbox, dedupe store or JSONL sink failed.
    #[error("{op} {path}: {cause}", path = path.display())]
    Io {
        /// What was being done (`append`, `fsync`, `read`).
        op: &'static str,
        /// The file involved.
        path: PathBuf,
        /// The OS error text.
        cause: String,
    },
    /// The outbox reached its size bound; the event was not accepted.
    #[error("outbox full ({used} of {limit} bytes); event {id} dropped")]
    OutboxFull {
        /// Bytes in use.
        used: u64,
        /// Configured bound.
        limit: u64,
        /// Id of the dropped event.
        id: String,
    },
    /// The publisher's intake channel is full (the background task is behind).
    #[error("publisher intake full; event {id} dropped")]
    Backpressure {
        /// Id of the dropped event.
        id: String,
    },
    /// The publisher or consumer task has stopped.
    #[error("events task stopped")]
    Stopped,
    /// The keys for sealed secrets (`VIGIA_EVENTS_KEYS`, or `VIGIA_EVENTS_KEY` with
    /// `VIGIA_EVENTS_KEY_ID`) are missing or unusable.
    #[error("events keys: {0}")]
    Keys(String),
    /// A sealed secret (a camera password) could not be opened.
    #[error("cannot open the {what} sealed with key {key_id:?}: {reason}")]
    Secret {
        /// Which secret (`camera cam-12 password`).
        what: String,
        /// The key id the secret names.
        key_id: String,
        /// Why, and what to do about it.
        reason: String,
    },
    /// Bad command line or configuration.
    #[error("usage: {0}")]
    Usage(String),
}

impl Error {
    /// Wraps a lapin error with the operation that failed.
    pub(crate) fn amqp(op: impl Into<String>, cause: impl std::fmt::Display) -> Self {
        Error::Amqp {
            op: op.into(),
            cause: cause.to_string(),
        }
    }

    /// Wraps an I/O error with the operation and file.
    pub(crate) fn io(op: &'static str, path: &std::path::Path, cause: std::io::Error) -> Self {
        Error::Io {
            op,
            path: path.to_path_buf(),
            cause: cause.to_string(),
        }
    }
}
