//! Fuzz target: arbitrary bytes as a recorded segment (twice, as two consecutive segments)
//! through the playback assemblers — fMP4 streamed in chunks and the MP4 plan with its byte
//! ranges. Nothing may panic; the output must parse (see
//! `vigia_storage::playback::fuzz::fuzz_playback_segment`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    vigia_storage::playback::fuzz::fuzz_playback_segment(data);
});
