//! `hlsDirectory`: a muxer's complete segments written to disk instead of kept in memory, as
//! MediaMTX does with the same key.
//!
//! Each muxer writes into a directory of its own, `<hlsDirectory>/<path>/vigia-hls-<n>/`, one
//! file per complete segment (`<msn>.mp4`, its parts one after the other). A segment is written
//! as soon as it is complete, from the blocking pool (never under the stream's lock), and only
//! then is its memory let go: a request for it or one of its parts reads the file's byte range.
//! The segment in progress stays in memory, as do a segment's bytes whenever a write fails (the
//! error is logged). A segment's file is deleted when it leaves the muxer's window, and the
//! directory when the muxer closes. The files are not fsynced: they are a cache of the live
//! window, not a recording. What a previous run left (it was stopped or killed with muxers
//! open) is deleted when the HLS server starts ([`clear_stale`]).

use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use vigia_storage::spool::write_all_vectored;

use super::muxer::Muxer;
use crate::paths::lock;

/// Numbers muxers' directories, so that a muxer reopened on a path never meets the files of
/// the one before it.
static NEXT_MUXER: AtomicU64 = AtomicU64::new(0);
/// A muxer's directory is this and its number: a name nothing else is likely to have, since
/// the start-up clearing deletes such directories.
const MUXER_DIR_PREFIX: &str = "vigia-hls-";

/// File I/O `f` run on the blocking pool; a task that panicked or was cancelled is an error.
async fn blocking_io<T: Send + 'static>(
    f: impl FnOnce() -> std::io::Result<T> + Send + 'static,
) -> std::io::Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .unwrap_or_else(|e| Err(std::io::Error::other(e)))
}

/// Deletes the muxer directories a previous run left under `root`: directories named by a
/// `vigia-hls-<n>` that hold nothing but `<number>.mp4` files. Nothing else under `root` is
/// touched.
pub(crate) async fn clear_stale(root: &Path) {
    let root = root.to_path_buf();
    let cleared = tokio::task::spawn_blocking(move || clear_stale_under(&root)).await;
    match cleared {
        Ok(0) | Err(_) => {}
        Ok(n) => tracing::info!("[HLS] deleted the segments of {n} muxers of a previous run"),
    }
}

/// [`clear_stale`], on a blocking thread; returns how many directories it removed.
fn clear_stale_under(dir: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    let mut removed = 0;
    for entry in entries.flatten() {
        let path = entry.path();
        if !entry.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        if is_muxer_dir(&path) {
            removed += usize::from(std::fs::remove_dir_all(&path).is_ok());
        } else {
            removed += clear_stale_under(&path);
        }
    }
    removed
}

/// Whether `dir` is a muxer's directory: `vigia-hls-<n>`, holding only `<number>.mp4` files.
fn is_muxer_dir(dir: &Path) -> bool {
    let numeric = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let named = dir
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.strip_prefix(MUXER_DIR_PREFIX))
        .is_some_and(numeric);
    let Ok(entries) = std::fs::read_dir(dir) else {
        return false;
    };
    named
        && entries.flatten().all(|e| {
            e.file_type().is_ok_and(|t| t.is_file())
                && e.file_name()
                    .to_str()
                    .and_then(|n| n.strip_suffix(".mp4"))
                    .is_some_and(numeric)
        })
}

/// Where one muxer's segments are written.
pub(crate) struct SegmentStore {
    dir: PathBuf,
    path: String,
}

/// Complete segments to write, as `(msn, chunks)`, and segments whose files can go.
type Work = (Vec<(u64, Vec<Bytes>)>, Vec<u64>);

impl SegmentStore {
    /// Where a new muxer of `path` writes under `root`; the directory is made by
    /// [`SegmentStore::run`], off the async threads.
    pub(crate) fn new(root: &Path, path: &str) -> Arc<Self> {
        let number = NEXT_MUXER.fetch_add(1, Ordering::Relaxed);
        Arc::new(SegmentStore {
            dir: root.join(path).join(format!("{MUXER_DIR_PREFIX}{number}")),
            path: path.to_string(),
        })
    }

    fn file(&self, msn: u64) -> PathBuf {
        self.dir.join(format!("{msn}.mp4"))
    }

    /// Bytes `offset..offset + len` of stored segment `msn`.
    pub(crate) async fn read(
        self: &Arc<Self>,
        msn: u64,
        offset: usize,
        len: usize,
    ) -> std::io::Result<Bytes> {
        let file = self.file(msn);
        let read = move || {
            let mut buf = vec![0; len];
            std::fs::File::open(&file)?.read_exact_at(&mut buf, offset as u64)?;
            Ok(Bytes::from(buf))
        };
        blocking_io(read).await
    }

    /// Makes the muxer's directory, then writes `muxer`'s complete segments as they come and
    /// deletes those that leave its window, until the task is aborted (the muxer closed); then
    /// [`SegmentStore::remove`] runs. A directory that cannot be made is logged, and the muxer
    /// keeps its segments in memory.
    pub(crate) async fn run(self: Arc<Self>, muxer: Arc<Muxer>) {
        let dir = self.dir.clone();
        if let Err(e) = blocking_io(move || std::fs::create_dir_all(&dir)).await {
            let dir = self.dir.display();
            tracing::error!(path = %self.path, "[HLS] cannot create {dir}: {e}; segments stay in memory");
            lock(&muxer.state).keep_segments_in_memory();
            return;
        }
        let mut version = muxer.version.subscribe();
        loop {
            let work = {
                let mut state = lock(&muxer.state);
                (state.segments_to_store(), state.take_dropped_stored())
            };
            self.apply(&muxer, work).await;
            if version.changed().await.is_err() {
                return;
            }
        }
    }

    /// Writes and deletes files off the async threads, then tells the muxer what is written;
    /// a segment that left the window meanwhile has its file deleted again.
    async fn apply(self: &Arc<Self>, muxer: &Muxer, (segments, dropped): Work) {
        if segments.is_empty() && dropped.is_empty() {
            return;
        }
        let store = Arc::clone(self);
        let written =
            tokio::task::spawn_blocking(move || store.write_and_delete(segments, dropped))
                .await
                .unwrap_or_default();
        let late: Vec<u64> = {
            let mut state = lock(&muxer.state);
            written
                .into_iter()
                .filter(|&msn| !state.stored(msn))
                .collect()
        };
        if !late.is_empty() {
            let store = Arc::clone(self);
            let _ = tokio::task::spawn_blocking(move || store.delete(&late)).await;
        }
    }

    /// Writes each segment to its file and returns the MSNs written; deletes `dropped`.
    fn write_and_delete(&self, segments: Vec<(u64, Vec<Bytes>)>, dropped: Vec<u64>) -> Vec<u64> {
        self.delete(&dropped);
        let mut written = Vec::with_capacity(segments.len());
        for (msn, chunks) in segments {
            match self.write(msn, &chunks) {
                Ok(()) => written.push(msn),
                Err(e) => {
                    let file = self.file(msn);
                    tracing::error!(path = %self.path, "[HLS] cannot write {}: {e}; the segment stays in memory", file.display());
                    let _ = std::fs::remove_file(file);
                }
            }
        }
        written
    }

    fn write(&self, msn: u64, chunks: &[Bytes]) -> std::io::Result<()> {
        let mut file = std::fs::File::create(self.file(msn))?;
        write_all_vectored(&mut file, chunks)
    }

    fn delete(&self, msns: &[u64]) {
        for &msn in msns {
            if let Err(e) = std::fs::remove_file(self.file(msn))
                && e.kind() != std::io::ErrorKind::NotFound
            {
                tracing::warn!(path = %self.path, "[HLS] cannot delete segment {msn}: {e}");
            }
        }
    }

    /// Deletes the muxer's directory and everything in it (the muxer closed).
    pub(crate) async fn remove(self: Arc<Self>) {
        let dir = self.dir.clone();
        if let Err(e) = blocking_io(move || std::fs::remove_dir_all(&dir)).await
            && e.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(path = %self.path, "[HLS] cannot remove {}: {e}", self.dir.display());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_what_a_muxer_left_is_cleared() {
        let root = std::env::temp_dir().join(format!("vigia-hls-stale-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let write = |rel: &str| {
            let file = root.join(rel);
            std::fs::create_dir_all(file.parent().unwrap()).unwrap();
            std::fs::write(file, b"x").unwrap();
        };
        write("cam1/vigia-hls-0/12.mp4");
        write("city/cam2/vigia-hls-3/7.mp4");
        write("city/cam2/vigia-hls-3/8.mp4");
        write("other/vigia-hls-4/notes.txt");
        write("other/vigia-hls-4/9.mp4");
        write("2024/01.mp4");
        write("keep.mp4");
        assert_eq!(clear_stale_under(&root), 2);
        assert!(!root.join("cam1/vigia-hls-0").exists());
        assert!(!root.join("city/cam2/vigia-hls-3").exists());
        let other = root.join("other/vigia-hls-4/notes.txt");
        assert!(other.exists(), "a directory with other files stays");
        let numbered = root.join("2024/01.mp4");
        assert!(
            numbered.exists(),
            "a numbered directory not named by Vigia stays"
        );
        assert!(root.join("keep.mp4").exists());
        std::fs::remove_dir_all(&root).unwrap();
    }
}
