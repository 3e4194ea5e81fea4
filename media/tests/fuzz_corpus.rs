//! Replays the seed corpora of the `h264_sps` and `h265_sps` fuzz targets in the normal test
//! run, so a seed that panics is caught without cargo-fuzz.

use std::fs;
use std::path::PathBuf;

use vigia_media::codec::{h264, h265};

fn replay(target: &str, run: fn(&[u8])) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(target);
    let mut replayed = 0;
    for entry in fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        let data = fs::read(&path).unwrap();
        run(&data);
        // Truncations of each seed must not panic either.
        for cut in (0..data.len()).step_by(data.len() / 64 + 1) {
            run(&data[..cut]);
        }
        mutate(&data, run);
        replayed += 1;
    }
    assert!(replayed > 0, "no corpus files in {}", dir.display());
}

/// A few hundred deterministic bit flips and byte overwrites of `seed`: a poor man's fuzzer
/// that runs on stable in every `cargo test` (`VIGIA_FUZZ_ITERS` raises the count).
fn mutate(seed: &[u8], run: fn(&[u8])) {
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
        .unwrap_or(300);
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

#[test]
fn h264_sps_corpus_replays() {
    replay("h264_sps", h264::fuzz_h264_sps);
}

#[test]
fn h265_sps_corpus_replays() {
    replay("h265_sps", h265::fuzz_h265_sps);
}
