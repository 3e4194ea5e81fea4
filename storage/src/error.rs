//! The crate's one error type.

/// What went wrong recording, uploading or playing back.
///
/// Each variant carries where it happened (a spool file, an object key, a template, a query
/// parameter) so a failure can be found from its message alone. Cheap to clone.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum StorageError {
    /// A `recordPath` template that cannot name segments.
    #[error("recordPath {template:?}: {what}")]
    Template {
        /// The template as configured.
        template: String,
        /// What is wrong with it.
        what: String,
    },
    /// A local file or directory of the spool or of a local destination.
    #[error("{path}: {what}")]
    File {
        /// The file or directory.
        path: String,
        /// The operation and the OS error.
        what: String,
    },
    /// The object store refused or failed an operation.
    #[error("object store {location}: {what}")]
    Store {
        /// Bucket (or local root) and key.
        location: String,
        /// What the store said.
        what: String,
    },
    /// A recorded segment whose bytes are not the fMP4 this crate writes.
    #[error("segment {key}: {what}")]
    Segment {
        /// The segment's key or spool file.
        key: String,
        /// What is wrong.
        what: String,
    },
}

impl StorageError {
    /// A [`StorageError::File`] for `path` from an I/O error during `op`.
    pub fn file(path: &std::path::Path, op: &str, err: &std::io::Error) -> Self {
        StorageError::File {
            path: path.display().to_string(),
            what: format!("{op}: {err}"),
        }
    }
}
