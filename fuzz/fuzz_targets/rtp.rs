//! Fuzz target: RTP parsing (see `vigia_protocol::rtp::fuzz_parse`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    vigia_protocol::rtp::fuzz_parse(data);
});
