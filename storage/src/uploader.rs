//! The uploader: sends the spool's complete segments to their stores, oldest first, and moves
//! them into the recording index.
//!
//! A failed upload is retried with exponential backoff (1 s doubling to 30 s) without limit:
//! while S3 is down the spool grows (up to its own limit), and when S3 returns the backlog
//! drains in order. The first failure of a streak is logged as an error naming the bucket and
//! key and what the store said (wrong credentials, missing bucket, unreachable endpoint);
//! while it lasts, one summary line every 30 s.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::StorageError;
use crate::index::{RecordingIndex, SegmentEntry};
use crate::spool::{Pending, Spool};
use crate::store::Store;
use crate::template::Destination;

const BACKOFF_MIN: Duration = Duration::from_secs(1);
const BACKOFF_MAX: Duration = Duration::from_secs(30);
const SUMMARY_EVERY: Duration = Duration::from_secs(30);

/// What the uploader has done, as plain numbers.
#[derive(Debug, Default)]
pub struct UploadStats {
    /// Segments stored.
    pub uploaded_segments: AtomicU64,
    /// Bytes stored.
    pub uploaded_bytes: AtomicU64,
    /// Failed attempts.
    pub failures: AtomicU64,
}

/// Opens each destination's store once and hands out clones.
#[derive(Debug, Default)]
pub struct Stores {
    open: std::sync::Mutex<HashMap<Destination, Store>>,
}

impl Stores {
    /// The store of `destination`, opened on first use.
    pub fn get(&self, destination: &Destination) -> Result<Store, StorageError> {
        let mut open = self
            .open
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(store) = open.get(destination) {
            return Ok(store.clone());
        }
        let store = Store::open(destination)?;
        open.insert(destination.clone(), store.clone());
        Ok(store)
    }

    /// Uses `store` for `destination` (tests use an in-memory store).
    pub fn insert(&self, destination: Destination, store: Store) {
        let mut open = self
            .open
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        open.insert(destination, store);
    }
}

/// Uploads forever: waits for complete segments, sends them, retries failures with backoff.
pub async fn run(
    spool: Arc<Spool>,
    stores: Arc<Stores>,
    index: Arc<RecordingIndex>,
    stats: Arc<UploadStats>,
) {
    let mut backoff = BACKOFF_MIN;
    let mut streak: Option<(Instant, u64)> = None;
    loop {
        let Some(pending) = spool.next_pending() else {
            // Woken by a finished segment; the timeout covers a wake-up that came too early.
            let _ = tokio::time::timeout(Duration::from_secs(1), spool.wait_ready()).await;
            continue;
        };
        match upload(&pending, &stores, &index).await {
            Ok(()) => {
                if let Some((_, failures)) = streak.take() {
                    tracing::info!(
                        "recording upload works again after {failures} failed attempts; the spool drains"
                    );
                }
                backoff = BACKOFF_MIN;
                stats.uploaded_segments.fetch_add(1, Ordering::Relaxed);
                stats
                    .uploaded_bytes
                    .fetch_add(pending.size, Ordering::Relaxed);
                spool.remove(pending.id);
            }
            Err(e) => {
                stats.failures.fetch_add(1, Ordering::Relaxed);
                report_failure(&mut streak, &pending, &e, &spool);
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(BACKOFF_MAX);
            }
        }
    }
}

/// Sends one segment and indexes it; the index journal's fsync runs on the blocking pool.
pub async fn upload(
    pending: &Pending,
    stores: &Stores,
    index: &Arc<RecordingIndex>,
) -> Result<(), StorageError> {
    let store = stores.get(&pending.meta.destination)?;
    store
        .put_file(&pending.meta.key, &pending.file, pending.size)
        .await?;
    let (index, path) = (index.clone(), pending.meta.path.clone());
    let entry = SegmentEntry {
        key: pending.meta.key.clone(),
        start_us: pending.meta.start_us,
        duration_us: pending.meta.duration_us.unwrap_or(0),
        size: pending.size,
    };
    // Stored already: a failed journal task only loses the journal line, logged by the index.
    let _ = tokio::task::spawn_blocking(move || index.insert(&path, entry)).await;
    Ok(())
}

fn report_failure(
    streak: &mut Option<(Instant, u64)>,
    pending: &Pending,
    e: &StorageError,
    spool: &Spool,
) {
    match streak {
        None => {
            tracing::error!(path = %pending.meta.path, "recording upload failed: {e}; segments stay in the spool and are retried");
            *streak = Some((Instant::now(), 1));
        }
        Some((last, failures)) => {
            *failures += 1;
            if last.elapsed() >= SUMMARY_EVERY {
                let s = spool.stats();
                tracing::error!(
                    "recording upload still failing ({failures} attempts): {e}; spool holds {} segments, {} bytes",
                    s.segments,
                    s.bytes
                );
                *last = Instant::now();
            }
        }
    }
}
