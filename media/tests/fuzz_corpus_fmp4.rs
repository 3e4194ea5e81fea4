//! Replays the seed corpus of the `fmp4_roundtrip` fuzz target in the normal test run (with
//! truncations and deterministic mutations), so a seed that panics is caught without
//! cargo-fuzz; and checks the corpus holds every seed of the module's case table
//! (`VIGIA_WRITE_SEEDS=1` writes them).

mod common;

use std::fs;

use common::{Replay, corpus_dir, replay_corpus};
use vigia_media::fmp4::{fuzz_fmp4_roundtrip, fuzz_fmp4_seeds};

const TARGET: &str = "fmp4_roundtrip";

#[test]
fn corpus_holds_the_case_table_seeds() {
    let dir = corpus_dir(TARGET);
    for (name, data) in fuzz_fmp4_seeds() {
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
fn fmp4_roundtrip_corpus_replays() {
    let effort = Replay {
        truncations: 32,
        mutations: 100,
    };
    replay_corpus(TARGET, effort, fuzz_fmp4_roundtrip);
}
