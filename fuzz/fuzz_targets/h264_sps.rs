//! Fuzz target: H.264 SPS parsing, then the same bytes as an Annex B stream through the DTS
//! extractor and the parameter-set tracker. DTS invariants (increasing, not after PTS) are
//! asserted inside `fuzz_h264_sps`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vigia_media::codec::h264::fuzz_h264_sps;

fuzz_target!(|data: &[u8]| {
    fuzz_h264_sps(data);
});
