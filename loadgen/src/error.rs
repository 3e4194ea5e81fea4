//! The load generator's error type: what failed and where (which camera or reader, which step).

/// A failure of one connection or of the run, with the context needed to find it.
#[derive(Debug, thiserror::Error)]
#[error("{context}: {kind}")]
pub struct Error {
    /// Where: `camera 12 ANNOUNCE`, `reader 3/1 PLAY`, `report out.json`…
    pub context: String,
    /// What went wrong.
    pub kind: ErrorKind,
}

/// What went wrong.
#[derive(Debug, thiserror::Error)]
pub enum ErrorKind {
    /// A socket or file operation failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// The peer answered something we cannot use.
    #[error("protocol: {0}")]
    Protocol(String),
    /// The command line or an option value is wrong.
    #[error("usage: {0}")]
    Usage(String),
}

impl Error {
    /// An error `kind` at `context`.
    pub fn new(context: impl Into<String>, kind: impl Into<ErrorKind>) -> Self {
        Self {
            context: context.into(),
            kind: kind.into(),
        }
    }

    /// A protocol error at `context`.
    pub fn protocol(context: impl Into<String>, what: impl Into<String>) -> Self {
        Self::new(context, ErrorKind::Protocol(what.into()))
    }

    /// A usage error (bad flag or value).
    pub fn usage(what: impl Into<String>) -> Self {
        Self::new("command line", ErrorKind::Usage(what.into()))
    }
}

/// Adds context to I/O results.
pub trait Context<T> {
    /// Wraps the error with `context`.
    fn context(self, context: impl FnOnce() -> String) -> Result<T, Error>;
}

impl<T> Context<T> for Result<T, std::io::Error> {
    fn context(self, context: impl FnOnce() -> String) -> Result<T, Error> {
        self.map_err(|e| Error::new(context(), e))
    }
}
