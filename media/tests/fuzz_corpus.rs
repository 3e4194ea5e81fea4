//! Replays the seed corpora of the `h264_sps` and `h265_sps` fuzz targets in the normal test
//! run, so a seed that panics is caught without cargo-fuzz.

mod common;

use common::{Replay, replay_corpus};
use vigia_media::codec::{h264, h265};

const EFFORT: Replay = Replay {
    truncations: 64,
    mutations: 300,
};

#[test]
fn h264_sps_corpus_replays() {
    replay_corpus("h264_sps", EFFORT, h264::fuzz_h264_sps);
}

#[test]
fn h265_sps_corpus_replays() {
    replay_corpus("h265_sps", EFFORT, h265::fuzz_h265_sps);
}
