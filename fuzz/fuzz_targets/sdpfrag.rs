//! Trickle ICE SDP fragments (the body of a WHIP/WHEP PATCH): parse, write, read back.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    vigia_protocol::sdpfrag::fuzz_sdpfrag(data);
});
