//! The recording index: which segments exist for each path, when they start and how long they
//! last, so `/list` and `/get` never list the object store.
//!
//! Every segment the uploader stores is added; retention removes what it deletes. The index is
//! kept in memory (a sorted map per path: a `/list` over a month of 1-minute segments is a range
//! walk over 43,200 entries) and journaled to a local file (one JSON line per change, appended
//! and fsynced), which is compacted when loaded. A node that lost its journal rebuilds the
//! entries by listing the store ([`RecordingIndex::insert`] from the server's rebuild), where
//! segment durations are read from the segments themselves.

use std::collections::{BTreeMap, HashMap};
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};

use serde::{Deserialize, Serialize};

use crate::StorageError;

/// One stored segment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SegmentEntry {
    /// Object key (relative to the destination).
    pub key: String,
    /// Wall-clock time of its first frame, UNIX µs.
    pub start_us: i64,
    /// Duration of its media, µs.
    pub duration_us: i64,
    /// Size in bytes.
    pub size: u64,
}

impl SegmentEntry {
    /// Wall-clock time just after its last frame, UNIX µs.
    pub fn end_us(&self) -> i64 {
        self.start_us.saturating_add(self.duration_us)
    }
}

/// A recorded time span: consecutive segments with no gap between them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Span {
    /// Start, UNIX µs.
    pub start_us: i64,
    /// Duration, µs.
    pub duration_us: i64,
}

/// Segments closer than this (end of one to start of the next) belong to one span: the
/// recorder starts the next segment exactly where the previous one ends, so any real gap is
/// far larger than rounding.
pub const SPAN_TOLERANCE_US: i64 = 1_000_000;

/// The index of every path's stored segments, shared by the uploader, retention and playback.
#[derive(Debug, Default)]
pub struct RecordingIndex {
    paths: Mutex<HashMap<String, BTreeMap<i64, SegmentEntry>>>,
    journal: Mutex<Option<File>>,
    journal_path: Option<PathBuf>,
}

#[derive(Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "lowercase")]
enum JournalLine {
    Add {
        path: String,
        #[serde(flatten)]
        entry: SegmentEntry,
    },
    Del {
        path: String,
        start_us: i64,
    },
}

impl RecordingIndex {
    /// An index kept in memory only (tests, benches).
    pub fn in_memory() -> Self {
        Self::default()
    }

    /// Loads the journal at `file` (if any), compacts it, and journals later changes there.
    pub fn open(file: &Path) -> Result<Self, StorageError> {
        let index = RecordingIndex {
            journal_path: Some(file.to_owned()),
            ..Self::default()
        };
        if let Ok(f) = File::open(file) {
            index.replay(BufReader::new(f));
        }
        index.compact()?;
        Ok(index)
    }

    /// Adds (or replaces) a segment of `path`.
    pub fn insert(&self, path: &str, entry: SegmentEntry) {
        self.journal(&JournalLine::Add {
            path: path.to_owned(),
            entry: entry.clone(),
        });
        self.insert_quiet(path, entry);
    }

    /// Removes the segment of `path` starting at `start_us`; returns it if it was there.
    pub fn remove(&self, path: &str, start_us: i64) -> Option<SegmentEntry> {
        let removed = self.lock().get_mut(path)?.remove(&start_us);
        if removed.is_some() {
            self.journal(&JournalLine::Del {
                path: path.to_owned(),
                start_us,
            });
        }
        removed
    }

    /// The segments of `path` that overlap `[start_us, end_us)`, oldest first.
    pub fn segments(&self, path: &str, start_us: i64, end_us: i64) -> Vec<SegmentEntry> {
        let paths = self.lock();
        let Some(map) = paths.get(path).filter(|_| start_us <= end_us) else {
            return Vec::new();
        };
        // A segment starting before `start_us` may still cover it: begin at the one before.
        let first = map
            .range(..=start_us)
            .next_back()
            .map_or(start_us, |(k, _)| *k);
        map.range(first..end_us)
            .map(|(_, e)| e)
            .filter(|e| e.end_us() > start_us)
            .cloned()
            .collect()
    }

    /// The recorded spans of `path` overlapping `[start_us, end_us)`: consecutive segments
    /// (within [`SPAN_TOLERANCE_US`]) merged, clipped to the window.
    pub fn spans(&self, path: &str, start_us: i64, end_us: i64) -> Vec<Span> {
        // (start, end) pairs with saturating ends: times near the ends of `i64` (a corrupt
        // journal, a camera clock gone wild) must not overflow.
        let mut spans: Vec<(i64, i64)> = Vec::new();
        for e in self.segments(path, start_us, end_us) {
            match spans.last_mut() {
                Some((_, end)) if e.start_us <= end.saturating_add(SPAN_TOLERANCE_US) => {
                    *end = (*end).max(e.end_us());
                }
                _ => spans.push((e.start_us, e.end_us())),
            }
        }
        spans
            .into_iter()
            .map(|(start, end)| (start.max(start_us), end.min(end_us)))
            .filter(|(start, end)| start < end)
            .map(|(start, end)| Span {
                start_us: start,
                duration_us: end.saturating_sub(start),
            })
            .collect()
    }

    /// The names of the paths with at least one segment.
    pub fn paths(&self) -> Vec<String> {
        let paths = self.lock();
        paths
            .iter()
            .filter(|(_, m)| !m.is_empty())
            .map(|(p, _)| p.clone())
            .collect()
    }

    /// The segments of `path` that end before `before_us`, oldest first (for retention).
    pub fn ending_before(&self, path: &str, before_us: i64) -> Vec<SegmentEntry> {
        let paths = self.lock();
        let Some(map) = paths.get(path) else {
            return Vec::new();
        };
        map.values()
            .take_while(|e| e.start_us < before_us)
            .filter(|e| e.end_us() <= before_us)
            .cloned()
            .collect()
    }

    /// How many segments the index holds in total.
    pub fn len(&self) -> usize {
        self.lock().values().map(BTreeMap::len).sum()
    }

    /// Whether the index holds no segment.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn insert_quiet(&self, path: &str, entry: SegmentEntry) {
        let mut paths = self.lock();
        let map = paths.entry(path.to_owned()).or_default();
        map.insert(entry.start_us, entry);
    }

    fn replay(&self, reader: impl BufRead) {
        for line in reader.lines().map_while(Result::ok) {
            // A torn last line (crash while appending) is skipped; every other line is whole.
            match serde_json::from_str::<JournalLine>(&line) {
                Ok(JournalLine::Add { path, entry }) => self.insert_quiet(&path, entry),
                Ok(JournalLine::Del { path, start_us }) => {
                    if let Some(map) = self.lock().get_mut(&path) {
                        map.remove(&start_us);
                    }
                }
                Err(_) => {}
            }
        }
    }

    /// Rewrites the journal with one line per current entry (write, fsync, rename).
    fn compact(&self) -> Result<(), StorageError> {
        let Some(file) = &self.journal_path else {
            return Ok(());
        };
        let tmp = file.with_extension("tmp");
        let out = self.compacted();
        let write = || -> std::io::Result<File> {
            let mut f = File::create(&tmp)?;
            f.write_all(&out)?;
            f.sync_all()?;
            std::fs::rename(&tmp, file)?;
            OpenOptions::new().append(true).open(file)
        };
        let f = write().map_err(|e| StorageError::file(file, "rewrite index journal", &e))?;
        *self.journal.lock().unwrap_or_else(PoisonError::into_inner) = Some(f);
        Ok(())
    }

    /// The journal of the current entries: one `add` line each.
    fn compacted(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for (path, map) in self.lock().iter() {
            for entry in map.values() {
                let line = JournalLine::Add {
                    path: path.clone(),
                    entry: entry.clone(),
                };
                out.extend(serde_json::to_vec(&line).unwrap_or_default());
                out.push(b'\n');
            }
        }
        out
    }

    fn journal(&self, line: &JournalLine) {
        let mut journal = self.journal.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(file) = journal.as_mut() else {
            return;
        };
        let mut bytes = serde_json::to_vec(line).unwrap_or_default();
        bytes.push(b'\n');
        if let Err(e) = file.write_all(&bytes).and_then(|()| file.sync_data()) {
            tracing::error!("recording index journal: {e}; the index stays correct in memory");
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, BTreeMap<i64, SegmentEntry>>> {
        self.paths.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Fuzz entry point of the `index_journal` target: the journal replay of
/// [`RecordingIndex::open`] on arbitrary bytes, asserting that `segments` and `spans` over the
/// whole time line and over windows read from the input (inverted ones included) are sorted,
/// inside the window and, for spans, disjoint and not empty; and that the compacted journal
/// replays to the same index.
#[doc(hidden)]
pub fn fuzz_index_journal(data: &[u8]) {
    let index = RecordingIndex::in_memory();
    index.replay(data);
    let mut windows = vec![(i64::MIN, i64::MAX)];
    for w in data.chunks_exact(16).take(4) {
        let at = |i: usize| w.get(i..i + 8).and_then(|b| b.try_into().ok());
        if let (Some(a), Some(b)) = (at(0), at(8)) {
            let (a, b) = (i64::from_le_bytes(a), i64::from_le_bytes(b));
            windows.extend([(a, b), (b, a)]);
        }
    }
    for path in index.paths() {
        for &(start, end) in &windows {
            fuzz::check_window(&index, &path, start, end);
        }
    }
    let again = RecordingIndex::in_memory();
    again.replay(index.compacted().as_slice());
    assert_eq!(
        fuzz::entries(&again),
        fuzz::entries(&index),
        "compaction keeps the index"
    );
}

/// Named seeds for the `index_journal` corpus: a journal of adds and deletes over two paths
/// with a torn last line, and one with extreme times and durations.
#[doc(hidden)]
pub fn fuzz_index_journal_seeds() -> Vec<(String, Vec<u8>)> {
    let seg = |start_us: i64, duration_us: i64| SegmentEntry {
        key: format!("k{start_us}"),
        start_us,
        duration_us,
        size: 1,
    };
    let add = |path: &str, entry| JournalLine::Add {
        path: path.to_owned(),
        entry,
    };
    let del = |path: &str, start_us| JournalLine::Del {
        path: path.to_owned(),
        start_us,
    };
    let journals = [
        (
            "journal",
            vec![
                add("a", seg(0, 60_000_000)),
                add("a", seg(60_000_000, 60_000_000)),
                add("a", seg(120_500_000, 30_000_000)),
                add("b/c", seg(5_000_000, 1_000_000)),
                del("a", 0),
                add("a", seg(200_000_000, 10_000_000)),
            ],
        ),
        (
            "extremes",
            vec![
                add("x", seg(i64::MIN, i64::MAX)),
                add("x", seg(-5, -10)),
                add("x", seg(i64::MAX - 1, i64::MAX)),
                add("x", seg(i64::MAX, 0)),
            ],
        ),
    ];
    journals
        .into_iter()
        .map(|(name, lines)| {
            let mut out = Vec::new();
            for line in &lines {
                out.extend(serde_json::to_vec(line).unwrap_or_default());
                out.push(b'\n');
            }
            if name == "journal" {
                out.extend_from_slice(b"{\"op\":\"add\",\"pa");
            }
            (name.to_owned(), out)
        })
        .collect()
}

mod fuzz {
    //! Checks of [`super::fuzz_index_journal`]; panics here are findings.

    use std::collections::BTreeMap;

    use super::{RecordingIndex, SegmentEntry};

    /// What `segments` and `spans` promise for the window `[start, end)` of `path`.
    pub(super) fn check_window(index: &RecordingIndex, path: &str, start: i64, end: i64) {
        let segments = index.segments(path, start, end);
        for w in segments.windows(2) {
            assert!(w[0].start_us < w[1].start_us, "segments sorted");
        }
        for s in &segments {
            assert!(
                s.start_us < end && s.end_us() > start,
                "segment overlaps the window"
            );
        }
        let spans = index.spans(path, start, end);
        for s in &spans {
            assert!(s.duration_us > 0, "span not empty: {s:?}");
            assert!(s.start_us >= start && s.start_us.saturating_add(s.duration_us) <= end);
        }
        for w in spans.windows(2) {
            let end_of_first = w[0].start_us.saturating_add(w[0].duration_us);
            assert!(
                end_of_first < w[1].start_us,
                "spans sorted and disjoint: {w:?}"
            );
        }
    }

    /// Every path's entries, paths without entries left out.
    pub(super) fn entries(index: &RecordingIndex) -> BTreeMap<String, BTreeMap<i64, SegmentEntry>> {
        let paths = index.lock();
        paths
            .iter()
            .filter(|(_, m)| !m.is_empty())
            .map(|(p, m)| (p.clone(), m.clone()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(start_s: i64, dur_s: i64) -> SegmentEntry {
        SegmentEntry {
            key: format!("k{start_s}"),
            start_us: start_s * 1_000_000,
            duration_us: dur_s * 1_000_000,
            size: 1,
        }
    }

    #[test]
    fn spans_merge_consecutive_segments_and_keep_gaps() {
        let index = RecordingIndex::in_memory();
        for (s, d) in [(0, 60), (60, 60), (120, 30), (160, 60)] {
            index.insert("cam", seg(s, d));
        }
        let spans = index.spans("cam", 0, i64::MAX);
        let secs: Vec<(i64, i64)> = spans
            .iter()
            .map(|s| (s.start_us / 1_000_000, s.duration_us / 1_000_000))
            .collect();
        assert_eq!(secs, [(0, 150), (160, 60)]);
        let clipped = index.spans("cam", 30_000_000, 170_000_000);
        let secs: Vec<(i64, i64)> = clipped
            .iter()
            .map(|s| (s.start_us / 1_000_000, s.duration_us / 1_000_000))
            .collect();
        assert_eq!(secs, [(30, 120), (160, 10)]);
        assert!(index.spans("other", 0, i64::MAX).is_empty());
    }

    #[test]
    fn segments_include_the_one_covering_the_start() {
        let index = RecordingIndex::in_memory();
        for s in [0, 60, 120] {
            index.insert("cam", seg(s, 60));
        }
        let got = index.segments("cam", 90_000_000, 130_000_000);
        assert_eq!(got, [seg(60, 60), seg(120, 60)]);
        assert_eq!(
            index.ending_before("cam", 120_000_000),
            [seg(0, 60), seg(60, 60)]
        );
    }

    /// Found by the `index_journal` fuzz target: sums of times near `i64::MAX` overflowed in
    /// `spans`, and a window ending before it starts panicked in `BTreeMap::range`.
    #[test]
    fn extreme_times_and_inverted_windows_do_not_panic() {
        let index = RecordingIndex::in_memory();
        let entry = |start_us, duration_us| SegmentEntry {
            key: "k".to_owned(),
            start_us,
            duration_us,
            size: 1,
        };
        index.insert("x", entry(i64::MIN, i64::MAX));
        index.insert("x", entry(i64::MAX - 1, i64::MAX));
        index.insert("x", entry(0, -10));
        let spans = index.spans("x", i64::MIN, i64::MAX);
        let whole = |start_us, duration_us| Span {
            start_us,
            duration_us,
        };
        assert_eq!(spans, [whole(i64::MIN, i64::MAX), whole(i64::MAX - 1, 1)]);
        assert!(index.segments("x", 10, 5).is_empty());
        assert!(index.spans("x", 10, 5).is_empty());
    }

    #[test]
    fn journal_survives_reopen_and_a_torn_line() {
        let dir = std::env::temp_dir().join(format!("vigia-index-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("index.jsonl");
        let _ = std::fs::remove_file(&file);
        {
            let index = RecordingIndex::open(&file).unwrap();
            index.insert("a", seg(0, 60));
            index.insert("a", seg(60, 60));
            index.insert("b/c", seg(5, 1));
            assert!(index.remove("a", 0).is_some());
        }
        let mut f = OpenOptions::new().append(true).open(&file).unwrap();
        f.write_all(b"{\"op\":\"add\",\"pa").unwrap();
        let index = RecordingIndex::open(&file).unwrap();
        assert_eq!(index.len(), 2);
        assert_eq!(index.segments("a", 0, i64::MAX), [seg(60, 60)]);
        let mut paths = index.paths();
        paths.sort();
        assert_eq!(paths, ["a", "b/c"]);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
