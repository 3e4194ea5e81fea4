//! Fuzz target: RTCP parsing (see `vigia_protocol::rtcp::fuzz_parse`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    vigia_protocol::rtcp::fuzz_parse(data);
});
