//! The crate's one error type: each module's own error, plus what the binary meets.

use std::time::Duration;

use crate::config::ConfigError;
use crate::ocr::OcrError;
use crate::plate::PlateError;
use crate::watchlist::WatchlistError;

/// Everything that stops `vigia-ai`, with the context to find the cause (the variable, the
/// watch list entry, the input line). Cheap to clone.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// A bad environment variable.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A watch list that cannot be loaded.
    #[error(transparent)]
    Watchlist(#[from] WatchlistError),
    /// The OCR stage cannot load or run.
    #[error(transparent)]
    Ocr(#[from] OcrError),
    /// Text that is not a plate.
    #[error(transparent)]
    Plate(#[from] PlateError),
    /// The event publisher failed.
    #[error("events: {0}")]
    Events(#[from] vigia_events::Error),
    /// A line of input that is not an OCR read.
    #[error("{source_name} line {line}: {cause}")]
    Input {
        /// Where the input came from (`stdin`).
        source_name: &'static str,
        /// 1-based line number.
        line: u64,
        /// What is wrong with it.
        cause: String,
    },
    /// A worker of `vigia-ai run` stopped (it only stops by panicking).
    #[error("the {0} stopped")]
    WorkerStopped(&'static str),
    /// The broker did not confirm the published events in time.
    #[error("the broker did not confirm within {0:?}; the events wait in the outbox")]
    FlushTimeout(Duration),
}
