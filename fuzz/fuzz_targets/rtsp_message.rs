//! Fuzz target: RTSP message parsing and re-encoding (see `vigia_protocol::rtsp::fuzz_message`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    vigia_protocol::rtsp::fuzz_message(data);
});
