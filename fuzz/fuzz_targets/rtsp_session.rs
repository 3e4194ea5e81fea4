//! Fuzz target: RTSP server connection state machine, invariants checked after every step (see `vigia_protocol::rtsp::fuzz_session`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    vigia_protocol::rtsp::fuzz_session(data, std::time::Instant::now());
});
