//! Replays the seed corpora of the storage fuzz targets (`segment_scan`, `record_path`,
//! `index_journal`) in the normal test run, with truncations and deterministic mutations, so a
//! seed that panics is caught without cargo-fuzz; checks each corpus holds the seeds of its
//! module (`VIGIA_WRITE_SEEDS=1` writes them); and opens every journal seed through the file
//! path that the server uses.

// The corpus replay helpers are media's, shared rather than copied.
#[path = "../../media/tests/common/mod.rs"]
mod common;

use std::fs;

use common::{Replay, corpus_dir, replay_corpus};
use vigia_storage::index::{RecordingIndex, fuzz_index_journal, fuzz_index_journal_seeds};
use vigia_storage::segment::{fuzz_segment_scan, fuzz_segment_scan_seeds};
use vigia_storage::template::{fuzz_record_path, fuzz_record_path_seeds};

const EFFORT: Replay = Replay {
    truncations: 32,
    mutations: 200,
};

/// Fails if the corpus of `target` lacks a seed of `seeds` or holds a stale one.
fn check_seeds(target: &str, seeds: Vec<(String, Vec<u8>)>) {
    let dir = corpus_dir(target);
    for (name, data) in seeds {
        let path = dir.join(format!("seed-{name}"));
        if std::env::var_os("VIGIA_WRITE_SEEDS").is_some() {
            fs::create_dir_all(&dir).unwrap();
            fs::write(&path, &data).unwrap();
        }
        let stored = fs::read(&path).unwrap_or_default();
        assert!(
            stored == data,
            "{} is stale: run with VIGIA_WRITE_SEEDS=1",
            path.display()
        );
    }
}

#[test]
fn corpora_hold_the_module_seeds() {
    check_seeds("segment_scan", fuzz_segment_scan_seeds());
    check_seeds("record_path", fuzz_record_path_seeds());
    check_seeds("index_journal", fuzz_index_journal_seeds());
}

#[test]
fn segment_scan_corpus_replays() {
    replay_corpus("segment_scan", EFFORT, fuzz_segment_scan);
}

#[test]
fn record_path_corpus_replays() {
    replay_corpus("record_path", EFFORT, fuzz_record_path);
}

#[test]
fn index_journal_corpus_replays() {
    replay_corpus("index_journal", EFFORT, fuzz_index_journal);
}

#[test]
fn index_journal_corpus_opens_from_files() {
    let dir = std::env::temp_dir().join(format!("vigia-index-corpus-{}", std::process::id()));
    fs::create_dir_all(&dir).unwrap();
    let file = dir.join("index.jsonl");
    for entry in fs::read_dir(corpus_dir("index_journal")).unwrap() {
        fs::write(&file, fs::read(entry.unwrap().path()).unwrap()).unwrap();
        let index = RecordingIndex::open(&file).unwrap();
        for path in index.paths() {
            let spans = index.spans(&path, i64::MIN, i64::MAX);
            for w in spans.windows(2) {
                let end = w[0].start_us.saturating_add(w[0].duration_us);
                assert!(end < w[1].start_us, "{w:?}");
            }
        }
        let reopened = RecordingIndex::open(&file).unwrap();
        assert_eq!(
            reopened.len(),
            index.len(),
            "the compacted journal reopens the same"
        );
    }
    fs::remove_dir_all(&dir).unwrap();
}
