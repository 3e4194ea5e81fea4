//! Fuzz target: LL-HLS playlist query parsing and its round trip (see
//! `vigia_protocol::hls::fuzz_query`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    vigia_protocol::hls::fuzz_query(data);
});
