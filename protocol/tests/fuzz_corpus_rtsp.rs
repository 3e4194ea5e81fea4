//! Replays the RTSP message, RTSP session and SDP fuzz seed corpora through their fuzz entry
//! points in the normal test run. The seeds are written from the unit-test case tables with
//! `VIGIA_WRITE_CORPUS=1 cargo test -p vigia-protocol --lib`.

use std::fs;
use std::path::PathBuf;

use vigia_protocol::{rtsp, sdp};

/// Runs every file of `fuzz/corpus/<target>/` through `entry`; returns how many there were.
fn replay(target: &str, entry: fn(&[u8])) -> usize {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(target);
    let entries = fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    let mut n = 0;
    for file in entries {
        let path = file.unwrap().path();
        let bytes = fs::read(&path).unwrap();
        replay_one(&path, entry, &bytes);
        n += 1;
    }
    n
}

fn replay_one(path: &std::path::Path, entry: fn(&[u8]), bytes: &[u8]) {
    let result = std::panic::catch_unwind(|| entry(bytes));
    assert!(result.is_ok(), "fuzz seed {} panicked", path.display());
}

#[test]
fn rtsp_message_corpus() {
    assert!(replay("rtsp_message", rtsp::fuzz_message) >= 20);
}

#[test]
fn rtsp_session_corpus() {
    assert!(replay("rtsp_session", rtsp::fuzz_session) >= 5);
}

#[test]
fn sdp_corpus() {
    assert!(replay("sdp", sdp::fuzz_sdp) >= 10);
}
