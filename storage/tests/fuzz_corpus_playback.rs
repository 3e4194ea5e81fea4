//! Replays the seed corpus of the `playback_segment` fuzz target in the normal test run (with
//! truncations and deterministic mutations), so a seed that panics is caught without
//! cargo-fuzz; and checks the corpus holds every seed of the playback case table
//! (`VIGIA_WRITE_SEEDS=1` writes them).

// The corpus replay helpers are media's, shared rather than copied.
#[path = "../../media/tests/common/mod.rs"]
mod common;

use std::fs;

use common::{Replay, corpus_dir, replay_corpus};
use vigia_storage::playback::fuzz::{fuzz_playback_seeds, fuzz_playback_segment};

const TARGET: &str = "playback_segment";

#[test]
fn corpus_holds_the_case_table_seeds() {
    let dir = corpus_dir(TARGET);
    for (name, data) in fuzz_playback_seeds() {
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
fn playback_segment_corpus_replays() {
    let effort = Replay {
        truncations: 32,
        mutations: 200,
    };
    replay_corpus(TARGET, effort, fuzz_playback_segment);
}
