//! Helpers shared by the integration tests; a test file takes them with `mod common;`.

use std::fs;
use std::path::PathBuf;

/// The seed corpus of the fuzz target `target` (`fuzz/corpus/<target>/`).
pub(crate) fn corpus_dir(target: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(target)
}

/// How hard [`replay_corpus`] works each seed.
pub(crate) struct Replay {
    /// About how many truncations of each seed are run.
    pub(crate) truncations: usize,
    /// How many mutations of each seed are run, unless `VIGIA_FUZZ_ITERS` says otherwise.
    pub(crate) mutations: u32,
}

/// Runs `run` on every seed of the corpus of fuzz target `target`, on truncations of it and on
/// deterministic mutations of it, so a seed that panics is caught without cargo-fuzz. Fails if
/// the corpus is empty.
pub(crate) fn replay_corpus(target: &str, effort: Replay, run: fn(&[u8])) {
    let dir = corpus_dir(target);
    let mut replayed = 0;
    for entry in fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let data = fs::read(entry.unwrap().path()).unwrap();
        run(&data);
        // Truncations of each seed must not panic either.
        for cut in (0..data.len()).step_by(data.len() / effort.truncations + 1) {
            run(&data[..cut]);
        }
        mutate(&data, effort.mutations, run);
        replayed += 1;
    }
    assert!(replayed > 0, "no corpus files in {}", dir.display());
}

/// Deterministic bit flips and byte overwrites of `seed`: a poor man's fuzzer that runs on
/// stable in every `cargo test` (`VIGIA_FUZZ_ITERS` replaces the count `mutations`).
fn mutate(seed: &[u8], mutations: u32, run: fn(&[u8])) {
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
        .unwrap_or(mutations);
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
        run(&data);
    }
}
