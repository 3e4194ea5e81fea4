//! Rebuilding the recording index from the store: what a node that never saw a path's
//! segments (a new node, a lost spool directory, segments uploaded by another node) needs before
//! its playback server can list them.
//!
//! One listing of the path's key prefix finds the segments; each one missing from the index
//! costs one ranged read of its last [`TRAILER_LEN`] bytes (the [trailer](crate::trailer) holds
//! its duration). Keys that are not this path's segments, or segments without a trailer (not
//! written by Vigia), are skipped and counted.

use crate::StorageError;
use crate::index::{RecordingIndex, SegmentEntry};
use crate::store::Store;
use crate::template::RecordPath;
use crate::trailer::{TRAILER_LEN, read_trailer};

/// What a rebuild found.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RebuildStats {
    /// Segments added to the index.
    pub added: usize,
    /// Segments the index already had.
    pub known: usize,
    /// Objects under the prefix that are not segments of this path, or have no trailer.
    pub skipped: usize,
}

/// Adds to `index` every segment of `path` found in `store` under `record_path`'s prefix.
pub async fn rebuild(
    store: &Store,
    record_path: &RecordPath,
    path: &str,
    index: &RecordingIndex,
) -> Result<RebuildStats, StorageError> {
    let matcher = record_path.matcher(path);
    let known: std::collections::HashSet<String> = index
        .segments(path, i64::MIN, i64::MAX)
        .into_iter()
        .map(|e| e.key)
        .collect();
    let mut stats = RebuildStats::default();
    for (key, size) in store.list(&record_path.list_prefix(path)).await? {
        let Some(start_us) = matcher.start_us(&key) else {
            stats.skipped += 1;
            continue;
        };
        if known.contains(&key) {
            stats.known += 1;
            continue;
        }
        let tail = size.saturating_sub(TRAILER_LEN as u64)..size;
        let Some(duration_us) = read_trailer(&store.get_range(&key, tail).await?) else {
            stats.skipped += 1;
            continue;
        };
        let entry = SegmentEntry {
            key,
            start_us,
            duration_us,
            size,
        };
        index.insert(path, entry);
        stats.added += 1;
    }
    Ok(stats)
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;
    use crate::trailer::trailer;

    #[tokio::test]
    async fn segments_in_the_store_join_an_empty_index() {
        let store = Store::in_memory();
        let rp = RecordPath::parse("./r/%path/%s-%f").unwrap();
        let t0 = 1_764_684_245_000_000;
        for (i, duration) in [60_000_000i64, 59_500_000].iter().enumerate() {
            let mut data = vec![0u8; 100];
            data.extend_from_slice(&trailer(*duration));
            let key = rp.key("cam", t0 + i as i64 * 60_000_000);
            store.put(&key, Bytes::from(data)).await.unwrap();
        }
        store
            .put("cam/notes.txt", Bytes::from_static(b"x"))
            .await
            .unwrap();
        let no_trailer = rp.key("cam", t0 + 500_000_000);
        store
            .put(&no_trailer, Bytes::from(vec![0u8; 64]))
            .await
            .unwrap();
        let index = RecordingIndex::in_memory();
        let stats = rebuild(&store, &rp, "cam", &index).await.unwrap();
        assert_eq!((stats.added, stats.known, stats.skipped), (2, 0, 2));
        let spans = index.spans("cam", i64::MIN, i64::MAX);
        assert_eq!(spans.len(), 1);
        assert_eq!(spans[0].duration_us, 119_500_000);
        let again = rebuild(&store, &rp, "cam", &index).await.unwrap();
        assert_eq!((again.added, again.known), (0, 2));
    }
}
