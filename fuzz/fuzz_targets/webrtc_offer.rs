//! Fuzz target: a WHEP offer as Vigia handles it — str0m's SDP offer and ICE candidate parsers,
//! then `accept_offer` with H.264 and Opus (see `fuzz/src/webrtc_offer.rs`).
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../src/webrtc_offer.rs"]
mod webrtc_offer;

fuzz_target!(|data: &[u8]| {
    let _ = webrtc_offer::check(data);
});
