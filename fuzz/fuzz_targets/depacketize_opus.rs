//! Fuzz target: Opus depacketizer. Input: RTP packets, each prefixed by a big-endian u16 length;
//! invariants are checked after every push and pull.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vigia_protocol::payload::{FuzzCodec, fuzz_depacketize};

fuzz_target!(|data: &[u8]| {
    fuzz_depacketize(FuzzCodec::Opus, data);
});
