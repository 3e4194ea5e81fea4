//! Replays the RTSP message, RTSP session, SDP, trickle ICE fragment and `Authorization` fuzz seed corpora through their fuzz entry
//! points in the normal test run. The seeds are written from the unit-test case tables with
//! `VIGIA_WRITE_CORPUS=1 cargo test -p vigia-protocol --lib`.

use std::fs;
use std::path::PathBuf;

use vigia_protocol::{auth, rtsp, sdp, sdpfrag};

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
    assert!(replay("rtsp_session", fuzz_session_now) >= 5);
}

#[test]
fn sdp_corpus() {
    assert!(replay("sdp", sdp::fuzz_sdp) >= 10);
}

/// A tiny deterministic mutator (xorshift): flips, inserts, deletes, truncates and splices bytes
/// of every seed, so the normal test run exercises the entry points beyond the seeds themselves.
/// `VIGIA_MUTATIONS=N` raises the number of mutants per seed.
fn mutate_all(target: &str, entry: fn(&[u8])) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(target);
    let rounds: usize = std::env::var("VIGIA_MUTATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(64);
    let seeds: Vec<Vec<u8>> = fs::read_dir(&dir)
        .unwrap()
        .map(|f| fs::read(f.unwrap().path()).unwrap())
        .collect();
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for (i, seed) in seeds.iter().enumerate() {
        for round in 0..rounds {
            let mut m = seed.clone();
            for _ in 0..1 + next() % 4 {
                mutate_once(&mut m, &mut next, &seeds);
            }
            let result = std::panic::catch_unwind(|| entry(&m));
            assert!(
                result.is_ok(),
                "{target} seed #{i} mutant #{round} panicked: {:?}",
                String::from_utf8_lossy(&m)
            );
        }
    }
}

fn mutate_once(m: &mut Vec<u8>, next: &mut impl FnMut() -> u64, seeds: &[Vec<u8>]) {
    let len = m.len().max(1);
    let at = (next() as usize) % len;
    let interesting: &[&[u8]] = &[
        b"\r\n",
        b"\n",
        b":",
        b";",
        b"=",
        b"-",
        b",",
        b"$",
        b"/",
        b"?",
        b"0",
        b"65535",
        b"trackID=1",
        b"Session: fuzzsession\r\n",
        b"\xff",
    ];
    match next() % 6 {
        0 if !m.is_empty() => m[at] ^= 1 << (next() % 8),
        1 => {
            let ins = interesting[(next() as usize) % interesting.len()];
            let at = at.min(m.len());
            m.splice(at..at, ins.iter().copied());
        }
        2 if !m.is_empty() => {
            let end = (at + 1 + (next() as usize) % 16).min(m.len());
            m.drain(at..end);
        }
        3 => m.truncate(at),
        4 => {
            let other = &seeds[(next() as usize) % seeds.len()];
            let from = (next() as usize) % other.len().max(1);
            let at = at.min(m.len());
            m.splice(
                at..at,
                other.get(from..).unwrap_or_default().iter().copied(),
            );
        }
        _ => {
            if let Some(b) = m.get_mut(at) {
                *b = (next() % 256) as u8;
            }
        }
    }
}

#[test]
fn authorization_corpus() {
    assert!(replay("authorization", auth::fuzz_authorization) >= 8);
}

#[test]
fn mutated_authorization_seeds() {
    mutate_all("authorization", auth::fuzz_authorization);
}

#[test]
fn mutated_rtsp_message_seeds() {
    mutate_all("rtsp_message", rtsp::fuzz_message);
}

#[test]
fn mutated_rtsp_session_seeds() {
    mutate_all("rtsp_session", fuzz_session_now);
}

#[test]
fn mutated_sdp_seeds() {
    mutate_all("sdp", sdp::fuzz_sdp);
}

/// The session fuzz entry with the test's start time as the simulated clock's origin.
fn fuzz_session_now(data: &[u8]) {
    rtsp::fuzz_session(data, std::time::Instant::now());
}

#[test]
fn sdpfrag_corpus() {
    assert!(replay("sdpfrag", sdpfrag::fuzz_sdpfrag) >= 7);
}

#[test]
fn mutated_sdpfrag_seeds() {
    mutate_all("sdpfrag", sdpfrag::fuzz_sdpfrag);
}
