//! Fuzz target: SDP parsing, track conversion and re-encoding (see `vigia_protocol::sdp::fuzz_sdp`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    vigia_protocol::sdp::fuzz_sdp(data);
});
