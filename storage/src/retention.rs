//! Retention: segments older than their path's `recordDeleteAfter` are deleted from their
//! store and from the index.
//!
//! A pass walks the index (segments per path, sorted by time), not the store, so it costs a
//! few map lookups per path when nothing is due, for thousands of cameras. A city's storage
//! plan overrides the path's own setting through [`Retention::set_override`] (the event bus
//! delivers the plans).

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use crate::index::RecordingIndex;
use crate::template::Destination;
use crate::uploader::Stores;

/// How long each path keeps its recordings.
#[derive(Debug, Default)]
pub struct Retention {
    /// Per path: (keep for, destination); `None` keeps forever.
    paths: Mutex<HashMap<String, (Option<Duration>, Destination)>>,
    overrides: Mutex<HashMap<String, Duration>>,
}

impl Retention {
    /// A retention policy with no paths.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `path`'s own `recordDeleteAfter` (`None` or zero: keep forever) and where its
    /// segments are stored.
    pub fn set_path(&self, path: &str, keep: Option<Duration>, destination: Destination) {
        let keep = keep.filter(|d| !d.is_zero());
        let mut paths = self.paths.lock().unwrap_or_else(PoisonError::into_inner);
        paths.insert(path.to_owned(), (keep, destination));
    }

    /// Overrides `path`'s retention (a city's storage plan); `None` removes the override.
    pub fn set_override(&self, path: &str, keep: Option<Duration>) {
        let mut overrides = self
            .overrides
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        match keep {
            Some(d) => overrides.insert(path.to_owned(), d),
            None => overrides.remove(path),
        };
    }

    /// How long `path` keeps recordings now, and where they are.
    pub fn keep(&self, path: &str) -> Option<(Option<Duration>, Destination)> {
        let (own, destination) = self
            .paths
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(path)?
            .clone();
        let over = self
            .overrides
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(path)
            .copied();
        Some((over.or(own), destination))
    }

    /// One pass at wall-clock time `now_us`: deletes every indexed segment that ended more
    /// than its path's retention ago. Returns how many were deleted; failures are logged and
    /// retried on the next pass.
    pub async fn pass(&self, now_us: i64, index: &RecordingIndex, stores: &Stores) -> usize {
        let mut deleted = 0;
        for path in index.paths() {
            let Some((Some(keep), destination)) = self.keep(&path) else {
                continue;
            };
            let cutoff = now_us - i64::try_from(keep.as_micros()).unwrap_or(i64::MAX);
            let due = index.ending_before(&path, cutoff);
            if due.is_empty() {
                continue;
            }
            let store = match stores.get(&destination) {
                Ok(store) => store,
                Err(e) => {
                    tracing::error!(path = %path, "retention: {e}");
                    continue;
                }
            };
            for segment in due {
                match store.delete(&segment.key).await {
                    Ok(()) => {
                        index.remove(&path, segment.start_us);
                        deleted += 1;
                    }
                    Err(e) => tracing::error!(path = %path, "retention: {e}; retried next pass"),
                }
            }
        }
        deleted
    }
}
