//! Replays the seed corpus of the `fmp4_roundtrip` fuzz target in the normal test run (with
//! truncations and deterministic mutations), so a seed that panics is caught without
//! cargo-fuzz; and checks the corpus holds every seed of the module's case table
//! (`VIGIA_WRITE_SEEDS=1` writes them).

use std::fs;
use std::path::PathBuf;

use vigia_media::fmp4::{fuzz_fmp4_roundtrip, fuzz_fmp4_seeds};

fn corpus_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/fmp4_roundtrip")
}

#[test]
fn corpus_holds_the_case_table_seeds() {
    let dir = corpus_dir();
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
    let dir = corpus_dir();
    let mut replayed = 0;
    for entry in fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let data = fs::read(entry.unwrap().path()).unwrap();
        fuzz_fmp4_roundtrip(&data);
        for cut in (0..data.len()).step_by(data.len() / 32 + 1) {
            fuzz_fmp4_roundtrip(&data[..cut]);
        }
        mutate(&data);
        replayed += 1;
    }
    assert!(replayed > 0, "no corpus files in {}", dir.display());
}

/// Deterministic bit flips and byte overwrites of `seed` (100 per seed; `VIGIA_FUZZ_ITERS` raises the count).
fn mutate(seed: &[u8]) {
    if seed.is_empty() {
        return;
    }
    let mut state = 0x9E37_79B9_7F4A_7C15u64 ^ seed.len() as u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let iters = std::env::var("VIGIA_FUZZ_ITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);
    for _ in 0..iters {
        let mut data = seed.to_vec();
        for _ in 0..1 + next() % 4 {
            let at = (next() % data.len() as u64) as usize;
            let r = next();
            data[at] = if r % 2 == 0 {
                data[at] ^ (1 << (r % 8))
            } else {
                (r >> 8) as u8
            };
        }
        fuzz_fmp4_roundtrip(&data);
    }
}
